/* Models: finite-difference gradient checks of every zoo model (logreg, mlp, lenet, cnn,
 * char_lstm through time) and of custom stacks using every layer kind (conv with stride and
 * padding, pools, activations in and out of place, dropout with a fixed stream, embedding,
 * LSTM, dense per step), per layer and for the whole parameter vector; parameter counts and
 * FLOPs by hand; PyTorch-style init; shape errors; the time-major sequence layout and loss;
 * generation with carried LSTM state; frozen layers; dropout modes; SGD step semantics; the
 * ReLU fusions around convolutions against the unfused graph, bit for bit. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "nn/model.h"
#include "nn/optim.h"
#include "util/simd.h"

static double loss_at(nn_worker *w, const float *p, const float *x, const int32_t *y, int B)
{
    memcpy(nn_input(w), x, (size_t)B * w->m->in_size * sizeof(float));
    nn_forward(w, p, B);
    return nn_loss_backward(w, p, y, B, 0, NULL);
}

/* Check the analytic gradient against central differences along 5 random directions.
 * Float forward passes: with eps = 1e-2 the truncation error of the central difference is
 * O(eps^2) ~ 1e-4 relative and float rounding of a loss ~2 is ~1e-7/eps = 1e-5, so 2e-3
 * relative (of the directional derivative) is a safe, still sharp bound; a wrong sign or a
 * missing term gives errors of order 1. */
static void gradcheck(const nn_model *m, int B, double tol)
{
    nn_worker w;
    assert_int_equal(nn_worker_init(&w, m, B), FS_OK);
    float *p = malloc(m->n_params * sizeof(float)), *q = malloc(m->n_params * sizeof(float));
    float *dir = malloc(m->n_params * sizeof(float));
    float *x = malloc((size_t)B * m->in_size * sizeof(float));
    int32_t *y = malloc((size_t)B * sizeof(int32_t));
    rng_t r;
    rng_init(&r, 1, RNG_TEST, 0, 0);
    nn_model_init_params(m, p, &r);
    for (size_t i = 0; i < (size_t)B * m->in_size; i++) x[i] = (float)rng_normal(&r);
    for (int i = 0; i < B; i++) y[i] = (int32_t)rng_below(&r, (uint64_t)m->n_classes);
    memcpy(nn_input(&w), x, (size_t)B * m->in_size * sizeof(float));
    nn_forward(&w, p, B);
    memset(w.grad, 0, m->n_params * sizeof(float));
    nn_loss_backward(&w, p, y, B, 1.0 / B, NULL);
    for (int t = 0; t < 5; t++) {
        double norm = 0, analytic = 0;
        for (size_t i = 0; i < m->n_params; i++) {
            dir[i] = (float)rng_normal(&r);
            norm += (double)dir[i] * dir[i];
        }
        norm = sqrt(norm);
        for (size_t i = 0; i < m->n_params; i++) {
            dir[i] = (float)(dir[i] / norm);
            analytic += (double)w.grad[i] * dir[i];
        }
        const double eps = 1e-2;
        for (size_t i = 0; i < m->n_params; i++) q[i] = p[i] + (float)eps * dir[i];
        double lp = loss_at(&w, q, x, y, B);
        for (size_t i = 0; i < m->n_params; i++) q[i] = p[i] - (float)eps * dir[i];
        double lm = loss_at(&w, q, x, y, B);
        double numeric = (lp - lm) / (2 * eps);
        double rel = fabs(numeric - analytic) / fmax(1e-3, fabs(numeric) + fabs(analytic));
        assert_true(rel < tol);
    }
    /* a few single coordinates of the first and the last layer too */
    memcpy(nn_input(&w), x, (size_t)B * m->in_size * sizeof(float));
    nn_forward(&w, p, B);
    memset(w.grad, 0, m->n_params * sizeof(float));
    nn_loss_backward(&w, p, y, B, 1.0 / B, NULL);
    size_t coords[4] = {0, m->n_params / 3, m->n_params - 1, m->n_params - 11};
    for (int t = 0; t < 4; t++) {
        size_t i = coords[t];
        const double eps = 1e-3; /* small: a coordinate step must not cross a ReLU kink */
        memcpy(q, p, m->n_params * sizeof(float));
        q[i] = p[i] + (float)eps;
        double lp = loss_at(&w, q, x, y, B);
        q[i] = p[i] - (float)eps;
        double lm = loss_at(&w, q, x, y, B);
        double numeric = (lp - lm) / (2 * eps);
        if (!(fabs(numeric - w.grad[i]) < 1e-3 + 1e-2 * fabs(numeric)))
            print_error("coord %zu numeric %g analytic %g\n", i, numeric, (double)w.grad[i]);
        assert_true(fabs(numeric - w.grad[i]) < 1e-3 + 1e-2 * fabs(numeric));
    }
    free(p);
    free(q);
    free(dir);
    free(x);
    free(y);
    nn_worker_free(&w);
}

static void test_logreg_gradcheck(void **st)
{
    (void)st;
    nn_model m;
    int in[3] = {1, 5, 6};
    assert_int_equal(nn_zoo_build(&m, "logreg", NULL, 0, in, 4), FS_OK);
    assert_int_equal(m.n_params, 30 * 4 + 4);
    gradcheck(&m, 7, 2e-3);
}

static void test_mlp_gradcheck(void **st)
{
    (void)st;
    nn_model m;
    int in[3] = {1, 4, 5}, hidden[2] = {16, 8};
    assert_int_equal(nn_zoo_build(&m, "mlp", hidden, 2, in, 3), FS_OK);
    assert_int_equal(m.n_params, (20 * 16 + 16) + (16 * 8 + 8) + (8 * 3 + 3));
    gradcheck(&m, 9, 2e-3);
}

static void test_mlp_784_shapes(void **st)
{
    (void)st;
    nn_model m;
    int in[3] = {1, 28, 28}, hidden[2] = {200, 200};
    assert_int_equal(nn_zoo_build(&m, "mlp", hidden, 2, in, 10), FS_OK);
    assert_int_equal(m.n_params, 199210); /* McMahan et al. 2017's 2NN */
    assert_float_equal(m.flops_fwd, 2.0 * (784 * 200 + 200 * 200 + 200 * 10) + 400, 1e-6);
    /* init: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) per layer */
    float *p = malloc(m.n_params * sizeof(float));
    rng_t r;
    rng_init(&r, 1, RNG_TEST, 0, 0);
    nn_model_init_params(&m, p, &r);
    float b0 = (float)(1 / sqrt(784.0)), b2 = (float)(1 / sqrt(200.0)), mx0 = 0;
    for (size_t i = 0; i < 784 * 200; i++) {
        assert_true(fabsf(p[i]) <= b0);
        mx0 = fmaxf(mx0, fabsf(p[i]));
    }
    assert_true(mx0 > 0.99f * b0);
    const nn_layer *L = &m.layers[m.n_layers - 1];
    for (size_t i = 0; i < L->n_params; i++) assert_true(fabsf(p[L->p_off + i]) <= b2);
    free(p);
    /* a last layer that does not match the classes is an error naming the layer */
    nn_layer_spec bad[2] = {{.kind = NN_FLATTEN}, {.kind = NN_DENSE, .units = 7}};
    assert_int_equal(nn_model_build(&m, "bad", bad, 2, in, 10), FS_EINPUT);
}

/* ---- every zoo model and custom layer stacks: gradients per trainable layer ---- */

typedef struct mcase {
    const nn_model *m;
    nn_worker w;
    int B;
    float *x, *p;
    int32_t *y;
} mcase;

/* Random inputs: N(0, 1) pixels, or token ids below the vocabulary; labels likewise. */
static void mc_init(mcase *c, const nn_model *m, int B, rng_t *r)
{
    c->m = m;
    c->B = B;
    assert_int_equal(nn_worker_init(&c->w, m, B), FS_OK);
    c->x = malloc((size_t)B * m->in_size * sizeof(float));
    c->y = malloc((size_t)B * m->y_len * sizeof(int32_t));
    c->p = malloc(m->n_params * sizeof(float));
    assert_non_null(c->x);
    assert_non_null(c->y);
    assert_non_null(c->p);
    nn_model_init_params(m, c->p, r);
    for (size_t i = 0; i < (size_t)B * m->in_size; i++)
        c->x[i] = m->seq_len ? (float)rng_below(r, (uint64_t)m->n_classes) : (float)rng_normal(r);
    for (size_t i = 0; i < (size_t)B * m->y_len; i++)
        c->y[i] = (int32_t)rng_below(r, (uint64_t)m->n_classes);
}

static void mc_free(mcase *c)
{
    nn_worker_free(&c->w);
    free(c->x);
    free(c->y);
    free(c->p);
}

/* Training-mode loss at params q, with the same dropout masks every call. */
static double mc_loss(mcase *c, const float *q)
{
    memcpy(nn_input(&c->w), c->x, (size_t)c->B * c->m->in_size * sizeof(float));
    nn_worker_seed(&c->w, 7, 1, 2);
    nn_forward(&c->w, q, c->B);
    return nn_loss_backward(&c->w, q, c->y, c->B, 0, NULL);
}

static void mc_grad(mcase *c)
{
    memset(c->w.grad, 0, c->m->n_params * sizeof(float));
    memcpy(nn_input(&c->w), c->x, (size_t)c->B * c->m->in_size * sizeof(float));
    nn_worker_seed(&c->w, 7, 1, 2);
    nn_forward(&c->w, c->p, c->B);
    nn_loss_backward(&c->w, c->p, c->y, c->B, 1.0 / c->B, NULL);
}

/* Central difference of the float model along a unit direction d over params [lo, hi),
 * d = normalise(g/|g| + r/|r|) with r ~ N(0, I): the gradient part makes dL/dd large
 * enough to stand far above float rounding, the random part probes every coordinate
 * independently of g. Returns |numeric - analytic| / max(|.|, |.|).
 * Step h: smooth models (tanh, sigmoid, LSTM) h = 1e-2: truncation O(h^2), rounding of a
 * loss ~2.3 in float ~1e-6 / 2h; measured worst errors 2e-5 .. 8e-5 (tolerance 2e-3).
 * With ReLU and max-pool kinks, a step crosses kinks with probability ~h and each crossing
 * leaves an O(h) error: measured worst errors on lenet 6e-2 (h = 1e-1), 2e-2 (1e-2),
 * 4e-3 (3e-3), 1.3e-3 .. 4.8e-3 (1e-3), 3.6e-3 (3e-4, rounding takes over); over 25
 * seeds at h = 1e-3 the worst was 1.2e-2 (lenet) and 1.1e-2 (cnn). So h = 1e-3 and
 * tolerance 3e-2 there, plus the same stacks with smooth activations at 2e-3; a wrong term
 * in a layer's gradient gives errors of 0.1 to 1. */
static double gc_h = 1e-2;

static double mc_dir_err(mcase *c, size_t lo, size_t hi, rng_t *r)
{
    const size_t n = c->m->n_params;
    double *d = calloc(n, sizeof(double));
    float *q = malloc(n * sizeof(float));
    assert_non_null(d);
    assert_non_null(q);
    double gn = 0, rn = 0, dn = 0, analytic = 0;
    for (size_t i = lo; i < hi; i++) gn += (double)c->w.grad[i] * c->w.grad[i];
    for (size_t i = lo; i < hi; i++) {
        d[i] = rng_normal(r);
        rn += d[i] * d[i];
    }
    gn = sqrt(gn) + 1e-30;
    rn = sqrt(rn);
    for (size_t i = lo; i < hi; i++) {
        d[i] = c->w.grad[i] / gn + d[i] / rn;
        dn += d[i] * d[i];
    }
    dn = sqrt(dn);
    const double h = gc_h;
    memcpy(q, c->p, n * sizeof(float));
    for (size_t i = lo; i < hi; i++) q[i] = (float)(c->p[i] + h * d[i] / dn);
    double lp = mc_loss(c, q);
    for (size_t i = lo; i < hi; i++) q[i] = (float)(c->p[i] - h * d[i] / dn);
    double lm = mc_loss(c, q);
    /* the steps as rounded to float */
    for (size_t i = lo; i < hi; i++)
        analytic += (double)c->w.grad[i] * ((double)(float)(c->p[i] + h * d[i] / dn) -
                                            (double)(float)(c->p[i] - h * d[i] / dn));
    double numeric = lp - lm;
    free(d);
    free(q);
    return fabs(numeric - analytic) / fmax(fmax(fabs(numeric), fabs(analytic)), 1e-12);
}

/* Check the whole parameter vector and each trainable layer on its own. */
static void model_gradcheck(const nn_model *m, int B, double h, double tol, uint64_t seed)
{
    rng_t r;
    gc_h = h;
    rng_init(&r, seed, RNG_TEST, 1, 0);
    mcase c;
    mc_init(&c, m, B, &r);
    mc_grad(&c);
    double worst = mc_dir_err(&c, 0, m->n_params, &r);
    if (!(worst < tol)) fail_msg("%s: whole-model relative error %.3g", m->name, worst);
    for (int i = 0; i < m->n_layers; i++) {
        const nn_layer *L = &m->layers[i];
        if (!L->n_params || L->frozen) continue;
        for (int t = 0; t < 2; t++) {
            double e = mc_dir_err(&c, L->p_off, L->p_off + L->n_params, &r);
            if (e > worst) worst = e;
            if (!(e < tol)) fail_msg("%s layer %s: relative error %.3g", m->name, L->s.name, e);
        }
    }
    print_message("gradcheck %-12s worst relative error %.2e\n", m->name, worst);
    mc_free(&c);
}

static void test_lenet_gradcheck(void **st)
{
    (void)st;
    nn_model m;
    int in[3] = {1, 28, 28};
    assert_int_equal(nn_zoo_build(&m, "lenet", NULL, 0, in, 10), FS_OK);
    model_gradcheck(&m, 3, 1e-3, 3e-2, 11);
    /* the same stack with smooth activations and average pools: a tight check of the
     * assembly (offsets, views, in-place layers) */
    const nn_layer_spec smooth[12] = {{.kind = NN_CONV2D, .filters = 6, .kernel = 5},
                                      {.kind = NN_TANH},
                                      {.kind = NN_AVGPOOL, .kernel = 2},
                                      {.kind = NN_CONV2D, .filters = 16, .kernel = 5},
                                      {.kind = NN_SIGMOID},
                                      {.kind = NN_AVGPOOL, .kernel = 2},
                                      {.kind = NN_FLATTEN},
                                      {.kind = NN_DENSE, .units = 120},
                                      {.kind = NN_TANH},
                                      {.kind = NN_DENSE, .units = 84},
                                      {.kind = NN_TANH},
                                      {.kind = NN_DENSE, .units = 10}};
    assert_int_equal(nn_model_build(&m, "lenet_smooth", smooth, 12, in, 10), FS_OK);
    assert_int_equal(m.n_params, 44426);
    model_gradcheck(&m, 3, 1e-2, 2e-3, 11);
}

/* LeNet's direct convolutions again with the vector width capped at AVX2 (the default cap runs
 * their AVX-512 kernels where the CPU has them; both give the same bits). */
static void test_lenet_gradcheck_avx2(void **st)
{
    fs_simd_set_max(FS_SIMD_AVX2);
    test_lenet_gradcheck(st);
    fs_simd_set_max(FS_SIMD_AVX512);
}

/* One forward and backward of m (to the input: every layer's backward runs) from fixed
 * parameters and data: the whole activation and gradient arenas, the parameter gradient and
 * the input gradient, concatenated into out (the caller compares two runs bit for bit). The
 * first sample's image is all zeros and the first conv's first bias -0: its outputs are -0
 * there, which the ReLU must turn into +0. */
static size_t fusion_run(const nn_model *m, int B, float *out)
{
    nn_worker w;
    assert_int_equal(nn_worker_init(&w, m, B), FS_OK);
    const size_t act = (size_t)B * m->act_per_sample, in = (size_t)B * m->in_size;
    memset(w.act, 0, act * sizeof(float));
    memset(w.dact, 0, act * sizeof(float));
    float *p = malloc(m->n_params * sizeof(float));
    int32_t *y = malloc((size_t)B * sizeof(int32_t));
    rng_t r;
    rng_init(&r, 7, RNG_TEST, 0, 0);
    nn_model_init_params(m, p, &r);
    p[m->layers[0].w_count] = -0.0f;
    float *x = nn_input(&w);
    for (size_t i = 0; i < in; i++) x[i] = i < m->in_size ? 0.0f : (float)rng_normal(&r);
    for (int i = 0; i < B; i++) y[i] = (int32_t)rng_below(&r, (uint64_t)m->n_classes);
    nn_forward(&w, p, B);
    memset(w.grad, 0, m->n_params * sizeof(float));
    nn_loss_backward(&w, p, y, B, 1.0 / B, NULL);
    size_t o = 0;
    memcpy(out + o, w.act, act * sizeof(float)), o += act;
    memcpy(out + o, w.dact, act * sizeof(float)), o += act;
    memcpy(out + o, w.grad, m->n_params * sizeof(float)), o += m->n_params;
    /* an output gradient with -0 and a NaN, back to the input */
    nn_forward(&w, p, B);
    float *g = nn_output_grad(&w, B);
    for (int i = 0; i < B * m->n_classes; i++) g[i] = i % 3 ? (float)rng_normal(&r) : -0.0f;
    g[B * m->n_classes - 1] = NAN;
    memset(w.grad, 0, m->n_params * sizeof(float));
    nn_backward(&w, p, B, out + o), o += in;
    memcpy(out + o, w.dact, act * sizeof(float)), o += act;
    memcpy(out + o, w.grad, m->n_params * sizeof(float)), o += m->n_params;
    free(p);
    free(y);
    nn_worker_free(&w);
    return o;
}

/* The ReLU fusions around convolutions (conv2d + ReLU forward; max-pool + ReLU backward) give
 * the unfused graph's bits: forward activations, every gradient, on LeNet (direct convolutions
 * at the CPU's width, at AVX2, and on the im2col path) and the cnn (padding: im2col). */
static void test_conv_fusion_bits(void **st)
{
    (void)st;
    const char *models[2] = {"lenet", "cnn"};
    int in[3] = {1, 28, 28};
    for (int k = 0; k < 4; k++) {
        const char *name = models[k == 3];
        if (k == 1) fs_simd_set_max(FS_SIMD_AVX2);
        if (k == 2) nn_conv2d_set_direct(0);
        const int B = 3;
        nn_model m;
        nn_model_set_conv_fusion(0);
        assert_int_equal(nn_zoo_build(&m, name, NULL, 0, in, 10), FS_OK);
        assert_false(m.layers[0].fuse_relu || m.layers[1].fused || m.layers[2].fuse_relu_bwd ||
                     m.layers[1].bwd_fused);
        const size_t cap = 4 * (size_t)B * m.act_per_sample + 2 * m.n_params + B * m.in_size;
        float *a = malloc(cap * sizeof(float)), *b = malloc(cap * sizeof(float));
        const size_t na = fusion_run(&m, B, a);
        nn_model_set_conv_fusion(1);
        assert_int_equal(nn_zoo_build(&m, name, NULL, 0, in, 10), FS_OK);
        assert_true(m.layers[0].fuse_relu && m.layers[1].fused && m.layers[2].fuse_relu_bwd &&
                    m.layers[1].bwd_fused && m.layers[3].fuse_relu && m.layers[5].fuse_relu_bwd);
        const size_t nb = fusion_run(&m, B, b);
        assert_int_equal(na, nb);
        assert_true(na <= cap);
        if (memcmp(a, b, na * sizeof(float)) != 0) {
            size_t i = 0;
            while (memcmp(a + i, b + i, sizeof(float)) == 0) i++;
            fail_msg("%s (case %d): fused and unfused differ at float %zu of %zu: %a vs %a", name,
                     k, i, na, (double)a[i], (double)b[i]);
        }
        free(a);
        free(b);
        fs_simd_set_max(FS_SIMD_AVX512);
        nn_conv2d_set_direct(1);
    }
}

static void test_cnn_gradcheck(void **st)
{
    (void)st;
    nn_model m;
    int in[3] = {1, 28, 28};
    assert_int_equal(nn_zoo_build(&m, "cnn", NULL, 0, in, 10), FS_OK);
    model_gradcheck(&m, 2, 1e-3, 3e-2, 12);
}

static void test_char_lstm_gradcheck(void **st)
{
    (void)st;
    nn_model m;
    int in[3] = {1, 1, 12}; /* LEAF's 256-unit layers, 12 steps (through time), 20 symbols */
    assert_int_equal(nn_zoo_build(&m, "char_lstm", NULL, 0, in, 20), FS_OK);
    assert_int_equal(m.seq_len, 12);
    model_gradcheck(&m, 3, 1e-2, 2e-3, 13);
}

/* conv with stride 2 and padding 1, tanh, overlapping average pool, dropout and sigmoid in
 * place, flatten, dense + tanh, a ReLU after flatten-of-tanh (must NOT run in place: tanh's
 * backward reads its output), a max-pool with stride < kernel in a second stack. */
static const nn_layer_spec custom_a[] = {
    {.kind = NN_CONV2D, .name = "c1", .filters = 4, .kernel = 3, .stride = 2, .padding = 1},
    {.kind = NN_TANH},
    {.kind = NN_AVGPOOL, .kernel = 2, .stride = 1},
    {.kind = NN_DROPOUT, .rate = 0.3f},
    {.kind = NN_SIGMOID},
    {.kind = NN_FLATTEN},
    {.kind = NN_DENSE, .units = 12},
    {.kind = NN_TANH},
    {.kind = NN_FLATTEN},
    {.kind = NN_RELU},
    {.kind = NN_DENSE, .units = 5},
};
static const nn_layer_spec custom_b[] = {
    {.kind = NN_CONV2D, .filters = 3, .kernel = 2},
    {.kind = NN_RELU},
    {.kind = NN_MAXPOOL, .kernel = 3, .stride = 2},
    {.kind = NN_CONV2D, .filters = 5, .kernel = 3, .padding = NN_PAD_SAME},
    {.kind = NN_SIGMOID},
    {.kind = NN_DENSE, .units = 4},
};
/* sequences: embedding, lstm, dropout (not in place after an lstm), dense + tanh per step,
 * lstm again, dense to the vocabulary */
static const nn_layer_spec custom_seq[] = {
    {.kind = NN_EMBEDDING, .units = 6},
    {.kind = NN_LSTM, .units = 7},
    {.kind = NN_DROPOUT, .rate = 0.2f},
    {.kind = NN_DENSE, .units = 9},
    {.kind = NN_TANH},
    {.kind = NN_LSTM, .units = 5},
    {.kind = NN_DENSE, .units = 11},
};

static void test_custom_gradcheck(void **st)
{
    (void)st;
    nn_model m;
    int in_a[3] = {2, 9, 9};
    assert_int_equal(nn_model_build(&m, "custom_a", custom_a, 11, in_a, 5), FS_OK);
    assert_int_equal(m.layers[1].out[1], 5); /* (9 + 2 - 3) / 2 + 1 */
    assert_true(m.layers[3].inplace && m.layers[4].inplace && m.layers[7].inplace);
    assert_false(m.layers[9].inplace);
    assert_true(m.layers[6].fuse_relu == 0);
    model_gradcheck(&m, 4, 1e-3, 3e-2, 14);
    int in_b[3] = {1, 8, 7};
    assert_int_equal(nn_model_build(&m, "custom_b", custom_b, 6, in_b, 4), FS_OK);
    assert_int_equal(m.layers[0].out[1], 7); /* padding 0, kernel 2 */
    assert_int_equal(m.layers[2].out[1], 3); /* (7 - 3) / 2 + 1 */
    model_gradcheck(&m, 3, 1e-3, 3e-2, 15);
    int in_s[3] = {1, 1, 5};
    assert_int_equal(nn_model_build(&m, "custom_seq", custom_seq, 7, in_s, 11), FS_OK);
    assert_false(m.layers[2].inplace);
    assert_true(m.layers[4].inplace);
    model_gradcheck(&m, 3, 1e-2, 2e-3, 16);
}

/* Parameter counts of the issue and FLOPs by hand. */
static void test_zoo_counts(void **st)
{
    (void)st;
    nn_model m;
    int img[3] = {1, 28, 28}, txt[3] = {1, 1, 80};
    assert_int_equal(nn_zoo_build(&m, "lenet", NULL, 0, img, 10), FS_OK);
    assert_int_equal(m.n_params, 44426);
    /* conv 172,800 + relu 3,456 + pool 3,456 + conv 307,200 + relu 1,024 + pool 1,024 +
     * dense 61,440 + 120 + 20,160 + 84 + 1,680 */
    assert_float_equal(m.flops_fwd, 572444, 1e-6);
    /* backward: conv1 weights only (no input gradient) 172,800; every other layer its
     * input gradient, and the trainable ones their weight gradients as well */
    assert_float_equal(m.flops_train,
                       572444 + 172800 + 3456 + 3456 + 2 * 307200 + 1024 + 1024 + 2 * 61440 + 120 +
                           2 * 20160 + 84 + 2 * 1680,
                       1e-6);
    assert_int_equal(nn_zoo_build(&m, "cnn", NULL, 0, img, 10), FS_OK);
    assert_int_equal(m.n_params, 1663370);
    assert_int_equal(nn_zoo_build(&m, "char_lstm", NULL, 0, txt, 80), FS_OK); /* LEAF: 80 */
    assert_int_equal(m.n_params, 8 * 80 + (4 * 256 * (8 + 256) + 8 * 256) +
                                     (4 * 256 * (256 + 256) + 8 * 256) + (256 * 80 + 80));
    assert_int_equal(m.y_len, 80);
    /* lstm: 2 * 4H (D + H) per step, 80 steps; dense 2 * 256 * 80 per step */
    assert_float_equal(m.flops_fwd, 80.0 * (2 * 1024 * (8 + 256) + 2 * 1024 * 512 + 2 * 256 * 80),
                       1e-6);
    /* PyTorch init bounds; forget-gate bias 1 (b_ih) + 0 (b_hh) */
    float *p = malloc(m.n_params * sizeof(float));
    rng_t r;
    rng_init(&r, 3, RNG_TEST, 0, 0);
    nn_model_init_params(&m, p, &r);
    const nn_layer *L = &m.layers[1];
    const float bound = 1.0f / 16.0f, *b_ih = p + L->p_off + L->w_count;
    for (size_t i = 0; i < L->w_count; i++) assert_true(fabsf(p[L->p_off + i]) <= bound);
    for (int j = 0; j < 256; j++) {
        assert_true(b_ih[256 + j] == 1.0f && b_ih[1024 + 256 + j] == 0.0f);
        assert_true(fabsf(b_ih[j]) <= bound && fabsf(b_ih[1024 + j]) <= bound);
    }
    double s2 = 0; /* embedding N(0, 1): 640 values, sample variance within 0.8 .. 1.2 */
    for (int i = 0; i < 640; i++) s2 += (double)p[i] * p[i];
    assert_true(s2 / 640 > 0.8 && s2 / 640 < 1.2);
    free(p);
}

/* Shape errors name the layer and say what is wrong. */
static void test_shape_errors(void **st)
{
    (void)st;
    nn_model m;
    int img[3] = {1, 6, 6}, txt[3] = {1, 1, 5};
    nn_layer_spec big[2] = {{.kind = NN_CONV2D, .name = "wide", .filters = 2, .kernel = 7},
                            {.kind = NN_DENSE, .units = 3}};
    assert_int_equal(nn_model_build(&m, "x", big, 2, img, 3), FS_EINPUT);
    assert_non_null(strstr(fs_errmsg(), "layer 1 'wide' (conv2d)"));
    assert_non_null(strstr(fs_errmsg(), "larger than"));
    nn_layer_spec lstm_on_img[2] = {{.kind = NN_LSTM, .units = 3}, {.kind = NN_DENSE, .units = 3}};
    assert_int_equal(nn_model_build(&m, "x", lstm_on_img, 2, img, 3), FS_EINPUT);
    assert_non_null(strstr(fs_errmsg(), "'lstm1'"));
    nn_layer_spec emb_late[3] = {
        {.kind = NN_FLATTEN}, {.kind = NN_EMBEDDING, .units = 3}, {.kind = NN_DENSE, .units = 3}};
    assert_int_equal(nn_model_build(&m, "x", emb_late, 3, txt, 3), FS_EINPUT);
    assert_non_null(strstr(fs_errmsg(), "first layer"));
    nn_layer_spec seq_flat[3] = {
        {.kind = NN_EMBEDDING, .units = 3}, {.kind = NN_FLATTEN}, {.kind = NN_DENSE, .units = 3}};
    assert_int_equal(nn_model_build(&m, "x", seq_flat, 3, txt, 3), FS_EINPUT);
    assert_non_null(strstr(fs_errmsg(), "'flatten1'"));
    nn_layer_spec same_even[2] = {
        {.kind = NN_CONV2D, .filters = 1, .kernel = 4, .padding = NN_PAD_SAME},
        {.kind = NN_DENSE, .units = 3}};
    assert_int_equal(nn_model_build(&m, "x", same_even, 2, img, 3), FS_EINPUT);
    nn_layer_spec dup[2] = {{.kind = NN_DENSE, .name = "a", .units = 3},
                            {.kind = NN_DENSE, .name = "a", .units = 3}};
    assert_int_equal(nn_model_build(&m, "x", dup, 2, img, 3), FS_EINPUT);
    assert_non_null(strstr(fs_errmsg(), "both called 'a'"));
    nn_layer_spec bad_rate[2] = {{.kind = NN_DROPOUT, .rate = 1.0f},
                                 {.kind = NN_DENSE, .units = 3}};
    assert_int_equal(nn_model_build(&m, "x", bad_rate, 2, img, 3), FS_EINPUT);
    assert_int_equal(nn_zoo_build(&m, "resnet", NULL, 0, img, 3), FS_EINPUT);
}

/* A sequence sample's loss is the mean over its steps of the softmax cross-entropy, with the
 * logits of step t of sample b at row t*B + b: recomputed here in double from the logits.
 * A sample's outputs depend on its own tokens only (batch of 3 vs that sample alone). */
static void test_sequence_layout(void **st)
{
    (void)st;
    nn_model m;
    int txt[3] = {1, 1, 6};
    nn_layer_spec s[3] = {{.kind = NN_EMBEDDING, .units = 4},
                          {.kind = NN_LSTM, .units = 5},
                          {.kind = NN_DENSE, .units = 7}};
    assert_int_equal(nn_model_build(&m, "seq", s, 3, txt, 7), FS_OK);
    rng_t r;
    rng_init(&r, 31, RNG_TEST, 0, 0);
    mcase c;
    mc_init(&c, &m, 3, &r);
    memcpy(nn_input(&c.w), c.x, 3 * 6 * sizeof(float));
    const float *z = nn_infer(&c.w, c.p, 3);
    double want = 0;
    int want_hits = 0;
    for (int b = 0; b < 3; b++)
        for (int t = 0; t < 6; t++) {
            const float *row = z + ((size_t)t * 3 + b) * 7;
            double mx = row[0], se = 0;
            int arg = 0;
            for (int k = 1; k < 7; k++)
                if (row[k] > mx) mx = row[k], arg = k;
            for (int k = 0; k < 7; k++) se += exp(row[k] - mx);
            want += mx + log(se) - row[c.y[b * 6 + t]];
            want_hits += arg == c.y[b * 6 + t];
        }
    int hits = -1;
    double got = nn_loss_backward(&c.w, c.p, c.y, 3, 0, &hits);
    assert_float_equal(got, want / 18, 1e-6);
    assert_int_equal(hits, want_hits);
    float z1[6 * 7];
    for (int t = 0; t < 6; t++) memcpy(z1 + t * 7, z + ((size_t)t * 3 + 1) * 7, 7 * sizeof(float));
    memcpy(nn_input(&c.w), c.x + 6, 6 * sizeof(float)); /* sample 1 alone */
    const float *z_alone = nn_infer(&c.w, c.p, 1);
    for (int i = 0; i < 42; i++) assert_float_equal(z_alone[i], z1[i], 1e-5);
    mc_free(&c);
}

/* Generation: a T = 1 copy of the model fed one token at a time with carried LSTM state
 * gives, at every step, the logits of the full-length model at that step. */
static void test_carried_state(void **st)
{
    (void)st;
    nn_model full, one;
    int txt[3] = {1, 1, 9}, txt1[3] = {1, 1, 1};
    nn_zoo_args a = {.lstm = (const int[]){10, 6}, .n_lstm = 2, .embed = 5};
    assert_int_equal(nn_zoo_build_args(&full, "char_lstm", &a, txt, 13), FS_OK);
    assert_int_equal(nn_zoo_build_args(&one, "char_lstm", &a, txt1, 13), FS_OK);
    assert_int_equal(one.n_params, full.n_params);
    rng_t r;
    rng_init(&r, 32, RNG_TEST, 0, 0);
    mcase c;
    mc_init(&c, &full, 1, &r);
    memcpy(nn_input(&c.w), c.x, 9 * sizeof(float));
    const float *z = nn_infer(&c.w, c.p, 1);
    nn_worker w1;
    assert_int_equal(nn_worker_init(&w1, &one, 1), FS_OK);
    w1.carry = 1;
    nn_worker_reset_state(&w1);
    for (int t = 0; t < 9; t++) {
        nn_input(&w1)[0] = c.x[t];
        const float *z1 = nn_infer(&w1, c.p, 1);
        for (int k = 0; k < 13; k++) assert_float_equal(z1[k], z[t * 13 + k], 1e-5);
    }
    nn_worker_free(&w1);
    mc_free(&c);
}

/* Frozen layers: no gradient, bit-identical after SGD steps with weight decay and momentum,
 * not counted as trainable; backward stops above them; unknown names are errors. */
static void test_freeze(void **st)
{
    (void)st;
    nn_model m;
    int img[3] = {1, 28, 28};
    assert_int_equal(nn_zoo_build(&m, "lenet", NULL, 0, img, 10), FS_OK);
    const double train_all = m.flops_train;
    const char *names[2] = {"conv2d1", "dense2"};
    assert_int_equal(nn_model_freeze(&m, names, 2), FS_OK);
    assert_int_equal(nn_model_trainable_params(&m), 44426 - 156 - 10164);
    assert_int_equal(m.bwd_stop, 3); /* conv2d2 */
    assert_int_equal(m.n_ranges, 2);
    /* conv1 no longer costs its weight gradient, nor relu/pool their input gradients, nor
     * conv2 its input gradient; dense2 no weight gradient */
    assert_float_equal(train_all - m.flops_train, 172800 + 3456 + 3456 + 307200 + 20160, 1e-6);
    rng_t r;
    rng_init(&r, 33, RNG_TEST, 0, 0);
    mcase c;
    mc_init(&c, &m, 4, &r);
    float *p0 = malloc(m.n_params * sizeof(float));
    memcpy(p0, c.p, m.n_params * sizeof(float));
    nn_sgd o = {0.1, 0.9, 0.01, 1, 1.0};
    int first = 1;
    for (int s = 0; s < 3; s++) {
        mc_grad(&c);
        const nn_layer *L0 = &m.layers[0], *L9 = &m.layers[9];
        for (size_t i = 0; i < L0->n_params; i++) assert_true(c.w.grad[L0->p_off + i] == 0.0f);
        for (size_t i = 0; i < L9->n_params; i++) assert_true(c.w.grad[L9->p_off + i] == 0.0f);
        nn_sgd_step_ranges(&o, c.p, c.w.grad, c.w.opt, m.ranges, m.n_ranges, &first);
    }
    size_t changed = 0;
    for (int i = 0; i < m.n_layers; i++) {
        const nn_layer *L = &m.layers[i];
        for (size_t j = 0; j < L->n_params; j++) {
            if (L->frozen)
                assert_memory_equal(&c.p[L->p_off + j], &p0[L->p_off + j], sizeof(float));
            else
                changed += c.p[L->p_off + j] != p0[L->p_off + j];
        }
    }
    assert_true(changed > (44426 - 156 - 10164) * 9 / 10);
    /* the gradients of the trainable layers are still right */
    model_gradcheck(&m, 2, 1e-3, 3e-2, 17);
    const char *bad[1] = {"relu1"};
    assert_int_equal(nn_model_freeze(&m, bad, 1), FS_EINPUT);
    assert_non_null(strstr(fs_errmsg(), "conv2d1, conv2d2, dense1, dense2, dense3"));
    const char *none[1] = {"conv9"};
    assert_int_equal(nn_model_freeze(&m, none, 1), FS_EINPUT);
    assert_int_equal(nn_model_trainable_params(&m), 44426); /* a failed freeze freezes nothing */
    /* everything frozen: a loss, no backward */
    const char *all[5] = {"conv2d1", "conv2d2", "dense1", "dense2", "dense3"};
    assert_int_equal(nn_model_freeze(&m, all, 5), FS_OK);
    assert_int_equal(m.bwd_stop, m.n_layers);
    assert_float_equal(m.flops_train, m.flops_fwd, 1e-9);
    mc_grad(&c);
    assert_true(nn_norm2(c.w.grad, m.n_params) == 0.0);
    free(p0);
    mc_free(&c);
}

/* Dropout: masks follow the keyed stream (same key, same output; another client, another
 * mask), inference is the identity, about rate of the units are dropped. */
static void test_dropout_modes(void **st)
{
    (void)st;
    nn_model m;
    int in[3] = {1, 1, 4000};
    nn_layer_spec s[2] = {{.kind = NN_DROPOUT, .rate = 0.25f}, {.kind = NN_DENSE, .units = 2}};
    assert_int_equal(nn_model_build(&m, "drop", s, 2, in, 2), FS_OK);
    nn_worker w;
    assert_int_equal(nn_worker_init(&w, &m, 1), FS_OK);
    float *x = malloc(4000 * sizeof(float)), *a = malloc(4000 * sizeof(float));
    for (int i = 0; i < 4000; i++) x[i] = 1.0f + (float)i;
    float *p = calloc(m.n_params, sizeof(float));
    memcpy(nn_input(&w), x, 4000 * sizeof(float));
    nn_worker_seed(&w, 1, 5, 2);
    nn_forward(&w, p, 1);
    memcpy(a, nn_input(&w), 4000 * sizeof(float)); /* dropout runs in place on the input */
    int zeros = 0;
    for (int i = 0; i < 4000; i++) {
        zeros += a[i] == 0.0f;
        assert_true(a[i] == 0.0f || fabsf(a[i] - x[i] / 0.75f) <= 1e-6f * a[i]);
    }
    assert_true(zeros > 900 && zeros < 1100); /* 1000 +- 3.6 sigma */
    memcpy(nn_input(&w), x, 4000 * sizeof(float));
    nn_worker_seed(&w, 1, 5, 2);
    nn_forward(&w, p, 1);
    assert_memory_equal(nn_input(&w), a, 4000 * sizeof(float));
    memcpy(nn_input(&w), x, 4000 * sizeof(float));
    nn_worker_seed(&w, 1, 6, 2);
    nn_forward(&w, p, 1);
    assert_memory_not_equal(nn_input(&w), a, 4000 * sizeof(float));
    memcpy(nn_input(&w), x, 4000 * sizeof(float));
    nn_infer(&w, p, 1);
    assert_memory_equal(nn_input(&w), x, 4000 * sizeof(float));
    free(x);
    free(a);
    free(p);
    nn_worker_free(&w);
}

static void test_spec_text(void **st)
{
    (void)st;
    const nn_layer_spec all[] = {
        {.kind = NN_CONV2D, .name = "c", .filters = 6, .kernel = 5, .stride = 2, .padding = -1},
        {.kind = NN_MAXPOOL, .name = "p", .kernel = 3, .stride = 2},
        {.kind = NN_DROPOUT, .name = "d", .rate = 0.3f},
        {.kind = NN_LSTM, .name = "l", .units = 256},
        {.kind = NN_FLATTEN, .name = "f"},
    };
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        char buf[256];
        nn_layer_spec back;
        nn_spec_format(&all[i], buf, sizeof buf);
        assert_int_equal(nn_spec_parse(buf, &back), FS_OK);
        assert_memory_equal(&back, &all[i], sizeof back);
    }
    nn_layer_spec x;
    assert_int_equal(nn_spec_parse("conv3d name=a", &x), FS_EDATA);
    assert_int_equal(nn_spec_parse("dense name=a units=x", &x), FS_EDATA);
    assert_int_equal(nn_spec_parse("dense name=a colour=3", &x), FS_EDATA);
}

static void test_sgd_semantics(void **st)
{
    (void)st;
    /* torch.optim.SGD(lr=0.1, momentum=0.9, weight_decay=0.01): hand-computed two steps */
    nn_sgd o = {0.1, 0.9, 0.01, 0, 0};
    float w[1] = {1.0f}, g[1] = {0.5f}, v[1] = {0};
    int first = 1;
    nn_sgd_step(&o, w, g, v, 1, &first);
    /* d = 0.5 + 0.01 = 0.51; v = 0.51; w = 1 - 0.051 = 0.949 */
    assert_float_equal(w[0], 0.949f, 1e-6);
    g[0] = 0.5f;
    nn_sgd_step(&o, w, g, v, 1, &first);
    /* d = 0.5 + 0.00949 = 0.50949; v = 0.9*0.51 + 0.50949 = 0.96849; w = 0.949 - 0.096849 */
    assert_float_equal(w[0], 0.852151f, 1e-6);
    /* nesterov */
    nn_sgd on = {0.1, 0.9, 0.0, 1, 0};
    float w2[1] = {1.0f}, g2[1] = {1.0f}, v2[1] = {0};
    first = 1;
    nn_sgd_step(&on, w2, g2, v2, 1, &first);
    /* v = 1, d = 1 + 0.9 * 1 = 1.9 -> w = 0.81 */
    assert_float_equal(w2[0], 0.81f, 1e-6);
    /* clipping */
    nn_sgd oc = {1.0, 0, 0, 0, 1.0};
    float w3[2] = {0, 0}, g3[2] = {3, 4}, v3[2];
    nn_sgd_step(&oc, w3, g3, v3, 2, &first);
    assert_float_equal(w3[0], -0.6f, 1e-6);
    assert_float_equal(w3[1], -0.8f, 1e-6);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_logreg_gradcheck), cmocka_unit_test(test_mlp_gradcheck),
        cmocka_unit_test(test_mlp_784_shapes),   cmocka_unit_test(test_lenet_gradcheck),
        cmocka_unit_test(test_cnn_gradcheck),    cmocka_unit_test(test_char_lstm_gradcheck),
        cmocka_unit_test(test_custom_gradcheck), cmocka_unit_test(test_zoo_counts),
        cmocka_unit_test(test_shape_errors),     cmocka_unit_test(test_sequence_layout),
        cmocka_unit_test(test_carried_state),    cmocka_unit_test(test_freeze),
        cmocka_unit_test(test_dropout_modes),    cmocka_unit_test(test_spec_text),
        cmocka_unit_test(test_sgd_semantics),    cmocka_unit_test(test_lenet_gradcheck_avx2),
        cmocka_unit_test(test_conv_fusion_bits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
