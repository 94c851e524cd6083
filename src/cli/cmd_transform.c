/* cmd_transform.c — `fleetpipe transform`: a connector's transform chain over JSON lines.
 *
 * Lets a connector file's transforms be tried, tested and benchmarked without Kafka. stdout
 * carries only output JSON lines; dead letters go to --dead-letter or stderr; the summary
 * (in=N out=M dead=K) goes to stderr with --stats. Exit 0 when the run completed (dead
 * letters included), 1 on I/O error, 2 on a configuration error.
 */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "xform/jsonl.h"

typedef struct tf_opts {
    char *config, *connector, *input, *output, *dead, *topic, *status_format;
    int64_t partition, offset_start, timestamp;
    bool stats;
} tf_opts;

static const fp_conf_def tf_flags[] = {
    {"config", FP_CONF_STRING, "", offsetof(tf_opts, config),
     "connector JSON file (same as --connector)", NULL, 0, 0},
    {"connector", FP_CONF_STRING, "", offsetof(tf_opts, connector),
     "connector JSON file with transforms.* and predicates.* keys", NULL, 0, 0},
    {"input", FP_CONF_STRING, "-", offsetof(tf_opts, input), "JSON lines to read, - for stdin",
     NULL, 0, 0},
    {"output", FP_CONF_STRING, "-", offsetof(tf_opts, output), "JSON lines to write, - for stdout",
     NULL, 0, 0},
    {"dead-letter", FP_CONF_STRING, "", offsetof(tf_opts, dead),
     "file for dead-letter JSON lines (default: stderr)", NULL, 0, 0},
    {"topic", FP_CONF_STRING, "", offsetof(tf_opts, topic),
     "topic the records claim to come from (for predicates, InsertField and errors)", NULL, 0, 0},
    {"partition", FP_CONF_INT, "-1", offsetof(tf_opts, partition), "partition of the records", NULL,
     -1, INT32_MAX},
    {"offset-start", FP_CONF_INT, "-1", offsetof(tf_opts, offset_start),
     "offset of line 1 (line N has offset-start + N - 1); -1: unknown", NULL, -1, INT64_MAX},
    {"timestamp", FP_CONF_INT, "-1", offsetof(tf_opts, timestamp),
     "record timestamp in epoch ms for InsertField; -1: unknown", NULL, -1, INT64_MAX},
    {"stats", FP_CONF_BOOL, NULL, offsetof(tf_opts, stats), "print in=N out=M dead=K on stderr",
     NULL, 0, 0},
    FP_CLI_STATUS_FLAG(tf_opts),
    {NULL, 0, NULL, 0, NULL, NULL, 0, 0},
};

static int run(const fp_cmd *cmd, void *opts)
{
    tf_opts *o = opts;
    fp_err err = {0};
    int rc = 0;
    fp_xform_chain *chain = NULL;
    FILE *in = NULL, *out = NULL, *dead = NULL;
    bool ran = false;
    fp_jsonl_stats st = {0};
    const char *conn = *o->connector ? o->connector : o->config;
    if (*o->connector && *o->config && strcmp(o->connector, o->config)) {
        fp_err_set(&err, FP_ERR_CONFIG, "--config and --connector name different files");
        rc = fp_cli_fail(cmd, &err);
        goto done;
    }
    if (!*conn) {
        fp_err_set(&err, FP_ERR_CONFIG, "a connector file is required (--config FILE)");
        rc = fp_cli_fail(cmd, &err);
        goto done;
    }
    if (fp_xform_chain_load(conn, &chain, &err) != FP_OK) {
        rc = fp_cli_fail(cmd, &err);
        goto done;
    }
    in = strcmp(o->input, "-") ? fopen(o->input, "rb") : stdin;
    if (!in) {
        fprintf(stderr, "fleetpipe transform: %s: %s\n", o->input, strerror(errno));
        rc = 1;
        goto done;
    }
    out = strcmp(o->output, "-") ? fopen(o->output, "wb") : stdout;
    if (!out) {
        fprintf(stderr, "fleetpipe transform: %s: %s\n", o->output, strerror(errno));
        rc = 1;
        goto done;
    }
    dead = *o->dead ? fopen(o->dead, "wb") : stderr;
    if (!dead) {
        fprintf(stderr, "fleetpipe transform: %s: %s\n", o->dead, strerror(errno));
        rc = 1;
        goto done;
    }
    fp_jsonl_opts jo = {*o->topic ? o->topic : NULL, (int32_t)o->partition, o->offset_start,
                        o->timestamp};
    ran = true;
    if (fp_xform_jsonl_run(chain, &jo, in, out, dead, &st, &err) != FP_OK) {
        fprintf(stderr, "fleetpipe transform: %s\n", err.msg);
        rc = 1;
    }
    if (o->stats)
        fprintf(stderr, "in=%" PRIu64 " out=%" PRIu64 " dead=%" PRIu64 "\n", st.in, st.out,
                st.dead);
done:
    if (in && in != stdin)
        fclose(in);
    if (out && out != stdout && fclose(out) != 0 && rc == 0) {
        fprintf(stderr, "fleetpipe transform: %s: %s\n", o->output, strerror(errno));
        rc = 1;
    }
    if (dead && dead != stderr && fclose(dead) != 0 && rc == 0) {
        fprintf(stderr, "fleetpipe transform: %s: %s\n", o->dead, strerror(errno));
        rc = 1;
    }
    fp_xform_chain_free(chain);
    /* stdout carries the records with --output -: the status goes to stderr then. */
    if (ran)
        fp_cli_status_print(cmd, o->status_format,
                            json_pack("{s:I,s:I,s:I}", "in", (json_int_t)st.in, "out",
                                      (json_int_t)st.out, "dead", (json_int_t)st.dead),
                            rc, strcmp(o->output, "-") ? stdout : stderr);
    return rc;
}

const fp_cmd fp_cmd_transform = {
    "transform",
    "run a connector's transforms chain over JSON lines (no Kafka needed)",
    "usage: fleetpipe transform --config CONNECTOR.json [--input F] [--output F]\n"
    "                           [--dead-letter F] [--topic T --partition P --offset-start O]\n"
    "                           [--timestamp MS] [--stats]\n\n"
    "Reads one JSON message per line, applies the connector's transforms (Kafka Connect keys:\n"
    "transforms, transforms.<alias>.*, predicates, converter.split.list.key; other connector\n"
    "keys are ignored) and writes the resulting records as JSON lines. A message that a transform\n"
    "rejects becomes a dead-letter line {\"error\":{\"class\",\"message\"},\"line\",\"input\"}.\n"
    "Exit status: 0 run completed (even with dead letters), 1 I/O error, 2 configuration error.\n"
    "--status-format json prints {\"in\",\"out\",\"dead\"} as one JSON line at the end: on "
    "stdout,\n"
    "or on stderr when stdout carries the records (--output -).\n"
    "`fleetpipe help transforms` lists the transforms and their keys.",
    tf_flags,
    sizeof(tf_opts),
    run,
};
