/* `fedsim bench he`: Paillier and PSI throughput on one core (docs/performance.md). Numbers
 * only; nothing asserts time. */
#ifndef FEDSIM_CRYPTO_BENCH_H
#define FEDSIM_CRYPTO_BENCH_H

#include <stdio.h>

#include "util/err.h"

/* For each modulus size in bits[0..nbits): key generation (mean of `keygens` keys), table
 * builds, encryption by each path, CRT decryption, addition, scalar multiplication and the
 * bucket inner product, in operations per second of one thread's CPU time; then PSI hashing,
 * scalar multiplication and a whole psi_run of psi_ids x psi_ids IDs (half common). Each
 * figure runs for about `seconds` of CPU. */
fs_err he_bench(FILE *out, const int *bits, int nbits, int keygens, double seconds, size_t psi_ids);

#endif
