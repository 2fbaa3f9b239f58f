/* Shared by the algorithm tests (header only; include after cmocka.h): a small float dataset,
 * partitions with given client sizes, and a federation (server, aggregate, client states, two
 * workers, FED_MAXC result slots; with FL_TESTUTIL_FED) driven round by round as the engine
 * does. */
#ifndef FEDSIM_FL_TESTUTIL_H
#define FEDSIM_FL_TESTUTIL_H

#include <stdlib.h>
#include <string.h>

#include "data/dataset.h"
#include "data/partition.h"
#include "fl/algorithm.h"
#include "fl/client_state.h"
#include "nn/model.h"
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

#ifdef FL_TESTUTIL_FED /* the tests that drive a fed define this before the include */
#define FED_MAXC 32    /* result slots of a fed: clients trained per chunk at most */

typedef struct fed {
    const fl_algorithm *a;
    fl_server srv;
    fl_cstate *cs;
    fl_agg agg;
    fl_client_result res[FED_MAXC];
    float *buf;
    nn_worker w[2];
} fed;

static inline void fed_init(fed *f, const char *algo, const fl_params *p, const nn_model *m,
                            uint32_t N, size_t mem_cap, int max_batch)
{
    memset(f, 0, sizeof *f);
    f->a = fl_find(algo);
    assert_non_null(f->a);
    const size_t np = m->n_params;
    assert_int_equal(fl_server_init(&f->srv, f->a, p, np, N), FS_OK);
    assert_int_equal(fl_agg_init(&f->agg, np, f->a->two_uploads), FS_OK);
    if (f->a->state_vecs) assert_int_equal(fl_cstate_new(&f->cs, np, mem_cap, NULL), FS_OK);
    f->buf = calloc((size_t)FED_MAXC * 3 * np, sizeof(float));
    for (int k = 0; k < FED_MAXC; k++) {
        f->res[k].update = f->buf + (size_t)(3 * k) * np;
        f->res[k].update2 = f->buf + (size_t)(3 * k + 1) * np;
        f->res[k].state = f->buf + (size_t)(3 * k + 2) * np;
    }
    for (int t = 0; t < 2; t++) assert_int_equal(nn_worker_init(&f->w[t], m, max_batch), FS_OK);
}

static inline void fed_free(fed *f)
{
    fl_server_free(&f->srv);
    fl_agg_free(&f->agg);
    fl_cstate_free(f->cs);
    free(f->buf);
    for (int t = 0; t < 2; t++) nn_worker_free(&f->w[t]);
}

/* One round: clients[0..n) train from global, in chunks of `chunk` (as the engine does). */
static inline void fed_round(fed *f, const fl_round_ctx *base, uint32_t round, float *global,
                             const uint32_t *clients, int n, int threads, int chunk)
{
    fl_round_ctx ctx = *base;
    ctx.global = global;
    ctx.round = round;
    ctx.p = &f->srv.p;
    ctx.bcast = f->srv.bcast;
    fl_agg_reset(&f->agg);
    for (int s = 0; s < n; s += chunk) {
        int c = n - s < chunk ? n - s : chunk;
        assert_int_equal(fl_train_clients(f->a, &ctx, clients + s, c, f->res, f->w, threads, f->cs,
                                          NULL, &f->agg),
                         FS_OK);
    }
    fl_server_step(&f->srv, global, &f->agg);
}

static inline void assert_same_bits(const float *a, const float *b, size_t n)
{
    size_t diff = 0;
    for (size_t i = 0; i < n; i++) diff += memcmp(&a[i], &b[i], sizeof(float)) != 0;
    if (diff) fail_msg("%zu of %zu parameters differ", diff, n);
}

#endif

#endif
