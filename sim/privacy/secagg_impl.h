/* Secure aggregation's internals, shared by its files and by nothing else (secagg.h is the
 * contract). One sa_round owns three kinds of state, kept apart by who may read them:
 *   - struct sa_client (and rx): a client's secrets; read only by the client side of each
 *     round (static client_* functions and the sa_client_* entry points for that client);
 *   - the board (public keys, encrypted shares, U1/U2/U3 lists): what the server stores and
 *     forwards; clients read the parts the server would send them;
 *   - the server state (running masked sum, received unmasking shares): written only by
 *     sa_server_* functions, which receive nothing but masked vectors and shares.
 * The files: secagg.c (the round object, its checks, the driver), secagg_keys.c (key
 * agreement, pairwise and self masks, wire encoding), secagg_fixed.c (fixed-point encoding),
 * secagg_share.c (rounds 0-1), secagg_mask.c (round 2), secagg_unmask.c (round 3 and dropout
 * recovery), secagg_bench.c (`fedsim bench secagg`). The communication graph is the one place
 * SecAgg and SecAgg+ differ (sa__nb below): a variant with another graph changes it there. */
#ifndef FEDSIM_SECAGG_IMPL_H
#define FEDSIM_SECAGG_IMPL_H

#include <sodium.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "privacy/secagg.h"
#include "privacy/shamir.h"
#include "util/rng.h"

#ifdef _OPENMP
#include <omp.h>
#define SA_OMP(x) _Pragma(x)
#else
#define SA_OMP(x)
#endif

#define KEY          32                    /* X25519 keys, session keys, PRG seeds */
#define SECRET_ELEMS SH_ELEMS(KEY)         /* 5 field elements per 32-byte secret */
#define SHARE_ELEMS  (2 * SECRET_ELEMS)    /* share of s_i^SK then share of b_i */
#define PT_BYTES     (8 + 8 * SHARE_ELEMS) /* sender u32, recipient u32, shares */
#define CT_BYTES     (PT_BYTES + crypto_aead_chacha20poly1305_ietf_ABYTES)
#define AD_BYTES     16                           /* round u64, sender u32, recipient u32 */
#define ID_WIRE      4                            /* a client id on the wire */
#define ADV_WIRE     (ID_WIRE + 2 * KEY)          /* id, c_i^PK, s_i^PK */
#define CT_WIRE      (2 * ID_WIRE + CT_BYTES)     /* routing header + ciphertext */
#define USHARE_WIRE  (ID_WIRE + 8 * SECRET_ELEMS) /* owner id + one secret's share */
#define PRG_WORDS    1024                         /* keystream chunk: 4 KiB, 64 ChaCha blocks */

enum cl_phase { CL_ABSENT = 0, CL_SHARED, CL_MASKED, CL_RESPONDED };
enum rd_state { RD_NEW = 0, RD_KEYED, RD_CLOSED, RD_DONE, RD_ABORTED };

struct sa_client {
    uint8_t c_sk[KEY]; /* c_i^SK: channel key for share encryption */
    uint8_t s_sk[KEY]; /* s_i^SK: mask agreement key */
    uint8_t b[KEY];    /* self-mask seed b_i */
    uint64_t own_share[SHARE_ELEMS];
    rng_t rng; /* (seed, RNG_SECAGG, client, round) */
    int phase;
};

struct sa_round {
    sa_params p;
    int n, deg, half, t, complete;
    size_t dim;
    uint64_t seed, round;
    int *perm, *pos; /* SecAgg+: client at ring position q, position of client i */

    /* clients' private state */
    struct sa_client *cl;
    uint8_t *rx; /* (n, deg, KEY): client i's receive key on the channel with neighbour s */

    /* board: stored and forwarded by the server */
    uint8_t *c_pk, *s_pk; /* (n, KEY) */
    uint8_t *adv;         /* U1 */
    uint8_t *shared;      /* U2 */
    uint8_t *ct;          /* (n, deg, CT_BYTES): share ciphertext from i to its slot-s neighbour */
    uint8_t *ct_ok;       /* (n, deg) */
    uint8_t *masked;      /* U3 */
    uint8_t *responded;   /* U5 */

    /* server state */
    uint32_t *acc; /* (dim) running sum of masked inputs mod 2^32 */
    /* (n, deg + 1, SECRET_ELEMS): unmasking share of owner i from holder slot h */
    uint64_t *ushare;
    uint8_t *uhave; /* (n, deg + 1) */
    int n_adv, n_shared, n_masked, n_responded;

    int state;
    sa_status status;
    char reason[256];
    sa_cost *cost; /* (n) */
    sa_cost srv;
};

struct sa_masked_input {
    const sa_round *from;
    int client;
    size_t dim;
    uint32_t w[]; /* (dim) */
};

struct sa_unmask_entry {
    int owner;
    uint64_t e[SECRET_ELEMS];
};

struct sa_unmask_msg {
    const sa_round *from;
    int client;
    int count;
    struct sa_unmask_entry ent[];
};

static inline double sa__cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ---- graph -------------------------------------------------------------------------------- */

/* Neighbour in slot s of client i. SecAgg+: slots 0..half-1 are ring offsets +1..+half, slots
 * half..deg-1 offsets -1..-half (Harary graph H_{k,n} over a random ring order, Bell et al.
 * 2020). Complete graph: everyone else in index order. */
static inline int sa__nb(const sa_round *r, int i, int s)
{
    if (r->complete) return s < i ? s : s + 1;
    int off = s < r->half ? s + 1 : -(s - r->half + 1);
    return r->perm[((r->pos[i] + off) % r->n + r->n) % r->n];
}

/* Slot of client i in the list of its slot-s neighbour. */
static inline int sa__rev_slot(const sa_round *r, int i, int s)
{
    if (r->complete) {
        int j = s < i ? s : s + 1;
        return i < j ? i : i - 1;
    }
    return s < r->half ? s + r->half : s - r->half;
}

/* Holder slot of client h for owner o's shares: deg for o itself, -1 if not a neighbour. */
static inline int sa__holder_slot(const sa_round *r, int o, int h)
{
    if (h == o) return r->deg;
    if (r->complete) return h < o ? h : h - 1;
    int off = ((r->pos[h] - r->pos[o]) % r->n + r->n) % r->n;
    if (off >= 1 && off <= r->half) return off - 1;
    if (off >= r->n - r->half) return r->half + (r->n - off) - 1;
    return -1;
}

/* Little-endian wire encoding. */
static inline void sa__put32(uint8_t *p, uint32_t v)
{
    for (int b = 0; b < 4; b++) p[b] = (uint8_t)(v >> (8 * b));
}

static inline uint32_t sa__get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* ---- shared by the rounds (secagg.c) ------------------------------------------------------ */

/* Abort the round: record the reason, set the round's and the caller's status. */
void sa__abort(sa_round *r, sa_status st, sa_status *status, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* FS_EINPUT unless the round is in state want (fn names the caller in the message). */
fs_err sa__check_state(const sa_round *r, int want, const char *fn);

/* ---- key agreement and masks (secagg_keys.c) ----------------------------------------------- */

/* len bytes from a keyed stream. */
void sa__draw_bytes(rng_t *g, uint8_t *out, size_t len);

/* KEY secret bytes for client c: its keyed stream, or the system's CSPRNG with
 * privacy.secagg_randomness: system. */
void sa__secret_bytes(const sa_round *r, struct sa_client *c, uint8_t *out);

/* X25519 session keys between me and other (crypto_kx roles by index order). */
int sa__kx_keys(int me, int other, const uint8_t *me_pk, const uint8_t *me_sk,
                const uint8_t *other_pk, uint8_t rx[KEY], uint8_t tx[KEY]);

/* The pairwise mask seed s_{me,other}, the same from both ends. */
int sa__pair_seed(int me, int other, const uint8_t *me_pk, const uint8_t *me_sk,
                  const uint8_t *other_pk, uint8_t seed[KEY]);

/* Associated data of the share ciphertext from `from` to `to` in round `round`. */
void sa__make_ad(uint8_t ad[AD_BYTES], uint64_t round, int from, int to);

/* acc[lo..hi) += (negate: -=) the ChaCha20 keystream of key as uint32 words. */
void sa__prg_add(uint32_t *acc, size_t lo, size_t hi, const uint8_t key[KEY], int negate);

/* Scratch of round 1 (secagg_share.c): holder x's and shares, per thread. */
double sa__share_bytes(int deg, int threads);
/* Round 3 (secagg_unmask.c): the server's keys and Lagrange scratch, one client's message. */
double sa__unmask_bytes(int n, int deg);

/* ---- fixed point (secagg_fixed.c) ---------------------------------------------------------- */

/* The modular sum acc as two's-complement words (qsum) and as floats scaled by 2^-scale_bits
 * (sum); either may be NULL. */
void sa__decode(const uint32_t *acc, size_t dim, int scale_bits, float *sum, uint32_t *qsum);

#endif
