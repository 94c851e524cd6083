/* track.c — the Fleet API's DynamoDB part: a vehicle's kinematic track and its 5-minute
 * aggregate windows, read from the single table the dynamodb connectors write (PROTOCOLS.md:
 * pk <id>#vehicle#kinematic, sk = sample time as YYYY-MM-DDTHH:MM:SS.mmmZ; aggregates pk
 * <id>#cargo#temperature#5m, sk <window start>#z<zone>). Because sk is a fixed-width UTC time,
 * a time range is a string range and DynamoDB's key order is time order.
 *
 * Paging: a track page asks DynamoDB for limit + 1 items (following LastEvaluatedKey when a
 * 1 MB answer stops short); with the extra item there, the cursor is the key of the page's last
 * item — the LastEvaluatedKey DynamoDB would give for Limit = limit — sealed by
 * fp_serve_cursor_put with the vehicle id, so hasNextPage is exact (no empty last page).
 *
 * Threads: requests run on request threads of their own (serve.c's route_run); an fp_aws_client is
 * one-thread-at-a-time, so each request takes one from a bounded pool (serve/pool.h) and gives it
 * back.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aws/dynamodb.h"
#include "core/json.h"
#include "core/time.h"
#include "serve/pool.h"
#include "serve/serve_int.h"

#define TRACK_RANGE_MAX_MS (7 * 86400000LL)
#define TIME_MAX_MS 253402300799999LL /* 9999-12-31T23:59:59.999Z: sk stays fixed-width */
#define WINDOW_MS (5 * 60000LL)
#define LATEST_SCAN 100 /* newest items read for fp_serve_ddb_latest_aggregates */

struct fp_serve_ddb {
    fp_aws_dynamodb_opts o; /* strings borrowed from fp_serve's options */
    const char *table;
    fp_serve_pool pool; /* of fp_aws_client */
};

/* The aggregate fields the table holds windows of, and their pk's tail. */
static const struct agg_field {
    const char *field;
    const char *pk_tail;
} agg_fields[] = {
    {"temperature", "cargo#temperature#5m"},
};

/* ---------------------------------------------------------------- the pool */

static fp_code client_open(void *ctx, void **conn, fp_err *err)
{
    fp_serve_ddb *d = ctx;
    fp_aws_client *cl = NULL;
    fp_code rc = fp_aws_dynamodb_client_new(&d->o, &cl, err);
    *conn = cl;
    return rc;
}

static void client_close(void *ctx, void *conn)
{
    (void)ctx;
    fp_aws_client_free(conn);
}

fp_code fp_serve_ddb_init(fp_serve *s, fp_err *err)
{
    s->ddb = NULL;
    if (!s->o.dynamodb_table || !*s->o.dynamodb_table)
        return FP_OK;
    fp_serve_ddb *d = fp_xcalloc(1, sizeof *d);
    int64_t t = s->o.backend_timeout_ms > 0 ? s->o.backend_timeout_ms : 5000;
    d->table = s->o.dynamodb_table;
    d->o = (fp_aws_dynamodb_opts){
        .region = s->o.region,
        .endpoint = s->o.dynamodb_endpoint,
        .no_region_msg = "serve: no region: give --region",
        .max_attempts = 2, /* a request waits for DynamoDB at most about 2 x timeout */
        .base_delay_ms = 50,
        .max_delay_ms = 200,
        .timeout_ms = t,
        .stop = s->o.stop,
    };
    d->pool = (fp_serve_pool){.backend = "dynamodb",
                              .max = 16,
                              .wait_ms = t,
                              .open = client_open,
                              .close = client_close,
                              .ctx = d};
    fp_serve_pool_init(&d->pool);
    /* One client now: bad credentials or a bad endpoint URL stop the server at start. */
    void *cl = NULL;
    fp_code rc = fp_serve_pool_get(&d->pool, &cl, err);
    if (rc) {
        fp_serve_pool_free(&d->pool);
        free(d);
        return rc;
    }
    fp_serve_pool_put(&d->pool, cl, false);
    s->ddb = d;
    return FP_OK;
}

void fp_serve_ddb_free(fp_serve *s)
{
    if (!s->ddb)
        return;
    fp_serve_pool_free(&s->ddb->pool);
    free(s->ddb);
    s->ddb = NULL;
}

/* One DynamoDB call with a pooled client. */
static fp_code ddb_call(fp_serve_ddb *d, const char *op, const json_t *req, json_t **ans,
                        fp_err *err)
{
    void *cl = NULL;
    *ans = NULL;
    fp_code rc = fp_serve_pool_get(&d->pool, &cl, err);
    if (rc)
        return rc;
    fp_aws_resp resp = {0};
    rc = fp_aws_dynamodb_call_json(cl, op, req, &resp, ans, err);
    fp_aws_resp_free(&resp);
    fp_serve_pool_put(&d->pool, cl, false);
    return rc;
}

/* ---------------------------------------------------------------- DynamoDB values as JSON */

static void put_value(fp_buf *out, const json_t *av);

static void put_list(fp_buf *out, const json_t *arr, bool numbers)
{
    fp_buf_putc(out, '[');
    size_t i;
    const json_t *v;
    json_array_foreach(arr, i, v)
    {
        if (i)
            fp_buf_putc(out, ',');
        if (numbers) {
            const char *t = json_string_value(v);
            fp_json_put_number(out, t ? t : "", t ? strlen(t) : 0);
        } else if (json_is_string(v)) {
            fp_json_quote(out, json_string_value(v), json_string_length(v));
        } else {
            put_value(out, v);
        }
    }
    fp_buf_putc(out, ']');
}

static void put_map(fp_buf *out, const json_t *m)
{
    fp_buf_putc(out, '{');
    const char *k;
    const json_t *v;
    bool first = true;
    json_object_foreach((json_t *)m, k, v)
    {
        if (!first)
            fp_buf_putc(out, ',');
        first = false;
        fp_json_quote(out, k, strlen(k));
        fp_buf_putc(out, ':');
        put_value(out, v);
    }
    fp_buf_putc(out, '}');
}

/* One attribute value of DynamoDB's JSON ({"N": "1.5"}) as plain JSON: numbers with their
 * digits, sets as arrays, binary as its base64 text. */
static void put_value(fp_buf *out, const json_t *av)
{
    const json_t *v;
    if ((v = json_object_get(av, "S")) || (v = json_object_get(av, "B")))
        fp_json_quote(out, json_string_value(v), json_string_length(v));
    else if ((v = json_object_get(av, "N")))
        fp_json_put_number(out, json_string_value(v), json_string_length(v));
    else if ((v = json_object_get(av, "BOOL")))
        fp_buf_puts(out, json_is_true(v) ? "true" : "false");
    else if ((v = json_object_get(av, "M")))
        put_map(out, v);
    else if ((v = json_object_get(av, "L")) || (v = json_object_get(av, "SS")) ||
             (v = json_object_get(av, "BS")))
        put_list(out, v, false);
    else if ((v = json_object_get(av, "NS")))
        put_list(out, v, true);
    else
        fp_buf_puts(out, "null");
}

static const char *attr_s(const json_t *item, const char *name)
{
    return json_string_value(json_object_get(json_object_get(item, name), "S"));
}

/* ---------------------------------------------------------------- parameters */

/* from and to: both required, from <= to, at most 7 days apart, within 1970..9999. */
static bool time_range(fp_serve_call *c, int64_t *from, int64_t *to)
{
    if (!fp_serve_param_time(c, "from", true, 0, from) ||
        !fp_serve_param_time(c, "to", true, 0, to))
        return false;
    const char *bad = *from < 0 || *from > TIME_MAX_MS ? "from"
                      : *to < 0 || *to > TIME_MAX_MS   ? "to"
                                                       : NULL;
    if (bad) {
        fp_serve_fail(c, 400, "parameter %s: outside 1970-01-01 .. 9999-12-31", bad);
        return false;
    }
    if (*from > *to) {
        fp_serve_fail(c, 400, "parameter from: later than to");
        return false;
    }
    if (*to - *from > TRACK_RANGE_MAX_MS) {
        fp_serve_fail(c, 400, "parameters from, to: %.1f days apart, at most 7 allowed",
                      (double)(*to - *from) / 86400000.0);
        return false;
    }
    return true;
}

static void put_time(fp_buf *out, int64_t ms)
{
    fp_buf t = FP_BUF_INIT;
    fp_time_format_iso(ms, &t);
    fp_json_quote(out, t.p, t.len);
    fp_buf_free(&t);
}

/* ---------------------------------------------------------------- GET /vehicles/{id}/track */

/* The items of one page: up to want, from start (NULL: the range's beginning). */
static fp_code track_query(fp_serve_ddb *d, const char *pk, const char *lo, const char *hi,
                           const char *start, size_t want, json_t *items, fp_err *err)
{
    json_t *req = json_pack(
        "{ss ss s{ssss} s{s{ss}s{ss}s{ss}}}", "TableName", d->table, "KeyConditionExpression",
        "#p = :p AND #s BETWEEN :a AND :b", "ExpressionAttributeNames", "#p", "pk", "#s", "sk",
        "ExpressionAttributeValues", ":p", "S", pk, ":a", "S", lo, ":b", "S", hi);
    if (start)
        json_object_set_new(req, "ExclusiveStartKey",
                            json_pack("{s{ss}s{ss}}", "pk", "S", pk, "sk", "S", start));
    fp_code rc = FP_OK;
    while (!rc && json_array_size(items) < want) {
        json_object_set_new(req, "Limit",
                            json_integer((json_int_t)(want - json_array_size(items))));
        json_t *ans = NULL;
        rc = ddb_call(d, "Query", req, &ans, err);
        if (rc)
            break;
        json_array_extend(items, json_object_get(ans, "Items"));
        json_t *lek = json_object_get(ans, "LastEvaluatedKey");
        if (!lek) {
            json_decref(ans);
            break;
        }
        json_object_set(req, "ExclusiveStartKey", lek);
        json_decref(ans);
    }
    json_decref(req);
    return rc;
}

void fp_serve_track(fp_serve_call *c)
{
    int64_t id, from, to, limit;
    if (!fp_serve_vehicle_id(c, &id) || !time_range(c, &from, &to) ||
        !fp_serve_param_i64(c, "limit", 500, 1, 5000, &limit))
        return;
    fp_buf lo = FP_BUF_INIT, hi = FP_BUF_INIT, pk = FP_BUF_INIT, v = FP_BUF_INIT,
           start = FP_BUF_INIT;
    fp_time_format_iso(from, &lo);
    fp_time_format_iso(to, &hi);
    fp_buf_printf(&pk, "%" PRId64 "#vehicle#kinematic", id);
    bool bad = false, ok = true;
    if (fp_serve_query(c, "after", &v, &bad)) {
        fp_buf payload = FP_BUF_INIT;
        ok = fp_serve_cursor_get(c, "after", "track", v.p, &payload);
        if (ok) {
            /* "<id> <sk>": a cursor of this vehicle, inside this range */
            fp_buf want = FP_BUF_INIT;
            fp_buf_printf(&want, "%" PRId64 " ", id);
            const char *sk = payload.len > want.len && !memcmp(payload.p, want.p, want.len)
                                 ? payload.p + want.len
                                 : NULL;
            ok = sk && strcmp(sk, lo.p) >= 0 && strcmp(sk, hi.p) <= 0;
            fp_buf_free(&want);
            if (ok)
                fp_buf_puts(&start, sk);
            else
                fp_serve_fail(c, 400, "parameter after: a cursor of another vehicle or time range");
        }
        fp_buf_free(&payload);
    } else if (bad) {
        ok = false;
    }
    if (ok && !c->s->ddb) {
        fp_serve_unavailable(c, "dynamodb", NULL);
        ok = false;
    }
    json_t *items = json_array();
    fp_err err = {0};
    if (ok && track_query(c->s->ddb, pk.p, lo.p, hi.p, start.len ? start.p : NULL,
                          (size_t)limit + 1, items, &err)) {
        fp_serve_unavailable(c, "dynamodb", &err);
        ok = false;
    }
    if (ok) {
        size_t n = json_array_size(items);
        bool more = n > (size_t)limit;
        if (more)
            n = (size_t)limit;
        fp_buf *b = &c->resp->body;
        c->resp->content_type = "application/json";
        fp_buf_printf(b, "{\"vehicle_id\": %" PRId64 ", \"from\": ", id);
        fp_json_quote(b, lo.p, lo.len);
        fp_buf_puts(b, ", \"to\": ");
        fp_json_quote(b, hi.p, hi.len);
        fp_buf_puts(b, ", \"data\": [");
        for (size_t i = 0; i < n; i++) {
            const json_t *it = json_array_get(items, i);
            const char *sk = attr_s(it, "sk");
            fp_buf_puts(b, i ? ",\n{\"time\":" : "\n{\"time\":");
            fp_json_quote(b, sk ? sk : "", sk ? strlen(sk) : 0);
            const char *k;
            json_t *av;
            json_object_foreach((json_t *)it, k, av)
            {
                if (!strcmp(k, "pk") || !strcmp(k, "sk") || !strcmp(k, "id") ||
                    !strcmp(k, "object") || !strcmp(k, "type") || !strcmp(k, "time"))
                    continue;
                fp_buf_putc(b, ',');
                fp_json_quote(b, k, strlen(k));
                fp_buf_putc(b, ':');
                put_value(b, av);
            }
            fp_buf_putc(b, '}');
        }
        fp_buf_puts(b, "],\n\"pagination\": {\"endCursor\": ");
        if (more) {
            const char *sk = attr_s(json_array_get(items, n - 1), "sk");
            fp_buf cur = FP_BUF_INIT, pl = FP_BUF_INIT;
            fp_buf_printf(&pl, "%" PRId64 " %s", id, sk ? sk : "");
            fp_serve_cursor_put(&cur, "track", pl.p, pl.len);
            fp_json_quote(b, cur.p, cur.len);
            fp_buf_free(&cur);
            fp_buf_free(&pl);
        } else {
            fp_buf_puts(b, "null");
        }
        fp_buf_printf(b, ", \"hasNextPage\": %s}}\n", more ? "true" : "false");
    }
    json_decref(items);
    fp_buf_free(&lo);
    fp_buf_free(&hi);
    fp_buf_free(&pk);
    fp_buf_free(&v);
    fp_buf_free(&start);
}

/* ---------------------------------------------------------------- aggregates */

typedef struct window {
    int64_t start;
    int64_t zone;
    const json_t *item;
} window;

static int window_cmp(const void *a, const void *b)
{
    const window *x = a, *y = b;
    if (x->start != y->start)
        return x->start < y->start ? -1 : 1;
    return x->zone < y->zone ? -1 : x->zone > y->zone;
}

static int64_t item_time(const json_t *item, const char *name)
{
    const char *t = attr_s(item, name);
    int64_t ms = INT64_MIN;
    if (!t || fp_time_parse_iso(t, strlen(t), &ms, NULL))
        return INT64_MIN;
    return ms;
}

static int64_t item_zone(const json_t *item)
{
    const char *z = json_string_value(json_object_get(json_object_get(item, "zone"), "N"));
    return z ? strtoll(z, NULL, 10) : 0;
}

/* One window item as {"window_start", "window_end", "zone", "count", "sum", "min", "max",
 * "avg", "samples", "revision", "final"} (what the item lacks is null). */
static void put_window(fp_buf *b, const json_t *item, const char *field)
{
    static const char *const own[] = {"window_start", "window_end", "zone"};
    static const char *const fns[] = {"count", "sum", "min", "max", "avg"};
    static const char *const tail[] = {"samples", "revision", "final"};
    fp_buf_putc(b, '{');
    for (size_t i = 0; i < 3; i++) {
        fp_buf_printf(b, "%s\"%s\": ", i ? ", " : "", own[i]);
        const json_t *av = json_object_get(item, own[i]);
        av ? put_value(b, av) : fp_buf_puts(b, "null");
    }
    const json_t *m = json_object_get(json_object_get(item, field), "M");
    for (size_t i = 0; i < 5; i++) {
        fp_buf_printf(b, ", \"%s\": ", fns[i]);
        const json_t *av = json_object_get(m, fns[i]);
        av ? put_value(b, av) : fp_buf_puts(b, "null");
    }
    for (size_t i = 0; i < 3; i++) {
        fp_buf_printf(b, ", \"%s\": ", tail[i]);
        const json_t *av = json_object_get(item, tail[i]);
        av ? put_value(b, av) : fp_buf_puts(b, "null");
    }
    fp_buf_putc(b, '}');
}

static fp_code collect(const json_t *item, void *arg, fp_err *err)
{
    (void)err;
    json_array_append((json_t *)arg, (json_t *)item);
    return FP_OK;
}

/* The windows of pk whose [start, end) overlaps [from, to], sorted by start and zone, into
 * out as a JSON array. */
static fp_code windows_between(fp_serve_ddb *d, const char *pk, const char *field, int64_t from,
                               int64_t to, fp_buf *out, fp_err *err)
{
    fp_buf lo = FP_BUF_INIT, hi = FP_BUF_INIT;
    fp_time_format_iso(from - WINDOW_MS + 1 < 0 ? 0 : from - WINDOW_MS + 1, &lo);
    fp_time_format_iso(to, &hi);
    fp_buf_puts(&hi, "#z~"); /* after every zone of a window starting at to */
    json_t *req = json_pack(
        "{ss ss s{ssss} s{s{ss}s{ss}s{ss}}}", "TableName", d->table, "KeyConditionExpression",
        "#p = :p AND #s BETWEEN :a AND :b", "ExpressionAttributeNames", "#p", "pk", "#s", "sk",
        "ExpressionAttributeValues", ":p", "S", pk, ":a", "S", lo.p, ":b", "S", hi.p);
    json_t *items = json_array();
    void *cl = NULL;
    fp_code rc = fp_serve_pool_get(&d->pool, &cl, err);
    if (!rc) {
        rc = fp_aws_dynamodb_pages(cl, "Query", req, collect, items, NULL, err);
        fp_serve_pool_put(&d->pool, cl, false);
    }
    if (!rc) {
        size_t n = json_array_size(items), k = 0;
        window *w = fp_xcalloc(n ? n : 1, sizeof *w);
        for (size_t i = 0; i < n; i++) {
            const json_t *it = json_array_get(items, i);
            int64_t s = item_time(it, "window_start"), e = item_time(it, "window_end");
            if (s == INT64_MIN || s > to || (e != INT64_MIN ? e : s + WINDOW_MS) <= from)
                continue;
            w[k++] = (window){s, item_zone(it), it};
        }
        qsort(w, k, sizeof *w, window_cmp);
        fp_buf_putc(out, '[');
        for (size_t i = 0; i < k; i++) {
            fp_buf_puts(out, i ? ",\n" : "\n");
            put_window(out, w[i].item, field);
        }
        fp_buf_putc(out, ']');
        free(w);
    }
    json_decref(items);
    json_decref(req);
    fp_buf_free(&lo);
    fp_buf_free(&hi);
    return rc;
}

void fp_serve_aggregates(fp_serve_call *c)
{
    int64_t id, from, to;
    if (!fp_serve_vehicle_id(c, &id))
        return;
    fp_buf field = FP_BUF_INIT;
    bool bad = false;
    const struct agg_field *af = NULL;
    if (fp_serve_query(c, "field", &field, &bad)) {
        for (size_t i = 0; i < sizeof agg_fields / sizeof agg_fields[0]; i++)
            if (!strcmp(field.p, agg_fields[i].field))
                af = &agg_fields[i];
        if (!af) {
            fp_buf shown = FP_BUF_INIT;
            fp_json_quote(&shown, field.p, field.len > 40 ? 40 : field.len);
            fp_serve_fail(c, 400,
                          "parameter field: no 5-minute aggregates of %s (known: temperature)",
                          shown.p);
            fp_buf_free(&shown);
        }
    } else if (!bad) {
        fp_serve_fail(c, 400, "parameter field is required (temperature)");
    }
    fp_buf_free(&field);
    if (!af || !time_range(c, &from, &to))
        return;
    if (!c->s->ddb) {
        fp_serve_unavailable(c, "dynamodb", NULL);
        return;
    }
    fp_buf pk = FP_BUF_INIT, arr = FP_BUF_INIT;
    fp_buf_printf(&pk, "%" PRId64 "#%s", id, af->pk_tail);
    fp_err err = {0};
    if (windows_between(c->s->ddb, pk.p, af->field, from, to, &arr, &err)) {
        fp_serve_unavailable(c, "dynamodb", &err);
    } else {
        fp_buf *b = &c->resp->body;
        c->resp->content_type = "application/json";
        fp_buf_printf(b, "{\"vehicle_id\": %" PRId64 ", \"field\": ", id);
        fp_json_quote(b, af->field, strlen(af->field));
        fp_buf_puts(b, ", \"window\": \"5m\", \"from\": ");
        put_time(b, from);
        fp_buf_puts(b, ", \"to\": ");
        put_time(b, to);
        fp_buf_puts(b, ", \"data\": ");
        fp_buf_append(b, arr.p, arr.len);
        fp_buf_puts(b, "}\n");
    }
    fp_buf_free(&pk);
    fp_buf_free(&arr);
}

fp_code fp_serve_ddb_latest_aggregates(fp_serve *s, int64_t id, fp_buf *json_out, fp_err *err)
{
    if (!s->ddb)
        return fp_err_set(err, FP_ERR_CONFIG, "not configured");
    fp_serve_ddb *d = s->ddb;
    const struct agg_field *af = &agg_fields[0];
    fp_buf pk = FP_BUF_INIT;
    fp_buf_printf(&pk, "%" PRId64 "#%s", id, af->pk_tail);
    json_t *req =
        json_pack("{ss ss s{ss} s{s{ss}} sb si}", "TableName", d->table, "KeyConditionExpression",
                  "#p = :p", "ExpressionAttributeNames", "#p", "pk", "ExpressionAttributeValues",
                  ":p", "S", pk.p, "ScanIndexForward", 0, "Limit", LATEST_SCAN);
    json_t *ans = NULL;
    fp_code rc = ddb_call(d, "Query", req, &ans, err);
    if (!rc) {
        /* newest first: the first item of each zone is its latest window */
        const json_t *items = json_object_get(ans, "Items");
        size_t n = json_array_size(items), k = 0;
        window *w = fp_xcalloc(n ? n : 1, sizeof *w);
        for (size_t i = 0; i < n; i++) {
            const json_t *it = json_array_get(items, i);
            int64_t z = item_zone(it), st = item_time(it, "window_start");
            size_t j = 0;
            while (j < k && w[j].zone != z)
                j++;
            if (j == k)
                w[k++] = (window){st, z, it};
            else if (st > w[j].start)
                w[j] = (window){st, z, it};
        }
        /* one per zone, in zone order */
        for (size_t i = 0; i < k; i++)
            w[i].start = 0;
        qsort(w, k, sizeof *w, window_cmp);
        fp_buf_putc(json_out, '[');
        for (size_t i = 0; i < k; i++) {
            if (i)
                fp_buf_puts(json_out, ", ");
            put_window(json_out, w[i].item, af->field);
        }
        fp_buf_putc(json_out, ']');
        free(w);
    }
    json_decref(ans);
    json_decref(req);
    fp_buf_free(&pk);
    return rc;
}
