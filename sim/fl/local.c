/* Local training (with an optional per-step gradient hook: FedProx, FedDyn and SCAFFOLD add
 * their terms there), the plain weighted sum and evaluation shared by the algorithms. */
#include "fl/algorithm.h"
#include "nn/train.h"
#include "util/simd.h"

#include <stdlib.h>
#include <string.h>

void fl_local_work(const fl_train_cfg *tc, uint32_t n, long *steps, long *samples)
{
    if (tc->steps > 0) {
        long b = n < (uint32_t)tc->batch ? (long)n : tc->batch;
        *steps = tc->steps;
        *samples = (long)tc->steps * b;
    } else {
        long per_epoch = ((long)n + tc->batch - 1) / tc->batch;
        *steps = (long)tc->epochs * per_epoch;
        *samples = (long)tc->epochs * (long)n;
    }
}

void fl_algo_work(const fl_algorithm *a, const fl_params *p, const fl_train_cfg *tc, uint32_t n,
                  fl_work *w)
{
    w->fwd_samples = 0;
    if (!a->one_pass) {
        fl_local_work(tc, n, &w->steps, &w->samples);
        if (a->passes > 1) w->steps *= a->passes, w->samples *= a->passes;
    } else {
        w->steps = n ? 1 : 0;
        w->samples = n;
    }
    if (a->extra_work) {
        const fl_params d = fl_params_default();
        a->extra_work(p ? p : &d, tc, n, w);
    }
}

uint64_t fl_personal_seed(uint64_t seed, uint32_t which)
{
    rng_t r;
    rng_init(&r, seed, RNG_PERSONAL, which, 0);
    return rng_u64(&r);
}

void fl_copy_ranges(float *dst, const float *src, const size_t *ranges, int n)
{
    for (int k = 0; k < n; k++)
        memcpy(dst + ranges[2 * k], src + ranges[2 * k],
               (ranges[2 * k + 1] - ranges[2 * k]) * sizeof(float));
}

size_t fl_ranges_len(const size_t *ranges, int n)
{
    size_t len = 0;
    for (int k = 0; k < n; k++) len += ranges[2 * k + 1] - ranges[2 * k];
    return len;
}

void fl_pack_ranges(float *dst, const float *src, const size_t *ranges, int n)
{
    for (int k = 0; k < n; k++) {
        const size_t len = ranges[2 * k + 1] - ranges[2 * k];
        memcpy(dst, src + ranges[2 * k], len * sizeof(float));
        dst += len;
    }
}

void fl_unpack_ranges(float *dst, const float *src, const size_t *ranges, int n)
{
    for (int k = 0; k < n; k++) {
        const size_t len = ranges[2 * k + 1] - ranges[2 * k];
        memcpy(dst + ranges[2 * k], src, len * sizeof(float));
        src += len;
    }
}

size_t fl_state_dim(const fl_algorithm *a, const fl_params *p, size_t n)
{
    if (!a->state_vecs) return 0;
    if (!a->packed_state) return n;
    const fl_params d = fl_params_default();
    if (!p) p = &d;
    const size_t len = fl_ranges_len(p->personal, p->n_personal);
    FS_CHECK(len <= n);
    return len ? len : 1;
}

void fl_state_unpack(const fl_algorithm *a, const fl_params *p, size_t n, const float *packed,
                     float *full)
{
    if (!a->packed_state) {
        memcpy(full, packed, n * sizeof(float));
        return;
    }
    const fl_params d = fl_params_default();
    if (!p) p = &d;
    memset(full, 0, n * sizeof(float));
    fl_unpack_ranges(full, packed, p->personal, p->n_personal);
}

void fl_state_pack(const fl_algorithm *a, const fl_params *p, size_t n, const float *full,
                   float *packed)
{
    if (!a->packed_state) {
        memcpy(packed, full, n * sizeof(float));
        return;
    }
    const fl_params d = fl_params_default();
    if (!p) p = &d;
    if (!p->n_personal) packed[0] = 0; /* fl_state_dim's one float */
    fl_pack_ranges(packed, full, p->personal, p->n_personal);
}

static int ensure_order(nn_worker *w, uint32_t n)
{
    if (w->order_cap >= n) return 0;
    uint32_t *o = realloc(w->order, (size_t)n * sizeof *o);
    if (!o) return -1;
    w->order = o;
    w->order_cap = n;
    return 0;
}

double fl_local_train(const fl_round_ctx *ctx, uint32_t client, nn_worker *w, float *params,
                      fl_grad_hook hook, void *hook_data, long *steps_out)
{
    return fl_local_train_post(ctx, client, w, params, hook, NULL, hook_data, steps_out);
}

uint32_t fl_local_batch(const fl_train_cfg *tc, uint32_t n, long step)
{
    const uint32_t B = (uint32_t)tc->batch;
    if (tc->steps > 0) return n < B ? n : B;
    const long per = ((long)n + B - 1) / B;
    return step % per == per - 1 && n % B ? n % B : B;
}

double fl_local_train_post(const fl_round_ctx *ctx, uint32_t client, nn_worker *w, float *params,
                           fl_grad_hook hook, fl_step_hook post, void *hook_data, long *steps_out)
{
    const fl_train_cfg *tc = ctx->tc;
    const nn_model *m = ctx->m;
    const uint32_t n = part_size(ctx->part, client);
    const uint32_t *mine = part_samples(ctx->part, client);
    { /* the client's rows (up to 512 KiB of them) on their way while the model is copied and the
       * order shuffled: its first batch has no earlier batch to overlap with (logreg, batch 32:
       * +17-20 %) */
        const size_t row = ds_x_bytes(ctx->ds), cap = row ? ((size_t)512 << 10) / row : 0;
        ds_prefetch(ctx->ds, &ctx->ds->train, mine, n < cap ? n : (cap ? cap : 1));
    }
    memcpy(params, ctx->global, m->n_params * sizeof(float));
    long steps = 0;
    double loss_sum = 0;
    if (n == 0) {
        *steps_out = 0;
        return 0;
    }
    FS_CHECK(ensure_order(w, n) == 0); /* grows once per worker to the largest client */
    memcpy(w->order, mine, (size_t)n * sizeof(uint32_t));
    rng_t r;
    rng_init(&r, ctx->seed, RNG_TRAIN, client, ctx->round);
    nn_worker_seed(w, ctx->seed, client, ctx->round); /* dropout masks: keyed per client */
    int first = !w->opt_resume;
    const int poisoned = ctx->poison && ctx->poison->active(ctx->poison, client);
    long total_steps, samples;
    fl_local_work(tc, n, &total_steps, &samples);
    uint32_t cursor = n; /* forces a shuffle first */
    const uint32_t b_full = n < (uint32_t)tc->batch ? n : (uint32_t)tc->batch;
    /* without hooks or clipping, the step is taken layer by layer inside the backward, while
     * each layer's gradient is in cache, which leaves the gradient zero for the next step
     * (nn_loss_backward_sgd: the same bits); the gradient is zeroed once per client here. The
     * fused step reads which layers are frozen from the worker's model, the plain one steps
     * ctx->m's trainable ranges: fused only when the two are the same model */
    const int fused = !hook && !post && !(tc->sgd.clip_norm > 0) && w->m == m;
    if (fused) memset(w->grad, 0, m->n_params * sizeof(float));
    for (long s = 0; s < total_steps && !fs_stop_flag; s++) { /* a signal: fl_train_clients
                                                               * discards the result */
        uint32_t b;
        if (tc->steps > 0) {
            if (cursor + b_full > n) {
                rng_shuffle_u32(&r, w->order, n);
                cursor = 0;
            }
            b = b_full;
        } else {
            if (cursor >= n) {
                rng_shuffle_u32(&r, w->order, n);
                cursor = 0;
            }
            b = n - cursor < (uint32_t)tc->batch ? n - cursor : (uint32_t)tc->batch;
        }
        ds_gather(ctx->ds, &ctx->ds->train, w->order + cursor, b, nn_input(w), w->y);
        part_transform(ctx->part, ctx->ds, client, w->order + cursor, b, nn_input(w));
        if (poisoned) ctx->poison->batch(ctx->poison, ctx->ds, nn_input(w), w->y, b);
        cursor += b;
        if (cursor < n) /* the next batch's rows, while this one trains (a hint only) */
            ds_prefetch(ctx->ds, &ctx->ds->train, w->order + cursor,
                        n - cursor < (uint32_t)tc->batch ? n - cursor : (uint32_t)tc->batch);
        nn_forward(w, params, (int)b);
        if (fused) {
            loss_sum += nn_loss_backward_sgd(w, params, w->y, (int)b, 1.0 / b, &tc->sgd, &first);
        } else {
            memset(w->grad, 0, m->n_params * sizeof(float));
            loss_sum += nn_loss_backward(w, params, w->y, (int)b, 1.0 / b, NULL);
            if (hook) hook(ctx, params, w->grad, m->n_params, hook_data);
            nn_sgd_step_ranges(&tc->sgd, params, w->grad, w->opt, m->ranges, m->n_ranges, &first);
            if (post) post(ctx, params, w->grad, m->n_params, hook_data);
        }
        if (poisoned && ctx->poison->step)
            ctx->poison->step(ctx->poison, ctx->global, params, m->n_params);
        steps++;
    }
    *steps_out = steps;
    return steps ? loss_sum / (double)steps : 0;
}

double fl_local_sgd(const fl_round_ctx *ctx, uint32_t client, nn_worker *w, float *params,
                    long *steps_out)
{
    return fl_local_train(ctx, client, w, params, NULL, NULL, steps_out);
}

FS_SIMD_INLINE void fl_update_delta_body(float *restrict u, const float *restrict global, size_t n)
{
#pragma omp simd
    for (size_t i = 0; i < n; i++) u[i] -= global[i];
}

FS_SIMD_DISPATCH(fl_update_delta, (float *u, const float *global, size_t n), (u, global, n))

void fl_weighted_sum_add(const fl_client_result *res, int n_res, size_t n, double *sum,
                         double *wsum)
{
    for (int k = 0; k < n_res; k++) {
        const double wk = res[k].weight;
        const float *u = res[k].update;
        for (size_t i = 0; i < n; i++) sum[i] += wk * (double)u[i];
        *wsum += wk;
    }
}

void fl_server_apply(float *w, const double *mean, size_t n, double lr)
{
    for (size_t i = 0; i < n; i++) w[i] = (float)((double)w[i] + lr * mean[i]);
}

void fl_evaluate_client(nn_worker *w, const float *params, const dataset *ds, const ds_split *s,
                        const partition *p, uint32_t client, const uint32_t *idx, size_t n,
                        double *lsum, long *hits)
{
    for (size_t start = 0; start < n;) {
        const size_t b = n - start < (size_t)w->max_batch ? n - start : (size_t)w->max_batch;
        ds_gather(ds, s, idx + start, b, nn_input(w), w->y);
        part_transform(p, ds, client, idx + start, b, nn_input(w));
        nn_eval_batch(w, params, (int)b, lsum, hits);
        start += b;
    }
}

void fl_evaluate(nn_worker *w, const float *params, const dataset *ds, const ds_split *s,
                 size_t max_n, double *loss, double *acc, long *conf)
{
    nn_central_evaluate_conf(w, params, ds, s, max_n, loss, acc, conf);
}
