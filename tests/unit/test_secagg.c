/* Tests for sim/privacy/shamir.c and sim/privacy/secagg*.c: field arithmetic and Shamir sharing
 * against hand-computed values, exact recovery of the quantised sum under every dropout point,
 * aborts below threshold, SecAgg+ == SecAgg, uniformity of masked vectors (chi-square),
 * determinism, and the wire-byte accounting pinned to hand-computed message sizes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "privacy/secagg.h"
#include "privacy/shamir.h"
#include "util/rng.h"

#define SEED 20240917ULL

/* ---- field and Shamir ---------------------------------------------------------------------- */

static void test_field(void **state)
{
    assert_int_equal(sh_mul(SH_P - 1, SH_P - 1), 1); /* (-1)(-1) = 1 */
    assert_int_equal(sh_inv(2), (uint64_t)1 << 60);  /* 2 * 2^60 = 2^61 = 1 */
    assert_int_equal(sh_mul((uint64_t)1 << 60, 2), 1);
    assert_int_equal(sh_reduce(UINT64_MAX), 7); /* 2^64 = 8 (mod p) */
    assert_int_equal(sh_add(SH_P - 1, 1), 0);
    assert_int_equal(sh_sub(0, 1), SH_P - 1);
    assert_int_equal(sh_pow(3, SH_P - 1), 1); /* Fermat */
    assert_int_equal(sh_mul(123456789, 987654321), 121932631112635269ULL % SH_P);
    rng_t r;
    rng_init(&r, SEED, RNG_TEST, 1, 0);
    for (int i = 0; i < 2000; i++) {
        uint64_t a = 1 + rng_below(&r, SH_P - 1), b = rng_below(&r, SH_P);
        assert_int_equal(sh_mul(a, b), (uint64_t)(((__uint128_t)a * b) % SH_P));
        assert_int_equal(sh_mul(a, sh_inv(a)), 1);
        assert_int_equal(sh_sub(sh_add(a, b), b), a);
    }
}

static void test_shamir_hand(void **state)
{
    /* f(x) = 5 + 3x + 2x^2: f(1) = 10, f(2) = 19, f(3) = 32; lambda(0) for {1,2,3} = 3, -3, 1 */
    uint64_t xs[3] = {1, 2, 3}, ys[3] = {10, 19, 32}, lam[3], s;
    assert_int_equal(sh_lagrange0(xs, 3, lam), 0);
    assert_int_equal(lam[0], 3);
    assert_int_equal(lam[1], SH_P - 3);
    assert_int_equal(lam[2], 1);
    sh_combine(lam, ys, 3, 1, &s);
    assert_int_equal(s, 5);
    /* two shares: the line through (1,10), (2,19) meets x = 0 at 1, not 5 */
    assert_int_equal(sh_lagrange0(xs, 2, lam), 0);
    sh_combine(lam, ys, 2, 1, &s);
    assert_int_equal(s, 1);
    uint64_t dup[2] = {4, 4};
    assert_int_equal(sh_lagrange0(dup, 2, lam), -1);
}

static void test_shamir_any_t(void **state)
{
    enum { N = 6, T = 3, M = SH_ELEMS(32) };
    uint8_t key[32], back[32];
    for (int i = 0; i < 32; i++) key[i] = (uint8_t)(17 * i + 255);
    uint64_t sec[M], xs[N], sh[N * M], sh2[N * M];
    sh_pack_bytes(key, 32, sec);
    sh_unpack_bytes(sec, 32, back);
    assert_memory_equal(key, back, 32);
    for (int h = 0; h < N; h++) xs[h] = (uint64_t)(3 * h + 1);
    rng_t r, r2;
    rng_init(&r, SEED, RNG_TEST, 2, 0);
    r2 = r;
    sh_split(sec, M, T, N, xs, &r, sh);
    sh_split(sec, M, T, N, xs, &r2, sh2);
    assert_memory_equal(sh, sh2, sizeof sh); /* same stream, same shares */
    int ok = 0, wrong = 0;
    for (int a = 0; a < N; a++)
        for (int b = a + 1; b < N; b++) {
            uint64_t px[T], ps[T * M], lam[T], got[M];
            px[0] = xs[a], px[1] = xs[b];
            memcpy(ps, sh + a * M, sizeof(uint64_t) * M);
            memcpy(ps + M, sh + b * M, sizeof(uint64_t) * M);
            assert_int_equal(sh_lagrange0(px, 2, lam), 0); /* t - 1 shares */
            sh_combine(lam, ps, 2, M, got);
            wrong += memcmp(got, sec, sizeof sec) != 0;
            for (int c = b + 1; c < N; c++) {
                px[2] = xs[c];
                memcpy(ps + 2 * M, sh + c * M, sizeof(uint64_t) * M);
                assert_int_equal(sh_lagrange0(px, 3, lam), 0);
                sh_combine(lam, ps, 3, M, got);
                assert_memory_equal(got, sec, sizeof sec);
                ok++;
            }
        }
    assert_int_equal(ok, 20);    /* all C(6,3) subsets reconstruct */
    assert_int_equal(wrong, 15); /* no C(6,2) pair does */

    /* t - 1 shares are consistent with any other secret: the degree-2 polynomial through
     * (0, s') and the two shares at x = 1 and 4 exists for s' = s + 1. */
    uint64_t s1 = sh_add(sec[0], 1), y1 = sh[0], y2 = sh[M], x2 = xs[1];
    /* g(x) = s1 + c1 x + c2 x^2; g(1) = y1, g(x2) = y2 */
    uint64_t a1 = sh_sub(y1, s1), a2 = sh_sub(y2, s1);
    uint64_t c2 = sh_mul(sh_sub(a2, sh_mul(x2, a1)), sh_inv(sh_sub(sh_mul(x2, x2), x2)));
    uint64_t c1 = sh_sub(a1, c2);
    assert_int_equal(sh_add(s1, sh_add(c1, c2)), y1);
    assert_int_equal(sh_add(s1, sh_add(sh_mul(c1, x2), sh_mul(c2, sh_mul(x2, x2)))), y2);
}

/* ---- quantisation -------------------------------------------------------------------------- */

static void test_quantize(void **state)
{
    sa_params p;
    sa_params_default(&p);
    p.clip = 1.0;
    p.scale_bits = 4;
    p.rounding = SA_ROUND_NEAREST;
    float x[7] = {0.3f, -0.3f, 2.0f, -5.0f, NAN, 0.03125f, -0.03125f};
    uint32_t want[7] = {5, 0xFFFFFFFBu, 16, 0xFFFFFFF0u, 0, 1, 0xFFFFFFFFu}, q[7];
    sa_quantize(&p, SEED, 0, 0, x, 7, q);
    assert_memory_equal(q, want, sizeof q);

    /* stochastic rounding of 1/3 at f = 0 is 1 with probability 1/3 (sd 0.0033 at 20000) */
    enum { D = 20000 };
    float *v = malloc(sizeof *v * D);
    uint32_t *qq = malloc(sizeof *qq * D);
    for (int k = 0; k < D; k++) v[k] = 1.0f / 3.0f;
    p.scale_bits = 0;
    p.rounding = SA_ROUND_STOCHASTIC;
    sa_quantize(&p, SEED, 0, 0, v, D, qq);
    double mean = 0;
    for (int k = 0; k < D; k++) {
        assert_true(qq[k] <= 1);
        mean += qq[k];
    }
    mean /= D;
    assert_true(fabs(mean - 1.0 / 3.0) < 0.0167); /* 5 sd */
    free(v);
    free(qq);
}

/* ---- protocol helpers ---------------------------------------------------------------------- */

static float **make_inputs(int n, size_t dim, uint64_t key)
{
    float **x = calloc((size_t)n, sizeof *x);
    for (int i = 0; i < n; i++) {
        rng_t r;
        rng_init(&r, SEED, RNG_TEST, key * 1000 + (uint64_t)i, 0);
        x[i] = malloc(sizeof(float) * dim);
        for (size_t k = 0; k < dim; k++) x[i][k] = (float)(2.4 * rng_uniform(&r) - 1.2);
    }
    return x;
}

static void free_inputs(float **x, int n)
{
    for (int i = 0; i < n; i++) free(x[i]);
    free(x);
}

/* Expected modular sum of the quantised inputs of clients with in[i] (NULL: all). */
static void expected_qsum(const sa_params *p, float **x, int n, size_t dim, const uint8_t *in,
                          uint64_t round, uint32_t *want)
{
    uint32_t *q = malloc(sizeof *q * dim);
    memset(want, 0, sizeof *want * dim);
    for (int i = 0; i < n; i++) {
        if (in && !in[i]) continue;
        sa_quantize(p, SEED, round, i, x[i], dim, q);
        for (size_t k = 0; k < dim; k++) want[k] += q[k];
    }
    free(q);
}

/* Run a whole round; returns the status, fills qsum. */
static sa_status run_round(const sa_params *p, int n, size_t dim, float **x, const uint8_t *present,
                           const uint8_t *masks, const uint8_t *responds, uint32_t *qsum,
                           float *sum)
{
    sa_round *r;
    assert_int_equal(sa_round_new(p, n, dim, SEED, 7, &r), FS_OK);
    const float **xs = calloc((size_t)n, sizeof *xs);
    for (int i = 0; i < n; i++) xs[i] = masks && !masks[i] ? NULL : x[i];
    sa_status st;
    assert_int_equal(sa_round_run(r, present, xs, responds, sum, qsum, &st), FS_OK);
    if (st != SA_OK) assert_true(strlen(sa_round_reason(r)) > 0);
    free(xs);
    sa_round_free(r);
    return st;
}

static void check_exact(int n, size_t dim)
{
    sa_params p;
    sa_params_default(&p);
    float **x = make_inputs(n, dim, 1);
    uint32_t *got = malloc(sizeof *got * dim), *want = malloc(sizeof *want * dim);
    float *sum = malloc(sizeof *sum * dim);
    assert_int_equal(run_round(&p, n, dim, x, NULL, NULL, NULL, got, sum), SA_OK);
    expected_qsum(&p, x, n, dim, NULL, 7, want);
    assert_memory_equal(got, want, sizeof *got * dim);
    double tol = n * ldexp(1.0, -p.scale_bits); /* rounding error per client <= 2^-f */
    for (size_t k = 0; k < dim; k++) {
        double plain = 0;
        for (int i = 0; i < n; i++) plain += fmax(-1.0, fmin(1.0, (double)x[i][k]));
        assert_true(sum[k] == (float)((double)(int32_t)want[k] * ldexp(1.0, -p.scale_bits)));
        assert_true(fabs(sum[k] - plain) <= tol + 1e-5 * fabs(plain));
    }
    free(got);
    free(want);
    free(sum);
    free_inputs(x, n);
}

static void test_exact_sum_n10(void **state)
{
    check_exact(10, 1000);
}

static void test_exact_sum_n50(void **state)
{
    check_exact(50, 300);
}

/* ---- uniformity of a masked vector --------------------------------------------------------- */

static double chi2_bins(const uint32_t *w, size_t n, int bytes)
{
    double cnt[256] = {0};
    int nb = bytes ? 256 : 16;
    size_t total = 0;
    for (size_t k = 0; k < n; k++) {
        if (bytes)
            for (int b = 0; b < 4; b++) cnt[(w[k] >> (8 * b)) & 255]++, total++;
        else
            cnt[w[k] >> 28]++, total++;
    }
    double e = (double)total / nb, c = 0;
    for (int b = 0; b < nb; b++) c += (cnt[b] - e) * (cnt[b] - e) / e;
    return c;
}

static void test_masked_uniform(void **state)
{
    enum { N = 10, D = 65536 };
    sa_params p;
    sa_params_default(&p);
    float *x = malloc(sizeof *x * D);
    for (int k = 0; k < D; k++) x[k] = 0.25f; /* constant input: worst case for leaks */
    sa_round *r;
    sa_status st;
    assert_int_equal(sa_round_new(&p, N, D, SEED, 3, &r), FS_OK);
    assert_int_equal(sa_round_setup(r, NULL, &st), FS_OK);
    assert_int_equal(st, SA_OK);
    sa_masked_input *m;
    assert_int_equal(sa_client_mask(r, 4, x, &m), FS_OK);
    size_t dim;
    const uint32_t *w = sa_masked_words(m, &dim);
    assert_int_equal(dim, D);
    /* critical values at p = 0.001: chi2(15) = 37.70, chi2(255) = 330.5 */
    double c16 = chi2_bins(w, dim, 0), c256 = chi2_bins(w, dim, 1);
    assert_true(c16 < 37.70);
    assert_true(c256 < 330.5);
    /* negative control: the unmasked quantised vector fails both */
    uint32_t *q = malloc(sizeof *q * D);
    sa_quantize(&p, SEED, 3, 4, x, D, q);
    assert_true(chi2_bins(q, D, 0) > 1000);
    assert_true(chi2_bins(q, D, 1) > 1000);
    free(q);
    sa_masked_input_free(m);
    sa_round_free(r);
    free(x);
}

/* ---- dropouts and aborts ------------------------------------------------------------------- */

static void test_drop_after_mask(void **state)
{
    enum { N = 20 };
    const size_t D = 500;
    sa_params p;
    sa_params_default(&p);
    p.threshold = 0.7; /* t = 14 of 20 */
    float **x = make_inputs(N, D, 2);
    uint8_t resp[N];
    for (int i = 0; i < N; i++) resp[i] = 1;
    int drop[6] = {0, 3, 7, 11, 15, 19}; /* n - t = 6 never send unmasking shares */
    for (int i = 0; i < 6; i++) resp[drop[i]] = 0;
    uint32_t got[500], want[500];
    assert_int_equal(run_round(&p, N, D, x, NULL, NULL, resp, got, NULL), SA_OK);
    expected_qsum(&p, x, N, D, NULL, 7, want); /* their inputs still count */
    assert_memory_equal(got, want, sizeof got);
    free_inputs(x, N);
}

static void test_drop_before_mask(void **state)
{
    enum { N = 20 };
    const size_t D = 500;
    sa_params p;
    sa_params_default(&p);
    p.threshold = 0.7;
    float **x = make_inputs(N, D, 3);
    uint32_t got[500], want[500];
    uint8_t masks[N];
    for (int i = 0; i < N; i++) masks[i] = !(i == 2 || i == 5 || i == 9 || i == 13);
    assert_int_equal(run_round(&p, N, D, x, NULL, masks, NULL, got, NULL), SA_OK);
    expected_qsum(&p, x, N, D, masks, 7, want);
    assert_memory_equal(got, want, sizeof got);

    /* all three dropout points at once: 1 before sharing, 4 and 8 before masking, 10 and 12
     * after masking: U2 = 19, U3 = 17, U5 = 15 >= t = 14 */
    uint8_t present[N], resp[N], in[N];
    for (int i = 0; i < N; i++) present[i] = i != 1, resp[i] = i != 10 && i != 12;
    for (int i = 0; i < N; i++) masks[i] = i != 4 && i != 8, in[i] = present[i] && masks[i];
    assert_int_equal(run_round(&p, N, D, x, present, masks, resp, got, NULL), SA_OK);
    expected_qsum(&p, x, N, D, in, 7, want);
    assert_memory_equal(got, want, sizeof got);
    free_inputs(x, N);
}

static void test_abort_below_threshold(void **state)
{
    enum { N = 20 };
    const size_t D = 64;
    sa_params p;
    sa_params_default(&p);
    p.threshold = 0.7; /* t = 14 */
    float **x = make_inputs(N, D, 4);
    uint8_t v[N];
    uint32_t got[64];

    for (int i = 0; i < N; i++) v[i] = i < 13; /* 13 responders */
    assert_int_equal(run_round(&p, N, D, x, NULL, NULL, v, got, NULL), SA_ABORT_FEW_RESPONSES);
    assert_int_equal(run_round(&p, N, D, x, NULL, v, NULL, got, NULL), SA_ABORT_FEW_MASKED);
    assert_int_equal(run_round(&p, N, D, x, v, NULL, NULL, got, NULL), SA_ABORT_FEW_SHARED);

    /* the reason names the counts; later calls are refused, not crashed */
    sa_round *r;
    sa_status st;
    assert_int_equal(sa_round_new(&p, N, D, SEED, 7, &r), FS_OK);
    assert_int_equal(sa_round_setup(r, v, &st), FS_OK);
    assert_int_equal(st, SA_ABORT_FEW_SHARED);
    assert_non_null(strstr(sa_round_reason(r), "13 clients"));
    sa_masked_input *m;
    assert_int_equal(sa_client_mask(r, 0, x[0], &m), FS_EINPUT);
    assert_null(m);
    sa_round_free(r);

    /* SecAgg+: enough responders overall, but one client's neighbourhood is short */
    enum { N2 = 30 };
    float **y = make_inputs(N2, D, 5);
    p.neighbours = 4;
    p.threshold = 4; /* of 5 holders */
    assert_int_equal(sa_round_new(&p, N2, D, SEED, 7, &r), FS_OK);
    int nbrs[4];
    assert_int_equal(sa_round_neighbours(r, 0, nbrs), 4);
    sa_round_free(r);
    uint8_t resp[N2];
    for (int i = 0; i < N2; i++) resp[i] = 1;
    resp[nbrs[0]] = resp[nbrs[1]] = 0;
    assert_int_equal(run_round(&p, N2, D, y, NULL, NULL, resp, got, NULL), SA_ABORT_FEW_SHARES);
    free_inputs(y, N2);
    free_inputs(x, N);
}

/* ---- SecAgg+ ------------------------------------------------------------------------------- */

static void test_secagg_plus(void **state)
{
    enum { N = 50 };
    const size_t D = 400;
    sa_params p;
    sa_params_default(&p);
    p.threshold = 0.6;
    p.neighbours = 8; /* t = 6 of 9 holders */
    sa_round *r;
    assert_int_equal(sa_round_new(&p, N, D, SEED, 7, &r), FS_OK);
    assert_int_equal(sa_round_degree(r), 8);
    assert_int_equal(sa_round_threshold(r), 6);
    int nb[N][8];
    for (int i = 0; i < N; i++) assert_int_equal(sa_round_neighbours(r, i, nb[i]), 8);
    for (int i = 0; i < N; i++)
        for (int s = 0; s < 8; s++) {
            int j = nb[i][s], back = 0;
            assert_true(j != i && j >= 0 && j < N);
            for (int u = 0; u < 8; u++) {
                back += nb[j][u] == i;
                if (u != s) assert_true(nb[i][u] != j); /* simple graph */
            }
            assert_int_equal(back, 1); /* symmetric */
        }
    sa_round_free(r);

    float **x = make_inputs(N, D, 6);
    uint32_t plus[400], full[400], want[400];
    assert_int_equal(run_round(&p, N, D, x, NULL, NULL, NULL, plus, NULL), SA_OK);
    p.neighbours = 0;
    assert_int_equal(run_round(&p, N, D, x, NULL, NULL, NULL, full, NULL), SA_OK);
    assert_memory_equal(plus, full, sizeof plus);
    expected_qsum(&p, x, N, D, NULL, 7, want);
    assert_memory_equal(full, want, sizeof full);

    /* with dropouts: 3 before masking, 5 after. The worst neighbourhood then keeps exactly 5
     * responding holders of 9, so SecAgg+ runs at t = 5 (reconstruction from exactly t) */
    uint8_t masks[N], resp[N];
    for (int i = 0; i < N; i++) masks[i] = i % 17 != 1, resp[i] = i % 10 != 4;
    p.neighbours = 8;
    p.threshold = 6;
    assert_int_equal(run_round(&p, N, D, x, NULL, masks, resp, plus, NULL), SA_ABORT_FEW_SHARES);
    p.threshold = 5;
    assert_int_equal(run_round(&p, N, D, x, NULL, masks, resp, plus, NULL), SA_OK);
    p.neighbours = 0;
    p.threshold = 0.6;
    assert_int_equal(run_round(&p, N, D, x, NULL, masks, resp, full, NULL), SA_OK);
    assert_memory_equal(plus, full, sizeof plus);
    expected_qsum(&p, x, N, D, masks, 7, want);
    assert_memory_equal(plus, want, sizeof plus);
    free_inputs(x, N);
}

/* ---- determinism --------------------------------------------------------------------------- */

static void masked_of_p(const sa_params *pp, uint64_t round, int client, const float *x, size_t dim,
                        uint32_t *out)
{
    sa_params p = *pp;
    sa_round *r;
    sa_status st;
    assert_int_equal(sa_round_new(&p, 8, dim, SEED, round, &r), FS_OK);
    assert_int_equal(sa_round_setup(r, NULL, &st), FS_OK);
    sa_masked_input *m;
    assert_int_equal(sa_client_mask(r, client, x, &m), FS_OK);
    size_t d;
    memcpy(out, sa_masked_words(m, &d), sizeof *out * dim);
    sa_masked_input_free(m);
    sa_round_free(r);
}

static void masked_of(uint64_t round, int client, const float *x, size_t dim, uint32_t *out)
{
    sa_params p;
    sa_params_default(&p);
    masked_of_p(&p, round, client, x, dim, out);
}

/* privacy.secagg_randomness: system: the masks cannot be recomputed (two runs of the same round
 * mask differently, and differently from the keyed masks), the unmasked sum is still exact, and
 * system Shamir shares reconstruct with t shares and not with t - 1 */
static void test_system_randomness(void **state)
{
    const size_t D = 2000;
    float **x = make_inputs(1, D, 7);
    uint32_t a[2000], b[2000], c[2000];
    sa_params p;
    sa_params_default(&p);
    masked_of_p(&p, 11, 5, x[0], D, c);
    p.system_random = 1;
    masked_of_p(&p, 11, 5, x[0], D, a);
    masked_of_p(&p, 11, 5, x[0], D, b);
    assert_memory_not_equal(a, b, sizeof a);
    assert_memory_not_equal(a, c, sizeof a);
    free_inputs(x, 1);

    const int n = 12;
    float **xs = make_inputs(n, 500, 1);
    uint32_t got[500], want[500];
    float sum[500];
    assert_int_equal(run_round(&p, n, 500, xs, NULL, NULL, NULL, got, sum), SA_OK);
    expected_qsum(&p, xs, n, 500, NULL, 7, want);
    assert_memory_equal(got, want, sizeof got);
    /* clients 3 and 8 drop after masking: their masks are reconstructed from shares */
    uint8_t masks[12];
    memset(masks, 1, sizeof masks);
    masks[3] = masks[8] = 0;
    assert_int_equal(run_round(&p, n, 500, xs, NULL, masks, NULL, got, sum), SA_OK);
    expected_qsum(&p, xs, n, 500, masks, 7, want);
    assert_memory_equal(got, want, sizeof got);
    free_inputs(xs, n);

    enum { N = 5, T = 3, M = SH_ELEMS(32) };
    uint64_t sec[M], xv[N], sh[N * M], lam[T], out[M];
    for (int e = 0; e < M; e++) sec[e] = (uint64_t)(1000 + e);
    for (int h = 0; h < N; h++) xv[h] = (uint64_t)h + 1;
    assert_int_equal(sh_split_system(sec, M, T, N, xv, sh), 0);
    uint64_t px[T] = {xv[0], xv[2], xv[4]}, ps[T * M];
    for (int j = 0; j < T; j++) memcpy(ps + j * M, sh + (2 * j) * M, sizeof(uint64_t) * M);
    assert_int_equal(sh_lagrange0(px, T, lam), 0);
    sh_combine(lam, ps, T, M, out);
    assert_memory_equal(out, sec, sizeof sec);
    assert_int_equal(sh_lagrange0(px, T - 1, lam), 0);
    sh_combine(lam, ps, T - 1, M, out);
    assert_memory_not_equal(out, sec, sizeof sec);
}

static void test_determinism(void **state)
{
    const size_t D = 3000;
    float **x = make_inputs(1, D, 7);
    uint32_t a[3000], b[3000], c[3000];
    masked_of(11, 5, x[0], D, a);
    masked_of(11, 5, x[0], D, b);
    masked_of(12, 5, x[0], D, c);
    assert_memory_equal(a, b, sizeof a);
    assert_memory_not_equal(a, c, sizeof a);
    free_inputs(x, 1);
}

/* ---- cost accounting ----------------------------------------------------------------------- */

static void test_bytes(void **state)
{
    enum { N = 10 };
    const size_t D = 100;
    sa_params p;
    sa_params_default(&p);
    float **x = make_inputs(N, D, 8);
    sa_round *r;
    sa_status st;
    assert_int_equal(sa_round_new(&p, N, D, SEED, 7, &r), FS_OK);
    assert_int_equal(sa_round_threshold(r), 7); /* ceil(2/3 * 10) */
    assert_int_equal(sa_round_run(r, NULL, (const float *const *)x, NULL, NULL, NULL, &st), FS_OK);
    assert_int_equal(st, SA_OK);
    const sa_cost *c = sa_client_cost(r, 3);
    /* advertise: id + 2 keys = 68; share: 9 x (8 header + 88 plaintext + 16 tag) = 1008;
     * mask: id + 4 * 100; unmask: id + 10 x (id + 5 * 8) */
    assert_int_equal(c->bytes_up[SA_PHASE_ADVERTISE], 68);
    assert_int_equal(c->bytes_up[SA_PHASE_SHARE], 1008);
    assert_int_equal(c->bytes_up[SA_PHASE_MASK], 404);
    assert_int_equal(c->bytes_up[SA_PHASE_UNMASK], 444);
    assert_int_equal(c->bytes_down[SA_PHASE_ADVERTISE], 9 * 68);
    assert_int_equal(c->bytes_down[SA_PHASE_SHARE], 1008);
    assert_int_equal(c->bytes_down[SA_PHASE_UNMASK], 36);
    assert_int_equal(c->keygens, 2);
    assert_int_equal(c->key_agreements, 18);
    assert_int_equal(c->aead_ops, 18);
    assert_int_equal(c->prg_bytes, 10 * 400);
    assert_int_equal(c->shamir_elems, 100);
    for (int ph = 0; ph < SA_NPHASE; ph++) assert_true(c->cpu_s[ph] > 0);
    const sa_cost *s = sa_server_cost(r);
    assert_int_equal(s->prg_bytes, 10 * 400);
    assert_int_equal(s->key_agreements, 0);
    assert_int_equal(s->bytes_down[SA_PHASE_MASK], 10 * 404);
    assert_int_equal(s->shamir_elems, 10 * 7 * 5);
    sa_round_free(r);

    /* client 9 drops before masking: the server recomputes its 9 pairwise seeds */
    assert_int_equal(sa_round_new(&p, N, D, SEED, 7, &r), FS_OK);
    float *keep = x[9];
    x[9] = NULL;
    assert_int_equal(sa_round_run(r, NULL, (const float *const *)x, NULL, NULL, NULL, &st), FS_OK);
    x[9] = keep;
    assert_int_equal(st, SA_OK);
    s = sa_server_cost(r);
    assert_int_equal(s->key_agreements, 9);
    assert_int_equal(s->prg_bytes, (9 + 9) * 400);
    assert_int_equal(sa_round_n_summed(r), 9);
    assert_int_equal(sa_client_cost(r, 0)->bytes_up[SA_PHASE_UNMASK], 4 + 10 * 44);
    sa_round_free(r);
    free_inputs(x, N);
}

static void test_misuse(void **state)
{
    sa_params p;
    sa_params_default(&p);
    sa_round *r, *r2;
    sa_status st;
    p.threshold = 11;
    assert_int_equal(sa_round_new(&p, 10, 8, SEED, 0, &r), FS_EINPUT); /* t > n */
    sa_params_default(&p);
    p.scale_bits = 30;
    assert_int_equal(sa_round_new(&p, 100, 8, SEED, 0, &r), FS_EINPUT); /* sum could wrap */
    sa_params_default(&p);
    assert_int_equal(sa_round_new(&p, SA_MAX_COMPLETE + 1, 8, SEED, 0, &r), FS_EINPUT);
    assert_null(r);

    float x[8] = {0};
    assert_int_equal(sa_round_new(&p, 5, 8, SEED, 0, &r), FS_OK);
    assert_int_equal(sa_round_new(&p, 5, 8, SEED, 1, &r2), FS_OK);
    sa_masked_input *m;
    assert_int_equal(sa_client_mask(r, 0, x, &m), FS_EINPUT); /* before setup */
    assert_int_equal(sa_round_setup(r, NULL, &st), FS_OK);
    assert_int_equal(sa_round_setup(r2, NULL, &st), FS_OK);
    assert_int_equal(sa_client_mask(r, 0, x, &m), FS_OK);
    sa_masked_input *m2;
    assert_int_equal(sa_client_mask(r, 0, x, &m2), FS_EINPUT); /* twice */
    assert_int_equal(sa_server_collect(r2, m), FS_EINPUT);     /* wrong round, consumed */
    sa_unmask_msg *u;
    assert_int_equal(sa_client_unmask(r, 1, &u), FS_EINPUT); /* before close */
    sa_round_free(r);
    sa_round_free(r2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_field),
        cmocka_unit_test(test_shamir_hand),
        cmocka_unit_test(test_shamir_any_t),
        cmocka_unit_test(test_quantize),
        cmocka_unit_test(test_exact_sum_n10),
        cmocka_unit_test(test_exact_sum_n50),
        cmocka_unit_test(test_masked_uniform),
        cmocka_unit_test(test_drop_after_mask),
        cmocka_unit_test(test_drop_before_mask),
        cmocka_unit_test(test_abort_below_threshold),
        cmocka_unit_test(test_secagg_plus),
        cmocka_unit_test(test_determinism),
        cmocka_unit_test(test_system_randomness),
        cmocka_unit_test(test_bytes),
        cmocka_unit_test(test_misuse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
