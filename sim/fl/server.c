/* The server side shared by every algorithm: the round aggregate (fl_agg: weighted sums in
 * double, added in a fixed order), the server state and step (fl_server), and the driver of one
 * chunk of client training (fl_train_clients: algorithm and optimiser states loaded and stored
 * serially, training in parallel, results added in the given order). Guarantees: the bits of the
 * new global model depend only on the inputs and the order of the clients, never on the thread
 * count. */
#include "fl/algorithm.h"

#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "fl/client_state.h"
#include "util/simd.h"

fl_params fl_params_default(void)
{
    return (fl_params){.server_lr = 1,
                       .mu = 0.01,
                       .alpha = 0.01,
                       .server_momentum = 0.9,
                       .beta1 = 0.9,
                       .beta2 = 0.99,
                       .tau = 1e-3};
}

int fl_weighting_parse(const char *name)
{
    static const char *const names[] = {"uniform", "samples", "samples_all"};
    for (int i = 0; i < 3; i++)
        if (strcmp(name, names[i]) == 0) return i;
    return -1;
}

fs_err fl_agg_init(fl_agg *a, size_t n, int two)
{
    memset(a, 0, sizeof *a);
    a->n = n;
    a->sum = FS_ALIGNED(n, sizeof(double));
    if (!a->sum) return FS_ENOMEM;
    if (two && !(a->sum2 = FS_ALIGNED(n, sizeof(double)))) {
        fl_agg_free(a);
        return FS_ENOMEM;
    }
    return FS_OK;
}

void fl_agg_reset(fl_agg *a)
{
    memset(a->sum, 0, a->n * sizeof(double));
    if (a->sum2) memset(a->sum2, 0, a->n * sizeof(double));
    a->wsum = a->ssum = a->loss = a->samples = 0;
    a->count = 0;
}

FS_SIMD_INLINE void fl_axpy_f64_body(double *restrict sum, double wk, const float *restrict u,
                                     size_t n)
{
#pragma omp simd
    for (size_t i = 0; i < n; i++) sum[i] += wk * (double)u[i];
}

FS_SIMD_DISPATCH(fl_axpy_f64, (double *sum, double wk, const float *u, size_t n), (sum, wk, u, n))

void fl_agg_add(fl_agg *a, const fl_client_result *res, int n_res)
{
    /* Blocks of elements (256 KiB of doubles, kept in L2 while every client's part is added),
     * over a->threads threads; within a block the clients in the given order. Every element
     * sees the additions of the serial loop in its order: the same bits for any thread count. */
    const size_t bl = 32768, nb = (a->n + bl - 1) / bl;
    const int threads = a->threads > 1 && nb > 1 && n_res > 0 ? a->threads : 1;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) num_threads(threads) if (threads > 1)
#endif
    for (size_t b = 0; b < nb; b++) {
        const size_t lo = b * bl, len = a->n - lo < bl ? a->n - lo : bl;
        for (int k = 0; k < n_res; k++) {
            fl_axpy_f64(a->sum + lo, res[k].weight, res[k].update + lo, len);
            if (a->sum2) fl_axpy_f64(a->sum2 + lo, res[k].weight2, res[k].update2 + lo, len);
        }
    }
    for (int k = 0; k < n_res; k++) {
        const double wk = res[k].weight;
        a->wsum += wk;
        a->ssum += wk * res[k].scalar;
        a->loss += (double)res[k].n_samples * res[k].train_loss;
        a->samples += res[k].n_samples;
        a->count++;
    }
}

void fl_agg_free(fl_agg *a)
{
    free(a->sum);
    free(a->sum2);
    a->sum = a->sum2 = NULL;
}

static void refresh_bcast(fl_server *s)
{
    /* the broadcast vector is the first server vector (SCAFFOLD: c) */
    if (s->bcast)
        for (size_t i = 0; i < s->n; i++) s->bcast[i] = (float)s->v[0][i];
}

fs_err fl_server_init(fl_server *s, const fl_algorithm *a, const fl_params *p, size_t n_params,
                      uint32_t n_clients)
{
    memset(s, 0, sizeof *s);
    s->algo = a;
    s->p = p ? *p : fl_params_default();
    s->n = n_params;
    s->n_clients = n_clients;
    FS_CHECK(a->server_vecs >= 0 && a->server_vecs <= 3 && (!a->bcast || a->server_vecs >= 1));
    for (int j = 0; j < a->server_vecs; j++)
        if (!(s->v[j] = FS_ALIGNED(n_params, sizeof(double)))) {
            fl_server_free(s);
            return FS_ENOMEM;
        }
    if (a->bcast && !(s->bcast = FS_ALIGNED(n_params, sizeof(float)))) {
        fl_server_free(s);
        return FS_ENOMEM;
    }
    if (a->server_init) a->server_init(s);
    refresh_bcast(s);
    return FS_OK;
}

void fl_server_free(fl_server *s)
{
    for (int j = 0; j < 3; j++) free(s->v[j]);
    free(s->bcast);
    memset(s, 0, sizeof *s);
}

/* global += lr * (sum / wsum), element-wise in double (division and all: the same bits at
 * every width); serial after every round, 0.9 % of an mlp round as a scalar loop. */
FS_SIMD_INLINE void fl_server_mean_step_body(float *restrict global, const double *restrict sum,
                                             size_t n, double lr, double wsum)
{
#pragma omp simd
    for (size_t i = 0; i < n; i++) global[i] = (float)((double)global[i] + lr * (sum[i] / wsum));
}

FS_SIMD_DISPATCH(fl_server_mean_step,
                 (float *global, const double *sum, size_t n, double lr, double wsum),
                 (global, sum, n, lr, wsum))

void fl_server_step(fl_server *s, float *global, const fl_agg *a)
{
    if (a->count == 0 || !(a->wsum > 0)) return;
    if (s->algo->server_update)
        s->algo->server_update(s, global, a);
    else
        fl_server_mean_step(global, a->sum, s->n, s->p.server_lr, a->wsum);
    s->t++;
    refresh_bcast(s);
}

size_t fl_server_bytes(const fl_server *s)
{
    return (size_t)s->algo->server_vecs * s->n * sizeof(double) +
           (s->bcast ? s->n * sizeof(float) : 0);
}

fs_err fl_train_load(const fl_algorithm *a, const uint32_t *clients, int n, fl_client_result *res,
                     fl_cstate *cs, fl_cstate *opt_cs)
{
    fs_err e = FS_OK;
    FS_CHECK(!a->state_vecs || cs);
    for (int k = 0; k < n && !(e = fs_stopped()); k++) { /* client states, from disk maybe */
        res[k].client = clients[k];
        res[k].scalar = 0;
        res[k].opt_resume = 0;
        int existed = 1;
        if (a->state_vecs) e = fl_cstate_get(cs, clients[k], res[k].state, &existed);
        res[k].state_new = !existed;
        if (!e && opt_cs) {
            FS_CHECK(res[k].opt);
            e = fl_cstate_get(opt_cs, clients[k], res[k].opt, &res[k].opt_resume);
        }
    }
    return e;
}

/* Largest clients first (then by position): the order in which the threads pick clients up.
 * In position order a large client drawn last keeps one thread busy alone at the chunk's end
 * (client sizes under a Dirichlet split vary tenfold); longest-first (Graham's LPT rule) bounds
 * that tail. Only the schedule changes: results stay in their slots. The eager path below
 * picks in position order instead, so that its sums keep up. */
typedef struct by_size {
    uint32_t size;
    int k;
} by_size;

static int by_size_cmp(const void *pa, const void *pb)
{
    const by_size *a = pa, *b = pb;
    if (a->size != b->size) return a->size > b->size ? -1 : 1;
    return (a->k > b->k) - (a->k < b->k);
}

void fl_train_run(const fl_algorithm *a, const fl_round_ctx *ctx, fl_client_result *res, int n,
                  nn_worker *workers, int threads, int keep_opt)
{
    by_size *order = threads > 1 && n > 1 && ctx->part ? malloc((size_t)n * sizeof *order) : NULL;
    if (order) {
        for (int k = 0; k < n; k++) order[k] = (by_size){part_size(ctx->part, res[k].client), k};
        qsort(order, (size_t)n, sizeof *order, by_size_cmp);
    }
#ifdef _OPENMP
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads)
#endif
    for (int j = 0; j < n; j++) {
        const int k = order ? order[j].k : j;
        int t = 0;
#ifdef _OPENMP
        t = omp_get_thread_num();
#endif
        nn_worker *w = &workers[t];
        float *own = w->opt;
        if (keep_opt) { /* train on the client's kept buffer */
            w->opt = res[k].opt;
            w->opt_resume = res[k].opt_resume;
        }
        float *packed = res[k].state, *full = NULL;
        if (a->state_vecs && a->packed_state) { /* the client sees its state in full layout */
            const size_t np = ctx->m->n_params;
            full = FS_ALIGNED(np, sizeof(float));
            FS_CHECK(full);
            fl_state_unpack(a, ctx->p, np, packed, full);
            res[k].state = full;
        }
        a->client_update(ctx, res[k].client, w, &res[k]);
        if (full) {
            fl_state_pack(a, ctx->p, ctx->m->n_params, full, packed);
            res[k].state = packed;
            free(full);
        }
        w->opt = own;
        w->opt_resume = 0;
    }
    free(order);
}

static fs_err diverged(const fl_round_ctx *ctx, const fl_client_result *r)
{
    return fs_error(FS_EINTERNAL,
                    "round %u: client %u's training loss is %g: training diverged (lower "
                    "train.lr or algorithm.server_lr)",
                    ctx->round, r->client, r->train_loss);
}

fs_err fl_train_store(const fl_algorithm *a, const fl_round_ctx *ctx, fl_client_result *res, int n,
                      fl_cstate *cs, fl_cstate *opt_cs, fl_agg *agg)
{
    fs_err e = FS_OK;
    /* a signal cuts local training short (fl_local_train_post): drop the chunk, store nothing */
    if ((e = fs_stopped())) return e;
    for (int k = 0; k < n; k++)
        if (!isfinite(res[k].train_loss)) return diverged(ctx, &res[k]);
    for (int k = 0; k < n && !e; k++)
        if (a->state_vecs) e = fl_cstate_put(cs, res[k].client, res[k].state);
    for (int k = 0; k < n && !e; k++) /* no step taken: the buffer stays fresh */
        if (opt_cs && (res[k].opt_resume || res[k].steps > 0))
            e = fl_cstate_put(opt_cs, res[k].client, res[k].opt);
    if (e) return e;
    fl_agg_add(agg, res, n);
    return FS_OK;
}

/* fl_train_clients when only agg reads the updates (agg->eager; no client or optimiser state).
 * The per-client passes over the parameter vector (copy in, w_k - w, the weighted sum) were
 * the mlp's largest cost outside the layers, because after a chunk of 50 clients the first
 * updates had long left the cache (50 x 0.8 MB): here client k is added once clients 0..k are
 * done (in position order, as fl_agg_add would: the same bits), and a finished slot's buffer,
 * still in cache, is handed to the next client to start. One thread trains every client in
 * one buffer. Clients are picked in position order, so the sums keep up. Whoever finishes a
 * client adds what can be added, unless another thread is adding (then that one picks it
 * up): nobody waits for the sums. */
typedef struct eager {
    fl_agg *agg;
    fl_client_result *res;
    int n;
    _Atomic unsigned char *done; /* client k trained */
    atomic_int busy;             /* a thread is adding */
    int next;                    /* the first client not added (only the adding thread) */
    int bad;                     /* the first client with a non-finite loss, or -1 */
    int *freed, n_freed;         /* added slots, their buffers free (under fl_eager_free) */
} eager;

static void eager_add(eager *e)
{
    for (;;) {
        if (atomic_exchange(&e->busy, 1)) return; /* the adding thread will see our done[] */
        int k = e->next;
        for (; k < e->n && e->bad < 0 && atomic_load(&e->done[k]); k++) {
            if (!isfinite(e->res[k].train_loss)) {
                e->bad = k; /* reported as fl_train_store would */
                break;
            }
            fl_agg_add(e->agg, &e->res[k], 1);
#ifdef _OPENMP
#pragma omp critical(fl_eager_free)
#endif
            e->freed[e->n_freed++] = k;
        }
        e->next = k;
        atomic_store(&e->busy, 0);
        /* a client finished after our last look, while we held busy: add it too */
        if (!(k < e->n && e->bad < 0 && atomic_load(&e->done[k]))) return;
    }
}

static fs_err train_eager(const fl_algorithm *a, const fl_round_ctx *ctx, fl_client_result *res,
                          int n, nn_worker *workers, int threads, fl_agg *agg)
{
    eager e = {.agg = agg, .res = res, .n = n, .bad = -1};
    atomic_init(&e.busy, 0);
    e.done = calloc((size_t)n, sizeof *e.done);
    e.freed = malloc((size_t)n * sizeof *e.freed);
    if (!e.done || !e.freed) {
        free((void *)e.done);
        free(e.freed);
        return FS_ENOMEM;
    }
    const int agg_threads = agg->threads;
    agg->threads = 1; /* one result at a time, inside the workers' region */
#ifdef _OPENMP
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads)
#endif
    for (int k = 0; k < n; k++) {
        int t = 0;
#ifdef _OPENMP
        t = omp_get_thread_num();
#endif
#ifdef _OPENMP
#pragma omp critical(fl_eager_free)
#endif
        if (e.n_freed > 0) { /* the most recently added slot's buffer: still in cache */
            const int j = e.freed[--e.n_freed];
            float *u = res[j].update;
            res[j].update = res[k].update;
            res[k].update = u;
        }
        a->client_update(ctx, res[k].client, &workers[t], &res[k]);
        atomic_store(&e.done[k], 1);
        eager_add(&e);
    }
    eager_add(&e); /* nothing left to add but after a non-finite loss */
    agg->threads = agg_threads;
    free((void *)e.done);
    free(e.freed);
    fs_err err = fs_stopped(); /* the caller drops the round's sum */
    if (!err && e.bad >= 0) err = diverged(ctx, &res[e.bad]);
    return err;
}

fs_err fl_train_clients(const fl_algorithm *a, const fl_round_ctx *ctx, const uint32_t *clients,
                        int n, fl_client_result *res, nn_worker *workers, int threads,
                        fl_cstate *cs, fl_cstate *opt_cs, fl_agg *agg)
{
    fs_err e = fl_train_load(a, clients, n, res, cs, opt_cs);
    if (e) return e;
    if (agg->eager && !a->state_vecs && !opt_cs && agg->sum)
        return train_eager(a, ctx, res, n, workers, threads, agg);
    fl_train_run(a, ctx, res, n, workers, threads, opt_cs != NULL);
    agg->threads = threads; /* the sum's element blocks over the same threads */
    return fl_train_store(a, ctx, res, n, cs, opt_cs, agg);
}
