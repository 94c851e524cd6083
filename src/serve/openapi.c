/* openapi.c — GET /api/v1/openapi.json: the OpenAPI 3.0 document of every route, src/serve/
 * openapi.json compiled into the binary (fp_embed in CMakeLists.txt). The integration tests
 * validate it with an independent validator and check every answer against its schemas
 * (tests/verify/apicheck.mjs). */
#include "serve/serve_int.h"

extern const char fp_serve_openapi_doc[];
extern const size_t fp_serve_openapi_doc_len;

void fp_serve_openapi(fp_serve_call *c)
{
    fp_buf_append(&c->resp->body, fp_serve_openapi_doc, fp_serve_openapi_doc_len);
}
