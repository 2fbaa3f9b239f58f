/* Softmax cross-entropy losses (PyTorch's F.cross_entropy with reduction='mean') and an
 * accuracy count. Owns nothing. The loss is the start of backward, so dlogits is WRITTEN
 * (=), not accumulated; dlogits may be NULL for evaluation. Numerically stable: the row max
 * is subtracted before exponentiating, sums are kept in double, so logits of any finite
 * magnitude give a finite loss. */
#ifndef FEDSIM_NN_LOSS_H
#define FEDSIM_NN_LOSS_H

#include <stdint.h>

/* Classification. logits (B, K), labels (B) in [0, K).
 * Returns mean_b [logsumexp(logits_b) - logits_b[label_b]];
 * dlogits (B, K) = (softmax(logits_b) - onehot(label_b)) / B.
 * A label outside [0, K) returns NAN and records FS_EINPUT (dlogits then undefined). */
double nn_loss_softmax_xent(float *dlogits, const float *logits, const int32_t *labels, int B,
                            int K);

/* Per-time-step variant for sequences: logits (B*T, K), labels (B*T), rows in any order as
 * long as logits and labels agree (time-major (T, B) from nn/lstm.h is fine). A label of -1
 * marks padding: it adds nothing and its dlogits row is 0; the mean is over the M
 * non-padding steps (PyTorch's ignore_index=-1). M = 0 returns 0 with dlogits all 0. Other
 * labels outside [0, K) return NAN and record FS_EINPUT. */
double nn_loss_seq_softmax_xent(float *dlogits, const float *logits, const int32_t *labels, int B,
                                int T, int K);

/* Number of rows of logits (N, K) whose first maximum sits at labels[i]; labels outside
 * [0, K) (padding) never count. */
int nn_argmax_correct(const float *logits, const int32_t *labels, int N, int K);
/* The same argmax (first maximum) tallied into a confusion matrix: conf[label * K + argmax]
 * += 1 for each row with a label in [0, K) (padding -1 is skipped). Its trace is what
 * nn_argmax_correct counts. conf: (K, K), accumulated. */
void nn_argmax_confusion(const float *logits, const int32_t *labels, int N, int K, long *conf);

#endif
