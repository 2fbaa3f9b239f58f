/* Tests for sim/nn/activation.c: finite-difference gradients (ReLU away from its kink,
 * dropout with a fixed mask), hand values, saturation, dropout statistics and determinism. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "nn/activation.h"
#include "nn_testutil.h"

#define N_ACT 300

enum act_kind { ACT_RELU, ACT_TANH, ACT_SIGMOID, ACT_DROPOUT };

typedef struct act_case {
    enum act_kind kind;
    float x[N_ACT], out[N_ACT], r[N_ACT], dx[N_ACT], mask[N_ACT];
} act_case;

static void act_forward(act_case *c)
{
    switch (c->kind) {
    case ACT_RELU:
        nn_relu_forward(c->out, c->x, N_ACT);
        break;
    case ACT_TANH:
        nn_tanh_forward(c->out, c->x, N_ACT);
        break;
    case ACT_SIGMOID:
        nn_sigmoid_forward(c->out, c->x, N_ACT);
        break;
    case ACT_DROPOUT: {
        /* the same key every call: the same mask in every evaluation */
        rng_t m;
        rng_init(&m, 5, RNG_LAYER_DROP, 0, 0);
        nn_dropout_forward(c->out, c->mask, c->x, N_ACT, 0.4f, 1, &m);
        break;
    }
    }
}

static double act_loss(void *ctx)
{
    act_case *c = ctx;
    act_forward(c);
    return nn_tu_dot(c->out, c->r, N_ACT);
}

static void gradcheck_act(enum act_kind kind, const char *what)
{
    rng_t rng;
    rng_init(&rng, 9, RNG_TEST, (uint64_t)kind, 0);
    act_case *c = calloc(1, sizeof *c);
    assert_non_null(c);
    c->kind = kind;
    nn_tu_fill_normal(c->x, N_ACT, 2.0f, &rng);
    /* keep ReLU inputs >= 0.05 from the kink, beyond any +-eps*|u| < 0.02 */
    for (int i = 0; i < N_ACT; i++)
        if (fabsf(c->x[i]) < 0.05f) c->x[i] = c->x[i] < 0 ? -0.05f : 0.05f;
    nn_tu_fill_normal(c->r, N_ACT, 1.0f, &rng);
    act_forward(c);
    switch (kind) {
    case ACT_RELU:
        nn_relu_backward(c->dx, c->r, c->out, N_ACT);
        break;
    case ACT_TANH:
        nn_tanh_backward(c->dx, c->r, c->out, N_ACT);
        break;
    case ACT_SIGMOID:
        nn_sigmoid_backward(c->dx, c->r, c->out, N_ACT);
        break;
    case ACT_DROPOUT:
        nn_dropout_backward(c->dx, c->r, c->mask, N_ACT);
        break;
    }
    nn_tu_check_grad(what, act_loss, c, c->x, c->dx, N_ACT, 4, &rng);
    free(c);
}

static void test_gradcheck_relu(void **state)
{
    gradcheck_act(ACT_RELU, "relu dx");
}

static void test_gradcheck_tanh(void **state)
{
    gradcheck_act(ACT_TANH, "tanh dx");
}

static void test_gradcheck_sigmoid(void **state)
{
    gradcheck_act(ACT_SIGMOID, "sigmoid dx");
}

static void test_gradcheck_dropout_fixed_mask(void **state)
{
    gradcheck_act(ACT_DROPOUT, "dropout dx");
}

static void test_hand_values(void **state)
{
    float x[6] = {-2.0f, -0.0f, 0.0f, 0.5f, 100.0f, -100.0f}, y[6];
    nn_relu_forward(y, x, 6);
    float relu[6] = {0, 0, 0, 0.5f, 100, 0};
    for (int i = 0; i < 6; i++) assert_float_equal(y[i], relu[i], 0);
    /* ReLU backward: gradient only where out > 0; accumulates into din */
    float g[6] = {1, 1, 1, 1, 1, 1}, dx[6] = {1, 1, 1, 1, 1, 1};
    nn_relu_backward(dx, g, y, 6);
    float want_dx[6] = {1, 1, 1, 2, 2, 1};
    for (int i = 0; i < 6; i++) assert_float_equal(dx[i], want_dx[i], 0);
    nn_relu_backward(NULL, g, y, 6);

    nn_sigmoid_forward(y, x, 6);
    assert_float_equal(y[0], 0.119202922f, 1e-7);
    assert_float_equal(y[2], 0.5f, 0);
    assert_float_equal(y[3], 0.622459331f, 1e-7);
    assert_float_equal(y[4], 1.0f, 0);
    assert_true(y[5] >= 0.0f && y[5] < 1e-40f); /* exp(-100): no overflow, no NaN */
    nn_tanh_forward(y, x, 6);
    assert_float_equal(y[0], -0.964027580f, 1e-7);
    assert_float_equal(y[3], 0.462117157f, 1e-7);
    assert_float_equal(y[4], 1.0f, 0);
    assert_float_equal(y[5], -1.0f, 0);

    /* in place */
    float z[3] = {-1.0f, 0.0f, 1.0f};
    nn_sigmoid_forward(z, z, 3);
    assert_float_equal(z[0], 0.268941421f, 1e-7);
    assert_float_equal(z[1], 0.5f, 0);
    float gs[3] = {2, 2, 2}, ds[3] = {0};
    nn_sigmoid_backward(ds, gs, z, 3);
    assert_float_equal(ds[1], 0.5f, 1e-7); /* 2 * 0.5 * 0.5 */
    nn_tanh_backward(ds, gs, z, 3);
    assert_float_equal(ds[1], 0.5f + 2 * (1 - 0.25f), 1e-6);
}

static void test_dropout_statistics(void **state)
{
    enum { N = 100000 };
    float *x = nn_tu_alloc(N), *y = nn_tu_alloc(N), *mask = nn_tu_alloc(N);
    for (int i = 0; i < N; i++) x[i] = 1.0f;
    rng_t r;
    rng_init(&r, 1, RNG_LAYER_DROP, 7, 3);
    const float p = 0.3f;
    nn_dropout_forward(y, mask, x, N, p, 1, &r);
    int dropped = 0;
    double sum = 0.0;
    for (int i = 0; i < N; i++) {
        if (mask[i] == 0.0f) {
            dropped++;
            assert_float_equal(y[i], 0.0f, 0);
        } else {
            assert_float_equal(mask[i], 1.0f / (1.0f - p), 0);
            assert_float_equal(y[i], mask[i], 0);
        }
        sum += y[i];
    }
    /* binomial: sd of the dropped fraction is sqrt(0.21 / 1e5) = 0.00145; allow ~7 sd */
    assert_true(fabs((double)dropped / N - p) < 0.01);
    assert_true(fabs(sum / N - 1.0) < 0.015); /* inverted dropout keeps the mean */

    /* the same key gives the same mask; a different round a different one */
    float *mask2 = nn_tu_alloc(N);
    rng_init(&r, 1, RNG_LAYER_DROP, 7, 3);
    nn_dropout_forward(y, mask2, x, N, p, 1, &r);
    assert_memory_equal(mask, mask2, N * sizeof(float));
    rng_init(&r, 1, RNG_LAYER_DROP, 7, 4);
    nn_dropout_forward(y, mask2, x, N, p, 1, &r);
    assert_memory_not_equal(mask, mask2, N * sizeof(float));

    /* backward: din += dout * mask */
    float *dx = nn_tu_alloc(N);
    nn_dropout_backward(dx, x, mask2, N);
    nn_dropout_backward(dx, x, mask2, N);
    for (int i = 0; i < N; i += 997) assert_float_equal(dx[i], 2 * mask2[i], 0);
    free(x);
    free(y);
    free(mask);
    free(mask2);
    free(dx);
}

static void test_dropout_identity_and_edges(void **state)
{
    float x[5] = {1, -2, 3, -4, 5}, y[5], mask[5];
    rng_t r, fresh;
    rng_init(&r, 2, RNG_LAYER_DROP, 0, 0);
    rng_init(&fresh, 2, RNG_LAYER_DROP, 0, 0);
    /* not training: identity, mask 1, stream untouched */
    nn_dropout_forward(y, mask, x, 5, 0.5f, 0, &r);
    for (int i = 0; i < 5; i++) {
        assert_float_equal(y[i], x[i], 0);
        assert_float_equal(mask[i], 1.0f, 0);
    }
    assert_true(rng_u64(&r) == rng_u64(&fresh));
    /* p = 0 while training: identity too; in place works */
    nn_dropout_forward(x, NULL, x, 5, 0.0f, 1, &r);
    assert_float_equal(x[4], 5.0f, 0);
    /* p = 1: everything dropped */
    nn_dropout_forward(y, mask, x, 5, 1.0f, 1, &r);
    for (int i = 0; i < 5; i++) {
        assert_float_equal(y[i], 0.0f, 0);
        assert_float_equal(mask[i], 0.0f, 0);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gradcheck_relu),
        cmocka_unit_test(test_gradcheck_tanh),
        cmocka_unit_test(test_gradcheck_sigmoid),
        cmocka_unit_test(test_gradcheck_dropout_fixed_mask),
        cmocka_unit_test(test_hand_values),
        cmocka_unit_test(test_dropout_statistics),
        cmocka_unit_test(test_dropout_identity_and_edges),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
