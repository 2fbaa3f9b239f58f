/* FedDyn (Acar et al., Federated Learning Based on Dynamic Regularization, ICLR 2021,
 * Algorithm 1). Client k keeps g_k = grad L_k(theta_k^{t-1}) (zero before its first round) and
 * approximately solves, from theta^{t-1} with the local minibatch SGD,
 *     theta_k^t = argmin_theta L_k(theta) - <g_k, theta> + alpha/2 ||theta - theta^{t-1}||^2,
 * i.e. adds -g_k + alpha (theta - theta^{t-1}) to every minibatch gradient; then
 *     g_k <- g_k - alpha (theta_k^t - theta^{t-1})
 * and uploads theta_k^t - theta^{t-1}. The server keeps h (zero at start); with P_t the
 * participating clients and m the population size:
 *     h^t = h^{t-1} - alpha/m sum_{k in P_t} (theta_k^t - theta^{t-1})
 *     theta^t = 1/|P_t| sum_{k in P_t} theta_k^t - h^t / alpha
 * (uniform weights, as in the paper; algorithm.server_lr does not apply). */
#include "fl/algorithm.h"

typedef struct dyn_hook {
    float alpha;
    const float *gk;
} dyn_hook;

static void dyn_grad(const fl_round_ctx *ctx, const float *params, float *grad, size_t n,
                     void *data)
{
    const dyn_hook *h = data;
    const float *g = ctx->global;
    for (size_t i = 0; i < n; i++) grad[i] += h->alpha * (params[i] - g[i]) - h->gk[i];
}

static void feddyn_client(const fl_round_ctx *ctx, uint32_t client, nn_worker *w,
                          fl_client_result *out)
{
    const size_t n = ctx->m->n_params;
    dyn_hook h = {(float)(ctx->p ? ctx->p->alpha : fl_params_default().alpha), out->state};
    out->client = client;
    out->n_samples = part_size(ctx->part, client);
    out->weight = 1;
    out->train_loss = fl_local_train(ctx, client, w, out->update, dyn_grad, &h, &out->steps);
    for (size_t i = 0; i < n; i++) {
        out->update[i] -= ctx->global[i];
        out->state[i] -= h.alpha * out->update[i];
    }
}

static void feddyn_server(fl_server *s, float *global, const fl_agg *a)
{
    double *h = s->v[0];
    const double alpha = s->p.alpha, m = s->n_clients, np = a->wsum;
    for (size_t i = 0; i < s->n; i++) {
        h[i] -= alpha / m * a->sum[i];
        global[i] = (float)((double)global[i] + a->sum[i] / np - h[i] / alpha);
    }
}

const fl_algorithm fl_feddyn = {
    .name = "feddyn",
    .cite = "Acar et al., Federated Learning Based on Dynamic Regularization, ICLR 2021",
    .client_update = feddyn_client,
    .state_vecs = 1,
    .server_vecs = 1,
    .unit_weights = 1,
    .server_update = feddyn_server,
};
