/* stubs.c — placeholders for the routes and backends being written (live.c, stream.c,
 * openapi.c replace them); every stub answers 503 "not built yet". */
#include "serve/serve_int.h"

fp_code fp_serve_live_init(fp_serve *s, fp_err *err)
{
    (void)s;
    (void)err;
    return FP_OK;
}
void fp_serve_live_free(fp_serve *s)
{
    (void)s;
}
bool fp_serve_live_health(fp_serve *s, fp_buf *why)
{
    (void)s;
    (void)why;
    return true;
}
fp_code fp_serve_stream_init(fp_serve *s, fp_err *err)
{
    (void)s;
    (void)err;
    return FP_OK;
}
void fp_serve_stream_free(fp_serve *s)
{
    (void)s;
}
bool fp_serve_stream_health(fp_serve *s, fp_buf *why)
{
    (void)s;
    (void)why;
    return true;
}
void fp_serve_stream_metrics(fp_serve *s, fp_metrics_out *m)
{
    (void)s;
    (void)m;
}
fp_code fp_serve_stream_head(fp_serve *s, fp_buf *out, fp_err *err)
{
    (void)s;
    (void)err;
    fp_buf_puts(out, "0-0");
    return FP_OK;
}
void fp_serve_vehicles(fp_serve_call *c)
{
    fp_serve_unavailable(c, "redis", NULL);
}
void fp_serve_vehicle(fp_serve_call *c)
{
    fp_serve_unavailable(c, "redis", NULL);
}
void fp_serve_feed(fp_serve_call *c)
{
    fp_serve_unavailable(c, "redis", NULL);
}
void fp_serve_sse(fp_serve_call *c)
{
    fp_serve_unavailable(c, "redis", NULL);
}
void fp_serve_openapi(fp_serve_call *c)
{
    fp_serve_fail(c, 501, "not built yet");
}
