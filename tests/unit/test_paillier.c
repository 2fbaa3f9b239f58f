/* Tests for sim/crypto/paillier.c and crand.c: known-answer tests (a key small enough to check
 * by hand, and values computed independently with Python's integers and the non-CRT
 * lambda/mu decryption), round trips through every encryption path, homomorphic properties
 * against plaintext arithmetic, signed and fixed-point encoding with its error bound, the
 * overflow check at its exact boundary, packing, wire formats, key size refusal, determinism of
 * the keyed source and of the batches, and one 2048-bit round trip. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "crypto/paillier.h"
#include "util/rng.h"

#define SEED 20261201ULL

static he_key *key512;  /* keygen structure: has h and generators */
static he_key *keyprim; /* from primes: no h, no generators */

static int group_setup(void **state)
{
    cr_src r;
    if (cr_init_keyed(&r, SEED, 1, 0) || he_keygen_insecure_test(512, &r, &key512)) return -1;
    mpz_t p, q;
    mpz_inits(p, q, NULL);
    mpz_set_str(p, "2", 10);
    mpz_pow_ui(p, p, 200);
    mpz_nextprime(p, p);
    mpz_set_str(q, "3", 10);
    mpz_pow_ui(q, q, 127);
    mpz_nextprime(q, q);
    fs_err rc = he_key_from_primes_insecure_test(p, q, &keyprim);
    mpz_clears(p, q, NULL);
    return rc ? -1 : 0;
}

static int group_teardown(void **state)
{
    he_key_free(key512);
    he_key_free(keyprim);
    return 0;
}

static he_key *tiny_key(unsigned long p, unsigned long q)
{
    mpz_t P, Q;
    mpz_init_set_ui(P, p);
    mpz_init_set_ui(Q, q);
    he_key *k = NULL;
    assert_int_equal(he_key_from_primes_insecure_test(P, Q, &k), FS_OK);
    mpz_clears(P, Q, NULL);
    return k;
}

/* ---- known answers ------------------------------------------------------------------------ */

static void test_kat_hand(void **state)
{
    /* p = 3, q = 5: n = 15, n^2 = 225. m = 4, r = 2: r^n = 2^15 = 32768 = 143 (mod 225),
     * 1 + m n = 61, c = 61 * 143 = 8723 = 173 (mod 225). Back: lambda = lcm(2, 4) = 4,
     * 173^2 = 4, 4^2 = 16 (mod 225), L(16) = 1; g^lambda = 16^4 = 61, L(61) = 4,
     * mu = 4^-1 = 4 (mod 15); m = 1 * 4 = 4. */
    he_key *k = tiny_key(3, 5);
    const he_pub *pk = he_key_pub(k);
    assert_int_equal(pk->bits, 4);
    he_ct c;
    he_ct_init(&c);
    mpz_t m, r;
    mpz_init_set_ui(m, 4);
    mpz_init_set_ui(r, 2);
    assert_int_equal(he_encrypt_r(pk, m, r, &c), FS_OK);
    assert_int_equal(mpz_cmp_ui(c.v, 173), 0);
    mpz_set_ui(m, 0);
    assert_int_equal(he_decrypt(k, &c, m), FS_OK);
    assert_int_equal(mpz_cmp_ui(m, 4), 0);
    mpz_set_ui(m, 8); /* above half = 7 */
    assert_int_equal(he_encrypt_r(pk, m, r, &c), FS_EINPUT);
    mpz_clears(m, r, NULL);
    he_ct_clear(&c);
    he_key_free(k);
}

static void test_kat_python(void **state)
{
    /* n = 11 * 13 = 143; c = (1 + (m mod n) n) r^n mod n^2, from Python */
    static const struct {
        long m, r, c;
    } kat[] = {{42, 23, 9637}, {-5, 2, 14242}, {0, 100, 10286}, {71, 142, 10295}, {-71, 7, 7152}};
    he_key *k = tiny_key(11, 13);
    const he_pub *pk = he_key_pub(k);
    he_ct c;
    he_ct_init(&c);
    mpz_t m, r;
    mpz_inits(m, r, NULL);
    for (size_t i = 0; i < sizeof kat / sizeof kat[0]; i++) {
        mpz_set_si(m, kat[i].m);
        mpz_set_si(r, kat[i].r);
        assert_int_equal(he_encrypt_r(pk, m, r, &c), FS_OK);
        assert_int_equal(mpz_cmp_si(c.v, kat[i].c), 0);
        int64_t back;
        assert_int_equal(he_decrypt_i64(k, &c, &back), FS_OK);
        assert_int_equal(back, kat[i].m);
    }
    he_key_free(k);

    /* p = 2^127 - 1, q = 2^89 - 1 (Mersenne primes), n of 216 bits */
    mpz_t p, q;
    mpz_inits(p, q, NULL);
    mpz_ui_pow_ui(p, 2, 127);
    mpz_sub_ui(p, p, 1);
    mpz_ui_pow_ui(q, 2, 89);
    mpz_sub_ui(q, q, 1);
    assert_int_equal(he_key_from_primes_insecure_test(p, q, &k), FS_OK);
    pk = he_key_pub(k);
    assert_int_equal(pk->bits, 216);
    mpz_set_ui(m, 123456789);
    mpz_set_ui(r, 987654321);
    assert_int_equal(he_encrypt_r(pk, m, r, &c), FS_OK);
    mpz_t want;
    mpz_init_set_str(want,
                     "d66d5aa0e94f15b0b1b54f203ad66d174cdcffc71a616b1f2df8bb30b425959cdca51bbb"
                     "46fe9469a981f6b4f078065bc184ee66c1df",
                     16);
    assert_int_equal(mpz_cmp(c.v, want), 0);
    mpz_set_ui(m, 0);
    assert_int_equal(he_decrypt(k, &c, m), FS_OK);
    assert_int_equal(mpz_cmp_ui(m, 123456789), 0);
    /* m = -(2^100 + 7), r = 2^150 + 3 */
    mpz_ui_pow_ui(m, 2, 100);
    mpz_add_ui(m, m, 7);
    mpz_neg(m, m);
    mpz_ui_pow_ui(r, 2, 150);
    mpz_add_ui(r, r, 3);
    assert_int_equal(he_encrypt_r(pk, m, r, &c), FS_OK);
    mpz_set_str(want,
                "13375a2525ec9672ba58bfedfecc2cae652c3e4ccd9cccd1368fad336102fe69029b091e898ed8"
                "086c9a92c1f6fe5b9fc0a03ac60773",
                16);
    assert_int_equal(mpz_cmp(c.v, want), 0);
    mpz_t back;
    mpz_init(back);
    assert_int_equal(he_decrypt(k, &c, back), FS_OK);
    assert_int_equal(mpz_cmp(back, m), 0);
    /* not a ciphertext: out of range, or sharing the factor p with n */
    mpz_set(c.v, pk->n2);
    assert_int_equal(he_decrypt(k, &c, back), FS_EDATA);
    mpz_set(c.v, p);
    assert_int_equal(he_decrypt(k, &c, back), FS_EDATA);
    mpz_clears(m, r, want, back, p, q, NULL);
    he_ct_clear(&c);
    he_key_free(k);
    /* not a Paillier modulus: q = 11 divides p - 1 = 22 */
    mpz_t a, b;
    mpz_init_set_ui(a, 23);
    mpz_init_set_ui(b, 11);
    assert_int_equal(he_key_from_primes_insecure_test(a, b, &k), FS_EINPUT);
    assert_int_equal(he_key_from_primes_insecure_test(a, a, &k), FS_EINPUT);
    mpz_set_ui(b, 21);
    assert_int_equal(he_key_from_primes_insecure_test(a, b, &k), FS_EINPUT);
    mpz_clears(a, b, NULL);
}

/* ---- every encryption path --------------------------------------------------------------- */

static void round_trip(const he_key *k, he_enc *e, he_method want)
{
    assert_int_equal(he_enc_method(e), want);
    const he_pub *pk = he_key_pub(k);
    cr_src r;
    assert_int_equal(cr_init_keyed(&r, SEED, 2, (uint64_t)want), FS_OK);
    rng_t g;
    rng_init(&g, SEED, RNG_TEST, 3, (uint64_t)want);
    he_ct c, c2;
    he_ct_init(&c);
    he_ct_init(&c2);
    mpz_t m, back;
    mpz_inits(m, back, NULL);
    for (int i = 0; i < 40; i++) {
        if (i == 0)
            mpz_set_ui(m, 0);
        else if (i == 1)
            mpz_set(m, pk->half);
        else if (i == 2)
            mpz_neg(m, pk->half);
        else {
            mpz_set_ui(m, rng_u64(&g));
            mpz_mul_2exp(m, m, (mp_bitcnt_t)rng_below(&g, (uint64_t)pk->bits - 70));
            if (i % 2) mpz_neg(m, m);
        }
        assert_int_equal(he_encrypt(e, &r, m, &c), FS_OK);
        assert_true(mpz_sgn(c.v) > 0 && mpz_cmp(c.v, pk->n2) < 0);
        assert_int_equal(he_decrypt(k, &c, back), FS_OK);
        assert_int_equal(mpz_cmp(back, m), 0);
        /* a second encryption of m differs (fresh randomness) and decrypts the same */
        assert_int_equal(he_encrypt(e, &r, m, &c2), FS_OK);
        assert_int_not_equal(mpz_cmp(c.v, c2.v), 0);
        assert_int_equal(he_rerandomize(e, &r, &c2), FS_OK);
        assert_int_equal(he_decrypt(k, &c2, back), FS_OK);
        assert_int_equal(mpz_cmp(back, m), 0);
    }
    mpz_add_ui(m, pk->half, 1);
    assert_int_equal(he_encrypt(e, &r, m, &c), FS_EINPUT);
    mpz_clears(m, back, NULL);
    he_ct_clear(&c);
    he_ct_clear(&c2);
}

static void test_paths(void **state)
{
    he_enc *e;
    assert_int_equal(he_enc_new(he_key_pub(key512), &e), FS_OK);
    assert_true(he_enc_table_bytes(e) > 0);
    /* the memory estimate's count, without building the table */
    assert_int_equal(he_enc_table_bytes(e), he_enc_table_bytes_for(512));
    round_trip(key512, e, HE_FIXED_BASE);
    he_enc_free(e);
    assert_int_equal(he_enc_new_key(key512, &e), FS_OK);
    round_trip(key512, e, HE_KEY_TABLES);
    he_enc_free(e);
    assert_int_equal(he_enc_new_textbook(he_key_pub(key512), &e), FS_OK);
    assert_int_equal(he_enc_table_bytes(e), 0);
    round_trip(key512, e, HE_TEXTBOOK);
    he_enc_free(e);
    assert_int_equal(he_enc_new(he_key_pub(keyprim), &e), FS_OK); /* no h: textbook */
    round_trip(keyprim, e, HE_TEXTBOOK);
    he_enc_free(e);
    assert_int_equal(he_enc_new_key(keyprim, &e), FS_OK); /* no generators: u^p */
    round_trip(keyprim, e, HE_KEY_POW);
    he_enc_free(e);
}

/* R's Jacobi symbol (c mod n | n), public to anyone, is a uniform sign for textbook r^n. The
 * fixed-base sampler gets it from its sign bit (Jacobi(h | n) = 1, Jacobi(-1 | n) = -1 for
 * keygen's primes) and the key holder's from the parity of x_p and x_q: without them every
 * ciphertext would have symbol +1 and differ visibly from textbook ones. */
static void test_jacobi_sign(void **state)
{
    const he_pub *pk = he_key_pub(key512);
    he_enc *e[3];
    assert_int_equal(he_enc_new(pk, &e[0]), FS_OK);
    assert_int_equal(he_enc_new_key(key512, &e[1]), FS_OK);
    assert_int_equal(he_enc_new_textbook(pk, &e[2]), FS_OK);
    assert_int_equal(mpz_jacobi(pk->h, pk->n), 1);
    mpz_t zero, t;
    mpz_inits(zero, t, NULL);
    mpz_sub_ui(t, pk->n, 1);
    assert_int_equal(mpz_jacobi(t, pk->n), -1);
    he_ct c;
    he_ct_init(&c);
    for (int j = 0; j < 3; j++) {
        cr_src r;
        assert_int_equal(cr_init_keyed(&r, SEED, 4, (uint64_t)j), FS_OK);
        int plus = 0, minus = 0;
        for (int i = 0; i < 200; i++) {
            assert_int_equal(he_encrypt(e[j], &r, zero, &c), FS_OK);
            mpz_mod(t, c.v, pk->n);
            int s = mpz_jacobi(t, pk->n);
            plus += s == 1;
            minus += s == -1;
        }
        assert_int_equal(plus + minus, 200);
        assert_true(plus >= 70 && minus >= 70); /* binomial(200, 1/2): 6.4 sigma below 100 */
        he_enc_free(e[j]);
    }
    mpz_clears(zero, t, NULL);
    he_ct_clear(&c);
}

/* ---- homomorphic properties ---------------------------------------------------------------- */

static void test_homomorphic(void **state)
{
    const he_pub *pk = he_key_pub(key512);
    he_enc *e;
    assert_int_equal(he_enc_new(pk, &e), FS_OK);
    cr_src r;
    assert_int_equal(cr_init_keyed(&r, SEED, 5, 0), FS_OK);
    rng_t g;
    rng_init(&g, SEED, RNG_TEST, 5, 0);
    he_ct a, b, o;
    he_ct_init(&a);
    he_ct_init(&b);
    he_ct_init(&o);
    for (int i = 0; i < 30; i++) {
        int64_t x = (int64_t)(rng_u64(&g) >> 2) - ((int64_t)1 << 61);
        int64_t y = (int64_t)(rng_u64(&g) >> 2) - ((int64_t)1 << 61);
        int64_t k = (int64_t)(rng_u64(&g) >> 40) - ((int64_t)1 << 23);
        int64_t v;
        assert_int_equal(he_encrypt_i64(e, &r, x, &a), FS_OK);
        assert_int_equal(he_encrypt_i64(e, &r, y, &b), FS_OK);
        he_add(pk, &a, &b, &o);
        assert_int_equal(he_decrypt_i64(key512, &o, &v), FS_OK);
        assert_int_equal(v, x + y);
        assert_int_equal(he_sub(pk, &a, &b, &o), FS_OK);
        assert_int_equal(he_decrypt_i64(key512, &o, &v), FS_OK);
        assert_int_equal(v, x - y);
        assert_int_equal(he_neg(pk, &a, &o), FS_OK);
        assert_int_equal(he_decrypt_i64(key512, &o, &v), FS_OK);
        assert_int_equal(v, -x);
        mpz_t mk;
        mpz_init_set_si(mk, (long)y);
        assert_int_equal(he_add_plain(pk, &a, mk, &o), FS_OK);
        assert_int_equal(he_decrypt_i64(key512, &o, &v), FS_OK);
        assert_int_equal(v, x + y);
        /* k x as a big integer: beyond int64, compare through mpz */
        assert_int_equal(he_mul_i64(pk, &a, k, &o), FS_OK);
        mpz_t want, got;
        mpz_inits(want, got, NULL);
        mpz_set_si(want, (long)x);
        mpz_mul_si(want, want, (long)k);
        assert_int_equal(he_decrypt(key512, &o, got), FS_OK);
        assert_int_equal(mpz_cmp(want, got), 0);
        /* aliasing: a <- a (+) a */
        he_add(pk, &a, &a, &a);
        assert_int_equal(he_decrypt_i64(key512, &a, &v), FS_OK);
        assert_int_equal(v, 2 * x);
        mpz_clears(mk, want, got, NULL);
    }
    /* multiply by 0, 1, -1 */
    int64_t v;
    assert_int_equal(he_encrypt_i64(e, &r, 77, &a), FS_OK);
    assert_int_equal(he_mul_i64(pk, &a, 0, &o), FS_OK);
    assert_int_equal(he_decrypt_i64(key512, &o, &v), FS_OK);
    assert_int_equal(v, 0);
    assert_int_equal(he_mul_i64(pk, &a, 1, &o), FS_OK);
    assert_int_equal(he_decrypt_i64(key512, &o, &v), FS_OK);
    assert_int_equal(v, 77);
    assert_int_equal(he_mul_i64(pk, &a, -1, &o), FS_OK);
    assert_int_equal(he_decrypt_i64(key512, &o, &v), FS_OK);
    assert_int_equal(v, -77);
    he_ct_clear(&a);
    he_ct_clear(&b);
    he_ct_clear(&o);
    he_enc_free(e);
}

/* Batches equal the one-at-a-time calls on the same keyed stream, for 1 and 2 threads; the
 * bucket inner product equals the naive sum of scalar products. */
static void test_batches(void **state)
{
    enum { N = 300 }; /* more than one chunk of 256 */
    const he_pub *pk = he_key_pub(key512);
    he_enc *e;
    assert_int_equal(he_enc_new_key(key512, &e), FS_OK);
    int64_t m[N], k[N], back[N];
    rng_t g;
    rng_init(&g, SEED, RNG_TEST, 6, 0);
    for (int i = 0; i < N; i++) {
        m[i] = (int64_t)(rng_u64(&g) >> 4) - ((int64_t)1 << 59);
        int64_t mag = (int64_t)(rng_u64(&g) >> (i % 50 + 1)); /* below 2^63 */
        k[i] = rng_u64(&g) & 1 ? mag : -mag;
    }
    k[0] = 0;
    k[1] = INT64_MIN + 1;
    k[2] = INT64_MAX;
    he_ct *one = he_ct_array_new(N), *bat = he_ct_array_new(N), *bat2 = he_ct_array_new(N);
    cr_src r;
    assert_int_equal(cr_init_keyed(&r, SEED, 6, 0), FS_OK);
    for (int i = 0; i < N; i++) assert_int_equal(he_encrypt_i64(e, &r, m[i], &one[i]), FS_OK);
    assert_int_equal(cr_init_keyed(&r, SEED, 6, 0), FS_OK);
#ifdef _OPENMP
    int threads = omp_get_max_threads();
    omp_set_num_threads(2);
#endif
    assert_int_equal(he_encrypt_i64_batch(e, &r, m, N, bat), FS_OK);
#ifdef _OPENMP
    omp_set_num_threads(1);
#endif
    assert_int_equal(cr_init_keyed(&r, SEED, 6, 0), FS_OK);
    assert_int_equal(he_encrypt_i64_batch(e, &r, m, N, bat2), FS_OK);
#ifdef _OPENMP
    omp_set_num_threads(threads);
#endif
    for (int i = 0; i < N; i++) {
        assert_int_equal(mpz_cmp(one[i].v, bat[i].v), 0);
        assert_int_equal(mpz_cmp(one[i].v, bat2[i].v), 0);
    }
    assert_int_equal(he_decrypt_i64_batch(key512, bat, N, back), FS_OK);
    assert_memory_equal(back, m, sizeof m);
    /* sums and the inner product against plaintext arithmetic (in mpz: no int64 overflow) */
    he_ct s, d;
    he_ct_init(&s);
    he_ct_init(&d);
    he_sum(pk, bat, N, &s);
    mpz_t want, got, t;
    mpz_inits(want, got, t, NULL);
    for (int i = 0; i < N; i++) {
        mpz_set_si(t, (long)m[i]);
        mpz_add(want, want, t);
    }
    assert_int_equal(he_decrypt(key512, &s, got), FS_OK);
    assert_int_equal(mpz_cmp(want, got), 0);
    for (int n = 0; n <= N; n += (n < 4 ? 1 : 99)) {
        assert_int_equal(he_dot_i64(pk, bat, k, (size_t)n, &d), FS_OK);
        mpz_set_ui(want, 0);
        for (int i = 0; i < n; i++) {
            mpz_set_si(t, (long)m[i]);
            mpz_mul_si(t, t, (long)k[i]);
            mpz_add(want, want, t);
        }
        assert_int_equal(he_decrypt(key512, &d, got), FS_OK);
        assert_int_equal(mpz_cmp(want, got), 0);
    }
    he_add_batch(pk, bat, one, N, bat2);
    assert_int_equal(he_decrypt_i64_batch(key512, bat2, N, back), FS_OK);
    for (int i = 0; i < N; i++) assert_int_equal(back[i], 2 * m[i]);
    /* an int64 overflow is refused, not wrapped */
    int64_t big = INT64_MAX;
    assert_int_equal(he_encrypt_i64(e, &r, big, &s), FS_OK);
    he_add(pk, &s, &s, &s);
    assert_int_equal(he_decrypt_i64(key512, &s, &big), FS_EINPUT);
    mpz_clears(want, got, t, NULL);
    he_ct_clear(&s);
    he_ct_clear(&d);
    he_ct_array_free(one, N);
    he_ct_array_free(bat, N);
    he_ct_array_free(bat2, N);
    he_enc_free(e);
}

/* ---- fixed point, overflow ----------------------------------------------------------------- */

static void test_encoding(void **state)
{
    const he_pub *pk = he_key_pub(key512);
    mpz_t m;
    mpz_init(m);
    double x;
    static const struct {
        double x;
        int f;
        long m;
    } exact[] = {{3.25, 2, 13}, {-3.25, 2, -13}, {0.5, 0, 1},  {-0.5, 0, -1},
                 {2.5, 0, 3},   {1.4999, 0, 1},  {0.0, 30, 0}, {-0.0, 30, 0},
                 {-1.5, 1, -3}, {0.1, 3, 1}}; /* 0.1 * 8 = 0.8 -> 1 */
    for (size_t i = 0; i < sizeof exact / sizeof exact[0]; i++) {
        assert_int_equal(he_encode_f64(pk, exact[i].x, exact[i].f, m), FS_OK);
        assert_int_equal(mpz_cmp_si(m, exact[i].m), 0);
    }
    mpz_t two62;
    mpz_init(two62);
    mpz_ui_pow_ui(two62, 2, 300);
    assert_int_equal(he_encode_f64(pk, 0x1p250, 50, m), FS_OK); /* beyond 53 bits: exact */
    assert_int_equal(mpz_cmp(m, two62), 0);
    mpz_clear(two62);
    /* the smallest subnormal at 1074 fraction bits is 1; DBL_MAX does not fit 512 bits */
    assert_int_equal(he_encode_f64(pk, 4.9406564584124654e-324, 1074, m), FS_OK);
    assert_int_equal(mpz_cmp_ui(m, 1), 0);
    assert_int_equal(he_encode_f64(pk, DBL_MAX, 0, m), FS_EINPUT);
    assert_int_equal(he_encode_f64(pk, NAN, 0, m), FS_EINPUT);
    assert_int_equal(he_encode_f64(pk, INFINITY, 0, m), FS_EINPUT);
    assert_int_equal(he_encode_f64(pk, 1.0, -1, m), FS_EINPUT);
    /* decode rounds to nearest: 2^54 + 1 -> 2^54; 2^54 + 3 -> 2^54 + 4 */
    mpz_ui_pow_ui(m, 2, 54);
    mpz_add_ui(m, m, 1);
    assert_int_equal(he_decode_f64(pk, m, 0, &x), FS_OK);
    assert_true(x == 0x1p54);
    mpz_add_ui(m, m, 2);
    assert_int_equal(he_decode_f64(pk, m, 0, &x), FS_OK);
    assert_true(x == 0x1p54 + 4);
    mpz_set_si(m, -13);
    assert_int_equal(he_decode_f64(pk, m, 2, &x), FS_OK);
    assert_true(x == -3.25);
    /* random values of every magnitude: |decode(encode(x)) - x| <= 2^-(f+1) + |x| 2^-53 */
    rng_t g;
    rng_init(&g, SEED, RNG_TEST, 7, 0);
    for (int i = 0; i < 2000; i++) {
        int f = (int)rng_below(&g, 80);
        double v = ldexp(rng_uniform(&g) - 0.5, (int)rng_below(&g, 200) - 100);
        assert_int_equal(he_encode_f64(pk, v, f, m), FS_OK);
        assert_int_equal(he_decode_f64(pk, m, f, &x), FS_OK);
        assert_true(fabs(x - v) <= ldexp(1, -f - 1) + fabs(v) * 0x1p-53);
    }
    /* an encrypted sum of K values errs by at most K 2^-(f+1) (+ rounding) */
    he_enc *e;
    assert_int_equal(he_enc_new_key(key512, &e), FS_OK);
    cr_src r;
    assert_int_equal(cr_init_keyed(&r, SEED, 7, 0), FS_OK);
    enum { K = 64, F = 20 };
    double xs[K], sum = 0;
    for (int i = 0; i < K; i++) sum += xs[i] = 1000 * (rng_uniform(&g) - 0.5);
    he_ct *c = he_ct_array_new(K), s;
    he_ct_init(&s);
    assert_int_equal(he_encrypt_f64_batch(e, &r, xs, K, F, c), FS_OK);
    he_sum(pk, c, K, &s);
    assert_int_equal(he_decrypt_f64(key512, &s, F, &x), FS_OK);
    assert_true(fabs(x - sum) <= K * ldexp(1, -F - 1) + 1e-9);
    double back[K];
    assert_int_equal(he_decrypt_f64_batch(key512, c, K, F, back), FS_OK);
    for (int i = 0; i < K; i++) assert_true(fabs(back[i] - xs[i]) <= ldexp(1, -F - 1));
    he_ct_array_free(c, K);
    he_ct_clear(&s);
    he_enc_free(e);
    mpz_clear(m);
}

/* he_sum_safe is exact at its boundary: K = max_terms copies of B decrypt to K B, one more
 * wraps around to a wrong (negative) value, and he_check_sum refuses it with a message. */
static void test_overflow(void **state)
{
    const he_pub *pk = he_key_pub(key512);
    double B = 0x1p500;
    uint64_t K = he_max_terms(pk, B, 0);
    assert_true(K > 1000 && K < 4096); /* half is about 2^510 */
    assert_true(he_sum_safe(pk, B, 0, K));
    assert_false(he_sum_safe(pk, B, 0, K + 1));
    assert_int_equal(he_check_sum(pk, B, 0, K), FS_OK);
    assert_int_equal(he_check_sum(pk, B, 0, K + 1), FS_EINPUT);
    assert_non_null(strstr(fs_errmsg(), "overflow"));
    assert_int_equal(he_check_sum(pk, NAN, 0, 1), FS_EINPUT);
    assert_false(he_sum_safe(pk, -1, 0, 1));
    assert_true(he_sum_safe(pk, 0, 0, UINT64_MAX));
    assert_int_equal(he_max_terms(pk, 0, 0), UINT64_MAX);
    /* the same bound with 10 fraction bits: 1024 times fewer terms (up to flooring) */
    assert_true(he_max_terms(pk, 0x1p490, 10) == K);

    he_enc *e;
    assert_int_equal(he_enc_new(pk, &e), FS_OK);
    cr_src r;
    assert_int_equal(cr_init_keyed(&r, SEED, 8, 0), FS_OK);
    he_ct c, s;
    he_ct_init(&c);
    he_ct_init(&s);
    assert_int_equal(he_encrypt_f64(e, &r, B, 0, &c), FS_OK);
    mpz_t k, got, want;
    mpz_inits(k, got, want, NULL);
    mpz_set_ui(k, (unsigned long)K);
    assert_int_equal(he_mul(pk, &c, k, &s), FS_OK);
    assert_int_equal(he_decrypt(key512, &s, got), FS_OK);
    mpz_ui_pow_ui(want, 2, 500);
    mpz_mul_ui(want, want, (unsigned long)K);
    assert_int_equal(mpz_cmp(got, want), 0);
    mpz_add_ui(k, k, 1);
    assert_int_equal(he_mul(pk, &c, k, &s), FS_OK);
    assert_int_equal(he_decrypt(key512, &s, got), FS_OK);
    assert_true(mpz_sgn(got) < 0); /* wrapped: why the check exists */
    mpz_clears(k, got, want, NULL);
    he_ct_clear(&c);
    he_ct_clear(&s);
    he_enc_free(e);
}

/* ---- packing -------------------------------------------------------------------------------- */

static void test_packing(void **state)
{
    const he_pub *pk = he_key_pub(key512);
    he_pack L;
    assert_int_equal(he_pack_layout(pk, 20, 1000, &L), FS_OK);
    assert_int_equal(L.headroom, 10);
    assert_int_equal(L.slot_bits, 31);
    assert_int_equal(L.slots, (512 - 2) / 31);
    assert_int_equal(he_pack_layout(pk, 40, (uint64_t)1 << 30, &L), FS_EINPUT); /* 71 bits */
    assert_int_equal(he_pack_layout(pk, 0, 1, &L), FS_EINPUT);
    assert_int_equal(he_pack_layout(pk, 20, 1000, &L), FS_OK);

    he_enc *e;
    assert_int_equal(he_enc_new(pk, &e), FS_OK);
    cr_src r;
    assert_int_equal(cr_init_keyed(&r, SEED, 9, 0), FS_OK);
    rng_t g;
    rng_init(&g, SEED, RNG_TEST, 9, 0);
    enum { T = 1000, W = 3 };
    int S = L.slots;
    int64_t v[32], sum[32] = {0}, back[32];
    int64_t lim = ((int64_t)1 << 20) - 1;
    mpz_t m;
    mpz_init(m);
    he_ct acc, c;
    he_ct_init(&acc);
    he_ct_init(&c);
    mpz_set_ui(acc.v, 1); /* the trivial encryption of 0 */
    /* T - W plain terms and one term weighted by W: sum |k| = T, the layout's max_terms */
    for (int t = 0; t <= T - W; t++) {
        for (int i = 0; i < S; i++)
            v[i] =
                t < 3 ? (i % 2 ? -lim : lim) : (int64_t)rng_below(&g, 2 * (uint64_t)lim + 1) - lim;
        int w = t == T - W ? W : 1;
        for (int i = 0; i < S; i++) sum[i] += w * v[i];
        assert_int_equal(he_pack_encode(&L, v, S, m), FS_OK);
        assert_int_equal(he_encrypt(e, &r, m, &c), FS_OK);
        if (w != 1) assert_int_equal(he_mul_i64(pk, &c, w, &c), FS_OK);
        he_add(pk, &acc, &c, &acc);
    }
    assert_int_equal(he_decrypt(key512, &acc, m), FS_OK);
    assert_int_equal(he_pack_decode(&L, m, S, back), FS_OK);
    assert_memory_equal(back, sum, (size_t)S * sizeof back[0]);
    /* a negated packed ciphertext negates every slot */
    assert_int_equal(he_mul_i64(pk, &acc, -1, &acc), FS_OK);
    assert_int_equal(he_decrypt(key512, &acc, m), FS_OK);
    assert_int_equal(he_pack_decode(&L, m, S, back), FS_OK);
    for (int i = 0; i < S; i++) assert_int_equal(back[i], -sum[i]);
    /* reading fewer slots than were packed leaves data above: refused */
    assert_int_equal(he_pack_decode(&L, m, S - 1, back), FS_EDATA);
    /* out of range inputs are refused */
    v[0] = lim + 1;
    assert_int_equal(he_pack_encode(&L, v, 1, m), FS_EINPUT);
    assert_int_equal(he_pack_encode(&L, v, S + 1, m), FS_EINPUT);
    /* doubles: 12 fraction bits */
    double xs[32], xb[32];
    for (int i = 0; i < S; i++) xs[i] = (rng_uniform(&g) - 0.5) * 200;
    assert_int_equal(he_pack_encode_f64(&L, xs, S, 12, m), FS_OK);
    assert_int_equal(he_encrypt(e, &r, m, &c), FS_OK);
    assert_int_equal(he_decrypt(key512, &c, m), FS_OK);
    assert_int_equal(he_pack_decode_f64(&L, m, S, 12, xb), FS_OK);
    for (int i = 0; i < S; i++) assert_true(fabs(xb[i] - xs[i]) <= ldexp(1, -13));
    xs[0] = 300; /* 300 * 2^12 > 2^20 */
    assert_int_equal(he_pack_encode_f64(&L, xs, S, 12, m), FS_EINPUT);
    mpz_clear(m);
    he_ct_clear(&acc);
    he_ct_clear(&c);
    he_enc_free(e);
}

/* ---- sizes, wire format, keyed source ------------------------------------------------------ */

static void test_refuse_small(void **state)
{
    cr_src r;
    assert_int_equal(cr_init_system(&r), FS_OK);
    he_key *k = key512;
    assert_int_equal(he_keygen(1024, &r, &k), FS_EINPUT);
    assert_null(k);
    assert_non_null(strstr(fs_errmsg(), "too small"));
    assert_non_null(strstr(fs_errmsg(), "2048"));
    assert_int_equal(he_keygen(2047, &r, &k), FS_EINPUT);
    assert_int_equal(he_keygen(0, &r, &k), FS_EINPUT);
    assert_int_equal(he_keygen_insecure_test(128, &r, &k), FS_EINPUT);
    /* a small public key is refused on import too */
    const he_pub *pk = he_key_pub(key512);
    uint8_t buf[3 * 64];
    assert_int_equal(he_pub_bytes(pk), sizeof buf);
    he_pub_export(pk, buf);
    he_pub imp;
    assert_int_equal(he_pub_import(buf, sizeof buf, &imp), FS_EINPUT);
    he_pub_clear(&imp);
    assert_int_equal(he_pub_import(buf, 5, &imp), FS_EDATA);
    he_pub_clear(&imp);
}

static void test_ct_wire(void **state)
{
    const he_pub *pk = he_key_pub(key512);
    assert_int_equal(he_ct_bytes(pk), 2 * 512 / 8);
    he_enc *e;
    assert_int_equal(he_enc_new(pk, &e), FS_OK);
    cr_src r;
    assert_int_equal(cr_init_keyed(&r, SEED, 10, 0), FS_OK);
    he_ct c, d;
    he_ct_init(&c);
    he_ct_init(&d);
    uint8_t buf[128];
    for (int i = 0; i < 20; i++) {
        assert_int_equal(he_encrypt_i64(e, &r, -i, &c), FS_OK);
        if (i == 0) mpz_set_ui(c.v, 5); /* a short value is zero-padded */
        he_ct_export(pk, &c, buf);
        assert_int_equal(he_ct_import(pk, buf, &d), FS_OK);
        assert_int_equal(mpz_cmp(c.v, d.v), 0);
    }
    memset(buf, 0xff, sizeof buf); /* >= n^2 */
    assert_int_equal(he_ct_import(pk, buf, &d), FS_EDATA);
    he_ct_clear(&c);
    he_ct_clear(&d);
    he_enc_free(e);
}

static void test_keyed_source(void **state)
{
    cr_src a, b, c;
    assert_int_equal(cr_init_keyed(&a, SEED, 1, 2), FS_OK);
    assert_int_equal(cr_init_keyed(&b, SEED, 1, 2), FS_OK);
    assert_int_equal(cr_init_keyed(&c, SEED, 1, 3), FS_OK);
    uint8_t x[200], y[200], z[200];
    /* the same stream whatever the request sizes */
    cr_bytes(&a, x, 200);
    cr_bytes(&b, y, 3);
    cr_bytes(&b, y + 3, 64);
    cr_bytes(&b, y + 67, 133);
    cr_bytes(&c, z, 200);
    assert_memory_equal(x, y, 200);
    assert_memory_not_equal(x, z, 200);
    for (int i = 0; i < 1000; i++) assert_true(cr_below(&a, 7) < 7);
    assert_int_equal(cr_below(&a, 1), 0);
    cr_wipe(&a);
    assert_int_equal(a.keyed, 0);
    /* same seed, same key; another seed, another key */
    he_key *k1, *k2, *k3;
    assert_int_equal(cr_init_keyed(&a, 7, 0, 0), FS_OK);
    assert_int_equal(he_keygen_insecure_test(256, &a, &k1), FS_OK);
    assert_int_equal(cr_init_keyed(&a, 7, 0, 0), FS_OK);
    assert_int_equal(he_keygen_insecure_test(256, &a, &k2), FS_OK);
    assert_int_equal(cr_init_keyed(&a, 8, 0, 0), FS_OK);
    assert_int_equal(he_keygen_insecure_test(256, &a, &k3), FS_OK);
    assert_int_equal(mpz_cmp(he_key_pub(k1)->n, he_key_pub(k2)->n), 0);
    assert_int_equal(mpz_cmp(he_key_pub(k1)->h, he_key_pub(k2)->h), 0);
    assert_int_not_equal(mpz_cmp(he_key_pub(k1)->n, he_key_pub(k3)->n), 0);
    assert_int_equal(he_key_pub(k1)->bits, 256);
    he_key_free(k1);
    he_key_free(k2);
    he_key_free(k3);
}

/* One full-size key: generation, every path, the wire format, import of the public key. */
static void test_2048(void **state)
{
    cr_src r;
    assert_int_equal(cr_init_keyed(&r, SEED, 11, 0), FS_OK);
    he_key *k;
    assert_int_equal(he_keygen(2048, &r, &k), FS_OK);
    const he_pub *pk = he_key_pub(k);
    assert_int_equal(pk->bits, 2048);
    assert_int_equal(he_ct_bytes(pk), 512);
    uint8_t *buf = malloc(he_pub_bytes(pk));
    he_pub_export(pk, buf);
    he_pub imp;
    assert_int_equal(he_pub_import(buf, he_pub_bytes(pk), &imp), FS_OK);
    assert_int_equal(mpz_cmp(imp.n, pk->n), 0);
    assert_int_equal(mpz_cmp(imp.h, pk->h), 0);
    assert_int_equal(imp.has_h, 1);
    free(buf);
    he_enc *pub, *own;
    assert_int_equal(he_enc_new(&imp, &pub), FS_OK);
    assert_int_equal(he_enc_new_key(k, &own), FS_OK);
    assert_true(he_enc_table_bytes(pub) <= ((size_t)32 << 20));
    assert_true(he_enc_table_bytes(own) <= ((size_t)32 << 20));
    he_ct a, b;
    he_ct_init(&a);
    he_ct_init(&b);
    double x;
    assert_int_equal(he_encrypt_f64(pub, &r, -1234.5678, 32, &a), FS_OK);
    assert_int_equal(he_encrypt_f64(own, &r, 0.0078125, 32, &b), FS_OK);
    he_add(pk, &a, &b, &a);
    assert_int_equal(he_decrypt_f64(k, &a, 32, &x), FS_OK);
    assert_true(fabs(x - (-1234.5678 + 0.0078125)) <= 0x1p-32);
    /* what the memory estimate counts: the public table (27 MB) and a ciphertext's limbs as
     * encryption and addition leave them */
    assert_int_equal(he_enc_table_bytes(pub), he_enc_table_bytes_for(2048));
    assert_int_equal(he_ct_mem_bytes(2048), sizeof(he_ct) + 64 * sizeof(mp_limb_t));
    assert_int_equal(sizeof(he_ct) + (size_t)a.v->_mp_alloc * sizeof(mp_limb_t),
                     he_ct_mem_bytes(2048));
    assert_int_equal(sizeof(he_ct) + (size_t)b.v->_mp_alloc * sizeof(mp_limb_t),
                     he_ct_mem_bytes(2048));
    he_ct_clear(&a);
    he_ct_clear(&b);
    he_enc_free(pub);
    he_enc_free(own);
    he_pub_clear(&imp);
    he_key_free(k);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kat_hand),    cmocka_unit_test(test_kat_python),
        cmocka_unit_test(test_paths),       cmocka_unit_test(test_jacobi_sign),
        cmocka_unit_test(test_homomorphic), cmocka_unit_test(test_batches),
        cmocka_unit_test(test_encoding),    cmocka_unit_test(test_overflow),
        cmocka_unit_test(test_packing),     cmocka_unit_test(test_refuse_small),
        cmocka_unit_test(test_ct_wire),     cmocka_unit_test(test_keyed_source),
        cmocka_unit_test(test_2048),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
