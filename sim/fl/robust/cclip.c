/* Centered clipping (Karimireddy, He and Jaggi, "Learning from History for Byzantine Robust
 * Optimization", ICML 2021, Algorithm 2): from the centre v (the previous round's aggregate),
 * L times: v <- v + sum_k a_k clip_tau(u_k - v), clip_tau(x) = x min(1, tau / ||x||), with
 * a_k = w_k / W (the paper's 1/n when weights are equal). tau = aggregation.clip, L =
 * aggregation.iters (default 1, the paper's). kept: the last iteration's min(1, tau/||u_k - v||).
 */
#include "fl/robust/robust.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* the step of one iteration */
static double cclip_bytes(const fl_robust_in *in)
{
    return (double)in->d * sizeof(double);
}

static fs_err cclip_aggregate(const fl_robust_in *in, fl_robust_out *out)
{
    const int n = in->n, L = in->p->iters > 0 ? in->p->iters : 1;
    const size_t d = in->d;
    const double W = fl_robust_wsum(in->w, n), tau = in->p->clip;
    double *v = out->sum, *step = malloc(d * sizeof *step);
    if (!step) return fs_error(FS_ENOMEM, "out of memory for centered clipping");
    if (in->center)
        memcpy(v, in->center, d * sizeof *v);
    else
        memset(v, 0, d * sizeof *v);
    for (int l = 0; l < L; l++) {
        memset(step, 0, d * sizeof *step);
        for (int k = 0; k < n; k++) {
            const float *u = in->u + (size_t)k * d;
            double s2 = 0;
            for (size_t i = 0; i < d; i++) {
                const double x = (double)u[i] - v[i];
                s2 += x * x;
            }
            const double nrm = sqrt(s2), sc = nrm > tau ? tau / nrm : 1;
            out->kept[k] = sc;
            const double a = in->w[k] / W * sc;
            for (size_t i = 0; i < d; i++) step[i] += a * ((double)u[i] - v[i]);
        }
        for (size_t i = 0; i < d; i++) v[i] += step[i];
    }
    for (size_t i = 0; i < d; i++) v[i] *= W;
    out->wsum = W;
    free(step);
    return FS_OK;
}

const fl_robust_rule fl_rule_cclip = {
    .name = "centered_clip",
    .cite = "Karimireddy, He and Jaggi, Learning from History for Byzantine Robust "
            "Optimization, ICML 2021",
    .aggregate = cclip_aggregate,
    .scratch_bytes = cclip_bytes,
};
