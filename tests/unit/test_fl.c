/* Algorithms: FedAvg's aggregation is the sample-weighted mean exactly on a hand-made example;
 * a FedAvg round equals the weighted mean of independently trained client models; FedSGD with
 * one client equals one step of centralised gradient descent; client updates are pure
 * functions (same inputs, same bits). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fl_testutil.h"

#include "fl/algorithm.h"
#include "nn/train.h"
#include "nn/zoo.h"

static void test_weighted_mean_exact(void **st)
{
    (void)st;
    float u1[2] = {1, 2}, u2[2] = {3, -2}, w[2] = {0.5f, 0.5f};
    fl_client_result res[2] = {{.weight = 1, .update = u1}, {.weight = 3, .update = u2}};
    double sum[2] = {0, 0}, wsum = 0;
    fl_weighted_sum_add(res, 2, 2, sum, &wsum);
    assert_true(wsum == 4);
    for (int i = 0; i < 2; i++) sum[i] /= wsum;
    assert_true(sum[0] == 2.5 && sum[1] == -1.0);
    fl_server_apply(w, sum, 2, 1.0);
    assert_true(w[0] == 3.0f && w[1] == -0.5f);
    /* chunked accumulation gives the same bits as one pass */
    double s2[2] = {0, 0}, w2 = 0;
    fl_weighted_sum_add(res, 1, 2, s2, &w2);
    fl_weighted_sum_add(res + 1, 1, 2, s2, &w2);
    assert_true(s2[0] / w2 == 2.5 && s2[1] / w2 == -1.0);
}

static void test_fedavg_round(void **st)
{
    (void)st;
    dataset ds;
    make_data_n(&ds, 60);
    partition p;
    assert_int_equal(part_iid(60, 3, 1, &p), FS_OK);
    nn_model m;
    int hidden[1] = {6};
    assert_int_equal(nn_zoo_build(&m, "mlp", hidden, 1, ds.shape, 3), FS_OK);
    float *g = malloc(m.n_params * sizeof(float));
    rng_t r;
    rng_init(&r, 1, RNG_INIT, 0, 0);
    nn_model_init_params(&m, g, &r);
    fl_train_cfg tc = {2, 0, 4, {0.1, 0.5, 1e-4, 0, 0}};
    fl_round_ctx ctx = {&m, &ds, &p, g, &tc, 7, 1, NULL, NULL, NULL};
    nn_worker w;
    nn_worker_init(&w, &m, 4);
    const fl_algorithm *fa = fl_find("fedavg");
    assert_non_null(fa);
    fl_client_result res[3];
    float *ub = malloc(3 * m.n_params * sizeof(float));
    float *models = malloc(3 * m.n_params * sizeof(float));
    for (int k = 0; k < 3; k++) {
        res[k].update = ub + k * m.n_params;
        fa->client_update(&ctx, (uint32_t)k, &w, &res[k]);
        assert_int_equal(res[k].n_samples, 20);
        assert_int_equal(res[k].steps, 2 * 5);
        long steps;
        fl_local_sgd(&ctx, (uint32_t)k, &w, models + k * m.n_params, &steps);
        /* pure: training again gives the same bits */
        for (size_t i = 0; i < m.n_params; i++)
            assert_true(res[k].update[i] == models[k * m.n_params + i] - g[i]);
    }
    double *sum = calloc(m.n_params, sizeof(double)), wsum = 0;
    fl_weighted_sum_add(res, 3, m.n_params, sum, &wsum);
    for (size_t i = 0; i < m.n_params; i++) sum[i] /= wsum;
    float *g2 = malloc(m.n_params * sizeof(float));
    memcpy(g2, g, m.n_params * sizeof(float));
    fl_server_apply(g2, sum, m.n_params, 1.0);
    for (size_t i = 0; i < m.n_params; i++) {
        double mean = (models[i] + models[m.n_params + i] + models[2 * m.n_params + i]) / 3.0;
        assert_true(fabs(g2[i] - mean) < 1e-6);
    }
    free(sum);
    free(g2);
    free(ub);
    free(models);
    free(g);
    nn_worker_free(&w);
    part_free(&p);
    ds_free(&ds);
}

static void test_fedsgd_single_client(void **st)
{
    (void)st;
    dataset ds;
    make_data_n(&ds, 60);
    partition p;
    assert_int_equal(part_iid(60, 1, 1, &p), FS_OK);
    nn_model m;
    assert_int_equal(nn_zoo_build(&m, "logreg", NULL, 0, ds.shape, 3), FS_OK);
    float *g = malloc(m.n_params * sizeof(float)), *u = malloc(m.n_params * sizeof(float));
    rng_t r;
    rng_init(&r, 1, RNG_INIT, 0, 0);
    nn_model_init_params(&m, g, &r);
    fl_train_cfg tc = {1, 0, 10, {0.1, 0, 0, 0, 0}};
    fl_round_ctx ctx = {&m, &ds, &p, g, &tc, 7, 1, NULL, NULL, NULL};
    nn_worker w;
    nn_worker_init(&w, &m, 64);
    fl_client_result res = {.update = u};
    fl_find("fedsgd")->client_update(&ctx, 0, &w, &res);
    double *sum = calloc(m.n_params, sizeof(double)), wsum = 0;
    fl_weighted_sum_add(&res, 1, m.n_params, sum, &wsum);
    for (size_t i = 0; i < m.n_params; i++) sum[i] /= wsum;
    float *after = malloc(m.n_params * sizeof(float));
    memcpy(after, g, m.n_params * sizeof(float));
    fl_server_apply(after, sum, m.n_params, 0.5);
    /* centralised (same sample order, so the same sums): full-batch gradient of the mean loss over
     * all 60 samples, one GD step */
    nn_worker wc;
    nn_worker_init(&wc, &m, 60);
    ds_gather(&ds, &ds.train, part_samples(&p, 0), 60, nn_input(&wc), wc.y);
    nn_forward(&wc, g, 60);
    memset(wc.grad, 0, m.n_params * sizeof(float));
    nn_loss_backward(&wc, g, wc.y, 60, 1.0 / 60, NULL);
    for (size_t i = 0; i < m.n_params; i++) {
        float expect = (float)((double)g[i] - 0.5 * (double)wc.grad[i]);
        assert_true(after[i] == expect);
    }
    free(sum);
    free(after);
    free(g);
    free(u);
    nn_worker_free(&w);
    nn_worker_free(&wc);
    part_free(&p);
    ds_free(&ds);
}

static void test_local_work(void **st)
{
    (void)st;
    fl_train_cfg e = {3, 0, 10, {0, 0, 0, 0, 0}}, s = {1, 7, 10, {0, 0, 0, 0, 0}};
    long steps, samples;
    fl_local_work(&e, 25, &steps, &samples);
    assert_int_equal(steps, 9);
    assert_int_equal(samples, 75);
    fl_local_work(&s, 25, &steps, &samples);
    assert_int_equal(steps, 7);
    assert_int_equal(samples, 70);
    fl_local_work(&s, 4, &steps, &samples); /* batch capped by the client's size */
    assert_int_equal(samples, 28);
}

/* fl_algo_work charges what each client_update computes, on a client of 25 samples (batch 10,
 * 3 epochs: 9 steps of 75 samples; or 7 steps of min(10, n)): local SGD once for FedAvg and the
 * others, twice for Ditto (the personal model), APFL (the gradient at the mixed model) and
 * Per-FedAvg (the gradient on D'); FedRep adds its head epochs (with personal layers only),
 * q-FFL a forward pass over its samples (F_k(w^t)); FedSGD one full batch. */
static void check_work(const char *name, const fl_params *p, const fl_train_cfg *tc, uint32_t n,
                       long steps, long samples, long fwd)
{
    const fl_algorithm *a = fl_find(name);
    assert_non_null(a);
    fl_work w = {-1, -1, -1};
    fl_algo_work(a, p, tc, n, &w);
    assert_int_equal(w.steps, steps);
    assert_int_equal(w.samples, samples);
    assert_int_equal(w.fwd_samples, fwd);
}

static void test_algo_work(void **st)
{
    (void)st;
    fl_train_cfg e = {3, 0, 10, {0, 0, 0, 0, 0}}, s = {1, 7, 10, {0, 0, 0, 0, 0}};
    fl_params p = fl_params_default();
    static const char *const plain[] = {"fedavg",  "fedprox", "feddyn",  "scaffold",
                                        "fednova", "fedavgm", "fedadam", "fedper"};
    for (size_t k = 0; k < sizeof plain / sizeof *plain; k++) {
        check_work(plain[k], NULL, &e, 25, 9, 75, 0);
        check_work(plain[k], NULL, &s, 4, 7, 28, 0);
    }
    check_work("fedsgd", NULL, &e, 25, 1, 25, 0);
    static const char *const twice[] = {"ditto", "apfl", "perfedavg"};
    for (size_t k = 0; k < sizeof twice / sizeof *twice; k++) {
        check_work(twice[k], NULL, &e, 25, 18, 150, 0);
        check_work(twice[k], NULL, &s, 4, 14, 56, 0);
    }
    check_work("qffl", NULL, &e, 25, 9, 75, 25);
    check_work("qffl", NULL, &s, 4, 7, 28, 4);
    check_work("fedrep", NULL, &e, 25, 9, 75, 0); /* no personal layers, no head epochs */
    p.head_epochs = 2;
    check_work("fedrep", &p, &e, 25, 9, 75, 0); /* head epochs without personal layers: none */
    p.n_personal = 1;
    p.personal[0] = 0;
    p.personal[1] = 5;
    check_work("fedrep", &p, &e, 25, 9 + 2 * 3, 75 + 2 * 25, 0);
    check_work("fedrep", &p, &s, 4, 7 + 2 * 1, 28 + 2 * 4, 0); /* head: epochs, not steps */
    check_work("fedper", &p, &e, 25, 9, 75, 0);                /* FedPer has no head epochs */
    p.head_epochs = 0;
    check_work("fedrep", &p, &e, 25, 9, 75, 0);
}

/* fl_evaluate_client evaluates a client's samples as the client sees them: equal, bit for bit,
 * to evaluating a copy of the data with the client's feature transform already applied (and,
 * with noise, different from the raw samples); a client at transform level 0 sees raw data. */
static void test_evaluate_client_transform(void **st)
{
    (void)st;
    dataset ds;
    make_data_n(&ds, 60);
    const uint32_t sizes[3] = {20, 25, 15};
    partition p;
    make_part(&p, sizes, 3);
    assert_int_equal(part_set_feature(&p, &ds, PART_FEAT_NOISE, 1.0, 7), FS_OK);
    nn_model m;
    assert_int_equal(nn_zoo_build(&m, "logreg", NULL, 0, ds.shape, 3), FS_OK);
    float *params = calloc(m.n_params, sizeof *params);
    rng_t r;
    rng_init(&r, 3, RNG_INIT, 0, 0);
    nn_model_init_params(&m, params, &r);
    nn_worker w;
    assert_int_equal(nn_worker_init(&w, &m, 8), FS_OK); /* 15 samples: batches 8 + 7 */
    for (uint32_t c = 0; c < 3; c += 2) {
        const uint32_t n = part_size(&p, c);
        const uint32_t *idx = part_samples(&p, c);
        dataset seen = ds; /* the client's samples, transformed, as samples 0..n-1 */
        memset(&seen.train, 0, sizeof seen.train);
        assert_int_equal(ds_split_alloc(&seen, &seen.train, n, 0), FS_OK);
        ds_gather(&ds, &ds.train, idx, n, seen.train.x, seen.train.y);
        part_transform(&p, &ds, c, idx, n, seen.train.x);
        uint32_t *seq = calloc(n, sizeof *seq);
        for (uint32_t i = 0; i < n; i++) seq[i] = i;
        double want_loss, want_acc, raw_loss, raw_acc, lsum = 0;
        long hits = 0;
        nn_evaluate_idx(&w, params, &seen, &seen.train, seq, n, &want_loss, &want_acc);
        nn_evaluate_idx(&w, params, &ds, &ds.train, idx, n, &raw_loss, &raw_acc);
        fl_evaluate_client(&w, params, &ds, &ds.train, &p, c, idx, n, &lsum, &hits);
        assert_true(lsum / n == want_loss);
        assert_true((double)hits / n == want_acc);
        if (c == 0)
            assert_true(want_loss == raw_loss); /* level 0 */
        else
            assert_true(fabs(want_loss - raw_loss) > 1e-3); /* sd 1 noise changes the loss */
        free(seq);
        free(seen.train.x);
        free(seen.train.y);
        free(seen.train.client);
    }
    nn_worker_free(&w);
    free(params);
    part_free(&p);
    ds_free(&ds);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_weighted_mean_exact),
        cmocka_unit_test(test_fedavg_round),
        cmocka_unit_test(test_fedsgd_single_client),
        cmocka_unit_test(test_local_work),
        cmocka_unit_test(test_algo_work),
        cmocka_unit_test(test_evaluate_client_transform),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
