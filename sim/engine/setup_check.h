/* The set-up checks of a run that need no training (sim/engine/setup_check.c): what `fedsim
 * validate` adds to cfg_validate, and what `fedsim run` does before it allocates anything. */
#ifndef FEDSIM_SETUP_CHECK_H
#define FEDSIM_SETUP_CHECK_H

#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "engine/sim.h"
#include "util/err.h"

#define SIM_EVAL_BATCH 500 /* samples per evaluation batch (sequence models: 32) */

/* Peak memory of a run by part, in bytes, and the limit it is held against. */
typedef struct sim_estimate {
    double data;      /* the dataset's samples, labels and client ids */
    double partition; /* sample indices, client offsets, the selection permutation */
    double model;     /* global model, double aggregate(s), server state vectors */
    double workers;   /* one nn_worker per thread and the evaluation worker */
    double chunk;     /* updates (and states) of the clients trained at once */
    double state;     /* per-client state stores, up to algorithm.state_memory_mb each */
    double comm;      /* compression's chunk buffers and encoder scratch (comm_estimate_bytes) */
    double residuals; /* error-feedback residual store, up to algorithm.state_memory_mb */
    double pers;      /* personalized evaluation's models and sample (pers_estimate_bytes) */
    double priv;      /* DP's and secure aggregation's buffers and round (priv_estimate_bytes) */
    double robust;    /* kept updates, rule and attack scratch (robust_estimate_bytes) */
    double total;
    double limit;       /* bytes available (INFINITY: none known) */
    char limit_src[64]; /* where limit comes from */
} sim_estimate;

/* Check c as a run would set it up, without training or reading samples: dataset header,
 * shapes and labels (ds_load_labels), partition, model shapes and frozen layers, the memory
 * estimate against sim_mem_limit, model.init_from, and that the database (db: --db, else
 * output.db or results/<name>.db), checkpoint and state directories can be created and written
 * (nothing is created). threads_override > 0: -j. On failure fills
 * d (file:line:col of the key the problem comes from) and returns FS_EINPUT or FS_EDATA; out
 * (optional) receives the estimate once it is made. */
fs_err sim_check_setup(const cfg *c, int threads_override, const char *db, const char *file,
                       cfg_diag *d, sim_estimate *out);

struct dataset;
struct nn_model;
/* The estimate for a model m on data with ds's sample layout, n_train + n_test samples and
 * n_clients clients, trained by threads threads. */
void sim_estimate_memory(const cfg *c, const struct dataset *ds, size_t n_train, size_t n_test,
                         uint32_t n_clients, const struct nn_model *m, int threads,
                         sim_estimate *est);

/* Bytes this process may still allocate: the least of MemAvailable (/proc/meminfo), the cgroup
 * v2 memory.max less memory.current, and RLIMIT_AS; src names which one. */
double sim_mem_limit(char *src, size_t cap);

/* Clients trained between two ordered summations: 4 x threads (at least 8), doubled up to 64 while
 * they fit in 256 MB of per_client bytes and below clients_per_round. */
int sim_chunk_clients(int threads, double per_client, int clients_per_round);

/* Clients a round selects at most: clients_per_round x (1 + rounds.overcommit), rounded up, at
 * most n_clients (the schedule's arrays; secure aggregation's round). */
int sim_selection_cap(const cfg *c, uint32_t n_clients);

/* Training threads: -j, else the scenario's threads, else all cores (1 without OpenMP). */
int sim_thread_count(const cfg *c, int override);

#endif
