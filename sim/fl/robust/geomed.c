/* Geometric median, RFA (Pillutla, Kakade and Harchaoui, "Robust Aggregation for Federated
 * Learning", IEEE Trans. Signal Processing 2022, Algorithm 2, the smoothed Weiszfeld
 * algorithm): v minimises sum_k a_k max(nu, ||v - u_k||) with a_k = w_k / W. From the weighted
 * mean, each step sets beta_k = a_k / max(nu, ||v - u_k||) and v = sum_k beta_k u_k /
 * sum_k beta_k, until the objective changes by less than tol (relative) or after `iters` steps
 * (default 100). kept: the update's Weiszfeld weight beta_k / a_k relative to the largest. */
#include "fl/robust/robust.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static int geomed_max_f(int n)
{
    return (n - 1) / 2;
}

static double dist(const double *v, const float *u, size_t d)
{
    double s = 0;
    for (size_t i = 0; i < d; i++) {
        const double x = v[i] - (double)u[i];
        s += x * x;
    }
    return sqrt(s);
}

/* Weiszfeld's weights and next iterate */
static double geomed_bytes(const fl_robust_in *in)
{
    return (double)in->n * sizeof(double) + (double)in->d * sizeof(double);
}

static fs_err geomed_aggregate(const fl_robust_in *in, fl_robust_out *out)
{
    const int n = in->n;
    const size_t d = in->d;
    const double W = fl_robust_wsum(in->w, n), nu = in->p->nu > 0 ? in->p->nu : 1e-6;
    const int iters = in->p->iters > 0 ? in->p->iters : 100;
    const double tol = in->p->tol > 0 ? in->p->tol : 1e-6;
    double *v = out->sum, *beta = malloc((size_t)n * sizeof *beta), *nxt = malloc(d * sizeof *nxt);
    if (!beta || !nxt) {
        free(beta), free(nxt);
        return fs_error(FS_ENOMEM, "out of memory for the geometric median");
    }
    memset(v, 0, d * sizeof *v);
    for (int k = 0; k < n; k++)
        for (size_t i = 0; i < d; i++) v[i] += in->w[k] / W * (double)in->u[(size_t)k * d + i];
    double obj = 0;
    for (int k = 0; k < n; k++) {
        const double dk = dist(v, in->u + (size_t)k * d, d);
        beta[k] = 1 / (dk > nu ? dk : nu);
        obj += in->w[k] / W * (dk > nu ? dk : nu);
    }
    for (int it = 0; it < iters; it++) {
        double bs = 0;
        memset(nxt, 0, d * sizeof *nxt);
        for (int k = 0; k < n; k++) {
            const double b = in->w[k] / W * beta[k];
            bs += b;
            const float *u = in->u + (size_t)k * d;
            for (size_t i = 0; i < d; i++) nxt[i] += b * (double)u[i];
        }
        for (size_t i = 0; i < d; i++) v[i] = nxt[i] / bs;
        double o = 0;
        for (int k = 0; k < n; k++) {
            const double dk = dist(v, in->u + (size_t)k * d, d);
            beta[k] = 1 / (dk > nu ? dk : nu);
            o += in->w[k] / W * (dk > nu ? dk : nu);
        }
        const double change = fabs(obj - o);
        obj = o;
        if (change <= tol * o) break;
    }
    double bmax = 0;
    for (int k = 0; k < n; k++) bmax = beta[k] > bmax ? beta[k] : bmax;
    for (int k = 0; k < n; k++) out->kept[k] = bmax > 0 ? beta[k] / bmax : 1;
    for (size_t i = 0; i < d; i++) v[i] *= W;
    out->wsum = W;
    free(beta), free(nxt);
    return FS_OK;
}

const fl_robust_rule fl_rule_geomed = {
    .name = "geomed",
    .cite = "Pillutla et al., Robust Aggregation for Federated Learning, IEEE Transactions on "
            "Signal Processing 2022",
    .max_f = geomed_max_f,
    .aggregate = geomed_aggregate,
    .scratch_bytes = geomed_bytes,
};
