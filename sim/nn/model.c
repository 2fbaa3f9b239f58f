/* Model assembly and the forward/backward driver (see model.h). Each layer kind is one row of
 * a const table {shape, init, forward, backward}; layers are passed by pointer. Backward
 * functions ACCUMULATE into parameter gradients and input gradients. */
#include "nn/model.h"

#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct nn_ops {
    const char *name;
    fs_err (*shape)(nn_layer *L);
    void (*forward)(const nn_layer *L, const float *P, const float *in, float *out, float *aux,
                    int B);
    /* din may be NULL (first layer) */
    void (*backward)(const nn_layer *L, const float *P, float *G, const float *in,
                     const float *out, const float *dout, float *din, const float *aux, int B);
} nn_ops;

/* ---- dense: out (B, nout) = in (B, nin) W^T + b, W (nout, nin) as PyTorch's Linear ---- */

static fs_err dense_shape(nn_layer *L)
{
    if (L->s.units < 1) return fs_error(FS_EINPUT, "layer '%s': units must be >= 1", L->s.name);
    L->out[0] = L->s.units;
    L->out[1] = L->out[2] = 1;
    L->w_count = (size_t)L->s.units * L->in_size;
    L->n_params = L->w_count + (size_t)L->s.units;
    L->flops = 2.0 * (double)L->w_count;
    return FS_OK;
}

static void dense_forward(const nn_layer *L, const float *P, const float *in, float *out,
                          float *aux, int B)
{
    const int nin = (int)L->in_size, nout = L->s.units;
    const float *W = P + L->p_off, *b = W + L->w_count;
    for (int i = 0; i < B; i++) memcpy(out + (size_t)i * nout, b, (size_t)nout * sizeof(float));
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, B, nout, nin, 1.0f, in, nin, W, nin, 1.0f, out, nout);
}

static void dense_backward(const nn_layer *L, const float *P, float *G, const float *in,
                           const float *out, const float *dout, float *din, const float *aux,
                           int B)
{
    const int nin = (int)L->in_size, nout = L->s.units;
    const float *W = P + L->p_off;
    float *dW = G + L->p_off, *db = dW + L->w_count;
    /* dW (nout, nin) += dout^T (nout, B) in (B, nin) */
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, nout, nin, B, 1.0f, dout, nout, in, nin, 1.0f, dW,
                nin);
    for (int i = 0; i < B; i++) {
        const float *d = dout + (size_t)i * nout;
        for (int o = 0; o < nout; o++) db[o] += d[o];
    }
    /* din (B, nin) += dout (B, O) W (nout, nin) */
    if (din)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, B, nin, nout, 1.0f, dout, nout, W, nin, 1.0f,
                    din, nin);
}

/* ---- element-wise activations: out (B, N) = f(in) ---- */

static fs_err same_shape(nn_layer *L)
{
    memcpy(L->out, L->in, sizeof L->out);
    L->flops = (double)L->in_size;
    return FS_OK;
}

static void relu_forward(const nn_layer *L, const float *P, const float *in, float *out,
                         float *aux, int B)
{
    size_t n = (size_t)B * L->in_size;
    for (size_t i = 0; i < n; i++) out[i] = in[i] > 0 ? in[i] : 0;
}

static void relu_backward(const nn_layer *L, const float *P, float *G, const float *in,
                          const float *out, const float *dout, float *din, const float *aux, int B)
{
    if (!din) return;
    size_t n = (size_t)B * L->in_size;
    for (size_t i = 0; i < n; i++) din[i] += out[i] > 0 ? dout[i] : 0;
}

static void tanh_forward(const nn_layer *L, const float *P, const float *in, float *out,
                         float *aux, int B)
{
    size_t n = (size_t)B * L->in_size;
    for (size_t i = 0; i < n; i++) out[i] = tanhf(in[i]);
}

static void tanh_backward(const nn_layer *L, const float *P, float *G, const float *in,
                          const float *out, const float *dout, float *din, const float *aux, int B)
{
    if (!din) return;
    size_t n = (size_t)B * L->in_size;
    for (size_t i = 0; i < n; i++) din[i] += dout[i] * (1.0f - out[i] * out[i]);
}

static void sigmoid_forward(const nn_layer *L, const float *P, const float *in, float *out,
                            float *aux, int B)
{
    size_t n = (size_t)B * L->in_size;
    for (size_t i = 0; i < n; i++) out[i] = 1.0f / (1.0f + expf(-in[i]));
}

static void sigmoid_backward(const nn_layer *L, const float *P, float *G, const float *in,
                             const float *out, const float *dout, float *din, const float *aux,
                             int B)
{
    if (!din) return;
    size_t n = (size_t)B * L->in_size;
    for (size_t i = 0; i < n; i++) din[i] += dout[i] * out[i] * (1.0f - out[i]);
}

/* ---- flatten: (C, H, W) -> (C*H*W, 1, 1); memory layout unchanged ---- */

static fs_err flatten_shape(nn_layer *L)
{
    L->out[0] = (int)L->in_size;
    L->out[1] = L->out[2] = 1;
    return FS_OK;
}

static void copy_forward(const nn_layer *L, const float *P, const float *in, float *out,
                         float *aux, int B)
{
    memcpy(out, in, (size_t)B * L->in_size * sizeof(float));
}

static void copy_backward(const nn_layer *L, const float *P, float *G, const float *in,
                          const float *out, const float *dout, float *din, const float *aux, int B)
{
    if (!din) return;
    size_t n = (size_t)B * L->in_size;
    for (size_t i = 0; i < n; i++) din[i] += dout[i];
}

static const nn_ops ops[NN_KIND_COUNT] = {
    [NN_DENSE] = {"dense", dense_shape, dense_forward, dense_backward},
    [NN_RELU] = {"relu", same_shape, relu_forward, relu_backward},
    [NN_TANH] = {"tanh", same_shape, tanh_forward, tanh_backward},
    [NN_SIGMOID] = {"sigmoid", same_shape, sigmoid_forward, sigmoid_backward},
    [NN_FLATTEN] = {"flatten", flatten_shape, copy_forward, copy_backward},
};

fs_err nn_model_build(nn_model *m, const char *name, const nn_layer_spec *specs, int n_specs,
                      const int in[3], int n_classes)
{
    memset(m, 0, sizeof *m);
    snprintf(m->name, sizeof m->name, "%s", name);
    if (n_specs < 1 || n_specs > NN_MAX_LAYERS)
        return fs_error(FS_EINPUT, "model '%s': %d layers (allowed 1..%d)", name, n_specs,
                        NN_MAX_LAYERS);
    memcpy(m->in, in, sizeof m->in);
    m->in_size = (size_t)in[0] * (size_t)in[1] * (size_t)in[2];
    m->n_classes = n_classes;
    int cur[3] = {in[0], in[1], in[2]};
    size_t act = m->in_size, prev_off = 0, aux = 0, params = 0;
    int counts[NN_KIND_COUNT] = {0};
    for (int i = 0; i < n_specs; i++) {
        nn_layer *L = &m->layers[i];
        L->s = specs[i];
        if ((unsigned)L->s.kind >= NN_KIND_COUNT)
            return fs_error(FS_EINPUT, "model '%s': layer %d has an unknown kind", name, i + 1);
        counts[L->s.kind]++;
        if (!L->s.name[0])
            snprintf(L->s.name, sizeof L->s.name, "%s%d", ops[L->s.kind].name, counts[L->s.kind]);
        memcpy(L->in, cur, sizeof cur);
        L->in_size = (size_t)cur[0] * (size_t)cur[1] * (size_t)cur[2];
        fs_err e = ops[L->s.kind].shape(L);
        if (e) return e;
        L->out_size = (size_t)L->out[0] * (size_t)L->out[1] * (size_t)L->out[2];
        L->in_off = prev_off;
        L->out_off = act;
        L->p_off = params;
        L->aux_off = aux;
        act += L->out_size;
        aux += L->aux_size;
        params += L->n_params;
        prev_off = L->out_off;
        m->flops_fwd += L->flops;
        memcpy(cur, L->out, sizeof cur);
    }
    m->n_layers = n_specs;
    m->n_params = params;
    m->act_per_sample = act;
    m->aux_per_sample = aux;
    m->flops_train = 3.0 * m->flops_fwd;
    size_t out = (size_t)cur[0] * (size_t)cur[1] * (size_t)cur[2];
    if (out != (size_t)n_classes)
        return fs_error(FS_EINPUT, "model '%s': last layer '%s' gives %zu outputs, the data has %d "
                                   "classes",
                        name, m->layers[n_specs - 1].s.name, out, n_classes);
    return FS_OK;
}

fs_err nn_zoo_build(nn_model *m, const char *name, const int *hidden, int n_hidden,
                    const int in[3], int n_classes)
{
    nn_layer_spec specs[NN_MAX_LAYERS];
    int n = 0;
    memset(specs, 0, sizeof specs);
    specs[n++] = (nn_layer_spec){.kind = NN_FLATTEN};
    if (strcmp(name, "mlp") == 0) {
        if (n_hidden < 1 || 2 * n_hidden + 2 > NN_MAX_LAYERS)
            return fs_error(FS_EINPUT, "mlp: between 1 and %d hidden layers, got %d",
                            (NN_MAX_LAYERS - 2) / 2, n_hidden);
        for (int i = 0; i < n_hidden; i++) {
            specs[n++] = (nn_layer_spec){.kind = NN_DENSE, .units = hidden[i]};
            specs[n++] = (nn_layer_spec){.kind = NN_RELU};
        }
    } else if (strcmp(name, "logreg") != 0) {
        return fs_error(FS_EINPUT, "unknown model '%s' (known: logreg, mlp)", name);
    }
    specs[n++] = (nn_layer_spec){.kind = NN_DENSE, .units = n_classes};
    return nn_model_build(m, name, specs, n, in, n_classes);
}

void nn_model_init_params(const nn_model *m, float *params, rng_t *r)
{
    for (int i = 0; i < m->n_layers; i++) {
        const nn_layer *L = &m->layers[i];
        if (!L->n_params) continue;
        double fan_in = (double)L->in_size;
        float bound = (float)(1.0 / sqrt(fan_in));
        float *p = params + L->p_off;
        for (size_t j = 0; j < L->n_params; j++)
            p[j] = (float)((2.0 * rng_uniform(r) - 1.0) * bound);
    }
}

fs_err nn_worker_init(nn_worker *w, const nn_model *m, int max_batch)
{
    memset(w, 0, sizeof *w);
    w->m = m;
    w->max_batch = max_batch;
    size_t B = (size_t)max_batch;
    w->act = FS_ALIGNED(B * m->act_per_sample, sizeof(float));
    w->dact = FS_ALIGNED(B * m->act_per_sample, sizeof(float));
    w->aux = FS_ALIGNED(B * m->aux_per_sample + 1, sizeof(float));
    w->grad = FS_ALIGNED(m->n_params, sizeof(float));
    w->opt = FS_ALIGNED(m->n_params, sizeof(float));
    w->y = FS_CALLOC(B, sizeof(int32_t));
    if (!w->act || !w->dact || !w->aux || !w->grad || !w->opt || !w->y) {
        nn_worker_free(w);
        return FS_ENOMEM;
    }
    return FS_OK;
}

void nn_worker_free(nn_worker *w)
{
    free(w->act);
    free(w->dact);
    free(w->aux);
    free(w->grad);
    free(w->opt);
    free(w->y);
    free(w->order);
    memset(w, 0, sizeof *w);
}

const float *nn_forward(nn_worker *w, const float *params, int B)
{
    const nn_model *m = w->m;
    FS_CHECK(B >= 1 && B <= w->max_batch);
    for (int i = 0; i < m->n_layers; i++) {
        const nn_layer *L = &m->layers[i];
        ops[L->s.kind].forward(L, params, w->act + (size_t)B * L->in_off,
                               w->act + (size_t)B * L->out_off, w->aux + (size_t)B * L->aux_off,
                               B);
    }
    return w->act + (size_t)B * m->layers[m->n_layers - 1].out_off;
}

double nn_loss_backward(nn_worker *w, const float *params, const int32_t *y, int B,
                        double grad_scale, int *correct)
{
    const nn_model *m = w->m;
    const int K = m->n_classes;
    const nn_layer *last = &m->layers[m->n_layers - 1];
    const float *logits = w->act + (size_t)B * last->out_off;
    float *dlogits = w->dact + (size_t)B * last->out_off;
    double loss = 0;
    int hits = 0;
    for (int i = 0; i < B; i++) {
        const float *z = logits + (size_t)i * K;
        int arg = 0;
        float mx = z[0];
        for (int k = 1; k < K; k++)
            if (z[k] > mx) mx = z[k], arg = k;
        double s = 0;
        for (int k = 0; k < K; k++) s += exp((double)(z[k] - mx));
        double lse = (double)mx + log(s);
        loss += lse - (double)z[y[i]];
        hits += arg == y[i];
        if (grad_scale != 0) {
            float *d = dlogits + (size_t)i * K;
            for (int k = 0; k < K; k++)
                d[k] = (float)((exp((double)z[k] - lse) - (k == y[i])) * grad_scale);
        }
    }
    if (correct) *correct = hits;
    if (grad_scale != 0) {
        /* zero every activation gradient but the logits', then walk back */
        memset(w->dact, 0, (size_t)B * last->out_off * sizeof(float));
        for (int i = m->n_layers - 1; i >= 0; i--) {
            const nn_layer *L = &m->layers[i];
            float *din = i == 0 ? NULL : w->dact + (size_t)B * L->in_off;
            ops[L->s.kind].backward(L, params, w->grad, w->act + (size_t)B * L->in_off,
                                    w->act + (size_t)B * L->out_off,
                                    w->dact + (size_t)B * L->out_off, din,
                                    w->aux + (size_t)B * L->aux_off, B);
        }
    }
    return loss / B;
}

void nn_model_describe(const nn_model *m, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s: %zu layers, %zu parameters, %.3f MFLOP per sample forward", m->name,
             (size_t)m->n_layers, m->n_params, m->flops_fwd / 1e6);
}
