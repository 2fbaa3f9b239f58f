/* AUC by ranks (see auc.h): sort the scores, give tied scores their average rank, and
 * AUC = (sum of positive ranks - P (P + 1) / 2) / (P N) (Mann and Whitney 1947; Hanley and
 * McNeil 1982). Sorting is by (score, index), so the result does not depend on qsort. */
#include "vfl/auc.h"

#include <math.h>
#include <stdlib.h>

static _Thread_local const double *g_scores; /* qsort has no context argument in C11 */

static int cmp_idx(const void *a, const void *b)
{
    const size_t i = *(const size_t *)a, j = *(const size_t *)b;
    const double x = g_scores[i], y = g_scores[j];
    if (x < y) return -1;
    if (x > y) return 1;
    return (i > j) - (i < j);
}

double vfl_auc(const double *score, const uint8_t *pos, size_t n, size_t *idx)
{
    size_t *own = NULL;
    if (!idx) idx = own = malloc((n ? n : 1) * sizeof *idx);
    if (!idx) return NAN;
    for (size_t i = 0; i < n; i++) idx[i] = i;
    g_scores = score;
    qsort(idx, n, sizeof *idx, cmp_idx);
    double npos = 0, rank_sum = 0;
    for (size_t a = 0; a < n;) {
        size_t b = a + 1;
        while (b < n && score[idx[b]] == score[idx[a]]) b++;
        const double avg = 0.5 * (double)(a + 1 + b); /* ranks a+1 .. b */
        for (size_t k = a; k < b; k++)
            if (pos[idx[k]]) {
                rank_sum += avg;
                npos++;
            }
        a = b;
    }
    free(own);
    const double nneg = (double)n - npos;
    if (npos == 0 || nneg == 0) return NAN;
    return (rank_sum - npos * (npos + 1) / 2) / (npos * nneg);
}

double vfl_auc_ovr(const float *prob, const int32_t *y, size_t n, int K)
{
    double *s = malloc((n ? n : 1) * sizeof *s);
    uint8_t *pos = malloc(n ? n : 1);
    size_t *idx = malloc((n ? n : 1) * sizeof *idx);
    double sum = 0;
    int used = 0;
    for (int c = 0; c < K && s && pos && idx; c++) {
        for (size_t i = 0; i < n; i++) {
            s[i] = prob[i * (size_t)K + (size_t)c];
            pos[i] = y[i] == c;
        }
        const double a = vfl_auc(s, pos, n, idx);
        if (!isnan(a)) {
            sum += a;
            used++;
        }
    }
    free(s);
    free(pos);
    free(idx);
    return used ? sum / used : NAN;
}
