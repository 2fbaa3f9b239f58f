/* LSTM layer kernels (Hochreiter and Schmidhuber 1997, with forget gate, Gers et al. 2000;
 * equations as PyTorch's nn.LSTM):
 *   [i f g o] = [s s tanh s](W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)
 *   c_t = f * c_{t-1} + i * g,   h_t = o * tanh(c_t)
 * See lstm.h for layouts. No allocation: the caller's cache keeps every step's activations
 * (kann's kann_layer_lstm idea) and the caller's workspace holds the gate gradients of all
 * steps, so that dW_ih, dW_hh and dx are one sgemm each after the time loop. */
#include "nn/lstm.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

#include "nn/nn_math.h"

fs_err nn_lstm_check_dims(const nn_lstm_dims *d)
{
    if (d->T <= 0 || d->B <= 0 || d->D <= 0 || d->H <= 0)
        return fs_error(FS_EINPUT, "lstm: sizes must be positive (T=%d B=%d D=%d H=%d)", d->T, d->B,
                        d->D, d->H);
    return FS_OK;
}

size_t nn_lstm_cache_size(const nn_lstm_dims *d)
{
    return (size_t)d->T * d->B * 6 * (size_t)d->H;
}

size_t nn_lstm_workspace_size(const nn_lstm_dims *d)
{
    return (size_t)d->T * d->B * 4 * (size_t)d->H + 2 * (size_t)d->B * d->H + 4 * (size_t)d->H;
}

uint64_t nn_lstm_flops(const nn_lstm_dims *d)
{
    return 2 * (uint64_t)d->T * d->B * 4 * (uint64_t)d->H * ((uint64_t)d->D + d->H);
}

const float *nn_lstm_cell_states(const float *cache, const nn_lstm_dims *d)
{
    return cache + (size_t)d->T * d->B * 4 * d->H;
}

void nn_lstm_set_forget_bias(float *b, int H, float v)
{
    for (int j = 0; j < H; j++) b[H + j] = v;
}

static inline float lstm_sigmoid(float x)
{
    if (x >= 0.0f) return 1.0f / (1.0f + expf(-x));
    float e = expf(x);
    return e / (1.0f + e);
}

void nn_lstm_forward(float *out, float *cache, const float *x, const float *h0, const float *c0,
                     const float *w_ih, const float *w_hh, const float *b_ih, const float *b_hh,
                     const nn_lstm_dims *d)
{
    const int T = d->T, B = d->B, D = d->D, H = d->H, G = 4 * d->H;
    const size_t TB = (size_t)T * B;
    float *gates = cache;         /* (T, B, 4H) */
    float *cell = cache + TB * G; /* (T, B, H) */
    float *tcell = cell + TB * H; /* (T, B, H) */

    /* pre-activations of all steps: x (TB, D) x w_ih^T (D, 4H) + b_ih + b_hh */
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)TB, G, D, 1.0f, x, D, w_ih, D, 0.0f,
                gates, G);
    if (b_ih || b_hh) {
        for (size_t r = 0; r < TB; r++) {
            float *gr = gates + r * G;
            for (int k = 0; k < G; k++) gr[k] += (b_ih ? b_ih[k] : 0.0f) + (b_hh ? b_hh[k] : 0.0f);
        }
    }
    for (int t = 0; t < T; t++) {
        float *gt = gates + (size_t)t * B * G;                        /* (B, 4H) */
        const float *hprev = t ? out + (size_t)(t - 1) * B * H : h0;  /* (B, H) */
        const float *cprev = t ? cell + (size_t)(t - 1) * B * H : c0; /* (B, H) */
        float *ct = cell + (size_t)t * B * H, *tct = tcell + (size_t)t * B * H;
        float *ht = out + (size_t)t * B * H;
        if (hprev)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, B, G, H, 1.0f, hprev, H, w_hh, H,
                        1.0f, gt, G);
        for (int b = 0; b < B; b++) {
            float *g = gt + (size_t)b * G;
            for (int j = 0; j < H; j++) {
                float ig = lstm_sigmoid(g[j]);
                float fg = lstm_sigmoid(g[H + j]);
                float gg = nn_tanhf(g[2 * H + j]);
                float og = lstm_sigmoid(g[3 * H + j]);
                g[j] = ig;
                g[H + j] = fg;
                g[2 * H + j] = gg;
                g[3 * H + j] = og;
                size_t k = (size_t)b * H + j;
                float c = ig * gg + (cprev ? fg * cprev[k] : 0.0f);
                float tc = nn_tanhf(c);
                ct[k] = c;
                tct[k] = tc;
                ht[k] = og * tc;
            }
        }
    }
}

void nn_lstm_backward(float *dx, float *dh0, float *dc0, float *dw_ih, float *dw_hh, float *db_ih,
                      float *db_hh, const float *dout, const float *x, const float *h0,
                      const float *c0, const float *out, const float *cache, const float *w_ih,
                      const float *w_hh, const nn_lstm_dims *d, float *ws)
{
    const int T = d->T, B = d->B, D = d->D, H = d->H, G = 4 * d->H;
    const size_t TB = (size_t)T * B, BH = (size_t)B * H;
    const float *gates = cache;         /* (T, B, 4H) */
    const float *cell = cache + TB * G; /* (T, B, H) */
    const float *tcell = cell + TB * H; /* (T, B, H) */
    float *dgates = ws;                 /* (T, B, 4H) pre-activation gradients */
    float *dh_next = ws + TB * G;       /* (B, H) dL/dh_{t-1} through W_hh */
    float *dc_next = dh_next + BH;      /* (B, H) dL/dc_{t-1} */
    float *dbias = dc_next + BH;        /* (4H) bias gradient of this call */
    memset(dh_next, 0, 2 * BH * sizeof(float));

    for (int t = T - 1; t >= 0; t--) {
        const float *gt = gates + (size_t)t * B * G;
        const float *tct = tcell + (size_t)t * BH;
        const float *cprev = t ? cell + (size_t)(t - 1) * BH : c0;
        const float *dht = dout + (size_t)t * BH;
        float *dgt = dgates + (size_t)t * B * G;
        for (int b = 0; b < B; b++) {
            const float *g = gt + (size_t)b * G;
            float *dg = dgt + (size_t)b * G;
            for (int j = 0; j < H; j++) {
                size_t k = (size_t)b * H + j;
                float ig = g[j], fg = g[H + j], gg = g[2 * H + j], og = g[3 * H + j];
                float tc = tct[k];
                float dh = dht[k] + dh_next[k];
                float dc = dc_next[k] + dh * og * (1.0f - tc * tc);
                float cp = cprev ? cprev[k] : 0.0f;
                dg[j] = dc * gg * ig * (1.0f - ig);
                dg[H + j] = dc * cp * fg * (1.0f - fg);
                dg[2 * H + j] = dc * ig * (1.0f - gg * gg);
                dg[3 * H + j] = dh * tc * og * (1.0f - og);
                dc_next[k] = dc * fg;
            }
        }
        /* dL/dh_{t-1} = dgates_t (B, 4H) x w_hh (4H, H) */
        if (t > 0 || dh0)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, B, H, G, 1.0f, dgt, G, w_hh, H,
                        0.0f, dh_next, H);
    }
    if (dh0)
        for (size_t k = 0; k < BH; k++) dh0[k] += dh_next[k];
    if (dc0)
        for (size_t k = 0; k < BH; k++) dc0[k] += dc_next[k];

    if (dw_hh) {
        /* dw_hh (4H, H) += sum_t dgates_t^T (4H, B) x h_{t-1} (B, H) */
        if (T > 1)
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, G, H, (int)((T - 1) * B), 1.0f,
                        dgates + (size_t)B * G, G, out, H, 1.0f, dw_hh, H);
        if (h0)
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, G, H, B, 1.0f, dgates, G, h0, H,
                        1.0f, dw_hh, H);
    }
    /* dw_ih (4H, D) += dgates^T (4H, TB) x x (TB, D) */
    if (dw_ih)
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, G, D, (int)TB, 1.0f, dgates, G, x, D,
                    1.0f, dw_ih, D);
    if (db_ih || db_hh) {
        memset(dbias, 0, (size_t)G * sizeof(float));
        for (size_t r = 0; r < TB; r++) {
            const float *dg = dgates + r * G;
            for (int k = 0; k < G; k++) dbias[k] += dg[k];
        }
        for (int k = 0; k < G; k++) {
            if (db_ih) db_ih[k] += dbias[k];
            if (db_hh) db_hh[k] += dbias[k];
        }
    }
    /* dx (TB, D) += dgates (TB, 4H) x w_ih (4H, D) */
    if (dx)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)TB, D, G, 1.0f, dgates, G, w_ih,
                    D, 1.0f, dx, D);
}
