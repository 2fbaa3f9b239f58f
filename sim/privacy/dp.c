/* DP mechanisms (see dp.h): clipping, keyed Gaussian noise, adaptive clipping. Owns nothing. */
#include "privacy/dp.h"

#include <math.h>

#include "util/rng.h"

double dp_l2_norm(const float *u, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++) s += (double)u[i] * (double)u[i];
    return sqrt(s);
}

double dp_clip(float *u, size_t n, double clip)
{
    const double norm = dp_l2_norm(u, n);
    if (!(norm > clip)) return norm;
    /* Scaling in float can round the norm up by a few ulps: shrink again until it is within
     * the ball (McMahan et al. 2018 need ||u|| <= C exactly for the sensitivity bound). */
    double f = clip / norm, now = norm, nudge = 0x1p-24;
    for (int it = 0; it < 16 && now > clip; it++) {
        for (size_t i = 0; i < n; i++) u[i] = (float)((double)u[i] * f);
        now = dp_l2_norm(u, n);
        f = (clip / now) * (1.0 - nudge);
        nudge *= 2;
    }
    if (now > clip) /* cannot happen for finite inputs; keep the guarantee anyway */
        for (size_t i = 0; i < n; i++) u[i] = 0;
    return norm;
}

void dp_noise_add(double *v, size_t n, double std, uint64_t seed, uint64_t entity, uint64_t round)
{
    if (std == 0) return;
    rng_t r;
    rng_init(&r, seed, RNG_DP_NOISE, entity, round);
    for (size_t i = 0; i < n; i++) v[i] += std * rng_normal(&r);
}

void dp_noise_add_f(float *v, size_t n, double std, uint64_t seed, uint64_t entity, uint64_t round)
{
    if (std == 0) return;
    rng_t r;
    rng_init(&r, seed, RNG_DP_NOISE, entity, round);
    for (size_t i = 0; i < n; i++) v[i] = (float)((double)v[i] + std * rng_normal(&r));
}

double dp_update_noise_multiplier(double z, double sigma_b)
{
    if (z == 0) return 0;
    const double a = 1.0 / (z * z), b = 1.0 / (4.0 * sigma_b * sigma_b);
    if (!(sigma_b > 0) || !(a > b)) return NAN;
    return 1.0 / sqrt(a - b);
}

double dp_adaptive_clip_next(double clip, double unclipped, double expected, double quantile,
                             double lr, double sigma_b, uint64_t seed, uint64_t round,
                             double *b_out)
{
    double noisy = unclipped;
    dp_noise_add(&noisy, 1, sigma_b, seed, DP_ENTITY_COUNT, round);
    const double b = noisy / expected;
    if (b_out) *b_out = b;
    /* Andrew et al. 2021, Algorithm 1: C <- C * exp(-eta_C (b - gamma)) */
    return clip * exp(-lr * (b - quantile));
}
