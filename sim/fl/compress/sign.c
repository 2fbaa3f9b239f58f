/* signSGD (compression.kind: sign): one bit per coordinate, the sign, and one float32 scale, the
 * mean magnitude ||x||_1 / d (the scaled sign of Karimireddy et al., "Error Feedback Fixes
 * SignSGD and other Gradient Compression Schemes", ICML 2019, so error feedback can be used).
 * The server aggregates by majority vote (Bernstein et al., "signSGD: Compressed Optimisation
 * for Non-Convex Problems", ICML 2018, and "signSGD with Majority Vote is Communication
 * Efficient and Fault Tolerant", ICLR 2019): the aggregate is sign(sum_k sign(x_k)) times the
 * clients' weighted mean scale (engine/comm.c). Zero counts as negative.
 * Encoding: the scale as float32, then d sign bits: 4 + ceil(d / 8) bytes. */
#include "fl/compress/compress.h"

#include <math.h>
#include <string.h>

static size_t bytes(const fl_cmp *c)
{
    return 4 + (c->d + 7) / 8;
}

static size_t encode(const fl_cmp *c, const float *x, rng_t *r, uint8_t *buf)
{
    (void)r;
    const size_t nb = bytes(c);
    memset(buf, 0, nb);
    double l1 = 0;
    for (size_t i = 0; i < c->d; i++) l1 += fabs((double)x[i]);
    const float s = c->d ? (float)(l1 / (double)c->d) : 0;
    memcpy(buf, &s, 4);
    for (size_t i = 0; i < c->d; i++)
        if (x[i] > 0) buf[4 + (i >> 3)] |= (uint8_t)(1u << (i & 7));
    return nb;
}

static void decode(const fl_cmp *c, const uint8_t *buf, float *out)
{
    float s;
    memcpy(&s, buf, 4);
    for (size_t i = 0; i < c->d; i++) out[i] = buf[4 + (i >> 3)] >> (i & 7) & 1u ? s : -s;
}

const fl_compressor fl_cmp_sign = {"sign", "Bernstein et al. 2018", 1, bytes, encode, decode, NULL};
