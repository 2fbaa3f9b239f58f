/* Coordinate-wise median (Yin, Chen, Ramchandran and Bartlett, "Byzantine-Robust Distributed
 * Learning: Towards Optimal Statistical Rates", ICML 2018, Definition 1): every coordinate of
 * the aggregate is the median of that coordinate over the round's updates (the mean of the two
 * middle values when n is even). Unweighted, as in the paper. kept: the fraction of coordinates
 * at which the update supplied (one of) the middle values. */
#include "fl/robust/robust.h"

#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

static int median_max_f(int n)
{
    return (n - 1) / 2;
}

/* the per-thread hit counts and sorted column */
static double median_bytes(const fl_robust_in *in)
{
    const int T = in->p->threads > 0 ? in->p->threads : 1;
    return (double)T * in->n * (sizeof(long) + sizeof(fl_vi));
}

static fs_err median_aggregate(const fl_robust_in *in, fl_robust_out *out)
{
    const int n = in->n, T = in->p->threads > 0 ? in->p->threads : 1;
    const size_t d = in->d;
    const double W = fl_robust_wsum(in->w, n);
    long *hits = calloc((size_t)T * n, sizeof *hits);
    if (!hits) return fs_error(FS_ENOMEM, "out of memory for the median");
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
        if (!col) fail = 1;
#ifdef _OPENMP
#pragma omp for schedule(static)
#endif
        for (size_t i = 0; i < d; i++) {
            if (!col) continue;
            fl_robust_sort_col(in->u, n, d, i, col);
            double med;
            if (n % 2) {
                med = col[n / 2].v;
                hits[(size_t)t * n + col[n / 2].k]++;
            } else {
                med = ((double)col[n / 2 - 1].v + (double)col[n / 2].v) / 2;
                hits[(size_t)t * n + col[n / 2 - 1].k]++;
                hits[(size_t)t * n + col[n / 2].k]++;
            }
            out->sum[i] = med * W;
        }
        free(col);
    }
    for (int k = 0; k < n; k++) {
        long h = 0;
        for (int t = 0; t < T; t++) h += hits[(size_t)t * n + k];
        out->kept[k] = d ? (double)h / (double)d : 1;
    }
    free(hits);
    out->wsum = W;
    return fail ? fs_error(FS_ENOMEM, "out of memory for the median") : FS_OK;
}

const fl_robust_rule fl_rule_median = {
    .name = "median",
    .cite = "Yin et al., Byzantine-Robust Distributed Learning: Towards Optimal Statistical "
            "Rates, ICML 2018",
    .max_f = median_max_f,
    .aggregate = median_aggregate,
    .scratch_bytes = median_bytes,
};
