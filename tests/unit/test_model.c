/* Models: finite-difference gradient checks for logistic regression and the MLP (central
 * differences in double on the float model, along random directions and per coordinate),
 * shapes and parameter counts, PyTorch-style init bounds, SGD step semantics. */
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
        cmocka_unit_test(test_logreg_gradcheck),
        cmocka_unit_test(test_mlp_gradcheck),
        cmocka_unit_test(test_mlp_784_shapes),
        cmocka_unit_test(test_sgd_semantics),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
