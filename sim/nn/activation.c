/* Activation and dropout kernels. See activation.h. No allocation; dropout's randomness
 * comes only from the rng stream the caller passes. */
#include "nn/activation.h"

#include <math.h>
#include <string.h>

#include "nn/nn_math.h"

/* The ReLU loops are marked `omp simd`: vectorised also at -O2, element-wise and branch-free,
 * so bit-identical to the scalar loop (out may alias in: each lane reads before it writes). */
void nn_relu_forward(float *out, const float *in, size_t n)
{
#pragma omp simd
    for (size_t i = 0; i < n; i++) out[i] = in[i] > 0.0f ? in[i] : 0.0f;
}

void nn_relu_backward(float *din, const float *dout, const float *out, size_t n)
{
    if (!din) return;
#pragma omp simd
    for (size_t i = 0; i < n; i++) din[i] += out[i] > 0.0f ? dout[i] : 0.0f;
}

void nn_tanh_forward(float *out, const float *in, size_t n)
{
    for (size_t i = 0; i < n; i++) out[i] = nn_tanhf(in[i]);
}

void nn_tanh_backward(float *din, const float *dout, const float *out, size_t n)
{
    if (!din) return;
#pragma omp simd
    for (size_t i = 0; i < n; i++) din[i] += dout[i] * (1.0f - out[i] * out[i]);
}

void nn_sigmoid_forward(float *out, const float *in, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        float x = in[i];
        if (x >= 0.0f) {
            out[i] = 1.0f / (1.0f + expf(-x));
        } else {
            float e = expf(x);
            out[i] = e / (1.0f + e);
        }
    }
}

void nn_sigmoid_backward(float *din, const float *dout, const float *out, size_t n)
{
    if (!din) return;
#pragma omp simd
    for (size_t i = 0; i < n; i++) din[i] += dout[i] * out[i] * (1.0f - out[i]);
}

void nn_dropout_forward(float *out, float *mask, const float *in, size_t n, float p, int training,
                        rng_t *rng)
{
    if (!training || p <= 0.0f) {
        if (out != in) memmove(out, in, n * sizeof(float));
        if (mask)
            for (size_t i = 0; i < n; i++) mask[i] = 1.0f;
        return;
    }
    if (p >= 1.0f) {
        for (size_t i = 0; i < n; i++) out[i] = mask[i] = 0.0f;
        return;
    }
    const float keep = 1.0f / (1.0f - p);
    for (size_t i = 0; i < n; i++) {
        mask[i] = rng_uniform(rng) < (double)p ? 0.0f : keep;
        out[i] = in[i] * mask[i];
    }
}

void nn_dropout_backward(float *din, const float *dout, const float *mask, size_t n)
{
    if (!din) return;
#pragma omp simd
    for (size_t i = 0; i < n; i++) din[i] += dout[i] * mask[i];
}
