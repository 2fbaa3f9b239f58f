/* Norm bounding with optional weak differential privacy (Sun, Kairouz, Suresh and McMahan, "Can
 * You Really Backdoor Federated Learning?", 2019, Section 4): every update is scaled to L2 norm
 * at most M (u / max(1, ||u|| / M)), the scaled updates are averaged with the algorithm's
 * weights, and Gaussian noise N(0, sigma^2) is added to every coordinate of the mean (sigma =
 * aggregation.noise, from the stream (seed, RNG_ROBUST, 1, round)). M = aggregation.clip.
 * kept: the scale min(1, M / ||u||). */
#include "fl/robust/robust.h"

#include <math.h>
#include <string.h>

static fs_err normbound_aggregate(const fl_robust_in *in, fl_robust_out *out)
{
    const size_t d = in->d;
    const double M = in->p->clip;
    memset(out->sum, 0, d * sizeof *out->sum);
    for (int k = 0; k < in->n; k++) {
        const float *u = in->u + (size_t)k * d;
        double s2 = 0;
        for (size_t i = 0; i < d; i++) s2 += (double)u[i] * (double)u[i];
        const double nrm = sqrt(s2), sc = nrm > M ? M / nrm : 1;
        out->kept[k] = sc;
        const double a = in->w[k] * sc;
        for (size_t i = 0; i < d; i++) out->sum[i] += a * (double)u[i];
    }
    out->wsum = fl_robust_wsum(in->w, in->n);
    if (in->p->noise > 0) {
        rng_t r;
        rng_init(&r, in->p->seed, RNG_ROBUST, 1, in->p->round);
        for (size_t i = 0; i < d; i++) out->sum[i] += out->wsum * in->p->noise * rng_normal(&r);
    }
    return FS_OK;
}

const fl_robust_rule fl_rule_normbound = {
    .name = "norm_bound",
    .cite = "Sun et al., Can You Really Backdoor Federated Learning?, arXiv:1911.07963, 2019",
    .aggregate = normbound_aggregate,
};
