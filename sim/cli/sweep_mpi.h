/* `mpirun -n R fedsim sweep FILE` (docs/cluster.md): rank 0 runs the sweep's scheduler and is the
 * only writer of the sweep's SQLite database; ranks 1..R-1 execute runs.
 *
 * A worker rank runs each run it is given in-process (sim_run, the same code `fedsim run`
 * uses) into a private database on its own disk ($TMPDIR, else /tmp), then sends the finished
 * database file to rank 0, which copies the run into the sweep's database in one transaction
 * (met_import_runs) and hands out the next run. So the database holds only finished runs (with
 * their final status: completed, or failed with the error); a run that was in flight when a
 * rank died is simply absent, and resuming (the same command, with or without mpirun) runs it.
 * Resume skips completed run keys exactly as without MPI. Checkpoints go where the run would
 * put them in the sweep's database folder (a path every rank must be able to write, e.g. a
 * shared file system) unless checkpoint.dir says otherwise. */
#ifndef FEDSIM_SWEEP_MPI_H
#define FEDSIM_SWEEP_MPI_H

#include <signal.h>

#include "config/sweep.h"
#include "store/store.h"
#include "util/err.h"

typedef struct sweep_mpi_tally {
    int started, done, failed; /* runs handed out, completed, failed */
    long rounds;               /* rounds of the runs finished */
} sweep_mpi_tally;

/* Rank 0: run plan->runs[todo[0..n_todo)] on ranks 1..R-1 into st; k0 runs count as settled
 * before (the [k/N] numbering). Stops handing out runs once *stop is set. Every worker rank is
 * released at the end (sweep_mpi_release). */
fs_err sweep_mpi_queue(const sweep_plan *plan, met_store *st, const int *todo, int n_todo, int k0,
                       int quiet, volatile sig_atomic_t *stop, sweep_mpi_tally *t);

/* Rank 0: tell every worker rank not yet told that there is nothing (more) to run.
 * Idempotent; a no-op without MPI or on other ranks. */
void sweep_mpi_release(void);

/* Ranks 1..R-1: run what rank 0 hands out until released. file and overrides as given to
 * `fedsim sweep`; db is the sweep's database (names the checkpoint folder); threads per run
 * (0: the scenario's, else all this rank's cores). Returns the exit status. */
int sweep_mpi_serve(const char *file, const char *const *overrides, int n_overrides,
                    const sweep_plan *plan, const char *db, int threads);

#endif
