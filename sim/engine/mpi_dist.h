/* Runs over MPI (Open MPI; docs/cluster.md): `mpirun -n R fedsim run FILE` trains each round's
 * arrived clients on R ranks, `mpirun -n R fedsim sweep FILE` spreads a sweep's runs over them.
 *
 * A run: every rank loads the scenario, the data and the model (sim_run's set-up); rank 0 owns
 * the schedule, the client states, the aggregate and the record. For each chunk of arrived
 * clients that the engine would train at once (fl_train_clients), rank 0 broadcasts the chunk's
 * clients (and, once per round, the global model and the server broadcast vector), loads every
 * client state of the chunk exactly as fl_train_clients does and sends each worker rank the
 * states of its share (client state and kept momentum travel with the client: rank 0 stays
 * their only owner), trains its own share, receives every other client's result (update, second
 * upload, new state, momentum) and then stores and adds the whole chunk in arrival order with
 * fl_train_store, as a single process does. The shares are contiguous slices of the chunk
 * (dist_share); the sums are the same additions in the same order, so the rounds table has the
 * same bits for any rank and thread count.
 *
 * Without MPI (built with MPI=0, or not started by mpirun) every function here is a no-op with
 * one rank. Only rank 0 prints; the other ranks' failures reach rank 0 through dist_agree. */
#ifndef FEDSIM_MPI_DIST_H
#define FEDSIM_MPI_DIST_H

#include <stddef.h>
#include <stdint.h>

#include "fl/algorithm.h"
#include "util/err.h"

struct fl_cstate;

/* 1 when this process was started by an MPI launcher (mpirun, srun): its environment names a
 * rank. */
int dist_launched(void);
/* Initialise MPI when launched by mpirun (MPI_THREAD_FUNNELED: only the main thread calls MPI).
 * FS_EINPUT when launched with several ranks by a fedsim built without MPI. */
fs_err dist_init(void);
/* MPI_Finalize when dist_init started MPI. */
void dist_finalize(void);
int dist_rank(void); /* 0 without MPI */
int dist_size(void); /* 1 without MPI */

/* Every rank calls this with its own outcome e; all get the same result: FS_OK when every rank
 * succeeded, else the code of the lowest failing rank. At rank 0 the message is that rank's
 * message, prefixed with "rank r of R (host):" when r != 0. */
fs_err dist_agree(fs_err e);

/* [*lo, *hi): the slice of a chunk of n clients that rank r of R trains (contiguous, sizes
 * differ by at most one, rank 0 first). */
void dist_share(int n, int ranks, int r, int *lo, int *hi);

/* What a rank trains with: its copy of the run's set-up (engine/setup.c). */
typedef struct dist_env {
    const fl_algorithm *a;
    fl_round_ctx ctx;   /* m, ds, part, tc, seed, p of the run; global and bcast below */
    float *global;      /* (np) rank 0: the model; other ranks: received each round */
    float *bcast;       /* (np) the server broadcast (SCAFFOLD's c), or NULL */
    size_t np;          /* n_params */
    nn_worker *workers; /* (threads) */
    int threads;
    int keep_opt; /* train.optimizer_state: per_client with momentum */
} dist_env;

/* Rank 0, in place of fl_train_clients (same contract, same bits): trains clients[0..n) of
 * `round` over all ranks; res has n slots as fl_train_clients needs them. */
fs_err dist_train_chunk(const dist_env *env, uint32_t round, const uint32_t *clients, int n,
                        fl_client_result *res, struct fl_cstate *cs, struct fl_cstate *opt_cs,
                        fl_agg *agg);
/* Other ranks: train what rank 0 sends until it calls dist_stop. */
fs_err dist_serve(const dist_env *env);
/* Rank 0: the run is over (the other ranks leave dist_serve). Idempotent per run. */
void dist_stop(void);
/* Rank 0: a new run starts (resets the round tracking and the counters). */
void dist_run_begin(void);

/* Rank 0's counters of the run: seconds inside MPI calls (waiting for other ranks included),
 * bytes sent and received. */
typedef struct dist_stats {
    double mpi_s;
    double bytes_sent, bytes_recv;
    long chunks;
} dist_stats;
void dist_stats_get(dist_stats *st);

#endif
