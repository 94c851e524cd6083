/* cli.h — the command table and the one argument parser every command uses.
 *
 * A command declares its flags as a config table (core/props.h); `--name value`, `--name=value`
 * and bare `--name` for booleans become properties, `--config FILE` loads a JSON object with the
 * same keys first (flags override it), and fp_conf_apply() types them. Unknown flags and config
 * keys are errors naming the key. List flags may repeat (`--connector a --connector b`).
 * A command whose flags table declares a "file" string flag takes it as its one positional
 * argument too (`fleetpipe lake cat x.parquet` = `--file x.parquet`); so does a "part" string flag
 * (`fleetpipe stack logs bridge` = `--part bridge`).
 * A command whose flags table declares a "config" key opts out: --config is then its own flag
 * (`fleetpipe transform --config connector.json`).
 */
#ifndef FP_CLI_H
#define FP_CLI_H

#include <jansson.h>
#include <stddef.h>
#include <stdio.h>

#include "core/props.h"

typedef struct fp_cmd {
    const char *name;
    const char *summary; /* one line for `fleetpipe help` */
    const char *usage;   /* synopsis and description for `fleetpipe help <name>` */
    const fp_conf_def *flags;
    size_t opts_size; /* size of the struct that flags describe */
    /* Runs with parsed options; returns the exit code. fp_cli_run() owns opts. */
    int (*run)(const struct fp_cmd *cmd, void *opts);
} fp_cmd;

/* Parses argv (argv[0] is the command name) into a fresh options struct, prints help for
 * --help, reports option errors (exit code 2), runs the command and frees the options. */
int fp_cli_run(const fp_cmd *cmd, int argc, char **argv);

/* Parses argv[1..] into opts (struct described by cmd->flags). Positional arguments go to pos
 * (may be NULL: then positionals are an error). Returns FP_OK, or FP_ERR_CONFIG with a message;
 * *help is set when --help/-h was given (nothing else is parsed then). */
fp_code fp_cli_parse(const fp_cmd *cmd, int argc, char **argv, void *opts, fp_strv *pos, int *help,
                     fp_err *err);
void fp_cli_help(const fp_cmd *cmd, FILE *f);
/* Prints "fleetpipe <cmd>: <msg>" to stderr and returns the exit code for a config error (2). */
int fp_cli_fail(const fp_cmd *cmd, const fp_err *err);

/* Writes line to path once a server is ready, never half-written (path.tmp, fsync, rename): a
 * reader that sees the file non-empty has the whole line. flag names the option in errors. */
fp_code fp_cli_ready_file(const char *flag, const char *path, const char *line, fp_err *err);

/* Machine-readable final status. Long-running commands declare FP_CLI_STATUS_FLAG in their
 * flags table (an enum `--status-format text|json` into a `char *status_format` member) and
 * end with fp_cli_status_print(): with json it prints status as one compact JSON line to f
 * (stdout, or stderr when stdout carries the command's data), after adding "command" and
 * "exit_code"; with text it prints nothing (the command's own summary stands). Takes status
 * (a new reference; NULL is fine). Returns exit_code, so a command can end with it. */
#define FP_CLI_STATUS_FLAG(type)                                                                   \
    {                                                                                              \
        "status-format", FP_CONF_ENUM, "text", offsetof(type, status_format),                      \
            "json: print the final status as one JSON line (numbers for scripts)", "text|json", 0, \
            0                                                                                      \
    }
int fp_cli_status_print(const fp_cmd *cmd, const char *status_format, json_t *status, int exit_code,
                        FILE *f);

#endif
