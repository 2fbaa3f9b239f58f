/* Commands run, validate and keys, and the helpers every command shares (data: cmd_data.c).
 * A scenario with federation: vertical runs through vfl/ (docs/vertical.md). */
#include "cli/cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/sim.h"
#include "util/log.h"
#include "vfl/vfl.h"

volatile sig_atomic_t cli_stop_flag = 0;

static void on_signal(int sig)
{
    (void)sig;
    cli_stop_flag = 1;
}

void cli_catch_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

int cli_fail(fs_err e)
{
    fprintf(stderr, "fedsim: error: %s\n", fs_errmsg());
    return fs_exit_status(e);
}

int cli_usage_error(const char *msg)
{
    fprintf(stderr, "fedsim: error: %s (see 'fedsim help')\n", msg);
    return 2;
}

int cli_parse_run_args(int argc, char **argv, run_args *a)
{
    memset(a, 0, sizeof *a);
    for (int i = 0; i < argc; i++) {
        const char *s = argv[i];
        if (strcmp(s, "--set") == 0 || strcmp(s, "-s") == 0) {
            if (i + 1 >= argc) return cli_usage_error("--set needs key.path=value");
            if (a->n_overrides >= 256) return cli_usage_error("too many --set options");
            a->overrides[a->n_overrides++] = argv[++i];
        } else if (strncmp(s, "--set=", 6) == 0) {
            if (a->n_overrides >= 256) return cli_usage_error("too many --set options");
            a->overrides[a->n_overrides++] = s + 6;
        } else if (strcmp(s, "--db") == 0) {
            if (i + 1 >= argc) return cli_usage_error("--db needs a path");
            a->db = argv[++i];
        } else if (strcmp(s, "--sweep-id") == 0 || strcmp(s, "--swept") == 0) {
            if (i + 1 >= argc) return cli_usage_error("--sweep-id and --swept need a value");
            if (strcmp(s, "--sweep-id") == 0)
                a->sweep_id = argv[++i];
            else
                a->swept = argv[++i];
        } else if (strcmp(s, "-j") == 0 || strcmp(s, "--threads") == 0) {
            if (i + 1 >= argc) return cli_usage_error("-j needs a thread count");
            char *end;
            long v = strtol(argv[++i], &end, 10);
            if (*end || v < 1 || v > 1024)
                return cli_usage_error("-j takes a thread count 1..1024");
            a->threads = (int)v;
        } else if (strcmp(s, "--quiet") == 0 || strcmp(s, "-q") == 0) {
            a->quiet = 1;
        } else if (s[0] == '-') {
            char msg[300];
            snprintf(msg, sizeof msg, "unknown option '%s'", s);
            return cli_usage_error(msg);
        } else if (!a->file) {
            a->file = s;
        } else {
            return cli_usage_error("only one scenario file");
        }
    }
    if (!a->file) return cli_usage_error("a scenario file is needed");
    return 0;
}

int cli_load_scenario(const run_args *a, cfg *c, char **text)
{
    cfg_diag d;
    memset(&d, 0, sizeof d);
    fs_err e = cfg_load(a->file, a->overrides, a->n_overrides, c, &d, text);
    if (!e) e = cfg_validate(c, a->file, &d);
    if (e) {
        if (text) { /* the text cfg_load handed over before validation failed */
            free(*text);
            *text = NULL;
        }
        if (e == FS_EINPUT && d.msg[0])
            cfg_diag_print(&d, stderr);
        else
            fprintf(stderr, "fedsim: error: %s\n", fs_errmsg());
        return fs_exit_status(e);
    }
    return 0;
}

int cmd_run(int argc, char **argv)
{
    run_args a;
    int rc = cli_parse_run_args(argc, argv, &a);
    if (rc) return rc;
    cfg c;
    char *text = NULL;
    if ((rc = cli_load_scenario(&a, &c, &text))) return rc;
    if (a.quiet) log_set_level(LOG_WARN);
    cli_catch_signals();
    sim_opts o = {.db_path = a.db,
                  .scenario_text = text,
                  .quiet = a.quiet,
                  .threads = a.threads,
                  .stop = &cli_stop_flag,
                  .sweep_id = a.sweep_id,
                  .swept_json = a.swept};
    sim_summary s;
    cfg_diag d;
    fs_err e = strcmp(c.federation, "vertical") == 0 ? vfl_run(&c, &o, a.file, &s, &d)
                                                     : sim_run(&c, &o, &s);
    free(text);
    if (e == FS_EINPUT && strcmp(c.federation, "vertical") == 0 && d.msg[0]) {
        cfg_diag_print(&d, stderr); /* a vertical scenario's problem found with the data */
        return 2;
    }
    if (e == FS_EINTR) {
        fprintf(stderr, "fedsim: interrupted after %d rounds; run marked 'interrupted' in %s\n",
                s.rounds_done, s.db_path);
        return 130;
    }
    if (e) return cli_fail(e);
    if (!a.quiet) {
        printf("\n%s: %s after %d rounds\n", c.name, s.status, s.rounds_done);
        printf("  final test accuracy  %.2f%%  (loss %.4f)\n", 100 * s.final_acc, s.final_loss);
        printf("  virtual time         %.1f s (%.2f h)\n", s.vtime_s, s.vtime_s / 3600);
        printf("  updates aggregated   %ld (dropped %ld, late %ld)\n", s.updates, s.dropped,
               s.late);
        printf("  wall time            %.2f s (%.2f s training, %.0f %% outside training)\n",
               s.wall_s, s.train_wall_s, 100.0 * (1.0 - s.train_wall_s / s.wall_s));
        printf("  metrics              %s  (sqlite3 %s 'SELECT * FROM rounds')\n", s.db_path,
               s.db_path);
    }
    return 0;
}

int cmd_validate(int argc, char **argv)
{
    run_args a;
    int rc = cli_parse_run_args(argc, argv, &a);
    if (rc) return rc;
    cfg c;
    char *text = NULL;
    rc = cli_load_scenario(&a, &c, &text);
    free(text);
    if (rc) return rc;
    if (strcmp(c.federation, "vertical") == 0) { /* feature groups against the data */
        cfg_diag d;
        memset(&d, 0, sizeof d);
        fs_err e = vfl_validate_data(&c, a.file, &d);
        if (e == FS_EINPUT && d.msg[0]) {
            cfg_diag_print(&d, stderr);
            return 2;
        }
        if (e) return cli_fail(e);
    }
    printf("%s: ok (scenario '%s')\n", a.file, c.name);
    return 0;
}

int cmd_keys(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    cfg_print_markdown(stdout);
    return 0;
}
