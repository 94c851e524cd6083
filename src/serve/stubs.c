/* stubs.c — the placeholder of the OpenAPI document until openapi.c lands. */
#include "serve/serve_int.h"

void fp_serve_openapi(fp_serve_call *c)
{
    fp_serve_fail(c, 501, "not built yet");
}
