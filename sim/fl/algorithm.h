/* Federated algorithms behind one interface (docs/algorithms.md: every update rule with its
 * citation). A client update is a pure function of (global model, server broadcast, client
 * data, client state, client id, round, seed): it may run on any thread, in any order, and gives
 * the same bits. The server adds the client results in a fixed order (arrival order) in double
 * precision (fl_agg), so the aggregate does not depend on the thread count, then applies the
 * algorithm's server rule (fl_server_step).
 *
 * Convention: a client returns an update u_k (a direction in parameter space: w_k - w for
 * FedAvg, -g_k for FedSGD), a weight (FedAvg: its number of samples; each algorithm follows its
 * paper), optionally a second vector (SCAFFOLD's control-variate change) and a scalar (FedNova's
 * effective number of local steps). Algorithms with client state (SCAFFOLD, FedDyn) read and
 * write one vector per client, which the caller loads from and stores back to a fl_cstate. */
#ifndef FEDSIM_ALGORITHM_H
#define FEDSIM_ALGORITHM_H

#include <stddef.h>
#include <stdint.h>

#include "data/dataset.h"
#include "data/partition.h"
#include "nn/model.h"
#include "nn/optim.h"
#include "util/err.h"

struct fl_cstate;

typedef struct fl_train_cfg {
    int epochs; /* local epochs, used when steps == 0 */
    int steps;  /* local minibatch steps (batches of min(batch, n)); 0: epochs */
    int batch;
    nn_sgd sgd;
} fl_train_cfg;

/* The algorithm.* scenario keys. Each algorithm reads only its own. */
typedef struct fl_params {
    double server_lr;       /* server step: all but FedDyn (SCAFFOLD: eta_g; FedOpt: eta) */
    double mu;              /* FedProx: proximal coefficient */
    double alpha;           /* FedDyn: regulariser coefficient (> 0) */
    double server_momentum; /* FedAvgM: beta */
    double beta1, beta2;    /* FedOpt: moment decays */
    double tau;             /* FedOpt: adaptivity (v starts at tau^2) */
    int weighting;          /* SCAFFOLD: FL_WEIGHT_* (docs/algorithms.md) */
    double q;               /* q-FFL: fairness exponent q >= 0 (0: uniform FedAvg) */
    double lambda;          /* Ditto: personal regulariser lambda >= 0 */
    int head_epochs;        /* FedRep: local epochs on the personal layers before the body */
    double apfl_alpha;      /* APFL: mixing weight of the local model */
    double perfedavg_alpha; /* Per-FedAvg: the inner (personalization) step size */
    int n_personal;         /* FedPer, FedRep: personal parameter ranges [lo, hi) */
    size_t personal[2 * NN_MAX_LAYERS];
} fl_params;

/* SCAFFOLD's aggregation weights (algorithm.weighting). */
enum {
    FL_WEIGHT_UNIFORM = 0, /* the paper: x and c averaged uniformly over the round's clients */
    FL_WEIGHT_SAMPLES,     /* NIID-Bench: x weighted by n_k, c += sum_k dc_k / N */
    FL_WEIGHT_SAMPLES_ALL, /* Flower's niid_bench baseline: x and c both weighted by n_k */
};

/* FL_WEIGHT_* of an algorithm.weighting value; -1 if unknown. */
int fl_weighting_parse(const char *name);

/* Defaults of the scenario keys (FedAvg with server_lr 1). */
fl_params fl_params_default(void);

/* A data attack on malicious clients' local training (engine/robust.c, fl/attack/attack.h):
 * when active(client), every gathered batch goes through batch() and, if step is not NULL, the
 * local model through step() after every SGD step. */
typedef struct fl_poison {
    int (*active)(const struct fl_poison *p, uint32_t client);
    void (*batch)(const struct fl_poison *p, const dataset *ds, float *x, int32_t *y, size_t b);
    void (*step)(const struct fl_poison *p, const float *global, float *params, size_t n);
    const void *data;
} fl_poison;

/* Read-only context shared by every client of a round. */
typedef struct fl_round_ctx {
    const nn_model *m;
    const dataset *ds;
    const partition *part;
    const float *global; /* (n_params) */
    const fl_train_cfg *tc;
    uint64_t seed;
    uint32_t round;
    const fl_params *p; /* NULL: fl_params_default() */
    const float *bcast; /* (n_params) server broadcast besides the model (SCAFFOLD: c), or NULL */
    const fl_poison *poison; /* malicious clients' data attack, or NULL */
} fl_round_ctx;

/* One client's slot: buffers provided by the caller, results filled by client_update. */
typedef struct fl_client_result {
    uint32_t client;
    uint32_t n_samples;
    double weight;     /* aggregation weight */
    double weight2;    /* aggregation weight of update2 (SCAFFOLD's dc_k), when uploaded */
    double train_loss; /* mean minibatch loss over local training */
    long steps;        /* minibatch steps taken */
    float *update;     /* (n_params) out */
    float *update2;    /* (n_params) out when the algorithm uploads two vectors, else unused */
    float *state;      /* in/out client state when the algorithm has one, else unused: n_params
                        * floats as client_update sees it; in the stores and between
                        * fl_train_load and fl_train_store, fl_state_dim floats (packed) */
    double scalar;     /* out: FedNova's ||a_k||_1 (aggregated as sum_k weight_k scalar_k) */
    float *opt;        /* (n_params) in/out SGD momentum buffer when the optimiser state is kept
                        * per client (train.optimizer_state: per_client), else NULL */
    int opt_resume;    /* in: 1 if opt holds the client's momentum from an earlier run */
    int state_new;     /* in: 1 if the client had no state yet (state reads as zeros) */
} fl_client_result;

/* The running aggregate of a round, in double, added to in a fixed order. */
typedef struct fl_agg {
    size_t n;
    double *sum;    /* (n) sum_k weight_k update_k */
    double *sum2;   /* (n) sum_k weight2_k update2_k, or NULL */
    double wsum;    /* sum_k weight_k */
    double ssum;    /* sum_k weight_k scalar_k */
    double loss;    /* sum_k n_k train_loss_k */
    double samples; /* sum_k n_k */
    long count;     /* results added */
    int threads;    /* fl_agg_add's threads over element blocks (0, 1: serial; any count gives
                     * the same bits); fl_train_clients sets its own */
    int eager;      /* set by a caller that reads no update vector after fl_train_clients (only
                     * this sum): each result is added as soon as every one before it is, while
                     * its update is in cache, and the slots' update buffers are recycled among
                     * themselves (res[k].update may point at another slot's buffer after);
                     * same bits. Used for algorithms without client or optimiser state only */
} fl_agg;

typedef struct fl_algorithm fl_algorithm;

/* The local work of one client update, what the device model charges (virtual time, FLOPs:
 * samples x the model's flops_train + fwd_samples x its flops_fwd). */
typedef struct fl_work {
    long steps;       /* minibatch gradient evaluations (a forward and a backward each) */
    long samples;     /* samples through them */
    long fwd_samples; /* samples through forward passes alone (q-FFL's F_k(w^t)) */
} fl_work;

/* Server side of an algorithm: parameters and its state vectors (double, zeroed at init). */
typedef struct fl_server {
    const fl_algorithm *algo;
    fl_params p;
    size_t n;           /* n_params */
    uint32_t n_clients; /* population size N (SCAFFOLD's N, FedDyn's m) */
    double *v[3];       /* algo->server_vecs vectors of n */
    float *bcast;       /* (n) broadcast to clients when algo->bcast, else NULL */
    long t;             /* server steps taken */
} fl_server;

struct fl_algorithm {
    const char *name;
    const char *cite;
    void (*client_update)(const fl_round_ctx *ctx, uint32_t client, nn_worker *w,
                          fl_client_result *out);
    int state_vecs;   /* per-client state vectors (0: stateless, else 1) of n_params, or packed */
    int two_uploads;  /* 1: the client also fills update2 */
    int bcast;        /* 1: the server broadcasts one vector besides the model */
    int server_vecs;  /* server state vectors (0..3) */
    int unit_weights; /* 1: every client's weight is 1 (SCAFFOLD by default, FedDyn), else n_k */
    int one_pass;     /* 1: the client makes one pass over its data whatever train.epochs and
                       * train.steps say (FedSGD's full-batch gradient), else local SGD */
    int sends_scalar; /* 1: the client also uploads a scalar (FedNova's ||a_k||_1), which has no
                       * bound to clip, noise or encode it by */
    int fresh_opt;    /* 1: every local run must start from a fresh momentum buffer (FedNova's
                       * normalisation assumes it) */
    int plain_sync;   /* 1: runs only in synchronous rounds without privacy.*, adversaries or a
                       * robust rule (q-FFL's loss-weighted step, the personalised algorithms) */
    int layer_split;  /* 1: clients keep algorithm.personal_layers to themselves (FedPer, FedRep) */
    int packed_state; /* 1: only the ranges p->personal of the state vector mean anything (FedPer,
                       * FedRep): the stores, their spill files, the chunk's state buffers and MPI
                       * keep those ranges concatenated (fl_state_dim floats, not n_params);
                       * client_update and personal_model still see the n_params layout, which
                       * fl_train_run and the personalized evaluation unpack (zeros elsewhere) */
    int passes;       /* runs of the local SGD's minibatches, each a forward and a backward,
                       * per client update charged by fl_algo_work (0: 1; Ditto: 2, the global
                       * and the personal model; APFL: 2, the gradients at w and at the mixed
                       * model; Per-FedAvg: 2, the gradients on D and on D') */
    /* Personalised algorithms (Ditto, FedPer, FedRep; docs/personalization.md), else NULL: the
     * client's personal model into out (n) from the global model and its state (state_new: the
     * client has none yet). */
    void (*personal_model)(const fl_params *p, size_t n, const float *global, const float *state,
                           int state_new, float *out);
    /* Local work besides the passes of local SGD, added to *w by fl_algo_work for a client with
     * n samples (FedRep's head epochs, q-FFL's loss at w^t), or NULL. */
    void (*extra_work)(const fl_params *p, const fl_train_cfg *tc, uint32_t n, fl_work *w);
    /* After the server vectors are zeroed (may be NULL). */
    void (*server_init)(fl_server *s);
    /* Apply a non-empty aggregate to the global model; NULL: w <- w + server_lr * sum / wsum. */
    void (*server_update)(fl_server *s, float *global, const fl_agg *a);
};

/* NULL if unknown. */
const fl_algorithm *fl_find(const char *name);

/* FedAvg's client: local SGD from the global model, update = w_k - w, weight n_k. FedOpt's
 * optimisers and FedNova reuse it. */
void fl_fedavg_client(const fl_round_ctx *ctx, uint32_t client, nn_worker *w,
                      fl_client_result *out);
/* The registered algorithms, in order; *n gets their count. */
const fl_algorithm *const *fl_all(int *n);

/* Local work of a client with n samples: minibatch steps and samples processed. */
void fl_local_work(const fl_train_cfg *tc, uint32_t n, long *steps, long *samples);
/* The seed of an extra stream of local training (fine-tuning, Ditto's personal model, FedRep's
 * head epochs): which = 0, 1, 2 ...; the minibatch order is then RNG_TRAIN of (that seed,
 * client, round), never the same as the client's training of the global model. */
uint64_t fl_personal_seed(uint64_t seed, uint32_t which);
/* dst[lo, hi) = src[lo, hi) for the n ranges (pairs of offsets). */
void fl_copy_ranges(float *dst, const float *src, const size_t *ranges, int n);
/* Floats in the n ranges. */
size_t fl_ranges_len(const size_t *ranges, int n);
/* The n ranges of src, in order, concatenated into dst (fl_ranges_len floats). */
void fl_pack_ranges(float *dst, const float *src, const size_t *ranges, int n);
/* The inverse: dst[lo, hi) of each range from the packed src; the rest of dst is left alone. */
void fl_unpack_ranges(float *dst, const float *src, const size_t *ranges, int n);

/* Floats of one client state vector of algorithm a in the stores and chunk buffers for a model
 * of n parameters: 0 without state, n, or with a->packed_state the personal ranges' length (at
 * least 1: a store holds no empty vectors). p: the algorithm.* keys (NULL: fl_params_default()). */
size_t fl_state_dim(const fl_algorithm *a, const fl_params *p, size_t n);
/* A stored state (fl_state_dim floats) into client_update's layout (n floats): a copy, or with
 * a->packed_state the personal ranges unpacked and zeros elsewhere (what the unpacked store gave
 * before its first write). */
void fl_state_unpack(const fl_algorithm *a, const fl_params *p, size_t n, const float *packed,
                     float *full);
/* The inverse: full (n) into its stored form (fl_state_dim floats). */
void fl_state_pack(const fl_algorithm *a, const fl_params *p, size_t n, const float *full,
                   float *packed);

/* The work algorithm a's client does, what the engine charges (time, FLOPs): fl_local_work's
 * local SGD a->passes times, or one pass over the n samples (one step) when a->one_pass, plus
 * a->extra_work's. p: the algorithm.* keys (NULL: fl_params_default()). */
void fl_algo_work(const fl_algorithm *a, const fl_params *p, const fl_train_cfg *tc, uint32_t n,
                  fl_work *w);

/* Called after the gradient of each minibatch and before the SGD step: adds an algorithm's
 * term to grad (n) at the local model params (n). */
typedef void (*fl_grad_hook)(const fl_round_ctx *ctx, const float *params, float *grad, size_t n,
                             void *data);

/* Local minibatch SGD from the global model: params (n_params) receives the final local model.
 * Minibatch order from the RNG_TRAIN stream of (seed, client, round). hook (may be NULL)
 * modifies each minibatch gradient. The momentum buffer is w->opt: a fresh one (torch.optim.SGD's
 * first step) unless w->opt_resume, which continues the momentum already in w->opt. Returns the
 * mean minibatch loss. */
double fl_local_train(const fl_round_ctx *ctx, uint32_t client, nn_worker *w, float *params,
                      fl_grad_hook hook, void *hook_data, long *steps_out);

/* Called after each SGD step with the updated local model params (n), which it may move (grad
 * is the step's gradient). */
typedef void (*fl_step_hook)(const fl_round_ctx *ctx, float *params, const float *grad, size_t n,
                             void *data);

/* fl_local_train with a second hook called after each SGD step. */
double fl_local_train_post(const fl_round_ctx *ctx, uint32_t client, nn_worker *w, float *params,
                           fl_grad_hook hook, fl_step_hook post, void *hook_data, long *steps_out);

/* The size of the step-th minibatch of fl_local_train_post for a client of n samples:
 * min(n, batch) with train.steps, else full batches and the epoch's remainder (for hooks that
 * need it: APFL, Per-FedAvg). */
uint32_t fl_local_batch(const fl_train_cfg *tc, uint32_t n, long step);

/* fl_local_train without a hook. */
double fl_local_sgd(const fl_round_ctx *ctx, uint32_t client, nn_worker *w, float *params,
                    long *steps_out);

/* u <- u - global (n): a client's final local model into its update w_k - w. */
void fl_update_delta(float *u, const float *global, size_t n);

/* sum += wk * u (n), in double (fl_agg_add's loop, at the machine's vector width: the bits of
 * the scalar loop, util/simd.h). */
void fl_axpy_f64(double *sum, double wk, const float *u, size_t n);
/* global += lr * (sum / wsum) (n), each element in double (fl_server_step's mean step, at the
 * machine's vector width: the bits of the scalar loop). */
void fl_server_mean_step(float *global, const double *sum, size_t n, double lr, double wsum);

/* Add sum_k w_k u_k (in the given order, in double) to sum (n) and sum_k w_k to *wsum.
 * The weighted mean is sum / wsum; accumulating chunk by chunk in a fixed order gives the same
 * bits as one pass. */
void fl_weighted_sum_add(const fl_client_result *res, int n_res, size_t n, double *sum,
                         double *wsum);

/* w <- w + lr * mean */
void fl_server_apply(float *w, const double *mean, size_t n, double lr);

/* Aggregate of n doubles (and a second vector when two); zeroed. */
fs_err fl_agg_init(fl_agg *a, size_t n, int two);
void fl_agg_reset(fl_agg *a);
/* Add results res[0..n_res) in that order. */
void fl_agg_add(fl_agg *a, const fl_client_result *res, int n_res);
void fl_agg_free(fl_agg *a);

fs_err fl_server_init(fl_server *s, const fl_algorithm *a, const fl_params *p, size_t n_params,
                      uint32_t n_clients);
void fl_server_free(fl_server *s);
/* Apply the round's aggregate to global (no-op when nothing was aggregated); refreshes bcast. */
void fl_server_step(fl_server *s, float *global, const fl_agg *a);
/* Bytes of server state (vectors and broadcast). */
size_t fl_server_bytes(const fl_server *s);

/* Train clients[0..n) of one round with workers[0..threads) in parallel (OpenMP), then, in the
 * given order, store their client states back into cs and add the results to agg. res holds n
 * slots with update (and update2/state when the algorithm needs them) allocated by the caller.
 * Client states are loaded from cs before training (zeros for a client's first time). The
 * result does not depend on threads. cs may be NULL only for stateless algorithms.
 * opt_cs (train.optimizer_state: per_client; NULL: every local run starts a fresh momentum
 * buffer) keeps each client's SGD momentum buffer across its runs: loaded into res[k].opt
 * (allocated by the caller, aligned) before training, trained on in place of the worker's
 * buffer, stored back after (only once the client has taken a step, so its first run that
 * steps is torch.optim.SGD's first step). A signal (fs_stop_flag) cuts local training short:
 * then FS_EINTR, and nothing is stored or added. */
fs_err fl_train_clients(const fl_algorithm *a, const fl_round_ctx *ctx, const uint32_t *clients,
                        int n, fl_client_result *res, nn_worker *workers, int threads,
                        struct fl_cstate *cs, struct fl_cstate *opt_cs, fl_agg *agg);

/* fl_train_clients in its three steps, for a caller that trains some clients elsewhere
 * (engine/mpi_dist.c): fl_train_load sets res[k].client and loads the states (serial, in order);
 * fl_train_run trains res[0..n) (their .client, .state, .opt set) in parallel, on the kept
 * momentum buffers when keep_opt; fl_train_store checks every loss is finite, stores the states
 * back in order and adds the results to agg in order. */
fs_err fl_train_load(const fl_algorithm *a, const uint32_t *clients, int n, fl_client_result *res,
                     struct fl_cstate *cs, struct fl_cstate *opt_cs);
void fl_train_run(const fl_algorithm *a, const fl_round_ctx *ctx, fl_client_result *res, int n,
                  nn_worker *workers, int threads, int keep_opt);
fs_err fl_train_store(const fl_algorithm *a, const fl_round_ctx *ctx, fl_client_result *res, int n,
                      struct fl_cstate *cs, struct fl_cstate *opt_cs, fl_agg *agg);

/* Sums over the samples idx[0..n) of split s held by `client`, as the client sees them (with
 * the partition's per-client feature transform, docs/datasets.md): *lsum += loss x samples,
 * *hits += correct predictions (characters for sequence models). */
void fl_evaluate_client(nn_worker *w, const float *params, const dataset *ds, const ds_split *s,
                        const partition *p, uint32_t client, const uint32_t *idx, size_t n,
                        double *lsum, long *hits);

/* Loss and accuracy of params on (up to max_n, 0 = all) samples of split s, in batches; the
 * confusion matrix (n_classes^2, row = true class, accumulated) into conf unless NULL. */
void fl_evaluate(nn_worker *w, const float *params, const dataset *ds, const ds_split *s,
                 size_t max_n, double *loss, double *acc, long *conf);

#endif
