/* client.c — the redis:// URL and a connection opened with it (see client.h). */
#include "redis/client.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "core/mem.h"
#include "core/url.h"

void fp_redis_url_free(fp_redis_url *u)
{
    if (!u)
        return;
    free(u->host);
    free(u->user);
    if (u->password) {
        /* A secret: wipe it before giving the memory back. */
        volatile char *p = u->password;
        while (*p)
            *p++ = '\0';
    }
    free(u->password);
    *u = (fp_redis_url){0};
}

fp_code fp_redis_url_parse(const char *url, fp_redis_url *u, fp_err *err)
{
    *u = (fp_redis_url){NULL, 6379, 0, NULL, NULL};
    const char *pfx = "redis://";
    if (strncmp(url, pfx, strlen(pfx)))
        return fp_err_set(err, FP_ERR_CONFIG, "redis.url must start with redis://");
    const char *rest = url + strlen(pfx);
    /* user info: everything before the last '@' (a password may contain '@') */
    const char *at = strrchr(rest, '@');
    const char *slash = strchr(at ? at : rest, '/');
    if (at) {
        const char *colon = memchr(rest, ':', (size_t)(at - rest));
        if (!colon)
            return fp_err_set(err, FP_ERR_CONFIG,
                              "redis.url: user info must be [user]:password@ (no ':' found)");
        if (colon > rest)
            u->user = fp_xstrndup(rest, (size_t)(colon - rest));
        u->password = fp_xstrndup(colon + 1, (size_t)(at - colon - 1));
        rest = at + 1;
    }
    size_t hn = slash ? (size_t)(slash - rest) : strlen(rest);
    char *hp = fp_xstrndup(rest, hn);
    fp_code rc = FP_OK;
    if (!hn)
        rc = fp_err_set(err, FP_ERR_CONFIG, "redis.url: no host");
    else
        rc = fp_url_host_port(hp, 6379, &u->host, &u->port, err);
    free(hp);
    if (!rc && slash && slash[1]) {
        char *end;
        long db = strtol(slash + 1, &end, 10);
        if (*end || !isdigit((unsigned char)slash[1]) || db < 0 || db > 1000000)
            rc = fp_err_set(err, FP_ERR_CONFIG, "redis.url: database must be a number, got '%s'",
                            slash + 1);
        else
            u->db = (int)db;
    }
    if (rc) {
        fp_err_prefix(err, "redis.url");
        fp_redis_url_free(u);
    }
    return rc;
}

static struct timeval tv_of(int64_t ms)
{
    return (struct timeval){(time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000};
}

fp_code fp_redis_open(const fp_redis_url *u, int64_t connect_ms, int64_t command_ms,
                      redisContext **out, fp_err *err)
{
    *out = NULL;
    redisContext *c = redisConnectWithTimeout(u->host, u->port, tv_of(connect_ms));
    if (!c || c->err) {
        fp_code rc = fp_err_set(err, FP_ERR_IO, "redis %s:%d/%d: %s", u->host, u->port, u->db,
                                c ? c->errstr : "out of memory");
        redisFree(c);
        return rc;
    }
    redisSetTimeout(c, tv_of(command_ms));
    redisReply *r = NULL;
    if (u->password) {
        r = u->user ? redisCommand(c, "AUTH %s %s", u->user, u->password)
                    : redisCommand(c, "AUTH %s", u->password);
        if (!r || r->type == REDIS_REPLY_ERROR) {
            fp_err_set(err, FP_ERR_IO, "redis %s:%d/%d: AUTH: %s", u->host, u->port, u->db,
                       r ? r->str : c->errstr);
            goto fail;
        }
        freeReplyObject(r);
    }
    if (u->db) {
        r = redisCommand(c, "SELECT %d", u->db);
        if (!r || r->type == REDIS_REPLY_ERROR) {
            fp_err_set(err, FP_ERR_IO, "redis %s:%d/%d: SELECT: %s", u->host, u->port, u->db,
                       r ? r->str : c->errstr);
            goto fail;
        }
        freeReplyObject(r);
    }
    *out = c;
    return FP_OK;
fail:
    freeReplyObject(r);
    redisFree(c);
    return FP_ERR_IO;
}
