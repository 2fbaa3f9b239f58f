/* Max and average pooling kernels. See pool.h. No allocation; the max-pool backward needs
 * only the argmax buffer the forward filled, not the input. */
#include "nn/pool.h"

#include <math.h>
#include <stddef.h>

fs_err nn_pool2d_check_dims(const nn_pool2d_dims *d)
{
    if (d->B <= 0 || d->C <= 0 || d->H <= 0 || d->W <= 0 || d->KH <= 0 || d->KW <= 0)
        return fs_error(FS_EINPUT,
                        "pool2d: sizes must be positive (B=%d C=%d H=%d W=%d KH=%d "
                        "KW=%d)",
                        d->B, d->C, d->H, d->W, d->KH, d->KW);
    if (d->stride_h <= 0 || d->stride_w <= 0)
        return fs_error(FS_EINPUT, "pool2d: stride must be >= 1 (got %d, %d)", d->stride_h,
                        d->stride_w);
    if (d->KH > d->H || d->KW > d->W)
        return fs_error(FS_EINPUT, "pool2d: window %dx%d larger than input %dx%d", d->KH, d->KW,
                        d->H, d->W);
    return FS_OK;
}

int nn_pool2d_out_h(const nn_pool2d_dims *d)
{
    return (d->H - d->KH) / d->stride_h + 1;
}

int nn_pool2d_out_w(const nn_pool2d_dims *d)
{
    return (d->W - d->KW) / d->stride_w + 1;
}

void nn_maxpool2d_forward(float *out, int32_t *argmax, const float *in, const nn_pool2d_dims *d)
{
    const int OH = nn_pool2d_out_h(d), OW = nn_pool2d_out_w(d);
    const size_t planes = (size_t)d->B * d->C;
    for (size_t p = 0; p < planes; p++) {
        const float *x = in + p * d->H * d->W; /* (H, W) */
        float *y = out + p * OH * OW;          /* (OH, OW) */
        int32_t *am = argmax + p * OH * OW;    /* (OH, OW) */
        for (int oh = 0; oh < OH; oh++) {
            for (int ow = 0; ow < OW; ow++) {
                int h0 = oh * d->stride_h, w0 = ow * d->stride_w;
                int best = h0 * d->W + w0;
                float m = x[best];
                for (int kh = 0; kh < d->KH; kh++) {
                    const float *xr = x + (size_t)(h0 + kh) * d->W;
                    for (int kw = 0; kw < d->KW; kw++) {
                        float v = xr[w0 + kw];
                        if (v > m || (isnan(v) && !isnan(m))) {
                            m = v;
                            best = (h0 + kh) * d->W + w0 + kw;
                        }
                    }
                }
                y[oh * OW + ow] = m;
                am[oh * OW + ow] = best;
            }
        }
    }
}

void nn_maxpool2d_backward(float *din, const float *dout, const int32_t *argmax,
                           const nn_pool2d_dims *d)
{
    if (!din) return;
    const size_t OHW = (size_t)nn_pool2d_out_h(d) * nn_pool2d_out_w(d), HW = (size_t)d->H * d->W;
    const size_t planes = (size_t)d->B * d->C;
    for (size_t p = 0; p < planes; p++) {
        float *dx = din + p * HW;
        const float *g = dout + p * OHW;
        const int32_t *am = argmax + p * OHW;
        for (size_t i = 0; i < OHW; i++) dx[am[i]] += g[i];
    }
}

void nn_avgpool2d_forward(float *out, const float *in, const nn_pool2d_dims *d)
{
    const int OH = nn_pool2d_out_h(d), OW = nn_pool2d_out_w(d);
    const size_t planes = (size_t)d->B * d->C;
    const float scale = 1.0f / (float)(d->KH * d->KW);
    for (size_t p = 0; p < planes; p++) {
        const float *x = in + p * d->H * d->W;
        float *y = out + p * OH * OW;
        for (int oh = 0; oh < OH; oh++) {
            for (int ow = 0; ow < OW; ow++) {
                int h0 = oh * d->stride_h, w0 = ow * d->stride_w;
                float s = 0.0f;
                for (int kh = 0; kh < d->KH; kh++) {
                    const float *xr = x + (size_t)(h0 + kh) * d->W + w0;
                    for (int kw = 0; kw < d->KW; kw++) s += xr[kw];
                }
                y[oh * OW + ow] = s * scale;
            }
        }
    }
}

void nn_avgpool2d_backward(float *din, const float *dout, const nn_pool2d_dims *d)
{
    if (!din) return;
    const int OH = nn_pool2d_out_h(d), OW = nn_pool2d_out_w(d);
    const size_t planes = (size_t)d->B * d->C;
    const float scale = 1.0f / (float)(d->KH * d->KW);
    for (size_t p = 0; p < planes; p++) {
        float *dx = din + p * d->H * d->W;
        const float *g = dout + p * OH * OW;
        for (int oh = 0; oh < OH; oh++) {
            for (int ow = 0; ow < OW; ow++) {
                int h0 = oh * d->stride_h, w0 = ow * d->stride_w;
                float v = g[oh * OW + ow] * scale;
                for (int kh = 0; kh < d->KH; kh++) {
                    float *dr = dx + (size_t)(h0 + kh) * d->W + w0;
                    for (int kw = 0; kw < d->KW; kw++) dr[kw] += v;
                }
            }
        }
    }
}
