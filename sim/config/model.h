/* The scenario's model section as a model (sim/config/model.c): what nn/zoo.c builds, described
 * from model.name, model.hidden, model.lstm_units, model.embedding_dim, model.layers and
 * model.freeze, so the kernel layer never reads the scenario format. */
#ifndef FEDSIM_CONFIG_MODEL_H
#define FEDSIM_CONFIG_MODEL_H

#include "config/config.h"
#include "nn/model.h"
#include "util/err.h"

/* The model c names on data of input shape in[3] with n_classes classes (or symbols), frozen
 * per model.freeze. Shape errors name the layer and, for custom models, where it was given
 * (model.layers[i], line:col). */
fs_err cfg_build_model(nn_model *m, const cfg *c, const int in[3], int n_classes);

#endif
