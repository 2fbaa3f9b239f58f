/* Device and network models. A client's profile is a deterministic function of (seed, client):
 *   lognormal  compute, bandwidths and latency each lognormal around a median;
 *   tiers      a mixture: the client's tier drawn by weight (RNG_TIER, client), then each
 *              quantity lognormal around the tier's median (built-in tiers: docs/systems.md);
 *   trace      row (client mod rows) of a CSV trace client,flops,down_bps,up_bps,latency_s.
 * Profiles are recomputed on demand from the client's stream, so the population needs no
 * per-client storage. Phase durations (docs/systems.md):
 *   download = latency + 8 bytes / down_bps,  upload = latency + 8 bytes / up_bps,
 *   compute  = samples processed * FLOPs per training sample / device FLOP/s. */
#ifndef FEDSIM_DEVICE_H
#define FEDSIM_DEVICE_H

#include <stdint.h>

#include "util/err.h"

typedef struct dev_lognormal {
    double median, sigma; /* x = median * exp(sigma * N(0, 1)) */
} dev_lognormal;

typedef struct dev_tier {
    char name[32];
    double weight;
    dev_lognormal flops, down_bps, up_bps, latency_s;
} dev_tier;

typedef enum dev_mode { DEV_LOGNORMAL = 0, DEV_TIERS, DEV_TRACE } dev_mode;

typedef struct dev_profile {
    double flops;     /* FLOP/s */
    double down_bps;  /* bit/s */
    double up_bps;    /* bit/s */
    double latency_s; /* per transfer */
    int tier;         /* index into tiers, -1 otherwise */
} dev_profile;

typedef struct dev_model {
    dev_mode mode;
    uint64_t seed;
    dev_lognormal flops, down_bps, up_bps, latency_s; /* lognormal mode */
    dev_tier *tiers;
    int n_tiers;
    dev_profile *trace;
    uint32_t n_trace;
} dev_model;

/* The built-in tiers (documented with sources in docs/systems.md). */
const dev_tier *dev_builtin_tiers(int *n);

/* Tiers: from a CSV (NULL or "": the built-in ones). Trace: from a CSV. Errors name file:line. */
fs_err dev_load_tiers(dev_model *d, const char *path);
fs_err dev_load_trace(dev_model *d, const char *path);
void dev_free(dev_model *d);

void dev_profile_of(const dev_model *d, uint32_t client, dev_profile *p);

static inline double dev_transfer_s(double bytes, double bps, double latency_s)
{
    return latency_s + bytes * 8.0 / bps;
}

#endif
