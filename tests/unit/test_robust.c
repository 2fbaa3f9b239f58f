/* Robust aggregation rules, each pinned on a small hand-computed example (docs/robustness.md):
 * the median and trimmed mean per coordinate with their kept fractions, Krum's scores and
 * choice, Multi-Krum's average, Bulyan's iterated-Krum selection and closest-to-median average
 * (checked against a Python transcription of the paper), the geometric median to tolerance,
 * centered clipping from a centre, norm bounding and its deterministic noise, FLTrust's trust
 * scores, bucketing; and the rules that reduce to the mean give FedAvg's aggregate bit for bit. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fl/algorithm.h"
#include "fl/robust/robust.h"

#define NEAR(a, b, tol) assert_true(fabs((double)(a) - (double)(b)) <= (tol))

static fl_robust_params params(int f)
{
    return (fl_robust_params){.f = f, .threads = 1, .seed = 7, .round = 3};
}

/* Run rule on u (n, d) with weights w; returns wsum, fills sum (d) and kept (n). */
static double run(const char *rule, const float *u, const double *w, int n, size_t d,
                  const fl_robust_params *p, const double *center, const float *ref, double *sum,
                  double *kept)
{
    const fl_robust_rule *r = fl_robust_find(rule);
    assert_non_null(r);
    fl_robust_in in = {n, d, u, w, center, ref, p};
    fl_robust_out out = {sum, 0, kept};
    assert_int_equal(r->aggregate(&in, &out), FS_OK);
    return out.wsum;
}

static void test_median(void **st)
{
    (void)st;
    const float u[] = {1, 10, 2, -1, 100, 0};
    const double w[] = {1, 1, 1};
    double sum[2], kept[3];
    fl_robust_params p = params(1);
    double ws = run("median", u, w, 3, 2, &p, NULL, NULL, sum, kept);
    assert_true(ws == 3);
    assert_true(sum[0] == 6 && sum[1] == 0); /* medians 2 and 0, times W = 3 */
    assert_true(kept[0] == 0 && kept[1] == 0.5 && kept[2] == 0.5);
    /* even n: the mean of the two middle values, both credited; two threads, same bits */
    const float v[] = {1, 2, 3, 100};
    const double w4[] = {1, 1, 1, 1};
    double s4[1], k4[4];
    p.threads = 2;
    run("median", v, w4, 4, 1, &p, NULL, NULL, s4, k4);
    assert_true(s4[0] == 2.5 * 4);
    assert_true(k4[0] == 0 && k4[1] == 1 && k4[2] == 1 && k4[3] == 0);
}

static void test_trimmed_mean(void **st)
{
    (void)st;
    const float u[] = {1, 2, 3, 100};
    const double w[] = {1, 1, 3, 1};
    double sum[1], kept[4];
    fl_robust_params p = params(1);
    double ws = run("trimmed_mean", u, w, 4, 1, &p, NULL, NULL, sum, kept);
    /* 1 and 100 trimmed; survivors 2 (w 1) and 3 (w 3): 11 / 4, times W = 6 */
    assert_true(ws == 6);
    NEAR(sum[0], 2.75 * 6, 1e-12);
    assert_true(kept[0] == 0 && kept[1] == 1 && kept[2] == 1 && kept[3] == 0);
    /* f larger than n tolerates is clamped: n = 4 trims at most 1 per side */
    p.f = 5;
    run("trimmed_mean", u, w, 4, 1, &p, NULL, NULL, sum, kept);
    NEAR(sum[0], 2.75 * 6, 1e-12);
}

static void test_krum(void **st)
{
    (void)st;
    const float u[] = {0, 1, 2, 10, -20};
    const double w[] = {1, 1, 1, 1, 1};
    double D[25], score[5], sum[1], kept[5];
    fl_robust_sqdist(u, 5, 1, D, 1);
    assert_true(D[0 * 5 + 3] == 100 && D[3 * 5 + 4] == 900);
    /* f = 1: each score sums the n - f - 2 = 2 smallest squared distances */
    fl_krum_scores(D, 5, 1, NULL, score);
    assert_true(score[0] == 5 && score[1] == 2 && score[2] == 5 && score[3] == 145 &&
                score[4] == 841);
    fl_robust_params p = params(1);
    double ws = run("krum", u, w, 5, 1, &p, NULL, NULL, sum, kept);
    assert_true(ws == 1 && sum[0] == 1);
    assert_true(kept[1] == 1 && kept[0] + kept[2] + kept[3] + kept[4] == 0);
    /* Multi-Krum: m = n - f = 4 lowest scores: 0, 1, 2, 10 */
    ws = run("multi_krum", u, w, 5, 1, &p, NULL, NULL, sum, kept);
    assert_true(ws == 4 && sum[0] == 13);
    assert_true(kept[4] == 0 && kept[3] == 1);
    p.m = 3;
    ws = run("multi_krum", u, w, 5, 1, &p, NULL, NULL, sum, kept);
    assert_true(ws == 3 && sum[0] == 3);
    /* Krum tolerates f <= (n - 3) / 2 */
    assert_int_equal(fl_robust_find("krum")->max_f(5), 1);
    assert_int_equal(fl_robust_find("krum")->max_f(6), 1);
    assert_int_equal(fl_robust_find("krum")->max_f(7), 2);
    assert_int_equal(fl_robust_f(fl_robust_find("krum"), 3, 5), 1);
}

static void test_bulyan(void **st)
{
    (void)st;
    /* n = 7, f = 1: theta = 5 chosen by iterated Krum (rows 2, 3, 0, 1, 4), beta = 3 values
     * closest to the median per coordinate: {1, 2, 3} -> 2 and {0, 0.25, 0.5} -> 0.25 */
    const float u[] = {0, 0.5f, 1, -1, 2, 0.25f, 3, 0, 3.5f, 2, 50, 1, -60, -3};
    const double w[] = {1, 1, 1, 1, 1, 1, 1};
    double sum[2], kept[7];
    fl_robust_params p = params(1);
    double ws = run("bulyan", u, w, 7, 2, &p, NULL, NULL, sum, kept);
    assert_true(ws == 7);
    NEAR(sum[0], 2.0 * 7, 1e-12);
    NEAR(sum[1], 0.25 * 7, 1e-12);
    const double want[7] = {0.5, 0.5, 1, 1, 0, 0, 0};
    for (int k = 0; k < 7; k++) assert_true(kept[k] == want[k]);
    assert_int_equal(fl_robust_find("bulyan")->max_f(7), 1);
    assert_int_equal(fl_robust_find("bulyan")->max_f(10), 1);
    assert_int_equal(fl_robust_find("bulyan")->max_f(11), 2);
}

static void test_geomed(void **st)
{
    (void)st;
    /* 1-D: the geometric median is the weighted median */
    const float u[] = {0, 1, 10};
    const double w[] = {1, 1, 1}, w2[] = {3, 1, 1};
    double sum[1], kept[3];
    fl_robust_params p = params(0);
    p.iters = 2000;
    p.tol = 1e-15;
    p.nu = 1e-9;
    double ws = run("geomed", u, w, 3, 1, &p, NULL, NULL, sum, kept);
    NEAR(sum[0] / ws, 1, 1e-4);
    assert_true(kept[1] == 1 && kept[2] < 0.2);
    ws = run("geomed", u, w2, 3, 1, &p, NULL, NULL, sum, kept);
    NEAR(sum[0] / ws, 0, 1e-4);
    /* 2-D: the Fermat point of (0,0), (1,0), (0,1) is (t, t), t = (3 - sqrt 3) / 6 */
    const float v[] = {0, 0, 1, 0, 0, 1};
    double s2[2], k3[3];
    ws = run("geomed", v, w, 3, 2, &p, NULL, NULL, s2, k3);
    const double t = (3 - sqrt(3)) / 6;
    NEAR(s2[0] / ws, t, 1e-5);
    NEAR(s2[1] / ws, t, 1e-5);
}

static void test_centered_clip(void **st)
{
    (void)st;
    const float u[] = {3, 4, 0.3f, 0};
    const double w[] = {1, 1};
    double sum[2], kept[2];
    fl_robust_params p = params(0);
    p.clip = 1;
    /* centre 0: (3,4) clipped to (0.6, 0.8), (0.3, 0) kept: mean (0.45, 0.4) */
    double ws = run("centered_clip", u, w, 2, 2, &p, NULL, NULL, sum, kept);
    NEAR(sum[0] / ws, 0.45, 1e-7);
    NEAR(sum[1] / ws, 0.4, 1e-12);
    NEAR(kept[0], 0.2, 1e-12);
    assert_true(kept[1] == 1);
    /* centre (1, 0): (2, 4) / sqrt 20 and (-0.7, 0): v = (1, 0) + their mean */
    const double c[2] = {1, 0};
    run("centered_clip", u, w, 2, 2, &p, c, NULL, sum, kept);
    NEAR(sum[0] / 2, 1 + (2 / sqrt(20) - 0.7) / 2, 1e-7);
    NEAR(sum[1] / 2, (4 / sqrt(20)) / 2, 1e-7);
}

static void test_norm_bound(void **st)
{
    (void)st;
    const float u[] = {3, 4, 0.3f, 0};
    const double w[] = {1, 3};
    double sum[2], kept[2], s2[2];
    fl_robust_params p = params(0);
    p.clip = 1;
    double ws = run("norm_bound", u, w, 2, 2, &p, NULL, NULL, sum, kept);
    assert_true(ws == 4);
    NEAR(sum[0], 0.6 + 3 * 0.3, 1e-7);
    NEAR(sum[1], 0.8, 1e-7);
    NEAR(kept[0], 0.2, 1e-12);
    /* weak DP: noise of the given sigma, the same for the same (seed, round), else different */
    p.noise = 0.5;
    run("norm_bound", u, w, 2, 2, &p, NULL, NULL, s2, kept);
    assert_true(s2[0] != sum[0]);
    double s3[2];
    run("norm_bound", u, w, 2, 2, &p, NULL, NULL, s3, kept);
    assert_true(s3[0] == s2[0] && s3[1] == s2[1]);
    p.round = 4;
    run("norm_bound", u, w, 2, 2, &p, NULL, NULL, s3, kept);
    assert_true(s3[0] != s2[0]);
}

static void test_fltrust(void **st)
{
    (void)st;
    const float u[] = {2, 0, 0, 5, 1, 1, -1, 0}, g0[] = {1, 0};
    const double w[] = {1, 1, 1, 1};
    double sum[2], kept[4];
    fl_robust_params p = params(0);
    double ws = run("fltrust", u, w, 4, 2, &p, NULL, g0, sum, kept);
    const double r = sqrt(0.5);
    NEAR(kept[0], 1, 1e-12);
    assert_true(kept[1] == 0 && kept[3] == 0);
    NEAR(kept[2], r, 1e-12);
    NEAR(sum[0] / ws, (1 + r * r) / (1 + r), 1e-7);
    NEAR(sum[1] / ws, (r * r) / (1 + r), 1e-7);
    /* every score 0: no step */
    const float bad[] = {-1, 0, 0, 2};
    run("fltrust", bad, w, 2, 2, &p, NULL, g0, sum, kept);
    assert_true(sum[0] == 0 && sum[1] == 0);
    assert_true(fl_robust_find("fltrust")->needs_ref);
}

static void test_bucketing(void **st)
{
    (void)st;
    const float u[] = {1, 2, 3, 100, 5, 6};
    const double w[] = {1, 1, 1, 1, 1, 1};
    double sum[1], kept[6];
    fl_robust_params p = params(0);
    const fl_robust_rule *med = fl_robust_find("median");
    fl_robust_in in = {6, 1, u, w, NULL, NULL, &p};
    fl_robust_out out = {sum, 0, kept};
    /* one bucket of all six: the median of one bucket mean is the mean */
    rng_t r;
    rng_init(&r, 1, RNG_TEST, 0, 0);
    assert_int_equal(fl_robust_bucketed(med, &in, 6, &r, &out), FS_OK);
    NEAR(sum[0] / out.wsum, 117.0 / 6, 1e-5);
    for (int k = 0; k < 6; k++) assert_true(kept[k] == 1);
    /* buckets of 2: three bucket means; the median picks one bucket, whose two members are
     * kept; the result is one of the bucket means */
    rng_init(&r, 1, RNG_TEST, 0, 0);
    assert_int_equal(fl_robust_bucketed(med, &in, 2, &r, &out), FS_OK);
    int nk = 0;
    for (int k = 0; k < 6; k++) nk += kept[k] == 1;
    assert_int_equal(nk, 2);
    double m = 0;
    for (int k = 0; k < 6; k++)
        if (kept[k] == 1) m += u[k] / 2.0;
    NEAR(sum[0] / out.wsum, m, 1e-5);
    /* s <= 1: the rule alone */
    assert_int_equal(fl_robust_bucketed(med, &in, 1, &r, &out), FS_OK);
    NEAR(sum[0] / out.wsum, 4, 1e-12);
}

/* The rules that remove nothing equal fl_agg_add's weighted sum bit for bit. */
static void test_reduces_to_fedavg(void **st)
{
    (void)st;
    enum { N = 5, D = 64 };
    float u[N * D];
    double w[N];
    rng_t r;
    rng_init(&r, 3, RNG_TEST, 0, 0);
    for (int i = 0; i < N * D; i++) u[i] = (float)rng_normal(&r);
    fl_client_result res[N];
    for (int k = 0; k < N; k++) {
        w[k] = 10 + k * 7;
        res[k] = (fl_client_result){.weight = w[k], .n_samples = 1, .update = u + k * D};
    }
    fl_agg a;
    assert_int_equal(fl_agg_init(&a, D, 0), FS_OK);
    fl_agg_add(&a, res, N);
    const char *rules[] = {"mean", "trimmed_mean", "multi_krum"};
    for (int j = 0; j < 3; j++) {
        double sum[D], kept[N];
        fl_robust_params p = params(0);
        double ws = run(rules[j], u, w, N, D, &p, NULL, NULL, sum, kept);
        assert_true(ws == a.wsum);
        assert_memory_equal(sum, a.sum, sizeof sum);
    }
    fl_agg_free(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_median),     cmocka_unit_test(test_trimmed_mean),
        cmocka_unit_test(test_krum),       cmocka_unit_test(test_bulyan),
        cmocka_unit_test(test_geomed),     cmocka_unit_test(test_centered_clip),
        cmocka_unit_test(test_norm_bound), cmocka_unit_test(test_fltrust),
        cmocka_unit_test(test_bucketing),  cmocka_unit_test(test_reduces_to_fedavg),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
