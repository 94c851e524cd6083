/* test_xform_cases.c — runs every case under <data>/transforms/ through fp_xform_jsonl_run(),
 * the engine of `fleetpipe transform`, in-process (so the sanitizer build covers it).
 *
 * A case passes when its output is byte-for-byte expected.jsonl and its dead letters match
 * expected-dead.jsonl entry by entry (line number, class, message substring), or when its config
 * fails with the substring in expected-config-error.txt. tests/data/transforms/README.md
 * documents the files. Every case is printed; one failing case fails the test.
 */
#include <dirent.h>
#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "core/mem.h"
#include "xform/jsonl.h"

static const char *data_dir;

static int read_file(const char *path, fp_buf *b)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    char chunk[65536];
    for (;;) {
        size_t n = fread(chunk, 1, sizeof chunk, f);
        if (n == 0)
            break;
        fp_buf_append(b, chunk, n);
    }
    fclose(f);
    if (!b->p)
        fp_buf_reserve(b, 0);
    return 0;
}

/* *.gen files: the text as is, except that {{rep:N:TEXT}} becomes TEXT repeated N times, so a
 * 1 MiB message is a one-line recipe rather than a 1 MiB file. */
static int expand_gen(const fp_buf *in, fp_buf *out)
{
    const char *p = in->p, *e = in->p + in->len;
    while (p < e) {
        const char *d = memmem(p, (size_t)(e - p), "{{rep:", 6);
        if (!d) {
            fp_buf_append(out, p, (size_t)(e - p));
            break;
        }
        fp_buf_append(out, p, (size_t)(d - p));
        char *colon;
        long n = strtol(d + 6, &colon, 10);
        const char *close = memmem(d, (size_t)(e - d), "}}", 2);
        if (*colon != ':' || !close || n < 0)
            return -1;
        for (long i = 0; i < n; i++)
            fp_buf_append(out, colon + 1, (size_t)(close - colon - 1));
        p = close + 2;
    }
    if (!out->p)
        fp_buf_reserve(out, 0);
    return 0;
}

/* Reads <case>/<base>.jsonl, or <case>/<base>.gen expanded. Returns -1 when neither exists. */
static int read_case_file(const char *dir, const char *base, fp_buf *out)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s.jsonl", dir, base);
    if (read_file(path, out) == 0)
        return 0;
    snprintf(path, sizeof path, "%s/%s.gen", dir, base);
    fp_buf raw = FP_BUF_INIT;
    if (read_file(path, &raw) != 0)
        return -1;
    int rc = expand_gen(&raw, out);
    fp_buf_free(&raw);
    return rc;
}

static int case_fail(const char *name, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    printf("FAIL %s: ", name);
    vprintf(fmt, ap);
    printf("\n");
    va_end(ap);
    return 1;
}

static void trim(fp_buf *b)
{
    while (b->len &&
           (b->p[b->len - 1] == '\n' || b->p[b->len - 1] == '\r' || b->p[b->len - 1] == ' '))
        b->p[--b->len] = '\0';
}

/* Shows where two outputs part, line by line. */
static void show_diff(const fp_buf *got, const fp_buf *want)
{
    size_t line = 1, i = 0, ls = 0;
    while (i < got->len && i < want->len && got->p[i] == want->p[i]) {
        if (got->p[i] == '\n') {
            line++;
            ls = i + 1;
        }
        i++;
    }
    const char *g = got->p + ls, *w = want->p + ls;
    const char *ge = memchr(g, '\n', got->len - ls), *we = memchr(w, '\n', want->len - ls);
    int gn = ge ? (int)(ge - g) : (int)(got->len - ls),
        wn = we ? (int)(we - w) : (int)(want->len - ls);
    printf("    output line %zu differs (byte %zu of the line)\n    got:  %.*s\n    want: %.*s\n",
           line, i - ls, gn > 400 ? 400 : gn, g, wn > 400 ? 400 : wn, w);
}

static int check_dead(const char *name, const char *dir, const fp_buf *dead, const fp_buf *input)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/expected-dead.jsonl", dir);
    fp_buf want = FP_BUF_INIT;
    if (read_file(path, &want) != 0)
        fp_buf_reserve(&want, 0);
    int bad = 0;
    const char *g = dead->p, *ge = dead->p + dead->len;
    const char *w = want.p, *we = want.p + want.len;
    size_t k = 0;
    for (;;) {
        while (w < we && (*w == '\n' || *w == '\r'))
            w++;
        const char *gl = g < ge ? memchr(g, '\n', (size_t)(ge - g)) : NULL;
        const char *wl = w < we ? memchr(w, '\n', (size_t)(we - w)) : NULL;
        if (w < we && !wl)
            wl = we;
        if (!gl && !wl)
            break;
        k++;
        if (!gl || !wl) {
            bad = case_fail(name, "dead letter %zu: %s", k,
                            gl ? "unexpected extra dead letter" : "expected dead letter missing");
            if (gl)
                printf("    got: %.*s\n", (int)(gl - g > 400 ? 400 : gl - g), g);
            break;
        }
        json_error_t je;
        json_t *gj = json_loadb(g, (size_t)(gl - g), JSON_ALLOW_NUL, &je);
        json_t *wj = json_loadb(w, (size_t)(wl - w), 0, &je);
        if (!gj) {
            bad = case_fail(name, "dead letter %zu is not valid JSON: %s", k, je.text);
        } else if (!wj) {
            bad =
                case_fail(name, "expected-dead.jsonl entry %zu is not valid JSON: %s", k, je.text);
        } else {
            json_int_t line = json_integer_value(json_object_get(gj, "line"));
            const char *cls =
                json_string_value(json_object_get(json_object_get(gj, "error"), "class"));
            const char *msg =
                json_string_value(json_object_get(json_object_get(gj, "error"), "message"));
            json_t *in = json_object_get(gj, "input");
            json_int_t wline = json_integer_value(json_object_get(wj, "line"));
            const char *wcls = json_string_value(json_object_get(wj, "class"));
            const char *wmsg = json_string_value(json_object_get(wj, "message"));
            if (!cls || !msg || !json_is_string(in) ||
                !json_is_integer(json_object_get(gj, "line")))
                bad =
                    case_fail(name, "dead letter %zu lacks error.class/message, line or input", k);
            else if (line != wline)
                bad = case_fail(name, "dead letter %zu: line %lld, want %lld", k, (long long)line,
                                (long long)wline);
            else if (wcls && strcmp(cls, wcls))
                bad = case_fail(name, "dead letter %zu: class %s, want %s", k, cls, wcls);
            else if (!wmsg || !strstr(msg, wmsg))
                bad = case_fail(name, "dead letter %zu: message \"%s\" lacks \"%s\"", k, msg,
                                wmsg ? wmsg : "(no message in expected entry)");
            /* the original line must come back exactly (ASCII lines: bytes; else decoded) */
            if (!bad && json_is_string(in) && !json_object_get(gj, "input_truncated")) {
                const char *ip = input->p;
                for (json_int_t l = 1; l < line && ip; l++) {
                    ip = memchr(ip, '\n', (size_t)(input->p + input->len - ip));
                    ip = ip ? ip + 1 : NULL;
                }
                const char *ie = ip ? memchr(ip, '\n', (size_t)(input->p + input->len - ip)) : NULL;
                size_t in_n =
                    ip ? (ie ? (size_t)(ie - ip) : (size_t)(input->p + input->len - ip)) : 0;
                if (in_n && ip[in_n - 1] == '\r')
                    in_n--;
                bool ascii = true;
                for (size_t i = 0; i < in_n; i++)
                    ascii &= (unsigned char)ip[i] < 0x80;
                if (ascii &&
                    (json_string_length(in) != in_n || memcmp(json_string_value(in), ip, in_n)))
                    bad = case_fail(name, "dead letter %zu: input is not the original line", k);
            }
        }
        json_decref(gj);
        json_decref(wj);
        if (bad)
            break;
        g = gl + 1;
        w = wl + 1;
    }
    fp_buf_free(&want);
    return bad;
}

static void load_meta(const char *dir, fp_jsonl_opts *o, char *topic, size_t topic_n)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/meta.json", dir);
    *o = (fp_jsonl_opts){NULL, -1, -1, -1};
    json_error_t je;
    json_t *m = json_load_file(path, 0, &je);
    if (!m)
        return;
    const char *t = json_string_value(json_object_get(m, "topic"));
    if (t) {
        snprintf(topic, topic_n, "%s", t);
        o->topic = topic;
    }
    if (json_is_integer(json_object_get(m, "partition")))
        o->partition = (int32_t)json_integer_value(json_object_get(m, "partition"));
    if (json_is_integer(json_object_get(m, "offset_start")))
        o->offset_start = json_integer_value(json_object_get(m, "offset_start"));
    if (json_is_integer(json_object_get(m, "timestamp_ms")))
        o->timestamp_ms = json_integer_value(json_object_get(m, "timestamp_ms"));
    json_decref(m);
}

/* Returns 0 when the case passes. */
static int run_case(const char *name, const char *dir)
{
    char path[4096];
    fp_err err = {0};
    fp_xform_chain *chain = NULL;
    snprintf(path, sizeof path, "%s/config.json", dir);
    fp_code rc = fp_xform_chain_load(path, &chain, &err);
    snprintf(path, sizeof path, "%s/expected-config-error.txt", dir);
    fp_buf want_err = FP_BUF_INIT;
    if (read_file(path, &want_err) == 0) {
        trim(&want_err);
        int bad = 0;
        if (rc != FP_ERR_CONFIG)
            bad = case_fail(name, "config loaded, expected an error containing \"%s\"", want_err.p);
        else if (!strstr(err.msg, want_err.p))
            bad = case_fail(name, "config error \"%s\" lacks \"%s\"", err.msg, want_err.p);
        fp_buf_free(&want_err);
        fp_xform_chain_free(chain);
        return bad;
    }
    if (rc)
        return case_fail(name, "config: %s", err.msg);

    fp_buf input = FP_BUF_INIT, want = FP_BUF_INIT;
    int bad = 0;
    if (read_case_file(dir, "input", &input) != 0)
        bad = case_fail(name, "no input.jsonl or input.gen");
    else if (read_case_file(dir, "expected", &want) != 0)
        bad = case_fail(name, "no expected.jsonl or expected.gen");
    if (!bad) {
        char topic[256];
        fp_jsonl_opts o;
        load_meta(dir, &o, topic, sizeof topic);
        FILE *in = fmemopen(input.p, input.len ? input.len : 1, "rb");
        if (!input.len)
            fgetc(in); /* fmemopen needs a non-zero size; consume the NUL to make it empty */
        fp_buf got = FP_BUF_INIT, dead = FP_BUF_INIT;
        char *gp = NULL, *dp = NULL;
        size_t gn = 0, dn = 0;
        FILE *out = open_memstream(&gp, &gn), *df = open_memstream(&dp, &dn);
        fp_jsonl_stats st;
        rc = fp_xform_jsonl_run(chain, &o, in, out, df, &st, &err);
        fclose(in);
        fclose(out);
        fclose(df);
        fp_buf_append(&got, gp ? gp : "", gn);
        fp_buf_append(&dead, dp ? dp : "", dn);
        free(gp);
        free(dp);
        if (rc)
            bad = case_fail(name, "run: %s", err.msg);
        else if (got.len != want.len || memcmp(got.p, want.p, got.len)) {
            bad = case_fail(name, "output differs from expected (%zu bytes, want %zu)", got.len,
                            want.len);
            show_diff(&got, &want);
        } else {
            bad = check_dead(name, dir, &dead, &input);
        }
        if (!bad)
            printf("ok   %s (in=%llu out=%llu dead=%llu)\n", name, (unsigned long long)st.in,
                   (unsigned long long)st.out, (unsigned long long)st.dead);
        fp_buf_free(&got);
        fp_buf_free(&dead);
    }
    fp_buf_free(&input);
    fp_buf_free(&want);
    fp_xform_chain_free(chain);
    return bad;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void test_cases(void **state)
{
    char root[1024];
    snprintf(root, sizeof root, "%s/transforms", data_dir);
    DIR *d = opendir(root);
    assert_non_null(d);
    char **names = NULL;
    size_t n = 0;
    for (;;) {
        struct dirent *de = readdir(d);
        if (!de)
            break;
        char path[2048];
        struct stat sb;
        snprintf(path, sizeof path, "%s/%s", root, de->d_name);
        if (de->d_name[0] == '.' || stat(path, &sb) != 0 || !S_ISDIR(sb.st_mode))
            continue;
        names = fp_xrealloc(names, (n + 1) * sizeof *names);
        names[n++] = fp_xstrdup(de->d_name);
    }
    closedir(d);
    qsort(names, n, sizeof *names, cmp_str);
    int failed = 0;
    for (size_t i = 0; i < n; i++) {
        char dir[1500];
        snprintf(dir, sizeof dir, "%s/%s", root, names[i]);
        failed += run_case(names[i], dir);
        free(names[i]);
    }
    free(names);
    printf("%zu cases, %d failed\n", n, failed);
    fflush(stdout);
    assert_true(n >= 30);
    assert_int_equal(failed, 0);
}

int main(int argc, char **argv)
{
    data_dir = argc > 1 ? argv[1] : "tests/data";
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_cases)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
