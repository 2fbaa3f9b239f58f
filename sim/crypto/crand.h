/* Randomness for the cryptographic code (sim/crypto: Paillier keys and ciphertext randomness,
 * PSI scalars and shuffles). A source is one of two kinds:
 *
 *  - system: libsodium's randombytes_buf (the operating system's CSPRNG). The default, and the
 *    only kind that protects anything.
 *  - keyed: the ChaCha20 keystream (Bernstein 2008; libsodium crypto_stream_chacha20) under a
 *    256-bit key drawn from the rng stream (seed, RNG_CRYPTO, entity, round). SIMULATION ONLY:
 *    it makes a run's keys, ciphertexts and PSI messages reproducible bit for bit, but the key
 *    has no more entropy than the 64-bit run seed and anyone who knows the seed recomputes
 *    every secret. Never use it to protect real data.
 *
 * A source is not thread-safe: one per thread (or draw serially, then work in parallel, as the
 * batch functions of paillier.h do). Sources own no heap memory; cr_wipe zeroes one. */
#ifndef FEDSIM_CRAND_H
#define FEDSIM_CRAND_H

#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

typedef struct cr_src {
    int keyed;       /* 0: randombytes_buf; 1: ChaCha20 keystream (simulation only) */
    uint8_t key[32]; /* keyed: the ChaCha20 key */
    uint64_t block;  /* keyed: next 64-byte keystream block */
    uint8_t buf[64]; /* keyed: current block */
    unsigned pos;    /* keyed: bytes of buf already used (64 = empty) */
} cr_src;

/* The OS CSPRNG through libsodium. FS_EINTERNAL if libsodium cannot initialise. */
fs_err cr_init_system(cr_src *s);
/* SIMULATION ONLY: ChaCha20 keystream keyed from the stream (seed, RNG_CRYPTO, entity, round). */
fs_err cr_init_keyed(cr_src *s, uint64_t seed, uint64_t entity, uint64_t round);
/* n random bytes. */
void cr_bytes(cr_src *s, void *out, size_t n);
/* Uniform in [0, n), n > 0, by rejection (unbiased). */
uint64_t cr_below(cr_src *s, uint64_t n);
/* Zero the source (its key and buffered keystream). */
void cr_wipe(cr_src *s);

#endif
