/* APFL (Deng, Kamani and Mahdavi, Adaptive Personalized Federated Learning, arXiv:2003.13461,
 * 2020, Algorithm 1, with a fixed mixing weight alpha = algorithm.apfl_alpha). Client i keeps a
 * local model v_i (its client state; at its first participation the w^t it receives) and, on
 * every minibatch xi of FedAvg's local SGD, takes both steps at the models before the step:
 *     w_i <- w_i - eta grad f_i(w_i; xi)                      (the local copy of the global model)
 *     v_i <- v_i - eta alpha grad f_i(vbar_i; xi),  vbar_i = alpha v_i + (1 - alpha) w_i
 * (the gradient of f_i(vbar_i) with respect to v_i). It uploads w_i - w^t with weight n_k, so the
 * global model is FedAvg's (bit for bit for models without dropout: the second pass draws
 * dropout masks from the same worker stream). The v step is plain SGD (no momentum, no weight
 * decay). The personalized model is vbar_i = alpha v_i + (1 - alpha) w with the current global
 * model w; alpha = 0 makes it the global model. The paper's adaptive alpha is not implemented.
 * The second pass runs on the minibatch still in the worker's input buffer (fl_grad_hook, before
 * w's SGD step; engine/personal.c refuses a model whose first layer computes in place). */
#include "fl/algorithm.h"

#include <stdlib.h>
#include <string.h>

typedef struct apfl {
    nn_worker *w;
    float *v, *vbar, *gsave; /* (n) the local model, the mixed model, w's gradient */
    double alpha, lr;
    uint32_t n_samples; /* the client's training samples, for the batch sizes */
    long step;
} apfl;

static void apfl_hook(const fl_round_ctx *ctx, const float *params, float *grad, size_t n,
                      void *data)
{
    apfl *a = data;
    const int b = (int)fl_local_batch(ctx->tc, a->n_samples, a->step++);
    const float al = (float)a->alpha;
    for (size_t i = 0; i < n; i++) a->vbar[i] = al * a->v[i] + (1 - al) * params[i];
    memcpy(a->gsave, grad, n * sizeof(float));
    memset(grad, 0, n * sizeof(float));
    nn_forward(a->w, a->vbar, b);
    nn_loss_backward(a->w, a->vbar, a->w->y, b, 1.0 / b, NULL);
    const float s = (float)(a->lr * a->alpha);
    for (size_t i = 0; i < n; i++) a->v[i] -= s * grad[i];
    memcpy(grad, a->gsave, n * sizeof(float));
}

static void apfl_client(const fl_round_ctx *ctx, uint32_t client, nn_worker *w,
                        fl_client_result *out)
{
    const size_t n = ctx->m->n_params;
    if (out->state_new) memcpy(out->state, ctx->global, n * sizeof(float));
    float *buf = FS_ALIGNED(2 * n, sizeof(float));
    FS_CHECK(buf);
    apfl a = {w,
              out->state,
              buf,
              buf + n,
              ctx->p ? ctx->p->apfl_alpha : 0,
              ctx->tc->sgd.lr,
              part_size(ctx->part, client),
              0};
    out->client = client;
    out->n_samples = a.n_samples;
    out->weight = out->n_samples;
    out->train_loss = fl_local_train(ctx, client, w, out->update, apfl_hook, &a, &out->steps);
    for (size_t i = 0; i < n; i++) out->update[i] -= ctx->global[i];
    free(buf);
}

static void apfl_personal(const fl_params *p, size_t n, const float *global, const float *state,
                          int state_new, float *out)
{
    const float al = (float)p->apfl_alpha;
    if (state_new) {
        memcpy(out, global, n * sizeof(float));
        return;
    }
    for (size_t i = 0; i < n; i++) out[i] = al * state[i] + (1 - al) * global[i];
}

const fl_algorithm fl_apfl = {
    .name = "apfl",
    .plain_sync = 1,
    .cite = "Deng et al., Adaptive Personalized Federated Learning, arXiv:2003.13461, 2020",
    .client_update = apfl_client,
    .state_vecs = 1,
    .passes = 2,
    .personal_model = apfl_personal,
};
