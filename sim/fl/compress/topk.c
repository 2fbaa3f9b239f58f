/* Top-k sparsification (compression.kind: topk): the k = ceil(k_frac d) coordinates of largest
 * magnitude, the rest dropped; with error feedback the dropped mass is kept by the client and
 * added to its next update (Stich, Cordonnier and Jaggi, "Sparsified SGD with Memory", NeurIPS
 * 2018; Aji and Heafield 2017). Ties at the threshold go to the lower index.
 * Encoding: k indices, ascending, ceil(log2 d) bits each, bit-packed, then k float32 values:
 * ceil(k ceil(log2 d) / 8) + 4k bytes. */
#include "fl/compress/compress.h"
#include "util/err.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static size_t bytes(const fl_cmp *c)
{
    const size_t k = fl_cmp_kept(c);
    return (k * fl_cmp_index_bits(c->d) + 7) / 8 + 4 * k;
}

/* the k-th largest of a[0..n) (1 <= k <= n), by quickselect; a is reordered */
static float kth_largest(float *a, size_t n, size_t k)
{
    size_t lo = 0, hi = n - 1, want = k - 1;
    while (lo < hi) {
        const float piv = a[lo + (hi - lo) / 2];
        size_t i = lo, j = hi;
        while (i <= j) {
            while (a[i] > piv) i++;
            while (a[j] < piv) j--;
            if (i <= j) {
                float t = a[i];
                a[i] = a[j];
                a[j] = t;
                i++;
                if (j == 0) break;
                j--;
            }
        }
        if (want <= j)
            hi = j;
        else if (want >= i)
            lo = i;
        else
            return a[want];
    }
    return a[want];
}

static size_t encode(const fl_cmp *c, const float *x, rng_t *r, uint8_t *buf)
{
    (void)r;
    const size_t d = c->d, k = fl_cmp_kept(c), nb = bytes(c);
    const unsigned ib = fl_cmp_index_bits(d);
    memset(buf, 0, nb);
    float *a = malloc(d * sizeof *a);
    FS_CHECK(a);
    for (size_t i = 0; i < d; i++) a[i] = fabsf(x[i]);
    const float thr = kth_largest(a, d, k);
    free(a);
    size_t above = 0;
    for (size_t i = 0; i < d; i++) above += fabsf(x[i]) > thr;
    size_t ties = k - above, n = 0; /* of the coordinates equal to thr, the first `ties` */
    uint8_t *val = buf + (k * ib + 7) / 8;
    for (size_t i = 0; i < d && n < k; i++) {
        const float m = fabsf(x[i]);
        if (!(m > thr) && !(m == thr && ties > 0)) continue;
        if (!(m > thr)) ties--;
        fl_cmp_put_bits(buf, n * ib, ib, (uint32_t)i);
        memcpy(val + 4 * n, &x[i], 4);
        n++;
    }
    FS_CHECK(n == k);
    return nb;
}

static void decode(const fl_cmp *c, const uint8_t *buf, float *out)
{
    const size_t d = c->d, k = fl_cmp_kept(c);
    const unsigned ib = fl_cmp_index_bits(d);
    const uint8_t *val = buf + (k * ib + 7) / 8;
    memset(out, 0, d * sizeof *out);
    for (size_t n = 0; n < k; n++) {
        const uint32_t i = fl_cmp_get_bits(buf, n * ib, ib);
        FS_CHECK(i < d);
        memcpy(&out[i], val + 4 * n, 4);
    }
}

/* encode's |x| copy for the selection */
static size_t scratch(const fl_cmp *c)
{
    return c->d * sizeof(float);
}

const fl_compressor fl_cmp_topk = {"topk", "Stich et al. 2018", 0, bytes, encode, decode, scratch};
