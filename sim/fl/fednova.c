/* FedNova (Wang et al., Tackling the Objective Inconsistency Problem in Heterogeneous Federated
 * Optimization, NeurIPS 2020, Section 4 and the authors' implementation). Client i runs tau_i
 * local steps of its SGD (tau_i differs across clients: epochs over different data sizes) and
 * reports the normalised update (y_i - x) / ||a_i||_1, where ||a_i||_1 = tau_i for plain SGD and,
 * with local momentum rho (heavy ball, v = rho v + g),
 *     ||a_i||_1 = sum_{j=1..tau_i} (1 - rho^j) / (1 - rho)
 *              = [tau_i - rho (1 - rho^tau_i) / (1 - rho)] / (1 - rho),
 * and with Nesterov momentum (step g + rho v) tau_i + rho times that: the sum over steps k of
 * the coefficient of g_k in (x - y_i) / eta.
 * With p_i = n_i / sum_j n_j over the clients of the round and tau_eff = sum_i p_i ||a_i||_1:
 *     x <- x + server_lr * tau_eff * sum_i p_i (y_i - x) / ||a_i||_1.
 * With equal local steps and no momentum this is FedAvg. */
#include "fl/algorithm.h"

#include <math.h>

/* ||a||_1 of tau steps of SGD with momentum rho (0: plain SGD), heavy ball or Nesterov. */
static double fednova_a1(long tau, double rho, int nesterov)
{
    if (rho == 0) return (double)tau;
    const double hb = ((double)tau - rho * (1 - pow(rho, (double)tau)) / (1 - rho)) / (1 - rho);
    return nesterov ? (double)tau + rho * hb : hb;
}

static void fednova_client(const fl_round_ctx *ctx, uint32_t client, nn_worker *w,
                           fl_client_result *out)
{
    const size_t n = ctx->m->n_params;
    fl_fedavg_client(ctx, client, w, out); /* update = y_i - x */
    const double a1 = fednova_a1(out->steps, ctx->tc->sgd.momentum, ctx->tc->sgd.nesterov);
    out->scalar = a1;
    for (size_t i = 0; i < n; i++)
        out->update[i] = a1 > 0 ? (float)((double)out->update[i] / a1) : 0.0f;
}

static void fednova_server(fl_server *s, float *global, const fl_agg *a)
{
    const double tau_eff = a->ssum / a->wsum, coef = s->p.server_lr * tau_eff;
    for (size_t i = 0; i < s->n; i++)
        global[i] = (float)((double)global[i] + coef * (a->sum[i] / a->wsum));
}

const fl_algorithm fl_fednova = {
    .name = "fednova",
    .cite = "Wang et al., Tackling the Objective Inconsistency Problem in Heterogeneous Federated "
            "Optimization, NeurIPS 2020",
    .client_update = fednova_client,
    .sends_scalar = 1,
    .fresh_opt = 1,
    .server_update = fednova_server,
};
