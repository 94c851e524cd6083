/* url.h — the few URL shapes fleetpipe's command lines take: "scheme://host:port",
 * "scheme://bootstrap,list", "file:PATH". No percent-decoding, no user info: credentials come
 * from files or the environment, never from a URL that ps(1) would show. */
#ifndef FP_CORE_URL_H
#define FP_CORE_URL_H

#include "core/err.h"
#include "core/mem.h"

/* Splits "scheme:rest" (rest without a leading "//") into scheme and rest (appended to the
 * buffers). A string without ':' before any '/' has no scheme: FP_ERR_CONFIG. */
fp_code fp_url_split(const char *url, fp_buf *scheme, fp_buf *rest, fp_err *err);

/* Parses "host", "host:port", "[v6addr]:port" (an optional trailing '/' is allowed). *host is a
 * fresh string the caller frees; *port is default_port when absent. */
fp_code fp_url_host_port(const char *s, int default_port, char **host, int *port, fp_err *err);

/* "mqtt://host[:port]" or "mqtts://host[:port]" (TLS); default ports 1883 and 8883. *host is a
 * fresh string the caller frees. */
fp_code fp_url_mqtt(const char *url, char **host, int *port, int *tls, fp_err *err);

#endif
