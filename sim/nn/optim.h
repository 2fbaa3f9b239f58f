/* Client-side optimiser: SGD with momentum (optionally Nesterov) and weight decay, exactly as
 * torch.optim.SGD (dampening 0): d = g + wd*w; v = mu*v + d (v = d on the first step);
 * d = nesterov ? d + mu*v : v; w -= lr*d. Optional gradient-norm clipping before the step
 * (Pascanu, Mikolov and Bengio, ICML 2013): g *= min(1, clip_norm / ||g||). With trainable
 * ranges (a model with frozen layers), only those parts of the buffer are read, clipped and
 * stepped: frozen parameters stay bit-identical and their momentum untouched. */
#ifndef FEDSIM_OPTIM_H
#define FEDSIM_OPTIM_H

#include <stddef.h>

typedef struct nn_sgd {
    double lr, momentum, weight_decay;
    int nesterov;
    double clip_norm; /* 0: no clipping */
} nn_sgd;

/* One step on w (n) with gradient g; v is the momentum buffer, *first is set to 0 after the
 * first step. g is left unchanged unless clipping scales it. */
void nn_sgd_step(const nn_sgd *o, float *w, float *g, float *v, size_t n, int *first);

/* The same step on the n_ranges ranges [lo, hi) of the buffers only (a model's trainable
 * parameters: nn_model.ranges and n_ranges); the clipping norm is over those ranges. */
void nn_sgd_step_ranges(const nn_sgd *o, float *w, float *g, float *v, const size_t *ranges,
                        int n_ranges, int *first);

/* The step without clipping on [lo, hi) of the buffers only; init: the first step (v = d).
 * nn_sgd_step_ranges is this over each range after the clipping (nn_loss_backward_sgd calls it
 * layer by layer). */
void nn_sgd_step_range(const nn_sgd *o, float *w, const float *g, float *v, size_t lo, size_t hi,
                       int init);

/* nn_sgd_step_range, then g = 0 on [lo, hi), in the same pass. */
void nn_sgd_step_range_zero(const nn_sgd *o, float *w, float *g, float *v, size_t lo, size_t hi,
                            int init);

/* L2 norm of x (n) in double. */
double nn_norm2(const float *x, size_t n);

#endif
