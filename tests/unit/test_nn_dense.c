/* Tests for sim/nn/dense.c: finite-difference gradients of the sgemm path, the fast path
 * against the naive oracle on random shapes (with and without bias, fused ReLU), backward
 * accumulation, hand values and FLOPs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "nn/dense.h"
#include "nn_testutil.h"

typedef struct dense_case {
    int N, K, M;
    float *x, *w, *b, *out, *r, *dx, *dw, *db;
} dense_case;

static void dc_init(dense_case *c, int N, int K, int M, rng_t *rng)
{
    c->N = N;
    c->K = K;
    c->M = M;
    c->x = nn_tu_alloc((size_t)N * K);
    c->w = nn_tu_alloc((size_t)M * K);
    c->b = nn_tu_alloc((size_t)M);
    c->out = nn_tu_alloc((size_t)N * M);
    c->r = nn_tu_alloc((size_t)N * M);
    c->dx = nn_tu_alloc((size_t)N * K);
    c->dw = nn_tu_alloc((size_t)M * K);
    c->db = nn_tu_alloc((size_t)M);
    nn_tu_fill_normal(c->x, (size_t)N * K, 1.0f, rng);
    nn_tu_fill_normal(c->w, (size_t)M * K, 0.5f, rng);
    nn_tu_fill_normal(c->b, (size_t)M, 1.0f, rng);
    nn_tu_fill_normal(c->r, (size_t)N * M, 1.0f, rng);
}

static void dc_free(dense_case *c)
{
    free(c->x);
    free(c->w);
    free(c->b);
    free(c->out);
    free(c->r);
    free(c->dx);
    free(c->dw);
    free(c->db);
}

static double dc_loss(void *ctx)
{
    dense_case *c = ctx;
    nn_dense_forward(c->out, c->x, c->w, c->b, c->N, c->K, c->M, 0);
    return nn_tu_dot(c->out, c->r, (size_t)c->N * c->M);
}

/* L = sum r * (x W^T + b): gradients of x, W and b along random directions. */
static void test_gradcheck(void **state)
{
    (void)state;
    rng_t rng;
    rng_init(&rng, 21, RNG_TEST, 0, 0);
    dense_case c;
    dc_init(&c, 5, 13, 7, &rng);
    nn_dense_backward(c.dx, c.dw, c.db, c.r, c.x, c.w, c.N, c.K, c.M);
    nn_tu_check_grad("dense dx", dc_loss, &c, c.x, c.dx, (size_t)c.N * c.K, 4, &rng);
    nn_tu_check_grad("dense dw", dc_loss, &c, c.w, c.dw, (size_t)c.M * c.K, 4, &rng);
    nn_tu_check_grad("dense db", dc_loss, &c, c.b, c.db, (size_t)c.M, 4, &rng);
    dc_free(&c);
}

/* sgemm path against the double-accumulating loops on random shapes: forward to 1e-5
 * relative (+1e-5 absolute: sums of up to 300 products of N(0,1) x N(0, 0.25) terms, float
 * rounding ~ sqrt(K) * 6e-8 * |terms|), backward accumulating onto nonzero buffers. */
static void test_fast_matches_naive(void **state)
{
    (void)state;
    rng_t rng;
    rng_init(&rng, 22, RNG_TEST, 0, 0);
    for (int t = 0; t < 12; t++) {
        const int N = 1 + (int)rng_below(&rng, 40), K = 1 + (int)rng_below(&rng, 300);
        const int M = 1 + (int)rng_below(&rng, 60);
        const int with_bias = t % 3 != 0;
        dense_case c;
        dc_init(&c, N, K, M, &rng);
        const float *b = with_bias ? c.b : NULL;
        float *ref = nn_tu_alloc((size_t)N * M);
        nn_dense_forward(c.out, c.x, c.w, b, N, K, M, 0);
        nn_dense_forward_naive(ref, c.x, c.w, b, N, K, M);
        nn_tu_assert_close("dense out", c.out, ref, (size_t)N * M, 1e-5, 1e-5);
        /* fused ReLU is max(0, .) of the same values */
        nn_dense_forward(c.out, c.x, c.w, b, N, K, M, 1);
        for (size_t i = 0; i < (size_t)N * M; i++) ref[i] = ref[i] > 0 ? ref[i] : 0;
        nn_tu_assert_close("dense relu", c.out, ref, (size_t)N * M, 1e-5, 1e-5);
        /* backward: start both from the same nonzero buffers (accumulation) */
        float *dx2 = nn_tu_alloc((size_t)N * K), *dw2 = nn_tu_alloc((size_t)M * K);
        float *db2 = nn_tu_alloc((size_t)M);
        nn_tu_fill_normal(c.dx, (size_t)N * K, 1.0f, &rng);
        nn_tu_fill_normal(c.dw, (size_t)M * K, 1.0f, &rng);
        nn_tu_fill_normal(c.db, (size_t)M, 1.0f, &rng);
        memcpy(dx2, c.dx, (size_t)N * K * sizeof(float));
        memcpy(dw2, c.dw, (size_t)M * K * sizeof(float));
        memcpy(db2, c.db, (size_t)M * sizeof(float));
        nn_dense_backward(c.dx, c.dw, with_bias ? c.db : NULL, c.r, c.x, c.w, N, K, M);
        nn_dense_backward_naive(dx2, dw2, with_bias ? db2 : NULL, c.r, c.x, c.w, N, K, M);
        nn_tu_assert_close("dense dx", c.dx, dx2, (size_t)N * K, 1e-4, 1e-4);
        nn_tu_assert_close("dense dw", c.dw, dw2, (size_t)M * K, 1e-4, 1e-4);
        nn_tu_assert_close("dense db", c.db, db2, (size_t)M, 1e-4, 1e-4);
        free(ref);
        free(dx2);
        free(dw2);
        free(db2);
        dc_free(&c);
    }
}

/* x = [[1, 2], [3, -4]], W = [[1, 0], [0.5, -1], [2, 1]], b = [0.5, 0, -1]:
 * out = [[1.5, -1.5, 3], [3.5, 5.5, 1]]; with ReLU [[1.5, 0, 3], [3.5, 5.5, 1]].
 * dout = ones: dW = column sums of x per row = [[4, -2]] x 3, db = [2, 2, 2],
 * dx = sum of W rows = [3.5, 0] per sample. NULL gradients are skipped. */
static void test_hand_values(void **state)
{
    (void)state;
    const float x[4] = {1, 2, 3, -4}, w[6] = {1, 0, 0.5f, -1, 2, 1}, b[3] = {0.5f, 0, -1};
    const float want[6] = {1.5f, -1.5f, 3, 3.5f, 5.5f, 1},
                want_relu[6] = {1.5f, 0, 3, 3.5f, 5.5f, 1};
    float out[6], dx[4] = {0}, dw[6] = {0}, db[3] = {1, 1, 1};
    const float ones[6] = {1, 1, 1, 1, 1, 1};
    nn_dense_forward(out, x, w, b, 2, 2, 3, 0);
    nn_tu_assert_close("hand out", out, want, 6, 0, 1e-6);
    nn_dense_forward(out, x, w, b, 2, 2, 3, 1);
    nn_tu_assert_close("hand relu", out, want_relu, 6, 0, 1e-6);
    nn_dense_backward(dx, dw, db, ones, x, w, 2, 2, 3);
    const float want_dw[6] = {4, -2, 4, -2, 4, -2}, want_db[3] = {3, 3, 3};
    const float want_dx[4] = {3.5f, 0, 3.5f, 0};
    nn_tu_assert_close("hand dw", dw, want_dw, 6, 0, 1e-6);
    nn_tu_assert_close("hand db", db, want_db, 3, 0, 1e-6);
    nn_tu_assert_close("hand dx", dx, want_dx, 4, 0, 1e-6);
    nn_dense_backward(NULL, NULL, db, ones, x, w, 2, 2, 3);
    const float want_db2[3] = {5, 5, 5};
    nn_tu_assert_close("db only", db, want_db2, 3, 0, 1e-6);
    nn_dense_forward(out, x, w, NULL, 2, 2, 3, 0);
    const float want_nob[6] = {1, -1.5f, 4, 3, 5.5f, 2};
    nn_tu_assert_close("no bias", out, want_nob, 6, 0, 1e-6);
    assert_int_equal(nn_dense_flops(32, 784, 10), 2ull * 32 * 784 * 10);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gradcheck),
        cmocka_unit_test(test_fast_matches_naive),
        cmocka_unit_test(test_hand_values),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
