/* 2-D convolution kernels: im2col + sgemm fast path and the naive oracle. See conv.h.
 * Guarantees: no allocation, deterministic for a given OpenBLAS build and thread count,
 * backward accumulates.
 * Forward: the sgemm w (OC, K) x col (K, cols) runs on a group of images side by side, so
 * that it has at least NN_CONV_GEMM_COLS columns, then the (OC, group*OH*OW) product is
 * scattered to NCHW with the bias; a group of one image writes NCHW directly.
 * Groups are only formed for outputs under 64 pixels: inside the models one image per sgemm
 * is faster (its smaller im2col buffer stays in cache; measurements in docs/performance.md,
 * "im2col group size").
 * Backward: one image at a time (dw += dout_n col_n^T, dcol = w^T dout_n, col2im), which
 * measured no slower than grouping (docs/performance.md). Short rows of
 * im2col/col2im are copied by inline `omp simd` loops, not memcpy calls. */
#include "nn/conv.h"

#include "nn/activation.h"
#include "nn/conv_direct.h"

#include <cblas.h>
#include <string.h>

/* Minimum columns of one forward sgemm (tuning knob; see the file comment). */
#ifndef NN_CONV_GEMM_COLS
#define NN_CONV_GEMM_COLS 64
#endif

fs_err nn_conv2d_check_dims(const nn_conv2d_dims *d)
{
    if (d->B <= 0 || d->IC <= 0 || d->H <= 0 || d->W <= 0 || d->OC <= 0 || d->KH <= 0 || d->KW <= 0)
        return fs_error(FS_EINPUT,
                        "conv2d: sizes must be positive (B=%d IC=%d H=%d W=%d OC=%d "
                        "KH=%d KW=%d)",
                        d->B, d->IC, d->H, d->W, d->OC, d->KH, d->KW);
    if (d->stride_h <= 0 || d->stride_w <= 0)
        return fs_error(FS_EINPUT, "conv2d: stride must be >= 1 (got %d, %d)", d->stride_h,
                        d->stride_w);
    if (d->pad_h < 0 || d->pad_w < 0)
        return fs_error(FS_EINPUT, "conv2d: padding must be >= 0 (got %d, %d)", d->pad_h, d->pad_w);
    if (d->H + 2 * d->pad_h < d->KH || d->W + 2 * d->pad_w < d->KW)
        return fs_error(FS_EINPUT, "conv2d: kernel %dx%d larger than padded input %dx%d", d->KH,
                        d->KW, d->H + 2 * d->pad_h, d->W + 2 * d->pad_w);
    return FS_OK;
}

int nn_conv2d_out_h(const nn_conv2d_dims *d)
{
    return (d->H + 2 * d->pad_h - d->KH) / d->stride_h + 1;
}

int nn_conv2d_out_w(const nn_conv2d_dims *d)
{
    return (d->W + 2 * d->pad_w - d->KW) / d->stride_w + 1;
}

/* 1x1 kernel, stride 1, no padding: the image (IC, H*W) already is the im2col matrix. */
static int conv_is_pointwise(const nn_conv2d_dims *d)
{
    return d->KH == 1 && d->KW == 1 && d->stride_h == 1 && d->stride_w == 1 && d->pad_h == 0 &&
           d->pad_w == 0;
}

/* Images per sgemm (see the file comment). Depends on the output size only, not on B, so a
 * workspace sized for one batch size fits every batch size. */
static int conv_group(const nn_conv2d_dims *d)
{
    const int N = nn_conv2d_out_h(d) * nn_conv2d_out_w(d);
    if (conv_is_pointwise(d) || N >= NN_CONV_GEMM_COLS) return 1;
    return (NN_CONV_GEMM_COLS + N - 1) / N;
}

size_t nn_conv2d_workspace_size(const nn_conv2d_dims *d)
{
    const size_t N = (size_t)nn_conv2d_out_h(d) * nn_conv2d_out_w(d);
    const size_t G = (size_t)conv_group(d);
    const size_t gemm = (size_t)d->IC * d->KH * d->KW * G * N + (G > 1 ? (size_t)d->OC * G * N : 0);
    /* enough for either path, so nn_conv2d_set_direct may change between calls */
    const size_t direct = nn_conv2d_direct_workspace(d);
    return gemm > direct ? gemm : direct;
}

uint64_t nn_conv2d_flops(const nn_conv2d_dims *d)
{
    uint64_t macs = (uint64_t)d->B * d->OC * (uint64_t)nn_conv2d_out_h(d) * nn_conv2d_out_w(d) *
                    d->IC * d->KH * d->KW;
    return 2 * macs;
}

/* Output columns [*lo, *hi) whose input column ow*stride - pad + k lies inside [0, n). */
static void conv_valid_range(int k, int stride, int pad, int n, int on, int *lo, int *hi)
{
    int a = pad - k;         /* need ow*stride >= a */
    int z = n - 1 + pad - k; /* need ow*stride <= z */
    int l = a <= 0 ? 0 : (a + stride - 1) / stride;
    int h = z < 0 ? 0 : z / stride + 1;
    if (h > on) h = on;
    if (l > h) l = h;
    *lo = l;
    *hi = h;
}

/* col (IC*KH*KW, OH*OW), rows ldc floats apart, from img (IC, H, W); zero where the
 * window hits padding. */
static void conv_im2col(float *col, size_t ldc, const float *img, const nn_conv2d_dims *d, int OH,
                        int OW)
{
    const int sh = d->stride_h, sw = d->stride_w;
    for (int c = 0; c < d->IC; c++) {
        for (int kh = 0; kh < d->KH; kh++) {
            for (int kw = 0; kw < d->KW; kw++) {
                float *row = col + ((size_t)(c * d->KH + kh) * d->KW + kw) * ldc;
                int lo, hi;
                conv_valid_range(kw, sw, d->pad_w, d->W, OW, &lo, &hi);
                for (int oh = 0; oh < OH; oh++) {
                    float *r = row + (size_t)oh * OW;
                    int ih = oh * sh - d->pad_h + kh;
                    if (ih < 0 || ih >= d->H) {
                        memset(r, 0, sizeof(float) * (size_t)OW);
                        continue;
                    }
                    const float *src = img + ((size_t)c * d->H + ih) * d->W;
                    const int off = kw - d->pad_w; /* input column of ow is ow*sw + off */
                    for (int ow = 0; ow < lo; ow++) r[ow] = 0.0f;
                    if (sw == 1) { /* rows are short (8..32 floats): an inline loop, no memcpy */
                        const float *s1 = src + off;
#pragma omp simd
                        for (int ow = lo; ow < hi; ow++) r[ow] = s1[ow];
                    } else {
                        for (int ow = lo; ow < hi; ow++) r[ow] = src[ow * sw + off];
                    }
                    for (int ow = hi; ow < OW; ow++) r[ow] = 0.0f;
                }
            }
        }
    }
}

/* img (IC, H, W) += col2im(col (IC*KH*KW, OH*OW), rows ldc floats apart); padding
 * positions are dropped. */
static void conv_col2im_add(float *img, const float *col, size_t ldc, const nn_conv2d_dims *d,
                            int OH, int OW)
{
    const int sh = d->stride_h, sw = d->stride_w;
    for (int c = 0; c < d->IC; c++) {
        for (int kh = 0; kh < d->KH; kh++) {
            for (int kw = 0; kw < d->KW; kw++) {
                const float *row = col + ((size_t)(c * d->KH + kh) * d->KW + kw) * ldc;
                int lo, hi;
                conv_valid_range(kw, sw, d->pad_w, d->W, OW, &lo, &hi);
                for (int oh = 0; oh < OH; oh++) {
                    int ih = oh * sh - d->pad_h + kh;
                    if (ih < 0 || ih >= d->H) continue;
                    const float *r = row + (size_t)oh * OW;
                    float *dst = img + ((size_t)c * d->H + ih) * d->W;
                    const int off = kw - d->pad_w;
                    if (sw == 1) {
                        float *d1 = dst + off;
#pragma omp simd
                        for (int ow = lo; ow < hi; ow++) d1[ow] += r[ow];
                    } else {
                        for (int ow = lo; ow < hi; ow++) dst[ow * sw + off] += r[ow];
                    }
                }
            }
        }
    }
}

void nn_conv2d_forward(float *out, const float *in, const float *w, const float *b,
                       const nn_conv2d_dims *d, float *ws)
{
    nn_conv2d_forward_relu(out, in, w, b, d, ws, 0);
}

/* The fused ReLU is nn_relu_forward in place, applied to each image's output right after its
 * sgemm (while it is in cache) or as it is scattered from a group's. */
void nn_conv2d_forward_relu(float *out, const float *in, const float *w, const float *b,
                            const nn_conv2d_dims *d, float *ws, int relu)
{
    const int OH = nn_conv2d_out_h(d), OW = nn_conv2d_out_w(d);
    const int N = OH * OW, K = d->IC * d->KH * d->KW, G = conv_group(d);
    const size_t in_img = (size_t)d->IC * d->H * d->W, out_img = (size_t)d->OC * N;
    if (nn_conv2d_direct_applies(d)) {
        nn_conv2d_direct_forward(out, in, w, b, d, ws, relu);
        return;
    }
    for (int n0 = 0; n0 < d->B; n0 += G) {
        const int g = d->B - n0 < G ? d->B - n0 : G;
        const int cols = g * N;
        const float *x = in + n0 * in_img; /* (g, IC, H, W) */
        float *y = out + n0 * out_img;     /* (g, OC, OH, OW) */
        if (g == 1) {
            const float *col = x; /* (K, N) */
            if (!conv_is_pointwise(d)) {
                conv_im2col(ws, (size_t)N, x, d, OH, OW);
                col = ws;
            }
            float beta = 0.0f;
            if (b) {
                for (int oc = 0; oc < d->OC; oc++) {
                    float *yr = y + (size_t)oc * N;
                    for (int i = 0; i < N; i++) yr[i] = b[oc];
                }
                beta = 1.0f;
            }
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, d->OC, N, K, 1.0f, w, K, col, N,
                        beta, y, N);
            if (relu) nn_relu_forward(y, y, out_img);
            continue;
        }
        float *col = ws;                     /* (K, g*N): image j in columns [jN, jN+N) */
        float *tmp = ws + (size_t)K * G * N; /* (OC, g*N) */
        for (int j = 0; j < g; j++)
            conv_im2col(col + (size_t)j * N, (size_t)cols, x + j * in_img, d, OH, OW);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, d->OC, cols, K, 1.0f, w, K, col,
                    cols, 0.0f, tmp, cols);
        for (int j = 0; j < g; j++)
            for (int oc = 0; oc < d->OC; oc++) {
                float *yr = y + j * out_img + (size_t)oc * N;
                const float *tr = tmp + (size_t)oc * cols + (size_t)j * N;
                const float bias = b ? b[oc] : 0.0f;
                for (int i = 0; i < N; i++) yr[i] = tr[i] + bias;
                if (relu) nn_relu_forward(yr, yr, (size_t)N);
            }
    }
}

void nn_conv2d_backward(float *din, float *dw, float *db, const float *dout, const float *in,
                        const float *w, const nn_conv2d_dims *d, float *ws)
{
    const int OH = nn_conv2d_out_h(d), OW = nn_conv2d_out_w(d);
    const int N = OH * OW, K = d->IC * d->KH * d->KW;
    const size_t in_img = (size_t)d->IC * d->H * d->W, out_img = (size_t)d->OC * N;
    const int pointwise = conv_is_pointwise(d);
    const int direct = nn_conv2d_direct_applies(d);
    if (direct && (din || dw)) nn_conv2d_direct_backward(din, dw, dout, in, w, d, ws);
    for (int n = 0; n < d->B; n++) {
        const float *g = dout + n * out_img; /* (OC, N) */
        if (db) {
            for (int oc = 0; oc < d->OC; oc++) {
                const float *gr = g + (size_t)oc * N;
                float s = 0.0f;
#pragma omp simd reduction(+ : s)
                for (int i = 0; i < N; i++) s += gr[i];
                db[oc] += s;
            }
        }
        if (direct) continue;
        if (dw) {
            const float *col = in + n * in_img; /* (K, N) */
            if (!pointwise) {
                conv_im2col(ws, (size_t)N, col, d, OH, OW);
                col = ws;
            }
            /* dw (OC, K) += g (OC, N) x col^T (N, K) */
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, d->OC, K, N, 1.0f, g, N, col, N,
                        1.0f, dw, K);
        }
        if (din) {
            float *dx = din + n * in_img; /* (IC, H, W) */
            /* dcol (K, N) = w^T (K, OC) x g (OC, N); pointwise: straight into dx */
            if (pointwise) {
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, K, N, d->OC, 1.0f, w, K, g, N,
                            1.0f, dx, N);
            } else {
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, K, N, d->OC, 1.0f, w, K, g, N,
                            0.0f, ws, N);
                conv_col2im_add(dx, ws, (size_t)N, d, OH, OW);
            }
        }
    }
}

void nn_conv2d_forward_naive(float *out, const float *in, const float *w, const float *b,
                             const nn_conv2d_dims *d)
{
    const int OH = nn_conv2d_out_h(d), OW = nn_conv2d_out_w(d);
    for (int n = 0; n < d->B; n++)
        for (int oc = 0; oc < d->OC; oc++)
            for (int oh = 0; oh < OH; oh++)
                for (int ow = 0; ow < OW; ow++) {
                    double s = b ? b[oc] : 0.0;
                    for (int ic = 0; ic < d->IC; ic++)
                        for (int kh = 0; kh < d->KH; kh++)
                            for (int kw = 0; kw < d->KW; kw++) {
                                int ih = oh * d->stride_h - d->pad_h + kh;
                                int iw = ow * d->stride_w - d->pad_w + kw;
                                if (ih < 0 || ih >= d->H || iw < 0 || iw >= d->W) continue;
                                s +=
                                    (double)in[(((size_t)n * d->IC + ic) * d->H + ih) * d->W + iw] *
                                    w[(((size_t)oc * d->IC + ic) * d->KH + kh) * d->KW + kw];
                            }
                    out[(((size_t)n * d->OC + oc) * OH + oh) * OW + ow] = (float)s;
                }
}

void nn_conv2d_backward_naive(float *din, float *dw, float *db, const float *dout, const float *in,
                              const float *w, const nn_conv2d_dims *d)
{
    const int OH = nn_conv2d_out_h(d), OW = nn_conv2d_out_w(d);
    for (int n = 0; n < d->B; n++)
        for (int oc = 0; oc < d->OC; oc++)
            for (int oh = 0; oh < OH; oh++)
                for (int ow = 0; ow < OW; ow++) {
                    float g = dout[(((size_t)n * d->OC + oc) * OH + oh) * OW + ow];
                    if (db) db[oc] += g;
                    for (int ic = 0; ic < d->IC; ic++)
                        for (int kh = 0; kh < d->KH; kh++)
                            for (int kw = 0; kw < d->KW; kw++) {
                                int ih = oh * d->stride_h - d->pad_h + kh;
                                int iw = ow * d->stride_w - d->pad_w + kw;
                                if (ih < 0 || ih >= d->H || iw < 0 || iw >= d->W) continue;
                                size_t xi = (((size_t)n * d->IC + ic) * d->H + ih) * d->W + iw;
                                size_t wi = (((size_t)oc * d->IC + ic) * d->KH + kh) * d->KW + kw;
                                if (dw) dw[wi] += g * in[xi];
                                if (din) din[xi] += g * w[wi];
                            }
                }
}
