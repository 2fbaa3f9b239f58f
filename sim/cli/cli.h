/* Command-line commands. Each command is `int cmd_<name>(int argc, char **argv)` taking the
 * arguments after its name and returning the exit status (0 ok, 2 bad input or data, 1 other
 * failure, 130 interrupted); main.c holds the table that dispatches to them. Shared helpers
 * for argument errors and scenario loading live in cli.c. */
#ifndef FEDSIM_CLI_H
#define FEDSIM_CLI_H

#include <signal.h>

#include "config/config.h"
#include "util/err.h"

/* SIGINT/SIGTERM set fs_stop_flag (util/err.h) from then on; the same signal again ends the
 * process. */
void cli_catch_signals(void);

/* Print "fedsim: error: <last message>" and return the exit status for e. */
int cli_fail(fs_err e);
/* on: send stderr to /dev/null (MPI ranks other than 0 print nothing); off: restore it. */
int cli_quiet_stderr(int on);
/* Print a usage error and return 2. */
int cli_usage_error(const char *msg);

typedef struct run_args {
    const char *file;
    const char *db;
    const char *overrides[256];
    int n_overrides;
    int quiet;
    int threads;
    const char *sweep_id; /* --sweep-id: set by fedsim sweep for its workers */
    const char *swept;    /* --swept: the swept values (JSON), likewise */
} run_args;

/* Parse FILE [--set k=v]... [--db PATH] [-j N] [--quiet] [--sweep-id ID --swept JSON];
 * returns 0 or an exit status. */
int cli_parse_run_args(int argc, char **argv, run_args *a);
/* Load + validate the scenario; prints file:line:col diagnostics. Returns 0 or exit status. */
int cli_load_scenario(const run_args *a, cfg *c, char **text);
/* The same, with the set-up check's memory estimate in est. */
struct sim_estimate;
int cli_load_scenario_est(const run_args *a, cfg *c, char **text, struct sim_estimate *est);

int cmd_run(int argc, char **argv);
int cmd_validate(int argc, char **argv);
int cmd_data(int argc, char **argv); /* cmd_data.c */
int cmd_keys(int argc, char **argv);
int cmd_sweep(int argc, char **argv);         /* cmd_sweep.c */
int cmd_info(int argc, char **argv);          /* cmd_info.c */
int cmd_export(int argc, char **argv);        /* cmd_info.c */
int cmd_train_central(int argc, char **argv); /* cmd_train_central.c */
int cmd_generate(int argc, char **argv);      /* cmd_generate.c */
int cmd_bench(int argc, char **argv);         /* cmd_bench.c */
int cmd_privacy(int argc, char **argv);       /* cmd_privacy.c */

#endif
