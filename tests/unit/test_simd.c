/* Every vector-width path of the dispatched element-wise loops (util/simd.h) against the scalar
 * definition, bit for bit, on the machine the tests run on: the SGD step in every branch (with
 * and without zeroing the gradient behind it), FedAvg's update w_k - w, the aggregation's
 * double axpy and the batch gather's image scaling, at odd lengths and offsets. A level the CPU
 * lacks is skipped with a message. Then the SGD step fused into the backward (nn_loss_backward_sgd)
 * against memset + backward + step, bit for bit, on the zoo models (direct and im2col convolutions)
 * and a model with a frozen layer, over several steps with momentum, at every level. And LeNet
 * trained at the AVX2 and the AVX-512 cap, bit for bit (its direct convolutions have kernels
 * at both widths). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "data/dataset.h"
#include "fl/algorithm.h"
#include "nn/conv_direct.h"
#include "nn/model.h"
#include "nn/optim.h"
#include "nn/zoo.h"
#include "nn_testutil.h"
#include "util/simd.h"

static const nn_sgd sgd_cases[] = {
    {0.1, 0, 0, 0, 0},       {0.1, 0, 0.01, 0, 0}, {0.05, 0.9, 0, 0, 0},
    {0.05, 0.9, 0.01, 0, 0}, {0.05, 0.9, 0, 1, 0}, {0.05, 0.9, 0.01, 1, 0},
};

/* torch.optim.SGD, one element at a time */
static void sgd_ref(const nn_sgd *o, float *w, const float *g, float *v, size_t lo, size_t hi,
                    int first)
{
    const float lr = (float)o->lr, mu = (float)o->momentum, wd = (float)o->weight_decay;
    for (size_t i = lo; i < hi; i++) {
        float d = g[i] + wd * w[i];
        if (mu != 0.0f) {
            v[i] = first ? d : mu * v[i] + d;
            d = o->nesterov ? d + mu * v[i] : v[i];
        }
        w[i] -= lr * d;
    }
}

static int level_ok(int level)
{
    if (level <= fs_simd_cpu()) return 1;
    printf("skipped: this CPU has no %s (the %s path is tested where it has)\n",
           fs_simd_name(level), fs_simd_name(level));
    return 0;
}

static void fill(float *x, size_t n, rng_t *r)
{
    nn_tu_fill_normal(x, n, 1.0f, r);
}

static void test_elementwise_levels(void **state)
{
    (void)state;
    enum { N = 203 };
    float w[N], g[N], v[N], w2[N], g2[N], v2[N];
    double s[N], s2[N];
    rng_t r;
    rng_init(&r, 1, RNG_TEST, 17, 0);
    for (int level = FS_SIMD_BASE; level <= FS_SIMD_AVX512; level++) {
        if (!level_ok(level)) continue;
        fs_simd_set_max(level);
        assert_int_equal(fs_simd_level(), level);
        for (size_t k = 0; k < sizeof sgd_cases / sizeof sgd_cases[0]; k++)
            for (int zero = 0; zero < 2; zero++)
                for (int first = 0; first < 2; first++) {
                    const size_t lo = (size_t)(k + 3 * zero + first) % 7, hi = N - lo % 5;
                    fill(w, N, &r);
                    fill(g, N, &r);
                    fill(v, N, &r);
                    memcpy(w2, w, sizeof w);
                    memcpy(g2, g, sizeof g);
                    memcpy(v2, v, sizeof v);
                    if (zero)
                        nn_sgd_step_range_zero(&sgd_cases[k], w, g, v, lo, hi, first);
                    else
                        nn_sgd_step_range(&sgd_cases[k], w, g, v, lo, hi, first);
                    sgd_ref(&sgd_cases[k], w2, g2, v2, lo, hi, first);
                    if (zero)
                        for (size_t i = lo; i < hi; i++) g2[i] = 0.0f;
                    assert_memory_equal(w, w2, sizeof w);
                    assert_memory_equal(g, g2, sizeof g);
                    if (sgd_cases[k].momentum != 0) assert_memory_equal(v, v2, sizeof v);
                }
        uint8_t px[N];
        for (size_t i = 0; i < N; i++) px[i] = (uint8_t)rng_below(&r, 256);
        ds_scale_u8(w + 1, px + 2, N - 3, 1.0f / 255);
        for (size_t i = 0; i < N - 3; i++) w2[i + 1] = (float)px[i + 2] * (1.0f / 255);
        assert_memory_equal(w + 1, w2 + 1, (N - 3) * sizeof(float));
        for (size_t n = 0; n <= N; n += 29) {
            fill(w, N, &r);
            fill(g, N, &r);
            memcpy(w2, w, sizeof w);
            const size_t m = n > 2 ? n - 2 : 0; /* w[1 .. m], g[2 .. m + 1]: odd offsets */
            fl_update_delta(w + 1, g + 2, m);
            for (size_t i = 0; i < m; i++) w2[i + 1] -= g[i + 2];
            assert_memory_equal(w, w2, sizeof w);
            for (size_t i = 0; i < N; i++) s[i] = s2[i] = rng_normal(&r);
            fl_axpy_f64(s + 3, 17.0 / 3, w, n > 3 ? n - 3 : 0);
            for (size_t i = 0; i + 3 < n; i++) s2[i + 3] += 17.0 / 3 * (double)w[i];
            assert_memory_equal(s, s2, sizeof s);
            memcpy(w2, w, sizeof w); /* the server's mean step, division included */
            fl_server_mean_step(w + 2, s + 1, m, 0.7, 3.0 + (double)n);
            for (size_t i = 0; i < m; i++)
                w2[i + 2] = (float)((double)w2[i + 2] + 0.7 * (s[i + 1] / (3.0 + (double)n)));
            assert_memory_equal(w, w2, sizeof w);
        }
    }
    fs_simd_set_max(FS_SIMD_AVX512);
}

/* fl_agg_add over element blocks on 1, 2 and 3 threads against the serial definition */
static void test_agg_threads(void **state)
{
    (void)state;
    enum { N = 100003, K = 4 };
    float *u = nn_tu_alloc((size_t)N * K);
    fl_client_result res[K];
    rng_t r;
    rng_init(&r, 3, RNG_TEST, 19, 0);
    fill(u, (size_t)N * K, &r);
    memset(res, 0, sizeof res);
    for (int k = 0; k < K; k++) {
        res[k].update = u + (size_t)k * N;
        res[k].weight = 1.0 + rng_uniform(&r) * 100;
    }
    double *ref = calloc(N, sizeof(double));
    assert_non_null(ref);
    for (int k = 0; k < K; k++)
        for (size_t i = 0; i < N; i++) ref[i] += res[k].weight * (double)res[k].update[i];
    for (int t = 1; t <= 3; t++) {
        fl_agg a;
        assert_int_equal(fl_agg_init(&a, N, 0), FS_OK);
        a.threads = t;
        fl_agg_add(&a, res, 1);
        fl_agg_add(&a, res + 1, K - 1); /* chunk by chunk: the same bits as one pass */
        assert_memory_equal(a.sum, ref, N * sizeof(double));
        assert_int_equal(a.count, K);
        fl_agg_free(&a);
    }
    free(ref);
    free(u);
}

/* n steps of batch B on model m, fused or as memset + backward + step; returns params. */
static float *train_steps(const nn_model *m, const nn_sgd *o, int fused, int steps, int B)
{
    nn_worker w;
    assert_int_equal(nn_worker_init(&w, m, B), FS_OK);
    float *p = nn_tu_alloc(m->n_params);
    rng_t r;
    rng_init(&r, 2, RNG_TEST, 18, 0);
    nn_model_init_params(m, p, &r);
    int first = 1;
    for (int s = 0; s < steps; s++) {
        for (size_t i = 0; i < (size_t)B * m->in_size; i++)
            nn_input(&w)[i] = (float)rng_uniform(&r);
        for (int b = 0; b < B; b++) w.y[b] = (int32_t)rng_below(&r, (uint64_t)m->n_classes);
        nn_forward(&w, p, B);
        if (fused) {
            nn_loss_backward_sgd(&w, p, w.y, B, 1.0 / B, o, &first);
        } else {
            memset(w.grad, 0, m->n_params * sizeof(float));
            nn_loss_backward(&w, p, w.y, B, 1.0 / B, NULL);
            nn_sgd_step_ranges(o, p, w.grad, w.opt, m->ranges, m->n_ranges, &first);
        }
    }
    if (fused) /* the precondition of the next step holds again */
        for (int k = 0; k < m->n_ranges; k++)
            for (size_t i = m->ranges[2 * k]; i < m->ranges[2 * k + 1]; i++)
                assert_true(w.grad[i] == 0.0f);
    nn_worker_free(&w);
    return p;
}

static void test_fused_backward_sgd(void **state)
{
    (void)state;
    const int in[3] = {1, 28, 28}, hidden[2] = {32, 16};
    const char *names[] = {"logreg", "mlp", "lenet", "lenet-im2col", "mlp-frozen", "cnn"};
    for (int level = FS_SIMD_BASE; level <= FS_SIMD_AVX512; level++) {
        if (!level_ok(level)) continue;
        fs_simd_set_max(level);
        for (size_t z = 0; z < sizeof names / sizeof names[0]; z++) {
            const int cnn = strcmp(names[z], "cnn") == 0;
            if (cnn && level != fs_simd_cpu()) continue; /* big: once */
            nn_model m;
            char zoo[16];
            snprintf(zoo, sizeof zoo, "%.*s", (int)strcspn(names[z], "-"), names[z]);
            assert_int_equal(nn_zoo_build(&m, zoo, hidden, 2, in, 10), FS_OK);
            if (strstr(names[z], "frozen")) {
                const char *fz[] = {m.layers[1].s.name}; /* the first dense layer */
                assert_int_equal(nn_model_freeze(&m, fz, 1), FS_OK);
            }
            nn_conv2d_set_direct(strstr(names[z], "im2col") == NULL);
            for (size_t k = 0; k < sizeof sgd_cases / sizeof sgd_cases[0]; k += cnn ? 5 : 1) {
                float *a = train_steps(&m, &sgd_cases[k], 1, cnn ? 2 : 3, cnn ? 2 : 5);
                float *b = train_steps(&m, &sgd_cases[k], 0, cnn ? 2 : 3, cnn ? 2 : 5);
                assert_memory_equal(a, b, m.n_params * sizeof(float));
                free(a);
                free(b);
            }
            nn_conv2d_set_direct(1);
        }
    }
    fs_simd_set_max(FS_SIMD_AVX512);
}

/* LeNet's training steps give the same bits with the direct convolutions' AVX-512 kernels as
 * with their AVX2 ones, at batch 10 and 32. */
static void test_lenet_widths(void **state)
{
    (void)state;
    fs_simd_set_max(FS_SIMD_AVX512);
    if (!nn_conv2d_direct_cpu() || !nn_conv2d_direct_avx512()) {
        printf("skipped: no AVX-512F + DQ on this CPU (the direct convolutions run at AVX2)\n");
        return;
    }
    const int in[3] = {1, 28, 28};
    nn_model m;
    assert_int_equal(nn_zoo_build(&m, "lenet", NULL, 0, in, 10), FS_OK);
    const int batches[2] = {10, 32};
    for (int i = 0; i < 2; i++) {
        fs_simd_set_max(FS_SIMD_AVX2);
        float *a = train_steps(&m, &sgd_cases[3], 1, 3, batches[i]);
        fs_simd_set_max(FS_SIMD_AVX512);
        float *b = train_steps(&m, &sgd_cases[3], 1, 3, batches[i]);
        assert_memory_equal(a, b, m.n_params * sizeof(float));
        free(a);
        free(b);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_elementwise_levels),
        cmocka_unit_test(test_fused_backward_sgd),
        cmocka_unit_test(test_agg_threads),
        cmocka_unit_test(test_lenet_widths),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
