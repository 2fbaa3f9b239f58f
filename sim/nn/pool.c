/* Max and average pooling kernels. See pool.h. No allocation; the max-pool backward needs
 * only the argmax buffer the forward filled, not the input. */
#include "nn/pool.h"

#include <math.h>
#include <stddef.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

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

/* 2x2 windows at stride 2, one output row: the window order a b / c e is reduced as the tree
 * (a vs b) vs (c vs e), each step keeping the left operand unless the right one is larger or
 * a NaN against a number. That picks the first maximum (or the first NaN) in row-major window
 * order, exactly as the sequential scan does, without branches (on real data the comparisons
 * are coin flips, and mispredicted branches cost several times the arithmetic); with SSE2,
 * four outputs at a time. */
static inline int pick(float l, float r)
{
    return (r > l) | ((r != r) & (l == l));
}

static void maxpool_2x2_row(float *restrict y, int32_t *restrict am, const float *restrict r0,
                            const float *restrict r1, int OW, int32_t base, int32_t W)
{
    int ow = 0;
#ifdef __SSE2__
    const __m128i one = _mm_set1_epi32(1), wv = _mm_set1_epi32(W);
    for (; ow + 4 <= OW; ow += 4) {
        const __m128 x0 = _mm_loadu_ps(r0 + 2 * ow), x1 = _mm_loadu_ps(r0 + 2 * ow + 4);
        const __m128 x2 = _mm_loadu_ps(r1 + 2 * ow), x3 = _mm_loadu_ps(r1 + 2 * ow + 4);
        const __m128 a = _mm_shuffle_ps(x0, x1, _MM_SHUFFLE(2, 0, 2, 0));
        const __m128 b = _mm_shuffle_ps(x0, x1, _MM_SHUFFLE(3, 1, 3, 1));
        const __m128 c = _mm_shuffle_ps(x2, x3, _MM_SHUFFLE(2, 0, 2, 0));
        const __m128 e = _mm_shuffle_ps(x2, x3, _MM_SHUFFLE(3, 1, 3, 1));
        const __m128 tb =
            _mm_or_ps(_mm_cmpgt_ps(b, a), _mm_and_ps(_mm_cmpunord_ps(b, b), _mm_cmpord_ps(a, a)));
        const __m128 te =
            _mm_or_ps(_mm_cmpgt_ps(e, c), _mm_and_ps(_mm_cmpunord_ps(e, e), _mm_cmpord_ps(c, c)));
        const __m128 mab = _mm_or_ps(_mm_and_ps(tb, b), _mm_andnot_ps(tb, a));
        const __m128 mce = _mm_or_ps(_mm_and_ps(te, e), _mm_andnot_ps(te, c));
        const __m128 tr = _mm_or_ps(_mm_cmpgt_ps(mce, mab),
                                    _mm_and_ps(_mm_cmpunord_ps(mce, mce), _mm_cmpord_ps(mab, mab)));
        _mm_storeu_ps(y + ow, _mm_or_ps(_mm_and_ps(tr, mce), _mm_andnot_ps(tr, mab)));
        const __m128i ib = _mm_and_si128(_mm_castps_si128(tb), one);
        const __m128i ie = _mm_add_epi32(wv, _mm_and_si128(_mm_castps_si128(te), one));
        const __m128i ir = _mm_castps_si128(tr);
        const __m128i off = _mm_or_si128(_mm_and_si128(ir, ie), _mm_andnot_si128(ir, ib));
        const __m128i pos =
            _mm_set_epi32(base + 2 * ow + 6, base + 2 * ow + 4, base + 2 * ow + 2, base + 2 * ow);
        _mm_storeu_si128((__m128i *)(void *)(am + ow), _mm_add_epi32(pos, off));
    }
#endif
    for (; ow < OW; ow++) {
        const float a = r0[2 * ow], b = r0[2 * ow + 1], c = r1[2 * ow], e = r1[2 * ow + 1];
        const int tb = pick(a, b), te = pick(c, e);
        const float mab = tb ? b : a, mce = te ? e : c;
        const int tr = pick(mab, mce);
        y[ow] = tr ? mce : mab;
        am[ow] = base + 2 * ow + (tr ? W + te : tb);
    }
}

void nn_maxpool2d_forward(float *out, int32_t *argmax, const float *in, const nn_pool2d_dims *d)
{
    const int OH = nn_pool2d_out_h(d), OW = nn_pool2d_out_w(d);
    const size_t planes = (size_t)d->B * d->C;
    if (d->KH == 2 && d->KW == 2 && d->stride_h == 2 && d->stride_w == 2) {
        for (size_t p = 0; p < planes; p++) {
            const float *x = in + p * d->H * d->W;
            for (int oh = 0; oh < OH; oh++) {
                const float *r0 = x + (size_t)(2 * oh) * d->W;
                maxpool_2x2_row(out + (p * OH + oh) * OW, argmax + (p * OH + oh) * OW, r0,
                                r0 + d->W, OW, 2 * oh * d->W, d->W);
            }
        }
        return;
    }
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
                    const int row = (h0 + kh) * d->W + w0;
                    const float *xr = x + row;
                    for (int kw = 0; kw < d->KW; kw++) {
                        const float v = xr[kw];
                        if (v > m || (v != v && m == m)) {
                            m = v;
                            best = row + kw;
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

int nn_maxpool2d_tiles(const nn_pool2d_dims *d)
{
    return d->KH == d->stride_h && d->KW == d->stride_w && d->H % d->KH == 0 && d->W % d->KW == 0;
}

/* Every input position lies in exactly one window (nn_maxpool2d_tiles), so the unfused
 * sequence leaves 0 + g at a window's argmax where y > 0 and +0 everywhere else: each
 * position is written once from its window's argmax and gradient, branch-free. 2x2 windows
 * go by output row (both input rows at once), four windows at a time with SSE2: the masks of
 * the four window positions, interleaved into the two rows' 8 floats (a vectorised loop over
 * the columns would scatter). */
static void maxpool_2x2_relu_row(float *restrict d0, float *restrict d1, const float *g,
                                 const int32_t *am, const float *y0, const float *y1, int OW,
                                 int32_t base, int32_t W)
{
    int ow = 0;
#ifdef __SSE2__
    const __m128 zero = _mm_setzero_ps();
    const __m128i one = _mm_set1_epi32(1), wv = _mm_set1_epi32(W);
    for (; ow + 4 <= OW; ow += 4) {
        const __m128i a = _mm_loadu_si128((const __m128i *)(const void *)(am + ow));
        const __m128i q =
            _mm_set_epi32(base + 2 * ow + 6, base + 2 * ow + 4, base + 2 * ow + 2, base + 2 * ow);
        const __m128i qw = _mm_add_epi32(q, wv);
        const __m128 v = _mm_add_ps(zero, _mm_loadu_ps(g + ow)); /* 0 + g: -0 becomes +0 */
        const __m128 a00 = _mm_and_ps(_mm_castsi128_ps(_mm_cmpeq_epi32(a, q)), v);
        const __m128 a01 =
            _mm_and_ps(_mm_castsi128_ps(_mm_cmpeq_epi32(a, _mm_add_epi32(q, one))), v);
        const __m128 a10 = _mm_and_ps(_mm_castsi128_ps(_mm_cmpeq_epi32(a, qw)), v);
        const __m128 a11 =
            _mm_and_ps(_mm_castsi128_ps(_mm_cmpeq_epi32(a, _mm_add_epi32(qw, one))), v);
        const float *r0 = y0 + 2 * ow, *r1 = y1 + 2 * ow;
        _mm_storeu_ps(d0 + 2 * ow,
                      _mm_and_ps(_mm_cmpgt_ps(_mm_loadu_ps(r0), zero), _mm_unpacklo_ps(a00, a01)));
        _mm_storeu_ps(d0 + 2 * ow + 4, _mm_and_ps(_mm_cmpgt_ps(_mm_loadu_ps(r0 + 4), zero),
                                                  _mm_unpackhi_ps(a00, a01)));
        _mm_storeu_ps(d1 + 2 * ow,
                      _mm_and_ps(_mm_cmpgt_ps(_mm_loadu_ps(r1), zero), _mm_unpacklo_ps(a10, a11)));
        _mm_storeu_ps(d1 + 2 * ow + 4, _mm_and_ps(_mm_cmpgt_ps(_mm_loadu_ps(r1 + 4), zero),
                                                  _mm_unpackhi_ps(a10, a11)));
    }
#endif
    for (; ow < OW; ow++) {
        const int32_t q = base + 2 * ow, a = am[ow];
        const float v = 0.0f + g[ow];
        d0[2 * ow] = a == q && y0[2 * ow] > 0.0f ? v : 0.0f;
        d0[2 * ow + 1] = a == q + 1 && y0[2 * ow + 1] > 0.0f ? v : 0.0f;
        d1[2 * ow] = a == q + W && y1[2 * ow] > 0.0f ? v : 0.0f;
        d1[2 * ow + 1] = a == q + W + 1 && y1[2 * ow + 1] > 0.0f ? v : 0.0f;
    }
}

void nn_maxpool2d_backward_relu(float *din, const float *dout, const int32_t *argmax,
                                const float *y, const nn_pool2d_dims *d)
{
    const int OH = nn_pool2d_out_h(d), OW = nn_pool2d_out_w(d), W = d->W;
    const size_t OHW = (size_t)OH * OW, HW = (size_t)d->H * W;
    const size_t planes = (size_t)d->B * d->C;
    for (size_t p = 0; p < planes; p++) {
        float *dx = din + p * HW;
        const float *yp = y + p * HW, *g = dout + p * OHW;
        const int32_t *am = argmax + p * OHW;
        if (d->KH == 2 && d->KW == 2) {
            for (int oh = 0; oh < OH; oh++) {
                const size_t r = (size_t)(2 * oh) * W;
                maxpool_2x2_relu_row(dx + r, dx + r + W, g + (size_t)oh * OW, am + (size_t)oh * OW,
                                     yp + r, yp + r + W, OW, (int32_t)r, W);
            }
            continue;
        }
        for (int h = 0; h < d->H; h++) {
            const size_t o = (size_t)(h / d->KH) * OW;
            const int32_t row = h * W;
            for (int w = 0; w < W; w++) {
                const size_t i = o + (size_t)(w / d->KW), x = (size_t)row + w;
                dx[x] = am[i] == row + w && yp[x] > 0.0f ? 0.0f + g[i] : 0.0f;
            }
        }
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
