/* Embedding lookup (PyTorch's nn.Embedding). Owns nothing. The layout of the ids is the
 * caller's: N = B*T ids in any order give N rows in the same order, so ids (B, T) give
 * out (B, T, D) and time-major ids (T, B) give (T, B, D), the layout nn/lstm.h expects.
 *   table (V, D)   ids (N) int32 in [0, V)   out (N, D)
 * Backward ACCUMULATES (+=) each dout row into the table row of its id (repeated ids sum). */
#ifndef FEDSIM_NN_EMBEDDING_H
#define FEDSIM_NN_EMBEDDING_H

#include <stdint.h>

#include "util/err.h"

/* out (N, D) = table[ids[i]] rows. FS_EINPUT (and out untouched from the first bad id on)
 * when an id is outside [0, V). */
fs_err nn_embedding_forward(float *out, const int32_t *ids, const float *table, int N, int V,
                            int D);
/* dtable (V, D) += dout (N, D) scattered by ids (N). FS_EINPUT when an id is outside [0, V);
 * rows before it have been accumulated. */
fs_err nn_embedding_backward(float *dtable, const float *dout, const int32_t *ids, int N, int V,
                             int D);

#endif
