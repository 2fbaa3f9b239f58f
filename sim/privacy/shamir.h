/* Shamir t-of-n secret sharing (Shamir, CACM 1979) over the prime field GF(p), p = 2^61 - 1
 * (a Mersenne prime, so reduction is two shifts and an add).
 *
 * A secret is a vector of field elements; every element gets its own random polynomial of
 * degree t - 1 whose constant term is the element, and a share is the vector of the polynomials'
 * values at the holder's nonzero x. Byte strings are packed 7 bytes (56 bits < 61) per element,
 * little-endian, so a 32-byte key is 5 elements and a share of it 40 bytes.
 *
 * Guarantees: any t shares with distinct nonzero x reconstruct the secret exactly (Lagrange
 * interpolation at 0); any t - 1 shares are jointly uniform and independent of the secret
 * (given uniform coefficients). The coefficients come from the caller's rng stream, so sharing
 * is deterministic per stream key. Owns no memory; no allocation anywhere in this module. */
#ifndef FEDSIM_SHAMIR_H
#define FEDSIM_SHAMIR_H

#include <stddef.h>
#include <stdint.h>

#include "util/rng.h"

#define SH_P          ((uint64_t)0x1fffffffffffffffULL) /* 2^61 - 1 */
#define SH_CHUNK      7                                 /* bytes packed per field element */
#define SH_ELEMS(len) (((len) + SH_CHUNK - 1) / SH_CHUNK)

/* Field arithmetic; inputs must be reduced (< p), outputs are reduced. */
uint64_t sh_add(uint64_t a, uint64_t b);
uint64_t sh_sub(uint64_t a, uint64_t b);
uint64_t sh_mul(uint64_t a, uint64_t b);
uint64_t sh_pow(uint64_t a, uint64_t e);
/* Inverse by Fermat (a^(p-2)); a must be nonzero. */
uint64_t sh_inv(uint64_t a);
/* Reduce any 64-bit value mod p. */
uint64_t sh_reduce(uint64_t a);

/* Pack len bytes into SH_ELEMS(len) elements (each < 2^56) and back. */
void sh_pack_bytes(const uint8_t *bytes, size_t len, uint64_t *elems);
void sh_unpack_bytes(const uint64_t *elems, size_t len, uint8_t *bytes);

/* Share secret[0..m) among n holders with threshold t (1 <= t <= n): xs[h] are distinct nonzero
 * field elements, shares[h*m + e] receives holder h's value for element e. Draws (t-1)*m
 * uniform coefficients from r. */
void sh_split(const uint64_t *secret, int m, int t, int n, const uint64_t *xs, rng_t *r,
              uint64_t *shares);

/* sh_split with the coefficients from libsodium's randombytes_buf (privacy.secagg_randomness:
 * system): shares nobody can recompute from the scenario seed. Returns 0, or -1 when out of
 * memory. */
int sh_split_system(const uint64_t *secret, int m, int t, int n, const uint64_t *xs,
                    uint64_t *shares);

/* Lagrange coefficients at 0 for the k points xs[0..k): lambda[j] = prod_{l != j} x_l/(x_l - x_j).
 * Returns 0, or -1 if two xs coincide or one is zero. One inversion (batched). */
int sh_lagrange0(const uint64_t *xs, int k, uint64_t *lambda);

/* secret[e] = sum_j lambda[j] * shares[j*m + e] for k shares (interpolation at 0). */
void sh_combine(const uint64_t *lambda, const uint64_t *shares, int k, int m, uint64_t *secret);

#endif
