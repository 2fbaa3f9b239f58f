/* Synthetic(alpha, beta) (Li et al., MLSys 2020, Section 5.1 and their generator script):
 *   u_k ~ N(0, alpha), B_k ~ N(0, beta)                    (alpha, beta are variances)
 *   W_k[i][j] ~ N(u_k, 1), b_k[i] ~ N(u_k, 1)              (classes x dim, classes)
 *   v_k[j] ~ N(B_k, 1);  x ~ N(v_k, Sigma), Sigma_jj = j^-1.2
 *   y = argmax softmax(W_k x + b_k)
 *   n_k = floor(lognormal(size_mean, size_sigma)) + min_size samples (the authors' generator:
 *   lognormal(4, 2) + 50), capped at 100,000.
 * synthetic_iid (the authors' generate_iid.py; synth_cfg.iid): W[i][j], b[i] ~ N(0, 1) drawn
 * once for all clients from (RNG_SYNTH, SYNTH_SHARED), v = 0; alpha and beta are unused. Only
 * this variant has a population-level model: with independent W_k (alpha, beta >= 0) a single
 * global model has no signal beyond the label marginals once the population is large (pooled
 * central training on 2,000 synthetic(1, 1) clients: 16 % test accuracy, loss above ln 10).
 * Client k draws from its own streams (RNG_SYNTH, k), so clients are independent of each other
 * and of how many there are. The last test_fraction of each client's samples form the test set.
 * Lazy mode generates a client's training samples when it trains (same values as eager mode)
 * and keeps the test samples of at most 1,000 evenly spaced clients. Generation polls the stop
 * flag once per client (FS_EINTR). */
#include "data/synthetic.h"

#include <gsl/gsl_randist.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/importers.h"
#include "util/rng.h"

#define LAZY_TEST_CLIENTS 1000
#define SYNTH_SHARED      UINT64_MAX /* entity of the iid variant's shared model (no client has it) */

static void client_sizes(const synth_cfg *c, int k, size_t *n_train, size_t *n_test)
{
    rng_t r;
    rng_init(&r, c->seed, RNG_SYNTH, (uint64_t)k, 1);
    size_t n = (size_t)floor(gsl_ran_lognormal(rng_gsl(&r), c->size_mean, c->size_sigma)) +
               (size_t)c->min_size;
    if (n > 100000) n = 100000;
    *n_test = (size_t)floor((double)n * c->test_fraction);
    *n_train = n - *n_test;
}

/* Client k's samples: the first n_train to (xt, yt), the next n_test to (xe, ye) (may be
 * NULL when n_test = 0 is wanted: then only training samples are drawn). */
static void client_samples(const synth_cfg *c, int k, size_t n_train, size_t n_test, float *xt,
                           int32_t *yt, float *xe, int32_t *ye)
{
    const int D = c->dim, K = c->classes;
    double *W = malloc(((size_t)K * D + K + 2 * (size_t)D) * sizeof(double));
    FS_CHECK(W); /* a client's generator: classes x dim doubles */
    double *b = W + (size_t)K * D, *v = b + K, *sd = v + D;
    for (int j = 0; j < D; j++) sd[j] = sqrt(pow(j + 1, -1.2));
    rng_t r;
    if (c->iid) {
        rng_init(&r, c->seed, RNG_SYNTH, SYNTH_SHARED, 2);
        for (int i = 0; i < K * D; i++) W[i] = rng_normal(&r);
        for (int i = 0; i < K; i++) b[i] = rng_normal(&r);
        for (int j = 0; j < D; j++) v[j] = 0;
        rng_init(&r, c->seed, RNG_SYNTH, (uint64_t)k, 2);
    } else {
        rng_init(&r, c->seed, RNG_SYNTH, (uint64_t)k, 2);
        double u = rng_normal(&r) * sqrt(c->alpha);
        double Bk = rng_normal(&r) * sqrt(c->beta);
        for (int i = 0; i < K * D; i++) W[i] = u + rng_normal(&r);
        for (int i = 0; i < K; i++) b[i] = u + rng_normal(&r);
        for (int j = 0; j < D; j++) v[j] = Bk + rng_normal(&r);
    }
    for (size_t s = 0; s < n_train + n_test; s++) {
        int is_train = s < n_train;
        float *x = is_train ? xt + s * (size_t)D : xe + (s - n_train) * (size_t)D;
        for (int j = 0; j < D; j++) x[j] = (float)(v[j] + sd[j] * rng_normal(&r));
        int best = 0;
        double bestz = -INFINITY;
        for (int i = 0; i < K; i++) {
            double z = b[i];
            for (int j = 0; j < D; j++) z += W[(size_t)i * D + j] * x[j];
            if (z > bestz) bestz = z, best = i;
        }
        if (is_train)
            yt[s] = best;
        else
            ye[s - n_train] = best;
    }
    free(W);
}

static void lazy_fill(const ds_lazy *lz, uint32_t client, float *x, int32_t *y)
{
    const synth_cfg *c = lz->gen;
    client_samples(c, (int)client, lz->off[client + 1] - lz->off[client], 0, x, y, NULL, NULL);
}

static void describe(const synth_cfg *c, dataset *ds)
{
    memset(ds, 0, sizeof *ds);
    snprintf(ds->name, sizeof ds->name, "synthetic(%g,%g)", c->alpha, c->beta);
    snprintf(ds->source, sizeof ds->source,
             "generated: synthetic(alpha=%g, beta=%g) of Li et al. 2020, %d clients, seed %llu",
             c->alpha, c->beta, c->clients, (unsigned long long)c->seed);
    imp_set_date(ds);
    snprintf(ds->checksum, sizeof ds->checksum, "generated");
    ds->dtype = DS_F32;
    ds->task = DS_CLASSIFY;
    ds->shape[0] = ds->shape[1] = 1;
    ds->shape[2] = c->dim;
    ds->feat = (size_t)c->dim;
    ds->y_len = 1;
    ds->n_classes = c->classes;
    ds->x_scale = 1.0f;
    ds->n_natural = c->clients;
}

static fs_err generate_lazy(const synth_cfg *c, dataset *ds)
{
    ds_lazy *lz = FS_CALLOC(1, sizeof *lz);
    if (!lz) return FS_ENOMEM;
    ds->lazy = lz;
    lz->id = ds_lazy_new_id();
    lz->n_clients = (uint32_t)c->clients;
    lz->fill = lazy_fill;
    lz->off = FS_CALLOC((size_t)c->clients + 1, sizeof *lz->off);
    lz->gen = FS_CALLOC(1, sizeof *c);
    if (!lz->off || !lz->gen) return FS_ENOMEM;
    memcpy(lz->gen, c, sizeof *c);
    const int stride = c->clients > LAZY_TEST_CLIENTS ? c->clients / LAZY_TEST_CLIENTS : 1;
    size_t n_test = 0;
    /* sizes in parallel (each client has its own stream: same values for any thread count),
     * stored in off[k + 1] for now, then the prefix sum */
#pragma omp parallel for schedule(static)
    for (int k = 0; k < c->clients; k++) {
        size_t nk, nt;
        client_sizes(c, k, &nk, &nt);
        lz->off[k + 1] = nk > UINT32_MAX ? UINT32_MAX : (uint32_t)nk;
    }
    for (int k = 0; k < c->clients; k++) {
        size_t nk = lz->off[k + 1], nt;
        if (k % stride == 0) client_sizes(c, k, &nk, &nt);
        if ((uint64_t)lz->off[k] + nk > UINT32_MAX)
            return fs_error(FS_EINPUT, "synthetic: more than 2^32 training samples");
        lz->off[k + 1] = lz->off[k] + (uint32_t)nk;
        if (k % stride == 0) n_test += nt;
    }
    ds->train.n = lz->off[c->clients];
    fs_err e = ds_split_alloc(ds, &ds->test, n_test, 0);
    if (e) return e;
    /* the test samples of every stride-th client, generated in parallel: each client's
     * samples come from its own stream, and each client's place in the split is fixed first */
    const int n_tc = (c->clients + stride - 1) / stride;
    size_t *at = FS_CALLOC((size_t)n_tc + 1, sizeof *at);
    if (!at) return FS_ENOMEM;
    for (int i = 0; i < n_tc; i++) {
        size_t nk, nt;
        client_sizes(c, i * stride, &nk, &nt);
        at[i + 1] = at[i] + nt;
    }
    int failed = 0;
#pragma omp parallel reduction(| : failed)
    {
        float *xt = NULL;
        int32_t *yt = NULL;
        size_t cap = 0;
#pragma omp for schedule(dynamic, 16)
        for (int i = 0; i < n_tc; i++) {
            if (fs_stop_flag) continue; /* a signal: skip the rest, reported below */
            size_t nk, nt;
            client_sizes(c, i * stride, &nk, &nt);
            if (nk > cap) {
                free(xt);
                free(yt);
                cap = nk;
                xt = malloc(cap * (size_t)c->dim * sizeof(float));
                yt = malloc(cap * sizeof(int32_t));
            }
            if (nk > 0 && (!xt || !yt)) {
                failed = 1;
                cap = 0;
                continue;
            }
            client_samples(c, i * stride, nk, nt, xt, yt,
                           (float *)ds->test.x + at[i] * (size_t)c->dim, ds->test.y + at[i]);
        }
        free(xt);
        free(yt);
    }
    free(at);
    if (failed) return fs_error(FS_ENOMEM, "synthetic: out of memory generating the test set");
    return e ? e : fs_stopped();
}

fs_err synth_generate(const synth_cfg *c, dataset *ds)
{
    describe(c, ds);
    if (c->lazy) {
        fs_err e = generate_lazy(c, ds);
        if (e) ds_free(ds);
        return e;
    }
    size_t *nk = FS_CALLOC((size_t)c->clients, sizeof *nk);
    size_t *nt = FS_CALLOC((size_t)c->clients, sizeof *nt);
    if (!nk || !nt) {
        free(nk);
        free(nt);
        return FS_ENOMEM;
    }
    size_t n_train = 0, n_test = 0;
    for (int k = 0; k < c->clients; k++) {
        client_sizes(c, k, &nk[k], &nt[k]);
        n_train += nk[k];
        n_test += nt[k];
    }
    fs_err e = ds_split_alloc(ds, &ds->train, n_train, 1);
    if (!e) e = ds_split_alloc(ds, &ds->test, n_test, 0);
    size_t it = 0, ie = 0;
    for (int k = 0; !e && k < c->clients; k++) {
        if ((e = fs_stopped())) break;
        client_samples(c, k, nk[k], nt[k], (float *)ds->train.x + it * (size_t)c->dim,
                       ds->train.y + it, (float *)ds->test.x + ie * (size_t)c->dim,
                       ds->test.y + ie);
        for (size_t s = 0; s < nk[k]; s++) ds->train.client[it + s] = k;
        it += nk[k];
        ie += nt[k];
    }
    free(nk);
    free(nt);
    if (e) ds_free(ds);
    return e;
}
