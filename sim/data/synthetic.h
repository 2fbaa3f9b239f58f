/* Synthetic(alpha, beta) of Li et al., "Federated Optimization in Heterogeneous Networks"
 * (FedProx, MLSys 2020), Section 5.1: per-client models and feature distributions; or their
 * synthetic_iid (one model and one feature distribution for every client). */
#ifndef FEDSIM_SYNTHETIC_H
#define FEDSIM_SYNTHETIC_H

#include "data/dataset.h"

typedef struct synth_cfg {
    int clients;
    double alpha, beta;
    int dim, classes;
    double size_mean, size_sigma; /* client size = floor(lognormal(mean, sigma)) + min_size */
    int min_size;                 /* 50 in Li et al.'s generator */
    int lazy;                     /* generate training samples when a client trains */
    int iid;                      /* Li et al.'s synthetic_iid: one W, b for all, x ~ N(0, Sigma) */
    double test_fraction;         /* of each client's samples, held out into the test split */
    uint64_t seed;
} synth_cfg;

/* Generate into ds (float32 features, natural client ids in train.client). */
fs_err synth_generate(const synth_cfg *c, dataset *ds);

#endif
