/* The fast paths of the kernels against plain scalar references, bit for bit: the 2x2
 * stride-2 max-pool (SSE2 tree reduction) against the sequential window scan, with ties,
 * zeros from ReLU, NaNs and odd sizes; the vectorised SGD step against the scalar update of
 * torch.optim.SGD in every branch (plain, weight decay, momentum first and later steps,
 * Nesterov, clipping, trainable ranges). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "nn/optim.h"
#include "nn/pool.h"
#include "nn_testutil.h"

/* The definition of max-pool argmax: first maximum in row-major window order, a NaN wins. */
static void maxpool_ref(float *out, int32_t *am, const float *in, const nn_pool2d_dims *d)
{
    const int OH = nn_pool2d_out_h(d), OW = nn_pool2d_out_w(d);
    for (int p = 0; p < d->B * d->C; p++)
        for (int oh = 0; oh < OH; oh++)
            for (int ow = 0; ow < OW; ow++) {
                const float *x = in + (size_t)p * d->H * d->W;
                int best = oh * d->stride_h * d->W + ow * d->stride_w;
                float m = x[best];
                for (int kh = 0; kh < d->KH; kh++)
                    for (int kw = 0; kw < d->KW; kw++) {
                        int j = (oh * d->stride_h + kh) * d->W + ow * d->stride_w + kw;
                        if (x[j] > m || (isnan(x[j]) && !isnan(m))) m = x[j], best = j;
                    }
                out[((size_t)p * OH + oh) * OW + ow] = m;
                am[((size_t)p * OH + oh) * OW + ow] = best;
            }
}

static void test_maxpool_2x2(void **state)
{
    (void)state;
    rng_t r;
    rng_init(&r, 41, RNG_TEST, 0, 0);
    const int shapes[][4] = {{2, 3, 24, 24}, {1, 2, 9, 11}, {3, 1, 2, 2}, {1, 4, 7, 18}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        nn_pool2d_dims d = {shapes[s][0], shapes[s][1], shapes[s][2], shapes[s][3], 2, 2, 2, 2};
        const size_t n = (size_t)d.B * d.C * d.H * d.W;
        const size_t no = (size_t)d.B * d.C * nn_pool2d_out_h(&d) * nn_pool2d_out_w(&d);
        float *x = nn_tu_alloc(n), *y = nn_tu_alloc(no), *yr = nn_tu_alloc(no);
        int32_t *a = calloc(no, sizeof *a), *ar = calloc(no, sizeof *ar);
        for (size_t i = 0; i < n; i++) {
            const double u = rng_uniform(&r);
            /* few distinct values (ties), many zeros (after ReLU), some NaNs, -0 and +0 */
            x[i] = u < 0.3    ? 0.0f
                   : u < 0.35 ? -0.0f
                   : u < 0.4  ? NAN
                              : (float)(int)(4 * rng_uniform(&r)) - 1.0f;
        }
        nn_maxpool2d_forward(y, a, x, &d);
        maxpool_ref(yr, ar, x, &d);
        assert_memory_equal(y, yr, no * sizeof(float));
        assert_memory_equal(a, ar, no * sizeof(int32_t));
        free(x);
        free(y);
        free(yr);
        free(a);
        free(ar);
    }
}

/* torch.optim.SGD, one element at a time */
static void sgd_ref(const nn_sgd *o, float *w, float *g, float *v, size_t lo, size_t hi, int first,
                    float clip_scale)
{
    const float lr = (float)o->lr, mu = (float)o->momentum, wd = (float)o->weight_decay;
    for (size_t i = lo; i < hi; i++) {
        if (clip_scale != 1.0f) g[i] *= clip_scale;
        float d = g[i] + wd * w[i];
        if (mu != 0.0f) {
            v[i] = first ? d : mu * v[i] + d;
            d = o->nesterov ? d + mu * v[i] : v[i];
        }
        w[i] -= lr * d;
    }
}

static void test_sgd_branches(void **state)
{
    (void)state;
    enum { N = 301 };
    const nn_sgd cases[] = {{0.1, 0, 0, 0, 0},       {0.1, 0, 0.01, 0, 0},
                            {0.05, 0.9, 0, 0, 0},    {0.05, 0.9, 1e-3, 0, 0},
                            {0.05, 0.9, 1e-3, 1, 0}, {0.2, 0.5, 0, 1, 0.5}};
    const size_t ranges[4] = {10, 100, 150, 301};
    rng_t r;
    rng_init(&r, 42, RNG_TEST, 0, 0);
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        float w[N], g[N], v[N], w2[N], g2[N], v2[N], w0[N];
        nn_tu_fill_normal(w, N, 1.0f, &r);
        memcpy(w2, w, sizeof w);
        memcpy(w0, w, sizeof w);
        memset(v, 0, sizeof v);
        memset(v2, 0, sizeof v2);
        int first = 1;
        for (int step = 0; step < 3; step++) {
            nn_tu_fill_normal(g, N, 1.0f, &r);
            memcpy(g2, g, sizeof g);
            nn_sgd_step_ranges(&cases[k], w, g, v, ranges, 2, &first);
            float scale = 1.0f;
            if (cases[k].clip_norm > 0) {
                double s = 0;
                for (int q = 0; q < 2; q++)
                    for (size_t i = ranges[2 * q]; i < ranges[2 * q + 1]; i++)
                        s += (double)g2[i] * g2[i];
                if (sqrt(s) > cases[k].clip_norm) scale = (float)(cases[k].clip_norm / sqrt(s));
            }
            for (int q = 0; q < 2; q++)
                sgd_ref(&cases[k], w2, g2, v2, ranges[2 * q], ranges[2 * q + 1], step == 0, scale);
            assert_memory_equal(w, w2, sizeof w);
            if (cases[k].momentum != 0) assert_memory_equal(v, v2, sizeof v);
        }
        /* outside the ranges nothing moved */
        for (size_t i = 0; i < N; i++)
            if (i < 10 || (i >= 100 && i < 150)) assert_true(w[i] == w0[i]);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_maxpool_2x2),
        cmocka_unit_test(test_sgd_branches),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
