/* Fully connected layer (PyTorch's nn.Linear) over row-major float matrices. Owns nothing;
 * every tensor belongs to the caller and no kernel allocates.
 *   in   (N, K)      N rows: samples, or (time step, sample) pairs of a sequence
 *   w    (M, K)      PyTorch's layout, so torch-initialised weights map directly
 *   b    (M)         may be NULL (no bias)
 *   out  (N, M)      out = in w^T + b
 * Backward ACCUMULATES (+=) into dw, db and din; any of them may be NULL to skip it.
 * The fast path is one sgemm per product; the naive triple loops stay compiled as the test
 * oracle. */
#ifndef FEDSIM_NN_DENSE_H
#define FEDSIM_NN_DENSE_H

#include <stdint.h>

/* out (N, M) = in (N, K) w^T (K, M) + b (M); with relu != 0, out = max(that, 0) (fused). */
void nn_dense_forward(float *out, const float *in, const float *w, const float *b, int N, int K,
                      int M, int relu);

/* Given dout (N, M) and the forward's in (N, K) and w (M, K):
 *   dw (M, K) += dout^T in,  db (M) += column sums of dout,  din (N, K) += dout w. */
void nn_dense_backward(float *din, float *dw, float *db, const float *dout, const float *in,
                       const float *w, int N, int K, int M);

/* Forward FLOPs of N rows: 2 * N * K * M (bias adds not counted). */
uint64_t nn_dense_flops(int N, int K, int M);

/* Reference loops with the same contracts (test oracle; sums in double). */
void nn_dense_forward_naive(float *out, const float *in, const float *w, const float *b, int N,
                            int K, int M);
void nn_dense_backward_naive(float *din, float *dw, float *db, const float *dout, const float *in,
                             const float *w, int N, int K, int M);

#endif
