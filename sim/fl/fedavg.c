/* FedAvg (McMahan et al., AISTATS 2017, Algorithm 1): each client runs E epochs of minibatch
 * SGD from the global model and returns w_k - w; the server averages weighted by n_k. With
 * server_lr = 1 the new global model is the sample-weighted mean of the client models. */
#include "fl/algorithm.h"

void fl_fedavg_client(const fl_round_ctx *ctx, uint32_t client, nn_worker *w, fl_client_result *out)
{
    const size_t n = ctx->m->n_params;
    out->client = client;
    out->n_samples = part_size(ctx->part, client);
    out->weight = out->n_samples;
    out->train_loss = fl_local_sgd(ctx, client, w, out->update, &out->steps);
    fl_update_delta(out->update, ctx->global, n);
}

const fl_algorithm fl_fedavg = {
    .name = "fedavg",
    .cite = "McMahan et al., Communication-Efficient Learning of Deep Networks from "
            "Decentralized Data, AISTATS 2017",
    .client_update = fl_fedavg_client,
};
