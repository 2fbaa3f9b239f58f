/* Secure aggregation: the real protocol of Bonawitz et al. (CCS 2017, Fig. 4, semi-honest
 * server variant: rounds AdvertiseKeys, ShareKeys, MaskedInputCollection, Unmasking; no
 * ConsistencyCheck round and no signatures) and its sparse-graph variant SecAgg+ (Bell et al.,
 * CCS 2020), run in-process for one federated round.
 *
 * Real cryptography (libsodium): X25519 key pairs and key agreement (crypto_kx), shares
 * encrypted client-to-client through the server with ChaCha20-Poly1305 (IETF), masks expanded
 * with ChaCha20 (IETF), Shamir t-of-n sharing over GF(2^61 - 1) (shamir.h). Every random byte,
 * X25519 secret keys included, comes from rng streams keyed (seed, RNG_SECAGG, entity, round),
 * so a round is reproducible bit for bit (see docs/secagg.md for the entity map).
 *
 * The API keeps the two sides apart: clients turn a float update into an opaque
 * sa_masked_input and, in the last round, an opaque sa_unmask_msg; the server functions accept
 * only those. No function gives the server a plaintext or quantised update; the server learns
 * the modular sum of the surviving clients' quantised inputs and nothing else.
 *
 * Call order per round (sa_round_run does all of it):
 *   sa_round_new -> sa_round_setup (rounds 0-1) -> sa_client_mask + sa_server_collect for each
 *   client that reaches masking (round 2) -> sa_server_close -> sa_client_unmask +
 *   sa_server_receive for each responding client (round 3) -> sa_server_unmask -> sa_round_free.
 * A protocol abort (too few clients or shares) is not an error: the call returns FS_OK and sets
 * *status != SA_OK; sa_round_reason() says why. Functions return FS_EINPUT on misuse.
 * sa_client_mask and sa_client_unmask may run concurrently for different clients; the server
 * functions must be called from one thread at a time. */
#ifndef FEDSIM_SECAGG_H
#define FEDSIM_SECAGG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "util/err.h"

/* Protocol phases, for the cost report. */
enum sa_phase {
    SA_PHASE_ADVERTISE = 0, /* round 0: key pairs, public keys up and broadcast */
    SA_PHASE_SHARE,         /* round 1: Shamir shares of b_i and s_i^SK, encrypted per holder */
    SA_PHASE_MASK,          /* round 2: quantise, add self and pairwise masks, upload */
    SA_PHASE_UNMASK,        /* round 3: shares of b_j or s_j^SK up; server reconstructs */
    SA_NPHASE
};

typedef enum sa_rounding {
    SA_ROUND_STOCHASTIC = 0, /* floor(v + u), u uniform from a per-client stream: unbiased */
    SA_ROUND_NEAREST,        /* round half away from zero */
} sa_rounding;

typedef struct sa_params {
    double threshold; /* t: in (0, 1) a fraction of the holder set (rounded up); >= 1 a count */
    int neighbours;   /* k: 0 = complete graph (SecAgg); > 0 SecAgg+ Harary graph of degree k
                       * (odd k is rounded up; k >= n - 1 gives the complete graph) */
    double clip;      /* R: every coordinate is clipped to [-R, R] */
    int scale_bits;   /* f: fixed point with scale 2^f */
    sa_rounding rounding;
    int system_random; /* 1: X25519 key seeds, self-mask seeds b_i and Shamir coefficients from
                        * libsodium's randombytes_buf, not from the keyed (seed, RNG_SECAGG)
                        * streams: nobody can recompute the masks from the scenario seed, and
                        * the protocol's secrets differ run to run (privacy.secagg_randomness) */
} sa_params;

/* t = 2/3, k = 0, R = 1, f = 16, stochastic rounding. */
void sa_params_default(sa_params *p);
/* SecAgg+ degree used by the bench: the smallest even k >= 2 ceil(log2 n). */
static inline int sa_plus_degree(int n)
{ /* inline: config's validation uses it without linking the protocol (make fuzz) */
    int lg = 0;
    while (lg < 31 && (1L << lg) < (long)n) lg++;
    return 2 * lg;
}
/* SecAgg+'s neighbours for a round of n clients: privacy.secagg_neighbours when > 0, else
 * sa_plus_degree(n), made even; 0 (the complete graph) when that is n - 1 or more. The one
 * rule the run (engine/priv.c) and config's threshold check use. */
static inline int sa_plus_neighbours(int requested, int n)
{
    int k = requested > 0 ? requested : sa_plus_degree(n);
    k += k & 1;
    return k >= n - 1 ? 0 : k;
}

typedef enum sa_status {
    SA_OK = 0,
    SA_ABORT_FEW_SHARED,    /* fewer than t clients completed ShareKeys (|U2| < t) */
    SA_ABORT_FEW_HOLDERS,   /* a client has fewer than t online holders for its shares */
    SA_ABORT_FEW_MASKED,    /* fewer than t masked inputs arrived (|U3| < t) */
    SA_ABORT_FEW_RESPONSES, /* fewer than t clients sent unmasking shares (|U5| < t) */
    SA_ABORT_FEW_SHARES,    /* a secret the server needs has fewer than t shares (SecAgg+) */
    SA_ABORT_BAD_KEY,       /* a reconstructed s_i^SK does not match the advertised s_i^PK */
} sa_status;
const char *sa_status_name(sa_status s);

/* Work and traffic of one party (a client or the server), per phase. Bytes are wire bytes of
 * the messages as laid out in docs/secagg.md (ids, keys, ciphertexts with tags, vectors);
 * cpu_s is thread CPU time measured with clock_gettime around the party's real work. */
typedef struct sa_cost {
    uint64_t bytes_up[SA_NPHASE];   /* sent by this party */
    uint64_t bytes_down[SA_NPHASE]; /* received by this party */
    double cpu_s[SA_NPHASE];
    uint64_t keygens;        /* X25519 key pairs generated */
    uint64_t key_agreements; /* X25519 agreements (crypto_kx session keys) */
    uint64_t aead_ops;       /* share encryptions + decryptions */
    uint64_t prg_bytes;      /* ChaCha20 keystream bytes expanded for masks */
    uint64_t shamir_elems;   /* field elements of shares produced (split) or consumed (combine) */
} sa_cost;

typedef struct sa_round sa_round;               /* one protocol instance; owns all its state */
typedef struct sa_masked_input sa_masked_input; /* client -> server, round 2 */
typedef struct sa_unmask_msg sa_unmask_msg;     /* client -> server, round 3 */

/* Checks the parameters (t <= holder-set size, n * (R * 2^f + 1) < 2^31 so the sum cannot
 * wrap, complete graph only for n <= SA_MAX_COMPLETE) and draws the SecAgg+ graph. */
#define SA_MAX_COMPLETE 1000
fs_err sa_round_new(const sa_params *p, int n_clients, size_t dim, uint64_t seed, uint64_t round,
                    sa_round **out);
void sa_round_free(sa_round *r);
/* Peak bytes of a round of n_clients with these neighbours (sa_params.neighbours) and dim: what
 * sa_round_new allocates (the O(n x degree) keys, share ciphertexts and unmasking shares), plus
 * live_inputs masked inputs held at once, round 1's share scratch on threads threads and round 3's
 * unmasking (its keys bounded for any dropout pattern). For the run's memory estimate. */
double sa_round_bytes(int n_clients, int neighbours, size_t dim, int threads, int live_inputs);

int sa_round_threshold(const sa_round *r);
/* Neighbours per client: n - 1 for the complete graph, else the (even) Harary degree. */
int sa_round_degree(const sa_round *r);
/* The public graph: writes client's neighbours to out (degree entries), returns the count. */
int sa_round_neighbours(const sa_round *r, int client, int *out);

/* Rounds 0 and 1 for the clients with present[i] != 0 (NULL: all): key pairs, public-key
 * broadcast, Shamir shares of b_i and s_i^SK encrypted to each holder. Clients not present
 * take no further part. Runs the clients in parallel when built with OpenMP. */
fs_err sa_round_setup(sa_round *r, const uint8_t *present, sa_status *status);

/* Round 2, client side: quantise x (dim floats), add PRG(b_i) and +-PRG(s_ij) for every
 * neighbour j that shared (+ if i < j), and return the message to upload. */
fs_err sa_client_mask(sa_round *r, int client, const float *x, sa_masked_input **out);
/* The words on the wire (the server sees exactly these); *dim receives their count. */
const uint32_t *sa_masked_words(const sa_masked_input *m, size_t *dim);
void sa_masked_input_free(sa_masked_input *m);
/* Round 2, server side: add the masked vector to the running sum. Takes ownership of m. */
fs_err sa_server_collect(sa_round *r, sa_masked_input *m);
/* End of round 2: the set of masked inputs (U3) is fixed and sent to the survivors. */
fs_err sa_server_close(sa_round *r, sa_status *status);

/* Round 3, client side (client in U3): decrypt the shares received in round 1 and, for each
 * neighbour j that shared (and itself), reveal the share of b_j if j is in U3, else the
 * share of s_j^SK. Never both for the same j. */
fs_err sa_client_unmask(sa_round *r, int client, sa_unmask_msg **out);
void sa_unmask_msg_free(sa_unmask_msg *m);
/* Round 3, server side: store the shares. Takes ownership of m. */
fs_err sa_server_receive(sa_round *r, sa_unmask_msg *m);
/* Reconstruct b_j (j in U3) and s_j^SK (j dropped after sharing) from t shares each, remove
 * the masks, and return the exact sum mod 2^32 of the U3 clients' quantised inputs: qsum
 * (dim words, may be NULL) and dequantised sum (dim floats, may be NULL). */
fs_err sa_server_unmask(sa_round *r, float *sum, uint32_t *qsum, sa_status *status);

/* Driver for the whole round: x[i] is client i's update, NULL if it drops before masking
 * (ignored for clients not present);
 * present (NULL: all) as in sa_round_setup; responds[i] != 0 if client i (in U3) sends its
 * unmasking shares (NULL: all of U3). Masks clients in parallel with OpenMP. */
fs_err sa_round_run(sa_round *r, const uint8_t *present, const float *const *x,
                    const uint8_t *responds, float *sum, uint32_t *qsum, sa_status *status);

/* Why the round aborted ("" if it did not). */
const char *sa_round_reason(const sa_round *r);
/* Number of inputs in the sum (|U3|), valid after sa_server_close. */
int sa_round_n_summed(const sa_round *r);
const sa_cost *sa_client_cost(const sa_round *r, int client);
const sa_cost *sa_server_cost(const sa_round *r);

/* Client-side fixed-point encoding: clip to [-R, R], scale by 2^f, round, wrap mod 2^32.
 * Stochastic rounding draws from the stream (seed, RNG_SECAGG, SA_ENTITY_QUANT + client,
 * round): the same words sa_client_mask encodes. */
#define SA_ENTITY_QUANT ((uint64_t)1 << 62)
#define SA_ENTITY_GRAPH ((uint64_t)1 << 63)
void sa_quantize(const sa_params *p, uint64_t seed, uint64_t round, int client, const float *x,
                 size_t dim, uint32_t *q);

/* Print the cost table (n = 100, 1000, 10000; dim = 1e4, 1e5, 1e6; SecAgg and SecAgg+). */
void sa_bench(FILE *out);

#endif
