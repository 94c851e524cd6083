/* cli.c — argument parsing into config tables, help output. */
#include "cli/cli.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/mem.h"

static const fp_conf_def *find_flag(const fp_conf_def *defs, const char *name)
{
    for (const fp_conf_def *d = defs; d && d->key; d++)
        if (!strcmp(d->key, name))
            return d;
    return NULL;
}

fp_code fp_cli_parse(const fp_cmd *cmd, int argc, char **argv, void *opts, fp_strv *pos, int *help,
                     fp_err *err)
{
    fp_props props;
    fp_props_init(&props);
    fp_code rc = FP_OK;
    *help = 0;
    /* A command that declares its own "config" flag (e.g. transform: the connector file) opts
     * out of the generic handling; --config is then parsed like its other flags. */
    const bool own_config = find_flag(cmd->flags, "config") != NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            *help = 1;
            goto out;
        }
    }
    /* --config first, so that flags override the file whatever their order. */
    for (int i = 1; i < argc && !own_config; i++) {
        const char *v = NULL;
        if (!strncmp(argv[i], "--config=", 9))
            v = argv[i] + 9;
        else if (!strcmp(argv[i], "--config")) {
            if (i + 1 >= argc) {
                rc = fp_err_set(err, FP_ERR_CONFIG, "flag --config needs a file");
                goto out;
            }
            v = argv[++i];
        }
        if (v) {
            rc = fp_props_load_json_file(&props, v, err);
            if (rc)
                goto out;
        }
    }
    for (int i = 1; i < argc; i++) {
        char *a = argv[i];
        if (!own_config && !strcmp(a, "--config")) {
            i++;
            continue;
        }
        if (!own_config && !strncmp(a, "--config=", 9))
            continue;
        if (strncmp(a, "--", 2) != 0 || a[2] == '\0') {
            /* A command with a "file" flag takes its file as the one positional argument
             * (`fleetpipe lake cat x.parquet`). */
            const fp_conf_def *fd = pos ? NULL : find_flag(cmd->flags, "file");
            if (!fd && !pos)
                fd = find_flag(cmd->flags, "part");
            if (fd && fd->type == FP_CONF_STRING && !fp_props_find(&props, fd->key)) {
                fp_props_set(&props, fd->key, a);
                continue;
            }
            if (!pos) {
                rc = fp_err_set(err, FP_ERR_CONFIG, "unexpected argument '%s'", a);
                goto out;
            }
            pos->v = fp_xrealloc(pos->v, (pos->n + 1) * sizeof *pos->v);
            pos->v[pos->n++] = fp_xstrdup(a);
            continue;
        }
        char name[128];
        const char *eq = strchr(a + 2, '=');
        size_t nlen = eq ? (size_t)(eq - a - 2) : strlen(a + 2);
        if (nlen >= sizeof name) {
            rc = fp_err_set(err, FP_ERR_CONFIG, "flag '%.40s...' is too long", a);
            goto out;
        }
        memcpy(name, a + 2, nlen);
        name[nlen] = '\0';
        const fp_conf_def *d = find_flag(cmd->flags, name);
        if (!d) {
            rc = fp_err_set(err, FP_ERR_CONFIG, "unknown flag '--%s' (see fleetpipe help %s)", name,
                            cmd->name);
            goto out;
        }
        const char *val;
        if (eq)
            val = eq + 1;
        else if (d->type == FP_CONF_BOOL)
            val = "true";
        else if (i + 1 < argc)
            val = argv[++i];
        else {
            rc = fp_err_set(err, FP_ERR_CONFIG, "flag '--%s' needs a value", name);
            goto out;
        }
        if (d->type == FP_CONF_LIST)
            fp_props_append(&props, name, val);
        else
            fp_props_set(&props, name, val);
    }
    rc = fp_conf_apply(cmd->flags, &props, NULL, opts, err);
    if (rc == FP_OK)
        rc = fp_props_check_used(&props, "options", err);
out:
    fp_props_free(&props);
    return rc;
}

void fp_cli_help(const fp_cmd *cmd, FILE *f)
{
    fprintf(f, "fleetpipe %s — %s\n\n%s\n", cmd->name, cmd->summary, cmd->usage);
    if (cmd->flags && cmd->flags->key) {
        fprintf(f, find_flag(cmd->flags, "config")
                       ? "\nOptions:\n"
                       : "\nOptions (also accepted as keys of a --config JSON file):\n");
        fp_conf_print(cmd->flags, "--", f);
    }
    if (cmd->flags && cmd->flags->key && !find_flag(cmd->flags, "config"))
        fprintf(f, "  --%-28s %-8s %s\n", "config", "file",
                "JSON object whose keys are the options above");
    fprintf(f, "  --%-28s %-8s %s\n", "help", "", "print this help");
}

int fp_cli_fail(const fp_cmd *cmd, const fp_err *err)
{
    fprintf(stderr, "fleetpipe %s: %s\n", cmd->name, err->msg);
    return 2;
}

int fp_cli_run(const fp_cmd *cmd, int argc, char **argv)
{
    void *opts = fp_xcalloc(1, cmd->opts_size);
    fp_err err = {0};
    int help, rc;
    if (fp_cli_parse(cmd, argc, argv, opts, NULL, &help, &err) != FP_OK)
        rc = fp_cli_fail(cmd, &err);
    else if (help) {
        fp_cli_help(cmd, stdout);
        rc = 0;
    } else
        rc = cmd->run(cmd, opts);
    fp_conf_free(cmd->flags, opts);
    free(opts);
    return rc;
}

int fp_cli_status_print(const fp_cmd *cmd, const char *status_format, json_t *status, int exit_code,
                        FILE *f)
{
    if (status_format && !strcmp(status_format, "json")) {
        json_t *o = json_is_object(status) ? status : json_object();
        if (o != status)
            json_decref(status);
        json_object_set_new(o, "command", json_string(cmd->name));
        json_object_set_new(o, "exit_code", json_integer(exit_code));
        char *line = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
        if (line) {
            fprintf(f, "%s\n", line);
            fflush(f);
        }
        free(line);
        json_decref(o);
    } else {
        json_decref(status);
    }
    return exit_code;
}

fp_code fp_cli_ready_file(const char *flag, const char *path, const char *line, fp_err *err)
{
    size_t n = strlen(path) + 5;
    char *tmp = malloc(n);
    if (!tmp)
        return fp_err_set(err, FP_ERR_IO, "out of memory");
    snprintf(tmp, n, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    fp_code rc = FP_OK;
    if (!f || fprintf(f, "%s\n", line) < 0 || fflush(f) != 0 || fsync(fileno(f)) != 0)
        rc = fp_err_set(err, FP_ERR_IO, "%s %s: %s", flag, tmp, strerror(errno));
    if (f && fclose(f) != 0 && !rc)
        rc = fp_err_set(err, FP_ERR_IO, "%s %s: %s", flag, tmp, strerror(errno));
    if (!rc && rename(tmp, path) != 0)
        rc = fp_err_set(err, FP_ERR_IO, "%s %s: %s", flag, path, strerror(errno));
    if (rc)
        unlink(tmp);
    free(tmp);
    return rc;
}
