/* Paillier on GMP: key generation with a known generator per prime, three encryption paths
 * (textbook, public fixed base, key holder CRT tables), CRT decryption, homomorphic
 * operations, fixed-point encoding and packing. The scheme and its choices are described in
 * paillier.h and docs/vertical.md. */
#include "crypto/paillier.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

_Static_assert(sizeof(long) == 8, "int64 plaintexts go through mpz_get_si/mpz_set_si");
_Static_assert(GMP_NAIL_BITS == 0, "fixed-base tables read limbs directly");

enum {
    PRIME_K_BITS = 23,       /* p = 2 k p' + 1 with k < 2^23 */
    PRIME_REPS = 30,         /* mpz_probab_prime_p repetitions (BPSW + Miller-Rabin) */
    PRIME_K_TRIES = 1 << 16, /* k values tried for one p' before drawing another */
    BATCH_CHUNK = 256,       /* batch encryption: randomness drawn serially per chunk */
};
#define PUB_TABLE_BUDGET ((size_t)32 << 20) /* bytes: the public encryptor's table */
#define KEY_TABLE_BUDGET ((size_t)16 << 20) /* bytes: each of the key holder's two tables */

/* ---- fixed-base tables: the Lim-Lee comb ------------------------------------------------
 * Lim and Lee, "More flexible exponentiation with precomputation", CRYPTO 1994. An exponent x
 * of t bits is h rows of a = ceil(t/h) bits, each row v columns of b = ceil(a/v) bits. For
 * column j and every nonempty subset u of the rows the table holds
 *   G[j][u] = prod_{i in u} g^(2^(i a + j b)) mod m,
 * and g^x takes b - 1 squarings and at most a multiplications: for k = b-1 .. 0, square, then
 * for each column j multiply by G[j][u] with u the rows whose bit j b + k is set. Entries are
 * `limbs` limbs (zero-padded) in one allocation. (h, v) minimise the operations per
 * exponentiation plus the build's multiplications amortised over 4096 of them,
 * a + b + v 2^h / 4096, within a byte budget. */
typedef struct fb_table {
    int h, v;        /* rows, columns */
    size_t a, b;     /* row and column lengths in bits */
    size_t ebits;    /* exponents below 2^ebits */
    mp_size_t limbs; /* limbs per entry */
    size_t bytes;    /* of t */
    mp_limb_t *t;    /* v (2^h - 1) entries, G[j][u] at j (2^h - 1) + u - 1 */
    mpz_t mod;
} fb_table;

enum { FB_MAX_ROWS = 12 };

enum { FB_AMORTISE = 4096 };

/* The comb shape of least cost (see above; ties: the smaller table) within budget. */
static void fb_shape(fb_table *fb, size_t ebits, size_t limbs, size_t budget)
{
    size_t best = SIZE_MAX, best_bytes = SIZE_MAX;
    for (int h = 1; h <= FB_MAX_ROWS; h++) {
        size_t a = (ebits + (size_t)h - 1) / (size_t)h;
        for (size_t v = 1; v <= a; v++) {
            size_t bytes = v * (((size_t)1 << h) - 1) * limbs * sizeof(mp_limb_t);
            if (bytes > budget) break;
            size_t b = (a + v - 1) / v, ops = a + b + (v << h) / FB_AMORTISE;
            if (ops < best || (ops == best && bytes < best_bytes)) {
                best = ops;
                best_bytes = bytes;
                fb->h = h;
                fb->v = (int)v;
                fb->a = a;
                fb->b = b;
                fb->bytes = bytes;
            }
        }
    }
    FS_CHECK(best != SIZE_MAX);
}

static mp_limb_t *fb_entry(const fb_table *fb, int j, unsigned u)
{
    size_t per = ((size_t)1 << fb->h) - 1;
    return fb->t + ((size_t)j * per + (u - 1)) * (size_t)fb->limbs;
}

static void fb_store(fb_table *fb, int j, unsigned u, const mpz_t v)
{
    mp_limb_t *dst = fb_entry(fb, j, u);
    size_t sz = mpz_size(v);
    FS_CHECK(sz <= (size_t)fb->limbs);
    if (sz) memcpy(dst, mpz_limbs_read(v), sz * sizeof(mp_limb_t));
    memset(dst + sz, 0, ((size_t)fb->limbs - sz) * sizeof(mp_limb_t));
}

static void fb_read(const fb_table *fb, int j, unsigned u, mpz_t out)
{
    mpz_t e;
    mpz_roinit_n(e, fb_entry(fb, j, u), fb->limbs);
    mpz_set(out, e);
}

static void mulmod(mpz_t r, const mpz_t x, const mpz_t y, const mpz_t m, mpz_t tmp)
{
    mpz_mul(tmp, x, y);
    mpz_tdiv_r(r, tmp, m);
}

static fs_err fb_build(fb_table *fb, const mpz_t g, const mpz_t mod, size_t ebits, size_t budget)
{
    memset(fb, 0, sizeof *fb);
    size_t limbs = (mpz_sizeinbase(mod, 2) + GMP_NUMB_BITS - 1) / GMP_NUMB_BITS;
    fb_shape(fb, ebits, limbs, budget);
    fb->ebits = ebits;
    fb->limbs = (mp_size_t)limbs;
    fb->t = FS_ALIGNED(fb->bytes, 1);
    if (!fb->t) return FS_ENOMEM;
    mpz_init_set(fb->mod, mod);
    mpz_t row[FB_MAX_ROWS], cur, tmp, x;
    mpz_inits(cur, tmp, x, NULL);
    /* row[i] = g^(2^(i a)), then squared b times per column */
    mpz_mod(cur, g, mod);
    for (int i = 0; i < fb->h; i++) {
        mpz_init_set(row[i], cur);
        for (size_t s = 0; s < fb->a; s++) mulmod(cur, cur, cur, mod, tmp);
    }
    unsigned top = (1u << fb->h) - 1;
    for (int j = 0; j < fb->v; j++) {
        for (unsigned u = 1; u <= top; u++) {
            unsigned low = u & (0u - u); /* lowest row of u */
            int li = __builtin_ctz(u);
            if (u == low) {
                fb_store(fb, j, u, row[li]);
            } else {
                fb_read(fb, j, u & ~low, x);
                mulmod(x, x, row[li], mod, tmp);
                fb_store(fb, j, u, x);
            }
        }
        for (int i = 0; i < fb->h && j + 1 < fb->v; i++)
            for (size_t s = 0; s < fb->b; s++) mulmod(row[i], row[i], row[i], mod, tmp);
    }
    for (int i = 0; i < fb->h; i++) mpz_clear(row[i]);
    mpz_clears(cur, tmp, x, NULL);
    return FS_OK;
}

static void fb_free(fb_table *fb)
{
    if (fb->t) {
        free(fb->t);
        mpz_clear(fb->mod);
    }
    memset(fb, 0, sizeof *fb);
}

static unsigned limb_bit(const mp_limb_t *xl, mp_size_t xn, size_t pos)
{
    size_t li = pos / GMP_NUMB_BITS;
    return (mp_size_t)li < xn ? (unsigned)(xl[li] >> (pos % GMP_NUMB_BITS)) & 1u : 0u;
}

/* out = g^x mod m for 0 <= x < 2^ebits. out must not alias x. */
static void fb_pow(const fb_table *fb, const mpz_t x, mpz_t out)
{
    FS_CHECK(mpz_sgn(x) >= 0 && mpz_sizeinbase(x, 2) <= fb->ebits);
    const mp_limb_t *xl = mpz_limbs_read(x);
    mp_size_t xn = (mp_size_t)mpz_size(x);
    mpz_t tmp;
    mpz_init2(tmp, 2 * (mp_bitcnt_t)fb->limbs * GMP_NUMB_BITS);
    int first = 1;
    for (size_t k = fb->b; k-- > 0;) {
        if (!first) mulmod(out, out, out, fb->mod, tmp);
        for (int j = 0; j < fb->v; j++) {
            size_t col = (size_t)j * fb->b + k; /* bit within each row */
            if (col >= fb->a) continue;
            unsigned u = 0;
            for (int i = 0; i < fb->h; i++) u |= limb_bit(xl, xn, (size_t)i * fb->a + col) << i;
            if (!u) continue;
            mpz_t e;
            mpz_roinit_n(e, fb_entry(fb, j, u), fb->limbs);
            if (first) {
                mpz_set(out, e);
                first = 0;
            } else {
                mulmod(out, out, e, fb->mod, tmp);
            }
        }
    }
    if (first) mpz_set_ui(out, 1);
    mpz_clear(tmp);
}

/* ---- keys ------------------------------------------------------------------------------- */

struct he_key {
    he_pub pub;
    mpz_t p, q, p2, q2, pm1, qm1;
    mpz_t hp, hq;       /* L_p(g^(p-1) mod p^2)^-1 mod p, likewise for q */
    mpz_t qinv_p;       /* q^-1 mod p */
    mpz_t q2inv_p2;     /* q^-2 mod p^2: CRT of the randomness */
    int has_gen;        /* Gp, Gq set */
    mpz_t gen_p, gen_q; /* generators of the order-(p-1) subgroup mod p^2, order-(q-1) mod q^2 */
};

const he_pub *he_key_pub(const he_key *k)
{
    return &k->pub;
}

static void pub_init(he_pub *pk)
{
    memset(pk, 0, sizeof *pk);
    mpz_inits(pk->n, pk->n2, pk->half, pk->h, NULL);
}

/* Fill the derived fields of pk from n. */
static void pub_set_n(he_pub *pk, const mpz_t n)
{
    mpz_set(pk->n, n);
    mpz_mul(pk->n2, n, n);
    mpz_sub_ui(pk->half, n, 1);
    mpz_fdiv_q_2exp(pk->half, pk->half, 1);
    pk->bits = (int)mpz_sizeinbase(n, 2);
    pk->nbytes = ((size_t)pk->bits + 7) / 8;
}

void he_pub_init_copy(he_pub *dst, const he_pub *src)
{
    pub_init(dst);
    pub_set_n(dst, src->n);
    dst->has_h = src->has_h;
    mpz_set(dst->h, src->h);
}

void he_pub_clear(he_pub *pk)
{
    mpz_clears(pk->n, pk->n2, pk->half, pk->h, NULL);
    memset(pk, 0, sizeof *pk);
}

static he_key *key_alloc(void)
{
    he_key *k = FS_CALLOC(1, sizeof *k);
    if (!k) return NULL;
    pub_init(&k->pub);
    mpz_inits(k->p, k->q, k->p2, k->q2, k->pm1, k->qm1, k->hp, k->hq, k->qinv_p, k->q2inv_p2,
              k->gen_p, k->gen_q, NULL);
    return k;
}

void he_key_free(he_key *k)
{
    if (!k) return;
    /* overwrite the secrets before GMP frees their limbs */
    const mpz_ptr sec[] = {k->p,  k->q,  k->p2,     k->q2,       k->pm1,   k->qm1,
                           k->hp, k->hq, k->qinv_p, k->q2inv_p2, k->gen_p, k->gen_q};
    for (size_t i = 0; i < sizeof sec / sizeof sec[0]; i++) {
        size_t sz = mpz_size(sec[i]);
        if (sz) sodium_memzero(mpz_limbs_modify(sec[i], (mp_size_t)sz), sz * sizeof(mp_limb_t));
        mpz_clear(sec[i]);
    }
    he_pub_clear(&k->pub);
    free(k);
}

/* x uniform in [0, 2^bits). */
static void rand_bits(cr_src *rnd, size_t bits, mpz_t x)
{
    uint8_t buf[(2 * HE_MAX_BITS + HE_STAT_BITS) / 8 + 8];
    size_t nb = (bits + 7) / 8;
    FS_CHECK(nb <= sizeof buf);
    cr_bytes(rnd, buf, nb);
    mpz_import(x, nb, 1, 1, 1, 0, buf);
    mpz_fdiv_r_2exp(x, x, bits);
    sodium_memzero(buf, nb);
}

/* x uniform in [lo, hi) by rejection (hi > lo). */
static void rand_range(cr_src *rnd, const mpz_t lo, const mpz_t hi, mpz_t x)
{
    mpz_t span;
    mpz_init(span);
    mpz_sub(span, hi, lo);
    size_t bits = mpz_sizeinbase(span, 2);
    do rand_bits(rnd, bits, x);
    while (mpz_cmp(x, span) >= 0);
    mpz_add(x, x, lo);
    mpz_clear(span);
}

/* Distinct prime factors of k (k < 2^32) by trial division, into f (at most 10). */
static int factor_small(uint64_t k, uint64_t *f)
{
    int nf = 0;
    for (uint64_t d = 2; d * d <= k; d += (d == 2 ? 1 : 2))
        if (k % d == 0) {
            f[nf++] = d;
            while (k % d == 0) k /= d;
        }
    if (k > 1) f[nf++] = k;
    return nf;
}

/* A prime p of exactly `b` bits with its top two bits set, p = 2 k pp + 1, pp prime of
 * b - 23 bits, k < 2^23 with k % 2 == parity; and g, a uniformly random generator of Z_p^*. */
static fs_err gen_prime(int b, unsigned parity, cr_src *rnd, mpz_t p, mpz_t pp, uint64_t *kout,
                        mpz_t g)
{
    mpz_t lo, hi, t, e, pm1;
    mpz_inits(lo, hi, t, e, pm1, NULL);
    size_t ppbits = (size_t)b - PRIME_K_BITS;
    for (;;) {
        rand_bits(rnd, ppbits, pp);
        mpz_setbit(pp, ppbits - 1);
        mpz_nextprime(pp, pp);
        if (mpz_sizeinbase(pp, 2) != ppbits) continue;
        /* k in [ceil((3 2^(b-2) - 1) / 2pp), floor((2^b - 2) / 2pp)]: p in [3 2^(b-2), 2^b) */
        mpz_set_ui(t, 3);
        mpz_mul_2exp(t, t, (mp_bitcnt_t)b - 2);
        mpz_sub_ui(t, t, 1);
        mpz_mul_2exp(e, pp, 1);
        mpz_cdiv_q(lo, t, e);
        mpz_set_ui(t, 0);
        mpz_setbit(t, (mp_bitcnt_t)b);
        mpz_sub_ui(t, t, 2);
        mpz_fdiv_q(hi, t, e);
        FS_CHECK(mpz_fits_ulong_p(hi) && mpz_cmp(lo, hi) < 0);
        uint64_t klo = mpz_get_ui(lo), khi = mpz_get_ui(hi), span = khi - klo + 1;
        uint64_t k = klo + cr_below(rnd, span);
        int found = 0;
        for (int tries = 0; tries < PRIME_K_TRIES && !found; tries++, k++) {
            if (k > khi) k = klo;
            if ((k & 1) != parity) continue;
            mpz_mul_ui(p, pp, 2 * k);
            mpz_add_ui(p, p, 1);
            if (mpz_probab_prime_p(p, PRIME_REPS)) {
                found = 1;
                *kout = k;
            }
        }
        if (found) break;
    }
    FS_CHECK(mpz_sizeinbase(p, 2) == (size_t)b && mpz_tstbit(p, (mp_bitcnt_t)b - 2));
    /* a generator: g^((p-1)/l) != 1 for every prime l | p - 1 = 2 k pp */
    uint64_t f[12];
    int nf = factor_small(*kout, f);
    if (f[0] != 2) { /* k odd: add the factor 2 of p - 1 */
        memmove(f + 1, f, (size_t)nf * sizeof f[0]);
        f[0] = 2;
        nf++;
    }
    mpz_sub_ui(pm1, p, 1);
    mpz_set_ui(lo, 2);
    for (;;) {
        rand_range(rnd, lo, pm1, g);
        int ok = 1;
        for (int i = 0; i <= nf && ok; i++) {
            if (i < nf)
                mpz_divexact_ui(e, pm1, f[i]);
            else
                mpz_divexact(e, pm1, pp);
            mpz_powm_sec(t, g, e, p);
            ok = mpz_cmp_ui(t, 1) != 0;
        }
        if (ok) break;
    }
    mpz_clears(lo, hi, t, e, pm1, NULL);
    return FS_OK;
}

/* Everything but n's primes: n, the CRT constants, h_p and h_q. Checks p != q and
 * gcd(n, (p-1)(q-1)) = 1. */
static fs_err key_derive(he_key *k)
{
    if (mpz_cmp(k->p, k->q) == 0) return fs_error(FS_EINPUT, "HE: p and q must differ");
    mpz_t n, t;
    mpz_inits(n, t, NULL);
    mpz_mul(n, k->p, k->q);
    pub_set_n(&k->pub, n);
    mpz_mul(k->p2, k->p, k->p);
    mpz_mul(k->q2, k->q, k->q);
    mpz_sub_ui(k->pm1, k->p, 1);
    mpz_sub_ui(k->qm1, k->q, 1);
    mpz_mul(t, k->pm1, k->qm1);
    mpz_gcd(t, t, n);
    fs_err rc = FS_OK;
    if (mpz_cmp_ui(t, 1) != 0) {
        rc = fs_error(FS_EINPUT, "HE: gcd(n, (p-1)(q-1)) != 1: not a Paillier modulus");
        goto out;
    }
    mpz_invert(k->qinv_p, k->q, k->p);
    mpz_invert(k->q2inv_p2, k->q2, k->p2);
    /* h_p = L_p((n+1)^(p-1) mod p^2)^-1 mod p */
    const mpz_ptr pr[2] = {k->p, k->q}, pr2[2] = {k->p2, k->q2}, prm1[2] = {k->pm1, k->qm1};
    const mpz_ptr hh[2] = {k->hp, k->hq};
    for (int i = 0; i < 2; i++) {
        mpz_add_ui(t, n, 1);
        mpz_powm(t, t, prm1[i], pr2[i]);
        mpz_sub_ui(t, t, 1);
        mpz_divexact(t, t, pr[i]);
        if (!mpz_invert(hh[i], t, pr[i])) {
            rc = fs_error(FS_EINPUT, "HE: L(g^(p-1)) is not invertible: not a Paillier key");
            goto out;
        }
    }
out:
    mpz_clears(n, t, NULL);
    return rc;
}

static fs_err keygen(int bits, cr_src *rnd, he_key **out)
{
    *out = NULL;
    he_key *k = key_alloc();
    if (!k) return FS_ENOMEM;
    mpz_t pp, qq, gp, gq, t;
    mpz_inits(pp, qq, gp, gq, t, NULL);
    uint64_t kp, kq;
    int b = bits / 2;
    /* p with k even and q with k odd: then -1 is not in <h> (docs/vertical.md) */
    gen_prime(b, 0, rnd, k->p, pp, &kp, gp);
    for (;;) {
        gen_prime(b, 1, rnd, k->q, qq, &kq, gq);
        mpz_sub_ui(t, k->p, 1);
        mpz_sub_ui(k->qm1, k->q, 1);
        mpz_gcd(t, t, k->qm1);
        if (mpz_cmp_ui(t, 2) == 0) break; /* gcd(p-1, q-1) = 2: lambda(n) = phi(n) / 2 */
    }
    fs_err rc = key_derive(k);
    if (rc) goto fail;
    /* G_p = g_p^p mod p^2 generates the order-(p-1) subgroup mod p^2 (g_p generates Z_p^*) */
    mpz_powm_sec(k->gen_p, gp, k->p, k->p2);
    mpz_powm_sec(k->gen_q, gq, k->q, k->q2);
    k->has_gen = 1;
    /* h = CRT(G_p, G_q) mod n^2: order lambda = (p-1)(q-1)/2 */
    mpz_sub(t, k->gen_p, k->gen_q);
    mpz_mul(t, t, k->q2inv_p2);
    mpz_mod(t, t, k->p2);
    mpz_mul(t, t, k->q2);
    mpz_add(k->pub.h, t, k->gen_q);
    k->pub.has_h = 1;
    /* -1 is not in <h>: h^(lambda/2) != -1 (and != 1: the order is lambda) */
    mpz_mul(t, k->pm1, k->qm1);
    mpz_fdiv_q_2exp(t, t, 2);
    mpz_powm_sec(t, k->pub.h, t, k->pub.n2);
    mpz_add_ui(t, t, 1);
    FS_CHECK(mpz_cmp(t, k->pub.n2) != 0 && mpz_cmp_ui(t, 2) != 0);
    FS_CHECK(k->pub.bits == bits);
    mpz_clears(pp, qq, gp, gq, t, NULL);
    *out = k;
    return FS_OK;
fail:
    mpz_clears(pp, qq, gp, gq, t, NULL);
    he_key_free(k);
    return rc;
}

fs_err he_keygen(int bits, cr_src *rnd, he_key **out)
{
    *out = NULL;
    if (bits < HE_MIN_BITS)
        return fs_error(FS_EINPUT,
                        "HE: a %d-bit Paillier key is too small: the minimum is %d bits "
                        "(112-bit security; NIST SP 800-57), 3072 for 128-bit",
                        bits, (int)HE_MIN_BITS);
    if (bits > HE_MAX_BITS || bits % 2)
        return fs_error(FS_EINPUT, "HE: key size must be even and at most %d bits, not %d",
                        (int)HE_MAX_BITS, bits);
    return keygen(bits, rnd, out);
}

fs_err he_keygen_insecure_test(int bits, cr_src *rnd, he_key **out)
{
    *out = NULL;
    if (bits < 256 || bits > HE_MAX_BITS || bits % 2)
        return fs_error(FS_EINPUT, "HE: test key size must be even, in [256, %d], not %d",
                        (int)HE_MAX_BITS, bits);
    return keygen(bits, rnd, out);
}

fs_err he_key_from_primes_insecure_test(const mpz_t p, const mpz_t q, he_key **out)
{
    *out = NULL;
    if (mpz_cmp_ui(p, 3) < 0 || mpz_cmp_ui(q, 3) < 0 || !mpz_probab_prime_p(p, PRIME_REPS) ||
        !mpz_probab_prime_p(q, PRIME_REPS))
        return fs_error(FS_EINPUT, "HE: p and q must be odd primes");
    he_key *k = key_alloc();
    if (!k) return FS_ENOMEM;
    mpz_set(k->p, p);
    mpz_set(k->q, q);
    fs_err rc = key_derive(k);
    if (rc) {
        he_key_free(k);
        return rc;
    }
    *out = k;
    return FS_OK;
}

/* ---- public key wire format ---------------------------------------------------------------- */

/* v as exactly len big-endian bytes (v < 256^len). */
static void export_fixed(const mpz_t v, uint8_t *buf, size_t len)
{
    memset(buf, 0, len);
    if (mpz_sgn(v) == 0) return;
    size_t need = (mpz_sizeinbase(v, 2) + 7) / 8, cnt;
    FS_CHECK(need <= len);
    mpz_export(buf + len - need, &cnt, 1, 1, 1, 0, v);
}

size_t he_pub_bytes(const he_pub *pk)
{
    return 3 * pk->nbytes;
}

void he_pub_export(const he_pub *pk, uint8_t *buf)
{
    export_fixed(pk->n, buf, pk->nbytes);
    export_fixed(pk->h, buf + pk->nbytes, 2 * pk->nbytes);
}

fs_err he_pub_import(const uint8_t *buf, size_t len, he_pub *out)
{
    pub_init(out);
    if (len == 0 || len % 3)
        return fs_error(FS_EDATA, "HE: a public key is 3 |n|/8 bytes, not %zu", len);
    size_t nb = len / 3;
    mpz_t n;
    mpz_init(n);
    mpz_import(n, nb, 1, 1, 1, 0, buf);
    size_t bits = mpz_sizeinbase(n, 2);
    fs_err rc = FS_OK;
    if (mpz_sgn(n) == 0 || (bits + 7) / 8 != nb || !mpz_odd_p(n)) {
        rc = fs_error(FS_EDATA, "HE: public key: n is not an odd %zu-byte number", nb);
    } else if (bits < HE_MIN_BITS) {
        rc = fs_error(FS_EINPUT, "HE: a %zu-bit Paillier key is too small: the minimum is %d bits",
                      bits, (int)HE_MIN_BITS);
    } else {
        pub_set_n(out, n);
        mpz_import(out->h, 2 * nb, 1, 1, 1, 0, buf + nb);
        if (mpz_sgn(out->h) != 0) {
            mpz_t g;
            mpz_init(g);
            mpz_gcd(g, out->h, n);
            mpz_add_ui(n, out->h, 1);
            if (mpz_cmp(out->h, out->n2) >= 0 || mpz_cmp_ui(g, 1) != 0 ||
                mpz_cmp_ui(out->h, 1) == 0 || mpz_cmp(n, out->n2) == 0)
                rc =
                    fs_error(FS_EDATA, "HE: public key: h is not a unit of Z_{n^2} other than +-1");
            mpz_clear(g);
            out->has_h = 1;
        }
    }
    mpz_clear(n);
    if (rc) {
        he_pub_clear(out);
        pub_init(out);
    }
    return rc;
}

/* ---- ciphertexts ---------------------------------------------------------------------------- */

void he_ct_init(he_ct *c)
{
    mpz_init(c->v);
}

void he_ct_clear(he_ct *c)
{
    mpz_clear(c->v);
}

he_ct *he_ct_array_new(size_t n)
{
    he_ct *a = FS_CALLOC(n ? n : 1, sizeof *a);
    if (!a) return NULL;
    for (size_t i = 0; i < n; i++) mpz_init(a[i].v);
    return a;
}

void he_ct_array_free(he_ct *a, size_t n)
{
    if (!a) return;
    for (size_t i = 0; i < n; i++) mpz_clear(a[i].v);
    free(a);
}

size_t he_ct_bytes(const he_pub *pk)
{
    return 2 * pk->nbytes;
}

void he_ct_export(const he_pub *pk, const he_ct *c, uint8_t *buf)
{
    export_fixed(c->v, buf, 2 * pk->nbytes);
}

fs_err he_ct_import(const he_pub *pk, const uint8_t *buf, he_ct *c)
{
    mpz_import(c->v, 2 * pk->nbytes, 1, 1, 1, 0, buf);
    if (mpz_cmp(c->v, pk->n2) >= 0) {
        mpz_set_ui(c->v, 0);
        return fs_error(FS_EDATA, "HE: ciphertext is not below n^2");
    }
    return FS_OK;
}

/* ---- encryption ----------------------------------------------------------------------------- */

struct he_enc {
    he_method method;
    he_pub pub;
    fb_table fb;                            /* HE_FIXED_BASE: h mod n^2 */
    fb_table fbp, fbq;                      /* HE_KEY_TABLES: G_p mod p^2, G_q mod q^2 */
    mpz_t p, q, p2, q2, pm1, qm1, q2inv_p2; /* HE_KEY_*: copies of the key's */
};

const char *he_method_name(he_method m)
{
    switch (m) {
    case HE_TEXTBOOK:
        return "textbook r^n";
    case HE_FIXED_BASE:
        return "public fixed base";
    case HE_KEY_TABLES:
        return "key holder CRT tables";
    case HE_KEY_POW:
        return "key holder CRT u^p";
    }
    return "?";
}

static he_enc *enc_alloc(const he_pub *pk, he_method m)
{
    he_enc *e = FS_CALLOC(1, sizeof *e);
    if (!e) return NULL;
    e->method = m;
    he_pub_init_copy(&e->pub, pk);
    mpz_inits(e->p, e->q, e->p2, e->q2, e->pm1, e->qm1, e->q2inv_p2, NULL);
    return e;
}

void he_enc_free(he_enc *e)
{
    if (!e) return;
    fb_free(&e->fb);
    fb_free(&e->fbp);
    fb_free(&e->fbq);
    mpz_clears(e->p, e->q, e->p2, e->q2, e->pm1, e->qm1, e->q2inv_p2, NULL);
    he_pub_clear(&e->pub);
    free(e);
}

fs_err he_enc_new_textbook(const he_pub *pk, he_enc **out)
{
    *out = enc_alloc(pk, HE_TEXTBOOK);
    return *out ? FS_OK : FS_ENOMEM;
}

fs_err he_enc_new(const he_pub *pk, he_enc **out)
{
    *out = NULL;
    he_enc *e = enc_alloc(pk, pk->has_h ? HE_FIXED_BASE : HE_TEXTBOOK);
    if (!e) return FS_ENOMEM;
    if (pk->has_h) {
        fs_err rc =
            fb_build(&e->fb, pk->h, pk->n2, (size_t)pk->bits + HE_STAT_BITS, PUB_TABLE_BUDGET);
        if (rc) {
            he_enc_free(e);
            return rc;
        }
    }
    *out = e;
    return FS_OK;
}

fs_err he_enc_new_key(const he_key *k, he_enc **out)
{
    *out = NULL;
    he_enc *e = enc_alloc(&k->pub, k->has_gen ? HE_KEY_TABLES : HE_KEY_POW);
    if (!e) return FS_ENOMEM;
    mpz_set(e->p, k->p);
    mpz_set(e->q, k->q);
    mpz_set(e->p2, k->p2);
    mpz_set(e->q2, k->q2);
    mpz_set(e->pm1, k->pm1);
    mpz_set(e->qm1, k->qm1);
    mpz_set(e->q2inv_p2, k->q2inv_p2);
    if (k->has_gen) {
        fs_err rc = fb_build(&e->fbp, k->gen_p, k->p2, mpz_sizeinbase(k->pm1, 2), KEY_TABLE_BUDGET);
        if (!rc)
            rc = fb_build(&e->fbq, k->gen_q, k->q2, mpz_sizeinbase(k->qm1, 2), KEY_TABLE_BUDGET);
        if (rc) {
            he_enc_free(e);
            return rc;
        }
    }
    *out = e;
    return FS_OK;
}

const he_pub *he_enc_pub(const he_enc *e)
{
    return &e->pub;
}

he_method he_enc_method(const he_enc *e)
{
    return e->method;
}

size_t he_enc_table_bytes(const he_enc *e)
{
    size_t s = 0;
    const fb_table *t[3] = {&e->fb, &e->fbp, &e->fbq};
    for (int i = 0; i < 3; i++) s += t[i]->bytes;
    return s;
}

/* n^2 of a bits-bit n has 2 bits - 1 or 2 bits: the same limb count, bits being even */
static size_t n2_limbs(int bits)
{
    return (2 * (size_t)bits + GMP_NUMB_BITS - 1) / GMP_NUMB_BITS;
}

size_t he_enc_table_bytes_for(int bits)
{
    fb_table fb;
    memset(&fb, 0, sizeof fb);
    fb_shape(&fb, (size_t)bits + HE_STAT_BITS, n2_limbs(bits), PUB_TABLE_BUDGET); /* he_enc_new */
    return fb.bytes;
}

size_t he_ct_mem_bytes(int bits)
{
    return sizeof(he_ct) + n2_limbs(bits) * sizeof(mp_limb_t); /* mpz_tdiv_r by n^2 sizes it */
}

/* The random material of one encryption, drawn serially (see noise_value for its meaning). */
typedef struct noise {
    mpz_t a, b;
    int sign;
} noise;

static void draw_noise(const he_enc *e, cr_src *rnd, noise *z)
{
    mpz_t lo;
    mpz_init_set_ui(lo, 1);
    switch (e->method) {
    case HE_TEXTBOOK: /* r uniform in [1, n) */
        rand_range(rnd, lo, e->pub.n, z->a);
        break;
    case HE_FIXED_BASE: { /* x below 2^(|n|+128), a sign bit */
        uint8_t s;
        rand_bits(rnd, (size_t)e->pub.bits + HE_STAT_BITS, z->a);
        cr_bytes(rnd, &s, 1);
        z->sign = s & 1;
        break;
    }
    case HE_KEY_TABLES: /* x_p in [0, p-1), x_q in [0, q-1) */
        mpz_set_ui(lo, 0);
        rand_range(rnd, lo, e->pm1, z->a);
        rand_range(rnd, lo, e->qm1, z->b);
        break;
    case HE_KEY_POW: /* u_p in [1, p), u_q in [1, q) */
        rand_range(rnd, lo, e->p, z->a);
        rand_range(rnd, lo, e->q, z->b);
        break;
    }
    mpz_clear(lo);
}

/* R: a uniformly random n-th residue mod n^2 from the drawn material. Thread-safe. */
static void noise_value(const he_enc *e, const noise *z, mpz_t R)
{
    switch (e->method) {
    case HE_TEXTBOOK:
        mpz_powm(R, z->a, e->pub.n, e->pub.n2); /* public exponent */
        return;
    case HE_FIXED_BASE:
        fb_pow(&e->fb, z->a, R);
        if (z->sign) mpz_sub(R, e->pub.n2, R);
        return;
    case HE_KEY_TABLES:
    case HE_KEY_POW: {
        mpz_t rp, rq;
        mpz_inits(rp, rq, NULL);
        if (e->method == HE_KEY_TABLES) {
            fb_pow(&e->fbp, z->a, rp);
            fb_pow(&e->fbq, z->b, rq);
        } else { /* the Teichmuller lift u^p: the exponent p is secret */
            mpz_powm_sec(rp, z->a, e->p, e->p2);
            mpz_powm_sec(rq, z->b, e->q, e->q2);
        }
        /* R = R_q + q^2 ((R_p - R_q) q^-2 mod p^2) */
        mpz_sub(R, rp, rq);
        mpz_mul(R, R, e->q2inv_p2);
        mpz_mod(R, R, e->p2);
        mpz_mul(R, R, e->q2);
        mpz_add(R, R, rq);
        mpz_clears(rp, rq, NULL);
        return;
    }
    }
}

/* out = m mod n for a signed m in [-half, half]. */
static fs_err to_residue(const he_pub *pk, const mpz_t m, mpz_t out)
{
    if (mpz_cmpabs(m, pk->half) > 0)
        return fs_error(FS_EINPUT,
                        "HE: plaintext of %zu bits is outside the signed range of a %d-bit key "
                        "(|m| <= (n-1)/2)",
                        mpz_sizeinbase(m, 2), pk->bits);
    if (mpz_sgn(m) < 0)
        mpz_add(out, m, pk->n);
    else
        mpz_set(out, m);
    return FS_OK;
}

/* c = (1 + mres n) R mod n^2, mres in [0, n). */
static void enc_finish(const he_pub *pk, const mpz_t mres, const mpz_t R, mpz_t c)
{
    mpz_t t;
    mpz_init(t);
    mpz_mul(t, mres, pk->n);
    mpz_add_ui(t, t, 1);
    mpz_mul(t, t, R);
    mpz_tdiv_r(c, t, pk->n2);
    mpz_clear(t);
}

static void enc_residue(const he_enc *e, const noise *z, const mpz_t mres, mpz_t c)
{
    mpz_t R;
    mpz_init(R);
    noise_value(e, z, R);
    enc_finish(&e->pub, mres, R, c);
    mpz_clear(R);
}

fs_err he_encrypt(const he_enc *e, cr_src *rnd, const mpz_t m, he_ct *c)
{
    mpz_t mres;
    mpz_init(mres);
    fs_err rc = to_residue(&e->pub, m, mres);
    if (!rc) {
        noise z;
        mpz_inits(z.a, z.b, NULL);
        z.sign = 0;
        draw_noise(e, rnd, &z);
        enc_residue(e, &z, mres, c->v);
        mpz_clears(z.a, z.b, NULL);
    }
    mpz_clear(mres);
    return rc;
}

fs_err he_encrypt_i64(const he_enc *e, cr_src *rnd, int64_t m, he_ct *c)
{
    mpz_t t;
    mpz_init_set_si(t, (long)m);
    fs_err rc = he_encrypt(e, rnd, t, c);
    mpz_clear(t);
    return rc;
}

fs_err he_encrypt_f64(const he_enc *e, cr_src *rnd, double x, int frac_bits, he_ct *c)
{
    mpz_t t;
    mpz_init(t);
    fs_err rc = he_encode_f64(&e->pub, x, frac_bits, t);
    if (!rc) rc = he_encrypt(e, rnd, t, c);
    mpz_clear(t);
    return rc;
}

fs_err he_encrypt_r(const he_pub *pk, const mpz_t m, const mpz_t r, he_ct *c)
{
    if (mpz_sgn(r) <= 0 || mpz_cmp(r, pk->n) >= 0)
        return fs_error(FS_EINPUT, "HE: r must be in [1, n)");
    mpz_t mres, R;
    mpz_inits(mres, R, NULL);
    fs_err rc = to_residue(pk, m, mres);
    if (!rc) {
        mpz_powm(R, r, pk->n, pk->n2);
        enc_finish(pk, mres, R, c->v);
    }
    mpz_clears(mres, R, NULL);
    return rc;
}

fs_err he_rerandomize(const he_enc *e, cr_src *rnd, he_ct *c)
{
    if (mpz_sgn(c->v) < 0 || mpz_cmp(c->v, e->pub.n2) >= 0)
        return fs_error(FS_EDATA, "HE: ciphertext is not in [0, n^2)");
    noise z;
    mpz_inits(z.a, z.b, NULL);
    z.sign = 0;
    draw_noise(e, rnd, &z);
    mpz_t R;
    mpz_init(R);
    noise_value(e, &z, R);
    mpz_mul(R, R, c->v);
    mpz_tdiv_r(c->v, R, e->pub.n2);
    mpz_clears(R, z.a, z.b, NULL);
    return FS_OK;
}

/* ---- decryption ----------------------------------------------------------------------------- */

/* The signed plaintext of c, or FS_EDATA (without a message: callers add the index). */
static fs_err decrypt_raw(const he_key *k, const mpz_t c, mpz_t m)
{
    if (mpz_sgn(c) < 0 || mpz_cmp(c, k->pub.n2) >= 0) return FS_EDATA;
    mpz_t t, mp, mq;
    mpz_inits(t, mp, mq, NULL);
    const mpz_srcptr pr[2] = {k->p, k->q}, pr2[2] = {k->p2, k->q2}, prm1[2] = {k->pm1, k->qm1};
    const mpz_srcptr hh[2] = {k->hp, k->hq};
    const mpz_ptr res[2] = {mp, mq};
    fs_err rc = FS_OK;
    for (int i = 0; i < 2 && !rc; i++) {
        mpz_mod(t, c, pr2[i]);
        if (mpz_sgn(t) == 0) {
            rc = FS_EDATA;
            break;
        }
        mpz_powm_sec(t, t, prm1[i], pr2[i]); /* the exponent p - 1 is secret */
        mpz_sub_ui(t, t, 1);
        if (!mpz_divisible_p(t, pr[i])) { /* c shares a factor with n: not a ciphertext */
            rc = FS_EDATA;
            break;
        }
        mpz_divexact(t, t, pr[i]);
        mpz_mul(t, t, hh[i]);
        mpz_mod(res[i], t, pr[i]);
    }
    if (!rc) {
        /* m = m_q + q ((m_p - m_q) q^-1 mod p) */
        mpz_sub(t, mp, mq);
        mpz_mul(t, t, k->qinv_p);
        mpz_mod(t, t, k->p);
        mpz_mul(t, t, k->q);
        mpz_add(m, t, mq);
        if (mpz_cmp(m, k->pub.half) > 0) mpz_sub(m, m, k->pub.n);
    }
    mpz_clears(t, mp, mq, NULL);
    return rc;
}

fs_err he_decrypt(const he_key *k, const he_ct *c, mpz_t m)
{
    if (decrypt_raw(k, c->v, m))
        return fs_error(FS_EDATA, "HE: not a ciphertext of this key (out of range or not a unit)");
    return FS_OK;
}

static fs_err fit_i64(const mpz_t m, int64_t *out, size_t index)
{
    if (!mpz_fits_slong_p(m))
        return fs_error(FS_EINPUT,
                        "HE: plaintext %zu has %zu bits and does not fit an int64 (an overflowed "
                        "or mis-scaled sum?)",
                        index, mpz_sizeinbase(m, 2));
    *out = (int64_t)mpz_get_si(m);
    return FS_OK;
}

fs_err he_decrypt_i64(const he_key *k, const he_ct *c, int64_t *m)
{
    mpz_t t;
    mpz_init(t);
    fs_err rc = he_decrypt(k, c, t);
    if (!rc) rc = fit_i64(t, m, 0);
    mpz_clear(t);
    return rc;
}

fs_err he_decrypt_f64(const he_key *k, const he_ct *c, int frac_bits, double *x)
{
    mpz_t t;
    mpz_init(t);
    fs_err rc = he_decrypt(k, c, t);
    if (!rc) rc = he_decode_f64(&k->pub, t, frac_bits, x);
    mpz_clear(t);
    return rc;
}

/* ---- homomorphic operations ------------------------------------------------------------------ */

void he_add(const he_pub *pk, const he_ct *a, const he_ct *b, he_ct *out)
{
    mpz_t t;
    mpz_init(t);
    mpz_mul(t, a->v, b->v);
    mpz_tdiv_r(out->v, t, pk->n2);
    mpz_clear(t);
}

static fs_err ct_invert(const he_pub *pk, const mpz_t c, mpz_t out)
{
    if (!mpz_invert(out, c, pk->n2))
        return fs_error(FS_EDATA, "HE: ciphertext is not invertible mod n^2 (not a ciphertext)");
    return FS_OK;
}

fs_err he_sub(const he_pub *pk, const he_ct *a, const he_ct *b, he_ct *out)
{
    mpz_t t;
    mpz_init(t);
    fs_err rc = ct_invert(pk, b->v, t);
    if (!rc) {
        mpz_mul(t, t, a->v);
        mpz_tdiv_r(out->v, t, pk->n2);
    }
    mpz_clear(t);
    return rc;
}

fs_err he_neg(const he_pub *pk, const he_ct *c, he_ct *out)
{
    return ct_invert(pk, c->v, out->v);
}

fs_err he_add_plain(const he_pub *pk, const he_ct *a, const mpz_t m, he_ct *out)
{
    mpz_t t;
    mpz_init(t);
    fs_err rc = to_residue(pk, m, t);
    if (!rc) { /* a (1 + m n) */
        mpz_mul(t, t, pk->n);
        mpz_add_ui(t, t, 1);
        mpz_mul(t, t, a->v);
        mpz_tdiv_r(out->v, t, pk->n2);
    }
    mpz_clear(t);
    return rc;
}

fs_err he_mul(const he_pub *pk, const he_ct *c, const mpz_t k, he_ct *out)
{
    if (mpz_sgn(k) == 0) { /* the trivial encryption of 0; rerandomise before sending */
        mpz_set_ui(out->v, 1);
        return FS_OK;
    }
    mpz_t base, e;
    mpz_inits(base, e, NULL);
    fs_err rc = FS_OK;
    if (mpz_sgn(k) < 0)
        rc = ct_invert(pk, c->v, base);
    else
        mpz_set(base, c->v);
    if (!rc) {
        mpz_abs(e, k);
        mpz_powm(out->v, base, e, pk->n2); /* the scalar is a plaintext: public exponent */
    }
    mpz_clears(base, e, NULL);
    return rc;
}

fs_err he_mul_i64(const he_pub *pk, const he_ct *c, int64_t k, he_ct *out)
{
    mpz_t t;
    mpz_init_set_si(t, (long)k);
    fs_err rc = he_mul(pk, c, t, out);
    mpz_clear(t);
    return rc;
}

/* ---- batches ------------------------------------------------------------------------------- */

/* Encrypt n residues: per chunk, randomness drawn serially, exponentiations in parallel. */
static fs_err encrypt_residues(const he_enc *e, cr_src *rnd, mpz_t *mres, size_t n, he_ct *c)
{
    noise *z = FS_CALLOC(BATCH_CHUNK, sizeof *z);
    if (!z) return FS_ENOMEM;
    for (int i = 0; i < BATCH_CHUNK; i++) mpz_inits(z[i].a, z[i].b, NULL);
    for (size_t c0 = 0; c0 < n; c0 += BATCH_CHUNK) {
        long cn = (long)(n - c0 < BATCH_CHUNK ? n - c0 : BATCH_CHUNK);
        for (long i = 0; i < cn; i++) {
            z[i].sign = 0;
            draw_noise(e, rnd, &z[i]);
        }
#pragma omp parallel for schedule(dynamic, 4)
        for (long i = 0; i < cn; i++)
            enc_residue(e, &z[i], mres[c0 + (size_t)i], c[c0 + (size_t)i].v);
    }
    for (int i = 0; i < BATCH_CHUNK; i++) mpz_clears(z[i].a, z[i].b, NULL);
    free(z);
    return FS_OK;
}

static mpz_t *mpz_array_new(size_t n)
{
    mpz_t *a = FS_CALLOC(n ? n : 1, sizeof *a);
    if (a)
        for (size_t i = 0; i < n; i++) mpz_init(a[i]);
    return a;
}

static void mpz_array_free(mpz_t *a, size_t n)
{
    if (!a) return;
    for (size_t i = 0; i < n; i++) mpz_clear(a[i]);
    free(a);
}

fs_err he_encrypt_i64_batch(const he_enc *e, cr_src *rnd, const int64_t *m, size_t n, he_ct *c)
{
    mpz_t *r = mpz_array_new(n);
    if (!r) return FS_ENOMEM;
    fs_err rc = FS_OK;
    for (size_t i = 0; i < n && !rc; i++) {
        mpz_set_si(r[i], (long)m[i]);
        rc = to_residue(&e->pub, r[i], r[i]);
    }
    if (!rc) rc = encrypt_residues(e, rnd, r, n, c);
    mpz_array_free(r, n);
    return rc;
}

fs_err he_encrypt_f64_batch(const he_enc *e, cr_src *rnd, const double *x, size_t n, int frac_bits,
                            he_ct *c)
{
    mpz_t *r = mpz_array_new(n);
    if (!r) return FS_ENOMEM;
    fs_err rc = FS_OK;
    for (size_t i = 0; i < n && !rc; i++) {
        rc = he_encode_f64(&e->pub, x[i], frac_bits, r[i]);
        if (!rc) rc = to_residue(&e->pub, r[i], r[i]);
    }
    if (!rc) rc = encrypt_residues(e, rnd, r, n, c);
    mpz_array_free(r, n);
    return rc;
}

/* Decrypt n ciphertexts in parallel into m; the first failing index in *bad (n if none). */
static void decrypt_many(const he_key *k, const he_ct *c, size_t n, mpz_t *m, size_t *bad)
{
    size_t first = n;
#pragma omp parallel for schedule(dynamic, 4)
    for (long i = 0; i < (long)n; i++)
        if (decrypt_raw(k, c[i].v, m[i])) {
#pragma omp critical(he_decrypt_bad)
            if ((size_t)i < first) first = (size_t)i;
        }
    *bad = first;
}

fs_err he_decrypt_i64_batch(const he_key *k, const he_ct *c, size_t n, int64_t *m)
{
    mpz_t *r = mpz_array_new(n);
    if (!r) return FS_ENOMEM;
    size_t bad;
    decrypt_many(k, c, n, r, &bad);
    fs_err rc = bad < n ? fs_error(FS_EDATA, "HE: element %zu is not a ciphertext of this key", bad)
                        : FS_OK;
    for (size_t i = 0; i < n && !rc; i++) rc = fit_i64(r[i], &m[i], i);
    mpz_array_free(r, n);
    return rc;
}

fs_err he_decrypt_f64_batch(const he_key *k, const he_ct *c, size_t n, int frac_bits, double *x)
{
    mpz_t *r = mpz_array_new(n);
    if (!r) return FS_ENOMEM;
    size_t bad;
    decrypt_many(k, c, n, r, &bad);
    fs_err rc = bad < n ? fs_error(FS_EDATA, "HE: element %zu is not a ciphertext of this key", bad)
                        : FS_OK;
    for (size_t i = 0; i < n && !rc; i++) rc = he_decode_f64(&k->pub, r[i], frac_bits, &x[i]);
    mpz_array_free(r, n);
    return rc;
}

void he_add_batch(const he_pub *pk, const he_ct *a, const he_ct *b, size_t n, he_ct *out)
{
#pragma omp parallel for schedule(static)
    for (long i = 0; i < (long)n; i++) he_add(pk, &a[i], &b[i], &out[i]);
}

void he_sum(const he_pub *pk, const he_ct *c, size_t n, he_ct *out)
{
    mpz_t acc, t;
    mpz_init_set_ui(acc, 1);
    mpz_init(t);
    for (size_t i = 0; i < n; i++) {
        mpz_mul(t, acc, c[i].v);
        mpz_tdiv_r(acc, t, pk->n2);
    }
    mpz_swap(out->v, acc);
    mpz_clears(acc, t, NULL);
}

/* prod_{i in idx} c_i^e_i mod n^2 by the bucket method (Pippenger 1980; as in Bernstein et al.,
 * "Faster batch forgery identification", 2012, section 4): for each `wb`-bit window of the
 * exponents, from the top, square the accumulator wb times, drop each c_i into the bucket of its
 * digit, and fold the buckets as sum_d d B_d with two running products. About
 * (ebits/wb)(cnt + 2^(wb+1)) + ebits multiplications instead of about 1.2 ebits per term. */
static void multi_exp(const he_pub *pk, const he_ct *c, const uint64_t *e, const size_t *idx,
                      size_t cnt, mpz_t out)
{
    mpz_set_ui(out, 1);
    if (cnt == 0) return;
    uint64_t all = 0;
    for (size_t j = 0; j < cnt; j++) all |= e[idx[j]];
    int ebits = 0;
    while (ebits < 64 && (all >> ebits)) ebits++;
    if (ebits == 0) return;
    /* the window minimising (ebits/wb)(cnt + 2^(wb+1)) */
    int wb = 1;
    double best = 1e300;
    for (int w = 1; w <= 12; w++) {
        double cost = ceil((double)ebits / w) * ((double)cnt + (double)(2u << w));
        if (cost < best) best = cost, wb = w;
    }
    size_t nb = ((size_t)1 << wb) - 1;
    mpz_t *bucket = mpz_array_new(nb), t, run, win;
    mpz_inits(t, run, win, NULL);
    int nwin = (ebits + wb - 1) / wb;
    for (int wi = nwin - 1; wi >= 0; wi--) {
        for (int s = 0; s < wb && wi < nwin - 1; s++) {
            mpz_mul(t, out, out);
            mpz_tdiv_r(out, t, pk->n2);
        }
        for (size_t d = 0; d < nb; d++) mpz_set_ui(bucket[d], 1);
        for (size_t j = 0; j < cnt; j++) {
            unsigned d = (unsigned)((e[idx[j]] >> (wi * wb)) & nb);
            if (!d) continue;
            mpz_mul(t, bucket[d - 1], c[idx[j]].v);
            mpz_tdiv_r(bucket[d - 1], t, pk->n2);
        }
        /* win = prod_d B_d^d = prod_{d = top..1} (prod_{d' >= d} B_d') */
        mpz_set_ui(run, 1);
        mpz_set_ui(win, 1);
        for (size_t d = nb; d >= 1; d--) {
            if (mpz_cmp_ui(bucket[d - 1], 1) != 0) {
                mpz_mul(t, run, bucket[d - 1]);
                mpz_tdiv_r(run, t, pk->n2);
            }
            if (mpz_cmp_ui(run, 1) != 0) {
                mpz_mul(t, win, run);
                mpz_tdiv_r(win, t, pk->n2);
            }
        }
        mpz_mul(t, out, win);
        mpz_tdiv_r(out, t, pk->n2);
    }
    mpz_clears(t, run, win, NULL);
    mpz_array_free(bucket, nb);
}

fs_err he_dot_i64(const he_pub *pk, const he_ct *c, const int64_t *k, size_t n, he_ct *out)
{
    uint64_t *mag = FS_CALLOC(n ? n : 1, sizeof *mag);
    size_t *idx = FS_CALLOC(n ? n : 1, sizeof *idx);
    fs_err rc = FS_OK;
    if (!mag || !idx) {
        rc = FS_ENOMEM;
        goto out;
    }
    /* positive weights first, negative weights from the end */
    size_t npos = 0, nneg = 0;
    for (size_t i = 0; i < n; i++) {
        mag[i] = k[i] < 0 ? (uint64_t)0 - (uint64_t)k[i] : (uint64_t)k[i];
        if (k[i] > 0) idx[npos++] = i;
        if (k[i] < 0) idx[n - 1 - nneg++] = i;
    }
    mpz_t pos, neg;
    mpz_inits(pos, neg, NULL);
    multi_exp(pk, c, mag, idx, npos, pos);
    multi_exp(pk, c, mag, idx + n - nneg, nneg, neg);
    if (nneg) rc = ct_invert(pk, neg, neg);
    if (!rc) {
        mpz_mul(pos, pos, neg);
        mpz_tdiv_r(out->v, pos, pk->n2);
    }
    mpz_clears(pos, neg, NULL);
out:
    free(mag);
    free(idx);
    return rc;
}

/* ---- fixed-point encoding ------------------------------------------------------------------ */

/* m = round(x 2^f), ties away from zero, exactly (x finite). */
static void encode_exact(double x, int f, mpz_t m)
{
    if (x == 0) {
        mpz_set_ui(m, 0);
        return;
    }
    int e;
    double mant = frexp(fabs(x), &e);     /* |x| = mant 2^e, mant in [0.5, 1) */
    int64_t M = (int64_t)ldexp(mant, 53); /* |x| = M 2^(e-53), exactly */
    long sh = (long)e - 53 + (long)f;
    mpz_set_si(m, (long)M);
    if (sh >= 0) {
        mpz_mul_2exp(m, m, (mp_bitcnt_t)sh);
    } else {
        mpz_t half;
        mpz_init(half);
        mpz_setbit(half, (mp_bitcnt_t)(-sh - 1));
        mpz_add(m, m, half);
        mpz_fdiv_q_2exp(m, m, (mp_bitcnt_t)(-sh));
        mpz_clear(half);
    }
    if (x < 0) mpz_neg(m, m);
}

static fs_err check_frac(int f)
{
    if (f < 0 || f > HE_MAX_FRAC_BITS)
        return fs_error(FS_EINPUT, "HE: fraction bits must be in [0, %d], not %d",
                        (int)HE_MAX_FRAC_BITS, f);
    return FS_OK;
}

fs_err he_encode_f64(const he_pub *pk, double x, int frac_bits, mpz_t m)
{
    fs_err rc = check_frac(frac_bits);
    if (rc) return rc;
    if (!isfinite(x)) return fs_error(FS_EINPUT, "HE: cannot encode %g: not finite", x);
    encode_exact(x, frac_bits, m);
    if (mpz_cmpabs(m, pk->half) > 0)
        return fs_error(FS_EINPUT,
                        "HE: %g with %d fraction bits needs %zu bits, beyond the signed range of "
                        "a %d-bit key",
                        x, frac_bits, mpz_sizeinbase(m, 2) + 1, pk->bits);
    return FS_OK;
}

fs_err he_decode_f64(const he_pub *pk, const mpz_t m, int frac_bits, double *x)
{
    fs_err rc = check_frac(frac_bits);
    if (rc) return rc;
    if (mpz_cmpabs(m, pk->half) > 0)
        return fs_error(FS_EINPUT, "HE: plaintext outside the signed range of the key");
    if (mpz_sgn(m) == 0) {
        *x = 0;
        return FS_OK;
    }
    mpz_t t;
    mpz_init(t);
    mpz_abs(t, m);
    long ex = -(long)frac_bits;
    size_t nb = mpz_sizeinbase(t, 2);
    if (nb > 53) { /* keep 54 bits, round the last one off (ties up) */
        mpz_fdiv_q_2exp(t, t, (mp_bitcnt_t)(nb - 54));
        mpz_add_ui(t, t, 1);
        mpz_fdiv_q_2exp(t, t, 1);
        ex += (long)(nb - 53);
    }
    double d = ldexp((double)mpz_get_ui(t), (int)ex);
    mpz_clear(t);
    if (!isfinite(d))
        return fs_error(FS_EINPUT, "HE: decoded value overflows a double (%zu bits, %d fraction)",
                        nb, frac_bits);
    *x = mpz_sgn(m) < 0 ? -d : d;
    return FS_OK;
}

/* The bound B = |encode(max_abs)|, or -1 if max_abs is not a finite number >= 0. */
static int sum_bound(double max_abs, int frac_bits, mpz_t B)
{
    if (!(max_abs >= 0) || !isfinite(max_abs) || frac_bits < 0 || frac_bits > HE_MAX_FRAC_BITS)
        return -1;
    encode_exact(max_abs, frac_bits, B);
    return 0;
}

int he_sum_safe(const he_pub *pk, double max_abs, int frac_bits, uint64_t terms)
{
    mpz_t B;
    mpz_init(B);
    int ok = 0;
    if (sum_bound(max_abs, frac_bits, B) == 0) {
        mpz_mul_ui(B, B, (unsigned long)terms);
        ok = mpz_cmp(B, pk->half) <= 0;
    }
    mpz_clear(B);
    return ok;
}

uint64_t he_max_terms(const he_pub *pk, double max_abs, int frac_bits)
{
    mpz_t B;
    mpz_init(B);
    uint64_t r = 0;
    if (sum_bound(max_abs, frac_bits, B) == 0) {
        if (mpz_sgn(B) == 0) {
            r = UINT64_MAX;
        } else {
            mpz_fdiv_q(B, pk->half, B);
            r = mpz_fits_ulong_p(B) ? (uint64_t)mpz_get_ui(B) : UINT64_MAX;
        }
    }
    mpz_clear(B);
    return r;
}

fs_err he_check_sum(const he_pub *pk, double max_abs, int frac_bits, uint64_t terms)
{
    if (he_sum_safe(pk, max_abs, frac_bits, terms)) return FS_OK;
    if (!(max_abs >= 0) || !isfinite(max_abs))
        return fs_error(FS_EINPUT, "HE: the bound of a sum must be a finite number >= 0, not %g",
                        max_abs);
    if (check_frac(frac_bits)) return FS_EINPUT;
    return fs_error(FS_EINPUT,
                    "HE: a sum of %llu terms of magnitude up to %g with %d fraction bits could "
                    "overflow a %d-bit key (|sum| must stay <= (n-1)/2); at most %llu such terms "
                    "fit: use fewer terms, a smaller bound, fewer fraction bits or a larger key",
                    (unsigned long long)terms, max_abs, frac_bits, pk->bits,
                    (unsigned long long)he_max_terms(pk, max_abs, frac_bits));
}

/* ---- packing --------------------------------------------------------------------------------- */

fs_err he_pack_layout(const he_pub *pk, int value_bits, uint64_t max_terms, he_pack *out)
{
    memset(out, 0, sizeof *out);
    if (value_bits < 1 || value_bits > 62 || max_terms < 1)
        return fs_error(FS_EINPUT, "HE: packing needs value_bits in [1, 62] and max_terms >= 1");
    int hr = 0;
    while (hr < 64 && ((uint64_t)1 << hr) < max_terms) hr++;
    int s = value_bits + hr + 1;
    if (s > 64)
        return fs_error(FS_EINPUT,
                        "HE: a slot of %d-bit values with headroom for %llu terms needs %d bits; "
                        "at most 64 are supported",
                        value_bits, (unsigned long long)max_terms, s);
    int slots = (pk->bits - 2) / s;
    if (slots < 1)
        return fs_error(FS_EINPUT, "HE: a %d-bit slot does not fit a %d-bit key", s, pk->bits);
    out->value_bits = value_bits;
    out->headroom = hr;
    out->slot_bits = s;
    out->slots = slots;
    return FS_OK;
}

fs_err he_pack_encode(const he_pack *L, const int64_t *v, int count, mpz_t m)
{
    if (count < 0 || count > L->slots)
        return fs_error(FS_EINPUT, "HE: %d values do not fit %d slots", count, L->slots);
    int64_t lim = (int64_t)1 << L->value_bits;
    for (int i = 0; i < count; i++)
        if (v[i] <= -lim || v[i] >= lim)
            return fs_error(FS_EINPUT, "HE: packed value %d (%lld) is not below 2^%d in magnitude",
                            i, (long long)v[i], L->value_bits);
    /* Horner from the top slot: m = sum_i v_i 2^(s i) */
    mpz_set_ui(m, 0);
    for (int i = count - 1; i >= 0; i--) {
        mpz_mul_2exp(m, m, (mp_bitcnt_t)L->slot_bits);
        if (v[i] >= 0)
            mpz_add_ui(m, m, (unsigned long)v[i]);
        else
            mpz_sub_ui(m, m, (unsigned long)(-v[i]));
    }
    return FS_OK;
}

fs_err he_pack_decode(const he_pack *L, const mpz_t m, int count, int64_t *v)
{
    if (count < 0 || count > L->slots)
        return fs_error(FS_EINPUT, "HE: %d values do not fit %d slots", count, L->slots);
    mpz_t t, r;
    mpz_init_set(t, m);
    mpz_init(r);
    mp_bitcnt_t s = (mp_bitcnt_t)L->slot_bits;
    for (int i = 0; i < count; i++) {
        mpz_fdiv_r_2exp(r, t, s); /* in [0, 2^s) */
        if (mpz_tstbit(r, s - 1)) {
            mpz_t p2;
            mpz_init(p2);
            mpz_setbit(p2, s);
            mpz_sub(r, r, p2); /* the signed residue in [-2^(s-1), 2^(s-1)) */
            mpz_clear(p2);
        }
        v[i] = (int64_t)mpz_get_si(r); /* |r| <= 2^63: fits (s <= 64) */
        mpz_sub(t, t, r);
        mpz_fdiv_q_2exp(t, t, s); /* exact */
    }
    int left = mpz_sgn(t) != 0;
    mpz_clears(t, r, NULL);
    if (left)
        return fs_error(FS_EDATA,
                        "HE: packed plaintext has data above slot %d: a slot sum overflowed or "
                        "the count is wrong",
                        count);
    return FS_OK;
}

fs_err he_pack_encode_f64(const he_pack *L, const double *x, int count, int frac_bits, mpz_t m)
{
    fs_err rc = check_frac(frac_bits);
    if (rc) return rc;
    if (count < 0 || count > L->slots)
        return fs_error(FS_EINPUT, "HE: %d values do not fit %d slots", count, L->slots);
    int64_t *v = FS_CALLOC(count ? (size_t)count : 1, sizeof *v);
    if (!v) return FS_ENOMEM;
    mpz_t t;
    mpz_init(t);
    for (int i = 0; i < count && !rc; i++) {
        if (!isfinite(x[i])) {
            rc = fs_error(FS_EINPUT, "HE: cannot pack %g: not finite", x[i]);
            break;
        }
        encode_exact(x[i], frac_bits, t);
        if (mpz_sizeinbase(t, 2) > (size_t)L->value_bits)
            rc = fs_error(FS_EINPUT,
                          "HE: packed value %d (%g with %d fraction bits) is not below 2^%d", i,
                          x[i], frac_bits, L->value_bits);
        else
            v[i] = (int64_t)mpz_get_si(t);
    }
    if (!rc) rc = he_pack_encode(L, v, count, m);
    mpz_clear(t);
    free(v);
    return rc;
}

fs_err he_pack_decode_f64(const he_pack *L, const mpz_t m, int count, int frac_bits, double *x)
{
    fs_err rc = check_frac(frac_bits);
    if (rc) return rc;
    int64_t *v = FS_CALLOC(count > 0 ? (size_t)count : 1, sizeof *v);
    if (!v) return FS_ENOMEM;
    rc = he_pack_decode(L, m, count, v);
    for (int i = 0; i < count && !rc; i++) x[i] = ldexp((double)v[i], -frac_bits);
    free(v);
    return rc;
}
