/* FedSGD (McMahan et al., AISTATS 2017, the baseline of Section 2): each client computes the
 * gradient of its mean loss over ALL its local samples at the global model and returns -g_k;
 * the server steps w <- w - server_lr * sum_k n_k g_k / sum_k n_k. The gradient is accumulated
 * over minibatches of train.batch_size, each scaled by 1/n_k, so it is the full local gradient. */
#include "fl/algorithm.h"

#include <string.h>

static void fedsgd_client(const fl_round_ctx *ctx, uint32_t client, nn_worker *w,
                          fl_client_result *out)
{
    const size_t np = ctx->m->n_params;
    const uint32_t n = part_size(ctx->part, client);
    const uint32_t *mine = part_samples(ctx->part, client);
    out->client = client;
    out->n_samples = n;
    out->weight = n;
    out->steps = n ? 1 : 0;
    memset(w->grad, 0, np * sizeof(float));
    nn_worker_seed(w, ctx->seed, client, ctx->round); /* dropout masks: per client, not thread */
    double loss = 0;
    for (uint32_t start = 0; start < n;) {
        uint32_t b = n - start < (uint32_t)w->max_batch ? n - start : (uint32_t)w->max_batch;
        ds_gather(ctx->ds, &ctx->ds->train, mine + start, b, nn_input(w), w->y);
        part_transform(ctx->part, ctx->ds, client, mine + start, b, nn_input(w));
        nn_forward(w, ctx->global, (int)b);
        loss += nn_loss_backward(w, ctx->global, w->y, (int)b, 1.0 / n, NULL) * b;
        start += b;
    }
    out->train_loss = n ? loss / n : 0;
    for (size_t i = 0; i < np; i++) out->update[i] = -w->grad[i];
}

const fl_algorithm fl_fedsgd = {
    .name = "fedsgd",
    .cite = "McMahan et al., Communication-Efficient Learning of Deep Networks from "
            "Decentralized Data, AISTATS 2017 (FedSGD baseline)",
    .client_update = fedsgd_client,
    .one_pass = 1,
};
