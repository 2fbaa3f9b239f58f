/* Coordinate-wise trimmed mean (Yin, Chen, Ramchandran and Bartlett, ICML 2018, Definition 2):
 * at every coordinate the f largest and f smallest values are removed and the rest averaged.
 * The survivors are averaged with the algorithm's weights, summed in arrival order, so that
 * f = 0 is FedAvg's aggregate bit for bit (with equal weights it is the paper's plain mean of
 * the n - 2f survivors). Needs n > 2f. kept: the fraction of coordinates not trimmed. */
#include "fl/robust/robust.h"

#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

static int trimmed_max_f(int n)
{
    return (n - 1) / 2;
}

/* with f > 0: the per-thread cut counts, sorted column and trimmed flags */
static double trimmed_bytes(const fl_robust_in *in)
{
    const int n = in->n, T = in->p->threads > 0 ? in->p->threads : 1;
    const int f = in->p->f < 0 ? 0 : in->p->f > trimmed_max_f(n) ? trimmed_max_f(n) : in->p->f;
    return f == 0 ? 0 : (double)T * n * (sizeof(long) + sizeof(fl_vi) + 1);
}

static fs_err trimmed_aggregate(const fl_robust_in *in, fl_robust_out *out)
{
    const int n = in->n, T = in->p->threads > 0 ? in->p->threads : 1;
    const size_t d = in->d;
    const int f = in->p->f < 0 ? 0 : in->p->f > trimmed_max_f(n) ? trimmed_max_f(n) : in->p->f;
    const double W = fl_robust_wsum(in->w, n);
    out->wsum = W;
    if (f == 0) { /* nothing trimmed: the weighted mean, exactly as fl_agg_add sums it */
        memset(out->sum, 0, d * sizeof *out->sum);
        for (int k = 0; k < n; k++) {
            const float *u = in->u + (size_t)k * d;
            for (size_t i = 0; i < d; i++) out->sum[i] += in->w[k] * (double)u[i];
            out->kept[k] = 1;
        }
        return FS_OK;
    }
    long *cut = calloc((size_t)T * n, sizeof *cut);
    if (!cut) return fs_error(FS_ENOMEM, "out of memory for the trimmed mean");
    int fail = 0;
#ifdef _OPENMP
#pragma omp parallel num_threads(T) reduction(| : fail)
#endif
    {
        int t = 0;
#ifdef _OPENMP
        t = omp_get_thread_num();
#endif
        fl_vi *col = malloc((size_t)n * sizeof *col);
        uint8_t *out_k = malloc((size_t)n);
        if (!col || !out_k) fail = 1;
#ifdef _OPENMP
#pragma omp for schedule(static)
#endif
        for (size_t i = 0; i < d; i++) {
            if (!col || !out_k) continue;
            fl_robust_sort_col(in->u, n, d, i, col);
            memset(out_k, 0, (size_t)n);
            for (int j = 0; j < f; j++) {
                out_k[col[j].k] = 1;
                out_k[col[n - 1 - j].k] = 1;
                cut[(size_t)t * n + col[j].k]++;
                cut[(size_t)t * n + col[n - 1 - j].k]++;
            }
            double s = 0, sw = 0;
            for (int k = 0; k < n; k++)
                if (!out_k[k]) {
                    s += in->w[k] * (double)in->u[(size_t)k * d + i];
                    sw += in->w[k];
                }
            out->sum[i] = sw > 0 ? s / sw * W : 0;
        }
        free(col);
        free(out_k);
    }
    for (int k = 0; k < n; k++) {
        long c = 0;
        for (int t = 0; t < T; t++) c += cut[(size_t)t * n + k];
        out->kept[k] = d ? 1.0 - (double)c / (double)d : 1;
    }
    free(cut);
    return fail ? fs_error(FS_ENOMEM, "out of memory for the trimmed mean") : FS_OK;
}

const fl_robust_rule fl_rule_trimmed_mean = {
    .name = "trimmed_mean",
    .cite = "Yin et al., Byzantine-Robust Distributed Learning: Towards Optimal Statistical "
            "Rates, ICML 2018",
    .max_f = trimmed_max_f,
    .aggregate = trimmed_aggregate,
    .scratch_bytes = trimmed_bytes,
};
