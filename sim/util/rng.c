/* Keyed xoshiro256** streams (Blackman and Vigna 2018), seeded through splitmix64.
 * Owns no global state. See rng.h for the keying contract. */
#include "util/rng.h"

#include <gsl/gsl_randist.h>
#include <math.h>

uint64_t rng_mix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

static inline uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

void rng_init(rng_t *r, uint64_t seed, uint32_t purpose, uint64_t entity, uint64_t round)
{
    /* Chain the key through the mixer so that every field changes every state word. */
    uint64_t h = rng_mix64(seed);
    h = rng_mix64(h ^ ((uint64_t)purpose * 0xd1b54a32d192ed03ULL));
    h = rng_mix64(h ^ entity);
    h = rng_mix64(h ^ (round * 0x8cb92ba72f3d8dd7ULL));
    for (int i = 0; i < 4; i++) {
        h = rng_mix64(h + (uint64_t)i);
        r->s[i] = h;
    }
    if ((r->s[0] | r->s[1] | r->s[2] | r->s[3]) == 0) r->s[0] = 1; /* all-zero is absorbing */
    rng_gsl(r);
}

/* One xoshiro256** step on a bare state (shared by rng_u64 and the GSL view). */
static inline uint64_t xo_next(uint64_t *s)
{
    const uint64_t result = rotl(s[1] * 5, 7) * 9;
    const uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

uint64_t rng_u64(rng_t *r)
{
    return xo_next(r->s);
}

double rng_uniform(rng_t *r)
{
    return (double)(rng_u64(r) >> 11) * 0x1.0p-53;
}

double rng_uniform_pos(rng_t *r)
{
    return ((double)(rng_u64(r) >> 11) + 0.5) * 0x1.0p-53;
}

uint64_t rng_below(rng_t *r, uint64_t n)
{
    /* Lemire's nearly divisionless method with rejection: exactly uniform. */
    uint64_t x = rng_u64(r);
    __uint128_t m = (__uint128_t)x * n;
    uint64_t l = (uint64_t)m;
    if (l < n) {
        uint64_t t = (0 - n) % n;
        while (l < t) {
            x = rng_u64(r);
            m = (__uint128_t)x * n;
            l = (uint64_t)m;
        }
    }
    return (uint64_t)(m >> 64);
}

double rng_normal(rng_t *r)
{
    return gsl_ran_gaussian_ziggurat(rng_gsl(r), 1.0);
}

void rng_shuffle_u32(rng_t *r, uint32_t *a, size_t n)
{
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)rng_below(r, i);
        uint32_t t = a[i - 1];
        a[i - 1] = a[j];
        a[j] = t;
    }
}

/* GSL generator type over the xoshiro state: 32-bit outputs from the high bits. */
static void gsl_x_set(void *state, unsigned long seed)
{
    uint64_t *s = state;
    uint64_t h = seed;
    for (int i = 0; i < 4; i++) s[i] = h = rng_mix64(h + (uint64_t)i);
}

static unsigned long gsl_x_get(void *state)
{
    return (unsigned long)(xo_next(state) >> 32);
}

static double gsl_x_get_double(void *state)
{
    return (double)(xo_next(state) >> 11) * 0x1.0p-53;
}

static const gsl_rng_type gsl_xoshiro_type = {
    "fedsim-xoshiro256**", 0xffffffffUL, 0, 4 * sizeof(uint64_t), gsl_x_set, gsl_x_get,
    gsl_x_get_double,
};

gsl_rng *rng_gsl(rng_t *r)
{
    r->g.type = &gsl_xoshiro_type;
    r->g.state = r->s;
    return &r->g;
}
