/* The state of a synchronous or asynchronous run, private to sim/engine: setup.c builds it
 * (everything before the record opens, nothing written), sim.c drives the rounds over it.
 * Protocol modules do not see it: they get a struct of what they need (async.h). */
#ifndef FEDSIM_ENGINE_RUN_H
#define FEDSIM_ENGINE_RUN_H

#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "config/sweep.h"
#include "data/dataset.h"
#include "data/partition.h"
#include "device/avail.h"
#include "device/device.h"
#include "engine/async.h"
#include "engine/clients.h"
#include "engine/eval.h"
#include "engine/comm.h"
#include "engine/evq.h"
#include "engine/guided.h"
#include "engine/mpi_dist.h"
#include "engine/personal.h"
#include "engine/priv.h"
#include "engine/robust.h"
#include "engine/round.h"
#include "engine/sim.h"
#include "fl/algorithm.h"
#include "fl/client_state.h"
#include "nn/model.h"
#include "store/store.h"

typedef struct run_state {
    const cfg *c;
    dataset ds;
    partition part;
    nn_model model;
    dev_model dev;
    av_model av;
    const fl_algorithm *algo;
    fl_train_cfg tc;
    float *global;
    fl_agg agg;             /* the round's weighted sums */
    fl_server srv;          /* the algorithm's server state */
    fl_cstate *cs;          /* per-client state (SCAFFOLD, FedDyn), else NULL */
    float *res_buf2;        /* (chunk, np) second uploads (SCAFFOLD) */
    float *res_state;       /* (chunk, fl_state_dim) client states of the chunk being trained */
    fl_cstate *ocs;         /* per-client SGD momentum (train.optimizer_state: per_client) */
    float *res_opt;         /* (chunk, np) their momentum buffers while the chunk trains */
    uint32_t *chunk_cl;     /* (chunk) clients of the chunk being trained */
    uint32_t *chunk_cl_sel; /* (selected per round) scratch for selection */
    int threads;
    nn_worker *workers;
    nn_worker eval_worker;
    fl_client_result *res;
    float *res_buf;
    int chunk;
    uint32_t *perm; /* selection permutation over the population */
    evq q;
    sched_round sr;
    met_store store;
    int store_open;
    sim_pop pop;      /* selection and timing of clients (engine/clients.h) */
    sim_events evs;   /* the step's client events, flushed with its row */
    sim_eval eval;    /* evaluation samples and results (engine/eval.h) */
    async_state *as;  /* protocol: async (engine/async.h), else NULL */
    priv_state *pv;   /* privacy.mode / privacy.secagg (engine/priv.h), else NULL */
    priv_stats pst;   /* the round's privacy metrics */
    int sel_cap;      /* capacity of sr.c, sr.arrival, chunk_cl_sel */
    int dist;         /* rank 0 of a run over MPI ranks: chunks go to dist_train_chunk */
    dist_env denv;    /* what the ranks train with (engine/mpi_dist.h) */
    robust_state *rb; /* adversary.* / aggregation.* (engine/robust.h), else NULL */
    comm_state *cm;   /* compression.* (engine/comm.h), else NULL */
    guided *gd;       /* selection.mode oort / power_of_choice (engine/guided.h), else NULL */
    pers_state *ps;   /* eval.clients: personalized evaluation, fairness (engine/personal.h) */
    /* the run in progress */
    const char *db;                  /* the database written */
    char run_key[SWEEP_KEY_LEN + 1]; /* names checkpoints in a sweep */
    double t_start, last_acc;        /* wall clock at the start; last test accuracy */
    int tty;                         /* progress on one terminal line */
} run_state;

/* Build the run: data, partition, model and algorithm, devices, the global model and server
 * state, workers and chunk buffers, the schedule's arrays, privacy, robustness, evaluation
 * samples. s must be zeroed. FS_EINPUT/FS_EDATA on bad input, FS_EINTR on a signal; free
 * with run_state_free, also after a failure. */
fs_err run_state_setup(run_state *s, const cfg *c, const sim_opts *o);

/* Free everything (over MPI, first releases the other ranks from dist_serve). */
void run_state_free(run_state *s);

/* The database a run writes: --db, else output.db, else results/<name>.db (in buf). */
const char *sim_default_db(const cfg *c, const sim_opts *o, char *buf, size_t cap);

#endif
