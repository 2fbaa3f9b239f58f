/* Partitions: every sample in exactly one client; dirichlet with large alpha is near-uniform
 * per class and with small alpha skewed; quantity skew sizes; natural grouping. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "data/partition.h"

#define N 6000
#define K 10

static int32_t labels[N];

static void make_labels(void)
{
    rng_t r;
    rng_init(&r, 11, RNG_TEST, 0, 0);
    for (int i = 0; i < N; i++) labels[i] = (int32_t)rng_below(&r, K);
}

static void assert_exact_cover(const partition *p, size_t n)
{
    assert_int_equal(p->off[0], 0);
    assert_int_equal(p->off[p->n_clients], n);
    unsigned char *seen = calloc(n, 1);
    for (size_t i = 0; i < p->n_samples; i++) {
        assert_true(p->idx[i] < n);
        assert_int_equal(seen[p->idx[i]], 0);
        seen[p->idx[i]] = 1;
    }
    for (size_t i = 0; i < n; i++) assert_int_equal(seen[i], 1);
    free(seen);
}

/* mean over clients of the total-variation distance between client and global label mix */
static double label_skew(const partition *p)
{
    double glob[K] = {0}, tv = 0;
    for (int i = 0; i < N; i++) glob[labels[i]] += 1.0 / N;
    for (uint32_t c = 0; c < p->n_clients; c++) {
        double h[K] = {0};
        uint32_t n = part_size(p, c);
        for (uint32_t j = 0; j < n; j++) h[labels[part_samples(p, c)[j]]] += 1.0 / n;
        double d = 0;
        for (int k = 0; k < K; k++) d += fabs(h[k] - glob[k]) / 2;
        tv += d / p->n_clients;
    }
    return tv;
}

static void test_iid(void **st)
{
    (void)st;
    partition p;
    assert_int_equal(part_iid(N, 7, 1, &p), FS_OK);
    assert_exact_cover(&p, N);
    for (uint32_t c = 0; c < 7; c++) assert_true(part_size(&p, c) == 857 || part_size(&p, c) == 858);
    part_free(&p);
}

static void test_dirichlet(void **st)
{
    (void)st;
    partition hi, lo;
    assert_int_equal(part_dirichlet(labels, N, K, 20, 100.0, 10, 1, &hi), FS_OK);
    assert_exact_cover(&hi, N);
    assert_int_equal(part_dirichlet(labels, N, K, 20, 0.1, 10, 1, &lo), FS_OK);
    assert_exact_cover(&lo, N);
    for (uint32_t c = 0; c < 20; c++) assert_true(part_size(&lo, c) >= 10);
    double skew_hi = label_skew(&hi), skew_lo = label_skew(&lo);
    assert_true(skew_hi < 0.1); /* near-iid: measured ~0.05 */
    assert_true(skew_lo > 0.5); /* strongly skewed: measured ~0.7 */
    /* deterministic for a seed, different across seeds */
    partition again, other;
    part_dirichlet(labels, N, K, 20, 0.1, 10, 1, &again);
    part_dirichlet(labels, N, K, 20, 0.1, 10, 2, &other);
    assert_memory_equal(again.idx, lo.idx, N * sizeof(uint32_t));
    assert_true(memcmp(other.idx, lo.idx, N * sizeof(uint32_t)) != 0);
    part_free(&hi);
    part_free(&lo);
    part_free(&again);
    part_free(&other);
}

static void test_dirichlet_impossible(void **st)
{
    (void)st;
    partition p;
    assert_int_equal(part_dirichlet(labels, N, K, 1000, 0.5, 10, 1, &p), FS_EINPUT);
}

static void test_quantity(void **st)
{
    (void)st;
    for (int d = 0; d < 2; d++) {
        partition p;
        assert_int_equal(part_quantity(N, 50, (part_qdist)d, d ? 1.0 : 1.5, 5, 3, &p), FS_OK);
        assert_exact_cover(&p, N);
        uint32_t mn = UINT32_MAX, mx = 0;
        for (uint32_t c = 0; c < 50; c++) {
            mn = part_size(&p, c) < mn ? part_size(&p, c) : mn;
            mx = part_size(&p, c) > mx ? part_size(&p, c) : mx;
        }
        assert_true(mn >= 5);
        assert_true(mx > 3 * (N / 50)); /* heavy tail: the largest client is far above mean */
        part_free(&p);
    }
}

static void test_natural(void **st)
{
    (void)st;
    int32_t owner[N];
    for (int i = 0; i < N; i++) owner[i] = (i * 7) % 13;
    partition p;
    assert_int_equal(part_natural(owner, N, 13, &p), FS_OK);
    assert_exact_cover(&p, N);
    for (uint32_t c = 0; c < 13; c++)
        for (uint32_t j = 0; j < part_size(&p, c); j++)
            assert_int_equal(owner[part_samples(&p, c)[j]], c);
    part_free(&p);
    owner[5] = 13;
    assert_int_equal(part_natural(owner, N, 13, &p), FS_EDATA);
}

int main(void)
{
    make_labels();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_iid),      cmocka_unit_test(test_dirichlet),
        cmocka_unit_test(test_dirichlet_impossible), cmocka_unit_test(test_quantity),
        cmocka_unit_test(test_natural),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
