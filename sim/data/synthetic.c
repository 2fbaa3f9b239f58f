/* Synthetic(alpha, beta) (Li et al., MLSys 2020, Section 5.1 and their generator script):
 *   u_k ~ N(0, alpha), B_k ~ N(0, beta)                    (alpha, beta are variances)
 *   W_k[i][j] ~ N(u_k, 1), b_k[i] ~ N(u_k, 1)              (classes x dim, classes)
 *   v_k[j] ~ N(B_k, 1);  x ~ N(v_k, Sigma), Sigma_jj = j^-1.2
 *   y = argmax softmax(W_k x + b_k)
 *   n_k = floor(lognormal(4, 2)) + 50 samples, as in the authors' generator.
 * Client k draws from its own stream (RNG_SYNTH, k), so clients are independent of each other
 * and of how many there are. The last test_fraction of each client's samples form the test set. */
#include "data/synthetic.h"

#include <gsl/gsl_randist.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/importers.h"
#include "util/rng.h"

fs_err synth_generate(const synth_cfg *c, dataset *ds)
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

    const int D = c->dim, K = c->classes;
    size_t *nk = FS_CALLOC((size_t)c->clients, sizeof *nk);
    size_t *nt = FS_CALLOC((size_t)c->clients, sizeof *nt);
    double *W = FS_CALLOC((size_t)K * D + K + 2 * (size_t)D, sizeof(double));
    if (!nk || !nt || !W) {
        free(nk);
        free(nt);
        free(W);
        return FS_ENOMEM;
    }
    double *b = W + (size_t)K * D, *v = b + K, *sd = v + D;
    for (int j = 0; j < D; j++) sd[j] = sqrt(pow(j + 1, -1.2));
    size_t n_train = 0, n_test = 0;
    for (int k = 0; k < c->clients; k++) {
        rng_t r;
        rng_init(&r, c->seed, RNG_SYNTH, (uint64_t)k, 1);
        size_t n = (size_t)floor(gsl_ran_lognormal(rng_gsl(&r), c->size_mean, c->size_sigma)) + 50;
        if (n > 100000) n = 100000; /* the lognormal(4, 2) tail; documented cap */
        nt[k] = (size_t)floor((double)n * c->test_fraction);
        nk[k] = n - nt[k];
        n_train += nk[k];
        n_test += nt[k];
    }
    fs_err e = ds_split_alloc(ds, &ds->train, n_train, 1);
    if (!e) e = ds_split_alloc(ds, &ds->test, n_test, 0);
    size_t it = 0, ie = 0;
    for (int k = 0; !e && k < c->clients; k++) {
        rng_t r;
        rng_init(&r, c->seed, RNG_SYNTH, (uint64_t)k, 2);
        double u = rng_normal(&r) * sqrt(c->alpha);
        double Bk = rng_normal(&r) * sqrt(c->beta);
        for (int i = 0; i < K * D; i++) W[i] = u + rng_normal(&r);
        for (int i = 0; i < K; i++) b[i] = u + rng_normal(&r);
        for (int j = 0; j < D; j++) v[j] = Bk + rng_normal(&r);
        for (size_t s = 0; s < nk[k] + nt[k]; s++) {
            int is_train = s < nk[k];
            float *x = (float *)(is_train ? ds->train.x : ds->test.x) + (is_train ? it : ie) * D;
            for (int j = 0; j < D; j++) x[j] = (float)(v[j] + sd[j] * rng_normal(&r));
            int best = 0;
            double bestz = -INFINITY;
            for (int i = 0; i < K; i++) {
                double z = b[i];
                for (int j = 0; j < D; j++) z += W[(size_t)i * D + j] * x[j];
                if (z > bestz) bestz = z, best = i;
            }
            if (is_train) {
                ds->train.y[it] = best;
                ds->train.client[it] = k;
                it++;
            } else {
                ds->test.y[ie++] = best;
            }
        }
    }
    free(nk);
    free(nt);
    free(W);
    if (e) ds_free(ds);
    return e;
}
