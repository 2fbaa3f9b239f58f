/* Federated algorithms behind one interface. A client update is a pure function of
 * (global model, client data, client id, round, seed): it may run on any thread, in any order,
 * and gives the same bits. The server aggregates the updates in client-selection order in
 * double precision, so the result does not depend on the thread count.
 *
 * Convention: a client returns an update u_k (a direction in parameter space: w_k - w for
 * FedAvg, -g_k for FedSGD) and a weight (its number of samples). The server forms the
 * weighted mean u = sum_k n_k u_k / sum_k n_k and applies w <- w + server_lr * u. */
#ifndef FEDSIM_ALGORITHM_H
#define FEDSIM_ALGORITHM_H

#include <stddef.h>
#include <stdint.h>

#include "data/dataset.h"
#include "data/partition.h"
#include "nn/model.h"
#include "nn/optim.h"

typedef struct fl_train_cfg {
    int epochs;     /* local epochs, used when steps == 0 */
    int steps;      /* local minibatch steps (batches of min(batch, n)); 0: epochs */
    int batch;
    nn_sgd sgd;
} fl_train_cfg;

/* Read-only context shared by every client of a round. */
typedef struct fl_round_ctx {
    const nn_model *m;
    const dataset *ds;
    const partition *part;
    const float *global; /* (n_params) */
    const fl_train_cfg *tc;
    uint64_t seed;
    uint32_t round;
} fl_round_ctx;

typedef struct fl_client_result {
    uint32_t client;
    uint32_t n_samples;
    double weight;     /* aggregation weight */
    double train_loss; /* mean minibatch loss over local training */
    long steps;        /* minibatch steps taken */
    float *update;     /* (n_params), owned by the caller */
} fl_client_result;

typedef struct fl_algorithm {
    const char *name;
    const char *cite;
    void (*client_update)(const fl_round_ctx *ctx, uint32_t client, nn_worker *w,
                          fl_client_result *out);
} fl_algorithm;

/* NULL if unknown. */
const fl_algorithm *fl_find(const char *name);

/* Local work of a client with n samples: minibatch steps and samples processed. */
void fl_local_work(const fl_train_cfg *tc, uint32_t n, long *steps, long *samples);

/* Local minibatch SGD from the global model: params (n_params) receives the final local model.
 * Minibatch order from the RNG_TRAIN stream of (seed, client, round). Returns the mean loss. */
double fl_local_sgd(const fl_round_ctx *ctx, uint32_t client, nn_worker *w, float *params,
                    long *steps_out);

/* Add sum_k w_k u_k (in the given order, in double) to sum (n) and sum_k w_k to *wsum.
 * The weighted mean is sum / wsum; accumulating chunk by chunk in a fixed order gives the same
 * bits as one pass. */
void fl_weighted_sum_add(const fl_client_result *res, int n_res, size_t n, double *sum,
                         double *wsum);

/* w <- w + lr * mean */
void fl_server_apply(float *w, const double *mean, size_t n, double lr);

/* Loss and accuracy of params on (up to max_n, 0 = all) samples of split s, in batches. */
void fl_evaluate(nn_worker *w, const float *params, const dataset *ds, const ds_split *s,
                 size_t max_n, double *loss, double *acc);

#endif
