/* AVX-512 kernels of the direct few-channel convolution (conv_direct.h; conv_direct.c runs them
 * instead of its AVX2 ones when fs_simd_level() is FS_SIMD_AVX512 and the CPU has AVX-512F and
 * DQ). They give exactly the AVX2 kernels' bits (tests/unit/test_nn_conv.c compares them with
 * memcmp), so LeNet's results do not depend on the vector width:
 *   forward  every output element is the bias plus FMAs over (ic, kh, kw) in that order, as in
 *            the AVX2 tiles: which lanes share a register does not enter into it;
 *   din      every tap's contribution is an FMA chain over the output channels from zero, added
 *            to the input gradient once, the taps in (kh, kw) order, as in the AVX2 tiles;
 *   dw       the same 8-lane partial sums per (oc, ic, kh, kw) as the AVX2 path, in the same
 *            order over (image, oh, pixel vector): a zmm holds two of them, output channels
 *            oc and oc + 1 at one kernel column (the input's 8 floats broadcast to both
 *            halves, the two channels' dout rows in the halves); conv_direct.c reduces them.
 * Two of the AVX2 path's 8-pixel vectors (consecutive in the output, so adjacent there; in the
 * input and its gradient adjacent too unless the pair straddles a row) share a zmm: the low
 * half is a ymm load, the high half a masked load, and an odd last vector leaves the high half
 * masked off (only a tile's last pair can be half, so the other masks are constants). 32
 * registers allow tiles of up to 24 accumulators:
 *   forward  up to 6 output channels x 4 pixel pairs;
 *   dw       up to 4 channel pairs x 5 kernel columns, for one (ic, kh);
 *   din      up to 6 taps (input channels at one kh, kw) x 4 pixel pairs.
 * The forward and din first copy the weights (OC*IC*KH*KW floats, into the workspace) in the
 * order their tiles broadcast them, so that a tile reads them through one moving pointer: with
 * a pointer per channel the tiles ran out of general registers and spilled in the inner loop.
 * Compiled for AVX-512 by function attributes only; on other targets this file is empty. */
#include "nn/conv_direct.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>

#define C5_TGT __attribute__((target("avx512f,avx512dq,avx2,fma")))
#define C5_INL __attribute__((always_inline)) inline

/* Two 8-pixel vectors t, t + 1 of an (OH, OW) output (OW = 8V, row-major): the first one's
 * offset in the input image (lo), the second one's minus 8 (hi8: a masked load of lanes 8-15
 * from there reads its 8 floats; never below 0, as the second vector starts at least at
 * column 8 or on row 1 of rows W >= 8 wide), the mask of the high half (0 when t is the last
 * vector; hi8 is lo then), and the pair's offset in the output, where t + 1 follows t. */
typedef struct c5_pair {
    size_t lo, hi8, out;
    __mmask16 hm;
} c5_pair;

static void c5_pairs(int z0, int n, int T, int V, int W, c5_pair *px)
{
    int t = 2 * z0, oh = t / V, v = t % V; /* vector t is (row oh, columns 8v ..) */
    for (int r = 0; r < n; r++, t += 2) {
        const size_t lo = (size_t)oh * W + 8 * (size_t)v;
        if (++v == V) v = 0, oh++;
        px[r].lo = lo;
        px[r].out = 8 * (size_t)t;
        px[r].hm = t + 1 < T ? 0xFF00 : 0;
        px[r].hi8 = t + 1 < T ? (size_t)oh * W + 8 * (size_t)v - 8 : lo;
        if (++v == V) v = 0, oh++;
    }
}

/* Near-equal blocks of at most max over n items: the size of the block that starts at i0. */
static int c5_block(int n, int i0, int max)
{
    const int nb = (n + max - 1) / max;
    const int base = n / nb, extra = n % nb;
    return i0 < extra * (base + 1) ? base + 1 : base;
}

/* lanes 0-7 from lo, lanes 8-15 from hi8 + 8 where hm says (zero elsewhere) */
C5_TGT static C5_INL __m512 c5_load2(const float *lo, const float *hi8, __mmask16 hm)
{
    return _mm512_mask_loadu_ps(_mm512_zextps256_ps512(_mm256_loadu_ps(lo)), hm, hi8);
}

/* (a masked store of lanes 8-15 measured slower than extracting them to a ymm store) */
C5_TGT static C5_INL void c5_store2(float *lo, float *hi8, __mmask16 hm, __m512 v)
{
    _mm256_storeu_ps(lo, _mm512_castps512_ps256(v));
    if (hm) _mm256_storeu_ps(hi8 + 8, _mm512_extractf32x8_ps(v, 1));
}

/* ---- forward: one image ---- */

C5_TGT static C5_INL void fwd_tile(float *out, const float *in, const float *wp, const float *b,
                                   const nn_conv2d_dims *d, int oc0, const c5_pair *px,
                                   const int relu, const int OCB, const int P)
{
    const int W = d->W, H = d->H, KH = d->KH, KW = d->KW;
    const size_t N = (size_t)(H - KH + 1) * (W - KW + 1);
    /* only a tile's last pair may be half */
    const __mmask16 hl = px[P - 1].hm;
    __m512 acc[6][4];
#pragma GCC unroll 6
    for (int o = 0; o < OCB; o++) {
        const __m512 bias = _mm512_set1_ps(b ? b[oc0 + o] : 0.0f);
#pragma GCC unroll 4
        for (int p = 0; p < P; p++) acc[o][p] = bias;
    }
    const float *xl[4], *xh[4];
#pragma GCC unroll 4
    for (int p = 0; p < P; p++) xl[p] = in + px[p].lo, xh[p] = in + px[p].hi8;
    for (int ic = 0; ic < d->IC; ic++) {
        for (int kh = 0; kh < KH; kh++) {
            const size_t row = ((size_t)ic * H + kh) * W;
            for (int kw = 0; kw < KW; kw++, wp += OCB) {
                __m512 x[4];
#pragma GCC unroll 4
                for (int p = 0; p < P; p++)
                    x[p] = c5_load2(xl[p] + row + kw, xh[p] + row + kw,
                                    p == P - 1 ? hl : (__mmask16)0xFF00);
#pragma GCC unroll 6
                for (int o = 0; o < OCB; o++) {
                    const __m512 wv = _mm512_set1_ps(wp[o]);
#pragma GCC unroll 4
                    for (int p = 0; p < P; p++) acc[o][p] = _mm512_fmadd_ps(wv, x[p], acc[o][p]);
                }
            }
        }
    }
    /* the fused ReLU: max(x, +0) is x > 0 ? x : +0 (NaN and -0 give +0), as nn_relu_forward */
    const __m512 zero = _mm512_setzero_ps();
#pragma GCC unroll 6
    for (int o = 0; o < OCB; o++)
#pragma GCC unroll 4
        for (int p = 0; p < P; p++) {
            float *y = out + (oc0 + o) * N + px[p].out; /* a pair is contiguous in out */
            const __m512 v = relu ? _mm512_max_ps(acc[o][p], zero) : acc[o][p];
            if (px[p].hm)
                _mm512_storeu_ps(y, v);
            else
                _mm256_storeu_ps(y, _mm512_castps512_ps256(v));
        }
}

#define C5_R4(F, a) F(a, 1) F(a, 2) F(a, 3) F(a, 4)

/* The weights of output-channel blocks of at most 6 as (block, IC, KH, KW, channel in block):
 * a tile reads its broadcasts from one moving pointer. */
static void c5_pack_fwd(float *wp, const float *w, const nn_conv2d_dims *d)
{
    const size_t taps = (size_t)d->IC * d->KH * d->KW;
    for (int oc0 = 0, ocb; oc0 < d->OC; oc0 += ocb) {
        ocb = c5_block(d->OC, oc0, 6);
        for (size_t t = 0; t < taps; t++)
            for (int o = 0; o < ocb; o++) *wp++ = w[(size_t)(oc0 + o) * taps + t];
    }
}

C5_TGT void nn_conv2d_direct512_forward(float *out, const float *in, const float *w, const float *b,
                                        const nn_conv2d_dims *d, float *ws, int relu)
{
    const int OW = d->W - d->KW + 1, OH = d->H - d->KH + 1;
    const int V = OW / 8, T = OH * V, Z = (T + 1) / 2;
    const size_t taps = (size_t)d->IC * d->KH * d->KW;
    const size_t in_img = (size_t)d->IC * d->H * d->W;
    const size_t out_img = (size_t)d->OC * OH * OW;
    c5_pack_fwd(ws, w, d);
    for (int n = 0; n < d->B; n++) {
        const float *x = in + n * in_img;
        float *y = out + n * out_img;
        for (int oc0 = 0, ocb; oc0 < d->OC; oc0 += ocb) {
            ocb = c5_block(d->OC, oc0, 6);
            const float *wp = ws + (size_t)oc0 * taps;
            for (int z0 = 0; z0 < Z; z0 += 4) {
                const int np = Z - z0 < 4 ? Z - z0 : 4;
                c5_pair px[4];
                c5_pairs(z0, np, T, V, d->W, px);
#define C5_FWD(o, p)                                                                               \
    case (o)*8 + (p):                                                                              \
        fwd_tile(y, x, wp, b, d, oc0, px, relu, o, p);                                             \
        break;
                switch (ocb * 8 + np) {
                    C5_R4(C5_FWD, 1)
                    C5_R4(C5_FWD, 2)
                    C5_R4(C5_FWD, 3)
                    C5_R4(C5_FWD, 4)
                    C5_R4(C5_FWD, 5)
                    C5_R4(C5_FWD, 6)
                default:
                    break;
                }
#undef C5_FWD
            }
        }
    }
}

/* ---- dw: the AVX2 path's 8-lane partial sums part ((OC, IC, KH, KW), 8) += over the pixels
 * of images [0, nb) ----
 * A tile: channel pairs (oc0 + 2p, oc0 + 2p + 1; the second one absent, its half masked off,
 * when OC is odd) x kernel columns kw0 .. kw0 + KWB - 1, at one (ic, kh). */

C5_TGT static C5_INL void dw_tile(float *part, const float *g, const float *x,
                                  const nn_conv2d_dims *d, int nb, int oc0, int ic, int kh, int kw0,
                                  const int PB, const int KWB)
{
    const int W = d->W, H = d->H, KH = d->KH, KW = d->KW;
    const int OW = W - KW + 1, OH = H - KH + 1, V = OW / 8;
    const size_t N = (size_t)OH * OW, out_img = (size_t)d->OC * N;
    const size_t in_img = (size_t)d->IC * H * W;
    const size_t tap_oc = (size_t)d->IC * KH * KW; /* taps apart between channels */
    __m512 acc[4][5];
    float *pa[4], *pb8[4];
    size_t gb8[4]; /* the second channel's dout row minus 8, from the first pair's row */
    __mmask16 hm[4];
    /* only the last pair may be half (odd OC) */
    const __mmask16 hl = oc0 + 2 * PB - 1 < d->OC ? 0xFF00 : 0;
#pragma GCC unroll 4
    for (int p = 0; p < PB; p++) {
        const int oc = oc0 + 2 * p, two = oc + 1 < d->OC;
        hm[p] = two ? 0xFF00 : 0;
        pa[p] = part + 8 * ((((size_t)oc * d->IC + ic) * KH + kh) * KW + kw0);
        pb8[p] = two ? pa[p] + 8 * tap_oc - 8 : pa[p];
        gb8[p] = two ? (2 * (size_t)p + 1) * N - 8 : 2 * (size_t)p * N;
#pragma GCC unroll 5
        for (int k = 0; k < KWB; k++) acc[p][k] = c5_load2(pa[p] + 8 * k, pb8[p] + 8 * k, hm[p]);
    }
    for (int n = 0; n < nb; n++) {
        const float *g0 = g + n * out_img + (size_t)oc0 * N;
        const float *x0 = x + n * in_img + ((size_t)ic * H + kh) * W + kw0;
        for (int oh = 0; oh < OH; oh++) {
            for (int v = 0; v < V; v++) {
                const float *xr = x0 + (size_t)oh * W + 8 * v;
                const size_t go = (size_t)oh * OW + 8 * v;
                __m512 gv[4];
#pragma GCC unroll 4
                for (int p = 0; p < PB; p++)
                    gv[p] = c5_load2(g0 + 2 * (size_t)p * N + go, g0 + gb8[p] + go,
                                     p == PB - 1 ? hl : (__mmask16)0xFF00);
#pragma GCC unroll 5
                for (int k = 0; k < KWB; k++) {
                    const __m512 xv = _mm512_broadcast_f32x8(_mm256_loadu_ps(xr + k));
#pragma GCC unroll 4
                    for (int p = 0; p < PB; p++) acc[p][k] = _mm512_fmadd_ps(gv[p], xv, acc[p][k]);
                }
            }
        }
    }
#pragma GCC unroll 4
    for (int p = 0; p < PB; p++)
#pragma GCC unroll 5
        for (int k = 0; k < KWB; k++) c5_store2(pa[p] + 8 * k, pb8[p] + 8 * k, hm[p], acc[p][k]);
}

#define C5_R5(F, a) F(a, 1) F(a, 2) F(a, 3) F(a, 4) F(a, 5)

C5_TGT void nn_conv2d_direct512_dw_images(float *part, const float *g, const float *x,
                                          const nn_conv2d_dims *d, int nb)
{
    const int pairs = (d->OC + 1) / 2;
    for (int ic = 0; ic < d->IC; ic++)
        for (int kh = 0; kh < d->KH; kh++)
            for (int p0 = 0, pb; p0 < pairs; p0 += pb) {
                pb = c5_block(pairs, p0, 4);
                for (int kw0 = 0, kwb; kw0 < d->KW; kw0 += kwb) {
                    kwb = c5_block(d->KW, kw0, 5);
#define C5_DW(p, k)                                                                                \
    case (p)*8 + (k):                                                                              \
        dw_tile(part, g, x, d, nb, 2 * p0, ic, kh, kw0, p, k);                                     \
        break;
                    switch (pb * 8 + kwb) {
                        C5_R5(C5_DW, 1)
                        C5_R5(C5_DW, 2)
                        C5_R5(C5_DW, 3)
                        C5_R5(C5_DW, 4)
                    default:
                        break;
                    }
#undef C5_DW
                }
            }
}

/* ---- din: dx (IC, H, W) += the scatter of dout through every tap, one image ---- */

C5_TGT static C5_INL void din_tile(float *dx, const float *g, const float *wq,
                                   const nn_conv2d_dims *d, const size_t *toff, const c5_pair *px,
                                   const int TB, const int R)
{
    const size_t N = (size_t)(d->H - d->KH + 1) * (d->W - d->KW + 1);
    const __mmask16 hl = px[R - 1].hm; /* only the last pair may be half */
    __m512 acc[6][4];
#pragma GCC unroll 6
    for (int i = 0; i < TB; i++)
#pragma GCC unroll 4
        for (int r = 0; r < R; r++) acc[i][r] = _mm512_setzero_ps();
    const float *gr = g + px[0].out; /* the pairs are 16 floats apart in dout */
    for (int oc = 0; oc < d->OC; oc++, gr += N, wq += TB) {
        __m512 gv[4];
#pragma GCC unroll 4
        for (int r = 0; r < R; r++)
            gv[r] = r == R - 1 ? _mm512_maskz_loadu_ps((__mmask16)(hl | 0xFF), gr + 16 * r)
                               : _mm512_loadu_ps(gr + 16 * r);
#pragma GCC unroll 6
        for (int i = 0; i < TB; i++) {
            const __m512 wv = _mm512_set1_ps(wq[i]);
#pragma GCC unroll 4
            for (int r = 0; r < R; r++) acc[i][r] = _mm512_fmadd_ps(wv, gv[r], acc[i][r]);
        }
    }
#pragma GCC unroll 6
    for (int i = 0; i < TB; i++)
#pragma GCC unroll 4
        for (int r = 0; r < R; r++) {
            float *lo = dx + toff[i] + px[r].lo, *hi8 = dx + toff[i] + px[r].hi8;
            c5_store2(lo, hi8, px[r].hm, _mm512_add_ps(c5_load2(lo, hi8, px[r].hm), acc[i][r]));
        }
}

/* w transposed for din: per (kh, kw), per block of at most 6 input channels, (OC, channel in
 * block); a tile reads its broadcasts from one moving pointer. */
static void c5_pack_din(float *wt, const float *w, const nn_conv2d_dims *d)
{
    const int KH = d->KH, KW = d->KW;
    for (int kh = 0; kh < KH; kh++)
        for (int kw = 0; kw < KW; kw++)
            for (int ic0 = 0, tb; ic0 < d->IC; ic0 += tb) {
                tb = c5_block(d->IC, ic0, 6);
                for (int oc = 0; oc < d->OC; oc++)
                    for (int i = 0; i < tb; i++)
                        *wt++ = w[(((size_t)oc * d->IC + ic0 + i) * KH + kh) * KW + kw];
            }
}

C5_TGT void nn_conv2d_direct512_din(float *din, const float *dout, const float *w,
                                    const nn_conv2d_dims *d, float *ws)
{
    const int KH = d->KH, KW = d->KW, W = d->W, OW = W - KW + 1, V = OW / 8;
    const int T = (d->H - KH + 1) * V, Z = (T + 1) / 2;
    const size_t in_img = (size_t)d->IC * d->H * W, out_img = (size_t)d->OC * T * 8;
    c5_pack_din(ws, w, d);
    for (int n = 0; n < d->B; n++) {
        float *dx = din + n * in_img;
        const float *g = dout + n * out_img;
        const float *wq = ws;
        /* (kh, kw) outermost: every input-gradient element receives its taps in the AVX2
         * path's order; within one (kh, kw) the tiles touch disjoint elements (and, as there,
         * a tile's rows never partially overlap) */
        for (int kh = 0; kh < KH; kh++)
            for (int kw = 0; kw < KW; kw++)
                for (int ic0 = 0, tb; ic0 < d->IC; ic0 += tb, wq += (size_t)tb * d->OC) {
                    tb = c5_block(d->IC, ic0, 6);
                    size_t toff[6]; /* the tap's origin in dx */
                    for (int i = 0; i < tb; i++) toff[i] = ((size_t)(ic0 + i) * d->H + kh) * W + kw;
                    for (int z0 = 0; z0 < Z; z0 += 4) {
                        const int rb = Z - z0 < 4 ? Z - z0 : 4;
                        c5_pair px[4];
                        c5_pairs(z0, rb, T, V, W, px);
#define C5_DIN(i, r)                                                                               \
    case (i)*8 + (r):                                                                              \
        din_tile(dx, g, wq, d, toff, px, i, r);                                                    \
        break;
                        switch (tb * 8 + rb) {
                            C5_R4(C5_DIN, 1)
                            C5_R4(C5_DIN, 2)
                            C5_R4(C5_DIN, 3)
                            C5_R4(C5_DIN, 4)
                            C5_R4(C5_DIN, 5)
                            C5_R4(C5_DIN, 6)
                        default:
                            break;
                        }
#undef C5_DIN
                    }
                }
    }
}

#endif
