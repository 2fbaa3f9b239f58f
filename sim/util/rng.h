/* Keyed random streams. Every random draw in fedsim comes from a stream keyed by
 * (run seed, purpose, entity id, round), hashed with splitmix64 into the state of a
 * xoshiro256** generator. No global state: two streams with the same key give the same
 * numbers whatever the thread or the order in which streams are used.
 * The stream is also a GSL generator (rng_gsl), so gsl_ran_* distributions draw from it. */
#ifndef FEDSIM_RNG_H
#define FEDSIM_RNG_H

#include <gsl/gsl_rng.h>
#include <stdint.h>

/* What a stream is for; part of the key. Append only: changing a value changes results. */
enum rng_purpose {
    RNG_DEVICE = 1,  /* per client: device profile */
    RNG_AVAIL,       /* per client, per round: availability draw */
    RNG_SELECT,      /* per round: client selection */
    RNG_DROPOUT,     /* per client, per round: dropout decision and point */
    RNG_TRAIN,       /* per client, per round: minibatch order, dropout masks */
    RNG_PARTITION,   /* partitioner */
    RNG_SYNTH,       /* synthetic data generator */
    RNG_INIT,        /* model initialisation */
    RNG_LAYER_DROP,  /* dropout layers */
    RNG_DP_NOISE,    /* differential privacy noise */
    RNG_SECAGG,      /* secure aggregation */
    RNG_EVAL,        /* evaluation sampling */
    RNG_TEST,        /* unit tests */
    RNG_AVAIL_TRACE, /* per client: availability process over virtual time */
    RNG_TIER,        /* per client: device tier choice */
    RNG_CRYPTO,      /* keyed (simulation-only) randomness of sim/crypto: Paillier, PSI */
    RNG_ATTACK,      /* adversaries: who is malicious (0, 0), Gaussian updates (client, round) */
    RNG_ROBUST,      /* robust aggregation: bucketing (0, round), norm-bound noise (1, round) */
    RNG_VFL_DATA,    /* vertical: ID coverage, minibatch order, embedding noise, init */
    RNG_VFL_SCHED,   /* vertical: per party and step, dropouts and stragglers */
    RNG_PERSONAL,    /* extra local training: fine-tuning (0), Ditto (1), FedRep's head (2) */
    RNG_COMPRESS,    /* update compression: per client, per round (fl/compress/) */
    RNG_GUIDED,      /* guided selection (engine/guided.c): per round */
};

typedef struct rng {
    gsl_rng g;     /* GSL view; state points at s (refreshed by rng_gsl) */
    uint64_t s[4]; /* xoshiro256** state */
} rng_t;

/* splitmix64 finaliser: the key hash. */
uint64_t rng_mix64(uint64_t x);

void rng_init(rng_t *r, uint64_t seed, uint32_t purpose, uint64_t entity, uint64_t round);
uint64_t rng_u64(rng_t *r);
/* uniform in [0, 1) with 53 random bits */
double rng_uniform(rng_t *r);
/* uniform in (0, 1): never 0, safe for log() */
double rng_uniform_pos(rng_t *r);
/* uniform integer in [0, n), unbiased (Lemire); n > 0 */
uint64_t rng_below(rng_t *r, uint64_t n);
double rng_normal(rng_t *r);
/* Fisher-Yates shuffle of n uint32 values */
void rng_shuffle_u32(rng_t *r, uint32_t *a, size_t n);
/* GSL generator backed by this stream, for gsl_ran_*; valid while r lives. */
gsl_rng *rng_gsl(rng_t *r);

#endif
