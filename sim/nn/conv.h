/* 2-D convolution (cross-correlation, as PyTorch's nn.Conv2d) over NCHW float tensors.
 * Owns nothing: every tensor and the scratch workspace belong to the caller, no kernel
 * allocates. Layouts are PyTorch's, so torch-initialised weights map directly:
 *   in   (B, IC, H, W)
 *   w    (OC, IC, KH, KW)
 *   b    (OC)                         may be NULL (no bias)
 *   out  (B, OC, OH, OW)              OH = (H + 2*pad_h - KH) / stride_h + 1, likewise OW
 * Zero padding of pad_h rows above and below, pad_w columns left and right.
 * Backward ACCUMULATES (+=) into dw, db and din; any of them may be NULL to skip it.
 * Few-channel valid convolutions (stride 1, no padding, output width a multiple of 8, as
 * LeNet's) run direct AVX2 + FMA loops when the CPU has them, at AVX-512 where it has that
 * too (same bits; conv_direct.h). Everything else is im2col + sgemm (darknet's
 * convolutional_layer.c): forward one sgemm per group of images (one image when
 * OH*OW >= 64), backward two per image, with col2im. The naive loop versions
 * stay compiled as the test oracle of both. */
#ifndef FEDSIM_NN_CONV_H
#define FEDSIM_NN_CONV_H

#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

typedef struct nn_conv2d_dims {
    int B, IC, H, W;        /* input (B, IC, H, W) */
    int OC, KH, KW;         /* weight (OC, IC, KH, KW), bias (OC) */
    int stride_h, stride_w; /* >= 1 */
    int pad_h, pad_w;       /* zero padding on each side, >= 0 */
} nn_conv2d_dims;

/* FS_OK when all sizes are positive, pads non-negative and the output is at least 1x1;
 * FS_EINPUT with a message otherwise. The kernels assume valid dims. */
fs_err nn_conv2d_check_dims(const nn_conv2d_dims *d);
int nn_conv2d_out_h(const nn_conv2d_dims *d);
int nn_conv2d_out_w(const nn_conv2d_dims *d);

/* Floats of scratch the fast forward and backward need: the im2col matrix of G images plus,
 * when G > 1, their (OC, G*OH*OW) product, G = images per forward sgemm (1 when OH*OW >=
 * 64, else ceil(64 / (OH*OW))). Independent of d->B: a workspace sized for one batch
 * size fits every batch size. Size it once for the largest layer and share it. */
size_t nn_conv2d_workspace_size(const nn_conv2d_dims *d);

/* Forward FLOPs for the d->B images of d: 2 * multiply-adds (bias adds not counted).
 * Set d->B = 1 for a per-sample figure. */
uint64_t nn_conv2d_flops(const nn_conv2d_dims *d);

/* out (B, OC, OH, OW) = conv(in (B, IC, H, W), w (OC, IC, KH, KW)) + b (OC).
 * ws: nn_conv2d_workspace_size(d) floats. out must not alias in. */
void nn_conv2d_forward(float *out, const float *in, const float *w, const float *b,
                       const nn_conv2d_dims *d, float *ws);

/* The same with relu != 0 followed by a ReLU: out = max(conv + b, 0) with nn_relu_forward's
 * bits (NaN and -0 become +0), applied as the output is stored. */
void nn_conv2d_forward_relu(float *out, const float *in, const float *w, const float *b,
                            const nn_conv2d_dims *d, float *ws, int relu);

/* Given dout (B, OC, OH, OW) and the forward's in and w:
 *   dw (OC, IC, KH, KW) += dL/dw,  db (OC) += dL/db,  din (B, IC, H, W) += dL/din.
 * ws: nn_conv2d_workspace_size(d) floats. */
void nn_conv2d_backward(float *din, float *dw, float *db, const float *dout, const float *in,
                        const float *w, const nn_conv2d_dims *d, float *ws);

/* The direct few-channel path (conv_direct.h) is used wherever it applies unless switched
 * off here (process-wide; call before training starts, e.g. `fedsim bench kernels --conv
 * im2col` and the tests that compare both paths). */
void nn_conv2d_set_direct(int enabled);

/* Reference 7-loop versions with the same contracts and no workspace (test oracle). */
void nn_conv2d_forward_naive(float *out, const float *in, const float *w, const float *b,
                             const nn_conv2d_dims *d);
void nn_conv2d_backward_naive(float *din, float *dw, float *db, const float *dout, const float *in,
                              const float *w, const nn_conv2d_dims *d);

#endif
