/* Keyed rng streams: same key same numbers, different keys independent, order of use
 * irrelevant, uniform and normal draws have the right moments. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <gsl/gsl_randist.h>

#include "util/rng.h"

static void test_same_key_same_numbers(void **st)
{
    (void)st;
    rng_t a, b;
    rng_init(&a, 42, RNG_TRAIN, 17, 3);
    rng_init(&b, 42, RNG_TRAIN, 17, 3);
    for (int i = 0; i < 1000; i++) assert_true(rng_u64(&a) == rng_u64(&b));
}

static void test_keys_differ(void **st)
{
    (void)st;
    /* changing any one field of the key gives a different stream */
    uint64_t keys[5][4] = {{1, RNG_TRAIN, 5, 2},
                           {2, RNG_TRAIN, 5, 2},
                           {1, RNG_SELECT, 5, 2},
                           {1, RNG_TRAIN, 6, 2},
                           {1, RNG_TRAIN, 5, 3}};
    uint64_t first[5];
    for (int k = 0; k < 5; k++) {
        rng_t r;
        rng_init(&r, keys[k][0], (uint32_t)keys[k][1], keys[k][2], keys[k][3]);
        first[k] = rng_u64(&r);
    }
    for (int i = 0; i < 5; i++)
        for (int j = i + 1; j < 5; j++) assert_true(first[i] != first[j]);
    /* entity/round swap must not collide */
    rng_t x, y;
    rng_init(&x, 1, RNG_TRAIN, 2, 3);
    rng_init(&y, 1, RNG_TRAIN, 3, 2);
    assert_true(rng_u64(&x) != rng_u64(&y));
}

static void test_independence(void **st)
{
    (void)st;
    /* correlation between neighbouring entities' uniform streams is ~0 */
    const int n = 20000;
    double sxy = 0, sx = 0, sy = 0, sxx = 0, syy = 0;
    for (int i = 0; i < n; i++) {
        rng_t a, b;
        rng_init(&a, 9, RNG_DEVICE, (uint64_t)i, 0);
        rng_init(&b, 9, RNG_DEVICE, (uint64_t)i + 1, 0);
        double x = rng_uniform(&a), y = rng_uniform(&b);
        sx += x, sy += y, sxy += x * y, sxx += x * x, syy += y * y;
    }
    double cov = sxy / n - (sx / n) * (sy / n);
    double corr = cov / sqrt((sxx / n - sx * sx / n / n) * (syy / n - sy * sy / n / n));
    assert_true(fabs(corr) < 0.03); /* 4 sigma for n = 20000 is 0.028 */
}

static void test_order_irrelevant(void **st)
{
    (void)st;
    /* drawing from stream A then B equals drawing B then A */
    rng_t a1, b1, a2, b2;
    rng_init(&a1, 5, RNG_TRAIN, 1, 1);
    rng_init(&b1, 5, RNG_TRAIN, 2, 1);
    uint64_t va = rng_u64(&a1), vb = rng_u64(&b1);
    rng_init(&b2, 5, RNG_TRAIN, 2, 1);
    uint64_t wb = rng_u64(&b2);
    rng_init(&a2, 5, RNG_TRAIN, 1, 1);
    uint64_t wa = rng_u64(&a2);
    assert_true(va == wa && vb == wb);
}

static void test_moments(void **st)
{
    (void)st;
    rng_t r;
    rng_init(&r, 3, RNG_TEST, 0, 0);
    const int n = 200000;
    double s = 0, ss = 0, u = 0;
    long below[10] = {0};
    for (int i = 0; i < n; i++) {
        double z = rng_normal(&r);
        s += z, ss += z * z;
        double x = rng_uniform(&r);
        assert_true(x >= 0 && x < 1);
        u += x;
        below[rng_below(&r, 10)]++;
    }
    assert_true(fabs(s / n) < 0.01);
    assert_true(fabs(ss / n - 1) < 0.015);
    assert_true(fabs(u / n - 0.5) < 0.003);
    double chi = 0;
    for (int k = 0; k < 10; k++) chi += pow(below[k] - n / 10.0, 2) / (n / 10.0);
    assert_true(chi < 27.9); /* chi-square 9 dof, p = 0.001 */
    /* the GSL view draws from the same stream */
    double g = gsl_ran_gamma(rng_gsl(&r), 2.0, 1.0);
    assert_true(g > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_same_key_same_numbers),
        cmocka_unit_test(test_keys_differ),
        cmocka_unit_test(test_independence),
        cmocka_unit_test(test_order_irrelevant),
        cmocka_unit_test(test_moments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
