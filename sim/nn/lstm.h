/* One LSTM layer over T time steps, PyTorch's nn.LSTM semantics (one layer, one direction,
 * batch_first=False), with full backpropagation through time. Owns nothing.
 *
 * Layout: TIME-MAJOR. Each step's input is one contiguous (B, D) block, so the input
 * projection of all steps is one sgemm and so are the weight gradients.
 *   x     (T, B, D)          input
 *   h0,c0 (B, H)             initial state, NULL = zeros
 *   w_ih  (4H, D)            gate rows in PyTorch order i, f, g, o
 *   w_hh  (4H, H)
 *   b_ih, b_hh (4H)          both added, as PyTorch; NULL = no bias
 *   out   (T, B, H)          hidden state h_t of every step (h_T = out[T-1])
 *   cache nn_lstm_cache_size floats, filled by forward, read by backward:
 *           gates (T, B, 4H) activations i, f, g, o (sigmoid, sigmoid, tanh, sigmoid)
 *           c     (T, B, H)  cell states          (c_T = nn_lstm_cell_states(...)[T-1])
 *           tc    (T, B, H)  tanh(c)
 * Backward takes dout (T, B, H) = dL/dh_t for every step and ACCUMULATES (+=) into
 * dx, dh0, dc0, dw_ih, dw_hh, db_ih, db_hh; each may be NULL to skip it. */
#ifndef FEDSIM_NN_LSTM_H
#define FEDSIM_NN_LSTM_H

#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

typedef struct nn_lstm_dims {
    int T, B, D, H; /* steps, batch, input size, hidden size */
} nn_lstm_dims;

fs_err nn_lstm_check_dims(const nn_lstm_dims *d);
/* Floats of the forward cache: T*B*4H + 2*T*B*H. */
size_t nn_lstm_cache_size(const nn_lstm_dims *d);
/* Floats of backward scratch: T*B*4H + 2*B*H + 4H. The forward needs none. */
size_t nn_lstm_workspace_size(const nn_lstm_dims *d);
/* Forward FLOPs for the T*B steps of d: 2 * multiply-adds of the two gate products. */
uint64_t nn_lstm_flops(const nn_lstm_dims *d);
/* The cell states (T, B, H) inside a filled cache. */
const float *nn_lstm_cell_states(const float *cache, const nn_lstm_dims *d);

/* Set the forget-gate slice [H, 2H) of a (4H) bias vector to v. Start the forget bias at 1
 * (Jozefowicz, Zaremba and Sutskever, ICML 2015; Gers et al. 2000): call it with b_ih and
 * v = 1, and with b_hh and v = 0, since PyTorch adds the two. */
void nn_lstm_set_forget_bias(float *b, int H, float v);

/* out (T, B, H), cache <- LSTM(x (T, B, D), h0, c0). */
void nn_lstm_forward(float *out, float *cache, const float *x, const float *h0, const float *c0,
                     const float *w_ih, const float *w_hh, const float *b_ih, const float *b_hh,
                     const nn_lstm_dims *d);

/* Backpropagation through time from dout (T, B, H), using the forward's x, h0, c0, out and
 * cache. ws: nn_lstm_workspace_size(d) floats. */
void nn_lstm_backward(float *dx, float *dh0, float *dc0, float *dw_ih, float *dw_hh, float *db_ih,
                      float *db_hh, const float *dout, const float *x, const float *h0,
                      const float *c0, const float *out, const float *cache, const float *w_ih,
                      const float *w_hh, const nn_lstm_dims *d, float *ws);

#endif
