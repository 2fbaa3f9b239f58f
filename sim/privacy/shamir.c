/* Shamir secret sharing over GF(2^61 - 1). See shamir.h for the contract. */
#include "privacy/shamir.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

uint64_t sh_reduce(uint64_t a)
{
    uint64_t r = (a & SH_P) + (a >> 61);
    return r >= SH_P ? r - SH_P : r;
}

uint64_t sh_add(uint64_t a, uint64_t b)
{
    uint64_t r = a + b; /* < 2^62: no overflow */
    return r >= SH_P ? r - SH_P : r;
}

uint64_t sh_sub(uint64_t a, uint64_t b)
{
    return a >= b ? a - b : a + SH_P - b;
}

uint64_t sh_mul(uint64_t a, uint64_t b)
{
    /* 2^61 = 1 (mod p): fold the high part of the 122-bit product onto the low part. */
    __uint128_t z = (__uint128_t)a * b;
    uint64_t r = ((uint64_t)z & SH_P) + (uint64_t)(z >> 61);
    return r >= SH_P ? r - SH_P : r;
}

uint64_t sh_pow(uint64_t a, uint64_t e)
{
    uint64_t r = 1;
    while (e) {
        if (e & 1) r = sh_mul(r, a);
        a = sh_mul(a, a);
        e >>= 1;
    }
    return r;
}

uint64_t sh_inv(uint64_t a)
{
    return sh_pow(a, SH_P - 2);
}

void sh_pack_bytes(const uint8_t *bytes, size_t len, uint64_t *elems)
{
    for (size_t e = 0; e < SH_ELEMS(len); e++) {
        uint64_t v = 0;
        for (size_t b = 0; b < SH_CHUNK && e * SH_CHUNK + b < len; b++)
            v |= (uint64_t)bytes[e * SH_CHUNK + b] << (8 * b);
        elems[e] = v;
    }
}

void sh_unpack_bytes(const uint64_t *elems, size_t len, uint8_t *bytes)
{
    for (size_t i = 0; i < len; i++)
        bytes[i] = (uint8_t)(elems[i / SH_CHUNK] >> (8 * (i % SH_CHUNK)));
}

int sh_split_system(const uint64_t *secret, int m, int t, int n, const uint64_t *xs,
                    uint64_t *shares)
{
    uint64_t *coef = malloc((size_t)(t > 1 ? t - 1 : 1) * sizeof *coef);
    if (!coef) return -1;
    for (int e = 0; e < m; e++) {
        for (int d = 0; d < t - 1; d++) { /* uniform in [0, p): 61 random bits, p = 2^61 - 1 */
            do {
                randombytes_buf(&coef[d], sizeof coef[d]);
                coef[d] &= SH_P;
            } while (coef[d] == SH_P);
        }
        for (int h = 0; h < n; h++) {
            uint64_t v = 0; /* Horner, highest degree first, as sh_split */
            for (int d = t - 1; d >= 1; d--) v = sh_add(sh_mul(v, xs[h]), coef[t - 1 - d]);
            shares[(size_t)h * m + e] = sh_add(sh_mul(v, xs[h]), secret[e]);
        }
    }
    sodium_memzero(coef, (size_t)(t > 1 ? t - 1 : 1) * sizeof *coef);
    free(coef);
    return 0;
}

void sh_split(const uint64_t *secret, int m, int t, int n, const uint64_t *xs, rng_t *r,
              uint64_t *shares)
{
    /* Per element, the t-1 coefficients are drawn highest degree first, so Horner's rule can
     * consume them as they are drawn; each holder replays the same draws from a copy of the
     * stream, which avoids storing the polynomial (no allocation). */
    for (int e = 0; e < m; e++) {
        rng_t end = *r;
        for (int h = 0; h < n; h++) {
            rng_t c = *r;
            uint64_t v = 0;
            for (int d = t - 1; d >= 1; d--) v = sh_add(sh_mul(v, xs[h]), rng_below(&c, SH_P));
            shares[(size_t)h * m + e] = sh_add(sh_mul(v, xs[h]), secret[e]);
            end = c;
        }
        *r = end;
    }
}

int sh_lagrange0(const uint64_t *xs, int k, uint64_t *lambda)
{
    /* lambda_j = N / d_j with N = prod x_l and d_j = x_j * prod_{l != j} (x_l - x_j). The k
     * inversions (~90 multiplications each) are small next to the O(k^2) products. */
    uint64_t num = 1;
    for (int l = 0; l < k; l++) num = sh_mul(num, xs[l]);
    for (int j = 0; j < k; j++) {
        uint64_t d = xs[j];
        for (int l = 0; l < k; l++)
            if (l != j) d = sh_mul(d, sh_sub(xs[l], xs[j]));
        if (d == 0) return -1;
        lambda[j] = sh_mul(num, sh_inv(d));
    }
    return 0;
}

void sh_combine(const uint64_t *lambda, const uint64_t *shares, int k, int m, uint64_t *secret)
{
    memset(secret, 0, sizeof *secret * (size_t)m);
    for (int j = 0; j < k; j++)
        for (int e = 0; e < m; e++)
            secret[e] = sh_add(secret[e], sh_mul(lambda[j], shares[(size_t)j * m + e]));
}
