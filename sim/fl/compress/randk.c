/* Random-k sparsification (compression.kind: randk): k = ceil(k_frac d) coordinates chosen
 * uniformly without replacement, unscaled, so that error feedback keeps the rest (Stich,
 * Cordonnier and Jaggi, "Sparsified SGD with Memory", NeurIPS 2018, rand-k with memory; without
 * error feedback it is a biased, contractive compressor).
 * Encoding: a 64-bit seed drawn from the client's keyed stream, then the k float32 values in
 * index order: 8 + 4k bytes. The server regenerates the indices from the seed by selection
 * sampling (Knuth's algorithm S), so no index is sent. */
#include "fl/compress/compress.h"

#include <string.h>

static size_t bytes(const fl_cmp *c)
{
    return 8 + 4 * fl_cmp_kept(c);
}

/* Calls visit(i) for the k chosen indices of d, ascending, from the seed. */
#define FOR_CHOSEN(c, seed, BODY)                                                                  \
    do {                                                                                           \
        rng_t s_;                                                                                  \
        rng_init(&s_, (seed), RNG_COMPRESS, 0, 0);                                                 \
        size_t need_ = fl_cmp_kept(c), left_ = (c)->d;                                             \
        for (size_t i = 0; i < (c)->d && need_ > 0; i++, left_--)                                  \
            if (need_ == left_ || (double)left_ * rng_uniform(&s_) < (double)need_) {              \
                need_--;                                                                           \
                BODY;                                                                              \
            }                                                                                      \
    } while (0)

static size_t encode(const fl_cmp *c, const float *x, rng_t *r, uint8_t *buf)
{
    const uint64_t seed = rng_u64(r);
    memcpy(buf, &seed, 8);
    size_t n = 0;
    FOR_CHOSEN(c, seed, memcpy(buf + 8 + 4 * n++, &x[i], 4));
    return bytes(c);
}

static void decode(const fl_cmp *c, const uint8_t *buf, float *out)
{
    uint64_t seed;
    memcpy(&seed, buf, 8);
    memset(out, 0, c->d * sizeof *out);
    size_t n = 0;
    FOR_CHOSEN(c, seed, memcpy(&out[i], buf + 8 + 4 * n++, 4));
}

const fl_compressor fl_cmp_randk = {"randk", "Stich et al. 2018", 0, bytes, encode, decode, NULL};
