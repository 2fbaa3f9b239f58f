/* Bulyan (El Mhamdi, Guerraoui and Rouault, "The Hidden Vulnerability of Distributed Learning in
 * Byzantium", ICML 2018, Algorithm 1): theta = n - 2f updates are chosen by Krum applied
 * repeatedly (each time to the updates not yet chosen, with the same f); then at every
 * coordinate the beta = theta - 2f values closest to the chosen updates' median are averaged
 * (unweighted, as in the paper). Needs n >= 4f + 3. kept: for a chosen update, the fraction of
 * coordinates it entered; 0 for the others. */
#include "fl/robust/robust.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

static int bulyan_max_f(int n)
{
    return (n - 3) / 4;
}

/* D and Krum's row, the scores, active, sel, the per-thread counts and sorted columns */
static double bulyan_bytes(const fl_robust_in *in)
{
    const int n = in->n, T = in->p->threads > 0 ? in->p->threads : 1;
    const int mf = bulyan_max_f(n) > 0 ? bulyan_max_f(n) : 0;
    const int f = in->p->f < 0 ? 0 : in->p->f > mf ? mf : in->p->f;
    const double theta = n - 2 * f;
    return fl_krum_bytes(n) + (double)n * (sizeof(double) + 1 + sizeof(int)) +
           (double)T * n * sizeof(long) + T * theta * sizeof(fl_vi);
}

static fs_err bulyan_aggregate(const fl_robust_in *in, fl_robust_out *out)
{
    const int n = in->n, T = in->p->threads > 0 ? in->p->threads : 1;
    const size_t d = in->d;
    const int mf = bulyan_max_f(n) > 0 ? bulyan_max_f(n) : 0;
    const int f = in->p->f < 0 ? 0 : in->p->f > mf ? mf : in->p->f;
    const int theta = n - 2 * f, beta = theta - 2 * f;
    double *D = malloc((size_t)n * n * sizeof *D), *score = malloc((size_t)n * sizeof *score);
    uint8_t *active = malloc((size_t)n);
    int *sel = malloc((size_t)n * sizeof *sel);
    long *used = calloc((size_t)T * n, sizeof *used);
    if (!D || !score || !active || !sel || !used) {
        free(D), free(score), free(active), free(sel), free(used);
        return fs_error(FS_ENOMEM, "out of memory for Bulyan");
    }
    fl_robust_sqdist(in->u, n, d, D, in->p->threads);
    memset(active, 1, (size_t)n);
    for (int j = 0; j < theta; j++) { /* Krum over the updates not yet chosen */
        fl_krum_scores(D, n, f, active, score);
        int best = -1;
        for (int k = 0; k < n; k++)
            if (active[k] && (best < 0 || score[k] < score[best])) best = k;
        active[best] = 0;
        sel[j] = best;
    }
    /* the chosen rows in arrival order, so column sorting breaks ties by arrival */
    int ns = 0;
    for (int k = 0; k < n; k++)
        if (!active[k]) sel[ns++] = k;
    const double W = fl_robust_wsum(in->w, n);
    int fail = 0;
#ifdef _OPENMP
#pragma omp parallel num_threads(T) reduction(| : fail)
#endif
    {
        int t = 0;
#ifdef _OPENMP
        t = omp_get_thread_num();
#endif
        fl_vi *col = malloc((size_t)theta * sizeof *col);
        if (!col) fail = 1;
#ifdef _OPENMP
#pragma omp for schedule(static)
#endif
        for (size_t i = 0; i < d; i++) {
            if (!col) continue;
            for (int j = 0; j < theta; j++) col[j] = (fl_vi){in->u[(size_t)sel[j] * d + i], j};
            /* sort the chosen column (sel is in arrival order: ties by arrival) */
            for (int a = 1; a < theta; a++) {
                fl_vi x = col[a];
                int b = a - 1;
                while (b >= 0 && (col[b].v > x.v || (col[b].v == x.v && col[b].k > x.k))) {
                    col[b + 1] = col[b];
                    b--;
                }
                col[b + 1] = x;
            }
            const double med = theta % 2 ? (double)col[theta / 2].v
                                         : ((double)col[theta / 2 - 1].v + col[theta / 2].v) / 2;
            /* the beta values closest to the median: a window grown from the middle */
            int lo = theta / 2, hi = lo; /* window [lo, hi) */
            while (hi - lo < beta) {
                if (lo == 0)
                    hi++;
                else if (hi == theta)
                    lo--;
                else if (med - col[lo - 1].v <= col[hi].v - med)
                    lo--;
                else
                    hi++;
            }
            double s = 0;
            for (int j = lo; j < hi; j++) {
                s += col[j].v;
                used[(size_t)t * n + sel[col[j].k]]++;
            }
            out->sum[i] = s / beta * W;
        }
        free(col);
    }
    for (int k = 0; k < n; k++) {
        long c = 0;
        for (int t = 0; t < T; t++) c += used[(size_t)t * n + k];
        out->kept[k] = d ? (double)c / (double)d : !active[k];
    }
    out->wsum = W;
    free(D), free(score), free(active), free(sel), free(used);
    return fail ? fs_error(FS_ENOMEM, "out of memory for Bulyan") : FS_OK;
}

const fl_robust_rule fl_rule_bulyan = {
    .name = "bulyan",
    .cite = "El Mhamdi et al., The Hidden Vulnerability of Distributed Learning in Byzantium, "
            "ICML 2018",
    .max_f = bulyan_max_f,
    .aggregate = bulyan_aggregate,
    .scratch_bytes = bulyan_bytes,
};
