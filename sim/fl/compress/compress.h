/* Update compressors (compression.kind; docs/efficiency.md): what a client uploads instead of its
 * dense float32 update, and how the server turns it back into a vector. Each compressor is one
 * file citing its paper; this header is their common contract:
 *   fl_cmp_bytes   the exact size of the encoding of a d-vector, a function of (kind, d,
 *                  parameters) only, so the schedule can charge the upload before training;
 *   encode         writes exactly fl_cmp_bytes bytes (indices, values, scales, bit-packed) from
 *                  x (d) and the client's keyed stream r (rand-k's seed, QSGD's rounding,
 *                  PowerSGD's start), and nothing else;
 *   decode         reads only those bytes and writes the vector the server aggregates (d).
 * The decoded vector is what the client's error feedback subtracts (engine/comm.c). Pure
 * functions of their inputs: the same bits on any thread. */
#ifndef FEDSIM_COMPRESS_H
#define FEDSIM_COMPRESS_H

#include <stddef.h>
#include <stdint.h>

#include "util/rng.h"

#define FL_CMP_BLOCKS_MAX 64

/* A matrix view of part of the vector (PowerSGD): rows x cols floats at off, row-major. */
typedef struct fl_cmp_block {
    size_t off, rows, cols;
} fl_cmp_block;

typedef struct fl_compressor fl_compressor;

typedef struct fl_cmp {
    const fl_compressor *kind;
    size_t d;     /* coordinates of the vector */
    double k;     /* top-k / random-k: fraction of the coordinates kept, in (0, 1] */
    int bits;     /* QSGD: bits per coordinate, 1..16 */
    int rank;     /* PowerSGD: rank r >= 1 */
    int n_blocks; /* PowerSGD: matrices (coordinates outside them are sent as float32) */
    fl_cmp_block blocks[FL_CMP_BLOCKS_MAX];
} fl_cmp;

struct fl_compressor {
    const char *name;
    const char *cite;
    int vote; /* 1: the server aggregates by majority vote of signs (signSGD) */
    size_t (*bytes)(const fl_cmp *c);
    size_t (*encode)(const fl_cmp *c, const float *x, rng_t *r, uint8_t *buf);
    void (*decode)(const fl_cmp *c, const uint8_t *buf, float *out);
    /* bytes encode allocates for itself while it runs (NULL: none); one call per thread at a
     * time, so the memory estimate counts it once per encoding thread */
    size_t (*scratch)(const fl_cmp *c);
};

/* The compressor called name (topk, randk, qsgd, sign, powersgd); NULL if unknown. */
const fl_compressor *fl_cmp_find(const char *name);
/* Exact encoded size of a c->d-vector, in bytes. */
size_t fl_cmp_bytes(const fl_cmp *c);
/* Bytes one encode call allocates for itself (0 for most kinds). */
size_t fl_cmp_scratch(const fl_cmp *c);
/* Kept coordinates of top-k / random-k: ceil(k d), at least 1, at most d. */
size_t fl_cmp_kept(const fl_cmp *c);

/* Little-endian bit packing shared by the encoders: value v (its low `bits` bits) at bit
 * position pos of buf (zeroed beforehand). */
void fl_cmp_put_bits(uint8_t *buf, size_t pos, unsigned bits, uint32_t v);
uint32_t fl_cmp_get_bits(const uint8_t *buf, size_t pos, unsigned bits);
/* Bits needed for an index below d (at least 1). */
unsigned fl_cmp_index_bits(size_t d);

#endif
