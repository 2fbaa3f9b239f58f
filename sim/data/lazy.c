/* Lazily generated training data (see ds_lazy in dataset.h). The cache is per thread and
 * holds one client's samples; a sample's value never depends on the cache, only on the
 * generator, so results are the same for any thread count. */
#include "data/lazy.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

static _Atomic uint64_t next_id = 1;

uint64_t ds_lazy_new_id(void)
{
    return next_id++;
}

static _Thread_local struct {
    uint64_t id;
    uint32_t client;
    float *x;
    int32_t *y;
    size_t cap; /* samples */
} cache;

void ds_lazy_free(ds_lazy *lz)
{
    if (!lz) return;
    free(lz->off);
    free(lz->gen);
    free(lz);
}

/* client holding sample id i: the last k with off[k] <= i */
static uint32_t client_of(const ds_lazy *lz, uint32_t i)
{
    uint32_t lo = 0, hi = lz->n_clients;
    while (hi - lo > 1) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (lz->off[mid] <= i)
            lo = mid;
        else
            hi = mid;
    }
    return lo;
}

void ds_lazy_gather(const dataset *ds, const uint32_t *idx, size_t b, float *x_out, int32_t *y_out)
{
    const ds_lazy *lz = ds->lazy;
    const size_t f = ds->feat, yl = (size_t)ds->y_len;
    for (size_t r = 0; r < b; r++) {
        uint32_t c = client_of(lz, idx[r]);
        if (cache.id != lz->id || cache.client != c || !cache.x) {
            size_t n = lz->off[c + 1] - lz->off[c];
            if (n > cache.cap) {
                float *x = realloc(cache.x, n * f * sizeof(float));
                int32_t *y = x ? realloc(cache.y, n * yl * sizeof(int32_t)) : NULL;
                FS_CHECK(x && y); /* one client's samples; a few KB to MB */
                cache.x = x;
                cache.y = y;
                cache.cap = n;
            }
            lz->fill(lz, c, cache.x, cache.y);
            cache.id = lz->id;
            cache.client = c;
        }
        size_t j = idx[r] - lz->off[c];
        memcpy(x_out + r * f, cache.x + j * f, f * sizeof(float));
        memcpy(y_out + r * yl, cache.y + j * yl, yl * sizeof(int32_t));
    }
}
