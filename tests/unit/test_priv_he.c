/* Tests for privacy.secagg = paillier's two ends in sim/engine/priv.c (priv_he_*), on a small
 * insecure test key: the key holder's decryption of the ciphertext sum equals the plain sum of
 * the clients' fixed-point encodings exactly, and the float sum within the quantisation error
 * (one rounding of 2^-(f+1) per client and coordinate); clipping to [-R, R] is counted; the
 * keyed randomness makes ciphertexts reproducible; a scale reaching the slot bound and a NaN
 * are refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <math.h>
#include <stdlib.h>

#include "engine/priv.h"
#include "util/rng.h"

#define SEED 20261206ULL
enum { CLIENTS = 7, DIM = 100 };

static he_key *key;
static he_enc *enc;

static int group_setup(void **state)
{
    (void)state;
    cr_src r;
    if (cr_init_keyed(&r, SEED, 1, 0) || he_keygen_insecure_test(512, &r, &key)) return -1;
    return he_enc_new(he_key_pub(key), &enc) ? -1 : 0;
}

static int group_teardown(void **state)
{
    (void)state;
    he_enc_free(enc);
    he_key_free(key);
    return 0;
}

static void test_layout(void **state)
{
    (void)state;
    he_pack L;
    assert_int_equal(priv_he_layout(he_key_pub(key), CLIENTS, &L), FS_OK);
    /* 31 value bits, ceil(log2 7) = 3 bits of headroom, a sign bit; (512 - 2) / 35 slots */
    assert_int_equal(L.slot_bits, 35);
    assert_int_equal(L.slots, 14);
    assert_int_equal(priv_he_cts(&L, DIM), 8);
    assert_int_equal(priv_he_cts(&L, 14), 1);
    assert_int_equal(priv_he_cts(&L, 15), 2);
}

static void test_sum(void **state)
{
    (void)state;
    const he_pub *pk = he_key_pub(key);
    he_pack L;
    assert_int_equal(priv_he_layout(pk, CLIENTS, &L), FS_OK);
    const size_t nct = priv_he_cts(&L, DIM);
    const double R = 2.0;
    int f = 30; /* the engine's choice: the largest f with n ceil(R 2^f) <= 2^31 - 1 */
    while (CLIENTS * ceil(R * ldexp(1.0, f)) > 2147483647.0) f--;
    assert_int_equal(f, 27);
    he_ct *ct = he_ct_array_new(nct), *sum = he_ct_array_new(nct);
    assert_non_null(ct);
    assert_non_null(sum);
    static float x[DIM];
    static int64_t want[DIM], got[DIM];
    static double fsum[DIM], dec[DIM];
    long want_clip = 0;
    rng_t g;
    rng_init(&g, SEED, RNG_CRYPTO, 99, 0);
    for (int c = 0; c < CLIENTS; c++) {
        for (int i = 0; i < DIM; i++) {
            x[i] = (float)(5.0 * rng_uniform(&g) - 2.5); /* some beyond [-R, R] */
            const double y = fmax(-R, fmin(R, (double)x[i]));
            want_clip += fabs((double)x[i]) > R;
            want[i] += llround(y * ldexp(1.0, f));
            fsum[i] += y;
        }
        cr_src r;
        assert_int_equal(cr_init_keyed(&r, SEED, (uint64_t)c, 1), FS_OK);
        long clipped = -1;
        assert_int_equal(priv_he_encrypt(enc, &r, &L, x, DIM, R, f, ct, &clipped), FS_OK);
        want_clip -= clipped;
        for (size_t j = 0; j < nct; j++) {
            if (c == 0)
                mpz_set(sum[j].v, ct[j].v);
            else
                he_add(pk, &sum[j], &ct[j], &sum[j]);
        }
    }
    assert_int_equal(want_clip, 0);
    assert_int_equal(priv_he_decrypt(key, &L, sum, DIM, got), FS_OK);
    const double tol = CLIENTS * ldexp(1.0, -(f + 1));
    for (int i = 0; i < DIM; i++) {
        assert_true(got[i] == want[i]); /* exact: the plain fixed-point sum */
        dec[i] = (double)got[i] * ldexp(1.0, -f);
        assert_true(fabs(dec[i] - fsum[i]) <= tol * (1 + 1e-12));
    }
    he_ct_array_free(ct, nct);
    he_ct_array_free(sum, nct);
}

static void test_keyed(void **state)
{
    (void)state;
    he_pack L;
    assert_int_equal(priv_he_layout(he_key_pub(key), CLIENTS, &L), FS_OK);
    const size_t nct = priv_he_cts(&L, DIM);
    he_ct *a = he_ct_array_new(nct), *b = he_ct_array_new(nct), *c = he_ct_array_new(nct);
    float x[DIM];
    for (int i = 0; i < DIM; i++) x[i] = (float)i / DIM - 0.5f;
    cr_src r;
    assert_int_equal(cr_init_keyed(&r, SEED, 3, 2), FS_OK);
    assert_int_equal(priv_he_encrypt(enc, &r, &L, x, DIM, 1.0, 20, a, NULL), FS_OK);
    assert_int_equal(cr_init_keyed(&r, SEED, 3, 2), FS_OK);
    assert_int_equal(priv_he_encrypt(enc, &r, &L, x, DIM, 1.0, 20, b, NULL), FS_OK);
    assert_int_equal(cr_init_keyed(&r, SEED, 4, 2), FS_OK); /* another client: fresh randomness */
    assert_int_equal(priv_he_encrypt(enc, &r, &L, x, DIM, 1.0, 20, c, NULL), FS_OK);
    for (size_t j = 0; j < nct; j++) {
        assert_int_equal(mpz_cmp(a[j].v, b[j].v), 0);
        assert_int_not_equal(mpz_cmp(a[j].v, c[j].v), 0);
    }
    he_ct_array_free(a, nct);
    he_ct_array_free(b, nct);
    he_ct_array_free(c, nct);
}

static void test_refuse(void **state)
{
    (void)state;
    he_pack L;
    assert_int_equal(priv_he_layout(he_key_pub(key), CLIENTS, &L), FS_OK);
    he_ct *ct = he_ct_array_new(1);
    float x[4] = {0.5f, -0.25f, 0, 1};
    cr_src r;
    assert_int_equal(cr_init_keyed(&r, SEED, 1, 1), FS_OK);
    /* R 2^f = 2^31: a value would not fit its 31-bit slot */
    assert_int_equal(priv_he_encrypt(enc, &r, &L, x, 4, 2.0, 30, ct, NULL), FS_EINPUT);
    assert_int_equal(priv_he_encrypt(enc, &r, &L, x, 4, 1.0, 30, ct, NULL), FS_OK);
    x[2] = NAN;
    assert_int_equal(priv_he_encrypt(enc, &r, &L, x, 4, 1.0, 20, ct, NULL), FS_EINPUT);
    he_ct_array_free(ct, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_layout),
        cmocka_unit_test(test_sum),
        cmocka_unit_test(test_keyed),
        cmocka_unit_test(test_refuse),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
