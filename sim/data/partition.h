/* Partitions: which training samples each virtual client holds. A partition is a permutation
 * of sample indices plus per-client offsets (CSR): client c holds idx[off[c] .. off[c+1]).
 * 4 bytes per sample plus 4 per client (8 with a local test split). Every partitioner places
 * each sample in exactly one client (or, where documented, leaves samples out) and is a pure
 * function of its rng key. Optional extras, applied after partitioning:
 *   - a local test split: client c trains on idx[off[c] .. split[c]) and keeps
 *     idx[split[c] .. off[c+1]) for personalised evaluation (part_split_local);
 *   - a feature skew: a per-client transform of x applied at training time, right after
 *     ds_gather (part_transform); the central test set is never transformed. */
#ifndef FEDSIM_PARTITION_H
#define FEDSIM_PARTITION_H

#include <stddef.h>
#include <stdint.h>

#include "data/dataset.h"
#include "util/err.h"
#include "util/rng.h"

typedef enum part_feature_kind {
    PART_FEAT_NONE = 0,
    PART_FEAT_NOISE = 1,  /* client i of N: x += N(0, (level * i / (N-1))^2), per sample */
    PART_FEAT_ROTATE = 2, /* client i of N: images rotated by level * i / (N-1) degrees */
} part_feature_kind;

typedef struct part_feature {
    part_feature_kind kind;
    double level;       /* noise: sigma; rotate: degrees for the last client */
    uint32_t n_clients; /* N in the level formula */
    uint64_t seed;      /* noise streams: (seed, RNG_PARTITION, client, PART_KEY_NOISE | sample) */
} part_feature;

typedef struct partition {
    uint32_t n_clients;
    size_t n_samples;     /* samples placed (off[n_clients]) */
    uint32_t *idx;        /* (n_samples) sample indices */
    uint32_t *off;        /* (n_clients + 1) offsets into idx */
    uint32_t *split;      /* (n_clients) start of each client's local test part, or NULL */
    part_feature feature; /* per-client transform at training time; kind NONE by default */
} partition;

/* Training samples of client c (its local test part excluded). */
static inline uint32_t part_size(const partition *p, uint32_t c)
{
    return (p->split ? p->split[c] : p->off[c + 1]) - p->off[c];
}

static inline const uint32_t *part_samples(const partition *p, uint32_t c)
{
    return p->idx + p->off[c];
}

/* Local test samples of client c (0 without a local split). */
static inline uint32_t part_test_size(const partition *p, uint32_t c)
{
    return p->split ? p->off[c + 1] - p->split[c] : 0;
}

static inline const uint32_t *part_test_samples(const partition *p, uint32_t c)
{
    return p->idx + (p->split ? p->split[c] : p->off[c + 1]);
}

void part_free(partition *p);

/* Uniformly shuffled, equal sizes (sizes differ by at most one). */
fs_err part_iid(size_t n_samples, uint32_t n_clients, uint64_t seed, partition *p);

/* Label skew: for each class, proportions over clients from Dirichlet(alpha); clients already
 * holding n/N samples get no more of later classes (the balancing of NIID-Bench, Li et al.
 * ICDE 2022). Redrawn until every client has >= min_size samples (at most 1000 draws). */
fs_err part_dirichlet(const int32_t *labels, size_t n_samples, int n_classes, uint32_t n_clients,
                      double alpha, uint32_t min_size, uint64_t seed, partition *p);

/* Pathological shards (McMahan et al., AISTATS 2017, Section 3): samples sorted by label
 * (random order within a class), cut into n_clients * k shards of equal size (sizes differ by
 * at most one), k random shards per client. 100 clients, k = 2 on 60,000 samples gives their
 * 200 shards of 300. distinct = 0 is the paper's random deal (a client may get two shards of
 * one class); distinct = 1 then swaps shards between clients until no client holds two shards
 * of the same class (a shard's class is that of its middle sample), FS_EINPUT if impossible. */
fs_err part_shards(const int32_t *labels, size_t n_samples, int n_classes, uint32_t n_clients,
                   uint32_t k, int distinct, uint64_t seed, partition *p);

/* #C=k label skew (NIID-Bench, Li et al., ICDE 2022, Section 4.1): client i holds class
 * i mod n_classes and k-1 other distinct random classes; each class is split into equal
 * random parts among the clients holding it. A client has exactly k classes when every class
 * has at least as many samples as holders. Classes no client holds (only if n_clients <
 * n_classes) are left out: p->n_samples is then below n_samples. */
fs_err part_labels(const int32_t *labels, size_t n_samples, int n_classes, uint32_t n_clients,
                   uint32_t k, uint64_t seed, partition *p);

typedef enum part_qdist {
    PART_Q_POWERLAW = 0,
    PART_Q_LOGNORMAL = 1,
    PART_Q_DIRICHLET = 2
} part_qdist;

/* Quantity skew: client sizes proportional to draws from a Pareto(shape = param), a
 * lognormal(0, sigma = param) or a symmetric Dirichlet(param) (NIID-Bench's quantity skew),
 * every client at least min_size; labels iid. */
fs_err part_quantity(size_t n_samples, uint32_t n_clients, part_qdist dist, double param,
                     uint32_t min_size, uint64_t seed, partition *p);

/* Natural clients: samples grouped by their client id (ids 0..n_clients-1), order kept. */
fs_err part_natural(const int32_t *client_of, size_t n_samples, uint32_t n_clients, partition *p);

/* Local test split: shuffle each client's samples (stream (seed, RNG_PARTITION, client,
 * PART_KEY_LOCAL)) and keep the last floor(fraction * n_c) of them out of training
 * (0 <= fraction < 1, so every non-empty client keeps at least one training sample). */
fs_err part_split_local(partition *p, double fraction, uint64_t seed);

/* Attach a feature skew to p. Checks that ds suits it: noise needs classification inputs,
 * rotation images (H, W > 1). level >= 0. */
fs_err part_set_feature(partition *p, const dataset *ds, part_feature_kind kind, double level,
                        uint64_t seed);

/* Apply p's feature skew for client c to x (b, feat), gathered by ds_gather from ds->train at
 * rows idx[0..b). Deterministic per (seed, client, sample): a sample gets the same noise each
 * time it is drawn, whatever the batch. No-op when the kind is NONE. Allocation-free. */
void part_transform(const partition *p, const dataset *ds, uint32_t c, const uint32_t *idx,
                    size_t b, float *x);

/* Round keys of the RNG_PARTITION streams used per client (partitioners use entity 0,
 * round 0). */
#define PART_KEY_LOCAL (1ull << 61)
#define PART_KEY_NOISE (1ull << 62)

#endif
