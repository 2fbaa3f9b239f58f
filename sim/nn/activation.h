/* Element-wise activations and inverted dropout over flat float arrays of n elements (any
 * shape). Owns nothing. Forward may run in place (out == in). Backward ACCUMULATES (+=) into
 * din, computing the derivative from the saved forward OUTPUT (so the input need not be
 * kept); din may be NULL to skip, and din must not alias dout or out. */
#ifndef FEDSIM_NN_ACTIVATION_H
#define FEDSIM_NN_ACTIVATION_H

#include <stddef.h>

#include "util/rng.h"

/* out (n) = max(in, 0) */
void nn_relu_forward(float *out, const float *in, size_t n);
/* din (n) += dout where out > 0 */
void nn_relu_backward(float *din, const float *dout, const float *out, size_t n);

/* out (n) = tanh(in) */
void nn_tanh_forward(float *out, const float *in, size_t n);
/* din (n) += dout * (1 - out^2) */
void nn_tanh_backward(float *din, const float *dout, const float *out, size_t n);

/* out (n) = 1 / (1 + exp(-in)), overflow-free for any finite in */
void nn_sigmoid_forward(float *out, const float *in, size_t n);
/* din (n) += dout * out * (1 - out) */
void nn_sigmoid_backward(float *din, const float *dout, const float *out, size_t n);

/* Inverted dropout (Srivastava et al., JMLR 2014, scaled at training time so that
 * inference is the identity). Training: each element is dropped with probability p, drawn
 * with one rng_uniform(rng) per element in index order; mask (n) = 0 for dropped and
 * 1/(1-p) for kept elements, out = in * mask. p = 1 drops everything (mask 0).
 * Not training, or p = 0: out = in, mask filled with 1 when not NULL, rng untouched.
 * Requires 0 <= p <= 1. */
void nn_dropout_forward(float *out, float *mask, const float *in, size_t n, float p, int training,
                        rng_t *rng);
/* din (n) += dout * mask */
void nn_dropout_backward(float *din, const float *dout, const float *mask, size_t n);

#endif
