/* Models: an architecture (nn_model: layer shapes and offsets, no storage) apart from its
 * storage. Parameters live in ONE contiguous float buffer of n_params; each layer holds its
 * offset into it. A worker (nn_worker) owns the per-thread buffers for one model: activations
 * for up to max_batch samples, their gradients, layer caches, scratch space and the gradient
 * buffer. Thousands of virtual clients are thousands of parameter vectors (or none), never
 * thousands of models. Nothing is allocated inside a training step. */
#ifndef FEDSIM_MODEL_H
#define FEDSIM_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "util/err.h"
#include "util/rng.h"

#define NN_MAX_LAYERS 32
#define NN_NAME       32

typedef enum nn_kind {
    NN_DENSE = 0,
    NN_RELU,
    NN_TANH,
    NN_SIGMOID,
    NN_FLATTEN,
    NN_KIND_COUNT
} nn_kind;

/* What a scenario says about a layer. */
typedef struct nn_layer_spec {
    nn_kind kind;
    char name[NN_NAME]; /* "" : generated, e.g. "dense1" */
    int units;          /* dense: outputs */
} nn_layer_spec;

/* A layer placed in a model. Shapes are per sample, (C, H, W). */
typedef struct nn_layer {
    nn_layer_spec s;
    int in[3], out[3];
    size_t in_size, out_size;
    size_t p_off, n_params; /* into the parameter buffer */
    size_t w_count;         /* weights (the rest of n_params are biases) */
    size_t in_off, out_off; /* per-sample float offsets into the activation arena */
    size_t aux_off, aux_size; /* per-sample float offsets into the layer-cache arena */
    double flops;           /* forward FLOPs per sample (multiply-add = 2) */
} nn_layer;

typedef struct nn_model {
    char name[NN_NAME];
    int n_layers;
    nn_layer layers[NN_MAX_LAYERS];
    int in[3];
    size_t in_size;
    int n_classes;
    size_t n_params;
    size_t act_per_sample; /* floats of activations per sample (input included) */
    size_t aux_per_sample;
    double flops_fwd;   /* per sample */
    double flops_train; /* per training sample: forward + backward (about 3x forward) */
} nn_model;

typedef struct nn_worker {
    const nn_model *m;
    int max_batch;
    float *act, *dact; /* (max_batch * act_per_sample) */
    float *aux;        /* (max_batch * aux_per_sample) */
    float *grad;       /* (n_params) */
    float *opt;        /* (n_params) optimiser state (momentum) */
    int32_t *y;        /* (max_batch) labels */
    uint32_t *order;   /* scratch permutation for minibatch order */
    size_t order_cap;
} nn_worker;

/* Build a model from layer specs on input shape in[3] with n_classes outputs (the last layer
 * must produce n_classes values). Fails with FS_EINPUT naming the layer on shape errors. */
fs_err nn_model_build(nn_model *m, const char *name, const nn_layer_spec *specs, int n_specs,
                      const int in[3], int n_classes);

/* Zoo: "logreg" (flatten, dense) and "mlp" (flatten, dense+relu per hidden, dense). */
fs_err nn_zoo_build(nn_model *m, const char *name, const int *hidden, int n_hidden,
                    const int in[3], int n_classes);

/* PyTorch-default initialisation: weights and biases U(-1/sqrt(fan_in), 1/sqrt(fan_in)). */
void nn_model_init_params(const nn_model *m, float *params, rng_t *r);

fs_err nn_worker_init(nn_worker *w, const nn_model *m, int max_batch);
void nn_worker_free(nn_worker *w);

/* Input of the worker's activation arena (B, in_size): fill it before nn_forward. */
static inline float *nn_input(nn_worker *w)
{
    return w->act;
}

/* Forward pass over B samples already in nn_input(w). Returns the logits (B, n_classes). */
const float *nn_forward(nn_worker *w, const float *params, int B);

/* Softmax cross-entropy of the logits from the last nn_forward against labels y (B):
 * returns the mean loss; *correct (optional) gets the number of argmax hits. If grad_scale is
 * nonzero, also backpropagates d(grad_scale * sum of the B losses)/d(params) and ACCUMULATES
 * it into w->grad (grad_scale = 1/B: gradient of the mean loss). */
double nn_loss_backward(nn_worker *w, const float *params, const int32_t *y, int B,
                        double grad_scale, int *correct);

/* Human-readable one-line summary, e.g. "mlp: 199,210 params, 0.40 MFLOP/sample fwd". */
void nn_model_describe(const nn_model *m, char *buf, size_t cap);

#endif
