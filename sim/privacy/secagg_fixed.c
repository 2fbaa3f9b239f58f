/* Secure aggregation's fixed-point encoding (docs/secagg.md): clip to [-R, R], scale by 2^f,
 * round (stochastically, from the client's (RNG_SECAGG, SA_ENTITY_QUANT + client, round)
 * stream, or to nearest), wrap mod 2^32; and the decoding of the modular sum, exact while the
 * true sum fits int32 (sa_round_new checks n * ceil(R * 2^f) <= 2^31 - 1). */
#include <math.h>

#include "privacy/secagg_impl.h"

void sa_quantize(const sa_params *p, uint64_t seed, uint64_t round, int client, const float *x,
                 size_t dim, uint32_t *q)
{
    rng_t g;
    rng_init(&g, seed, RNG_SECAGG, SA_ENTITY_QUANT + (uint64_t)client, round);
    double scale = ldexp(1.0, p->scale_bits), lim = p->clip;
    for (size_t k = 0; k < dim; k++) {
        double v = x[k];
        if (isnan(v)) v = 0;
        v = (v < -lim ? -lim : v > lim ? lim : v) * scale;
        int64_t iv;
        if (p->rounding == SA_ROUND_STOCHASTIC) {
            double fl = floor(v), u = rng_uniform(&g);
            iv = (int64_t)fl + (u < v - fl);
        } else {
            iv = (int64_t)llround(v);
        }
        q[k] = (uint32_t)(uint64_t)iv; /* two's complement wrap mod 2^32 */
    }
}

void sa__decode(const uint32_t *acc, size_t dim, int scale_bits, float *sum, uint32_t *qsum)
{
    double inv = ldexp(1.0, -scale_bits);
    for (size_t k = 0; k < dim; k++) {
        uint32_t w = acc[k];
        if (qsum) qsum[k] = w;
        if (sum)
            sum[k] =
                (float)((double)(w >= 0x80000000u ? (int64_t)w - 0x100000000LL : (int64_t)w) * inv);
    }
}
