/* Direct few-channel convolution (internal to sim/nn; conv.c dispatches to it).
 * For stride 1, no padding, an output width that is a multiple of 8 and at most
 * NN_CONV_DIRECT_MAX_OC output channels (LeNet's 6 and 16), on CPUs with AVX2 and FMA: the
 * im2col + sgemm path spends most of its time packing and on the 6- or 16-wide edges of
 * OpenBLAS's micro-kernel there, and on copying im2col columns (docs/performance.md). Same
 * layouts and contracts as conv.h; the naive loops of conv.c are its test oracle.
 * Two builds of the kernels: AVX2 + FMA (conv_direct.c) and AVX-512 (conv_direct512.c, used
 * when fs_simd_level() is FS_SIMD_AVX512 and the CPU has AVX-512F and DQ); they give the same
 * bits. Results depend on whether the direct path ran (last bits against im2col + sgemm), never
 * on the vector width or the thread count: the choice is a function of the shape, the CPU and
 * nn_conv2d_set_direct only (a cap below AVX2 keeps the AVX2 kernels: the width cap must not
 * change results). */
#ifndef FEDSIM_NN_CONV_DIRECT_H
#define FEDSIM_NN_CONV_DIRECT_H

#include <stddef.h>

#include "nn/conv.h"

/* Above this many output channels the sgemm path is as fast or faster (cnn's 32 and 64). */
#define NN_CONV_DIRECT_MAX_OC 24

/* The shape qualifies (stride 1, no padding, OW % 8 == 0, OC <= max, not 1x1). */
int nn_conv2d_direct_shape(const nn_conv2d_dims *d);
/* The CPU has AVX2 and FMA (always 0 off x86-64). */
int nn_conv2d_direct_cpu(void);
/* The direct kernels run at AVX-512 now: the CPU has AVX-512F and DQ and fs_simd_level() is
 * FS_SIMD_AVX512 (else at AVX2, same bits). */
int nn_conv2d_direct_avx512(void);
/* Shape, CPU and the process-wide switch all allow the direct path. */
int nn_conv2d_direct_applies(const nn_conv2d_dims *d);
/* Floats of workspace the direct kernels need (0 when the shape does not qualify): dw's 8-lane
 * partial sums, 8 per weight, then a repacked copy of the weights for the AVX-512 din (the
 * AVX-512 forward repacks them at the start). */
size_t nn_conv2d_direct_workspace(const nn_conv2d_dims *d);

/* Only when nn_conv2d_direct_applies(d); ws has nn_conv2d_direct_workspace(d) floats of
 * scratch. Forward writes out, with relu != 0 max(out, 0) (nn_relu_forward's bits); backward
 * accumulates into dw and din (either may be NULL) and leaves the bias gradient to the caller. */
void nn_conv2d_direct_forward(float *out, const float *in, const float *w, const float *b,
                              const nn_conv2d_dims *d, float *ws, int relu);
void nn_conv2d_direct_backward(float *din, float *dw, const float *dout, const float *in,
                               const float *w, const nn_conv2d_dims *d, float *ws);

/* The AVX-512 kernels (conv_direct512.c; x86-64 only), for conv_direct.c: forward (ws: the
 * weights repacked, OC*IC*KH*KW floats); dw's 8-lane partial sums over images [0, nb) (the
 * AVX2 path's layout); din (ws as the forward's). */
void nn_conv2d_direct512_forward(float *out, const float *in, const float *w, const float *b,
                                 const nn_conv2d_dims *d, float *ws, int relu);
void nn_conv2d_direct512_dw_images(float *part, const float *g, const float *x,
                                   const nn_conv2d_dims *d, int nb);
void nn_conv2d_direct512_din(float *din, const float *dout, const float *w, const nn_conv2d_dims *d,
                             float *ws);

#endif
