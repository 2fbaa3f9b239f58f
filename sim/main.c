/* The fedsim command. Parses the command line, turns library error codes into messages and
 * exit statuses (2: bad input or data, 1: other failures, 130: interrupted), and is the only
 * place that exits. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "data/dataset.h"
#include "data/importers.h"
#include "engine/sim.h"
#include "util/err.h"
#include "util/log.h"

#ifndef FEDSIM_GIT_REV
#define FEDSIM_GIT_REV "unknown"
#endif

static volatile sig_atomic_t stop_flag = 0;

static void on_signal(int sig)
{
    (void)sig;
    stop_flag = 1;
}

static void usage(FILE *out)
{
    fprintf(out,
            "usage: fedsim COMMAND [ARGS]\n"
            "\n"
            "  run FILE [--set key.path=value ...] [--db PATH] [-j N] [--quiet]\n"
            "                       run a scenario; metrics go to SQLite (default\n"
            "                       results/<name>.db)\n"
            "  validate FILE [--set ...]\n"
            "                       check a scenario without running it\n"
            "  data import fashion-mnist [--dir DIR] [--out FILE]\n"
            "                       build datasets/fashion-mnist.h5 from Debian's\n"
            "                       dataset-fashion-mnist IDX files\n"
            "  data info FILE       describe a dataset file\n"
            "  keys [--markdown]    every scenario key with type, default and range\n"
            "  version              print the version\n"
            "\n"
            "Exit status: 0 success, 2 bad scenario/argument/data, 1 other failure,\n"
            "130 interrupted. See README.md and docs/.\n");
}

static int fail(fs_err e)
{
    fprintf(stderr, "fedsim: error: %s\n", fs_errmsg());
    return fs_exit_status(e);
}

static int bad_usage(const char *msg)
{
    fprintf(stderr, "fedsim: error: %s (see 'fedsim help')\n", msg);
    return 2;
}

typedef struct run_args {
    const char *file;
    const char *db;
    const char *overrides[256];
    int n_overrides;
    int quiet;
    int threads;
} run_args;

static int parse_run_args(int argc, char **argv, run_args *a)
{
    memset(a, 0, sizeof *a);
    for (int i = 0; i < argc; i++) {
        const char *s = argv[i];
        if (strcmp(s, "--set") == 0 || strcmp(s, "-s") == 0) {
            if (i + 1 >= argc) return bad_usage("--set needs key.path=value");
            if (a->n_overrides >= 256) return bad_usage("too many --set options");
            a->overrides[a->n_overrides++] = argv[++i];
        } else if (strncmp(s, "--set=", 6) == 0) {
            if (a->n_overrides >= 256) return bad_usage("too many --set options");
            a->overrides[a->n_overrides++] = s + 6;
        } else if (strcmp(s, "--db") == 0) {
            if (i + 1 >= argc) return bad_usage("--db needs a path");
            a->db = argv[++i];
        } else if (strcmp(s, "-j") == 0 || strcmp(s, "--threads") == 0) {
            if (i + 1 >= argc) return bad_usage("-j needs a thread count");
            char *end;
            long v = strtol(argv[++i], &end, 10);
            if (*end || v < 1 || v > 1024) return bad_usage("-j takes a thread count 1..1024");
            a->threads = (int)v;
        } else if (strcmp(s, "--quiet") == 0 || strcmp(s, "-q") == 0) {
            a->quiet = 1;
        } else if (s[0] == '-') {
            char msg[300];
            snprintf(msg, sizeof msg, "unknown option '%s'", s);
            return bad_usage(msg);
        } else if (!a->file) {
            a->file = s;
        } else {
            return bad_usage("only one scenario file");
        }
    }
    if (!a->file) return bad_usage("a scenario file is needed");
    return 0;
}

static int load_scenario(const run_args *a, cfg *c, char **text)
{
    cfg_diag d;
    memset(&d, 0, sizeof d);
    fs_err e = cfg_load(a->file, a->overrides, a->n_overrides, c, &d, text);
    if (!e) e = cfg_validate(c, a->file, &d);
    if (e) {
        if (e == FS_EINPUT && d.msg[0])
            cfg_diag_print(&d, stderr);
        else
            fprintf(stderr, "fedsim: error: %s\n", fs_errmsg());
        return fs_exit_status(e);
    }
    return 0;
}

static int cmd_run(int argc, char **argv)
{
    run_args a;
    int rc = parse_run_args(argc, argv, &a);
    if (rc) return rc;
    cfg c;
    char *text = NULL;
    if ((rc = load_scenario(&a, &c, &text))) return rc;
    if (a.quiet) log_set_level(LOG_WARN);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sim_opts o = {a.db, text, a.quiet, a.threads, &stop_flag};
    sim_summary s;
    fs_err e = sim_run(&c, &o, &s);
    free(text);
    if (e == FS_EINTR) {
        fprintf(stderr, "fedsim: interrupted after %d rounds; run marked 'interrupted' in %s\n",
                s.rounds_done, s.db_path);
        return 130;
    }
    if (e) return fail(e);
    if (!a.quiet) {
        printf("\n%s: %s after %d rounds\n", c.name, s.status, s.rounds_done);
        printf("  final test accuracy  %.2f%%  (loss %.4f)\n", 100 * s.final_acc, s.final_loss);
        printf("  virtual time         %.1f s (%.2f h)\n", s.vtime_s, s.vtime_s / 3600);
        printf("  updates aggregated   %ld (dropped %ld, late %ld)\n", s.updates, s.dropped,
               s.late);
        printf("  wall time            %.1f s (%.1f s training)\n", s.wall_s, s.train_wall_s);
        printf("  metrics              %s  (sqlite3 %s 'SELECT * FROM rounds')\n", s.db_path,
               s.db_path);
    }
    return 0;
}

static int cmd_validate(int argc, char **argv)
{
    run_args a;
    int rc = parse_run_args(argc, argv, &a);
    if (rc) return rc;
    cfg c;
    char *text = NULL;
    rc = load_scenario(&a, &c, &text);
    free(text);
    if (rc) return rc;
    printf("%s: ok (scenario '%s')\n", a.file, c.name);
    return 0;
}

static int cmd_data(int argc, char **argv)
{
    if (argc < 1) return bad_usage("data needs a subcommand: import, info");
    if (strcmp(argv[0], "import") == 0) {
        if (argc < 2) return bad_usage("data import needs a dataset name: fashion-mnist");
        const char *dir = FMNIST_DEFAULT_DIR, *out = "datasets/fashion-mnist.h5";
        for (int i = 2; i < argc; i++) {
            if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc)
                dir = argv[++i];
            else if (strcmp(argv[i], "--out") == 0 && i + 1 < argc)
                out = argv[++i];
            else
                return bad_usage("data import options: --dir DIR --out FILE");
        }
        if (strcmp(argv[1], "fashion-mnist") != 0) return bad_usage("unknown dataset to import");
        dataset ds;
        fs_err e = imp_fashion_mnist(dir, &ds);
        if (!e) e = ds_save(out, &ds);
        if (!e)
            printf("wrote %s: %zu train + %zu test samples, %d classes (%s)\n", out, ds.train.n,
                   ds.test.n, ds.n_classes, ds.checksum);
        ds_free(&ds);
        return e ? fail(e) : 0;
    }
    if (strcmp(argv[0], "info") == 0) {
        if (argc != 2) return bad_usage("data info FILE");
        dataset ds;
        fs_err e = ds_load(argv[1], &ds);
        if (e) return fail(e);
        printf("%s: %s\n  source: %s\n  imported: %s  checksum: %s\n"
               "  sample shape: %d x %d x %d (%s), %d classes, %s\n"
               "  train: %zu samples, test: %zu samples, natural clients: %d\n",
               argv[1], ds.name, ds.source, ds.import_date, ds.checksum, ds.shape[0], ds.shape[1],
               ds.shape[2], ds.dtype == DS_U8 ? "uint8" : "float32", ds.n_classes,
               ds.task == DS_CLASSIFY ? "classification" : "sequence", ds.train.n, ds.test.n,
               ds.n_natural);
        ds_free(&ds);
        return 0;
    }
    return bad_usage("unknown data subcommand");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "run") == 0) return cmd_run(argc - 2, argv + 2);
    if (strcmp(cmd, "validate") == 0) return cmd_validate(argc - 2, argv + 2);
    if (strcmp(cmd, "data") == 0) return cmd_data(argc - 2, argv + 2);
    if (strcmp(cmd, "keys") == 0) {
        cfg_print_markdown(stdout);
        return 0;
    }
    if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) {
        printf("fedsim 0.1.0 (%s)\n", FEDSIM_GIT_REV);
        return 0;
    }
    if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
        usage(stdout);
        return 0;
    }
    fprintf(stderr, "fedsim: error: unknown command '%s'\n", cmd);
    usage(stderr);
    return 2;
}
