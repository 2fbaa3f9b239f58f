/* 2-D max and average pooling over NCHW float tensors (PyTorch's MaxPool2d / AvgPool2d with
 * no padding, floor mode). Owns nothing; every buffer belongs to the caller.
 *   in   (B, C, H, W)
 *   out  (B, C, OH, OW)        OH = (H - KH) / stride_h + 1, likewise OW
 * Max pooling stores, per output, the argmax as an index into its input plane (ih*W + iw,
 * as PyTorch's return_indices); ties go to the first position in row-major window order and
 * a NaN wins (it propagates, as in PyTorch). Backward ACCUMULATES (+=) into din; a NULL din
 * skips the call. Windows may overlap (stride < kernel): backward then sums. */
#ifndef FEDSIM_NN_POOL_H
#define FEDSIM_NN_POOL_H

#include <stdint.h>

#include "util/err.h"

typedef struct nn_pool2d_dims {
    int B, C, H, W;         /* input (B, C, H, W) */
    int KH, KW;             /* window */
    int stride_h, stride_w; /* >= 1 */
} nn_pool2d_dims;

/* FS_OK when sizes and strides are positive and the window fits; FS_EINPUT otherwise. */
fs_err nn_pool2d_check_dims(const nn_pool2d_dims *d);
int nn_pool2d_out_h(const nn_pool2d_dims *d);
int nn_pool2d_out_w(const nn_pool2d_dims *d);

/* out (B, C, OH, OW) = window max of in (B, C, H, W); argmax (B, C, OH, OW) int32. */
void nn_maxpool2d_forward(float *out, int32_t *argmax, const float *in, const nn_pool2d_dims *d);
/* din (B, C, H, W) += dout (B, C, OH, OW) routed through argmax (B, C, OH, OW). */
void nn_maxpool2d_backward(float *din, const float *dout, const int32_t *argmax,
                           const nn_pool2d_dims *d);

/* The windows do not overlap and tile the input exactly (kernel == stride, H and W multiples of
 * it): the condition of nn_maxpool2d_backward_relu. */
int nn_maxpool2d_tiles(const nn_pool2d_dims *d);
/* Max-pool backward fused with the backward of the in-place ReLU before it, whose output y
 * (B, C, H, W) is the pool's input: din = (din zeroed; din[argmax] += dout; din = y > 0 ? din :
 * 0), written (not accumulated) in one pass, with those bits (the argmax position gets 0 + g,
 * so -0 becomes +0; every other position +0). Only when nn_maxpool2d_tiles(d). */
void nn_maxpool2d_backward_relu(float *din, const float *dout, const int32_t *argmax,
                                const float *y, const nn_pool2d_dims *d);

/* out (B, C, OH, OW) = window mean of in (B, C, H, W). */
void nn_avgpool2d_forward(float *out, const float *in, const nn_pool2d_dims *d);
/* din (B, C, H, W) += dout (B, C, OH, OW) / (KH*KW) spread over each window. */
void nn_avgpool2d_backward(float *din, const float *dout, const nn_pool2d_dims *d);

#endif
