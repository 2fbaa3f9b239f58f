/* Krum and Multi-Krum (Blanchard, El Mhamdi, Guerraoui and Stainer, "Machine Learning with
 * Adversaries: Byzantine Tolerant Gradient Descent", NeurIPS 2017, Sections 4 and 5): each
 * update's score is the sum of its squared distances to its n - f - 2 nearest other updates;
 * Krum keeps the update with the lowest score, Multi-Krum the m lowest (m = aggregation.m, by
 * default n - f) and averages them (with the algorithm's weights, in arrival order: Multi-Krum
 * with m = n is FedAvg bit for bit). Ties go to the earlier arrival. Needs n > 2f + 2. */
#include "fl/robust/robust.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static int krum_max_f(int n)
{
    return (n - 3) / 2;
}

/* Average the m updates with the lowest Krum scores. */
static fs_err krum_select(const fl_robust_in *in, int m, fl_robust_out *out)
{
    const int n = in->n;
    const size_t d = in->d;
    const int f = in->p->f < 0               ? 0
                  : in->p->f > krum_max_f(n) ? (krum_max_f(n) > 0 ? krum_max_f(n) : 0)
                                             : in->p->f;
    double *D = malloc((size_t)n * n * sizeof *D), *score = malloc((size_t)n * sizeof *score);
    if (!D || !score) {
        free(D);
        free(score);
        return fs_error(FS_ENOMEM, "out of memory for Krum's %d x %d distances", n, n);
    }
    fl_robust_sqdist(in->u, n, d, D, in->p->threads);
    fl_krum_scores(D, n, f, NULL, score);
    if (m < 1) m = 1;
    if (m > n) m = n;
    for (int k = 0; k < n; k++) out->kept[k] = 0;
    for (int j = 0; j < m; j++) { /* the lowest remaining score, earliest arrival on ties */
        int best = -1;
        for (int k = 0; k < n; k++)
            if (!out->kept[k] && (best < 0 || score[k] < score[best])) best = k;
        out->kept[best] = 1;
    }
    memset(out->sum, 0, d * sizeof *out->sum);
    out->wsum = 0;
    for (int k = 0; k < n; k++) {
        if (!out->kept[k]) continue;
        const float *u = in->u + (size_t)k * d;
        for (size_t i = 0; i < d; i++) out->sum[i] += in->w[k] * (double)u[i];
        out->wsum += in->w[k];
    }
    free(D);
    free(score);
    return FS_OK;
}

/* D, the scores, fl_krum_scores' row */
static double krum_bytes(const fl_robust_in *in)
{
    return fl_krum_bytes(in->n) + (double)in->n * sizeof(double);
}

static fs_err krum_aggregate(const fl_robust_in *in, fl_robust_out *out)
{
    return krum_select(in, 1, out);
}

static fs_err multi_krum_aggregate(const fl_robust_in *in, fl_robust_out *out)
{
    const int f = in->p->f < 0 ? 0 : in->p->f;
    return krum_select(in, in->p->m > 0 ? in->p->m : in->n - f, out);
}

const fl_robust_rule fl_rule_krum = {
    .name = "krum",
    .cite = "Blanchard et al., Machine Learning with Adversaries: Byzantine Tolerant Gradient "
            "Descent, NeurIPS 2017",
    .max_f = krum_max_f,
    .aggregate = krum_aggregate,
    .scratch_bytes = krum_bytes,
};

const fl_robust_rule fl_rule_multi_krum = {
    .name = "multi_krum",
    .cite = "Blanchard et al., Machine Learning with Adversaries: Byzantine Tolerant Gradient "
            "Descent, NeurIPS 2017",
    .max_f = krum_max_f,
    .aggregate = multi_krum_aggregate,
    .scratch_bytes = krum_bytes,
};
