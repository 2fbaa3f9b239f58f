/* Model assembly and the forward/backward driver (see model.h). Each layer kind is one row of
 * a const table {shape, forward, backward}; the rows are thin adapters over the kernel files
 * (dense.c, conv.c, pool.c, activation.c, embedding.c, lstm.c, loss.c). Layers are passed by
 * pointer with their per-call buffers in one nn_call.
 * Memory plan, decided once at build time:
 *   - flatten is a view: its output aliases its input (no copy, no backward);
 *   - an element-wise layer (ReLU, tanh, sigmoid, dropout) whose producer does not read its
 *     own output in backward (dense, conv2d, pools, embedding, dropout) works in place, and a
 *     ReLU right after a dense or conv2d layer is fused into its forward, and a max-pool whose
 *     windows tile its input does the backward of an in-place ReLU before it (the ReLU's
 *     backward and the zeroing of the pool's input gradient are skipped);
 *   - backward stops at the first layer with trainable parameters (bwd_stop), which computes
 *     no input gradient, so the input of a model gets none unless nn_backward asks for it
 *     (a split network's top model passes it back to the parties' bottom models);
 *   - each input-gradient region is zeroed just before the one layer that accumulates into it.
 * Backward kernels ACCUMULATE into parameter gradients. */
#include "nn/model.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "nn/activation.h"
#include "nn/dense.h"
#include "nn/embedding.h"
#include "nn/loss.h"

/* What one layer call sees. Pointers are to the batch's regions. */
typedef struct nn_call {
    const nn_layer *L;
    const float *P;  /* parameters */
    float *G;        /* parameter gradients; NULL in forward and for frozen layers */
    float *in, *out; /* (B, in_size), (B, out_size) */
    float *din;      /* NULL: no input gradient wanted */
    float *dout;
    float *aux;    /* (B, aux_size) */
    int32_t *iaux; /* (B, iaux_size) */
    float *ws;     /* the worker's workspace */
    float *state;  /* (B, 2H) LSTM state, used when carry */
    nn_worker *w;
    int B;
    int train;
} nn_call;

typedef struct nn_ops {
    const char *name;
    fs_err (*shape)(nn_layer *L, const nn_model *m, int index);
    void (*forward)(nn_call *c);
    void (*backward)(nn_call *c);
    int needs_out; /* backward reads the layer's own output: no in-place layer after it */
} nn_ops;

static fs_err layer_error(const nn_layer *L, int index, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static fs_err layer_error(const nn_layer *L, int index, const char *fmt, ...)
{
    char msg[384];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return fs_error(FS_EINPUT, "layer %d '%s' (%s): %s", index + 1, L->s.name,
                    nn_kind_name(L->s.kind), msg);
}

static void shape_set(int *dst, int a, int b, int c)
{
    dst[0] = a;
    dst[1] = b;
    dst[2] = c;
}

/* ---- dense: out (N, units) = in (N, K) W^T + b; N = B, or T*B on a sequence ---- */

static fs_err dense_shape(nn_layer *L, const nn_model *m, int i)
{
    if (L->s.units < 1) return layer_error(L, i, "units must be >= 1 (got %d)", L->s.units);
    const size_t K = L->seq_in ? (size_t)L->in[2] : L->in_size;
    const int rows = L->seq_in ? L->in[0] : 1;
    if (L->seq_in)
        shape_set(L->out, L->in[0], 1, L->s.units);
    else
        shape_set(L->out, L->s.units, 1, 1);
    L->seq_out = L->seq_in;
    L->w_count = (size_t)L->s.units * K;
    L->n_params = L->w_count + (size_t)L->s.units;
    L->flops = (double)nn_dense_flops(rows, (int)K, L->s.units);
    return FS_OK;
}

static void dense_dims(const nn_call *c, int *N, int *K)
{
    const nn_layer *L = c->L;
    *N = L->seq_in ? c->B * L->in[0] : c->B;
    *K = L->seq_in ? L->in[2] : (int)L->in_size;
}

static void dense_forward(nn_call *c)
{
    const nn_layer *L = c->L;
    int N, K;
    dense_dims(c, &N, &K);
    const float *W = c->P + L->p_off;
    nn_dense_forward(c->out, c->in, W, W + L->w_count, N, K, L->s.units, L->fuse_relu);
}

static void dense_backward(nn_call *c)
{
    const nn_layer *L = c->L;
    int N, K;
    dense_dims(c, &N, &K);
    float *dW = c->G ? c->G + L->p_off : NULL;
    nn_dense_backward(c->din, dW, dW ? dW + L->w_count : NULL, c->dout, c->in, c->P + L->p_off, N,
                      K, L->s.units);
}

/* ---- conv2d: out (B, OC, OH, OW) = conv(in (B, IC, H, W)) + b ---- */

static fs_err conv_shape(nn_layer *L, const nn_model *m, int i)
{
    const nn_layer_spec *s = &L->s;
    if (L->seq_in) return layer_error(L, i, "needs an image input (C, H, W), got a sequence");
    if (s->filters < 1) return layer_error(L, i, "filters must be >= 1 (got %d)", s->filters);
    if (s->kernel < 1) return layer_error(L, i, "kernel must be >= 1 (got %d)", s->kernel);
    const int stride = s->stride ? s->stride : 1;
    int pad = s->padding;
    if (pad == NN_PAD_SAME) {
        if (stride != 1 || s->kernel % 2 == 0)
            return layer_error(L, i, "padding 'same' needs stride 1 and an odd kernel");
        pad = (s->kernel - 1) / 2;
    }
    if (stride < 1 || pad < 0)
        return layer_error(L, i, "stride must be >= 1 and padding >= 0 (got %d, %d)", stride, pad);
    L->conv = (nn_conv2d_dims){1,         L->in[0], L->in[1], L->in[2], s->filters, s->kernel,
                               s->kernel, stride,   stride,   pad,      pad};
    if (L->in[1] + 2 * pad < s->kernel || L->in[2] + 2 * pad < s->kernel)
        return layer_error(L, i, "kernel %dx%d larger than its padded input %dx%d", s->kernel,
                           s->kernel, L->in[1] + 2 * pad, L->in[2] + 2 * pad);
    if (nn_conv2d_check_dims(&L->conv)) return layer_error(L, i, "%s", fs_errmsg());
    shape_set(L->out, s->filters, nn_conv2d_out_h(&L->conv), nn_conv2d_out_w(&L->conv));
    L->w_count = (size_t)s->filters * L->in[0] * s->kernel * s->kernel;
    L->n_params = L->w_count + (size_t)s->filters;
    L->flops = (double)nn_conv2d_flops(&L->conv);
    L->ws_fixed = nn_conv2d_workspace_size(&L->conv);
    return FS_OK;
}

static void conv_forward(nn_call *c)
{
    nn_conv2d_dims d = c->L->conv;
    d.B = c->B;
    const float *W = c->P + c->L->p_off;
    nn_conv2d_forward_relu(c->out, c->in, W, W + c->L->w_count, &d, c->ws, c->L->fuse_relu);
}

static void conv_backward(nn_call *c)
{
    nn_conv2d_dims d = c->L->conv;
    d.B = c->B;
    float *dW = c->G ? c->G + c->L->p_off : NULL;
    if (!dW && !c->din) return;
    nn_conv2d_backward(c->din, dW, dW ? dW + c->L->w_count : NULL, c->dout, c->in,
                       c->P + c->L->p_off, &d, c->ws);
}

/* ---- max-pool and average-pool: (B, C, H, W) -> (B, C, OH, OW) ---- */

static fs_err pool_shape(nn_layer *L, const nn_model *m, int i)
{
    const nn_layer_spec *s = &L->s;
    if (L->seq_in) return layer_error(L, i, "needs an image input (C, H, W), got a sequence");
    if (s->kernel < 1) return layer_error(L, i, "kernel must be >= 1 (got %d)", s->kernel);
    const int stride = s->stride ? s->stride : s->kernel;
    L->pool =
        (nn_pool2d_dims){1, L->in[0], L->in[1], L->in[2], s->kernel, s->kernel, stride, stride};
    if (nn_pool2d_check_dims(&L->pool)) return layer_error(L, i, "%s", fs_errmsg());
    shape_set(L->out, L->in[0], nn_pool2d_out_h(&L->pool), nn_pool2d_out_w(&L->pool));
    L->out_size = (size_t)L->out[0] * L->out[1] * L->out[2];
    L->flops = (double)L->out_size * s->kernel * s->kernel;
    if (s->kind == NN_MAXPOOL) L->iaux_size = L->out_size;
    return FS_OK;
}

static void maxpool_forward(nn_call *c)
{
    nn_pool2d_dims d = c->L->pool;
    d.B = c->B;
    nn_maxpool2d_forward(c->out, c->iaux, c->in, &d);
}

static void maxpool_backward(nn_call *c)
{
    nn_pool2d_dims d = c->L->pool;
    d.B = c->B;
    if (!c->din) return;
    if (c->L->fuse_relu_bwd) /* in is the ReLU's output; din its input gradient too */
        nn_maxpool2d_backward_relu(c->din, c->dout, c->iaux, c->in, &d);
    else
        nn_maxpool2d_backward(c->din, c->dout, c->iaux, &d);
}

static void avgpool_forward(nn_call *c)
{
    nn_pool2d_dims d = c->L->pool;
    d.B = c->B;
    nn_avgpool2d_forward(c->out, c->in, &d);
}

static void avgpool_backward(nn_call *c)
{
    nn_pool2d_dims d = c->L->pool;
    d.B = c->B;
    if (c->din) nn_avgpool2d_backward(c->din, c->dout, &d);
}

/* ---- element-wise layers: out (B, N) = f(in); in place when L->inplace ---- */

static fs_err same_shape(nn_layer *L, const nn_model *m, int i)
{
    memcpy(L->out, L->in, sizeof L->out);
    L->seq_out = L->seq_in;
    L->flops = (double)L->in_size;
    if (L->s.kind == NN_DROPOUT) {
        if (!(L->s.rate >= 0.0f && L->s.rate < 1.0f))
            return layer_error(L, i, "rate must be in [0, 1) (got %g)", (double)L->s.rate);
        L->aux_size = L->in_size;
    }
    return FS_OK;
}

static size_t elems(const nn_call *c)
{
    return (size_t)c->B * c->L->in_size;
}

static void relu_forward(nn_call *c)
{
    if (!c->L->fused) nn_relu_forward(c->out, c->in, elems(c));
}

static void relu_backward(nn_call *c)
{
    const size_t n = elems(c);
    if (!c->din || c->L->bwd_fused) return;
    if (!c->L->inplace) {
        nn_relu_backward(c->din, c->dout, c->out, n);
        return;
    }
    float *d = c->din; /* == dout */
    const float *o = c->out;
#pragma omp simd
    for (size_t i = 0; i < n; i++) d[i] = o[i] > 0.0f ? d[i] : 0.0f;
}

static void tanh_forward(nn_call *c)
{
    nn_tanh_forward(c->out, c->in, elems(c));
}

static void tanh_backward(nn_call *c)
{
    const size_t n = elems(c);
    if (!c->din) return;
    if (!c->L->inplace) {
        nn_tanh_backward(c->din, c->dout, c->out, n);
        return;
    }
    float *d = c->din; /* == dout */
    const float *o = c->out;
#pragma omp simd
    for (size_t i = 0; i < n; i++) d[i] *= 1.0f - o[i] * o[i];
}

static void sigmoid_forward(nn_call *c)
{
    nn_sigmoid_forward(c->out, c->in, elems(c));
}

static void sigmoid_backward(nn_call *c)
{
    const size_t n = elems(c);
    if (!c->din) return;
    if (!c->L->inplace) {
        nn_sigmoid_backward(c->din, c->dout, c->out, n);
        return;
    }
    float *d = c->din; /* == dout */
    const float *o = c->out;
#pragma omp simd
    for (size_t i = 0; i < n; i++) d[i] *= o[i] * (1.0f - o[i]);
}

/* Inverted dropout (Srivastava et al., JMLR 2014); the mask is kept in aux, all ones when
 * not training so that a backward after an inference pass stays defined. */
static void dropout_forward(nn_call *c)
{
    nn_dropout_forward(c->out, c->aux, c->in, elems(c), c->L->s.rate, c->train, &c->w->rng);
}

static void dropout_backward(nn_call *c)
{
    const size_t n = elems(c);
    if (!c->din) return;
    if (!c->L->inplace) {
        nn_dropout_backward(c->din, c->dout, c->aux, n);
        return;
    }
    float *d = c->din; /* == dout */
    const float *mask = c->aux;
#pragma omp simd
    for (size_t i = 0; i < n; i++) d[i] *= mask[i];
}

/* ---- flatten: (C, H, W) -> (C*H*W, 1, 1); a view, nothing to compute ---- */

static fs_err flatten_shape(nn_layer *L, const nn_model *m, int i)
{
    if (L->seq_in)
        return layer_error(L, i, "cannot flatten a sequence; dense layers act on every step");
    shape_set(L->out, (int)L->in_size, 1, 1);
    return FS_OK;
}

static void nothing(nn_call *c)
{
    (void)c;
}

/* ---- embedding: token ids (B, T) as floats -> time-major (T, B, D) ---- */

static fs_err embedding_shape(nn_layer *L, const nn_model *m, int i)
{
    if (i != 0)
        return layer_error(L, i,
                           "an embedding reads the token ids of the data: it must be the "
                           "first layer");
    if (L->s.units < 1) return layer_error(L, i, "units must be >= 1 (got %d)", L->s.units);
    const int T = (int)L->in_size;
    shape_set(L->out, T, 1, L->s.units);
    L->seq_out = 1;
    L->w_count = L->n_params = (size_t)m->n_classes * L->s.units;
    L->iaux_size = (size_t)T;
    L->flops = 0;
    return FS_OK;
}

static void embedding_forward(nn_call *c)
{
    const nn_layer *L = c->L;
    const int T = L->out[0], B = c->B, V = c->w->m->n_classes;
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) {
            const float v = c->in[(size_t)b * T + t];
            FS_CHECK(v >= 0.0f && v < (float)V); /* ds_load checks tokens < vocabulary */
            c->iaux[(size_t)t * B + b] = (int32_t)v;
        }
    FS_CHECK(nn_embedding_forward(c->out, c->iaux, c->P + L->p_off, T * B, V, L->s.units) == FS_OK);
}

static void embedding_backward(nn_call *c)
{
    const nn_layer *L = c->L;
    if (!c->G) return;
    FS_CHECK(nn_embedding_backward(c->G + L->p_off, c->dout, c->iaux, L->out[0] * c->B,
                                   c->w->m->n_classes, L->s.units) == FS_OK);
}

/* ---- LSTM: (T, B, D) -> (T, B, H), parameters w_ih (4H, D), w_hh (4H, H), b_ih, b_hh ---- */

static fs_err lstm_shape(nn_layer *L, const nn_model *m, int i)
{
    if (!L->seq_in)
        return layer_error(L, i,
                           "needs a sequence input: put an embedding (or an lstm) before "
                           "it");
    const int H = L->s.units, T = L->in[0], D = L->in[2];
    if (H < 1) return layer_error(L, i, "units must be >= 1 (got %d)", H);
    L->lstm = (nn_lstm_dims){T, 1, D, H};
    shape_set(L->out, T, 1, H);
    L->seq_out = 1;
    L->w_count = (size_t)4 * H * ((size_t)D + H);
    L->n_params = L->w_count + (size_t)8 * H;
    L->aux_size = nn_lstm_cache_size(&L->lstm);
    L->ws_per_sample = (size_t)T * 4 * H + 2 * (size_t)H;
    L->ws_fixed = 4 * (size_t)H;
    L->flops = (double)nn_lstm_flops(&L->lstm);
    return FS_OK;
}

typedef struct lstm_ptrs {
    const float *w_ih, *w_hh, *b_ih, *b_hh;
} lstm_ptrs;

static lstm_ptrs lstm_params(const nn_layer *L, const float *P)
{
    const int H = L->s.units, D = L->in[2];
    const float *w_ih = P + L->p_off, *w_hh = w_ih + (size_t)4 * H * D;
    const float *b_ih = w_hh + (size_t)4 * H * H;
    return (lstm_ptrs){w_ih, w_hh, b_ih, b_ih + 4 * H};
}

static void lstm_forward(nn_call *c)
{
    const nn_layer *L = c->L;
    nn_lstm_dims d = L->lstm;
    d.B = c->B;
    const size_t BH = (size_t)d.B * d.H;
    const lstm_ptrs p = lstm_params(L, c->P);
    const float *h0 = c->w->carry ? c->state : NULL, *c0 = c->w->carry ? c->state + BH : NULL;
    nn_lstm_forward(c->out, c->aux, c->in, h0, c0, p.w_ih, p.w_hh, p.b_ih, p.b_hh, &d);
    if (c->w->carry) {
        memcpy(c->state, c->out + (size_t)(d.T - 1) * BH, BH * sizeof(float));
        memcpy(c->state + BH, nn_lstm_cell_states(c->aux, &d) + (size_t)(d.T - 1) * BH,
               BH * sizeof(float));
    }
}

static void lstm_backward(nn_call *c)
{
    const nn_layer *L = c->L;
    FS_CHECK(!c->w->carry); /* carried state is for generation, not training */
    nn_lstm_dims d = L->lstm;
    d.B = c->B;
    const lstm_ptrs p = lstm_params(L, c->P);
    float *g = c->G ? c->G + L->p_off : NULL;
    float *dw_ih = g, *dw_hh = g ? g + (size_t)4 * d.H * d.D : NULL;
    float *db_ih = g ? dw_hh + (size_t)4 * d.H * d.H : NULL, *db_hh = g ? db_ih + 4 * d.H : NULL;
    nn_lstm_backward(c->din, NULL, NULL, dw_ih, dw_hh, db_ih, db_hh, c->dout, c->in, NULL, NULL,
                     c->out, c->aux, p.w_ih, p.w_hh, &d, c->ws);
}

/* ---- the table ---- */

static const nn_ops ops[NN_KIND_COUNT] = {
    [NN_DENSE] = {"dense", dense_shape, dense_forward, dense_backward, 0},
    [NN_RELU] = {"relu", same_shape, relu_forward, relu_backward, 1},
    [NN_TANH] = {"tanh", same_shape, tanh_forward, tanh_backward, 1},
    [NN_SIGMOID] = {"sigmoid", same_shape, sigmoid_forward, sigmoid_backward, 1},
    [NN_FLATTEN] = {"flatten", flatten_shape, nothing, nothing, 0},
    [NN_CONV2D] = {"conv2d", conv_shape, conv_forward, conv_backward, 0},
    [NN_MAXPOOL] = {"maxpool", pool_shape, maxpool_forward, maxpool_backward, 0},
    [NN_AVGPOOL] = {"avgpool", pool_shape, avgpool_forward, avgpool_backward, 0},
    [NN_DROPOUT] = {"dropout", same_shape, dropout_forward, dropout_backward, 0},
    [NN_EMBEDDING] = {"embedding", embedding_shape, embedding_forward, embedding_backward, 0},
    [NN_LSTM] = {"lstm", lstm_shape, lstm_forward, lstm_backward, 1},
};

const char *nn_kind_name(nn_kind k)
{
    return (unsigned)k < NN_KIND_COUNT ? ops[k].name : "?";
}

int nn_kind_find(const char *name)
{
    for (int k = 0; k < NN_KIND_COUNT; k++)
        if (strcmp(ops[k].name, name) == 0) return k;
    return -1;
}

static int is_elementwise(nn_kind k)
{
    return k == NN_RELU || k == NN_TANH || k == NN_SIGMOID || k == NN_DROPOUT;
}

/* 1 when some backward reads the input region of layer i as its own output: walk back over
 * the layers that alias that region (flatten, in-place layers) to the one that wrote it. The
 * model input is read by nobody's backward. */
static int input_read_as_output(const nn_model *m, int i)
{
    for (int j = i - 1; j >= 0; j--) {
        const nn_layer *P = &m->layers[j];
        if (ops[P->s.kind].needs_out) return 1;
        if (!P->inplace && P->s.kind != NN_FLATTEN) return 0;
    }
    return 0;
}

/* Backward cost per sample of layer i when it computes an input gradient (din) and, for
 * trainable layers, parameter gradients. */
static double layer_bwd_flops(const nn_layer *L, int din)
{
    switch (L->s.kind) {
    case NN_DENSE:
    case NN_CONV2D:
    case NN_LSTM:
        return (L->frozen ? 0.0 : L->flops) + (din ? L->flops : 0.0);
    case NN_EMBEDDING:
        return L->frozen ? 0.0 : (double)L->out_size;
    case NN_FLATTEN:
        return 0.0;
    default:
        return din ? L->flops : 0.0;
    }
}

/* Trainable ranges, bwd_stop and the training FLOPs from the frozen flags. */
static void model_plan_backward(nn_model *m)
{
    m->n_trainable = 0;
    m->n_ranges = 0;
    m->bwd_stop = m->n_layers;
    for (int i = 0; i < m->n_layers; i++) {
        const nn_layer *L = &m->layers[i];
        if (!L->n_params || L->frozen) continue;
        if (m->bwd_stop == m->n_layers) m->bwd_stop = i;
        m->n_trainable += L->n_params;
        if (m->n_ranges > 0 && m->ranges[2 * m->n_ranges - 1] == L->p_off) {
            m->ranges[2 * m->n_ranges - 1] += L->n_params; /* adjacent: extend */
        } else {
            m->ranges[2 * m->n_ranges] = L->p_off;
            m->ranges[2 * m->n_ranges + 1] = L->p_off + L->n_params;
            m->n_ranges++;
        }
    }
    m->flops_train = m->flops_fwd;
    for (int i = 0; i < m->n_layers; i++) {
        nn_layer *L = &m->layers[i];
        L->flops_bwd = i < m->bwd_stop ? 0.0 : layer_bwd_flops(L, i > m->bwd_stop);
        m->flops_train += L->flops_bwd;
    }
}

static int conv_fusion = 1;

void nn_model_set_conv_fusion(int enabled)
{
    conv_fusion = enabled != 0;
}

fs_err nn_model_build(nn_model *m, const char *name, const nn_layer_spec *specs, int n_specs,
                      const int in[3], int n_classes)
{
    memset(m, 0, sizeof *m);
    snprintf(m->name, sizeof m->name, "%s", name);
    if (n_specs < 1 || n_specs > NN_MAX_LAYERS)
        return fs_error(FS_EINPUT, "model '%s': %d layers (allowed 1..%d)", name, n_specs,
                        NN_MAX_LAYERS);
    if (in[0] < 1 || in[1] < 1 || in[2] < 1 || n_classes < 1)
        return fs_error(FS_EINPUT, "model '%s': bad input shape (%d, %d, %d) or %d classes", name,
                        in[0], in[1], in[2], n_classes);
    memcpy(m->in, in, sizeof m->in);
    m->in_size = (size_t)in[0] * (size_t)in[1] * (size_t)in[2];
    m->n_classes = n_classes;
    int cur[3] = {in[0], in[1], in[2]}, seq = 0;
    size_t act = m->in_size, prev_off = 0, aux = 0, iaux = 0, state = 0, params = 0;
    int counts[NN_KIND_COUNT] = {0};
    for (int i = 0; i < n_specs; i++) {
        nn_layer *L = &m->layers[i];
        memset(L, 0, sizeof *L);
        L->s = specs[i];
        if ((unsigned)L->s.kind >= NN_KIND_COUNT)
            return fs_error(FS_EINPUT, "model '%s': layer %d has an unknown kind", name, i + 1);
        counts[L->s.kind]++;
        if (!L->s.name[0])
            snprintf(L->s.name, sizeof L->s.name, "%s%d", ops[L->s.kind].name, counts[L->s.kind]);
        for (int j = 0; j < i; j++)
            if (strcmp(m->layers[j].s.name, L->s.name) == 0)
                return fs_error(FS_EINPUT, "model '%s': layers %d and %d are both called '%s'",
                                name, j + 1, i + 1, L->s.name);
        memcpy(L->in, cur, sizeof cur);
        L->seq_in = seq;
        L->in_size = (size_t)cur[0] * (size_t)cur[1] * (size_t)cur[2];
        fs_err e = ops[L->s.kind].shape(L, m, i);
        if (e) return e;
        L->out_size = (size_t)L->out[0] * (size_t)L->out[1] * (size_t)L->out[2];
        L->in_off = prev_off;
        /* in place: flatten always (a view); element-wise layers when no backward reads the
         * tensor they overwrite */
        const nn_layer *prev = i > 0 ? &m->layers[i - 1] : NULL;
        if (L->s.kind == NN_FLATTEN || (is_elementwise(L->s.kind) && !input_read_as_output(m, i))) {
            L->inplace = L->s.kind != NN_FLATTEN;
            L->out_off = L->in_off;
        } else {
            L->out_off = act;
            act += L->out_size;
        }
        if (L->s.kind == NN_RELU && prev && L->inplace &&
            (prev->s.kind == NN_DENSE || (prev->s.kind == NN_CONV2D && conv_fusion))) {
            m->layers[i - 1].fuse_relu = 1;
            L->fused = 1;
        }
        /* the pool's input gradient is the ReLU's (in place), its input the ReLU's output */
        if (L->s.kind == NN_MAXPOOL && prev && prev->s.kind == NN_RELU && prev->inplace &&
            conv_fusion && nn_maxpool2d_tiles(&L->pool)) {
            m->layers[i - 1].bwd_fused = 1;
            L->fuse_relu_bwd = 1;
        }
        L->p_off = params;
        L->aux_off = aux;
        L->iaux_off = iaux;
        L->state_off = state;
        aux += L->aux_size;
        iaux += L->iaux_size;
        if (L->s.kind == NN_LSTM) state += 2 * (size_t)L->s.units;
        params += L->n_params;
        if (L->ws_fixed > m->ws_fixed) m->ws_fixed = L->ws_fixed;
        if (L->ws_per_sample > m->ws_per_sample) m->ws_per_sample = L->ws_per_sample;
        prev_off = L->out_off;
        m->flops_fwd += L->flops;
        memcpy(cur, L->out, sizeof cur);
        seq = L->seq_out;
    }
    m->n_layers = n_specs;
    m->n_params = params;
    m->act_per_sample = act;
    m->aux_per_sample = aux;
    m->iaux_per_sample = iaux;
    m->state_per_sample = state;
    m->seq_len = m->layers[0].s.kind == NN_EMBEDDING ? (int)m->in_size : 0;
    m->y_len = m->seq_len ? m->seq_len : 1;
    const nn_layer *last = &m->layers[n_specs - 1];
    if (m->seq_len && !seq)
        return fs_error(FS_EINPUT,
                        "model '%s': a sequence model must end with one output per "
                        "step, but last layer '%s' is not a sequence",
                        name, last->s.name);
    const size_t out = seq ? (size_t)cur[2] : last->out_size;
    if (out != (size_t)n_classes)
        return fs_error(FS_EINPUT,
                        "model '%s': last layer '%s' gives %zu outputs%s, the data has %d %s", name,
                        last->s.name, out, seq ? " per step" : "", n_classes,
                        m->seq_len ? "symbols" : "classes");
    model_plan_backward(m);
    return FS_OK;
}

int nn_model_find_layer(const nn_model *m, const char *name)
{
    for (int i = 0; i < m->n_layers; i++)
        if (strcmp(m->layers[i].s.name, name) == 0) return i;
    return -1;
}

fs_err nn_model_freeze(nn_model *m, const char *const *names, int n)
{
    for (int i = 0; i < m->n_layers; i++) m->layers[i].frozen = 0;
    for (int k = 0; k < n; k++) {
        int i = nn_model_find_layer(m, names[k]);
        if (i < 0 || !m->layers[i].n_params) {
            char list[512] = "";
            size_t o = 0;
            for (int j = 0; j < m->n_layers && o < sizeof list; j++)
                if (m->layers[j].n_params)
                    o += (size_t)snprintf(list + o, sizeof list - o, "%s%s", o ? ", " : "",
                                          m->layers[j].s.name);
            for (int j = 0; j < m->n_layers; j++) m->layers[j].frozen = 0;
            model_plan_backward(m);
            return fs_error(FS_EINPUT,
                            "model.freeze: model '%s' has no layer '%s'%s (layers with "
                            "parameters: %s)",
                            m->name, names[k], i >= 0 ? " with parameters" : "", list);
        }
        m->layers[i].frozen = 1;
    }
    model_plan_backward(m);
    return FS_OK;
}

size_t nn_model_trainable_params(const nn_model *m)
{
    return m->n_trainable;
}

static void init_uniform(float *p, size_t n, double bound, rng_t *r)
{
    for (size_t j = 0; j < n; j++) p[j] = (float)((2.0 * rng_uniform(r) - 1.0) * bound);
}

void nn_model_init_params(const nn_model *m, float *params, rng_t *r)
{
    for (int i = 0; i < m->n_layers; i++) {
        const nn_layer *L = &m->layers[i];
        float *p = params + L->p_off;
        switch (L->s.kind) {
        case NN_DENSE:
            init_uniform(p, L->n_params, 1.0 / sqrt((double)(L->w_count / (size_t)L->s.units)), r);
            break;
        case NN_CONV2D:
            init_uniform(p, L->n_params, 1.0 / sqrt((double)L->w_count / L->s.filters), r);
            break;
        case NN_EMBEDDING:
            for (size_t j = 0; j < L->n_params; j++) p[j] = (float)rng_normal(r);
            break;
        case NN_LSTM: {
            const int H = L->s.units;
            init_uniform(p, L->n_params, 1.0 / sqrt((double)H), r);
            float *b_ih = p + L->w_count;
            nn_lstm_set_forget_bias(b_ih, H, 1.0f);
            nn_lstm_set_forget_bias(b_ih + 4 * H, H, 0.0f);
            break;
        }
        default:
            break;
        }
    }
}

double nn_worker_bytes(const nn_model *m, int max_batch)
{
    const double B = max_batch, f = sizeof(float);
    return f *
           (2 * B * (double)m->act_per_sample + B * (double)m->aux_per_sample +
            B * (double)m->iaux_per_sample + (double)m->ws_fixed + B * (double)m->ws_per_sample +
            B * (double)m->state_per_sample + 2 * (double)m->n_params + 2 * B * m->y_len);
}

fs_err nn_worker_init(nn_worker *w, const nn_model *m, int max_batch)
{
    memset(w, 0, sizeof *w);
    w->m = m;
    w->max_batch = max_batch;
    const size_t B = (size_t)max_batch;
    w->act = FS_ALIGNED(B * m->act_per_sample, sizeof(float));
    w->dact = FS_ALIGNED(B * m->act_per_sample, sizeof(float));
    w->aux = FS_ALIGNED(B * m->aux_per_sample + 1, sizeof(float));
    w->iaux = FS_ALIGNED(B * m->iaux_per_sample + 1, sizeof(int32_t));
    w->ws = FS_ALIGNED(m->ws_fixed + B * m->ws_per_sample + 1, sizeof(float));
    w->state = FS_ALIGNED(B * m->state_per_sample + 1, sizeof(float));
    w->grad = FS_ALIGNED(m->n_params, sizeof(float));
    w->opt = FS_ALIGNED(m->n_params, sizeof(float));
    w->y = FS_CALLOC(B * (size_t)m->y_len, sizeof(int32_t));
    w->yt = FS_CALLOC(B * (size_t)m->y_len, sizeof(int32_t));
    if (!w->act || !w->dact || !w->aux || !w->iaux || !w->ws || !w->state || !w->grad || !w->opt ||
        !w->y || !w->yt) {
        nn_worker_free(w);
        return FS_ENOMEM;
    }
    rng_init(&w->rng, 0, RNG_LAYER_DROP, 0, 0);
    return FS_OK;
}

void nn_worker_free(nn_worker *w)
{
    free(w->act);
    free(w->dact);
    free(w->aux);
    free(w->iaux);
    free(w->ws);
    free(w->state);
    free(w->grad);
    free(w->opt);
    free(w->y);
    free(w->yt);
    free(w->order);
    memset(w, 0, sizeof *w);
}

void nn_worker_seed(nn_worker *w, uint64_t seed, uint64_t entity, uint64_t round)
{
    rng_init(&w->rng, seed, RNG_LAYER_DROP, entity, round);
}

void nn_worker_reset_state(nn_worker *w)
{
    memset(w->state, 0, (size_t)w->max_batch * w->m->state_per_sample * sizeof(float));
}

static nn_call layer_call(nn_worker *w, const nn_layer *L, const float *params, int B, int train)
{
    const size_t b = (size_t)B;
    return (nn_call){.L = L,
                     .P = params,
                     .in = w->act + b * L->in_off,
                     .out = w->act + b * L->out_off,
                     .din = w->dact + b * L->in_off,
                     .dout = w->dact + b * L->out_off,
                     .aux = w->aux + b * L->aux_off,
                     .iaux = w->iaux + b * L->iaux_off,
                     .ws = w->ws,
                     .state = w->state + b * L->state_off,
                     .w = w,
                     .B = B,
                     .train = train};
}

/* Profiling clock: the monotonic clock, read through the vDSO in tens of nanoseconds; the
 * thread's CPU time is a system call on some machines (about a microsecond under KVM), which
 * inflated the layers' intervals and the time around them. Shares of a profile are ratios of
 * intervals of one run, which preemption by other processes shifts little. */
static double prof_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static const float *model_forward(nn_worker *w, const float *params, int B, int train)
{
    const nn_model *m = w->m;
    FS_CHECK(B >= 1 && B <= w->max_batch);
    for (int i = 0; i < m->n_layers; i++) {
        const nn_layer *L = &m->layers[i];
        nn_call c = layer_call(w, L, params, B, train);
        const double t0 = w->prof ? prof_now() : 0;
        ops[L->s.kind].forward(&c);
        if (w->prof) w->prof[i] += prof_now() - t0;
    }
    return w->act + (size_t)B * m->layers[m->n_layers - 1].out_off;
}

/* The SGD step fused into the backward (nn_loss_backward_sgd), or NULL. */
typedef struct fused_step {
    const nn_sgd *o;
    float *params; /* the buffer the backward reads, stepped layer by layer */
    int init;      /* torch.optim.SGD's first step: v = d */
} fused_step;

/* Backward from the gradient already in the output layer's dact region: parameter gradients
 * (accumulated) down to bwd_stop, or, with to_input, input gradients through every layer down
 * to the model input (dact at offset 0). With fs, the SGD step is taken on each trainable
 * layer's range right after its backward, in the pass that zeroes the range's gradient again
 * for the next step (outside the profile clock: `bench fl` counts it as time outside the
 * layers). */
static void model_backward(nn_worker *w, const float *params, int B, int to_input,
                           const fused_step *fs)
{
    const nn_model *m = w->m;
    const int stop = to_input ? 0 : m->bwd_stop;
    for (int i = m->n_layers - 1; i >= stop; i--) {
        const nn_layer *L = &m->layers[i];
        nn_call c = layer_call(w, L, params, B, 1);
        c.G = L->frozen ? NULL : w->grad;
        const int step = fs && !L->frozen && L->n_params > 0;
        const double t0 = w->prof ? prof_now() : 0;
        if (i == stop && !to_input)
            c.din = NULL;
        else if (!L->inplace && L->s.kind != NN_FLATTEN && !L->fuse_relu_bwd)
            memset(c.din, 0, (size_t)B * L->in_size * sizeof(float));
        ops[L->s.kind].backward(&c);
        if (w->prof) w->prof[m->n_layers + i] += prof_now() - t0;
        if (step)
            nn_sgd_step_range_zero(fs->o, fs->params, w->grad, w->opt, L->p_off,
                                   L->p_off + L->n_params, fs->init);
    }
}

const float *nn_forward(nn_worker *w, const float *params, int B)
{
    return model_forward(w, params, B, 1);
}

const float *nn_infer(nn_worker *w, const float *params, int B)
{
    return model_forward(w, params, B, 0);
}

static double loss_backward(nn_worker *w, const float *params, const int32_t *y, int B,
                            double grad_scale, int *correct, const fused_step *fs)
{
    const nn_model *m = w->m;
    const int K = m->n_classes;
    const nn_layer *last = &m->layers[m->n_layers - 1];
    const float *logits = w->act + (size_t)B * last->out_off;
    float *dlogits = grad_scale != 0 ? w->dact + (size_t)B * last->out_off : NULL;
    double loss;
    float scale; /* the kernels' dlogits are of their mean loss; rescale to grad_scale * sum */
    const int32_t *labels = y;
    int rows = B;
    if (m->seq_len) {
        /* logits are time-major (T, B, K); labels (B, T) become (T, B) */
        const int T = m->seq_len;
        for (int b = 0; b < B; b++)
            for (int t = 0; t < T; t++) w->yt[(size_t)t * B + b] = y[(size_t)b * T + t];
        labels = w->yt;
        rows = B * T;
        size_t M = 0;
        for (int r = 0; r < rows; r++) M += labels[r] != -1;
        /* the kernel's mean is over the M non-padding steps; a sample's loss is its mean over
         * T steps (padding adding 0), so sum_b loss_b = M / T * kernel mean */
        loss = nn_loss_seq_softmax_xent(dlogits, logits, labels, B, T, K) * (double)M /
               ((double)T * B);
        scale = (float)(grad_scale * (double)M / T);
    } else {
        loss = nn_loss_softmax_xent(dlogits, logits, labels, B, K);
        scale = (float)(grad_scale * B);
    }
    if (correct) *correct = nn_argmax_correct(logits, labels, rows, K);
    if (!dlogits) return loss;
    const size_t nl = (size_t)rows * K;
    if (scale != 1.0f)
        for (size_t i = 0; i < nl; i++) dlogits[i] *= scale;
    model_backward(w, params, B, 0, fs);
    return loss;
}

double nn_loss_backward(nn_worker *w, const float *params, const int32_t *y, int B,
                        double grad_scale, int *correct)
{
    return loss_backward(w, params, y, B, grad_scale, correct, NULL);
}

double nn_loss_backward_sgd(nn_worker *w, float *params, const int32_t *y, int B, double grad_scale,
                            const nn_sgd *o, int *first)
{
    FS_CHECK(!(o->clip_norm > 0) && grad_scale != 0);
    const fused_step fs = {o, params, *first};
    const double loss = loss_backward(w, params, y, B, grad_scale, NULL, &fs);
    if (o->momentum != 0.0) *first = 0;
    return loss;
}

float *nn_output_grad(nn_worker *w, int B)
{
    const nn_model *m = w->m;
    FS_CHECK(B >= 1 && B <= w->max_batch);
    return w->dact + (size_t)B * m->layers[m->n_layers - 1].out_off;
}

void nn_backward(nn_worker *w, const float *params, int B, float *din)
{
    FS_CHECK(!w->m->seq_len && B >= 1 && B <= w->max_batch);
    model_backward(w, params, B, din != NULL, NULL);
    if (din) memcpy(din, w->dact, (size_t)B * w->m->in_size * sizeof *din);
}

int nn_layer_tensors(const nn_layer *L, nn_tensor out[4])
{
    const char *nm[4] = {"weight", "bias", NULL, NULL};
    size_t cnt[4] = {L->w_count, L->n_params - L->w_count, 0, 0};
    int rank[4] = {2, 1, 0, 0}, dims[4][4] = {{0}};
    int n = 2;
    switch (L->s.kind) {
    case NN_DENSE:
        dims[0][0] = L->s.units;
        dims[0][1] = (int)(L->w_count / (size_t)L->s.units);
        dims[1][0] = L->s.units;
        break;
    case NN_CONV2D:
        rank[0] = 4;
        dims[0][0] = L->s.filters;
        dims[0][1] = L->in[0];
        dims[0][2] = dims[0][3] = L->s.kernel;
        dims[1][0] = L->s.filters;
        break;
    case NN_EMBEDDING:
        n = 1;
        dims[0][0] = (int)(L->w_count / (size_t)L->s.units);
        dims[0][1] = L->s.units;
        break;
    case NN_LSTM: {
        const int H = L->s.units, D = L->in[2];
        n = 4;
        nm[0] = "weight_ih";
        nm[1] = "weight_hh";
        nm[2] = "bias_ih";
        nm[3] = "bias_hh";
        cnt[0] = (size_t)4 * H * D;
        cnt[1] = (size_t)4 * H * H;
        cnt[2] = cnt[3] = (size_t)4 * H;
        rank[1] = 2;
        rank[2] = rank[3] = 1;
        dims[0][0] = dims[1][0] = dims[2][0] = dims[3][0] = 4 * H;
        dims[0][1] = D;
        dims[1][1] = H;
        break;
    }
    default:
        return 0;
    }
    size_t off = L->p_off;
    for (int k = 0; k < n; k++) {
        snprintf(out[k].name, sizeof out[k].name, "%s/%s", L->s.name, nm[k]);
        out[k].off = off;
        out[k].count = cnt[k];
        out[k].rank = rank[k];
        memcpy(out[k].dims, dims[k], sizeof out[k].dims);
        off += cnt[k];
    }
    return n;
}

void nn_spec_format(const nn_layer_spec *s, char *buf, size_t cap)
{
    int o = snprintf(buf, cap, "%s name=%s", nn_kind_name(s->kind), s->name);
    if (o < 0 || (size_t)o >= cap) return;
    switch (s->kind) {
    case NN_DENSE:
    case NN_EMBEDDING:
    case NN_LSTM:
        snprintf(buf + o, cap - (size_t)o, " units=%d", s->units);
        break;
    case NN_CONV2D:
        snprintf(buf + o, cap - (size_t)o, " filters=%d kernel=%d stride=%d padding=%d", s->filters,
                 s->kernel, s->stride, s->padding);
        break;
    case NN_MAXPOOL:
    case NN_AVGPOOL:
        snprintf(buf + o, cap - (size_t)o, " kernel=%d stride=%d", s->kernel, s->stride);
        break;
    case NN_DROPOUT:
        snprintf(buf + o, cap - (size_t)o, " rate=%.9g", (double)s->rate);
        break;
    default:
        break;
    }
}

fs_err nn_spec_parse(const char *text, nn_layer_spec *s)
{
    memset(s, 0, sizeof *s);
    char buf[256];
    snprintf(buf, sizeof buf, "%s", text);
    char *save = NULL, *tok = strtok_r(buf, " ", &save);
    int k = tok ? nn_kind_find(tok) : -1;
    if (k < 0) return fs_error(FS_EDATA, "unknown layer kind in '%s'", text);
    s->kind = (nn_kind)k;
    while ((tok = strtok_r(NULL, " ", &save))) {
        char *eq = strchr(tok, '=');
        if (!eq) return fs_error(FS_EDATA, "bad layer field '%s' in '%s'", tok, text);
        *eq = '\0';
        const char *v = eq + 1;
        char *end = NULL;
        long iv = strtol(v, &end, 10);
        int is_int = end && *end == '\0' && end != v;
        if (strcmp(tok, "name") == 0 && strlen(v) < sizeof s->name)
            snprintf(s->name, sizeof s->name, "%s", v);
        else if (strcmp(tok, "units") == 0 && is_int)
            s->units = (int)iv;
        else if (strcmp(tok, "filters") == 0 && is_int)
            s->filters = (int)iv;
        else if (strcmp(tok, "kernel") == 0 && is_int)
            s->kernel = (int)iv;
        else if (strcmp(tok, "stride") == 0 && is_int)
            s->stride = (int)iv;
        else if (strcmp(tok, "padding") == 0 && is_int)
            s->padding = (int)iv;
        else if (strcmp(tok, "rate") == 0)
            s->rate = strtof(v, NULL);
        else
            return fs_error(FS_EDATA, "bad layer field '%s=%s' in '%s'", tok, v, text);
    }
    return FS_OK;
}

/* 1234567 -> "1,234,567" */
static void fmt_thousands(size_t v, char *buf, size_t cap)
{
    char tmp[32];
    int n = snprintf(tmp, sizeof tmp, "%zu", v), o = 0;
    for (int i = 0; i < n && (size_t)o + 2 < cap; i++) {
        if (i && (n - i) % 3 == 0) buf[o++] = ',';
        buf[o++] = tmp[i];
    }
    buf[o] = '\0';
}

void nn_model_describe(const nn_model *m, char *buf, size_t cap)
{
    char np[32], nt[32];
    fmt_thousands(m->n_params, np, sizeof np);
    fmt_thousands(m->n_trainable, nt, sizeof nt);
    if (m->n_trainable == m->n_params)
        snprintf(buf, cap,
                 "%s: %d layers, %s parameters, %.3g MFLOP forward, %.3g MFLOP per "
                 "training sample",
                 m->name, m->n_layers, np, m->flops_fwd / 1e6, m->flops_train / 1e6);
    else
        snprintf(buf, cap,
                 "%s: %d layers, %s parameters (%s trainable), %.3g MFLOP forward, "
                 "%.3g MFLOP per training sample",
                 m->name, m->n_layers, np, nt, m->flops_fwd / 1e6, m->flops_train / 1e6);
}
