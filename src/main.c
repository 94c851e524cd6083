/* main.c — `fleetpipe <command>`: dispatch and top-level help. */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "core/version.h"

#include "connect/connect.h"
#include "xform/xform.h"

/* One line per command; each is defined in src/cli/cmd_<name>.c. */
extern const fp_cmd fp_cmd_transform;
extern const fp_cmd fp_cmd_broker, fp_cmd_connect, fp_cmd_demo, fp_cmd_status;
extern const fp_cmd fp_cmd_sim, fp_cmd_sim_provision, fp_cmd_bridge;
extern const fp_cmd fp_cmd_dynamodb, fp_cmd_dynamodb_create_table, fp_cmd_dynamodb_scan;
extern const fp_cmd fp_cmd_lake, fp_cmd_lake_convert, fp_cmd_lake_watch, fp_cmd_lake_retry,
    fp_cmd_lake_cat, fp_cmd_lake_schema, fp_cmd_lake_ddl;
extern const fp_cmd fp_cmd_warehouse, fp_cmd_warehouse_init, fp_cmd_warehouse_load,
    fp_cmd_warehouse_scheduler, fp_cmd_warehouse_run, fp_cmd_warehouse_backfill,
    fp_cmd_warehouse_status;
extern const fp_cmd fp_cmd_check, fp_cmd_check_run, fp_cmd_check_score, fp_cmd_check_notify;
extern const fp_cmd fp_cmd_serve, fp_cmd_loadtest;
extern const fp_cmd fp_cmd_stack, fp_cmd_stack_up, fp_cmd_stack_status, fp_cmd_stack_logs,
    fp_cmd_stack_down;

/* A two-word name ("sim provision") is a subcommand: `fleetpipe sim provision ...`. */
/* clang-format off */
static const fp_cmd *const fp_commands[] = {
    &fp_cmd_sim,
    &fp_cmd_sim_provision,
    &fp_cmd_bridge,
    &fp_cmd_transform,
    &fp_cmd_broker,
    &fp_cmd_connect,
    &fp_cmd_status,
    &fp_cmd_demo,
    &fp_cmd_dynamodb,
    &fp_cmd_dynamodb_create_table,
    &fp_cmd_dynamodb_scan,
    &fp_cmd_lake,
    &fp_cmd_lake_convert,
    &fp_cmd_lake_watch,
    &fp_cmd_lake_retry,
    &fp_cmd_lake_cat,
    &fp_cmd_lake_schema,
    &fp_cmd_lake_ddl,
    &fp_cmd_warehouse,
    &fp_cmd_warehouse_init,
    &fp_cmd_warehouse_load,
    &fp_cmd_warehouse_scheduler,
    &fp_cmd_warehouse_run,
    &fp_cmd_warehouse_backfill,
    &fp_cmd_warehouse_status,
    &fp_cmd_check,
    &fp_cmd_check_run,
    &fp_cmd_check_score,
    &fp_cmd_check_notify,
    &fp_cmd_serve,
    &fp_cmd_stack,
    &fp_cmd_stack_up,
    &fp_cmd_stack_status,
    &fp_cmd_stack_logs,
    &fp_cmd_stack_down,
    &fp_cmd_loadtest,
    NULL,
};
/* clang-format on */

/* The command named by argv[0] (and argv[1] for a subcommand); *words says how many. */
static const fp_cmd *find_command(int argc, char **argv, int *words)
{
    for (size_t i = 0; argc > 1 && fp_commands[i]; i++) {
        const char *n = fp_commands[i]->name, *sp = strchr(n, ' ');
        if (sp && strlen(argv[0]) == (size_t)(sp - n) && !strncmp(n, argv[0], (size_t)(sp - n)) &&
            !strcmp(sp + 1, argv[1])) {
            *words = 2;
            return fp_commands[i];
        }
    }
    for (size_t i = 0; fp_commands[i]; i++)
        if (!strcmp(fp_commands[i]->name, argv[0])) {
            *words = 1;
            return fp_commands[i];
        }
    return NULL;
}

/* Whether some command is named "<c's name> <sub>". */
static bool has_subcommands(const fp_cmd *c)
{
    size_t n = strlen(c->name);
    for (size_t i = 0; fp_commands[i]; i++)
        if (!strncmp(fp_commands[i]->name, c->name, n) && fp_commands[i]->name[n] == ' ')
            return true;
    return false;
}

static void usage(FILE *f)
{
    fprintf(f,
            "fleetpipe %s — fleet telemetry pipeline: MQTT -> Kafka -> transforms -> stores\n\n"
            "usage: fleetpipe <command> [options]\n"
            "       fleetpipe help [command]\n\ncommands:\n",
            FP_VERSION_STRING);
    for (size_t i = 0; fp_commands[i]; i++)
        fprintf(f, "  %-22s %s\n", fp_commands[i]->name, fp_commands[i]->summary);
    fprintf(f, "\n`fleetpipe help <command>` or `fleetpipe <command> --help` for its options;\n"
               "`fleetpipe help transforms` and `fleetpipe help connectors` list plugin keys.\n");
}

/* Help for plugin families rather than commands. */
static int help_topic(const char *topic, FILE *f)
{
    if (!strcmp(topic, "transforms")) {
        fp_xform_print_help(f);
        return 0;
    }
    if (!strcmp(topic, "connectors")) {
        fp_connect_print_help(f);
        return 0;
    }
    return -1;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *name = argv[1];
    if (!strcmp(name, "help") || !strcmp(name, "--help") || !strcmp(name, "-h")) {
        if (argc < 3) {
            usage(stdout);
            return 0;
        }
        int words;
        const fp_cmd *c = find_command(argc - 2, argv + 2, &words);
        if (c && words < argc - 2 && has_subcommands(c)) {
            fprintf(stderr, "fleetpipe: unknown subcommand '%s %s' (see fleetpipe help %s)\n",
                    c->name, argv[2 + words], c->name);
            return 2;
        }
        if (c) {
            fp_cli_help(c, stdout);
            return 0;
        }
        if (help_topic(argv[2], stdout) == 0)
            return 0;
        fprintf(stderr, "fleetpipe: no help for '%s'\n", argv[2]);
        return 2;
    }
    if (!strcmp(name, "--version") || !strcmp(name, "version")) {
        printf("fleetpipe %s\n", FP_VERSION_STRING);
        return 0;
    }
    int words;
    const fp_cmd *c = find_command(argc - 1, argv + 1, &words);
    if (!c) {
        fprintf(stderr, "fleetpipe: unknown command '%s'\n\n", name);
        usage(stderr);
        return 2;
    }
    return fp_cli_run(c, argc - words, argv + words);
}
