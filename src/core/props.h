/* props.h — Kafka Connect style properties: an ordered map of string keys to string values,
 * and declarative config tables that turn them into typed structs.
 *
 * A connector file, a --config file and a command line all become an fp_props. Config tables
 * (struct fp_conf_def) name every key a component accepts with its type, default and doc;
 * fp_conf_apply() parses the keys of one table (marking each as used), and fp_props_check_used()
 * then reports the first key nobody claimed, so an unknown or misspelt key is an error that
 * names the key. fp_conf_print() prints a table for `fleetpipe help`.
 *
 * Ownership: an fp_props owns copies of its keys and values. Strings parsed into a struct by
 * fp_conf_apply() are fresh copies owned by that struct; fp_conf_free() releases them.
 */
#ifndef FP_PROPS_H
#define FP_PROPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "core/err.h"

typedef struct fp_prop {
    char *key;
    char *val;
    bool used;
} fp_prop;

typedef struct fp_props {
    fp_prop *v;
    size_t n, cap;
} fp_props;

void fp_props_init(fp_props *p);
void fp_props_free(fp_props *p);
/* Sets key (replacing an existing value). */
void fp_props_set(fp_props *p, const char *key, const char *val);
/* Appends ",val" to an existing value, or sets it. Used for repeatable flags. */
void fp_props_append(fp_props *p, const char *key, const char *val);
/* Returns the value or NULL; marks the key used. */
const char *fp_props_get(fp_props *p, const char *key);
fp_prop *fp_props_find(const fp_props *p, const char *key);

/* Loads a JSON object file: string values as is, numbers and booleans as their text; nested
 * objects and arrays are an error that names the key. Keys already in p are replaced. */
fp_code fp_props_load_json_file(fp_props *p, const char *path, fp_err *err);
/* Same, from a JSON text. what names the source in errors. */
fp_code fp_props_load_json(fp_props *p, const char *text, size_t len, const char *what,
                           fp_err *err);

/* Returns FP_ERR_CONFIG naming the first key not marked used; what says where ("connector
 * raw-lake", "command line"). */
fp_code fp_props_check_used(const fp_props *p, const char *what, fp_err *err);

typedef enum fp_conf_type {
    FP_CONF_STRING,    /* char * */
    FP_CONF_INT,       /* int64_t, min/max checked */
    FP_CONF_BOOL,      /* bool: true/false */
    FP_CONF_ENUM,      /* char *, one of choices ("a|b|c") */
    FP_CONF_LIST,      /* fp_strv, comma-separated, items trimmed, empty items dropped */
    FP_CONF_MS,        /* int64_t milliseconds: "500", "500ms", "10s", "5m", "1h", "1d" */
    FP_CONF_OPTSTRING, /* char *, NULL when the key is absent (dflt must be NULL): for a flag
                        * whose absence means something a given value, even "", must not */
} fp_conf_type;

typedef struct fp_strv {
    char **v;
    size_t n;
} fp_strv;

typedef struct fp_conf_def {
    const char *key;
    fp_conf_type type;
    const char *dflt; /* NULL: required (a flag of type BOOL defaults to false) */
    size_t offset;    /* offsetof(struct, field) */
    const char *doc;
    const char *choices; /* FP_CONF_ENUM: "a|b|c" */
    int64_t min, max;    /* FP_CONF_INT / FP_CONF_MS when min < max */
} fp_conf_def;

/* Parses every def (terminated by a def with key NULL) from p, looking up prefix+key, into the
 * struct at out. Errors name the full key and the bad value. */
fp_code fp_conf_apply(const fp_conf_def *defs, fp_props *p, const char *prefix, void *out,
                      fp_err *err);
/* Collects every error instead of stopping at the first (the connect REST API's validate):
 * applies each def like fp_conf_apply() and calls fn for each bad key with the full key and the
 * message. Returns the number of bad keys. out must be freed with fp_conf_free() either way. */
typedef void (*fp_conf_error_fn)(void *ctx, const char *key, const char *msg);
int fp_conf_apply_each(const fp_conf_def *defs, fp_props *p, const char *prefix, void *out,
                       fp_conf_error_fn fn, void *ctx);
/* Frees the strings and lists fp_conf_apply() put into out. */
void fp_conf_free(const fp_conf_def *defs, void *out);
/* Prints one line per key: key, type, default, doc. prefix is printed before each key. */
void fp_conf_print(const fp_conf_def *defs, const char *prefix, FILE *f);

fp_code fp_parse_ms(const char *s, int64_t *out);
fp_code fp_parse_i64(const char *s, int64_t *out);
void fp_strv_split(fp_strv *sv, const char *s, char sep);
void fp_strv_free(fp_strv *sv);

#endif
