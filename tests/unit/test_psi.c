/* Tests for sim/crypto/psi.c: the intersection equals the plain set intersection on random ID
 * lists at several overlaps (and empty lists or intersections), both outputs are aligned row by
 * row, duplicates are refused, the messages a party receives are blinded (not the hashed
 * points, not equal across sessions or scalars, not in the sender's list order), the byte and
 * operation counts match the protocol, results do not depend on the thread count, and misuse
 * and malformed points are refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "crypto/psi.h"
#include "util/rng.h"

#define SEED 20261202ULL

/* Two ID lists: n_a and n_b IDs, `common` of them shared, shuffled; IDs spread over 2^64. */
static void make_lists(uint64_t tag, size_t na, size_t nb, size_t common, uint64_t *a, uint64_t *b)
{
    rng_t g;
    rng_init(&g, SEED, RNG_TEST, tag, 0);
    size_t total = na + nb - common;
    uint64_t *all = malloc(total * sizeof *all);
    for (size_t i = 0; i < total; i++) all[i] = rng_mix64(tag * 1000003 + i); /* distinct */
    for (size_t i = 0; i < na; i++) a[i] = all[i];                            /* [0, na) */
    for (size_t i = 0; i < nb; i++) b[i] = all[na - common + i]; /* [na-common, total) */
    for (size_t i = na; i > 1; i--) {
        size_t j = (size_t)rng_below(&g, i);
        uint64_t t = a[i - 1];
        a[i - 1] = a[j];
        a[j] = t;
    }
    for (size_t i = nb; i > 1; i--) {
        size_t j = (size_t)rng_below(&g, i);
        uint64_t t = b[i - 1];
        b[i - 1] = b[j];
        b[j] = t;
    }
    free(all);
}

static int cmp_u64(const void *x, const void *y)
{
    uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;
    return (a > b) - (a < b);
}

/* The plain intersection, sorted. */
static size_t plain_intersection(const uint64_t *a, size_t na, const uint64_t *b, size_t nb,
                                 uint64_t *out)
{
    uint64_t *sa = malloc((na + 1) * sizeof *sa), *sb = malloc((nb + 1) * sizeof *sb);
    memcpy(sa, a, na * sizeof *a);
    memcpy(sb, b, nb * sizeof *b);
    qsort(sa, na, sizeof *sa, cmp_u64);
    qsort(sb, nb, sizeof *sb, cmp_u64);
    size_t i = 0, j = 0, k = 0;
    while (i < na && j < nb) {
        if (sa[i] < sb[j])
            i++;
        else if (sa[i] > sb[j])
            j++;
        else
            out[k++] = sa[i], i++, j++;
    }
    free(sa);
    free(sb);
    return k;
}

static void check_run(uint64_t tag, size_t na, size_t nb, size_t common)
{
    uint64_t *a = malloc((na + 1) * sizeof *a), *b = malloc((nb + 1) * sizeof *b);
    uint64_t *want = malloc((na + 1) * sizeof *want), *got = malloc((na + 1) * sizeof *got);
    make_lists(tag, na, nb, common, a, b);
    size_t nw = plain_intersection(a, na, b, nb, want);
    assert_int_equal(nw, common);
    cr_src ra, rb;
    assert_int_equal(cr_init_keyed(&ra, SEED, 2 * tag, 0), FS_OK);
    assert_int_equal(cr_init_keyed(&rb, SEED, 2 * tag + 1, 0), FS_OK);
    psi_result res;
    assert_int_equal(psi_run(a, na, b, nb, tag, &ra, &rb, &res), FS_OK);
    assert_int_equal(res.count, common);
    for (size_t k = 0; k < res.count; k++) {
        assert_true(res.idx_a[k] < na && res.idx_b[k] < nb);
        assert_true(a[res.idx_a[k]] == b[res.idx_b[k]]); /* aligned row by row */
        got[k] = a[res.idx_a[k]];
    }
    qsort(got, res.count, sizeof *got, cmp_u64);
    if (common) assert_memory_equal(got, want, common * sizeof *got);
    /* costs: each party hashes its list, multiplies its list and the other's, sends two
     * messages (its blinded list, the other's list blinded again) and receives two */
    uint64_t pa = PSI_HEADER_BYTES + 32 * (uint64_t)na, pb = PSI_HEADER_BYTES + 32 * (uint64_t)nb;
    assert_int_equal(res.rounds, 2);
    assert_int_equal(res.cost[0].hashes, na);
    assert_int_equal(res.cost[1].hashes, nb);
    assert_int_equal(res.cost[0].scalarmults, na + nb);
    assert_int_equal(res.cost[1].scalarmults, na + nb);
    assert_int_equal(res.cost[0].bytes_sent, pa + pb);
    assert_int_equal(res.cost[0].bytes_received, pa + pb);
    assert_int_equal(res.cost[1].bytes_sent, pa + pb);
    assert_int_equal(res.cost[0].msgs_sent, 2);
    assert_true(res.cost[0].cpu_s >= 0 && res.cost[1].cpu_s >= 0);
    psi_result_free(&res);
    free(a);
    free(b);
    free(want);
    free(got);
}

static void test_overlaps(void **state)
{
    check_run(1, 200, 300, 60);  /* partial: 30 % of A */
    check_run(2, 150, 150, 150); /* identical sets, different orders */
    check_run(3, 100, 80, 0);    /* disjoint */
    check_run(4, 1, 500, 1);     /* one ID, found */
    check_run(5, 120, 400, 120); /* A inside B */
    check_run(6, 0, 50, 0);      /* an empty list */
    check_run(7, 0, 0, 0);
}

static void test_duplicates(void **state)
{
    uint64_t ids[5] = {10, 20, 30, 20, 40};
    cr_src r;
    assert_int_equal(cr_init_keyed(&r, SEED, 9, 0), FS_OK);
    psi_party *p = (psi_party *)&r;
    assert_int_equal(psi_party_new(ids, 5, 0, &r, &p), FS_EINPUT);
    assert_null(p);
    assert_non_null(strstr(fs_errmsg(), "20"));
    assert_non_null(strstr(fs_errmsg(), "unique"));
    psi_result res;
    uint64_t other[2] = {20, 99};
    assert_int_equal(psi_run(other, 2, ids, 5, 0, &r, &r, &res), FS_EINPUT);
    assert_int_equal(res.count, 0);
    assert_null(res.idx_a);
}

/* What a party receives is blinded: B's first message is neither H(y) nor, in order, B's
 * list; with another scalar or session it changes completely; the doubly blinded points of
 * non-members match nothing. */
static void test_blinded(void **state)
{
    enum { N = 64 };
    uint64_t ids[N];
    for (int i = 0; i < N; i++) ids[i] = 1000 + (uint64_t)i;
    uint8_t h[N][PSI_POINT_BYTES];
    for (int i = 0; i < N; i++) psi_hash_id(5, ids[i], h[i]);
    psi_party *b1, *b2, *b3;
    cr_src r1, r2;
    assert_int_equal(cr_init_keyed(&r1, SEED, 11, 0), FS_OK);
    assert_int_equal(cr_init_keyed(&r2, SEED, 12, 0), FS_OK);
    assert_int_equal(psi_party_new(ids, N, 5, &r1, &b1), FS_OK);
    assert_int_equal(psi_party_new(ids, N, 5, &r2, &b2), FS_OK); /* another scalar */
    assert_int_equal(cr_init_keyed(&r1, SEED, 11, 0), FS_OK);
    assert_int_equal(psi_party_new(ids, N, 6, &r1, &b3), FS_OK); /* same scalar, other session */
    const uint8_t *m1, *m2, *m3;
    assert_int_equal(psi_blind(b1, &m1), FS_OK);
    assert_int_equal(psi_blind(b2, &m2), FS_OK);
    assert_int_equal(psi_blind(b3, &m3), FS_OK);
    for (int i = 0; i < N; i++)
        for (int j = 0; j < N; j++) {
            assert_memory_not_equal(m1 + i * PSI_POINT_BYTES, h[j], PSI_POINT_BYTES);
            assert_memory_not_equal(m1 + i * PSI_POINT_BYTES, m2 + j * PSI_POINT_BYTES,
                                    PSI_POINT_BYTES);
            assert_memory_not_equal(m1 + i * PSI_POINT_BYTES, m3 + j * PSI_POINT_BYTES,
                                    PSI_POINT_BYTES);
        }
    /* the send order is secret: unblinding is impossible without the scalar, but the test can
     * check that message order is not list order by re-blinding H(ids) with A's own step-2
     * view: A double-blinds B's message; B double-blinds A's; compare with H in list order */
    int same_order = 1;
    psi_party *a;
    assert_int_equal(cr_init_keyed(&r2, SEED, 13, 0), FS_OK);
    assert_int_equal(psi_party_new(ids, N, 5, &r2, &a), FS_OK);
    const uint8_t *a1, *ab, *ba;
    assert_int_equal(psi_blind(a, &a1), FS_OK);
    assert_int_equal(psi_double_blind(a, m1, N, &ab), FS_OK);  /* a b H(y_perm_b) */
    assert_int_equal(psi_double_blind(b1, a1, N, &ba), FS_OK); /* a b H(x_perm_a) */
    for (int i = 0; i < N && same_order; i++)
        same_order = memcmp(ab + i * PSI_POINT_BYTES, ba + i * PSI_POINT_BYTES, 32) == 0;
    assert_false(same_order); /* the two secret orders differ (probability 1/64! otherwise) */
    size_t *idx, cnt;
    assert_int_equal(psi_intersect(a, ba, N, &idx, &cnt), FS_OK);
    assert_int_equal(cnt, N);
    free(idx);
    psi_party_free(a);
    psi_party_free(b1);
    psi_party_free(b2);
    psi_party_free(b3);
}

/* Step by step, then the same with 1 and 2 threads: identical messages and outputs. */
static void test_steps_and_threads(void **state)
{
    enum { NA = 257, NB = 190, C = 77 };
    uint64_t a[NA], b[NB];
    make_lists(20, NA, NB, C, a, b);
    size_t *idx_ref = NULL, cnt_ref = 0;
    uint8_t *msg_ref = malloc(NA * PSI_POINT_BYTES);
    for (int pass = 0; pass < 2; pass++) {
#ifdef _OPENMP
        int threads = omp_get_max_threads();
        omp_set_num_threads(pass ? 1 : 2);
#endif
        cr_src ra, rb;
        assert_int_equal(cr_init_keyed(&ra, SEED, 21, 0), FS_OK);
        assert_int_equal(cr_init_keyed(&rb, SEED, 22, 0), FS_OK);
        psi_party *A, *B;
        assert_int_equal(psi_party_new(a, NA, 3, &ra, &A), FS_OK);
        assert_int_equal(psi_party_new(b, NB, 3, &rb, &B), FS_OK);
        assert_int_equal(psi_party_size(A), NA);
        const uint8_t *a1, *b1, *a2, *b2, *again;
        size_t *ia, *ib, ca, cb;
        assert_int_equal(psi_intersect(A, (const uint8_t *)a, NA, &ia, &ca), FS_EINPUT); /* early */
        assert_int_equal(psi_blind(A, &a1), FS_OK);
        assert_int_equal(psi_blind(A, &again), FS_EINPUT); /* twice */
        assert_null(again);
        assert_int_equal(psi_blind(B, &b1), FS_OK);
        assert_int_equal(psi_double_blind(B, a1, NA, &b2), FS_OK);
        assert_int_equal(psi_double_blind(A, b1, NB, &a2), FS_OK);
        assert_int_equal(psi_intersect(A, b2, NA - 1, &ia, &ca), FS_EDATA); /* wrong length */
        assert_int_equal(psi_intersect(A, b2, NA, &ia, &ca), FS_OK);
        assert_int_equal(psi_intersect(B, a2, NB, &ib, &cb), FS_OK);
        assert_int_equal(ca, C);
        assert_int_equal(cb, C);
        for (size_t k = 0; k < ca; k++) assert_true(a[ia[k]] == b[ib[k]]);
        assert_int_equal(psi_party_cost(A)->scalarmults, NA + NB);
        if (pass == 0) {
            memcpy(msg_ref, a1, NA * PSI_POINT_BYTES);
            idx_ref = ia;
            cnt_ref = ca;
        } else {
            assert_memory_equal(msg_ref, a1, NA * PSI_POINT_BYTES);
            assert_int_equal(cnt_ref, ca);
            assert_memory_equal(idx_ref, ia, ca * sizeof *ia);
            free(ia);
        }
        free(ib);
        psi_party_free(A);
        psi_party_free(B);
#ifdef _OPENMP
        omp_set_num_threads(threads);
#endif
    }
    free(idx_ref);
    free(msg_ref);
}

/* A point that is not a valid ristretto255 encoding is refused. */
static void test_bad_point(void **state)
{
    uint64_t ids[3] = {1, 2, 3};
    cr_src r;
    assert_int_equal(cr_init_keyed(&r, SEED, 30, 0), FS_OK);
    psi_party *p;
    assert_int_equal(psi_party_new(ids, 3, 0, &r, &p), FS_OK);
    uint8_t bad[3 * PSI_POINT_BYTES];
    for (int i = 0; i < 3; i++) psi_hash_id(1, (uint64_t)i, bad + i * PSI_POINT_BYTES);
    memset(bad + PSI_POINT_BYTES, 0xff, PSI_POINT_BYTES); /* not canonical */
    const uint8_t *out;
    assert_int_equal(psi_double_blind(p, bad, 3, &out), FS_EDATA);
    assert_non_null(strstr(fs_errmsg(), "point 1"));
    psi_party_free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_overlaps),  cmocka_unit_test(test_duplicates),
        cmocka_unit_test(test_blinded),   cmocka_unit_test(test_steps_and_threads),
        cmocka_unit_test(test_bad_point),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
