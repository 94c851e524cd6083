/* redis.h — the pure parts of the redis sink: the redis:// URL and the mapping of one record to
 * the arguments of one EVALSHA of the sink's Lua script. Kept apart from the connection code so
 * unit tests pin them down (tests/unit/test_redis.c, cases in tests/data/redis/).
 *
 * The one thing to know: every decision about state (which field wins, what changed, whether
 * the position moves, what to publish) is made server-side by fp_redis_script, atomically per
 * record, by comparing the record's sample time with the time stored next to each field. The C
 * side only validates and flattens a record, so replaying any range is harmless.
 */
#ifndef FP_SINK_REDIS_H
#define FP_SINK_REDIS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "core/mem.h"
#include "core/props.h"
#include "redis/client.h"

/* The script, KEYS[1] = hash, KEYS[2] = geo set, KEYS[3] = change stream, KEYS[4] = id index
 * ("" = off for each of the last three). ARGV: sample time (ms), id as member text, channel
 * ("" = no publish), value types ('s' string, 'j' JSON text; first the id's, then one per field),
 * lat pair number, lng pair number (0 = no position), the stream's approximate MAXLEN, then
 * field, value pairs. A change (a field whose value changed) is published and appended to the
 * stream as one entry {d: {"id":..,"ts":..,"fields":{..}}}; a vehicle's first write adds it to
 * the index (score = the id as a number, else 0). Returns the number of fields whose value
 * changed. */
extern const char fp_redis_script[];

/* Which parts of a record become what. Strings are borrowed (the sink's config owns them). */
typedef struct fp_redis_map_conf {
    const char *id_field, *ts_field;
    const fp_strv *fields; /* n == 0: every top-level field but the id and time fields */
    const char *key_prefix;
    const char *geo_key; /* "" disables the position */
    const char *lat_field, *lng_field;
    const char *channel;    /* "" disables publishing */
    const char *stream_key; /* "" disables the change stream */
    int64_t stream_maxlen;  /* XADD MAXLEN ~ */
    const char *index_key;  /* "" disables the id index */
    const char *suffix;     /* "" or "<text>${field}<text>": appended to every field name */
} fp_redis_map_conf;

#define FP_REDIS_FIELDS_MAX 512      /* more fields in one record: a limit error (dead letter) */
#define FP_REDIS_LAT_MAX 85.05112878 /* Redis' GEO limits (EPSG:900913) */

/* Validates a map configuration: explicit fields must not be the id or time field or look like
 * a hash's own names ("ts", "*:ts"), and must include the position fields when geo is on. */
fp_code fp_redis_map_conf_check(const fp_redis_map_conf *mc, fp_err *err);

/* The arguments of one command, built back to back in one buffer. */
typedef struct fp_redis_args {
    fp_buf buf;
    size_t *off, *len;
    size_t n, cap;
    const char **argv; /* valid after fp_redis_args_seal() until the next change */
    size_t *argvlen;
    size_t argv_cap;
} fp_redis_args;

void fp_redis_args_reset(fp_redis_args *a);
void fp_redis_args_add(fp_redis_args *a, const char *p, size_t n);
void fp_redis_args_seal(fp_redis_args *a);
void fp_redis_args_free(fp_redis_args *a);

/* Maps one record (a JSON object, validated by the runtime) to the arguments after
 * "EVALSHA <sha>": numkeys, keys, then ARGV as fp_redis_script takes it. *ts gets the sample time.
 * FP_ERR_INVALID / FP_ERR_LIMIT name the field: missing or bad id, missing or unparseable
 * time, a position out of range, a field named like the hash's own names. out may be NULL
 * (validation only). */
fp_code fp_redis_map(const fp_redis_map_conf *mc, const char *json, size_t len, fp_redis_args *out,
                     int64_t *ts, fp_err *err);

/* Appends a validated JSON value without insignificant whitespace. */
void fp_redis_json_compact(const char *p, size_t n, fp_buf *out);

#endif
