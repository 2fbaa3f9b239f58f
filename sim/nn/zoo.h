/* The model zoo and the scenario's model section -> nn_model. Zoo models (docs/models.md):
 *   logreg     flatten, dense(classes)
 *   mlp        flatten, (dense(h), relu) per hidden width, dense(classes)
 *   lenet      LeCun et al. 1998: conv 6@5x5, relu, maxpool 2, conv 16@5x5, relu, maxpool 2,
 *              dense 120, relu, dense 84, relu, dense(classes)
 *   cnn        McMahan et al. 2017 (FedAvg's CNN): conv 32@5x5 same, relu, maxpool 2,
 *              conv 64@5x5 same, relu, maxpool 2, dense 512, relu, dense(classes)
 *   char_lstm  LEAF's Shakespeare model (Caldas et al. 2018): embedding 8, lstm 256, lstm 256,
 *              dense(vocabulary) on every step
 * and "custom": a list of layer specs. The caller describes the model (nn_model_desc); the
 * scenario's model section is turned into one by config/model.c. */
#ifndef FEDSIM_ZOO_H
#define FEDSIM_ZOO_H

#include "nn/model.h"
#include "util/err.h"

typedef struct nn_zoo_args {
    const int *hidden; /* mlp widths */
    int n_hidden;
    const int *lstm; /* char_lstm LSTM widths; NULL: 256, 256 */
    int n_lstm;
    int embed; /* char_lstm embedding dimension; 0: 8 */
} nn_zoo_args;

/* "logreg | mlp | lenet | cnn | char_lstm" */
extern const char nn_zoo_names[];

fs_err nn_zoo_build_args(nn_model *m, const char *name, const nn_zoo_args *a, const int in[3],
                         int n_classes);

/* nn_zoo_build_args with only the mlp widths (char_lstm at its defaults). */
fs_err nn_zoo_build(nn_model *m, const char *name, const int *hidden, int n_hidden, const int in[3],
                    int n_classes);

/* A model to build: a zoo model with its arguments, or "custom" with its layer specs, and the
 * names of the layers to keep frozen (nn_model_freeze). */
typedef struct nn_model_desc {
    const char *name;            /* nn_zoo_names, or "custom" */
    nn_zoo_args args;            /* zoo models */
    const nn_layer_spec *layers; /* custom: n_layers specs */
    int n_layers;
    const char *const *where; /* custom: how an error names layer i (e.g. "model.layers[2] (line
                               * 8:7)"), prepended to nn_model_build's message; NULL: not */
    const char *const *freeze;
    int n_freeze;
} nn_model_desc;

/* The model d describes on data of input shape in[3] with n_classes classes (or symbols). */
fs_err nn_zoo_build_desc(nn_model *m, const nn_model_desc *d, const int in[3], int n_classes);

#endif
