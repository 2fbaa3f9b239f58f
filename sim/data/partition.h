/* Partitions: which training samples each virtual client holds. A partition is a permutation
 * of sample indices plus per-client offsets (CSR): client c holds idx[off[c] .. off[c+1]).
 * 4 bytes per sample plus 4 per client. Every partitioner places each sample in exactly one
 * client (or, where documented, leaves samples out) and is a pure function of its rng key. */
#ifndef FEDSIM_PARTITION_H
#define FEDSIM_PARTITION_H

#include <stddef.h>
#include <stdint.h>

#include "util/err.h"
#include "util/rng.h"

typedef struct partition {
    uint32_t n_clients;
    size_t n_samples; /* samples placed (off[n_clients]) */
    uint32_t *idx;    /* (n_samples) sample indices */
    uint32_t *off;    /* (n_clients + 1) offsets into idx */
} partition;

static inline uint32_t part_size(const partition *p, uint32_t c)
{
    return p->off[c + 1] - p->off[c];
}

static inline const uint32_t *part_samples(const partition *p, uint32_t c)
{
    return p->idx + p->off[c];
}

void part_free(partition *p);

/* Uniformly shuffled, equal sizes (sizes differ by at most one). */
fs_err part_iid(size_t n_samples, uint32_t n_clients, uint64_t seed, partition *p);

/* Label skew: for each class, proportions over clients from Dirichlet(alpha); clients already
 * holding n/N samples get no more of later classes (the balancing of NIID-Bench, Li et al.
 * ICDE 2022). Redrawn until every client has >= min_size samples (at most 1000 draws). */
fs_err part_dirichlet(const int32_t *labels, size_t n_samples, int n_classes, uint32_t n_clients,
                      double alpha, uint32_t min_size, uint64_t seed, partition *p);

typedef enum part_qdist { PART_Q_POWERLAW = 0, PART_Q_LOGNORMAL = 1 } part_qdist;

/* Quantity skew: client sizes proportional to draws from a Pareto(shape = param) or a
 * lognormal(0, sigma = param) distribution, every client at least min_size; labels iid. */
fs_err part_quantity(size_t n_samples, uint32_t n_clients, part_qdist dist, double param,
                     uint32_t min_size, uint64_t seed, partition *p);

/* Natural clients: samples grouped by their client id (ids 0..n_clients-1), order kept. */
fs_err part_natural(const int32_t *client_of, size_t n_samples, uint32_t n_clients, partition *p);

#endif
