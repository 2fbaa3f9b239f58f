/* FedProx (Li et al., Federated Optimization in Heterogeneous Networks, MLSys 2020, Algorithm 2):
 * each client approximately minimises h_k(w; w^t) = F_k(w) + mu/2 ||w - w^t||^2 from w^t with
 * the local minibatch SGD of FedAvg, i.e. adds the proximal gradient mu (w - w^t) to every
 * minibatch gradient (as the authors' PerturbedGradientDescent does), and returns w_k - w^t.
 * The server aggregates as FedAvg: w^{t+1} = w^t + server_lr * sum_k n_k (w_k - w^t) / sum_k n_k
 * (the authors' code weights by samples). mu = 0 is FedAvg exactly. The reported training loss
 * is F_k's, without the proximal term. */
#include "fl/algorithm.h"

static void prox_grad(const fl_round_ctx *ctx, const float *params, float *grad, size_t n,
                      void *data)
{
    const float mu = *(const float *)data;
    const float *g = ctx->global;
    for (size_t i = 0; i < n; i++) grad[i] += mu * (params[i] - g[i]);
}

static void fedprox_client(const fl_round_ctx *ctx, uint32_t client, nn_worker *w,
                           fl_client_result *out)
{
    const size_t n = ctx->m->n_params;
    float mu = (float)(ctx->p ? ctx->p->mu : fl_params_default().mu);
    out->client = client;
    out->n_samples = part_size(ctx->part, client);
    out->weight = out->n_samples;
    out->train_loss = fl_local_train(ctx, client, w, out->update, prox_grad, &mu, &out->steps);
    fl_update_delta(out->update, ctx->global, n);
}

const fl_algorithm fl_fedprox = {
    .name = "fedprox",
    .cite = "Li et al., Federated Optimization in Heterogeneous Networks, MLSys 2020",
    .client_update = fedprox_client,
};
