/* Server optimisers on the averaged client update (FedAvg's local training on the clients,
 * sample-weighted mean Delta_t = sum_k n_k (w_k - x_t) / sum_k n_k on the server):
 *
 * FedAvgM (Hsu et al., Measuring the Effects of Non-Identical Data Distribution for Federated
 * Visual Classification, 2019; the FedAvgM of Reddi et al. 2021):
 *     v_t = beta v_{t-1} + Delta_t,   x_{t+1} = x_t + eta v_t        (v_{-1} = 0)
 * With beta = 0 this is FedAvg with server_lr eta (FedOpt with server SGD).
 *
 * FedAdagrad, FedAdam, FedYogi (Reddi et al., Adaptive Federated Optimization, ICLR 2021,
 * Algorithm 2), per coordinate, m_{-1} = 0, v_{-1} = tau^2, no bias correction:
 *     m_t = beta1 m_{t-1} + (1 - beta1) Delta_t
 *     FedAdagrad: v_t = v_{t-1} + Delta_t^2
 *     FedAdam:    v_t = beta2 v_{t-1} + (1 - beta2) Delta_t^2
 *     FedYogi:    v_t = v_{t-1} - (1 - beta2) Delta_t^2 sign(v_{t-1} - Delta_t^2)
 *     x_{t+1} = x_t + eta m_t / (sqrt(v_t) + tau)
 * eta = algorithm.server_lr, beta = algorithm.server_momentum, beta1/beta2/tau =
 * algorithm.beta1/beta2/tau. Algorithm 2 writes Delta_t as the plain mean over the round's
 * clients; like FedAvg (and the authors' experiments) we weight by the clients' sample counts,
 * which is the plain mean when the clients hold equal amounts of data. The clients run FedAvg's
 * local training (fl_fedavg_client). */
#include "fl/algorithm.h"

#include <math.h>

static void fedavgm_server(fl_server *s, float *global, const fl_agg *a)
{
    double *v = s->v[0];
    const double beta = s->p.server_momentum, lr = s->p.server_lr;
    for (size_t i = 0; i < s->n; i++) {
        v[i] = beta * v[i] + a->sum[i] / a->wsum;
        global[i] = (float)((double)global[i] + lr * v[i]);
    }
}

/* v starts at tau^2 (Reddi et al., Algorithm 2: v_{-1} >= tau^2). */
static void adaptive_init(fl_server *s)
{
    const double t2 = s->p.tau * s->p.tau;
    for (size_t i = 0; i < s->n; i++) s->v[1][i] = t2;
}

typedef enum { OPT_ADAGRAD, OPT_ADAM, OPT_YOGI } adaptive_kind;

static void adaptive_step(fl_server *s, float *global, const fl_agg *a, adaptive_kind kind)
{
    double *m = s->v[0], *v = s->v[1];
    const double b1 = s->p.beta1, b2 = s->p.beta2, tau = s->p.tau, lr = s->p.server_lr;
    for (size_t i = 0; i < s->n; i++) {
        const double d = a->sum[i] / a->wsum, d2 = d * d;
        m[i] = b1 * m[i] + (1 - b1) * d;
        switch (kind) {
        case OPT_ADAGRAD:
            v[i] = v[i] + d2;
            break;
        case OPT_ADAM:
            v[i] = b2 * v[i] + (1 - b2) * d2;
            break;
        case OPT_YOGI: {
            const double diff = v[i] - d2;
            v[i] = v[i] - (1 - b2) * d2 * (double)((diff > 0) - (diff < 0));
            break;
        }
        }
        global[i] = (float)((double)global[i] + lr * m[i] / (sqrt(v[i]) + tau));
    }
}

static void fedadagrad_server(fl_server *s, float *global, const fl_agg *a)
{
    adaptive_step(s, global, a, OPT_ADAGRAD);
}

static void fedadam_server(fl_server *s, float *global, const fl_agg *a)
{
    adaptive_step(s, global, a, OPT_ADAM);
}

static void fedyogi_server(fl_server *s, float *global, const fl_agg *a)
{
    adaptive_step(s, global, a, OPT_YOGI);
}

#define REDDI "Reddi et al., Adaptive Federated Optimization, ICLR 2021"

const fl_algorithm fl_fedavgm = {
    .name = "fedavgm",
    .cite = "Hsu et al., Measuring the Effects of Non-Identical Data Distribution for Federated "
            "Visual Classification, arXiv:1909.06335, 2019",
    .client_update = fl_fedavg_client,
    .server_vecs = 1,
    .server_update = fedavgm_server,
};

const fl_algorithm fl_fedadagrad = {
    .name = "fedadagrad",
    .cite = REDDI " (FedAdagrad)",
    .client_update = fl_fedavg_client,
    .server_vecs = 2,
    .server_init = adaptive_init,
    .server_update = fedadagrad_server,
};

const fl_algorithm fl_fedadam = {
    .name = "fedadam",
    .cite = REDDI " (FedAdam)",
    .client_update = fl_fedavg_client,
    .server_vecs = 2,
    .server_init = adaptive_init,
    .server_update = fedadam_server,
};

const fl_algorithm fl_fedyogi = {
    .name = "fedyogi",
    .cite = REDDI " (FedYogi)",
    .client_update = fl_fedavg_client,
    .server_vecs = 2,
    .server_init = adaptive_init,
    .server_update = fedyogi_server,
};
