/* Model checkpoints in HDF5 (docs/models.md, "Checkpoints"). One file holds one model:
 *   /                      attributes format = "fedsim-checkpoint", version = 1, model (name),
 *                          architecture (one layer spec per line, nn_spec_format), input_shape
 *                          int32[3], n_classes, n_params, tensors (their names, one per line),
 *                          dataset, scenario, round, vocab (sequence models: the symbols,
 *                          token id = position)
 *   /<layer>/<tensor>      float32 with PyTorch's name and shape, e.g. /conv2d1/weight
 *                          (6, 1, 5, 5), /lstm1/weight_ih (1024, 8), /dense3/bias (10)
 * Values round-trip bit-exactly. Files are written to <path>.tmp and renamed, so a checkpoint
 * is never half-written. Loading into a model checks every tensor's name and shape and fails
 * with FS_EINPUT naming the first tensor that does not match. */
#ifndef FEDSIM_CHECKPOINT_H
#define FEDSIM_CHECKPOINT_H

#include "nn/model.h"
#include "util/err.h"

#define NN_CKPT_FORMAT  "fedsim-checkpoint"
#define NN_CKPT_VERSION 1

typedef struct nn_ckpt_meta {
    char dataset[64];   /* name of the training data */
    char scenario[256]; /* run that wrote it */
    char vocab[260];    /* sequence models: n_classes symbols; else "" */
    int round;          /* rounds (or central epochs) trained */
} nn_ckpt_meta;

/* Write params (m->n_params) of m with meta (may be NULL) to path. */
fs_err nn_ckpt_save(const char *path, const nn_model *m, const float *params,
                    const nn_ckpt_meta *meta);

/* Read the parameters of a checkpoint of the same architecture as m into params
 * (m->n_params); meta (may be NULL) gets the file's metadata. FS_EINPUT when the file is
 * missing or the architecture differs (naming the first mismatching tensor), FS_EDATA when it
 * is not a readable fedsim checkpoint. */
fs_err nn_ckpt_load_params(const char *path, const nn_model *m, float *params, nn_ckpt_meta *meta);

/* Rebuild the model a checkpoint describes and read its parameters into *params (allocated
 * here, free() it). in (may be NULL) replaces the stored input shape: a sequence model built
 * for T steps runs on any T (generation uses T = 1). */
fs_err nn_ckpt_load_model(const char *path, const int in[3], nn_model *m, float **params,
                          nn_ckpt_meta *meta);

#endif
