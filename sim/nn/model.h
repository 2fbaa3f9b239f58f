/* Models: an architecture (nn_model: layer shapes and offsets, no storage) apart from its
 * storage. Parameters live in ONE contiguous float buffer of n_params; each layer holds its
 * offset into it. A worker (nn_worker) owns the per-thread buffers for one model: activations
 * for up to max_batch samples, their gradients, layer caches, one workspace shared by all
 * layers (sized once for the largest), the gradient and optimiser buffers. Thousands of
 * virtual clients are thousands of parameter vectors (or none), never thousands of models.
 * Nothing is allocated inside a training step.
 *
 * Layers are the kernels of sim/nn/{dense,conv,pool,activation,embedding,lstm}.c, assembled
 * through a const table {shape, forward, backward} (model.c). Tensors are per sample:
 * images (C, H, W) in NCHW batches; a sequence of T steps of D features is (T, 1, D) and is
 * stored TIME-MAJOR for the whole batch, (T, B, D), the layout of nn/lstm.h. A sequence model
 * starts with an embedding that reads the B x T token ids the dataset gives (row-major
 * (B, T), as floats from ds_gather) and transposes them to time-major; its labels are one
 * target per step (B, T), transposed the same way by the loss. Dense layers on a sequence act
 * on every step. */
#ifndef FEDSIM_MODEL_H
#define FEDSIM_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "nn/conv.h"
#include "nn/lstm.h"
#include "nn/optim.h"
#include "nn/pool.h"
#include "util/err.h"
#include "util/rng.h"

/* 34: an mlp with the most hidden layers a scenario list holds (CFG_LIST_MAX = 16) needs
 * flatten + 16 x (dense, relu) + dense; nn/zoo.c asserts it */
#define NN_MAX_LAYERS 34
#define NN_NAME       32
#define NN_PAD_SAME   (-1) /* conv2d padding: "same" (stride 1, odd kernel) */

typedef enum nn_kind {
    NN_DENSE = 0,
    NN_RELU,
    NN_TANH,
    NN_SIGMOID,
    NN_FLATTEN,
    NN_CONV2D,
    NN_MAXPOOL,
    NN_AVGPOOL,
    NN_DROPOUT,
    NN_EMBEDDING,
    NN_LSTM,
    NN_KIND_COUNT
} nn_kind;

/* "dense", "conv2d", ... (the names scenarios use); nn_kind_find returns -1 if unknown. */
const char *nn_kind_name(nn_kind k);
int nn_kind_find(const char *name);

/* What a scenario says about a layer. Fields a kind does not use stay 0. */
typedef struct nn_layer_spec {
    nn_kind kind;
    char name[NN_NAME]; /* "" : generated, e.g. "dense1" */
    int units;          /* dense: outputs; embedding: dimension; lstm: hidden size */
    int filters;        /* conv2d: output channels */
    int kernel;         /* conv2d, maxpool, avgpool: square window */
    int stride;         /* conv2d, pools: 0 = default (conv2d 1, pools the kernel) */
    int padding;        /* conv2d: zeros on each side, or NN_PAD_SAME */
    float rate;         /* dropout: drop probability in [0, 1) */
} nn_layer_spec;

/* A layer placed in a model. Offsets and sizes are per sample: the batch of B samples has its
 * region at B * offset, of B * size elements. */
typedef struct nn_layer {
    nn_layer_spec s;
    int in[3], out[3];              /* (C, H, W); sequences (T, 1, D) */
    int seq_in, seq_out;            /* 1: a time-major sequence tensor */
    size_t in_size, out_size;       /* floats */
    size_t p_off, n_params;         /* into the parameter buffer */
    size_t w_count;                 /* weights (the rest of n_params are biases) */
    size_t in_off, out_off;         /* into the activation arena */
    size_t aux_off, aux_size;       /* float cache (dropout mask, LSTM gates and cells) */
    size_t iaux_off, iaux_size;     /* int32 cache (max-pool argmax, embedding ids) */
    size_t state_off;               /* LSTM carried state (h, c) for generation, 2H */
    size_t ws_fixed, ws_per_sample; /* workspace: ws_fixed + B * ws_per_sample floats */
    int inplace;         /* element-wise layer writing over its input (out_off == in_off) */
    int fused;           /* ReLU applied by the dense or conv2d layer before it: forward no-op */
    int fuse_relu;       /* dense, conv2d: applies the ReLU layer after it */
    int bwd_fused;       /* ReLU whose backward the max-pool after it does: backward no-op */
    int fuse_relu_bwd;   /* maxpool: writes the input gradient of the in-place ReLU before it */
    int frozen;          /* parameters fixed: no gradient, no update, not uploaded */
    nn_conv2d_dims conv; /* conv2d (B set per call) */
    nn_pool2d_dims pool; /* pools (B set per call) */
    nn_lstm_dims lstm;   /* lstm (B set per call) */
    double flops;        /* forward FLOPs per sample (multiply-add = 2) */
    double flops_bwd;    /* backward FLOPs per sample as trained (0 below bwd_stop) */
} nn_layer;

typedef struct nn_model {
    char name[NN_NAME];
    int n_layers;
    nn_layer layers[NN_MAX_LAYERS];
    int in[3];
    size_t in_size;
    int n_classes; /* classes, or the vocabulary of a sequence model */
    int seq_len;   /* sequence model: T (input T token ids, one target per step); else 0 */
    int y_len;     /* labels per sample: 1, or seq_len */
    size_t n_params;
    size_t n_trainable;    /* parameters of layers that are not frozen */
    size_t act_per_sample; /* floats of activations per sample (input included) */
    size_t aux_per_sample, iaux_per_sample, state_per_sample;
    size_t ws_fixed, ws_per_sample; /* the largest layer's workspace */
    int bwd_stop; /* first layer with trainable parameters; backward stops there */
    int n_ranges; /* trainable parameters: ranges [lo, hi) of the buffer, in order */
    size_t ranges[2 * NN_MAX_LAYERS];
    double flops_fwd;   /* per sample */
    double flops_train; /* per training sample: forward + the backward actually computed */
} nn_model;

typedef struct nn_worker {
    const nn_model *m;
    int max_batch;
    float *act, *dact; /* (max_batch * act_per_sample) */
    float *aux;        /* (max_batch * aux_per_sample) */
    int32_t *iaux;     /* (max_batch * iaux_per_sample) */
    float *ws;         /* (ws_fixed + max_batch * ws_per_sample) */
    float *state;      /* (max_batch * state_per_sample) LSTM h, c carried between calls */
    float *grad;       /* (n_params) */
    float *opt;        /* (n_params) optimiser state (momentum) */
    int opt_resume;    /* 1: fl_local_train continues the momentum in opt (a client's kept
                        * optimiser state) instead of starting afresh */
    int32_t *y;        /* (max_batch, y_len) labels, as ds_gather writes them */
    int32_t *yt;       /* (y_len, max_batch) time-major labels (sequence loss) */
    uint32_t *order;   /* scratch permutation for minibatch order */
    size_t order_cap;
    rng_t rng;    /* dropout masks; keyed by nn_worker_seed */
    int carry;    /* 1: LSTM layers start from and update state (generation only) */
    double *prof; /* (2 * n_layers) or NULL: seconds spent per layer, forward then backward,
                   * accumulated (fedsim bench kernels --profile) */
} nn_worker;

/* Build a model from layer specs on input shape in[3] with n_classes outputs (the last layer
 * must produce n_classes values, per step for a sequence model). Fails with FS_EINPUT naming
 * the layer (its name and position) on shape errors. */
fs_err nn_model_build(nn_model *m, const char *name, const nn_layer_spec *specs, int n_specs,
                      const int in[3], int n_classes);

/* The ReLU fusions around convolutions (on by default): a ReLU right after a conv2d is applied
 * by the convolution as it stores its output, and a max-pool whose windows tile its input does
 * the backward of the in-place ReLU before it. They give the unfused graph's bits; switched off
 * (process-wide, read by nn_model_build: set it before building) for the tests that compare
 * both. The dense layer's ReLU fusion is always on. */
void nn_model_set_conv_fusion(int enabled);

/* Freeze the named layers (n names; n = 0 unfreezes all): their parameters get no gradient
 * and no update, and are not part of a client's upload. FS_EINPUT naming an unknown layer or
 * one without parameters. Updates n_trainable, ranges, bwd_stop and flops_train. */
fs_err nn_model_freeze(nn_model *m, const char *const *names, int n);

/* Parameters that are trained and uploaded: n_params minus the frozen layers'. */
size_t nn_model_trainable_params(const nn_model *m);

/* Index of the layer called name, or -1. */
int nn_model_find_layer(const nn_model *m, const char *name);

/* PyTorch's default initialisation: dense and conv2d weights and biases
 * U(-1/sqrt(fan_in), 1/sqrt(fan_in)); embeddings N(0, 1); LSTM weights and biases
 * U(-1/sqrt(H), 1/sqrt(H)), then the forget-gate bias at 1 (in b_ih; b_hh's at 0). */
void nn_model_init_params(const nn_model *m, float *params, rng_t *r);

fs_err nn_worker_init(nn_worker *w, const nn_model *m, int max_batch);
/* Bytes nn_worker_init allocates for m and max_batch (the memory estimate of a run). */
double nn_worker_bytes(const nn_model *m, int max_batch);
void nn_worker_free(nn_worker *w);

/* Key the dropout stream of the next training steps to (seed, RNG_LAYER_DROP, entity, round):
 * call it at the start of each local training run, so that masks do not depend on which
 * worker trains a client. */
void nn_worker_seed(nn_worker *w, uint64_t seed, uint64_t entity, uint64_t round);

/* Zero the carried LSTM state (generation). */
void nn_worker_reset_state(nn_worker *w);

/* Input of the worker's activation arena (B, in_size): fill it before nn_forward. */
static inline float *nn_input(nn_worker *w)
{
    return w->act;
}

/* Training-mode forward pass over B samples already in nn_input(w) (dropout active).
 * Returns the logits: (B, n_classes), or time-major (T, B, n_classes) for a sequence model. */
const float *nn_forward(nn_worker *w, const float *params, int B);

/* Inference-mode forward pass (dropout is the identity); same output. */
const float *nn_infer(nn_worker *w, const float *params, int B);

/* Softmax cross-entropy of the logits from the last forward against labels y (B, y_len):
 * returns the mean loss over the B samples, where a sequence sample's loss is the mean over
 * its T steps; *correct (optional) gets the number of argmax hits (over B * y_len targets).
 * If grad_scale is nonzero, also backpropagates d(grad_scale * sum of the B losses)/d(params)
 * and ACCUMULATES it into w->grad (grad_scale = 1/B: gradient of the mean loss); frozen
 * layers get none. */
double nn_loss_backward(nn_worker *w, const float *params, const int32_t *y, int B,
                        double grad_scale, int *correct);

/* nn_loss_backward (gradient scaled by grad_scale != 0, no accuracy count) and then the SGD step
 * o on params, fused per layer: each trainable layer's range is stepped (on w->opt's momentum)
 * right after its backward, while its weights and gradient are in cache, and its gradient
 * zeroed in the same pass. The trainable layers' gradient ranges must be zero on entry (as
 * after a memset of w->grad); they are zero again on return. The same bits as memset(w->grad)
 * + nn_loss_backward + nn_sgd_step_ranges(o, ..., m->ranges, ...): the step is element-wise
 * and a layer's backward reads only its own parameters, which no later (lower) layer's
 * backward reads. Not for clipping (o->clip_norm > 0 needs the whole gradient's norm first)
 * nor for a gradient hook (the gradient is gone on return). */
double nn_loss_backward_sgd(nn_worker *w, float *params, const int32_t *y, int B, double grad_scale,
                            const nn_sgd *o, int *first);

/* Backward from a gradient given on the model's output (split learning, docs/vertical.md):
 * after nn_forward on B samples, write dL/dout (B, output size) into nn_output_grad(w, B), then
 * nn_backward ACCUMULATES the parameter gradients into w->grad (frozen layers get none). With
 * din non-NULL it also writes dL/dinput (B, in_size) there, running the backward through every
 * layer (the input gradient of the first trainable layer costs its forward FLOPs more than
 * flops_train counts). Not for sequence models. */
float *nn_output_grad(nn_worker *w, int B);
void nn_backward(nn_worker *w, const float *params, int B, float *din);

/* One parameter tensor of a layer, for checkpoints: "<layer>/<tensor>" with PyTorch's names
 * and layouts (weight (O, I); conv weight (OC, IC, KH, KW); weight_ih (4H, D), ...). */
typedef struct nn_tensor {
    char name[2 * NN_NAME + 16];
    size_t off, count; /* into the parameter buffer */
    int rank;
    int dims[4];
} nn_tensor;

/* The parameter tensors of L in buffer order; returns their number (0 to 4). */
int nn_layer_tensors(const nn_layer *L, nn_tensor out[4]);

/* A spec as one line, "conv2d name=conv1 filters=6 kernel=5 stride=1 padding=0", and back.
 * nn_spec_parse fails with FS_EDATA on an unknown kind or field. */
void nn_spec_format(const nn_layer_spec *s, char *buf, size_t cap);
fs_err nn_spec_parse(const char *text, nn_layer_spec *s);

/* One line, e.g. "lenet: 12 layers, 44,426 parameters, 0.57 MFLOP forward, 1.6 MFLOP per
 * training sample". */
void nn_model_describe(const nn_model *m, char *buf, size_t cap);

/* The zoo (nn_zoo_build, nn_zoo_build_desc) builds on this header; users of models get both. */
#include "nn/zoo.h"

#endif
