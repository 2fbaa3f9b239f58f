/* SGD step (see optim.h). One pass over the flat parameter buffer (or its trainable ranges).
 * The element-wise loops are marked `omp simd` (vectorised also at -O2; element-wise, so the
 * results are the bits of the scalar loop); the clipping norm stays a scalar double sum. */
#include "nn/optim.h"

#include <math.h>

#include "util/simd.h"

double nn_norm2(const float *x, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++) s += (double)x[i] * (double)x[i];
    return sqrt(s);
}

/* The step on [lo, hi) in one pass per case, g zeroed behind it when zero_g (a constant in
 * each caller, so the branch folds away). Every element goes through the operations of
 * torch.optim.SGD in their order: d = g + wd * w (the old w); v = d or mu * v + d;
 * w -= lr * (nesterov ? d + mu * v : v), with wd = 0 and mu = 0 leaving out their terms
 * (g + 0 * w == g for every finite w). */
FS_SIMD_INLINE void sgd_pass(const nn_sgd *o, float *restrict w, float *restrict g,
                             float *restrict v, size_t lo, size_t hi, int init, int zero_g)
{
    const float lr = (float)o->lr, mu = (float)o->momentum, wd = (float)o->weight_decay;
    if (mu == 0.0f && wd == 0.0f) {
#pragma omp simd
        for (size_t i = lo; i < hi; i++) {
            w[i] -= lr * g[i];
            if (zero_g) g[i] = 0.0f;
        }
    } else if (mu == 0.0f) {
#pragma omp simd
        for (size_t i = lo; i < hi; i++) {
            w[i] -= lr * (g[i] + wd * w[i]);
            if (zero_g) g[i] = 0.0f;
        }
    } else if (init && o->nesterov) {
#pragma omp simd
        for (size_t i = lo; i < hi; i++) {
            const float d = g[i] + wd * w[i];
            v[i] = d;
            w[i] -= lr * (d + mu * v[i]);
            if (zero_g) g[i] = 0.0f;
        }
    } else if (init) {
#pragma omp simd
        for (size_t i = lo; i < hi; i++) {
            v[i] = g[i] + wd * w[i];
            w[i] -= lr * v[i];
            if (zero_g) g[i] = 0.0f;
        }
    } else if (o->nesterov) {
#pragma omp simd
        for (size_t i = lo; i < hi; i++) {
            const float d = g[i] + wd * w[i];
            v[i] = mu * v[i] + d;
            w[i] -= lr * (d + mu * v[i]);
            if (zero_g) g[i] = 0.0f;
        }
    } else {
#pragma omp simd
        for (size_t i = lo; i < hi; i++) {
            v[i] = mu * v[i] + (g[i] + wd * w[i]);
            w[i] -= lr * v[i];
            if (zero_g) g[i] = 0.0f;
        }
    }
}

FS_SIMD_INLINE void nn_sgd_step_range_body(const nn_sgd *o, float *w, const float *g, float *v,
                                           size_t lo, size_t hi, int init)
{
    sgd_pass(o, w, (float *)g, v, lo, hi, init, 0); /* g is only read */
}

FS_SIMD_INLINE void nn_sgd_step_range_zero_body(const nn_sgd *o, float *w, float *g, float *v,
                                                size_t lo, size_t hi, int init)
{
    sgd_pass(o, w, g, v, lo, hi, init, 1);
}

FS_SIMD_DISPATCH(nn_sgd_step_range,
                 (const nn_sgd *o, float *w, const float *g, float *v, size_t lo, size_t hi,
                  int init),
                 (o, w, g, v, lo, hi, init))
FS_SIMD_DISPATCH(nn_sgd_step_range_zero,
                 (const nn_sgd *o, float *w, float *g, float *v, size_t lo, size_t hi, int init),
                 (o, w, g, v, lo, hi, init))

void nn_sgd_step(const nn_sgd *o, float *w, float *g, float *v, size_t n, int *first)
{
    const size_t all[2] = {0, n};
    nn_sgd_step_ranges(o, w, g, v, all, 1, first);
}

void nn_sgd_step_ranges(const nn_sgd *o, float *w, float *g, float *v, const size_t *r, int nr,
                        int *first)
{
    if (o->clip_norm > 0) {
        double s = 0;
        for (int k = 0; k < nr; k++)
            for (size_t i = r[2 * k]; i < r[2 * k + 1]; i++) s += (double)g[i] * (double)g[i];
        const double norm = sqrt(s);
        if (norm > o->clip_norm) {
            const float sc = (float)(o->clip_norm / norm);
            for (int k = 0; k < nr; k++)
#pragma omp simd
                for (size_t i = r[2 * k]; i < r[2 * k + 1]; i++) g[i] *= sc;
        }
    }
    for (int k = 0; k < nr; k++) nn_sgd_step_range(o, w, g, v, r[2 * k], r[2 * k + 1], *first);
    if (o->momentum != 0.0) *first = 0;
}
