/* The virtual clock of vertical learning (docs/vertical.md, "Cost model"). A protocol step is
 * recorded as it is computed, in program order, as a list of operations: a party computes
 * (FLOPs), a party does cryptography (seconds on the reference machine, from the unit costs
 * below), a party sends bytes to another. vclk_step then replays the list in virtual time:
 *
 *   - each party has a clock; compute and crypto advance its own clock by FLOPs / its FLOP/s
 *     and by unit seconds x ref_flops / its FLOP/s, times its straggler factor in a step where
 *     it straggles;
 *   - a message p -> q starts when p is ready and both p's uplink and q's downlink are free
 *     (each link carries one message at a time), takes 8 bytes / min(up_p, down_q) on the wire,
 *     then the two access latencies lat_p + lat_q; q's clock becomes at least its arrival. The
 *     sender does not wait for it;
 *   - the step ends when the last party is done.
 *
 * The operations of a sequentially written protocol are recorded after the messages they
 * depend on, so this max-plus replay is the event schedule of the step, computed exactly (the
 * same times a discrete-event queue would pop; docs/vertical.md). Faults are drawn per party
 * and step from the (seed, RNG_VFL_SCHED, party, step) stream: with probability straggler_p
 * the party straggles; with probability dropout it drops out at a uniform point of the step,
 * which stalls: the step is abandoned, the party rejoins rejoin_s later and the whole step is
 * redone (further attempts draw again, keyed by the attempt). Work and traffic of an abandoned
 * attempt are charged pro rata (the fraction of the step that had passed) as wasted. */
#ifndef FEDSIM_VFL_CLOCK_H
#define FEDSIM_VFL_CLOCK_H

#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

#define VCLK_MAX_PARTIES  9 /* up to 8 parties of the scenario and one implicit coordinator */
#define VCLK_MAX_ATTEMPTS 10000

typedef struct vclk_party {
    double flops;            /* FLOP/s */
    double up_bps, down_bps; /* bits per second */
    double latency_s;        /* one-way latency of its link */
    double dropout;          /* per-step probability of dropping out */
    double rejoin_s;
    double straggler_p, straggler_factor;
} vclk_party;

/* What each party did, accumulated until vclk_tally_reset. */
typedef struct vclk_tally {
    double bytes_sent, bytes_recv;
    double flops;     /* FLOPs computed (abandoned attempts included) */
    double compute_s; /* virtual seconds computing (excluding crypto) */
    double crypto_s;  /* virtual seconds of cryptography */
    long dropouts;    /* steps it dropped out of */
    long straggles;   /* steps it straggled in */
} vclk_tally;

typedef enum vclk_kind { VCLK_COMPUTE = 0, VCLK_CRYPTO, VCLK_SEND } vclk_kind;

typedef struct vclk_op {
    vclk_kind kind;
    int p, q;      /* party; receiver of a send */
    double amount; /* FLOPs, reference seconds, or bytes */
} vclk_op;

typedef struct vclk {
    int n;
    vclk_party party[VCLK_MAX_PARTIES];
    double ref_flops; /* FLOP/s of the machine the crypto unit costs come from */
    uint64_t seed;
    double now; /* virtual time after the last step */
    vclk_op *ops;
    size_t n_ops, cap;
    vclk_tally tally[VCLK_MAX_PARTIES];
    double stall_s;      /* virtual time lost to dropouts since the reset */
    double wasted_flops; /* FLOPs of abandoned attempts since the reset */
    double crypto_ref_s; /* reference seconds of crypto recorded since the reset */
} vclk;

void vclk_init(vclk *k, int n, const vclk_party *parties, double ref_flops, uint64_t seed);
void vclk_free(vclk *k);
/* Record operations of the current step. Amounts <= 0 record nothing. FS_ENOMEM is sticky: it
 * is returned by the next vclk_step. */
void vclk_compute(vclk *k, int p, double flops);
void vclk_crypto(vclk *k, int p, double ref_seconds);
void vclk_send(vclk *k, int from, int to, double bytes);
/* Replay the recorded step from now with faults keyed by step (faults = 0: none, for set-up
 * phases), advance now, add to the tallies and clear the record. *dur (optional) gets the
 * step's virtual duration, stalls included. */
fs_err vclk_step(vclk *k, uint64_t step, int faults, double *dur);
void vclk_tally_reset(vclk *k);

/* ---- unit costs of the cryptography (seconds on the reference machine) ------------------------
 * Measured with `fedsim bench he` on the development host (AMD EPYC, 2 cores under KVM, GMP
 * 6.2.1, libsodium 1.0.18) at |n| = 2048 and 3072 bits; other sizes scale as
 * (bits/2048)^3 for exponentiations with exponents of about |n| bits (encryption, decryption),
 * (bits/2048)^1.6 for multiplications mod n^2 (additions, scalar multiplications by short
 * scalars, inner-product terms), (bits/2048)^4 for key generation: the exponents fitted to the
 * two measured sizes (2.6-3.3 and 1.4-1.9). */
typedef enum vfl_he_op {
    VFL_HE_KEYGEN = 0,   /* a key pair */
    VFL_HE_TABLE_PUB,    /* building a public fixed-base encryptor */
    VFL_HE_TABLE_KEY,    /* building the key holder's encryptor */
    VFL_HE_ENC_PUB,      /* encryption with the public fixed-base table */
    VFL_HE_ENC_KEY,      /* encryption by the key holder (CRT tables) */
    VFL_HE_DEC,          /* CRT decryption */
    VFL_HE_ADD,          /* ciphertext + ciphertext */
    VFL_HE_ADD_PLAIN,    /* ciphertext + plaintext */
    VFL_HE_RERAND,       /* multiply by a fresh encryption of 0 (public) */
    VFL_HE_MUL_BIT,      /* scalar multiplication, per bit of the scalar */
    VFL_HE_DOT_TERM_BIT, /* inner product (bucket method), per term and bit of its weight */
    VFL_PSI_HASH,        /* ristretto255 hash-to-group */
    VFL_PSI_SMUL,        /* ristretto255 scalar multiplication */
    VFL_HE_NOPS
} vfl_he_op;

/* Reference seconds of count operations op with a |n| = bits key (PSI ignores bits). */
double vfl_he_cost(vfl_he_op op, int bits, double count);

#endif
