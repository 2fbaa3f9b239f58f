/* Device, network and availability models. A client's profile is drawn on demand from its own
 * keyed stream (RNG_DEVICE, client), so the population needs no per-client storage and the
 * same client always has the same device. Phase durations follow DESIGN.md:
 *   download = latency + bytes * 8 / down_bps,  upload = latency + bytes * 8 / up_bps,
 *   compute  = samples processed * FLOPs per training sample / device FLOP/s. */
#ifndef FEDSIM_DEVICE_H
#define FEDSIM_DEVICE_H

#include <stdint.h>

typedef struct dev_lognormal {
    double median, sigma; /* x = median * exp(sigma * N(0, 1)) */
} dev_lognormal;

typedef enum dev_avail_mode { DEV_AVAIL_ALWAYS = 0, DEV_AVAIL_BERNOULLI = 1 } dev_avail_mode;

typedef struct dev_model {
    uint64_t seed;
    dev_lognormal flops, down_bps, up_bps, latency_s;
    dev_avail_mode avail;
    double avail_p;
} dev_model;

typedef struct dev_profile {
    double flops;     /* FLOP/s */
    double down_bps;  /* bit/s */
    double up_bps;    /* bit/s */
    double latency_s; /* one-way latency per transfer */
} dev_profile;

void dev_profile_of(const dev_model *d, uint32_t client, dev_profile *p);
/* Is the client available at the start of round r (Bernoulli(p) drawn from (client, round))? */
int dev_available(const dev_model *d, uint32_t client, uint32_t round);

static inline double dev_transfer_s(double bytes, double bps, double latency_s)
{
    return latency_s + bytes * 8.0 / bps;
}

#endif
