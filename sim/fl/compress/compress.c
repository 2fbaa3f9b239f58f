/* The table of update compressors (compression.kind) and the bit packing their encodings share
 * (see compress.h). */
#include "fl/compress/compress.h"

#include <math.h>
#include <string.h>

extern const fl_compressor fl_cmp_topk, fl_cmp_randk, fl_cmp_qsgd, fl_cmp_sign, fl_cmp_powersgd;

static const fl_compressor *const all[] = {&fl_cmp_topk, &fl_cmp_randk, &fl_cmp_qsgd, &fl_cmp_sign,
                                           &fl_cmp_powersgd};

const fl_compressor *fl_cmp_find(const char *name)
{
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        if (strcmp(all[i]->name, name) == 0) return all[i];
    return NULL;
}

size_t fl_cmp_bytes(const fl_cmp *c)
{
    return c->kind->bytes(c);
}

size_t fl_cmp_scratch(const fl_cmp *c)
{
    return c->kind->scratch ? c->kind->scratch(c) : 0;
}

size_t fl_cmp_kept(const fl_cmp *c)
{
    double k = ceil(c->k * (double)c->d);
    if (k < 1) k = 1;
    return k > (double)c->d ? c->d : (size_t)k;
}

void fl_cmp_put_bits(uint8_t *buf, size_t pos, unsigned bits, uint32_t v)
{
    for (unsigned b = 0; b < bits; b++, pos++)
        if (v >> b & 1u) buf[pos >> 3] |= (uint8_t)(1u << (pos & 7));
}

uint32_t fl_cmp_get_bits(const uint8_t *buf, size_t pos, unsigned bits)
{
    uint32_t v = 0;
    for (unsigned b = 0; b < bits; b++, pos++)
        v |= (uint32_t)(buf[pos >> 3] >> (pos & 7) & 1u) << b;
    return v;
}

unsigned fl_cmp_index_bits(size_t d)
{
    unsigned b = 1;
    while (b < 64 && ((size_t)1 << b) < d) b++;
    return b;
}
