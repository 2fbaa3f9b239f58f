/* SGD step (see optim.h). One pass over the flat parameter buffer. */
#include "nn/optim.h"

#include <math.h>

double nn_norm2(const float *x, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++) s += (double)x[i] * (double)x[i];
    return sqrt(s);
}

void nn_sgd_step(const nn_sgd *o, float *w, float *g, float *v, size_t n, int *first)
{
    if (o->clip_norm > 0) {
        double norm = nn_norm2(g, n);
        if (norm > o->clip_norm) {
            float s = (float)(o->clip_norm / norm);
            for (size_t i = 0; i < n; i++) g[i] *= s;
        }
    }
    const float lr = (float)o->lr, mu = (float)o->momentum, wd = (float)o->weight_decay;
    if (mu == 0.0f) {
        for (size_t i = 0; i < n; i++) w[i] -= lr * (g[i] + wd * w[i]);
        return;
    }
    const int init = *first;
    for (size_t i = 0; i < n; i++) {
        float d = g[i] + wd * w[i];
        float vi = init ? d : mu * v[i] + d;
        v[i] = vi;
        w[i] -= lr * (o->nesterov ? d + mu * vi : vi);
    }
    *first = 0;
}
