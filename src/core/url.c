/* url.c — see url.h. */
#include "core/url.h"

#include <stdlib.h>
#include <string.h>

fp_code fp_url_split(const char *url, fp_buf *scheme, fp_buf *rest, fp_err *err)
{
    const char *c = strchr(url, ':');
    const char *slash = strchr(url, '/');
    if (!c || c == url || (slash && slash < c))
        return fp_err_set(err, FP_ERR_CONFIG, "\"%s\": expected scheme:..., e.g. mqtt://host:1883",
                          url);
    fp_buf_append(scheme, url, (size_t)(c - url));
    const char *r = c + 1;
    if (r[0] == '/' && r[1] == '/')
        r += 2;
    fp_buf_puts(rest, r);
    return FP_OK;
}

fp_code fp_url_host_port(const char *s, int default_port, char **host, int *port, fp_err *err)
{
    const char *h = s, *he, *p = NULL;
    if (s[0] == '[') {
        h = s + 1;
        he = strchr(h, ']');
        if (!he)
            return fp_err_set(err, FP_ERR_CONFIG, "\"%s\": missing ]", s);
        if (he[1] == ':')
            p = he + 2;
        else if (he[1] && strcmp(he + 1, "/"))
            return fp_err_set(err, FP_ERR_CONFIG, "\"%s\": expected :port after ]", s);
    } else {
        he = strchr(s, ':');
        if (he)
            p = he + 1;
        else
            he = s + strcspn(s, "/");
    }
    if (he == h)
        return fp_err_set(err, FP_ERR_CONFIG, "\"%s\": no host", s);
    *port = default_port;
    if (p) {
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p || (*end && strcmp(end, "/")) || v < 1 || v > 65535)
            return fp_err_set(err, FP_ERR_CONFIG, "\"%s\": port must be 1..65535", s);
        *port = (int)v;
    } else if (*he && strcmp(he, "/") && s[0] != '[') {
        return fp_err_set(err, FP_ERR_CONFIG, "\"%s\": unexpected path", s);
    }
    *host = fp_xstrndup(h, (size_t)(he - h));
    return FP_OK;
}

fp_code fp_url_mqtt(const char *url, char **host, int *port, int *tls, fp_err *err)
{
    fp_buf scheme = FP_BUF_INIT, rest = FP_BUF_INIT;
    fp_code rc = fp_url_split(url, &scheme, &rest, err);
    if (!rc && strcmp(scheme.p, "mqtt") && strcmp(scheme.p, "mqtts"))
        rc = fp_err_set(err, FP_ERR_CONFIG, "\"%s\": scheme must be mqtt or mqtts", url);
    if (!rc) {
        *tls = !strcmp(scheme.p, "mqtts");
        rc = fp_url_host_port(rest.p, *tls ? 8883 : 1883, host, port, err);
    }
    fp_buf_free(&scheme);
    fp_buf_free(&rest);
    return rc;
}
