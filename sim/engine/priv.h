/* Privacy in the run: what a synchronous round does between client training and the server
 * step when the scenario turns on differential privacy (privacy.mode) or secure aggregation
 * (privacy.secagg). docs/privacy.md describes the model; this is its contract.
 *
 *   priv_round_begin   after the schedule: secure aggregation's key rounds (AdvertiseKeys,
 *                      ShareKeys) among all the round's selected clients;
 *   priv_round_add     for each chunk of trained clients, in arrival order: clip (and, for
 *                      local DP, noise) every update, then either add it to the aggregate or
 *                      mask it and hand the masked vector to the server side of the protocol;
 *   priv_round_end     unmask the sum, add the central noise, fix the denominator, adapt the
 *                      clip norm, step the accountant, and price the protocol: its bytes and
 *                      its virtual time from operation counts x fixed unit costs.
 *
 * Guarantees: the results depend only on (scenario, seed), never on the thread count or on
 * wall time (the cost model uses counted operations, not measured CPU time). The server side
 * of secure aggregation only ever receives sa_masked_input / sa_unmask_msg values; with
 * paillier only ciphertexts, and only the simulated key holder decrypts (their sum).
 * With privacy.mode none and privacy.secagg none the engine never calls this module. */
#ifndef FEDSIM_PRIV_H
#define FEDSIM_PRIV_H

#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "crypto/paillier.h"
#include "data/partition.h"
#include "device/device.h"
#include "engine/round.h"
#include "fl/algorithm.h"
#include "privacy/secagg.h"
#include "util/err.h"

/* What a round adds to its metrics row. */
typedef struct priv_stats {
    double epsilon;      /* epsilon spent after the round; NaN without DP */
    double clip;         /* clip norm C used in the round; NaN without DP */
    double clipped_frac; /* fraction of the round's updates that were clipped; NaN: none */
    double sa_bytes_up;  /* protocol bytes sent by clients besides the masked upload */
    double sa_bytes_down;
    double sa_time_s;   /* virtual time the protocol added to the round */
    long summed;        /* updates in the aggregate */
    char sa_abort[320]; /* "" unless secure aggregation aborted the round */
} priv_stats;

/* Unit costs of the secure-aggregation cost model (seconds on the reference machine, whose
 * speed is privacy.secagg_ref_flops); measured with libsodium 1.0.18 on the development host,
 * see docs/privacy.md. */
typedef struct priv_sa_units {
    double keygen;   /* X25519 key pair */
    double kx;       /* X25519 key agreement (crypto_kx session keys) */
    double aead;     /* ChaCha20-Poly1305 of one 88-byte share */
    double prg_byte; /* ChaCha20 keystream + add into the vector, per byte */
    double quant;    /* fixed-point encoding, per coordinate */
    double add;      /* modular add of a masked vector (and decoding), per coordinate */
    double split;    /* Shamir split, per share element and threshold */
    double combine;  /* Shamir combine, per share element used */
    double lagrange; /* Lagrange coefficients at 0, per threshold^2 */
} priv_sa_units;
extern const priv_sa_units priv_sa_default_units;

/* Seconds of one party's work in one protocol phase on the reference machine, from the
 * operation counts `ops` made in that phase (a difference of sa_cost snapshots). t is the
 * threshold, dim the vector length; server != 0 prices the server's work. n_masked and
 * lagranges are the server's vectors collected and Lagrange computations (phase MASK and
 * UNMASK; ignored for clients). */
double priv_sa_seconds(const priv_sa_units *u, const sa_cost *ops, int phase, int server, int t,
                       size_t dim, int n_masked, int lagranges);

/* ---- privacy.secagg = paillier (docs/privacy.md, "Homomorphic aggregation") ----------------
 * Each arrived client encodes its vector x (the SecAgg encoding) as v_i = round(clamp(x_i, -R,
 * R) 2^f) (nearest, ties away from zero), packs L->slots values per plaintext and encrypts
 * under the key holder's public key; the server multiplies the ciphertexts (adds the plaintexts)
 * in arrival order; the key holder decrypts only the sum. These are the two ends, exposed for
 * the unit tests (which use small insecure keys). */

/* The packing of a run: 31-bit values, headroom for max_terms clients. */
fs_err priv_he_layout(const he_pub *pk, uint64_t max_terms, he_pack *L);
/* Ciphertexts per vector of dim coordinates. */
size_t priv_he_cts(const he_pack *L, size_t dim);
/* Client side: encrypt x[0..dim) into out[0..priv_he_cts) with randomness from rnd; *clipped
 * gets the coordinates beyond [-R, R]. FS_EINPUT if R 2^f reaches 2^31. */
fs_err priv_he_encrypt(const he_enc *e, cr_src *rnd, const he_pack *L, const float *x, size_t dim,
                       double R, int f, he_ct *out, long *clipped);
/* Key holder: decrypt the ciphertext sums and unpack the dim integer slot sums. */
fs_err priv_he_decrypt(const he_key *k, const he_pack *L, const he_ct *sum, size_t dim,
                       int64_t *out);

typedef struct priv_state priv_state;

/* 1 when the scenario turns on DP or secure aggregation. */
int priv_wanted(const cfg *c);

/* Resolves the noise multiplier (privacy.target_epsilon: dp_noise_for_eps), the sampling rate
 * and the accountant. n_params is the model size, chunk the most results priv_round_add gets at
 * once, threads the OpenMP threads it may use. FS_EINPUT with a message for impossible
 * settings (unreachable target, count noise too small for adaptive clipping). */
fs_err priv_new(const cfg *c, const partition *part, size_t n_params, const fl_algorithm *a,
                int chunk, int threads, priv_state **out);
void priv_free(priv_state *p);
/* What priv_new and a round (priv_round_begin .. priv_round_end) allocate at most, by their
 * formulas, for the memory estimate (engine/setup_check.c): the chunk's norms, the accountant,
 * local DP's counts; with secure aggregation the chunk's encoded inputs and masked vectors and
 * the protocol's round for max_selected clients (O(n x degree) keys, share ciphertexts and
 * unmasking shares: sa_round_bytes); with paillier the encryptor's fixed-base table, the chunk's
 * ciphertexts and their running product. 0 when priv_wanted is not. */
double priv_estimate_bytes(const cfg *c, const fl_algorithm *a, size_t n_params, uint32_t n_clients,
                           int max_selected, int chunk, int threads);

/* One line for the log: mode, sampling, q, z, clip, secure aggregation. */
const char *priv_describe(const priv_state *p);
/* 1 when rounds sample clients by Poisson sampling. */
int priv_poisson(const priv_state *p);
/* Sampling rate q = clients_per_round / clients. */
double priv_rate(const priv_state *p);
/* Noise multiplier z (solved or given); with adaptive clipping the effective one. */
double priv_noise_multiplier(const priv_state *p);
/* Bytes of one client's upload: the masked vector with secure aggregation, else plain_bytes. */
double priv_upload_bytes(const priv_state *p, double plain_bytes);

/* The round's schedule is final (sr's arrival order and outcomes; sr must stay valid until
 * priv_round_end). Runs the protocol's key rounds when secure aggregation is on and updates
 * arrived. */
fs_err priv_round_begin(priv_state *p, uint32_t round, const sched_round *sr);
/* Results res[0..n) of the arrivals sr->arrival[first .. first + n), trained and not yet added
 * anywhere: clips/noises them in place and adds them to agg (or masks them). */
fs_err priv_round_add(priv_state *p, fl_client_result *res, int n, int first, fl_agg *agg);
/* Completes agg (sum, wsum, count) for fl_server_step and fills st. dev prices the protocol's
 * time per client. */
fs_err priv_round_end(priv_state *p, const dev_model *dev, fl_agg *agg, priv_stats *st);

#endif
