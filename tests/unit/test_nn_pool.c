/* Tests for sim/nn/pool.c: finite-difference gradients (max-pool on tie-free inputs),
 * PyTorch fixtures (overlapping windows included), hand-computed argmax, ties and NaN; the
 * backward fused with the ReLU before it against the separate passes, bit for bit. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "nn/pool.h"
#include "nn_testutil.h"

typedef struct pool_case {
    nn_pool2d_dims d;
    int is_max;
    size_t nx, nout;
    float *x, *out, *r, *dx;
    int32_t *am;
} pool_case;

static double pc_loss(void *ctx)
{
    pool_case *c = ctx;
    if (c->is_max)
        nn_maxpool2d_forward(c->out, c->am, c->x, &c->d);
    else
        nn_avgpool2d_forward(c->out, c->x, &c->d);
    return nn_tu_dot(c->out, c->r, c->nout);
}

/* Max-pool x: a random permutation of 0, 0.1, 0.2, ... shifted to mean ~0: every two differ
 * by >= 0.1, far more than twice the eps*|u| < 0.02 of the finite differences, so no
 * window's argmax can change between the two evaluations. */
static void gradcheck_pool(int is_max, nn_pool2d_dims d, uint64_t entity)
{
    rng_t rng;
    rng_init(&rng, 3, RNG_TEST, entity, 0);
    assert_int_equal(nn_pool2d_check_dims(&d), FS_OK);
    pool_case c = {.d = d, .is_max = is_max};
    c.nx = (size_t)d.B * d.C * d.H * d.W;
    c.nout = (size_t)d.B * d.C * nn_pool2d_out_h(&d) * nn_pool2d_out_w(&d);
    c.x = nn_tu_alloc(c.nx);
    c.dx = nn_tu_alloc(c.nx);
    c.out = nn_tu_alloc(c.nout);
    c.r = nn_tu_alloc(c.nout);
    c.am = calloc(c.nout, sizeof(int32_t));
    uint32_t *perm = calloc(c.nx, sizeof(uint32_t));
    assert_non_null(c.am);
    assert_non_null(perm);
    for (size_t i = 0; i < c.nx; i++) perm[i] = (uint32_t)i;
    rng_shuffle_u32(&rng, perm, c.nx);
    for (size_t i = 0; i < c.nx; i++) c.x[i] = 0.1f * (float)perm[i] - 0.05f * (float)c.nx;
    if (!is_max) nn_tu_fill_normal(c.x, c.nx, 1.0f, &rng); /* smooth: no kinks to avoid */
    nn_tu_fill_normal(c.r, c.nout, 1.0f, &rng);
    pc_loss(&c);
    if (is_max)
        nn_maxpool2d_backward(c.dx, c.r, c.am, &d);
    else
        nn_avgpool2d_backward(c.dx, c.r, &d);
    nn_tu_check_grad(is_max ? "maxpool dx" : "avgpool dx", pc_loss, &c, c.x, c.dx, c.nx, 4, &rng);
    free(perm);
    free(c.x);
    free(c.dx);
    free(c.out);
    free(c.r);
    free(c.am);
}

static void test_gradcheck_maxpool(void **state)
{
    gradcheck_pool(1, (nn_pool2d_dims){2, 3, 8, 8, 2, 2, 2, 2}, 1);
    gradcheck_pool(1, (nn_pool2d_dims){2, 2, 7, 9, 3, 2, 2, 1}, 2); /* overlapping */
}

static void test_gradcheck_avgpool(void **state)
{
    gradcheck_pool(0, (nn_pool2d_dims){2, 3, 8, 8, 2, 2, 2, 2}, 3);
    gradcheck_pool(0, (nn_pool2d_dims){2, 2, 7, 9, 3, 2, 2, 1}, 4);
}

static void test_maxpool_by_hand(void **state)
{
    nn_pool2d_dims d = {1, 1, 4, 4, 2, 2, 2, 2};
    /* windows: {1,5,2,0} {3,3,-1,7} / {0,0,9,-2} {4,8,8,6}: ties 3,3 and 0,0 and 8,8 */
    float x[16] = {1, 5, 3, 3, 2, 0, -1, 7, 0, 0, 4, 8, 9, -2, 8, 6};
    float out[4];
    int32_t am[4];
    nn_maxpool2d_forward(out, am, x, &d);
    float want[4] = {5, 7, 9, 8};
    int32_t want_am[4] = {1, 7, 12, 11}; /* first of the tied 8s in row-major order */
    for (int i = 0; i < 4; i++) {
        assert_float_equal(out[i], want[i], 0);
        assert_int_equal(am[i], want_am[i]);
    }
    float g[4] = {1, 2, 3, 4}, dx[16];
    for (int i = 0; i < 16; i++) dx[i] = 0.5f;
    nn_maxpool2d_backward(dx, g, am, &d);
    nn_maxpool2d_backward(NULL, g, am, &d); /* skipped */
    for (int i = 0; i < 16; i++) {
        float w = 0.5f;
        for (int k = 0; k < 4; k++)
            if (want_am[k] == i) w += g[k];
        assert_float_equal(dx[i], w, 0);
    }
    /* a NaN in a window propagates */
    x[0] = NAN;
    nn_maxpool2d_forward(out, am, x, &d);
    assert_true(isnan(out[0]));
    assert_int_equal(am[0], 0);
    assert_float_equal(out[1], 7, 0);
}

static void test_avgpool_by_hand(void **state)
{
    nn_pool2d_dims d = {1, 1, 3, 3, 2, 2, 1, 1};
    float x[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9}, out[4];
    nn_avgpool2d_forward(out, x, &d);
    float want[4] = {3, 4, 6, 7};
    for (int i = 0; i < 4; i++) assert_float_equal(out[i], want[i], 1e-6);
    float g[4] = {4, 8, 12, 16}, dx[9] = {0};
    nn_avgpool2d_backward(dx, g, &d);
    float want_dx[9] = {1, 3, 2, 4, 10, 6, 3, 7, 4};
    for (int i = 0; i < 9; i++) assert_float_equal(dx[i], want_dx[i], 1e-6);
}

static void torch_case(const char *tag, int is_max)
{
    char key[64];
    snprintf(key, sizeof key, "%s.dims", tag);
    int32_t *dm = nn_tu_fixture_int(key, 8);
    nn_pool2d_dims d = {dm[0], dm[1], dm[2], dm[3], dm[4], dm[5], dm[6], dm[7]};
    free(dm);
    assert_int_equal(nn_pool2d_check_dims(&d), FS_OK);
    size_t nx = (size_t)d.B * d.C * d.H * d.W;
    size_t nout = (size_t)d.B * d.C * nn_pool2d_out_h(&d) * nn_pool2d_out_w(&d);
    const char *names[] = {"x", "out", "r", "dx"};
    size_t sizes[] = {nx, nout, nout, nx};
    float *f[4];
    for (int i = 0; i < 4; i++) {
        snprintf(key, sizeof key, "%s.%s", tag, names[i]);
        f[i] = nn_tu_fixture(key, sizes[i]);
    }
    float *out = nn_tu_alloc(nout), *dx = nn_tu_alloc(nx);
    int32_t *am = calloc(nout, sizeof(int32_t));
    assert_non_null(am);
    if (is_max) {
        nn_maxpool2d_forward(out, am, f[0], &d);
        nn_maxpool2d_backward(dx, f[2], am, &d);
    } else {
        nn_avgpool2d_forward(out, f[0], &d);
        nn_avgpool2d_backward(dx, f[2], &d);
    }
    nn_tu_assert_close("torch out", out, f[1], nout, 1e-5, 1e-5);
    nn_tu_assert_close("torch dx", dx, f[3], nx, 1e-5, 1e-5);
    for (int i = 0; i < 4; i++) free(f[i]);
    free(out);
    free(dx);
    free(am);
}

static void test_torch_maxpool(void **state)
{
    torch_case("maxpool1", 1); /* 2x2 stride 2 */
    torch_case("maxpool2", 1); /* 3x3 stride 2: overlapping windows */
}

static void test_torch_avgpool(void **state)
{
    torch_case("avgpool1", 0); /* 3x3 stride 2 */
    torch_case("avgpool2", 0); /* 2x2 stride 1 */
}

static void test_dims(void **state)
{
    nn_pool2d_dims d = {1, 1, 28, 28, 2, 2, 2, 2};
    assert_int_equal(nn_pool2d_out_h(&d), 14);
    d = (nn_pool2d_dims){1, 1, 7, 9, 3, 2, 2, 1};
    assert_int_equal(nn_pool2d_out_h(&d), 3);
    assert_int_equal(nn_pool2d_out_w(&d), 8);
    d = (nn_pool2d_dims){1, 1, 2, 2, 3, 3, 1, 1};
    assert_int_equal(nn_pool2d_check_dims(&d), FS_EINPUT);
    d = (nn_pool2d_dims){1, 1, 4, 4, 2, 2, 0, 1};
    assert_int_equal(nn_pool2d_check_dims(&d), FS_EINPUT);
}

/* nn_maxpool2d_backward_relu against the sequence it replaces (din zeroed, max-pool backward,
 * in-place ReLU backward din = y > 0 ? din : 0), bit for bit: y drawn from a few values so that
 * windows tie, with -0, +0 and NaN among them; gradients with -0 and NaN. */
static void check_pool_relu(nn_pool2d_dims d, rng_t *rng)
{
    assert_int_equal(nn_pool2d_check_dims(&d), FS_OK);
    assert_true(nn_maxpool2d_tiles(&d));
    const size_t nx = (size_t)d.B * d.C * d.H * d.W;
    const size_t no = (size_t)d.B * d.C * nn_pool2d_out_h(&d) * nn_pool2d_out_w(&d);
    float *y = nn_tu_alloc(nx), *out = nn_tu_alloc(no), *g = nn_tu_alloc(no);
    float *ref = nn_tu_alloc(nx), *dx = nn_tu_alloc(nx);
    int32_t *am = calloc(no, sizeof(int32_t));
    assert_non_null(am);
    const float vals[6] = {-0.0f, 0.0f, 1.5f, -2.0f, NAN, 0.25f};
    for (size_t i = 0; i < nx; i++)
        y[i] = rng_below(rng, 4) ? vals[rng_below(rng, 6)] : (float)rng_normal(rng);
    nn_maxpool2d_forward(out, am, y, &d);
    for (size_t i = 0; i < no; i++) {
        const uint64_t k = rng_below(rng, 8);
        g[i] = k == 0 ? -0.0f : k == 1 ? NAN : (float)rng_normal(rng);
    }
    memset(ref, 0, nx * sizeof(float));
    nn_maxpool2d_backward(ref, g, am, &d);
    for (size_t i = 0; i < nx; i++) ref[i] = y[i] > 0.0f ? ref[i] : 0.0f;
    for (size_t i = 0; i < nx; i++) dx[i] = NAN; /* written, not accumulated */
    nn_maxpool2d_backward_relu(dx, g, am, y, &d);
    assert_memory_equal(dx, ref, nx * sizeof(float));
    free(y);
    free(out);
    free(g);
    free(ref);
    free(dx);
    free(am);
}

static void test_maxpool_relu_backward(void **state)
{
    (void)state;
    rng_t rng;
    rng_init(&rng, 5, RNG_TEST, 0, 0);
    check_pool_relu((nn_pool2d_dims){3, 6, 24, 24, 2, 2, 2, 2}, &rng); /* LeNet's pools */
    check_pool_relu((nn_pool2d_dims){3, 16, 8, 8, 2, 2, 2, 2}, &rng);
    check_pool_relu((nn_pool2d_dims){2, 3, 6, 10, 2, 2, 2, 2}, &rng);
    check_pool_relu((nn_pool2d_dims){2, 2, 9, 6, 3, 3, 3, 3}, &rng);
    check_pool_relu((nn_pool2d_dims){1, 2, 4, 9, 2, 3, 2, 3}, &rng);
    assert_false(nn_maxpool2d_tiles(&(nn_pool2d_dims){1, 1, 5, 4, 2, 2, 2, 2}));
    assert_false(nn_maxpool2d_tiles(&(nn_pool2d_dims){1, 1, 4, 4, 2, 2, 1, 1}));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gradcheck_maxpool),
        cmocka_unit_test(test_gradcheck_avgpool),
        cmocka_unit_test(test_maxpool_by_hand),
        cmocka_unit_test(test_avgpool_by_hand),
        cmocka_unit_test(test_torch_maxpool),
        cmocka_unit_test(test_torch_avgpool),
        cmocka_unit_test(test_dims),
        cmocka_unit_test(test_maxpool_relu_backward),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
