/* Ditto (Li, Hu, Beirami and Smith, Ditto: Fair and Robust Federated Learning Through
 * Personalization, ICML 2021, Algorithm 1). The global model is FedAvg's: client k runs the local
 * SGD from w^t and uploads w_k - w^t with weight n_k, bit for bit what fedavg.c does. Besides,
 * client k keeps a personal model v_k (its client state; at its first participation v_k starts
 * from the w^t it receives) and approximately solves
 *     min_v F_k(v) + lambda/2 ||v - w^t||^2
 * with the same number of local steps, on a minibatch order of its own (fl_personal_seed 1).
 * Each step is a proximal-gradient step: the SGD step on F_k, then
 *     v <- (v + eta lambda w^t) / (1 + eta lambda),
 * the exact proximal map of eta lambda/2 ||v - w^t||^2 (outside the momentum buffer, as
 * SCAFFOLD's correction). It has the minimiser of Ditto's h_k, equals the paper's gradient step
 * v <- v - eta (grad F_k(v) + lambda (v - w^t)) to first order in eta lambda, and stays stable
 * for any lambda: lambda -> infinity gives v_k = w^t exactly, lambda = 0 local training alone.
 * The personal model is what the client is evaluated with (docs/personalization.md). */
#include "fl/algorithm.h"

#include <stdlib.h>
#include <string.h>

typedef struct prox {
    const float *w; /* w^t */
    double a;       /* eta * lambda */
} prox;

static void ditto_prox(const fl_round_ctx *ctx, float *v, const float *grad, size_t n, void *data)
{
    (void)ctx;
    (void)grad;
    const prox *p = data;
    const double a = p->a, inv = 1.0 / (1.0 + a);
    for (size_t i = 0; i < n; i++) v[i] = (float)(((double)v[i] + a * (double)p->w[i]) * inv);
}

static void ditto_client(const fl_round_ctx *ctx, uint32_t client, nn_worker *w,
                         fl_client_result *out)
{
    fl_fedavg_client(ctx, client, w, out); /* the global model's update */
    const size_t n = ctx->m->n_params;
    float *v = out->state;
    if (out->state_new) memcpy(v, ctx->global, n * sizeof(float));
    float *tmp = FS_ALIGNED(n, sizeof(float));
    FS_CHECK(tmp);
    fl_round_ctx pc = *ctx;
    pc.global = v; /* the personal run starts from v_k */
    pc.seed = fl_personal_seed(ctx->seed, 1);
    prox p = {ctx->global, ctx->tc->sgd.lr * (ctx->p ? ctx->p->lambda : 0)};
    const int resume = w->opt_resume;
    w->opt_resume = 0; /* a fresh momentum buffer of its own */
    long steps;
    fl_local_train_post(&pc, client, w, tmp, NULL, ditto_prox, &p, &steps);
    w->opt_resume = resume;
    memcpy(v, tmp, n * sizeof(float));
    free(tmp);
}

static void ditto_personal(const fl_params *p, size_t n, const float *global, const float *state,
                           int state_new, float *out)
{
    (void)p;
    memcpy(out, state_new ? global : state, n * sizeof(float));
}

const fl_algorithm fl_ditto = {
    .name = "ditto",
    .plain_sync = 1,
    .cite = "Li et al., Ditto: Fair and Robust Federated Learning Through Personalization, "
            "ICML 2021",
    .client_update = ditto_client,
    .state_vecs = 1,
    .passes = 2,
    .personal_model = ditto_personal,
};
