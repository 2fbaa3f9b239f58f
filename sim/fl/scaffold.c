/* SCAFFOLD (Karimireddy et al., SCAFFOLD: Stochastic Controlled Averaging for Federated
 * Learning, ICML 2020, Algorithm 1 with option II). The server keeps the model x and the control
 * variate c and broadcasts both; client i keeps c_i (zero before its first round). Client i runs
 * K local minibatch steps from y_i = x with the corrected gradient
 *     y_i <- y_i - eta_l (g_i(y_i) - c_i + c)
 * The correction is applied right after each SGD step, y_i <- y_i - eta_l (c - c_i), outside
 * the momentum buffer and weight decay, as NIID-Bench's SCAFFOLD does (Li et al., ICDE 2022):
 * with plain SGD this is the same update; with momentum mu, feeding c - c_i through the buffer
 * would amplify it by up to 1/(1 - mu) and the control variates, estimated from (x - y_i)/(K
 * eta_l), feed back on themselves (it diverged on the cross-silo LeNet setting, mu = 0.9).
 * then, option II,
 *     c_i^+ = c_i - c + (x - y_i) / (K eta_l),
 * uploads (dy_i, dc_i) = (y_i - x, c_i^+ - c_i) and keeps c_i <- c_i^+. The server, with S the
 * clients of the round and N the population size:
 *     x <- x + eta_g (1/|S|) sum_i dy_i,    c <- c + (|S|/N) (1/|S|) sum_i dc_i
 * (uniform weights as in the paper; eta_g = algorithm.server_lr). algorithm.weighting picks
 * other published weightings (docs/algorithms.md):
 *   samples      NIID-Bench (Li et al., ICDE 2022, its SCAFFOLD code): x <- x + eta_g
 *                sum_i (n_i / sum_S n) dy_i, and c <- c + (1/N) sum_i dc_i as in the paper;
 *   samples_all  Flower's niid_bench baseline: both x and c averages weighted by n_i,
 *                c <- c + (|S|/N) sum_i (n_i / sum_S n) dc_i. */
#include "fl/algorithm.h"

/* After each SGD step: y <- y - eta_l (c - c_i). Frozen parameters never move: their control
 * variates stay zero (their x - y_i is always zero). */
static void scaffold_correct(const fl_round_ctx *ctx, float *y, const float *grad, size_t n,
                             void *data)
{
    const float *ci = data, *c = ctx->bcast;
    const float lr = (float)ctx->tc->sgd.lr;
    for (size_t i = 0; i < n; i++) y[i] -= lr * (c[i] - ci[i]);
}

static void scaffold_client(const fl_round_ctx *ctx, uint32_t client, nn_worker *w,
                            fl_client_result *out)
{
    const size_t n = ctx->m->n_params;
    const float *x = ctx->global, *c = ctx->bcast;
    float *y = out->update, *ci = out->state, *dc = out->update2;
    out->client = client;
    out->n_samples = part_size(ctx->part, client);
    const int wt = ctx->p ? ctx->p->weighting : FL_WEIGHT_UNIFORM;
    out->weight = wt == FL_WEIGHT_UNIFORM ? 1 : out->n_samples;
    out->weight2 = wt == FL_WEIGHT_SAMPLES_ALL ? out->n_samples : 1;
    out->train_loss =
        fl_local_train_post(ctx, client, w, y, NULL, scaffold_correct, ci, &out->steps);
    const double inv = out->steps ? 1.0 / ((double)out->steps * ctx->tc->sgd.lr) : 0;
    for (size_t i = 0; i < n; i++) {
        dc[i] = (float)(-(double)c[i] + ((double)x[i] - (double)y[i]) * inv);
        ci[i] += dc[i];
        y[i] -= x[i];
    }
}

static void scaffold_server(fl_server *s, float *global, const fl_agg *a)
{
    double *c = s->v[0];
    const double lr = s->p.server_lr, S = a->wsum, N = (double)s->n_clients;
    for (size_t i = 0; i < s->n; i++) global[i] = (float)((double)global[i] + lr * (a->sum[i] / S));
    if (s->p.weighting == FL_WEIGHT_SAMPLES) { /* sum2 = sum_i dc_i */
        for (size_t i = 0; i < s->n; i++) c[i] += a->sum2[i] / N;
        return;
    }
    /* uniform: S = |S| = sum of unit weights; samples_all: sum2 and S are both n_i-weighted */
    const double frac = (s->p.weighting == FL_WEIGHT_UNIFORM ? S : (double)a->count) / N;
    for (size_t i = 0; i < s->n; i++) c[i] += frac * (a->sum2[i] / S);
}

const fl_algorithm fl_scaffold = {
    .name = "scaffold",
    .cite = "Karimireddy et al., SCAFFOLD: Stochastic Controlled Averaging for Federated "
            "Learning, ICML 2020",
    .client_update = scaffold_client,
    .state_vecs = 1,
    .two_uploads = 1,
    .bcast = 1,
    .server_vecs = 1,
    .unit_weights = 1,
    .server_update = scaffold_server,
};
