/* Central (pooled) training: minibatch SGD over a whole dataset split on one worker, the
 * usual upper-bound baseline of federated learning and the way to make a pretrained
 * checkpoint (`fedsim train-central`). Deterministic: the order of each epoch comes from the
 * stream (seed, RNG_TRAIN, NN_CENTRAL_ENTITY, epoch), dropout masks from
 * (seed, RNG_LAYER_DROP, NN_CENTRAL_ENTITY, epoch). */
#ifndef FEDSIM_NN_TRAIN_H
#define FEDSIM_NN_TRAIN_H

#include <stddef.h>
#include <stdint.h>

#include "data/dataset.h"
#include "nn/model.h"
#include "nn/optim.h"

#define NN_CENTRAL_ENTITY UINT32_MAX /* no client has this id */

typedef struct nn_central {
    nn_sgd sgd;
    int batch; /* <= the worker's max_batch */
    uint64_t seed;
    int first;       /* optimiser: 1 until the first momentum step (set it to 1 to start) */
    uint32_t *order; /* (n) scratch, owned; allocated by nn_central_epoch */
    size_t order_n;
} nn_central;

/* One epoch over split s (all n samples, shuffled, the last batch smaller); frozen layers
 * stay fixed. Returns the mean minibatch loss; *steps (optional) gets the steps taken. */
fs_err nn_central_epoch(nn_central *t, nn_worker *w, float *params, const dataset *ds,
                        const ds_split *s, int epoch, double *loss, long *steps);

/* Score the b samples the caller put in w's input and labels (inference mode): *lsum += their
 * summed loss, *hits += correct predictions (per target). The evaluations below and the
 * per-client ones of sim/fl (which transform the gathered batch first) all go through it. */
void nn_eval_batch(nn_worker *w, const float *params, int b, double *lsum, long *hits);
/* nn_eval_batch that also adds the batch's argmax predictions to conf (n_classes x n_classes,
 * row = true class; sequence models count every labelled step), or not when conf is NULL. */
void nn_eval_batch_conf(nn_worker *w, const float *params, int b, double *lsum, long *hits,
                        long *conf);

/* Loss and accuracy of params on the samples idx[0..n) of split s, in batches of the worker's
 * size (inference mode). */
void nn_evaluate_idx(nn_worker *w, const float *params, const dataset *ds, const ds_split *s,
                     const uint32_t *idx, size_t n, double *loss, double *acc);
/* Mean loss and accuracy (per target: per character for sequences) of params on the first
 * max_n samples of s (0: all), in batches of the worker's max_batch, inference mode. */
void nn_central_evaluate(nn_worker *w, const float *params, const dataset *ds, const ds_split *s,
                         size_t max_n, double *loss, double *acc);

/* nn_central_evaluate that also accumulates the confusion matrix into conf (may be NULL). */
void nn_central_evaluate_conf(nn_worker *w, const float *params, const dataset *ds,
                              const ds_split *s, size_t max_n, double *loss, double *acc,
                              long *conf);

void nn_central_free(nn_central *t);

#endif
