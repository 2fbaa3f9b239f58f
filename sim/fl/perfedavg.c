/* Per-FedAvg, first-order version (Fallah, Mokhtari and Ozdaglar, Personalized Federated
 * Learning with Theoretical Guarantees: A Model-Agnostic Meta-Learning Approach, NeurIPS 2020,
 * Algorithm 1 with the FO approximation). The global model is trained for its value after one
 * local gradient step: each local step of client k takes two independent minibatches D and D'
 * of its training samples and
 *     w_tmp = w - alpha grad f_k(w; D),     w <- w - beta grad f_k(w_tmp; D')
 * with alpha = algorithm.perfedavg_alpha and beta = train.lr (the SGD step, with train.momentum
 * and weight decay if set). D is the minibatch of FedAvg's local SGD (its order from RNG_TRAIN);
 * D' is drawn uniformly without replacement within the batch, from the client's stream
 * fl_personal_seed 3, and has D's size. The client uploads w_k - w^t with weight n_k and keeps
 * no state. Its personalized model is the global model after local gradient steps of size alpha:
 * eval.personalize_steps (or _epochs), whose learning rate defaults to alpha for this algorithm
 * (docs/personalization.md). The D' pass costs a second forward and backward per step. */
#include "fl/algorithm.h"

#include <stdlib.h>
#include <string.h>

typedef struct pfa {
    nn_worker *w;
    float *tmp; /* (n) w_tmp */
    uint32_t client;
    rng_t r;        /* D' draws */
    uint32_t *pick; /* (n_samples) scratch permutation */
    long step;
} pfa;

/* After grad f_k(w; D): replace it by grad f_k(w - alpha grad; D'). */
static void pfa_hook(const fl_round_ctx *ctx, const float *params, float *grad, size_t n,
                     void *data)
{
    pfa *a = data;
    const uint32_t ns = part_size(ctx->part, a->client);
    const uint32_t b = fl_local_batch(ctx->tc, ns, a->step++);
    const float al = (float)(ctx->p ? ctx->p->perfedavg_alpha : 0);
    for (size_t i = 0; i < n; i++) a->tmp[i] = params[i] - al * grad[i];
    const uint32_t *mine = part_samples(ctx->part, a->client);
    for (uint32_t i = 0; i < b; i++) { /* a partial Fisher-Yates draw of b of the ns */
        const uint32_t j = i + (uint32_t)rng_below(&a->r, ns - i);
        const uint32_t t = a->pick[i];
        a->pick[i] = a->pick[j];
        a->pick[j] = t;
    }
    uint32_t *idx = a->pick + ns; /* the drawn samples' dataset indices */
    for (uint32_t i = 0; i < b; i++) idx[i] = mine[a->pick[i]];
    ds_gather(ctx->ds, &ctx->ds->train, idx, b, nn_input(a->w), a->w->y);
    part_transform(ctx->part, ctx->ds, a->client, idx, b, nn_input(a->w));
    memset(grad, 0, n * sizeof(float));
    nn_forward(a->w, a->tmp, (int)b);
    nn_loss_backward(a->w, a->tmp, a->w->y, (int)b, 1.0 / b, NULL);
}

static void perfedavg_client(const fl_round_ctx *ctx, uint32_t client, nn_worker *w,
                             fl_client_result *out)
{
    const size_t n = ctx->m->n_params;
    const uint32_t ns = part_size(ctx->part, client);
    pfa a = {.w = w, .tmp = FS_ALIGNED(n, sizeof(float)), .client = client};
    a.pick = calloc(2 * (size_t)ns + 1, sizeof *a.pick);
    FS_CHECK(a.tmp && a.pick);
    for (uint32_t i = 0; i < ns; i++) a.pick[i] = i;
    rng_init(&a.r, fl_personal_seed(ctx->seed, 3), RNG_TRAIN, client, ctx->round);
    out->client = client;
    out->n_samples = ns;
    out->weight = ns;
    out->train_loss = fl_local_train(ctx, client, w, out->update, pfa_hook, &a, &out->steps);
    for (size_t i = 0; i < n; i++) out->update[i] -= ctx->global[i];
    free(a.tmp);
    free(a.pick);
}

const fl_algorithm fl_perfedavg = {
    .name = "perfedavg",
    .plain_sync = 1,
    .cite = "Fallah et al., Personalized Federated Learning with Theoretical Guarantees: A "
            "Model-Agnostic Meta-Learning Approach, NeurIPS 2020",
    .client_update = perfedavg_client,
    .passes = 2,
};
