/* Lognormal device profiles and Bernoulli availability (see device.h). */
#include "device/device.h"

#include <math.h>

#include "util/rng.h"

static double draw(rng_t *r, const dev_lognormal *l)
{
    return l->median * exp(l->sigma * rng_normal(r));
}

void dev_profile_of(const dev_model *d, uint32_t client, dev_profile *p)
{
    rng_t r;
    rng_init(&r, d->seed, RNG_DEVICE, client, 0);
    p->flops = draw(&r, &d->flops);
    p->down_bps = draw(&r, &d->down_bps);
    p->up_bps = draw(&r, &d->up_bps);
    p->latency_s = draw(&r, &d->latency_s);
}

int dev_available(const dev_model *d, uint32_t client, uint32_t round)
{
    if (d->avail == DEV_AVAIL_ALWAYS) return 1;
    rng_t r;
    rng_init(&r, d->seed, RNG_AVAIL, client, round);
    return rng_uniform(&r) < d->avail_p;
}
