/* Direct convolution for few channels (see conv_direct.h): register-blocked AVX2 + FMA loops
 * over the output pixels, eight output columns per vector. Compiled for AVX2 + FMA through
 * function attributes only, so the rest of fedsim stays portable, and used only when the CPU
 * reports both (checked at every call; the check is a read of a libgcc flag). At
 * FS_SIMD_AVX512 the kernels of conv_direct512.c run instead, with this file's dw chunks and
 * final reduction, and give these kernels' bits (their header says how).
 *
 * Blocking (16 ymm registers; at most 12 accumulators, the rest for operands):
 *   forward  out(oc, pixel-vector) tiles of up to 4 output channels x 3-4 vectors; per
 *            (ic, kh, kw) one load per vector, one broadcast per channel, OCB x P FMAs;
 *   dw       tiles of up to 4 output channels x 3 kernel columns for one (ic, kh), summed
 *            over the pixel vectors of a chunk of images (about 64 KiB of data, so it stays
 *            in L2) into 8-lane partial sums kept in the workspace across the batch,
 *            reduced to dw once at the end;
 *   din      scattered: tiles of up to 4 taps (4 input channels at one kh, kw) x 3 output
 *            pixel vectors, summed over the output channels in registers (the im2col
 *            path's w^T dout product), then added to the input-gradient rows they touch
 *            (the col2im step, one vector each).
 * Summation orders are fixed by the shapes alone, so results are deterministic; they differ
 * in the last bits from the im2col + sgemm path. */
#include "nn/conv_direct.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define CD_X86 1
#include <immintrin.h>
#else
#define CD_X86 0
#endif

#include <string.h>

#include "util/simd.h"

static int cd_enabled = 1;

void nn_conv2d_set_direct(int enabled)
{
    cd_enabled = enabled != 0;
}

int nn_conv2d_direct_cpu(void)
{
#if CD_X86
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
    return 0;
#endif
}

int nn_conv2d_direct_avx512(void)
{
#if CD_X86
    return fs_simd_level() == FS_SIMD_AVX512 && __builtin_cpu_supports("avx512f") &&
           __builtin_cpu_supports("avx512dq");
#else
    return 0;
#endif
}

int nn_conv2d_direct_shape(const nn_conv2d_dims *d)
{
    const int OW = d->W - d->KW + 1;
    return d->stride_h == 1 && d->stride_w == 1 && d->pad_h == 0 && d->pad_w == 0 && OW >= 8 &&
           OW % 8 == 0 && d->OC <= NN_CONV_DIRECT_MAX_OC && !(d->KH == 1 && d->KW == 1);
}

int nn_conv2d_direct_applies(const nn_conv2d_dims *d)
{
    return cd_enabled && nn_conv2d_direct_shape(d) && nn_conv2d_direct_cpu();
}

size_t nn_conv2d_direct_workspace(const nn_conv2d_dims *d)
{
    if (!nn_conv2d_direct_shape(d)) return 0;
    /* dw's 8-lane partial sums, then the AVX-512 din's repacked weights */
    return 9 * (size_t)d->OC * d->IC * d->KH * d->KW;
}

#if CD_X86

#define CD_TGT __attribute__((target("avx2,fma")))
#define CD_INL __attribute__((always_inline)) inline

/* Pixel vectors t0 .. t0+n-1 of an (OH, OW) output, OW = 8V, vector t = (row t / V, columns
 * 8 (t % V) ..): their offsets in the input image rows (W floats apart) and in the output. */
static inline void cd_pixels(int t0, int n, int V, int W, int OW, size_t *in_off, size_t *out_off)
{
    int oh = t0 / V, v = t0 % V;
    for (int r = 0; r < n; r++) {
        in_off[r] = (size_t)oh * W + 8 * (size_t)v;
        out_off[r] = (size_t)oh * OW + 8 * (size_t)v;
        if (++v == V) v = 0, oh++;
    }
}

/* Near-equal blocks of at most 4 over n items (output channels in the forward and dw, input
 * channels in din): the size of the block that starts at i0. */
static int cd_block(int n, int i0)
{
    const int nb = (n + 3) / 4;
    const int base = n / nb, extra = n % nb;
    /* the blocks are [base+1] * extra then [base] * (nb - extra) */
    return i0 < extra * (base + 1) ? base + 1 : base;
}

/* ---- forward: one image, out (OC, OH, OW) = b + conv(in (IC, H, W)) ---- */

CD_TGT static CD_INL void fwd_tile(float *out, const float *in, const float *w, const float *b,
                                   const nn_conv2d_dims *d, int oc0, const size_t *off,
                                   const size_t *oo, const int relu, const int OCB, const int P)
{
    const int W = d->W, H = d->H, KH = d->KH, KW = d->KW;
    const int OW = W - KW + 1, OH = H - KH + 1;
    const size_t wstride = (size_t)d->IC * KH * KW;
    __m256 acc[4][4];
#pragma GCC unroll 4
    for (int o = 0; o < OCB; o++) {
        const __m256 bias = _mm256_set1_ps(b ? b[oc0 + o] : 0.0f);
#pragma GCC unroll 4
        for (int p = 0; p < P; p++) acc[o][p] = bias;
    }
    for (int ic = 0; ic < d->IC; ic++) {
        for (int kh = 0; kh < KH; kh++) {
            const float *xr = in + ((size_t)ic * H + kh) * W;
            const float *wr = w + (size_t)oc0 * wstride + ((size_t)ic * KH + kh) * KW;
            for (int kw = 0; kw < KW; kw++) {
                __m256 x[4];
#pragma GCC unroll 4
                for (int p = 0; p < P; p++) x[p] = _mm256_loadu_ps(xr + off[p] + kw);
#pragma GCC unroll 4
                for (int o = 0; o < OCB; o++) {
                    const __m256 wv = _mm256_broadcast_ss(wr + o * wstride + kw);
#pragma GCC unroll 4
                    for (int p = 0; p < P; p++) acc[o][p] = _mm256_fmadd_ps(wv, x[p], acc[o][p]);
                }
            }
        }
    }
    const size_t N = (size_t)OH * OW;
    /* the fused ReLU: max(x, +0) is x > 0 ? x : +0 (NaN and -0 give +0), as nn_relu_forward */
    const __m256 zero = _mm256_setzero_ps();
#pragma GCC unroll 4
    for (int o = 0; o < OCB; o++)
#pragma GCC unroll 4
        for (int p = 0; p < P; p++)
            _mm256_storeu_ps(out + (oc0 + o) * N + oo[p],
                             relu ? _mm256_max_ps(acc[o][p], zero) : acc[o][p]);
}

/* Pixel vectors per forward tile: at most 12 accumulators. */
CD_TGT static void fwd_image(float *out, const float *in, const float *w, const float *b,
                             const nn_conv2d_dims *d, int relu)
{
    const int OW = d->W - d->KW + 1, OH = d->H - d->KH + 1;
    const int V = OW / 8, T = OH * V;
    for (int oc0 = 0, ocb; oc0 < d->OC; oc0 += ocb) {
        ocb = cd_block(d->OC, oc0);
        const int P = ocb == 4 ? 3 : 4;
        for (int t0 = 0; t0 < T; t0 += P) {
            const int np = T - t0 < P ? T - t0 : P;
            size_t off[4], oo[4];
            cd_pixels(t0, np, V, d->W, OW, off, oo);
#define CD_FWD(o, p)                                                                               \
    case (o)*8 + (p):                                                                              \
        fwd_tile(out, in, w, b, d, oc0, off, oo, relu, o, p);                                      \
        break;
            switch (ocb * 8 + np) {
                CD_FWD(4, 1)
                CD_FWD(4, 2)
                CD_FWD(4, 3)
                CD_FWD(3, 1)
                CD_FWD(3, 2)
                CD_FWD(3, 3)
                CD_FWD(3, 4)
                CD_FWD(2, 1)
                CD_FWD(2, 2)
                CD_FWD(2, 3)
                CD_FWD(2, 4)
                CD_FWD(1, 1)
                CD_FWD(1, 2)
                CD_FWD(1, 3)
                CD_FWD(1, 4)
            default:
                break;
            }
#undef CD_FWD
        }
    }
}

/* ---- dw: 8-lane partial sums part ((OC, IC, KH, KW), 8) += over the pixels of images
 * [0, nb) (g and x point at the first image's dout and input) ---- */

CD_TGT static CD_INL void dw_tile(float *part, const float *g, const float *x,
                                  const nn_conv2d_dims *d, int nb, int oc0, int ic, int kh, int kw0,
                                  const int OCB, const int KWB)
{
    const int W = d->W, H = d->H, KH = d->KH, KW = d->KW;
    const int OW = W - KW + 1, OH = H - KH + 1, V = OW / 8;
    const size_t N = (size_t)OH * OW, out_img = (size_t)d->OC * N;
    const size_t in_img = (size_t)d->IC * H * W;
    __m256 acc[4][3];
    float *pp[4];
#pragma GCC unroll 4
    for (int o = 0; o < OCB; o++) {
        pp[o] = part + 8 * ((((size_t)(oc0 + o) * d->IC + ic) * KH + kh) * KW + kw0);
#pragma GCC unroll 3
        for (int k = 0; k < KWB; k++) acc[o][k] = _mm256_loadu_ps(pp[o] + 8 * k);
    }
    for (int n = 0; n < nb; n++) {
        const float *g0 = g + n * out_img + (size_t)oc0 * N;
        const float *x0 = x + n * in_img + ((size_t)ic * H + kh) * W + kw0;
        for (int oh = 0; oh < OH; oh++) {
            for (int v = 0; v < V; v++) {
                const float *xr = x0 + (size_t)oh * W + 8 * v;
                const size_t go = (size_t)oh * OW + 8 * v;
                __m256 gv[4];
#pragma GCC unroll 4
                for (int o = 0; o < OCB; o++) gv[o] = _mm256_loadu_ps(g0 + o * N + go);
#pragma GCC unroll 3
                for (int k = 0; k < KWB; k++) {
                    const __m256 xv = _mm256_loadu_ps(xr + k);
#pragma GCC unroll 4
                    for (int o = 0; o < OCB; o++) acc[o][k] = _mm256_fmadd_ps(gv[o], xv, acc[o][k]);
                }
            }
        }
    }
#pragma GCC unroll 4
    for (int o = 0; o < OCB; o++)
#pragma GCC unroll 3
        for (int k = 0; k < KWB; k++) _mm256_storeu_ps(pp[o] + 8 * k, acc[o][k]);
}

CD_TGT static void dw_images(float *part, const float *g, const float *x, const nn_conv2d_dims *d,
                             int nb)
{
    for (int ic = 0; ic < d->IC; ic++)
        for (int kh = 0; kh < d->KH; kh++)
            for (int oc0 = 0, ocb; oc0 < d->OC; oc0 += ocb) {
                ocb = cd_block(d->OC, oc0);
                for (int kw0 = 0; kw0 < d->KW; kw0 += 3) {
                    const int kwb = d->KW - kw0 < 3 ? d->KW - kw0 : 3;
#define CD_DW(o, k)                                                                                \
    case (o)*4 + (k):                                                                              \
        dw_tile(part, g, x, d, nb, oc0, ic, kh, kw0, o, k);                                        \
        break;
                    switch (ocb * 4 + kwb) {
                        CD_DW(4, 1)
                        CD_DW(4, 2)
                        CD_DW(4, 3)
                        CD_DW(3, 1)
                        CD_DW(3, 2)
                        CD_DW(3, 3)
                        CD_DW(2, 1)
                        CD_DW(2, 2)
                        CD_DW(2, 3)
                        CD_DW(1, 1)
                        CD_DW(1, 2)
                        CD_DW(1, 3)
                    default:
                        break;
                    }
#undef CD_DW
                }
            }
}

/* ---- din: dx (IC, H, W) += scatter of dout rows through every tap, one image ----
 * For a tile of taps (ic, kh, kw) and output rows oh: acc = sum over oc of w[oc][tap] *
 * g[oc][oh][8v..8v+7], then dx[ic][oh + kh][8v + kw ..] += acc. */

CD_TGT static CD_INL void din_tile(float *dx, const float *g, const float *w,
                                   const nn_conv2d_dims *d, const size_t *woff, const size_t *toff,
                                   const size_t *go, const size_t *xo, const int T, const int R)
{
    const size_t N = (size_t)(d->H - d->KH + 1) * (d->W - d->KW + 1);
    const size_t taps = (size_t)d->IC * d->KH * d->KW;
    __m256 acc[4][3];
#pragma GCC unroll 4
    for (int i = 0; i < T; i++)
#pragma GCC unroll 3
        for (int r = 0; r < R; r++) acc[i][r] = _mm256_setzero_ps();
    for (int oc = 0; oc < d->OC; oc++) {
        const float *gr = g + (size_t)oc * N;
        const float *wr = w + (size_t)oc * taps;
        __m256 gv[3];
#pragma GCC unroll 3
        for (int r = 0; r < R; r++) gv[r] = _mm256_loadu_ps(gr + go[r]);
#pragma GCC unroll 4
        for (int i = 0; i < T; i++) {
            const __m256 wv = _mm256_broadcast_ss(wr + woff[i]);
#pragma GCC unroll 3
            for (int r = 0; r < R; r++) acc[i][r] = _mm256_fmadd_ps(wv, gv[r], acc[i][r]);
        }
    }
#pragma GCC unroll 4
    for (int i = 0; i < T; i++)
#pragma GCC unroll 3
        for (int r = 0; r < R; r++) {
            float *p = dx + toff[i] + xo[r];
            _mm256_storeu_ps(p, _mm256_add_ps(_mm256_loadu_ps(p), acc[i][r]));
        }
}

CD_TGT static void din_image(float *dx, const float *g, const float *w, const nn_conv2d_dims *d)
{
    const int KH = d->KH, KW = d->KW, W = d->W, OW = W - KW + 1, V = OW / 8;
    const int T = (d->H - KH + 1) * V;
    /* A tile's taps are up to 4 input channels at one (kh, kw): their rows of dx never
     * overlap, so the tile's read-modify-writes do not wait on each other's stores (adjacent
     * kw, one float apart, would defeat store-to-load forwarding). */
    for (int kh = 0; kh < KH; kh++)
        for (int kw = 0; kw < KW; kw++)
            for (int ic0 = 0, tb; ic0 < d->IC; ic0 += tb) {
                tb = cd_block(d->IC, ic0);
                size_t woff[4], toff[4]; /* the tap in w's (IC, KH, KW); its dx origin */
                for (int i = 0; i < tb; i++) {
                    woff[i] = ((size_t)(ic0 + i) * KH + kh) * KW + kw;
                    toff[i] = ((size_t)(ic0 + i) * d->H + kh) * W + kw;
                }
                for (int t0 = 0; t0 < T; t0 += 3) {
                    const int rb = T - t0 < 3 ? T - t0 : 3;
                    size_t go[3], xo[3];
                    cd_pixels(t0, rb, V, W, OW, xo, go);
#define CD_DIN(i, r)                                                                               \
    case (i)*4 + (r):                                                                              \
        din_tile(dx, g, w, d, woff, toff, go, xo, i, r);                                           \
        break;
                    switch (tb * 4 + rb) {
                        CD_DIN(4, 3)
                        CD_DIN(4, 2)
                        CD_DIN(4, 1)
                        CD_DIN(3, 3)
                        CD_DIN(3, 2)
                        CD_DIN(3, 1)
                        CD_DIN(2, 3)
                        CD_DIN(2, 2)
                        CD_DIN(2, 1)
                        CD_DIN(1, 3)
                        CD_DIN(1, 2)
                        CD_DIN(1, 1)
                    default:
                        break;
                    }
#undef CD_DIN
                }
            }
}

CD_TGT static float cd_hsum(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
    return _mm_cvtss_f32(s);
}

CD_TGT static void cd_reduce(float *dw, const float *part, size_t taps)
{
    for (size_t i = 0; i < taps; i++) dw[i] += cd_hsum(_mm256_loadu_ps(part + 8 * i));
}

#endif /* CD_X86 */

void nn_conv2d_direct_forward(float *out, const float *in, const float *w, const float *b,
                              const nn_conv2d_dims *d, float *ws, int relu)
{
#if CD_X86
    if (nn_conv2d_direct_avx512()) {
        nn_conv2d_direct512_forward(out, in, w, b, d, ws, relu);
        return;
    }
    const size_t in_img = (size_t)d->IC * d->H * d->W;
    const size_t out_img = (size_t)d->OC * (d->H - d->KH + 1) * (d->W - d->KW + 1);
    for (int n = 0; n < d->B; n++) fwd_image(out + n * out_img, in + n * in_img, w, b, d, relu);
#else
    (void)out, (void)in, (void)w, (void)b, (void)d, (void)ws, (void)relu;
#endif
}

void nn_conv2d_direct_backward(float *din, float *dw, const float *dout, const float *in,
                               const float *w, const nn_conv2d_dims *d, float *ws)
{
#if CD_X86
    const int OH = d->H - d->KH + 1, OW = d->W - d->KW + 1;
    const size_t in_img = (size_t)d->IC * d->H * d->W, out_img = (size_t)d->OC * OH * OW;
    const size_t taps = (size_t)d->OC * d->IC * d->KH * d->KW;
    const int wide = nn_conv2d_direct_avx512();
    if (dw) {
        /* images per pass over the taps: about 64 KiB of dout and input, so a chunk stays in
         * L2 while every tap tile sweeps it */
        size_t chunk = (size_t)16384 / (in_img + out_img);
        if (chunk < 1) chunk = 1;
        memset(ws, 0, sizeof(float) * 8 * taps);
        for (int n0 = 0; n0 < d->B; n0 += (int)chunk) {
            const int nb = d->B - n0 < (int)chunk ? d->B - n0 : (int)chunk;
            if (wide)
                nn_conv2d_direct512_dw_images(ws, dout + n0 * out_img, in + n0 * in_img, d, nb);
            else
                dw_images(ws, dout + n0 * out_img, in + n0 * in_img, d, nb);
        }
        cd_reduce(dw, ws, taps);
    }
    if (din) {
        if (wide)
            nn_conv2d_direct512_din(din, dout, w, d, ws + 8 * taps);
        else
            for (int n = 0; n < d->B; n++) din_image(din + n * in_img, dout + n * out_img, w, d);
    }
#else
    (void)din, (void)dw, (void)dout, (void)in, (void)w, (void)d, (void)ws;
#endif
}
