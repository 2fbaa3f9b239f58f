/* Softmax cross-entropy kernels. See loss.h. No allocation. */
#include "nn/loss.h"

#include <math.h>
#include <stddef.h>
#include <string.h>

#include "util/err.h"

/* One row: returns logsumexp(row) - row[y]; drow (K) = (softmax(row) - onehot(y)) * scale
 * when drow is not NULL. */
static double xent_row(float *drow, const float *row, int y, int K, float scale)
{
    float m = row[0];
    for (int k = 1; k < K; k++)
        if (row[k] > m) m = row[k];
    double sum = 0.0;
    if (drow) {
        for (int k = 0; k < K; k++) {
            drow[k] = expf(row[k] - m);
            sum += drow[k];
        }
        float inv = (float)(1.0 / sum) * scale;
        for (int k = 0; k < K; k++) drow[k] *= inv;
        drow[y] -= scale;
    } else {
        for (int k = 0; k < K; k++) sum += exp((double)row[k] - m);
    }
    return log(sum) - ((double)row[y] - (double)m);
}

double nn_loss_softmax_xent(float *dlogits, const float *logits, const int32_t *labels, int B,
                            int K)
{
    double total = 0.0;
    const float scale = 1.0f / (float)B;
    for (int b = 0; b < B; b++) {
        if (labels[b] < 0 || labels[b] >= K) {
            fs_error(FS_EINPUT, "softmax_xent: label %d at row %d outside [0, %d)", labels[b], b,
                     K);
            return NAN;
        }
        total += xent_row(dlogits ? dlogits + (size_t)b * K : NULL, logits + (size_t)b * K,
                          labels[b], K, scale);
    }
    return total / B;
}

double nn_loss_seq_softmax_xent(float *dlogits, const float *logits, const int32_t *labels, int B,
                                int T, int K)
{
    const size_t N = (size_t)B * T;
    size_t M = 0;
    for (size_t r = 0; r < N; r++) {
        if (labels[r] == -1) continue;
        if (labels[r] < 0 || labels[r] >= K) {
            fs_error(FS_EINPUT, "seq_softmax_xent: label %d at row %zu outside [0, %d)", labels[r],
                     r, K);
            return NAN;
        }
        M++;
    }
    if (dlogits) memset(dlogits, 0, N * K * sizeof(float));
    if (M == 0) return 0.0;
    const float scale = 1.0f / (float)M;
    double total = 0.0;
    for (size_t r = 0; r < N; r++) {
        if (labels[r] == -1) continue;
        total += xent_row(dlogits ? dlogits + r * K : NULL, logits + r * K, labels[r], K, scale);
    }
    return total / (double)M;
}

void nn_argmax_confusion(const float *logits, const int32_t *labels, int N, int K, long *conf)
{
    for (int i = 0; i < N; i++) {
        const float *row = logits + (size_t)i * K;
        int best = 0;
        for (int k = 1; k < K; k++)
            if (row[k] > row[best]) best = k;
        if (labels[i] >= 0 && labels[i] < K) conf[(size_t)labels[i] * K + best]++;
    }
}

int nn_argmax_correct(const float *logits, const int32_t *labels, int N, int K)
{
    int correct = 0;
    for (int i = 0; i < N; i++) {
        const float *row = logits + (size_t)i * K;
        int best = 0;
        for (int k = 1; k < K; k++)
            if (row[k] > row[best]) best = k;
        if (labels[i] >= 0 && labels[i] < K && best == labels[i]) correct++;
    }
    return correct;
}
