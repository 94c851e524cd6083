/* cmd_sim.c — `fleetpipe sim` (the fleet simulator and load generator) and
 * `fleetpipe sim provision` (device credentials for mosquitto).
 *
 * The model lives in sim/sim.h, the clock and publishers in sim/run.h; this file turns flags
 * into their options and prints the summary. Output bytes depend only on --seed, --start and
 * the model options, so `--start` is printed for reproducing a run.
 */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/sig.h"
#include "core/time.h"
#include "core/url.h"
#include "kafka/kafka.h"
#include "sim/provision.h"
#include "sim/run.h"
#include "sim/sim.h"

typedef struct sim_opts {
    int64_t vehicles, first_id, seed, threads, multiply, id_stride, max_inflight, duration;
    char *speedup, *start, *target, *truth, *protocols, *only, *anomalies, *anomaly_rate, *rate,
        *replay, *credentials, *username, *password_file, *cafile, *certfile, *keyfile,
        *metrics_listen, *status_format;
    bool insecure, warm, retime, wall_clock;
} sim_opts;

static const fp_conf_def sim_flags[] = {
    {"vehicles", FP_CONF_INT, "10", offsetof(sim_opts, vehicles),
     "fleet size (ids 1..N, or from --first-id)", NULL, 1, 10000000},
    {"first-id", FP_CONF_INT, "1", offsetof(sim_opts, first_id),
     "first vehicle id: the fleet is ids first-id..first-id+vehicles-1 (several runs side by side, "
     "as `fleetpipe loadtest` grows a fleet)",
     NULL, 1, 10000000},
    {"warm", FP_CONF_BOOL, NULL, offsetof(sim_opts, warm),
     "the fleet was already driving: every protocol goes out at its steady rate from the first "
     "second (the vehicles started up to the longest send interval before --start; what they "
     "sent before it is not published) instead of after a silent first interval",
     NULL, 0, 0},
    {"wall-clock", FP_CONF_BOOL, NULL, offsetof(sim_opts, wall_clock),
     "the simulated clock follows the wall clock from --start (with --speedup): connecting the "
     "devices does not delay it, and a --start in the future waits for it",
     NULL, 0, 0},
    {"duration", FP_CONF_MS, "10m", offsetof(sim_opts, duration),
     "simulated time to run (e.g. 90s, 10m, 2h, 1d)", NULL, 1000, INT64_MAX},
    {"speedup", FP_CONF_STRING, "1", offsetof(sim_opts, speedup),
     "simulated seconds per wall-clock second, or max (as fast as the target takes)", NULL, 0, 0},
    {"seed", FP_CONF_INT, "1", offsetof(sim_opts, seed), "random seed", NULL, 0, 0},
    {"start", FP_CONF_STRING, "", offsetof(sim_opts, start),
     "simulated start time (ISO-8601); default: now (printed, to reproduce the run)", NULL, 0, 0},
    {"target", FP_CONF_STRING, "-", offsetof(sim_opts, target),
     "mqtt://host:port, mqtts://host:port, kafka://bootstrap[,..], file:PATH or - (stdout)", NULL,
     0, 0},
    {"rate", FP_CONF_STRING, "0", offsetof(sim_opts, rate),
     "cap on messages per second over all threads; 0: no cap", NULL, 0, 0},
    {"threads", FP_CONF_INT, "1", offsetof(sim_opts, threads), "worker threads", NULL, 1, 256},
    {"protocols", FP_CONF_STRING, "", offsetof(sim_opts, protocols),
     "protocol registry (JSON); default: the built-in config/protocols.json", NULL, 0, 0},
    {"only", FP_CONF_STRING, "", offsetof(sim_opts, only),
     "simulate only these protocols, e.g. vehicle/kinematic,cargo/temperature", NULL, 0, 0},
    {"anomaly-rate", FP_CONF_STRING, "0", offsetof(sim_opts, anomaly_rate),
     "probability that a message carries an anomaly (0..1)", NULL, 0, 0},
    {"anomalies", FP_CONF_STRING, "all", offsetof(sim_opts, anomalies),
     "kinds to inject: all, or a list of gps_jump, time_skew, duplicate, out_of_order, "
     "stuck_sensor, voltage_range, odometer_back, malformed_json, missing_field, spoofed_topic",
     NULL, 0, 0},
    {"truth", FP_CONF_STRING, "", offsetof(sim_opts, truth),
     "write one JSON line per injected anomaly (device, seq, kind) to this file", NULL, 0, 0},
    {"replay", FP_CONF_STRING, "", offsetof(sim_opts, replay),
     "republish recorded messages (JSON lines) instead of simulating", NULL, 0, 0},
    {"multiply", FP_CONF_INT, "1", offsetof(sim_opts, multiply),
     "replay: clone every vehicle K times under new ids, shifted in space and time", NULL, 1,
     100000},
    {"retime", FP_CONF_BOOL, NULL, offsetof(sim_opts, retime),
     "replay: move every time field so the first message is sent now (current event times, "
     "for end-to-end latency)",
     NULL, 0, 0},
    {"id-stride", FP_CONF_INT, "1000000", offsetof(sim_opts, id_stride),
     "replay: clone k gets id + k * stride", NULL, 1, 1000000000},
    {"credentials", FP_CONF_STRING, "", offsetof(sim_opts, credentials),
     "per-device MQTT passwords (devices.secret from `fleetpipe sim provision`)", NULL, 0, 0},
    {"username", FP_CONF_STRING, "", offsetof(sim_opts, username),
     "one MQTT user name for every device (without --credentials)", NULL, 0, 0},
    {"password-file", FP_CONF_STRING, "", offsetof(sim_opts, password_file),
     "file holding that user's password", NULL, 0, 0},
    {"max-inflight", FP_CONF_INT, "100", offsetof(sim_opts, max_inflight),
     "MQTT: unacknowledged messages per device before it waits", NULL, 1, 65535},
    {"cafile", FP_CONF_STRING, "", offsetof(sim_opts, cafile), "mqtts: CA certificate (PEM)", NULL,
     0, 0},
    {"certfile", FP_CONF_STRING, "", offsetof(sim_opts, certfile),
     "mqtts: client certificate (PEM); %s in the path stands for the device id", NULL, 0, 0},
    {"keyfile", FP_CONF_STRING, "", offsetof(sim_opts, keyfile),
     "mqtts: client key (PEM); %s in the path stands for the device id", NULL, 0, 0},
    {"insecure", FP_CONF_BOOL, NULL, offsetof(sim_opts, insecure),
     "mqtts: do not verify the broker's certificate (testing only)", NULL, 0, 0},
    {"metrics-listen", FP_CONF_STRING, "", offsetof(sim_opts, metrics_listen),
     "serve Prometheus /metrics and /healthz on this address while running (e.g. "
     "127.0.0.1:9466); empty: off",
     NULL, 0, 0},
    FP_CLI_STATUS_FLAG(sim_opts),
    {NULL, 0, NULL, 0, NULL, NULL, 0, 0},
};

static fp_code parse_double(const char *name, const char *s, double lo, double hi, double *out,
                            fp_err *err)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end || errno || !isfinite(v) || v < lo || v > hi)
        return fp_err_set(err, FP_ERR_CONFIG, "--%s %s: expected a number in %g..%g", name, s, lo,
                          hi);
    *out = v;
    return FP_OK;
}

/* Everything the run needs besides the options struct; freed by cleanup(). */
typedef struct sim_state {
    fp_sim_registry *reg;
    fp_sim_credentials *creds;
    char *host, *password;
    fp_buf scheme, rest;
    FILE *out, *truth;
} sim_state;

static fp_code setup_target(sim_opts *o, sim_state *st, fp_sim_run_opts *ro, fp_err *err)
{
    if (!strcmp(o->target, "-")) {
        ro->target = FP_SIM_TO_FILE;
        ro->out = stdout;
        return FP_OK;
    }
    if (fp_url_split(o->target, &st->scheme, &st->rest, err))
        return err->code;
    const char *sc = st->scheme.p;
    if (!strcmp(sc, "file")) {
        st->out = fopen(st->rest.p, "wb");
        if (!st->out)
            return fp_err_set(err, FP_ERR_CONFIG, "--target %s: %s", st->rest.p, strerror(errno));
        ro->target = FP_SIM_TO_FILE;
        ro->out = st->out;
        return FP_OK;
    }
    if (!strcmp(sc, "kafka")) {
        ro->target = FP_SIM_TO_KAFKA;
        ro->bootstrap = st->rest.p;
        return fp_kafka_bootstrap_check("--target kafka://", st->rest.p, err);
    }
    if (strcmp(sc, "mqtt") && strcmp(sc, "mqtts"))
        return fp_err_set(err, FP_ERR_CONFIG,
                          "--target %s: scheme must be mqtt, mqtts, kafka or file", o->target);
    ro->target = FP_SIM_TO_MQTT;
    fp_sim_mqtt_conf *m = &ro->mqtt;
    if (fp_url_mqtt(o->target, &st->host, &m->port, &m->tls, err))
        return fp_err_prefix(err, "--target");
    m->host = st->host;
    m->cafile = o->cafile[0] ? o->cafile : NULL;
    m->certfile = o->certfile[0] ? o->certfile : NULL;
    m->keyfile = o->keyfile[0] ? o->keyfile : NULL;
    m->insecure = o->insecure;
    m->max_inflight = (int)o->max_inflight;
    if (o->credentials[0]) {
        st->creds = fp_sim_credentials_load(o->credentials, err);
        if (!st->creds)
            return err->code;
        m->credentials = st->creds;
    }
    if (o->username[0])
        m->username = o->username;
    if (o->password_file[0]) {
        st->password = fp_sim_read_secret(o->password_file, err);
        if (!st->password)
            return err->code;
        m->password = st->password;
    }
    return FP_OK;
}

static void print_summary(const sim_opts *o, const fp_sim_run_opts *ro, const fp_sim_summary *s,
                          int64_t start_ms)
{
    fp_buf b = FP_BUF_INIT;
    fp_time_format_iso(start_ms, &b);
    fprintf(stderr, "fleetpipe sim: %s in %.1f s (seed %lld, start %s, speedup %s)\n",
            ro->replay ? "replay" : "simulation", (double)s->wall_ms / 1000.0, (long long)o->seed,
            b.p, o->speedup);
    size_t np = fp_sim_registry_count(ro->conf->reg);
    uint64_t samples = 0;
    for (size_t i = 0; i <= np; i++) {
        samples += s->samples[i];
        if (!s->messages[i])
            continue;
        char name[96] = "other (replayed)";
        if (i < np) {
            const fp_sim_protocol *p = fp_sim_registry_get(ro->conf->reg, i);
            snprintf(name, sizeof name, "%s/%s", p->object, p->type);
        }
        fprintf(stderr, "  %-26s %10llu messages %12llu samples\n", name,
                (unsigned long long)s->messages[i], (unsigned long long)s->samples[i]);
    }
    fp_buf_reset(&b);
    uint64_t anomalies = 0;
    for (int a = 1; a < FP_SIM_ANOM_COUNT; a++) {
        anomalies += s->anomalies[a];
        if (s->anomalies[a])
            fp_buf_printf(&b, " %s=%llu", fp_sim_anomaly_name((fp_sim_anomaly)a),
                          (unsigned long long)s->anomalies[a]);
    }
    fprintf(stderr, "  anomalies %llu%s\n", (unsigned long long)anomalies, b.len ? b.p : "");
    double secs = s->wall_ms > 0 ? (double)s->wall_ms / 1000.0 : 1e-3;
    fprintf(stderr,
            "  messages %llu, published %llu, failed %llu, commands %llu%s; %.0f messages/s, "
            "%.0f samples/s\n",
            (unsigned long long)s->emitted, (unsigned long long)s->published,
            (unsigned long long)s->failed, (unsigned long long)s->commands,
            s->bad_replay_lines ? " (replay lines skipped: see log)" : "",
            (double)s->emitted / secs, (double)samples / secs);
    if (s->bad_replay_lines)
        fprintf(stderr, "  replay lines skipped %llu\n", (unsigned long long)s->bad_replay_lines);
    fp_buf_free(&b);
}

/* The summary's numbers as one JSON object (--status-format json). */
static json_t *status_json(const fp_sim_run_opts *ro, const fp_sim_summary *s, int64_t start_ms)
{
    json_t *protocols = json_object(), *kinds = json_object();
    size_t np = fp_sim_registry_count(ro->conf->reg);
    uint64_t samples = 0, anomalies = 0;
    for (size_t i = 0; s->messages && i <= np; i++) {
        samples += s->samples[i];
        if (!s->messages[i])
            continue;
        char name[96] = "other";
        if (i < np) {
            const fp_sim_protocol *p = fp_sim_registry_get(ro->conf->reg, i);
            snprintf(name, sizeof name, "%s/%s", p->object, p->type);
        }
        json_object_set_new(protocols, name,
                            json_pack("{s:I,s:I}", "messages", (json_int_t)s->messages[i],
                                      "samples", (json_int_t)s->samples[i]));
    }
    for (int a = 1; a < FP_SIM_ANOM_COUNT; a++) {
        anomalies += s->anomalies[a];
        if (s->anomalies[a])
            json_object_set_new(kinds, fp_sim_anomaly_name((fp_sim_anomaly)a),
                                json_integer((json_int_t)s->anomalies[a]));
    }
    fp_buf b = FP_BUF_INIT;
    fp_time_format_iso(start_ms, &b);
    json_t *j = json_pack("{s:s,s:s,s:I,s:I,s:I,s:I,s:I,s:I,s:o,s:I,s:o,s:I}", "mode",
                          ro->replay ? "replay" : "simulation", "start", b.p, "wall_ms",
                          (json_int_t)s->wall_ms, "messages", (json_int_t)s->emitted, "published",
                          (json_int_t)s->published, "failed", (json_int_t)s->failed, "commands",
                          (json_int_t)s->commands, "samples", (json_int_t)samples, "protocols",
                          protocols, "anomalies", (json_int_t)anomalies, "anomalies_by_kind", kinds,
                          "replay_lines_skipped", (json_int_t)s->bad_replay_lines);
    fp_buf_free(&b);
    return j;
}

static int run(const fp_cmd *cmd, void *opts)
{
    sim_opts *o = opts;
    fp_err err = {0};
    sim_state st = {.scheme = FP_BUF_INIT, .rest = FP_BUF_INIT};
    fp_sim_conf conf = {0};
    fp_sim_run_opts ro = {0};
    fp_sim_summary sum = {0};
    fp_sim_live *live = NULL;
    fp_metrics_server *metrics = NULL;
    int rc = 0;
    bool ran = false;
    double speedup = 0;
    if (strcmp(o->speedup, "max") && parse_double("speedup", o->speedup, 1e-3, 1e9, &speedup, &err))
        goto config_error;
    if (parse_double("anomaly-rate", o->anomaly_rate, 0, 1, &conf.anomaly_rate, &err) ||
        parse_double("rate", o->rate, 0, 1e9, &ro.rate, &err) ||
        fp_sim_anomaly_parse(o->anomalies, &conf.anomaly_mask, &err))
        goto config_error;
    conf.start_ms = (fp_time_now_ms() / 1000) * 1000;
    if (o->start[0] && fp_time_parse_iso(o->start, strlen(o->start), &conf.start_ms, &err))
        goto config_error;
    st.reg = fp_sim_registry_load(o->protocols[0] ? o->protocols : NULL, &err);
    if (!st.reg || (o->only[0] && fp_sim_registry_select(st.reg, o->only, &err)))
        goto config_error;
    if (setup_target(o, &st, &ro, &err))
        goto config_error;
    /* Kafka has no device topics to spoof. A file keeps the kind so that a file run and an
     * MQTT run of one seed write the same bytes (the truth file names the spoofed topic). */
    if (ro.target == FP_SIM_TO_KAFKA)
        conf.anomaly_mask &= ~(1u << FP_SIM_ANOM_SPOOFED_TOPIC);
    if (o->truth[0]) {
        st.truth = fopen(o->truth, "w");
        if (!st.truth) {
            fp_err_set(&err, FP_ERR_CONFIG, "--truth %s: %s", o->truth, strerror(errno));
            goto config_error;
        }
    }
    conf.reg = st.reg;
    conf.seed = (uint64_t)o->seed;
    conf.fleet_size = (uint32_t)(o->first_id + o->vehicles - 1);
    if (o->warm) /* the longest send interval of the protocols simulated */
        for (size_t i = 0; i < fp_sim_registry_count(st.reg); i++) {
            const fp_sim_protocol *pr = fp_sim_registry_get(st.reg, i);
            if (pr->periodic && (int64_t)pr->send_interval_s * 1000 > conf.warm_ms)
                conf.warm_ms = (int64_t)pr->send_interval_s * 1000;
        }
    if (o->warm && conf.warm_ms < 1000)
        conf.warm_ms = 60000;
    ro.wall_clock = o->wall_clock;
    if (o->wall_clock && speedup <= 0) {
        fp_err_set(&err, FP_ERR_CONFIG, "--wall-clock needs a --speedup (not max)");
        goto config_error;
    }
    ro.conf = &conf;
    ro.vehicles = (uint32_t)o->vehicles;
    ro.first_id = (uint32_t)o->first_id;
    ro.retime = o->retime;
    ro.end_ms = conf.start_ms + o->duration;
    ro.speedup = speedup;
    ro.threads = (int)o->threads;
    ro.truth = st.truth;
    ro.replay = o->replay[0] ? o->replay : NULL;
    ro.multiply = (uint32_t)o->multiply;
    ro.id_stride = (uint32_t)o->id_stride;
    if (o->metrics_listen[0]) {
        live = fp_sim_live_new(st.reg, ro.threads);
        ro.live = live;
        if (fp_metrics_serve(o->metrics_listen, fp_sim_live_write, NULL, live, &metrics, &err)) {
            fp_err_prefix(&err, "--metrics-listen");
            goto config_error;
        }
    }
    fp_sig_install();
    ro.stop = fp_sig_token();
    fp_code frc = fp_sim_run(&ro, &sum, &err);
    if (sum.messages)
        print_summary(o, &ro, &sum, conf.start_ms);
    if (frc == FP_ERR_CONFIG) {
        rc = fp_cli_fail(cmd, &err);
    } else if (frc) {
        fprintf(stderr, "fleetpipe sim: %s\n", err.msg);
        rc = 1;
    } else if (sum.failed) {
        fprintf(stderr, "fleetpipe sim: %llu messages were not acknowledged\n",
                (unsigned long long)sum.failed);
        rc = 1;
    }
    ran = true;
    goto out;
config_error:
    rc = fp_cli_fail(cmd, &err);
out:
    fp_metrics_server_stop(metrics); /* before the counters it reads go */
    fp_sim_live_free(live);
    if (st.out && fclose(st.out) != 0)
        rc = rc ? rc : 1;
    if (st.truth && fclose(st.truth) != 0)
        rc = rc ? rc : 1;
    if (ro.out == stdout && fflush(stdout) != 0)
        rc = rc ? rc : 1;
    /* stdout carries the messages with --target -: the status goes to stderr then. */
    if (ran)
        fp_cli_status_print(cmd, o->status_format, status_json(&ro, &sum, conf.start_ms), rc,
                            ro.out == stdout ? stderr : stdout);
    free(sum.messages);
    free(sum.samples);
    fp_sim_registry_free(st.reg);
    fp_sim_credentials_free(st.creds);
    free(st.host);
    free(st.password);
    fp_buf_free(&st.scheme);
    fp_buf_free(&st.rest);
    return rc;
}

const fp_cmd fp_cmd_sim = {
    "sim",
    "fleet simulator and load generator: MQTT, Kafka or JSON lines, anomalies with ground truth",
    "usage: fleetpipe sim [--vehicles N [--first-id ID]] [--warm] [--wall-clock] [--duration 10m]\n"
    "                     [--speedup X|max] [--seed S]\n"
    "                     [--start TIME] [--target mqtt://host:port | kafka://BS | file:PATH]\n"
    "                     [--rate MSG/S] [--threads T] [--anomaly-rate P --truth FILE]\n"
    "                     [--replay FILE.jsonl [--multiply K] [--retime]] [--credentials FILE]\n"
    "                     [--metrics-listen 127.0.0.1:9466]\n"
    "       fleetpipe sim provision --vehicles N --out DIR\n\n"
    "Vehicles drive routes (acceleration, stops, idling, deliveries) and report every protocol\n"
    "of the registry (PROTOCOLS.md; config/protocols.json) at its own rate, batched per send\n"
    "interval, with seq +1 per device. Each device is its own MQTT client (QoS 1, user name =\n"
    "device_id with --credentials) and answers commands sent to fms/<device_id>/cmd. Kafka:\n"
    "idempotent producer to fms.<object>, key = device_id. The same --seed and --start give the\n"
    "same bytes. Anomalies are injected with probability --anomaly-rate per message and each\n"
    "is written to --truth. Ends with messages and samples per protocol, anomalies and the\n"
    "achieved rate; exits 1 unless every message was acknowledged. See docs/ingest.md.\n"
    "--metrics-listen serves Prometheus /metrics (fleetpipe_sim_*) and /healthz while the run\n"
    "lasts; see docs/operations.md. --status-format json prints the summary's numbers as one\n"
    "JSON line (published, failed, messages, samples, commands, protocols.<object/type>,\n"
    "anomalies, anomalies_by_kind): on stdout, or on stderr when stdout carries the messages.",
    sim_flags,
    sizeof(sim_opts),
    run,
};

/* ---- sim provision ---- */

typedef struct provision_opts {
    int64_t vehicles, first_id;
    char *out;
} provision_opts;

static const fp_conf_def provision_flags[] = {
    {"vehicles", FP_CONF_INT, NULL, offsetof(provision_opts, vehicles), "devices to provision",
     NULL, 1, 10000000},
    {"first-id", FP_CONF_INT, "1", offsetof(provision_opts, first_id),
     "vehicle id of the first device", NULL, 1, 999999999},
    {"out", FP_CONF_STRING, NULL, offsetof(provision_opts, out),
     "directory for passwd, devices.secret, bridge.secret and api.secret", NULL, 0, 0},
    {NULL, 0, NULL, 0, NULL, NULL, 0, 0},
};

static int run_provision(const fp_cmd *cmd, void *opts)
{
    provision_opts *o = opts;
    fp_err err = {0};
    if (fp_sim_provision(o->out, (uint32_t)o->first_id, (uint32_t)o->vehicles, &err)) {
        fprintf(stderr, "fleetpipe %s: %s\n", cmd->name, err.msg);
        return 1;
    }
    fprintf(stderr,
            "fleetpipe sim provision: %lld devices and the %s and %s accounts in %s "
            "(passwd for mosquitto; devices.secret, bridge.secret and api.secret are secrets)\n",
            (long long)o->vehicles, FP_SIM_BRIDGE_USER, FP_SIM_API_USER, o->out);
    return 0;
}

const fp_cmd fp_cmd_sim_provision = {
    "sim provision",
    "per-device MQTT credentials: mosquitto password file + secrets for sim and bridge",
    "usage: fleetpipe sim provision --vehicles N --out DIR [--first-id ID]\n\n"
    "Creates a random password for each device dev-<id> and for the " FP_SIM_BRIDGE_USER
    " and\n" FP_SIM_API_USER " accounts and "
    "writes DIR/passwd (mosquitto's password_file, salted PBKDF2-SHA512\n"
    "hashes), DIR/devices.secret (device_id:password lines for `fleetpipe sim --credentials`),\n"
    "DIR/bridge.secret (for `fleetpipe bridge --mqtt-password-file`) and DIR/api.secret (for\n"
    "`fleetpipe serve --mqtt-password-file`: commands only). Use it with\n"
    "config/mosquitto/mosquitto.conf and config/mosquitto/acl.",
    provision_flags,
    sizeof(provision_opts),
    run_provision,
};
