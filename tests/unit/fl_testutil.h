/* Shared by the algorithm tests (header only; include after cmocka.h): a small float dataset
 * and partitions with given client sizes. */
#ifndef FEDSIM_FL_TESTUTIL_H
#define FEDSIM_FL_TESTUTIL_H

#include <stdlib.h>
#include <string.h>

#include "data/dataset.h"
#include "data/partition.h"
#include "util/rng.h"

/* 3 classes, 8 float features, n samples (class i % 3, mean shifted by the class) */
static inline void make_data_n(dataset *ds, size_t n)
{
    memset(ds, 0, sizeof *ds);
    ds->dtype = DS_F32;
    ds->task = DS_CLASSIFY;
    ds->shape[0] = ds->shape[1] = 1;
    ds->shape[2] = 8;
    ds->feat = 8;
    ds->y_len = 1;
    ds->n_classes = 3;
    ds->x_scale = 1;
    assert_int_equal(ds_split_alloc(ds, &ds->train, n, 0), FS_OK);
    rng_t r;
    rng_init(&r, 5, RNG_TEST, 0, 0);
    float *x = ds->train.x;
    for (size_t i = 0; i < n; i++) {
        ds->train.y[i] = (int32_t)(i % 3);
        for (int j = 0; j < 8; j++)
            x[i * 8 + j] = (float)(rng_normal(&r) + (j % 3 == (int)(i % 3)));
    }
}

/* A partition with the given client sizes over samples 0..sum-1 in order. */
static inline void make_part(partition *p, const uint32_t *sizes, uint32_t n)
{
    memset(p, 0, sizeof *p);
    p->n_clients = n;
    p->off = calloc(n + 1, sizeof *p->off);
    for (uint32_t c = 0; c < n; c++) p->off[c + 1] = p->off[c] + sizes[c];
    p->n_samples = p->off[n];
    p->idx = calloc(p->n_samples + 1, sizeof *p->idx);
    for (size_t i = 0; i < p->n_samples; i++) p->idx[i] = (uint32_t)i;
}

#endif
