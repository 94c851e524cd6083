/* cmd_check_parent.c — a minimal `fleetpipe check` parent so `check notify` has one on this
 * branch; src/cli/cmd_check.c defines the real one (with run and score), and this file goes
 * away when both meet.
 */
#include <stdio.h>

#include "cli/cli.h"

typedef struct check_parent_opts {
    int unused;
} check_parent_opts;

static const char parent_usage[] =
    "usage: fleetpipe check notify --alerts FILE --key K --status S ...\n\n"
    "Data-quality checks over the warehouse (docs/checks.md). `fleetpipe help check <sub>`\n"
    "gives each one's options.";

static int run_parent(const fp_cmd *cmd, void *opts)
{
    (void)cmd, (void)opts;
    fprintf(stderr, "fleetpipe check: which subcommand?\n\n%s\n", parent_usage);
    return 2;
}

static const fp_conf_def parent_flags[] = {{NULL, 0, NULL, 0, NULL, NULL, 0, 0}};

const fp_cmd fp_cmd_check = {
    "check",
    "data-quality checks: notify (run and score land with cmd_check.c)",
    parent_usage,
    parent_flags,
    sizeof(check_parent_opts),
    run_parent,
};
