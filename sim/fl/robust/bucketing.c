/* Bucketing (Karimireddy, He and Jaggi, "Byzantine-Robust Learning on Heterogeneous Datasets via
 * Bucketing", ICLR 2022, Algorithm 1): a wrapper around any rule for non-IID data. The round's
 * updates are permuted (stream (seed, RNG_ROBUST, 0, round), supplied by the caller), cut into
 * ceil(n / s) buckets of s consecutive updates, each bucket replaced by its weighted mean with
 * the bucket's total weight, and the rule aggregates the bucket means. */
#include "fl/robust/robust.h"

#include <stdlib.h>
#include <string.h>

double fl_robust_bucketed_bytes(const fl_robust_rule *rule, const fl_robust_in *in, int s)
{
    if (s <= 1 || in->n <= 1) return rule->scratch_bytes ? rule->scratch_bytes(in) : 0;
    const double n = in->n, nb = (in->n + s - 1) / s, d = (double)in->d;
    fl_robust_in bin = *in;
    bin.n = (int)nb;
    return n * sizeof(uint32_t) + nb * d * sizeof(float) + 2 * nb * sizeof(double) +
           d * sizeof(double) + (rule->scratch_bytes ? rule->scratch_bytes(&bin) : 0);
}

fs_err fl_robust_bucketed(const fl_robust_rule *rule, const fl_robust_in *in, int s, rng_t *r,
                          fl_robust_out *out)
{
    if (s <= 1 || in->n <= 1) return rule->aggregate(in, out);
    const int n = in->n, nb = (n + s - 1) / s;
    const size_t d = in->d;
    uint32_t *perm = malloc((size_t)n * sizeof *perm);
    float *bu = malloc((size_t)nb * d * sizeof *bu);
    double *bw = malloc((size_t)nb * sizeof *bw), *bkept = malloc((size_t)nb * sizeof *bkept),
           *acc = malloc(d * sizeof *acc);
    if (!perm || !bu || !bw || !bkept || !acc) {
        free(perm), free(bu), free(bw), free(bkept), free(acc);
        return fs_error(FS_ENOMEM, "out of memory for %d buckets of %zu parameters", nb, d);
    }
    for (int k = 0; k < n; k++) perm[k] = (uint32_t)k;
    rng_shuffle_u32(r, perm, (size_t)n);
    for (int b = 0; b < nb; b++) {
        memset(acc, 0, d * sizeof *acc);
        double ws = 0;
        for (int j = b * s; j < n && j < (b + 1) * s; j++) {
            const uint32_t k = perm[j];
            const float *u = in->u + (size_t)k * d;
            for (size_t i = 0; i < d; i++) acc[i] += in->w[k] * (double)u[i];
            ws += in->w[k];
        }
        for (size_t i = 0; i < d; i++) bu[(size_t)b * d + i] = ws > 0 ? (float)(acc[i] / ws) : 0;
        bw[b] = ws;
    }
    fl_robust_in bin = *in;
    bin.n = nb;
    bin.u = bu;
    bin.w = bw;
    fl_robust_out bout = {out->sum, 0, bkept};
    fs_err e = rule->aggregate(&bin, &bout);
    out->wsum = bout.wsum;
    for (int j = 0; j < n; j++) out->kept[perm[j]] = bkept[j / s];
    free(perm), free(bu), free(bw), free(bkept), free(acc);
    return e;
}
