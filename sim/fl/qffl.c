/* q-FFL solved by q-FedAvg (Li, Sanjabi, Beirami and Smith, Fair Resource Allocation in Federated
 * Learning, ICLR 2020, Algorithm 3). The objective min_w sum_k p_k/(q+1) F_k^{q+1}(w) weighs
 * clients with a higher loss more as q grows (q = 0: FedAvg's objective). Client k computes its
 * loss F_k(w^t) on its training samples at the global model, runs FedAvg's local SGD to w_k, and,
 * with L = 1/eta_l (the authors' estimate of the Lipschitz constant from the local learning rate),
 *     dw_k = L (w^t - w_k),   D_k = F_k^q dw_k,   h_k = q F_k^{q-1} ||dw_k||^2 + L F_k^q.
 * The server: w^{t+1} = w^t - server_lr * sum_k D_k / sum_k h_k (server_lr 1 is the paper's).
 * In the framework's terms the client uploads u_k = -D_k with weight 1 and scalar h_k, so the
 * aggregate's ssum is sum_k h_k. With q = 0 the step is the uniform mean of the client models
 * (every h_k = L). The reported training loss is the local SGD's, as for FedAvg. The device is
 * charged the local SGD and the forward pass computing F_k(w^t) (fl_algo_work). */
#include "fl/algorithm.h"

#include <math.h>

static void qffl_client(const fl_round_ctx *ctx, uint32_t client, nn_worker *w,
                        fl_client_result *out)
{
    const size_t n = ctx->m->n_params;
    const double q = ctx->p ? ctx->p->q : 0;
    const double L = 1.0 / ctx->tc->sgd.lr;
    const uint32_t ns = part_size(ctx->part, client);
    double lsum = 0;
    long hits = 0;
    fl_evaluate_client(w, ctx->global, ctx->ds, &ctx->ds->train, ctx->part, client,
                       part_samples(ctx->part, client), ns, &lsum, &hits);
    const double F = ns ? lsum / ns : 0; /* F_k(w^t) */
    out->client = client;
    out->n_samples = ns;
    out->weight = 1;
    out->train_loss = fl_local_sgd(ctx, client, w, out->update, &out->steps);
    double norm2 = 0; /* ||dw_k||^2 */
    for (size_t i = 0; i < n; i++) {
        const double dw = L * ((double)ctx->global[i] - (double)out->update[i]);
        norm2 += dw * dw;
    }
    const double Fq = q == 0 ? 1 : pow(F, q);
    /* F = 0 with q < 1: F^(q-1) is infinite but D_k = 0; the client adds nothing */
    const double qterm = q == 0 || (F == 0 && q < 1) ? 0 : q * pow(F, q - 1) * norm2;
    for (size_t i = 0; i < n; i++) /* u_k = -D_k = F^q L (w_k - w^t) */
        out->update[i] = (float)(Fq * L * ((double)out->update[i] - (double)ctx->global[i]));
    out->scalar = qterm + L * Fq; /* h_k */
}

/* F_k(w^t): a forward pass over the client's n training samples before its local SGD. */
static void qffl_work(const fl_params *p, const fl_train_cfg *tc, uint32_t n, fl_work *w)
{
    (void)p;
    (void)tc;
    w->fwd_samples += n;
}

static void qffl_server(fl_server *s, float *global, const fl_agg *a)
{
    if (!(a->ssum > 0)) return; /* every client at zero loss: nothing to move */
    const double lr = s->p.server_lr;
    for (size_t i = 0; i < s->n; i++)
        global[i] = (float)((double)global[i] + lr * (a->sum[i] / a->ssum));
}

const fl_algorithm fl_qffl = {
    .name = "qffl",
    .plain_sync = 1,
    .cite = "Li et al., Fair Resource Allocation in Federated Learning, ICLR 2020",
    .client_update = qffl_client,
    .unit_weights = 1,
    .server_update = qffl_server,
    .extra_work = qffl_work,
};
