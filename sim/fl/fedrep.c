/* Personal layers: FedPer and FedRep. The model's parameters are split into a shared body and
 * the personal layers of algorithm.personal_layers (fl_params.personal: their ranges of the
 * parameter buffer). Client k keeps its personal layers in its client state (before its first
 * participation they are the global model's; client_update and personal_model see a vector of
 * n_params floats of which only the personal ranges are used, and the stores keep just those
 * ranges, packed: .packed_state), trains from the global body with its own personal layers,
 * keeps the personal layers it ends with and uploads w_k - w^t on the body only (zero on the
 * personal ranges), with weight n_k; the server averages as FedAvg, so the global model's
 * personal layers never move.
 *   FedPer (Arivazhagan et al., Federated Learning with Personalization Layers, arXiv:1912.00818,
 *   2019): the local SGD trains body and personal layers together.
 *   FedRep (Collins, Hassani, Mokhtari and Shakkottai, Exploiting Shared Representations for
 *   Personalized Federated Learning, ICML 2021, Algorithm 1): first algorithm.head_epochs local
 *   epochs on the personal layers with the body fixed (minibatch order fl_personal_seed 2), then
 *   the local SGD of train.epochs / train.steps on the body with the personal layers fixed. A
 *   fixed part is restored after every SGD step (so weight decay and momentum do not move it).
 * Both are charged what they compute (fl_algo_work): the local SGD, and FedRep's head epochs
 * before it. With no personal layers both are FedAvg bit for bit. The personal model (evaluation):
 * the global body with the client's personal layers. */
#include "fl/algorithm.h"

#include <stdlib.h>
#include <string.h>

/* After each step: put back the parameters that must not move. train_personal: only the
 * personal ranges train (FedRep's head epochs), else only the body. */
typedef struct hold {
    const float *src;
    const fl_params *p;
    size_t n;
    int train_personal;
} hold;

static void hold_post(const fl_round_ctx *ctx, float *params, const float *grad, size_t n,
                      void *data)
{
    (void)ctx;
    (void)grad;
    (void)n;
    const hold *h = data;
    if (!h->train_personal) {
        fl_copy_ranges(params, h->src, h->p->personal, h->p->n_personal);
        return;
    }
    size_t lo = 0; /* the complement of the personal ranges, which are in order */
    for (int k = 0; k <= h->p->n_personal; k++) {
        const size_t hi = k < h->p->n_personal ? h->p->personal[2 * k] : h->n;
        if (hi > lo) memcpy(params + lo, h->src + lo, (hi - lo) * sizeof(float));
        if (k < h->p->n_personal) lo = h->p->personal[2 * k + 1];
    }
}

static void personal_model(const fl_params *p, size_t n, const float *global, const float *state,
                           int state_new, float *out)
{
    memcpy(out, global, n * sizeof(float));
    if (!state_new) fl_copy_ranges(out, state, p->personal, p->n_personal);
}

static void split_client(const fl_round_ctx *ctx, uint32_t client, nn_worker *w,
                         fl_client_result *out, int rep)
{
    const size_t n = ctx->m->n_params;
    const fl_params *p = ctx->p;
    FS_CHECK(p);
    out->client = client;
    out->n_samples = part_size(ctx->part, client);
    out->weight = out->n_samples;
    float *start = FS_ALIGNED(n, sizeof(float));
    FS_CHECK(start);
    personal_model(p, n, ctx->global, out->state, out->state_new, start);
    fl_round_ctx lc = *ctx;
    lc.global = start;
    if (rep && p->n_personal > 0 && p->head_epochs > 0) { /* FedRep: the head, body fixed */
        fl_train_cfg th = *ctx->tc;
        th.epochs = p->head_epochs;
        th.steps = 0;
        fl_round_ctx hc = lc;
        hc.tc = &th;
        hc.seed = fl_personal_seed(ctx->seed, 2);
        hold h = {start, p, n, 1};
        long steps;
        fl_local_train_post(&hc, client, w, out->update, NULL, hold_post, &h, &steps);
        memcpy(start, out->update, n * sizeof(float));
    }
    hold h = {start, p, n, 0};
    out->train_loss =
        fl_local_train_post(&lc, client, w, out->update, NULL,
                            rep && p->n_personal > 0 ? hold_post : NULL, &h, &out->steps);
    fl_copy_ranges(out->state, out->update, p->personal, p->n_personal);
    for (size_t i = 0; i < n; i++) out->update[i] -= ctx->global[i];
    for (int k = 0; k < p->n_personal; k++) /* the personal layers stay on the client */
        memset(out->update + p->personal[2 * k], 0,
               (p->personal[2 * k + 1] - p->personal[2 * k]) * sizeof(float));
    free(start);
}

/* FedRep's head epochs: head_epochs local epochs (a forward and a full backward per minibatch,
 * as fl_local_train computes them) before the body's local SGD, when there are personal layers. */
static void fedrep_work(const fl_params *p, const fl_train_cfg *tc, uint32_t n, fl_work *w)
{
    if (p->n_personal <= 0 || p->head_epochs <= 0) return;
    fl_train_cfg th = *tc;
    th.epochs = p->head_epochs;
    th.steps = 0;
    long steps, samples;
    fl_local_work(&th, n, &steps, &samples);
    w->steps += steps;
    w->samples += samples;
}

static void fedper_client(const fl_round_ctx *ctx, uint32_t client, nn_worker *w,
                          fl_client_result *out)
{
    split_client(ctx, client, w, out, 0);
}

static void fedrep_client(const fl_round_ctx *ctx, uint32_t client, nn_worker *w,
                          fl_client_result *out)
{
    split_client(ctx, client, w, out, 1);
}

const fl_algorithm fl_fedper = {
    .name = "fedper",
    .plain_sync = 1,
    .layer_split = 1,
    .cite = "Arivazhagan et al., Federated Learning with Personalization Layers, "
            "arXiv:1912.00818, 2019",
    .client_update = fedper_client,
    .state_vecs = 1,
    .packed_state = 1,
    .personal_model = personal_model,
};

const fl_algorithm fl_fedrep = {
    .name = "fedrep",
    .plain_sync = 1,
    .layer_split = 1,
    .cite = "Collins et al., Exploiting Shared Representations for Personalized Federated "
            "Learning, ICML 2021",
    .client_update = fedrep_client,
    .state_vecs = 1,
    .packed_state = 1,
    .personal_model = personal_model,
    .extra_work = fedrep_work,
};
