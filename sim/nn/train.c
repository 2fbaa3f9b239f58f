/* Central training loop (see train.h). */
#include "nn/train.h"
#include "nn/loss.h"

#include <stdlib.h>
#include <string.h>

fs_err nn_central_epoch(nn_central *t, nn_worker *w, float *params, const dataset *ds,
                        const ds_split *s, int epoch, double *loss, long *steps)
{
    const nn_model *m = w->m;
    const size_t n = s->n;
    FS_CHECK(t->batch >= 1 && t->batch <= w->max_batch);
    if (t->order_n < n) {
        uint32_t *o = realloc(t->order, n * sizeof *o);
        if (!o) return fs_error(FS_ENOMEM, "out of memory for the sample order");
        t->order = o;
        t->order_n = n;
    }
    for (size_t i = 0; i < n; i++) t->order[i] = (uint32_t)i;
    rng_t r;
    rng_init(&r, t->seed, RNG_TRAIN, NN_CENTRAL_ENTITY, (uint64_t)epoch);
    rng_shuffle_u32(&r, t->order, n);
    nn_worker_seed(w, t->seed, NN_CENTRAL_ENTITY, (uint64_t)epoch);
    double sum = 0;
    long k = 0;
    for (size_t start = 0; start < n; start += (size_t)t->batch, k++) {
        const size_t b = n - start < (size_t)t->batch ? n - start : (size_t)t->batch;
        ds_gather(ds, s, t->order + start, b, nn_input(w), w->y);
        nn_forward(w, params, (int)b);
        memset(w->grad, 0, m->n_params * sizeof(float));
        sum += nn_loss_backward(w, params, w->y, (int)b, 1.0 / (double)b, NULL);
        nn_sgd_step_ranges(&t->sgd, params, w->grad, w->opt, m->ranges, m->n_ranges, &t->first);
    }
    if (loss) *loss = k ? sum / (double)k : 0;
    if (steps) *steps = k;
    return FS_OK;
}

void nn_eval_batch_conf(nn_worker *w, const float *params, int b, double *lsum, long *hits,
                        long *conf)
{
    const float *logits = nn_infer(w, params, b);
    int c = 0;
    *lsum += nn_loss_backward(w, params, w->y, b, 0, &c) * (double)b;
    *hits += c;
    if (!conf) return;
    const nn_model *m = w->m; /* sequence logits are time-major, their labels in w->yt */
    nn_argmax_confusion(logits, m->seq_len ? w->yt : w->y, m->seq_len ? b * m->seq_len : b,
                        m->n_classes, conf);
}

void nn_eval_batch(nn_worker *w, const float *params, int b, double *lsum, long *hits)
{
    nn_eval_batch_conf(w, params, b, lsum, hits, NULL);
}

/* Sums over samples idx[0..n) of split s: loss (times samples) and argmax hits. */
static void eval_sums(nn_worker *w, const float *params, const dataset *ds, const ds_split *s,
                      const uint32_t *idx, size_t n, double *lsum, long *hits, long *conf)
{
    for (size_t start = 0; start < n;) {
        size_t b = n - start;
        if (b > (size_t)w->max_batch) b = (size_t)w->max_batch;
        ds_gather(ds, s, idx + start, b, nn_input(w), w->y);
        nn_eval_batch_conf(w, params, (int)b, lsum, hits, conf);
        start += b;
    }
}

void nn_evaluate_idx(nn_worker *w, const float *params, const dataset *ds, const ds_split *s,
                     const uint32_t *idx, size_t n, double *loss, double *acc)
{
    double lsum = 0;
    long hits = 0;
    eval_sums(w, params, ds, s, idx, n, &lsum, &hits, NULL);
    *loss = n ? lsum / (double)n : 0;
    *acc = n ? (double)hits / ((double)n * w->m->y_len) : 0; /* sequences: per character */
}

void nn_central_evaluate(nn_worker *w, const float *params, const dataset *ds, const ds_split *s,
                         size_t max_n, double *loss, double *acc)
{
    nn_central_evaluate_conf(w, params, ds, s, max_n, loss, acc, NULL);
}

void nn_central_evaluate_conf(nn_worker *w, const float *params, const dataset *ds,
                              const ds_split *s, size_t max_n, double *loss, double *acc,
                              long *conf)
{
    const size_t n = max_n && max_n < s->n ? max_n : s->n;
    uint32_t idx[1024];
    double lsum = 0;
    long hits = 0;
    for (size_t start = 0; start < n; start += 1024) {
        size_t b = n - start < 1024 ? n - start : 1024;
        for (size_t i = 0; i < b; i++) idx[i] = (uint32_t)(start + i);
        eval_sums(w, params, ds, s, idx, b, &lsum, &hits, conf);
    }
    *loss = n ? lsum / (double)n : 0;
    *acc = n ? (double)hits / ((double)n * w->m->y_len) : 0; /* sequences: per character */
}

void nn_central_free(nn_central *t)
{
    free(t->order);
    t->order = NULL;
    t->order_n = 0;
}
