/* creds.c — see creds.h. The shared credentials file is INI: "[name]" sections with
 * "key = value" lines; '#' and ';' start comments; keys are case-insensitive. */
#include "aws/creds.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/mem.h"

static void wipe_free(const char *s)
{
    if (!s)
        return;
    char *p = (char *)s;
    explicit_bzero(p, strlen(p));
    free(p);
}

void fp_aws_creds_clear(fp_aws_creds_owned *o)
{
    wipe_free(o->c.access_key);
    wipe_free(o->c.secret_key);
    wipe_free(o->c.session_token);
    o->c = (fp_aws_creds){NULL, NULL, NULL};
}

static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    char *e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1]))
        *--e = '\0';
    return s;
}

static fp_code from_file(const char *path, const char *profile, fp_aws_creds_owned *out,
                         fp_err *err)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return fp_err_set(err, FP_ERR_CONFIG,
                          "no AWS credentials: AWS_ACCESS_KEY_ID is not set and %s: %s", path,
                          strerror(errno));
    char *line = NULL;
    size_t cap = 0;
    bool in = false, seen = false;
    while (getline(&line, &cap, f) >= 0) {
        char *s = trim(line);
        if (!*s || *s == '#' || *s == ';')
            continue;
        if (*s == '[') {
            char *e = strchr(s, ']');
            if (e)
                *e = '\0';
            in = !strcmp(trim(s + 1), profile);
            seen |= in;
            continue;
        }
        char *eq = strchr(s, '=');
        if (!in || !eq)
            continue;
        *eq = '\0';
        const char *k = trim(s);
        const char **slot = !strcasecmp(k, "aws_access_key_id")       ? &out->c.access_key
                            : !strcasecmp(k, "aws_secret_access_key") ? &out->c.secret_key
                            : !strcasecmp(k, "aws_session_token")     ? &out->c.session_token
                                                                      : NULL;
        if (slot) {
            wipe_free(*slot);
            *slot = fp_xstrdup(trim(eq + 1));
        }
    }
    if (line)
        explicit_bzero(line, cap);
    free(line);
    fclose(f);
    fp_code rc = FP_OK;
    if (!seen)
        rc = fp_err_set(err, FP_ERR_CONFIG, "no AWS credentials: profile [%s] not in %s", profile,
                        path);
    else if (!out->c.access_key || !out->c.secret_key)
        rc = fp_err_set(err, FP_ERR_CONFIG, "AWS profile [%s] in %s lacks %s", profile, path,
                        out->c.access_key ? "aws_secret_access_key" : "aws_access_key_id");
    if (rc)
        fp_aws_creds_clear(out);
    else
        snprintf(out->source, sizeof out->source, "profile %s in %s", profile, path);
    return rc;
}

fp_code fp_aws_creds_load(const char *profile, fp_aws_creds_owned *out, fp_err *err)
{
    memset(out, 0, sizeof *out);
    const char *id = getenv("AWS_ACCESS_KEY_ID"), *secret = getenv("AWS_SECRET_ACCESS_KEY");
    if (id && *id) {
        if (!secret || !*secret)
            return fp_err_set(err, FP_ERR_CONFIG,
                              "AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not");
        const char *token = getenv("AWS_SESSION_TOKEN");
        out->c.access_key = fp_xstrdup(id);
        out->c.secret_key = fp_xstrdup(secret);
        out->c.session_token = token && *token ? fp_xstrdup(token) : NULL;
        snprintf(out->source, sizeof out->source, "environment");
        return FP_OK;
    }
    if (!profile || !*profile)
        profile = getenv("AWS_PROFILE");
    if (!profile || !*profile)
        profile = "default";
    const char *file = getenv("AWS_SHARED_CREDENTIALS_FILE");
    fp_buf path = FP_BUF_INIT;
    if (file && *file)
        fp_buf_puts(&path, file);
    else
        fp_buf_printf(&path, "%s/.aws/credentials", getenv("HOME") ? getenv("HOME") : "");
    fp_code rc = from_file(path.p, profile, out, err);
    fp_buf_free(&path);
    return rc;
}
