/* provision.c — see provision.h. The "$7$" format is mosquitto 2.0's: PBKDF2-HMAC-SHA512 with
 * 101 iterations over a 12-byte salt, salt and 64-byte hash in standard base64. */
#include "sim/provision.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/mem.h"

#define SALT_LEN 12
#define HASH_LEN 64
#define ITERATIONS 101

static void random_bytes(unsigned char *p, size_t n)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = getrandom(p + got, n - got, 0);
        if (r < 0 && errno != EINTR) {
            perror("getrandom");
            abort(); /* no entropy means no safe passwords; never fall back to a weak source */
        }
        if (r > 0)
            got += (size_t)r;
    }
}

static void b64(fp_buf *out, const unsigned char *p, size_t n)
{
    fp_buf_reserve(out, 4 * ((n + 2) / 3) + 1);
    int w = EVP_EncodeBlock((unsigned char *)out->p + out->len, p, (int)n);
    out->len += (size_t)w;
    out->p[out->len] = '\0';
}

void fp_sim_mosquitto_hash(const char *user, const char *password, fp_buf *out)
{
    unsigned char salt[SALT_LEN], hash[HASH_LEN];
    random_bytes(salt, sizeof salt);
    PKCS5_PBKDF2_HMAC(password, (int)strlen(password), salt, sizeof salt, ITERATIONS, EVP_sha512(),
                      sizeof hash, hash);
    fp_buf_printf(out, "%s:$7$%d$", user, ITERATIONS);
    b64(out, salt, sizeof salt);
    fp_buf_putc(out, '$');
    b64(out, hash, sizeof hash);
}

/* 128 random bits as 22 URL-safe base64 characters. */
static void new_password(char out[23])
{
    static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    unsigned char r[22];
    random_bytes(r, sizeof r);
    for (int i = 0; i < 22; i++)
        out[i] = abc[r[i] & 63];
    out[22] = '\0';
}

static fp_code write_file(const char *dir, const char *name, const fp_buf *b, mode_t mode,
                          fp_err *err)
{
    fp_buf path = FP_BUF_INIT;
    fp_buf_printf(&path, "%s/%s", dir, name);
    int fd = open(path.p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    fp_code rc = FP_OK;
    if (fd < 0 || fchmod(fd, mode) != 0 || write(fd, b->p, b->len) != (ssize_t)b->len)
        rc = fp_err_set(err, FP_ERR_IO, "%s: %s", path.p, strerror(errno));
    if (fd >= 0 && close(fd) != 0 && !rc)
        rc = fp_err_set(err, FP_ERR_IO, "%s: %s", path.p, strerror(errno));
    fp_buf_free(&path);
    return rc;
}

fp_code fp_sim_provision(const char *dir, uint32_t first_id, uint32_t vehicles, fp_err *err)
{
    if (mkdir(dir, 0755) != 0 && errno != EEXIST)
        return fp_err_set(err, FP_ERR_IO, "%s: %s", dir, strerror(errno));
    fp_buf passwd = FP_BUF_INIT, secrets = FP_BUF_INIT, bridge = FP_BUF_INIT, api = FP_BUF_INIT;
    char pw[23], dev[32];
    for (uint32_t i = 0; i < vehicles; i++) {
        snprintf(dev, sizeof dev, "dev-%06u", first_id + i);
        new_password(pw);
        fp_sim_mosquitto_hash(dev, pw, &passwd);
        fp_buf_putc(&passwd, '\n');
        fp_buf_printf(&secrets, "%s:%s\n", dev, pw);
    }
    new_password(pw);
    fp_sim_mosquitto_hash(FP_SIM_BRIDGE_USER, pw, &passwd);
    fp_buf_putc(&passwd, '\n');
    fp_buf_printf(&bridge, "%s\n", pw);
    new_password(pw);
    fp_sim_mosquitto_hash(FP_SIM_API_USER, pw, &passwd);
    fp_buf_putc(&passwd, '\n');
    fp_buf_printf(&api, "%s\n", pw);
    /* passwd holds only salted hashes; mosquitto reads it after dropping root privileges. */
    fp_code rc = write_file(dir, "passwd", &passwd, 0644, err);
    if (!rc)
        rc = write_file(dir, "devices.secret", &secrets, 0600, err);
    if (!rc)
        rc = write_file(dir, "bridge.secret", &bridge, 0600, err);
    if (!rc)
        rc = write_file(dir, "api.secret", &api, 0600, err);
    fp_buf_free(&passwd);
    fp_buf_free(&secrets);
    fp_buf_free(&bridge);
    fp_buf_free(&api);
    return rc;
}

char *fp_sim_read_secret(const char *path, fp_err *err)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        fp_err_set(err, FP_ERR_CONFIG, "%s: %s", path, strerror(errno));
        return NULL;
    }
    char line[1024] = "";
    if (!fgets(line, sizeof line, f))
        line[0] = '\0';
    fclose(f);
    line[strcspn(line, "\r\n")] = '\0';
    return fp_xstrdup(line);
}

typedef struct cred {
    char *device, *password;
} cred;

struct fp_sim_credentials {
    cred *v;
    size_t n;
};

static int cred_cmp(const void *a, const void *b)
{
    return strcmp(((const cred *)a)->device, ((const cred *)b)->device);
}

fp_sim_credentials *fp_sim_credentials_load(const char *path, fp_err *err)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        fp_err_set(err, FP_ERR_CONFIG, "%s: %s", path, strerror(errno));
        return NULL;
    }
    fp_sim_credentials *c = fp_xcalloc(1, sizeof *c);
    size_t cap = 0, lineno = 0;
    char *line = NULL;
    size_t lcap = 0;
    ssize_t n;
    while ((n = getline(&line, &lcap, f)) >= 0) {
        lineno++;
        line[strcspn(line, "\r\n")] = '\0';
        if (!line[0] || line[0] == '#')
            continue;
        char *colon = strchr(line, ':');
        if (!colon || colon == line || !colon[1]) {
            fp_err_set(err, FP_ERR_CONFIG, "%s:%zu: expected device_id:password", path, lineno);
            fp_sim_credentials_free(c);
            c = NULL;
            break;
        }
        if (c->n == cap) {
            cap = cap ? 2 * cap : 64;
            c->v = fp_xrealloc(c->v, cap * sizeof *c->v);
        }
        c->v[c->n].device = fp_xstrndup(line, (size_t)(colon - line));
        c->v[c->n].password = fp_xstrdup(colon + 1);
        c->n++;
    }
    free(line);
    fclose(f);
    if (c)
        qsort(c->v, c->n, sizeof *c->v, cred_cmp);
    return c;
}

const char *fp_sim_credentials_get(const fp_sim_credentials *c, const char *device_id)
{
    cred key = {(char *)device_id, NULL};
    const cred *hit = bsearch(&key, c->v, c->n, sizeof *c->v, cred_cmp);
    return hit ? hit->password : NULL;
}

void fp_sim_credentials_free(fp_sim_credentials *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->n; i++) {
        free(c->v[i].device);
        free(c->v[i].password);
    }
    free(c->v);
    free(c);
}
