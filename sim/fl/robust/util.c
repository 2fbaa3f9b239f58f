/* Helpers shared by the robust aggregation rules: pairwise distances, Krum scores, sorted
 * columns. Pure functions; the parallel loops write disjoint outputs, so results do not depend on
 * the thread count. */
#include "fl/robust/robust.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void fl_robust_sqdist(const float *u, int n, size_t d, double *D, int threads)
{
    (void)threads;
#ifdef _OPENMP
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads)
#endif
    for (int i = 0; i < n; i++) {
        D[(size_t)i * n + i] = 0;
        for (int j = i + 1; j < n; j++) {
            const float *a = u + (size_t)i * d, *b = u + (size_t)j * d;
            double s = 0;
            for (size_t t = 0; t < d; t++) {
                const double x = (double)a[t] - (double)b[t];
                s += x * x;
            }
            D[(size_t)i * n + j] = s;
            D[(size_t)j * n + i] = s;
        }
    }
}

double fl_krum_bytes(int n)
{
    return (double)n * n * sizeof(double) + (n > 0 ? n : 1) * (double)sizeof(double);
}

static int cmp_double(const void *a, const void *b)
{
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

void fl_krum_scores(const double *D, int n, int f, const uint8_t *active, double *score)
{
    double *row = malloc((size_t)(n > 0 ? n : 1) * sizeof *row);
    FS_CHECK(row);
    int m = 0;
    for (int i = 0; i < n; i++) m += !active || active[i];
    const int nb = m - f - 2 > 0 ? m - f - 2 : 0;
    for (int i = 0; i < n; i++) {
        if (active && !active[i]) {
            score[i] = INFINITY;
            continue;
        }
        int c = 0;
        for (int j = 0; j < n; j++)
            if (j != i && (!active || active[j])) row[c++] = D[(size_t)i * n + j];
        qsort(row, (size_t)c, sizeof *row, cmp_double);
        double s = 0;
        for (int j = 0; j < nb && j < c; j++) s += row[j];
        score[i] = s;
    }
    free(row);
}

static int cmp_vi(const void *a, const void *b)
{
    const fl_vi *x = a, *y = b;
    if (x->v != y->v) return x->v < y->v ? -1 : 1;
    return (x->k > y->k) - (x->k < y->k);
}

void fl_robust_sort_col(const float *u, int n, size_t d, size_t i, fl_vi *col)
{
    for (int k = 0; k < n; k++) col[k] = (fl_vi){u[(size_t)k * d + i], k};
    /* insertion sort for the usual few updates, qsort beyond */
    if (n > 32) {
        qsort(col, (size_t)n, sizeof *col, cmp_vi);
        return;
    }
    for (int a = 1; a < n; a++) {
        fl_vi x = col[a];
        int b = a - 1;
        while (b >= 0 && cmp_vi(&col[b], &x) > 0) {
            col[b + 1] = col[b];
            b--;
        }
        col[b + 1] = x;
    }
}

double fl_robust_wsum(const double *w, int n)
{
    double s = 0;
    for (int k = 0; k < n; k++) s += w[k];
    return s;
}
