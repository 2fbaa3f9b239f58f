/* Area under the ROC curve, as scikit-learn's roc_auc_score computes it: the Mann-Whitney
 * statistic with tied scores counted one half (average ranks). */
#ifndef FEDSIM_VFL_AUC_H
#define FEDSIM_VFL_AUC_H

#include <stddef.h>
#include <stdint.h>

/* Binary: score[i] of sample i, pos[i] nonzero for the positive class. NaN when only one class
 * is present (or n = 0). idx: scratch of n entries (NULL: allocated). */
double vfl_auc(const double *score, const uint8_t *pos, size_t n, size_t *idx);

/* Multi-class, one-vs-rest, macro average (roc_auc_score(multi_class="ovr",
 * average="macro")): prob (n, K) row-major class scores, y (n) labels in [0, K). Classes absent
 * from y are left out of the average. NaN if none counts. */
double vfl_auc_ovr(const float *prob, const int32_t *y, size_t n, int K);

#endif
