/* Commands run, validate and keys, and the helpers every command shares (data: cmd_data.c).
 * A scenario with federation: vertical runs through vfl/ (docs/vertical.md). */
#include "cli/cli.h"

#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "data/dataset.h"
#include "engine/check_algo.h"
#include "engine/mpi_dist.h"
#include "engine/setup_check.h"
#include "engine/sim.h"
#include "util/log.h"
#include "vfl/vfl.h"

/* The first SIGINT/SIGTERM asks the run to stop (fs_stop_flag, polled in every long loop); the
 * same signal again ends the process at once, as if no handler had been installed. Only the
 * same signal: a sweep worker gets Ctrl-C's SIGINT from the terminal and then its parent's
 * SIGTERM, and should still finish its round. */
static volatile sig_atomic_t first_signal = 0;

static void on_signal(int sig)
{
    if (fs_stop_flag && sig == first_signal) {
        signal(sig, SIG_DFL);
        raise(sig);
        return;
    }
    if (!fs_stop_flag) first_signal = sig;
    fs_stop_flag = 1;
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
    return cli_load_scenario_est(a, c, text, NULL);
}

int cli_load_scenario_est(const run_args *a, cfg *c, char **text, sim_estimate *est)
{
    cfg_diag d;
    memset(&d, 0, sizeof d);
    fs_err e = cfg_load(a->file, a->overrides, a->n_overrides, c, &d, text);
    if (!e) e = cfg_validate(c, a->file, &d);
    if (!e) e = sim_check_algorithm(c, a->file, &d);
    /* what set-up would refuse, before anything is allocated (engine/setup_check.c) */
    if (!e) e = sim_check_setup(c, a->threads, a->db, a->file, &d, est);
    if (e) {
        if (text) { /* the text cfg_load handed over before validation failed */
            free(*text);
            *text = NULL;
        }
        if ((e == FS_EINPUT || e == FS_EDATA) && d.msg[0]) {
            cfg_diag_print(&d, stderr);
            /* kept for a caller that reports it elsewhere (an MPI rank whose stderr is quiet) */
            fs_error(e, "%s:%d:%d: %s", d.file, d.line, d.col, d.msg);
        } else
            fprintf(stderr, "fedsim: error: %s\n", fs_errmsg());
        return fs_exit_status(e);
    }
    return 0;
}

int cli_quiet_stderr(int on)
{
    static int saved = -1;
    fflush(stderr);
    if (on && saved < 0) {
        int null = open("/dev/null", O_WRONLY);
        if (null < 0) return -1;
        saved = dup(STDERR_FILENO);
        dup2(null, STDERR_FILENO);
        close(null);
    } else if (!on && saved >= 0) {
        dup2(saved, STDERR_FILENO);
        close(saved);
        saved = -1;
    }
    return 0;
}

/* The run under mpirun: every rank loads the scenario (the same file and options; only rank 0
 * prints), all agree, then sim_run splits the training (engine/mpi_dist.h). */
static int run_cmd(int argc, char **argv)
{
    const int mpi = dist_size() > 1, rank = dist_rank();
    run_args a;
    if (rank != 0) cli_quiet_stderr(1);
    int rc = cli_parse_run_args(argc, argv, &a);
    cfg c;
    char *text = NULL;
    cli_catch_signals(); /* before loading: a signal during set-up stops it */
    if (!rc) rc = cli_load_scenario(&a, &c, &text);
    if (rank != 0) cli_quiet_stderr(0);
    if (mpi) { /* a rank that could not load what rank 0 loaded: rank 0 says which */
        if (rc && rank != 0) { /* the message as this rank's error (a copy: not in place) */
            char msg[1024];
            snprintf(msg, sizeof msg, "%s", fs_errmsg());
            fs_error(rc == 2 ? FS_EINPUT : FS_EIO, "%s", msg);
        }
        fs_err e = dist_agree(rc ? (rc == 2 ? FS_EINPUT : FS_EIO) : FS_OK);
        if (e && !rc) {
            free(text);
            return rank == 0 ? cli_fail(e) : fs_exit_status(e);
        }
    }
    if (rc) return rc;
    if (a.quiet || rank != 0) log_set_level(rank != 0 ? LOG_ERROR : LOG_WARN);
    sim_opts o = {.db_path = a.db,
                  .scenario_text = text,
                  .quiet = a.quiet,
                  .threads = a.threads,
                  .stop = &fs_stop_flag,
                  .sweep_id = a.sweep_id,
                  .swept_json = a.swept,
                  .distribute = mpi};
    if (rank != 0) o.quiet = 1;
    sim_summary s;
    cfg_diag d;
    memset(&s, 0, sizeof s);
    memset(&d, 0, sizeof d);
    const int vertical = strcmp(c.federation, "vertical") == 0;
    fs_err e = vertical && mpi ? fs_error(FS_EINPUT, "federation: vertical does not run under "
                                                     "mpirun (its parties are simulated in one "
                                                     "process): run it without mpirun")
               : vertical      ? vfl_run(&c, &o, a.file, &s, &d)
                               : sim_run(&c, &o, &s);
    free(text);
    if (rank != 0) return e ? fs_exit_status(e) : 0;
    if (e == FS_EINPUT && strcmp(c.federation, "vertical") == 0 && d.msg[0]) {
        cfg_diag_print(&d, stderr); /* a vertical scenario's problem found with the data */
        return 2;
    }
    if (e == FS_EINTR && !s.recorded) {
        fprintf(stderr, "fedsim: interrupted during set-up; nothing written\n");
        return 130;
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
        printf("  bytes moved          %.4g up, %.4g down\n", s.bytes_up, s.bytes_down);
        if (c.eval.target_accuracy > 0 && s.tta_round)
            printf("  time to %.2f%%        round %d, virtual %.1f s, %.4g bytes up, %.4g down\n",
                   100 * c.eval.target_accuracy, s.tta_round, s.tta_vtime_s, s.tta_bytes_up,
                   s.tta_bytes_down);
        else if (c.eval.target_accuracy > 0)
            printf("  time to %.2f%%        not reached\n", 100 * c.eval.target_accuracy);
        printf("  wall time            %.2f s (%.2f s training, %.0f %% outside training)\n",
               s.wall_s, s.train_wall_s, 100.0 * (1.0 - s.train_wall_s / s.wall_s));
        printf("  metrics              %s  (sqlite3 %s 'SELECT * FROM rounds')\n", s.db_path,
               s.db_path);
    }
    return 0;
}

int cmd_run(int argc, char **argv)
{
    fs_err e = dist_init();
    if (e) {
        const char *r = getenv("OMPI_COMM_WORLD_RANK");
        return r && atoi(r) != 0 ? fs_exit_status(e) : cli_fail(e);
    }
    const int rc = run_cmd(argc, argv);
    dist_finalize();
    return rc;
}

int cmd_validate(int argc, char **argv)
{
    run_args a;
    int rc = cli_parse_run_args(argc, argv, &a);
    if (rc) return rc;
    cfg c;
    char *text = NULL;
    sim_estimate est;
    rc = cli_load_scenario_est(&a, &c, &text, &est);
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
    fs_err e =
        strcmp(c.data.dataset, "synthetic") ? ds_check_kind(c.data.path, c.data.dataset) : FS_OK;
    if (e) return cli_fail(e);
    printf("%s: ok (scenario '%s'", a.file, c.name);
    if (isfinite(est.total)) printf("; peak memory estimate %.0f MB", ceil(est.total / 1e6));
    if (isfinite(est.total) && isfinite(est.limit))
        printf(" of %.0f MB available", est.limit / 1e6);
    printf(")\n");
    return 0;
}

int cmd_keys(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    cfg_print_markdown(stdout);
    return 0;
}
