/* Fully connected layer kernels: sgemm fast path and the naive oracle. See dense.h.
 * Guarantees: no allocation, deterministic for a given OpenBLAS build and thread count,
 * backward accumulates. The forward writes the sgemm product with beta = 0 and adds the bias
 * (and the fused ReLU) in one pass over the output, which is cheaper than copying the bias
 * into every row first and running the sgemm with beta = 1. Element-wise loops are marked
 * `omp simd` (vectorised also at -O2; element-wise, so bit-identical to the scalar loop). */
#include "nn/dense.h"

#include <cblas.h>
#include <stddef.h>

void nn_dense_forward(float *out, const float *in, const float *w, const float *b, int N, int K,
                      int M, int relu)
{
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, M, K, 1.0f, in, K, w, K, 0.0f, out, M);
    if (!b && !relu) return;
    for (int n = 0; n < N; n++) {
        float *restrict r = out + (size_t)n * M;
        if (b && relu) {
#pragma omp simd
            for (int o = 0; o < M; o++) {
                const float z = r[o] + b[o];
                r[o] = z > 0.0f ? z : 0.0f;
            }
        } else if (b) {
#pragma omp simd
            for (int o = 0; o < M; o++) r[o] += b[o];
        } else {
#pragma omp simd
            for (int o = 0; o < M; o++) r[o] = r[o] > 0.0f ? r[o] : 0.0f;
        }
    }
}

void nn_dense_backward(float *din, float *dw, float *db, const float *dout, const float *in,
                       const float *w, int N, int K, int M)
{
    if (dw)
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, M, K, N, 1.0f, dout, M, in, K, 1.0f,
                    dw, K);
    if (db)
        for (int n = 0; n < N; n++) {
            const float *restrict d = dout + (size_t)n * M;
#pragma omp simd
            for (int o = 0; o < M; o++) db[o] += d[o];
        }
    if (din)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, K, M, 1.0f, dout, M, w, K, 1.0f,
                    din, K);
}

uint64_t nn_dense_flops(int N, int K, int M)
{
    return 2 * (uint64_t)N * (uint64_t)K * (uint64_t)M;
}

void nn_dense_forward_naive(float *out, const float *in, const float *w, const float *b, int N,
                            int K, int M)
{
    for (int n = 0; n < N; n++)
        for (int o = 0; o < M; o++) {
            double s = b ? b[o] : 0.0;
            for (int i = 0; i < K; i++) s += (double)in[(size_t)n * K + i] * w[(size_t)o * K + i];
            out[(size_t)n * M + o] = (float)s;
        }
}

void nn_dense_backward_naive(float *din, float *dw, float *db, const float *dout, const float *in,
                             const float *w, int N, int K, int M)
{
    for (int n = 0; n < N; n++)
        for (int o = 0; o < M; o++) {
            const float g = dout[(size_t)n * M + o];
            if (db) db[o] += g;
            for (int i = 0; i < K; i++) {
                if (dw) dw[(size_t)o * K + i] += g * in[(size_t)n * K + i];
                if (din) din[(size_t)n * K + i] += g * w[(size_t)o * K + i];
            }
        }
}
