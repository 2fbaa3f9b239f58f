/* Tests for sim/nn/conv.c: finite-difference gradients of the fast path, the im2col path
 * against the naive oracle on random shapes, the direct path's AVX-512 kernels against its AVX2
 * ones bit for bit (and the direct tests again at each width), the fused ReLU on every path bit
 * for bit against the separate one (-0 and NaN included), PyTorch fixtures, FLOPs and dims
 * checks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "nn/activation.h"
#include "nn/conv.h"
#include "nn/conv_direct.h"
#include "nn_testutil.h"
#include "util/simd.h"

typedef struct conv_case {
    nn_conv2d_dims d;
    size_t nx, nw, nout;
    float *x, *w, *b, *out, *r, *ws;
    float *dx, *dw, *db;
} conv_case;

static void cc_init(conv_case *c, const nn_conv2d_dims *d, rng_t *rng)
{
    assert_int_equal(nn_conv2d_check_dims(d), FS_OK);
    c->d = *d;
    c->nx = (size_t)d->B * d->IC * d->H * d->W;
    c->nw = (size_t)d->OC * d->IC * d->KH * d->KW;
    c->nout = (size_t)d->B * d->OC * nn_conv2d_out_h(d) * nn_conv2d_out_w(d);
    c->x = nn_tu_alloc(c->nx);
    c->w = nn_tu_alloc(c->nw);
    c->b = nn_tu_alloc(d->OC);
    c->out = nn_tu_alloc(c->nout);
    c->r = nn_tu_alloc(c->nout);
    c->ws = nn_tu_alloc(nn_conv2d_workspace_size(d));
    c->dx = nn_tu_alloc(c->nx);
    c->dw = nn_tu_alloc(c->nw);
    c->db = nn_tu_alloc(d->OC);
    nn_tu_fill_normal(c->x, c->nx, 1.0f, rng);
    nn_tu_fill_normal(c->w, c->nw, 0.5f, rng);
    nn_tu_fill_normal(c->b, d->OC, 1.0f, rng);
    nn_tu_fill_normal(c->r, c->nout, 1.0f, rng);
}

static void cc_free(conv_case *c)
{
    free(c->x);
    free(c->w);
    free(c->b);
    free(c->out);
    free(c->r);
    free(c->ws);
    free(c->dx);
    free(c->dw);
    free(c->db);
}

static double cc_loss(void *ctx)
{
    conv_case *c = ctx;
    nn_conv2d_forward(c->out, c->x, c->w, c->b, &c->d, c->ws);
    return nn_tu_dot(c->out, c->r, c->nout);
}

static void gradcheck_dims(const nn_conv2d_dims *d, uint64_t entity)
{
    rng_t rng;
    rng_init(&rng, 7, RNG_TEST, entity, 0);
    conv_case c;
    cc_init(&c, d, &rng);
    nn_conv2d_backward(c.dx, c.dw, c.db, c.r, c.x, c.w, &c.d, c.ws);
    nn_tu_check_grad("conv dx", cc_loss, &c, c.x, c.dx, c.nx, 3, &rng);
    nn_tu_check_grad("conv dw", cc_loss, &c, c.w, c.dw, c.nw, 3, &rng);
    nn_tu_check_grad("conv db", cc_loss, &c, c.b, c.db, (size_t)d->OC, 3, &rng);
    cc_free(&c);
}

static void test_gradcheck_stride2_pad1(void **state)
{
    nn_conv2d_dims d = {.B = 2,
                        .IC = 3,
                        .H = 7,
                        .W = 7,
                        .OC = 4,
                        .KH = 3,
                        .KW = 3,
                        .stride_h = 2,
                        .stride_w = 2,
                        .pad_h = 1,
                        .pad_w = 1};
    gradcheck_dims(&d, 1);
}

static void test_gradcheck_asymmetric(void **state)
{
    nn_conv2d_dims d = {.B = 2,
                        .IC = 2,
                        .H = 6,
                        .W = 9,
                        .OC = 3,
                        .KH = 2,
                        .KW = 4,
                        .stride_h = 1,
                        .stride_w = 3,
                        .pad_h = 0,
                        .pad_w = 2};
    gradcheck_dims(&d, 2);
}

static void test_gradcheck_pointwise(void **state)
{
    nn_conv2d_dims d = {.B = 2,
                        .IC = 5,
                        .H = 4,
                        .W = 3,
                        .OC = 3,
                        .KH = 1,
                        .KW = 1,
                        .stride_h = 1,
                        .stride_w = 1,
                        .pad_h = 0,
                        .pad_w = 0};
    gradcheck_dims(&d, 3);
}

/* Largest |v|, as the absolute scale of a comparison (sums of products can cancel). */
static double max_abs(const float *v, size_t n)
{
    double m = 0.0;
    for (size_t i = 0; i < n; i++) m = fmax(m, fabs((double)v[i]));
    return m;
}

/* Forward and backward of the fast kernels (whichever path nn_conv2d_set_direct and the shape
 * select) against the naive oracle, gradients accumulating onto non-zero values, the
 * workspace poisoned with NaN first. */
static void check_vs_naive(const nn_conv2d_dims *dp, rng_t *rng)
{
    const nn_conv2d_dims d = *dp;
    conv_case c;
    cc_init(&c, &d, rng);
    float *out2 = nn_tu_alloc(c.nout);
    float *dx2 = nn_tu_alloc(c.nx), *dw2 = nn_tu_alloc(c.nw), *db2 = nn_tu_alloc(d.OC);
    /* gradients start non-zero in both, to test accumulation */
    nn_tu_fill_normal(c.dx, c.nx, 1.0f, rng);
    nn_tu_fill_normal(c.dw, c.nw, 1.0f, rng);
    nn_tu_fill_normal(c.db, d.OC, 1.0f, rng);
    memcpy(dx2, c.dx, c.nx * sizeof(float));
    memcpy(dw2, c.dw, c.nw * sizeof(float));
    memcpy(db2, c.db, d.OC * sizeof(float));
    /* poison the workspace: the kernels must not read stale scratch */
    for (size_t i = 0; i < nn_conv2d_workspace_size(&d); i++) c.ws[i] = NAN;

    nn_conv2d_forward(c.out, c.x, c.w, c.b, &d, c.ws);
    nn_conv2d_forward_naive(out2, c.x, c.w, c.b, &d);
    nn_tu_assert_close("fast vs naive out", c.out, out2, c.nout, 1e-4,
                       1e-4 * max_abs(out2, c.nout));

    nn_conv2d_backward(c.dx, c.dw, c.db, c.r, c.x, c.w, &d, c.ws);
    nn_conv2d_backward_naive(dx2, dw2, db2, c.r, c.x, c.w, &d);
    nn_tu_assert_close("fast vs naive dx", c.dx, dx2, c.nx, 1e-4, 1e-4 * max_abs(dx2, c.nx));
    nn_tu_assert_close("fast vs naive dw", c.dw, dw2, c.nw, 1e-4, 1e-4 * max_abs(dw2, c.nw));
    nn_tu_assert_close("fast vs naive db", c.db, db2, d.OC, 1e-4, 1e-4 * max_abs(db2, d.OC));
    /* din or dw alone (the first layer of a model has no input gradient) */
    memcpy(c.dw, dw2, c.nw * sizeof(float));
    nn_conv2d_backward(NULL, c.dw, NULL, c.r, c.x, c.w, &d, c.ws);
    nn_conv2d_backward_naive(NULL, dw2, NULL, c.r, c.x, c.w, &d);
    nn_tu_assert_close("dw alone", c.dw, dw2, c.nw, 1e-4, 1e-4 * max_abs(dw2, c.nw));
    free(out2);
    free(dx2);
    free(dw2);
    free(db2);
    cc_free(&c);
}

static void test_fast_matches_naive(void **state)
{
    rng_t rng;
    rng_init(&rng, 11, RNG_TEST, 100, 0);
    nn_conv2d_set_direct(0); /* the im2col + sgemm path on every shape */
    int tested = 0;
    for (int it = 0; tested < 24; it++) {
        assert_true(it < 1000);
        nn_conv2d_dims d = {.B = 1 + (int)rng_below(&rng, 3),
                            .IC = 1 + (int)rng_below(&rng, 4),
                            .H = 1 + (int)rng_below(&rng, 12),
                            .W = 1 + (int)rng_below(&rng, 12),
                            .OC = 1 + (int)rng_below(&rng, 5),
                            .KH = 1 + (int)rng_below(&rng, 5),
                            .KW = 1 + (int)rng_below(&rng, 5),
                            .stride_h = 1 + (int)rng_below(&rng, 3),
                            .stride_w = 1 + (int)rng_below(&rng, 3),
                            .pad_h = (int)rng_below(&rng, 3),
                            .pad_w = (int)rng_below(&rng, 3)};
        /* make sure these paths are among them: the pointwise shortcut; one image per sgemm
         * (32x32 output); 2 images per sgemm with a last group of 1 (6x6 output, B = 5);
         * LeNet's second layer, which otherwise runs direct */
        if (tested == 0) d = (nn_conv2d_dims){2, 3, 5, 4, 4, 1, 1, 1, 1, 0, 0};
        if (tested == 1) d = (nn_conv2d_dims){2, 2, 34, 33, 3, 3, 4, 1, 1, 0, 1};
        if (tested == 2) d = (nn_conv2d_dims){5, 2, 8, 8, 3, 3, 3, 1, 1, 0, 0};
        if (tested == 3) d = (nn_conv2d_dims){3, 6, 12, 12, 16, 5, 5, 1, 1, 0, 0};
        if (nn_conv2d_check_dims(&d) != FS_OK) continue;
        tested++;
        check_vs_naive(&d, &rng);
    }
    nn_conv2d_set_direct(1);
}

/* The direct few-channel path (conv_direct.h) on the shapes it takes: LeNet's two layers,
 * channel counts that leave every tile remainder (1..24 output channels, 1..7 kernel columns,
 * several pixel-vector tails), a batch split into several dw chunks; and the shapes it must
 * refuse. Skipped, with a message, on a CPU without AVX2 + FMA (the im2col path runs there). */
static void test_direct_matches_naive(void **state)
{
    const nn_conv2d_dims lenet1 = {4, 1, 28, 28, 6, 5, 5, 1, 1, 0, 0};
    const nn_conv2d_dims lenet2 = {4, 6, 12, 12, 16, 5, 5, 1, 1, 0, 0};
    assert_true(nn_conv2d_direct_shape(&lenet1));
    assert_true(nn_conv2d_direct_shape(&lenet2));
    const nn_conv2d_dims refused[] = {
        {1, 1, 28, 28, 6, 5, 5, 1, 1, 2, 2},  /* padding */
        {1, 1, 28, 28, 6, 5, 5, 2, 2, 0, 0},  /* stride */
        {1, 1, 14, 14, 6, 5, 5, 1, 1, 0, 0},  /* OW = 10 */
        {1, 1, 12, 12, 32, 5, 5, 1, 1, 0, 0}, /* 32 output channels: sgemm territory */
        {1, 4, 8, 8, 4, 1, 1, 1, 1, 0, 0},    /* pointwise: no im2col anyway */
    };
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++)
        assert_false(nn_conv2d_direct_shape(&refused[i]));
    if (!nn_conv2d_direct_cpu()) {
        print_message("no AVX2 + FMA on this CPU: direct path not tested here\n");
        return;
    }
    rng_t rng;
    rng_init(&rng, 12, RNG_TEST, 100, 0);
    check_vs_naive(&lenet1, &rng);
    check_vs_naive(&lenet2, &rng);
    /* 3 x (3888 + 4096) floats per image: dw in chunks of 2, 2, 1 images */
    check_vs_naive(&(nn_conv2d_dims){5, 3, 36, 36, 4, 5, 5, 1, 1, 0, 0}, &rng);
    for (int it = 0; it < 30; it++) {
        const int KH = 1 + (int)rng_below(&rng, 6), KW = 1 + (int)rng_below(&rng, 7);
        const int OW = 8 * (1 + (int)rng_below(&rng, 3)), OH = 1 + (int)rng_below(&rng, 9);
        nn_conv2d_dims d = {1 + (int)rng_below(&rng, 3),
                            1 + (int)rng_below(&rng, 4),
                            OH + KH - 1,
                            OW + KW - 1,
                            1 + (int)rng_below(&rng, NN_CONV_DIRECT_MAX_OC),
                            KH,
                            KW,
                            1,
                            1,
                            0,
                            0};
        if (KH == 1 && KW == 1) d.KW = 2, d.W++;
        assert_true(nn_conv2d_direct_applies(&d));
        check_vs_naive(&d, &rng);
    }
    /* the same numbers up to rounding on both paths, switched at run time */
    conv_case a;
    nn_conv2d_dims d = lenet2;
    cc_init(&a, &d, &rng);
    float *o2 = nn_tu_alloc(a.nout);
    nn_conv2d_forward(a.out, a.x, a.w, a.b, &d, a.ws);
    nn_conv2d_set_direct(0);
    assert_false(nn_conv2d_direct_applies(&d));
    nn_conv2d_forward(o2, a.x, a.w, a.b, &d, a.ws);
    nn_conv2d_set_direct(1);
    nn_tu_assert_close("direct vs im2col", a.out, o2, a.nout, 1e-5, 1e-5 * max_abs(o2, a.nout));
    free(o2);
    cc_free(&a);
}

/* Finite differences through the direct path (LeNet's second layer, small batch). */
static void test_gradcheck_direct(void **state)
{
    gradcheck_dims(&(nn_conv2d_dims){2, 3, 10, 12, 5, 3, 5, 1, 1, 0, 0}, 5);
}

/* One direct forward and backward (dx and dw accumulating onto dx0 and dw0) at the width cap
 * level; with dx_alone also dw alone (a first layer). */
static void direct_at(int level, conv_case *c, float *out, float *dx, float *dw, float *dw1,
                      const float *dx0, const float *dw0)
{
    fs_simd_set_max(level);
    assert_true(nn_conv2d_direct_applies(&c->d));
    assert_int_equal(nn_conv2d_direct_avx512(), level == FS_SIMD_AVX512);
    for (size_t i = 0; i < nn_conv2d_workspace_size(&c->d); i++) c->ws[i] = NAN;
    memcpy(dx, dx0, c->nx * sizeof(float));
    memcpy(dw, dw0, c->nw * sizeof(float));
    memcpy(dw1, dw0, c->nw * sizeof(float));
    nn_conv2d_forward(out, c->x, c->w, c->b, &c->d, c->ws);
    nn_conv2d_backward(dx, dw, NULL, c->r, c->x, c->w, &c->d, c->ws);
    nn_conv2d_backward(NULL, dw1, NULL, c->r, c->x, c->w, &c->d, c->ws);
    fs_simd_set_max(FS_SIMD_AVX512);
}

/* The AVX-512 kernels give the AVX2 kernels' bits: forward, dx and dw (with and without dx). */
static void check_512_bits(const nn_conv2d_dims *d, rng_t *rng)
{
    conv_case c;
    cc_init(&c, d, rng);
    float *dx0 = nn_tu_alloc(c.nx), *dw0 = nn_tu_alloc(c.nw);
    nn_tu_fill_normal(dx0, c.nx, 1.0f, rng);
    nn_tu_fill_normal(dw0, c.nw, 1.0f, rng);
    float *o[2], *dx[2], *dw[2], *dw1[2];
    for (int k = 0; k < 2; k++) {
        o[k] = nn_tu_alloc(c.nout);
        dx[k] = nn_tu_alloc(c.nx);
        dw[k] = nn_tu_alloc(c.nw);
        dw1[k] = nn_tu_alloc(c.nw);
        direct_at(k ? FS_SIMD_AVX512 : FS_SIMD_AVX2, &c, o[k], dx[k], dw[k], dw1[k], dx0, dw0);
    }
    assert_memory_equal(o[0], o[1], c.nout * sizeof(float));
    assert_memory_equal(dx[0], dx[1], c.nx * sizeof(float));
    assert_memory_equal(dw[0], dw[1], c.nw * sizeof(float));
    assert_memory_equal(dw1[0], dw1[1], c.nw * sizeof(float));
    assert_memory_equal(dw[1], dw1[1], c.nw * sizeof(float));
    for (int k = 0; k < 2; k++) {
        free(o[k]);
        free(dx[k]);
        free(dw[k]);
        free(dw1[k]);
    }
    free(dx0);
    free(dw0);
    cc_free(&c);
}

/* The direct path's AVX-512 kernels against its AVX2 ones, bit for bit, and against the naive
 * oracle: LeNet's layers at batch 1, 10 and 32, shapes that leave every tile remainder (1..24
 * output channels, 1..8 input channels, kernels 2x2..5x5, output widths 8..48 with odd and
 * even numbers of 8-pixel vectors), dw chunks. Skipped, with a message, on a CPU without
 * AVX-512F + DQ. */
static void test_direct512_same_bits(void **state)
{
    (void)state;
    if (!nn_conv2d_direct_cpu() || !nn_conv2d_direct_avx512()) {
        print_message("no AVX-512F + DQ on this CPU: the AVX-512 direct kernels are not tested "
                      "here\n");
        return;
    }
    rng_t rng;
    rng_init(&rng, 13, RNG_TEST, 100, 0);
    const int batches[3] = {1, 10, 32};
    for (int i = 0; i < 3; i++) {
        check_512_bits(&(nn_conv2d_dims){batches[i], 1, 28, 28, 6, 5, 5, 1, 1, 0, 0}, &rng);
        check_512_bits(&(nn_conv2d_dims){batches[i], 6, 12, 12, 16, 5, 5, 1, 1, 0, 0}, &rng);
    }
    check_512_bits(&(nn_conv2d_dims){5, 3, 36, 36, 4, 5, 5, 1, 1, 0, 0}, &rng); /* dw chunks */
    for (int it = 0; it < 60; it++) {
        const int KH = 2 + (int)rng_below(&rng, 4), KW = 2 + (int)rng_below(&rng, 4);
        const int OW = 8 * (1 + (int)rng_below(&rng, 6)), OH = 1 + (int)rng_below(&rng, 9);
        /* the first 24 iterations: every output channel count */
        const int OC = it < 24 ? it + 1 : 1 + (int)rng_below(&rng, NN_CONV_DIRECT_MAX_OC);
        nn_conv2d_dims d = {1 + (int)rng_below(&rng, 3),
                            1 + (int)rng_below(&rng, 8),
                            OH + KH - 1,
                            OW + KW - 1,
                            OC,
                            KH,
                            KW,
                            1,
                            1,
                            0,
                            0};
        check_512_bits(&d, &rng);
        if (it % 3 == 0) check_vs_naive(&d, &rng); /* at the default cap: AVX-512 */
    }
}

/* nn_conv2d_forward_relu with relu gives nn_conv2d_forward then nn_relu_forward, bit for bit,
 * with -0 and NaN outputs: image 0 all zeros with output channel 0's weights negative and its
 * bias -0 (its outputs are -0 on the direct path), a NaN in image 1. */
static void check_relu_bits(const nn_conv2d_dims *d, int want_neg0, rng_t *rng)
{
    conv_case c;
    cc_init(&c, d, rng);
    const size_t img = (size_t)d->IC * d->H * d->W, taps = c.nw / (size_t)d->OC;
    for (size_t i = 0; i < img; i++) c.x[i] = 0.0f;
    for (size_t i = 0; i < taps; i++) c.w[i] = -fabsf(c.w[i]) - 0.01f;
    c.b[0] = -0.0f;
    if (d->B > 1) c.x[img + img / 2] = NAN;
    float *ref = nn_tu_alloc(c.nout);
    nn_conv2d_forward(ref, c.x, c.w, c.b, d, c.ws);
    size_t neg0 = 0, nan = 0;
    for (size_t i = 0; i < c.nout; i++)
        neg0 += ref[i] == 0.0f && signbit(ref[i]), nan += isnan(ref[i]);
    assert_true(nan > 0 || d->B == 1);
    if (want_neg0) assert_true(neg0 > 0);
    nn_relu_forward(ref, ref, c.nout);
    for (size_t i = 0; i < c.nout; i++) c.out[i] = NAN;
    nn_conv2d_forward_relu(c.out, c.x, c.w, c.b, d, c.ws, 1);
    assert_memory_equal(c.out, ref, c.nout * sizeof(float));
    free(ref);
    cc_free(&c);
}

/* The fused ReLU on the direct path (AVX-512 and AVX2 kernels) and on im2col + sgemm (one
 * image per sgemm, and images grouped under 64 output pixels). */
static void test_forward_relu_bits(void **state)
{
    (void)state;
    rng_t rng;
    rng_init(&rng, 17, RNG_TEST, 0, 0);
    const nn_conv2d_dims lenet1 = {3, 1, 28, 28, 6, 5, 5, 1, 1, 0, 0};
    const nn_conv2d_dims lenet2 = {3, 6, 12, 12, 16, 5, 5, 1, 1, 0, 0};
    const int direct = nn_conv2d_direct_cpu();
    for (int level = FS_SIMD_AVX2; level <= FS_SIMD_AVX512; level++) {
        fs_simd_set_max(level);
        check_relu_bits(&lenet1, direct, &rng);
        check_relu_bits(&lenet2, direct, &rng);
        check_relu_bits(&(nn_conv2d_dims){2, 3, 10, 17, 11, 3, 2, 1, 1, 0, 0}, direct, &rng);
    }
    fs_simd_set_max(FS_SIMD_AVX512);
    nn_conv2d_set_direct(0);
    check_relu_bits(&lenet1, 0, &rng);
    check_relu_bits(&lenet2, 0, &rng);
    nn_conv2d_set_direct(1);
    check_relu_bits(&(nn_conv2d_dims){3, 2, 28, 28, 32, 5, 5, 1, 1, 2, 2}, 0, &rng);
    check_relu_bits(&(nn_conv2d_dims){5, 3, 4, 4, 7, 3, 3, 1, 1, 1, 1}, 0, &rng); /* grouped */
}

/* The direct path's tests again with the width capped at AVX2 (the default cap runs them at
 * AVX-512 where the CPU has it). */
static void test_direct_at_avx2(void **state)
{
    fs_simd_set_max(FS_SIMD_AVX2);
    assert_false(nn_conv2d_direct_avx512());
    test_direct_matches_naive(state);
    test_gradcheck_direct(state);
    fs_simd_set_max(FS_SIMD_AVX512);
}

/* A 1x1 input, 1x1 kernel by hand: out = w*x + b, dw = r*x, dx = r*w, db = r. And NULL
 * gradient pointers are skipped; a second backward doubles the gradients. */
static void test_hand_values_and_accumulation(void **state)
{
    nn_conv2d_dims d = {1, 1, 2, 2, 1, 2, 2, 1, 1, 0, 0};
    float x[4] = {1, 2, 3, 4}, w[4] = {0.5f, -1, 2, 0.25f}, b[1] = {0.125f};
    float out[1], r[1] = {2.0f}, ws[4];
    nn_conv2d_forward(out, x, w, b, &d, ws);
    assert_float_equal(out[0], 0.5f - 2 + 6 + 1 + 0.125f, 0);
    float dx[4] = {0}, dw[4] = {0}, db[1] = {0};
    nn_conv2d_backward(NULL, dw, NULL, r, x, w, &d, ws);
    nn_conv2d_backward(dx, dw, db, r, x, w, &d, ws);
    for (int i = 0; i < 4; i++) {
        assert_float_equal(dw[i], 2 * 2 * x[i], 0);
        assert_float_equal(dx[i], 2 * w[i], 0);
    }
    assert_float_equal(db[0], 2.0f, 0);
    /* no bias */
    nn_conv2d_forward(out, x, w, NULL, &d, ws);
    assert_float_equal(out[0], 0.5f - 2 + 6 + 1, 0);
}

static void torch_case(const char *tag)
{
    char key[64];
    snprintf(key, sizeof key, "%s.dims", tag);
    int32_t *dm = nn_tu_fixture_int(key, 11);
    nn_conv2d_dims d = {dm[0], dm[1], dm[2], dm[3], dm[4], dm[5],
                        dm[6], dm[7], dm[8], dm[9], dm[10]};
    free(dm);
    assert_int_equal(nn_conv2d_check_dims(&d), FS_OK);
    size_t nx = (size_t)d.B * d.IC * d.H * d.W, nw = (size_t)d.OC * d.IC * d.KH * d.KW;
    size_t nout = (size_t)d.B * d.OC * nn_conv2d_out_h(&d) * nn_conv2d_out_w(&d);
    const char *names[] = {"x", "w", "b", "out", "r", "dx", "dw", "db"};
    size_t sizes[] = {nx, nw, (size_t)d.OC, nout, nout, nx, nw, (size_t)d.OC};
    float *f[8];
    for (int i = 0; i < 8; i++) {
        snprintf(key, sizeof key, "%s.%s", tag, names[i]);
        f[i] = nn_tu_fixture(key, sizes[i]);
    }
    float *out = nn_tu_alloc(nout), *ws = nn_tu_alloc(nn_conv2d_workspace_size(&d));
    float *dx = nn_tu_alloc(nx), *dw = nn_tu_alloc(nw), *db = nn_tu_alloc(d.OC);
    nn_conv2d_forward(out, f[0], f[1], f[2], &d, ws);
    nn_tu_assert_close("torch out", out, f[3], nout, 1e-5, 1e-5);
    nn_conv2d_backward(dx, dw, db, f[4], f[0], f[1], &d, ws);
    nn_tu_assert_close("torch dx", dx, f[5], nx, 1e-5, 1e-5);
    nn_tu_assert_close("torch dw", dw, f[6], nw, 1e-5, 1e-5);
    nn_tu_assert_close("torch db", db, f[7], d.OC, 1e-5, 1e-5);
    /* the oracle too */
    nn_conv2d_forward_naive(out, f[0], f[1], f[2], &d);
    nn_tu_assert_close("torch out (naive)", out, f[3], nout, 1e-5, 1e-5);
    for (int i = 0; i < 8; i++) free(f[i]);
    free(out);
    free(ws);
    free(dx);
    free(dw);
    free(db);
}

static void test_torch_conv_stride2_pad1(void **state)
{
    torch_case("conv1");
}

static void test_torch_conv_asymmetric(void **state)
{
    torch_case("conv2");
}

static void test_flops_and_dims(void **state)
{
    /* LeNet-5 C1 on 28x28 with padding 2: 6 maps of 28x28, 25 MACs each */
    nn_conv2d_dims d = {1, 1, 28, 28, 6, 5, 5, 1, 1, 2, 2};
    assert_int_equal(nn_conv2d_out_h(&d), 28);
    assert_int_equal(nn_conv2d_out_w(&d), 28);
    assert_int_equal(nn_conv2d_flops(&d), 2ull * 6 * 28 * 28 * 25);
    /* 784 output columns >= 64: one image per sgemm, im2col (25, 784), no product buffer */
    assert_int_equal(nn_conv2d_workspace_size(&d), 25u * 784);
    d.B = 32;
    /* independent of the batch size: a workspace sized for one batch fits all */
    assert_int_equal(nn_conv2d_workspace_size(&d), 25u * 784);
    /* 6x6 = 36 output columns < 64: two images per sgemm, im2col (9, 2*36) + out (2, 2*36) */
    nn_conv2d_dims g = {5, 1, 8, 8, 2, 3, 3, 1, 1, 0, 0};
    assert_int_equal(nn_conv2d_workspace_size(&g), 9u * 2 * 36 + 2u * 2 * 36);
    assert_int_equal(nn_conv2d_flops(&d), 32ull * 2 * 6 * 28 * 28 * 25);
    nn_conv2d_dims s = {1, 3, 7, 7, 4, 3, 3, 2, 2, 1, 1};
    assert_int_equal(nn_conv2d_out_h(&s), 4);
    nn_conv2d_dims bad = {1, 1, 2, 2, 1, 5, 5, 1, 1, 1, 1};
    assert_int_equal(nn_conv2d_check_dims(&bad), FS_EINPUT);
    bad = (nn_conv2d_dims){1, 1, 8, 8, 1, 3, 3, 0, 1, 0, 0};
    assert_int_equal(nn_conv2d_check_dims(&bad), FS_EINPUT);
    bad = (nn_conv2d_dims){1, 1, 8, 8, 1, 3, 3, 1, 1, -1, 0};
    assert_int_equal(nn_conv2d_check_dims(&bad), FS_EINPUT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gradcheck_stride2_pad1),
        cmocka_unit_test(test_gradcheck_asymmetric),
        cmocka_unit_test(test_gradcheck_pointwise),
        cmocka_unit_test(test_fast_matches_naive),
        cmocka_unit_test(test_direct_matches_naive),
        cmocka_unit_test(test_gradcheck_direct),
        cmocka_unit_test(test_direct512_same_bits),
        cmocka_unit_test(test_direct_at_avx2),
        cmocka_unit_test(test_forward_relu_bits),
        cmocka_unit_test(test_hand_values_and_accumulation),
        cmocka_unit_test(test_torch_conv_stride2_pad1),
        cmocka_unit_test(test_torch_conv_asymmetric),
        cmocka_unit_test(test_flops_and_dims),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
