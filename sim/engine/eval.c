/* Evaluation of the global model during a run (see eval.h). */
#include "engine/eval.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "fl/algorithm.h"
#include "util/rng.h"

/* eval.clients: a fixed sample of clients (the first of a permutation from (RNG_EVAL, 0, 0)),
 * chosen once so that every evaluation sees the same clients. */
static fs_err eval_clients_setup(sim_eval *s)
{
    const uint32_t N = s->part->n_clients;
    const int want = s->c->eval.clients;
    if (want <= 0) return FS_OK;
    uint32_t *perm = FS_CALLOC(N, sizeof *perm);
    if (!perm) return FS_ENOMEM;
    for (uint32_t i = 0; i < N; i++) perm[i] = i;
    rng_t r;
    rng_init(&r, s->c->seed, RNG_EVAL, 0, 0);
    const uint32_t n = (uint32_t)want < N ? (uint32_t)want : N;
    for (uint32_t i = 0; i < n; i++) { /* partial Fisher-Yates */
        uint32_t j = i + (uint32_t)rng_below(&r, N - i);
        uint32_t t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
    s->cl = perm; /* the first n entries are used */
    s->n_cl = (int)n;
    s->cev = FS_CALLOC(n, sizeof *s->cev);
    return s->cev ? FS_OK : FS_ENOMEM;
}

/* eval.train_samples: min(N, pool) of the pool of all clients' training samples, by selection
 * sampling (Knuth's algorithm S) over the pool in client order from (RNG_EVAL, 1, 0), so the
 * sample is uniform, drawn once, and comes out grouped by client. */
static fs_err eval_train_setup(sim_eval *s)
{
    const partition *p = s->part;
    const int want = s->c->eval.train_samples;
    if (want <= 0) return FS_OK;
    size_t pool = 0;
    uint32_t holders = 0;
    for (uint32_t c = 0; c < p->n_clients; c++) {
        pool += part_size(p, c);
        holders += part_size(p, c) > 0;
    }
    size_t need = (size_t)want < pool ? (size_t)want : pool;
    s->tev_idx = FS_CALLOC(need ? need : 1, sizeof *s->tev_idx);
    s->tev_cl = FS_CALLOC(holders ? holders : 1, sizeof *s->tev_cl);
    s->tev_off = FS_CALLOC((size_t)holders + 1, sizeof *s->tev_off);
    if (!s->tev_idx || !s->tev_cl || !s->tev_off) return FS_ENOMEM;
    rng_t r;
    rng_init(&r, s->c->seed, RNG_EVAL, 1, 0);
    size_t left = pool, n = 0, g = 0;
    for (uint32_t c = 0; c < p->n_clients && need > 0; c++) {
        const uint32_t *idx = part_samples(p, c);
        const size_t before = n;
        for (uint32_t i = 0; i < part_size(p, c); i++, left--)
            if (need == left || (double)left * rng_uniform(&r) < (double)need) {
                s->tev_idx[n++] = idx[i];
                need--;
            }
        if (n > before) {
            s->tev_cl[g] = c;
            s->tev_off[++g] = n;
        }
    }
    s->n_tev_groups = g;
    s->tev_lsum = FS_CALLOC(g ? g : 1, sizeof *s->tev_lsum);
    s->tev_hits = FS_CALLOC(g ? g : 1, sizeof *s->tev_hits);
    return s->tev_lsum && s->tev_hits ? FS_OK : FS_ENOMEM;
}

fs_err sim_eval_init(sim_eval *v, const cfg *c, const dataset *ds, const partition *p,
                     const nn_model *m)
{
    memset(v, 0, sizeof *v);
    v->c = c;
    v->ds = ds;
    v->part = p;
    v->model = m;
    fs_err e = eval_clients_setup(v);
    if (!e && strcmp(c->eval.confusion, "true") == 0 &&
        !(v->conf = FS_CALLOC((size_t)m->n_classes * m->n_classes, sizeof *v->conf)))
        e = FS_ENOMEM;
    if (!e) e = eval_train_setup(v);
    return e;
}

void sim_eval_free(sim_eval *v)
{
    free(v->cl);
    free(v->cev);
    free(v->conf);
    free(v->tev_idx);
    free(v->tev_cl);
    free(v->tev_off);
    free(v->tev_lsum);
    free(v->tev_hits);
    memset(v, 0, sizeof *v);
}

/* The loss and accuracy of params on the eval.train_samples sample, each client's samples as
 * that client sees them; in parallel by client, summed in client order. */
static void eval_train(sim_eval *s, const float *params, nn_worker *workers, int threads,
                       double *loss, double *acc)
{
    const size_t G = s->n_tev_groups;
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads)
    for (size_t g = 0; g < G; g++) {
        int t = 0;
#ifdef _OPENMP
        t = omp_get_thread_num();
#endif
        s->tev_lsum[g] = 0;
        s->tev_hits[g] = 0;
        fl_evaluate_client(&workers[t], params, s->ds, &s->ds->train, s->part, s->tev_cl[g],
                           s->tev_idx + s->tev_off[g], s->tev_off[g + 1] - s->tev_off[g],
                           &s->tev_lsum[g], &s->tev_hits[g]);
    }
    double lsum = 0, hits = 0;
    for (size_t g = 0; g < G; g++) {
        lsum += s->tev_lsum[g];
        hits += (double)s->tev_hits[g];
    }
    const double n = G ? (double)s->tev_off[G] : 0;
    *loss = n > 0 ? lsum / n : NAN;
    *acc = n > 0 ? hits / (n * s->model->y_len) : NAN;
}

/* params on each sampled client's own data (its local test split when the partition has one,
 * else its training samples) as the client sees it (with its feature transform), in parallel;
 * results in client order. */
static void eval_clients(sim_eval *s, const float *params, nn_worker *workers, int threads,
                         int round)
{
#pragma omp parallel for schedule(dynamic, 4) num_threads(threads)
    for (int i = 0; i < s->n_cl; i++) {
        int t = 0;
#ifdef _OPENMP
        t = omp_get_thread_num();
#endif
        const uint32_t cl = s->cl[i];
        const int local = s->part->split != NULL;
        const uint32_t n = local ? part_test_size(s->part, cl) : part_size(s->part, cl);
        const uint32_t *idx = local ? part_test_samples(s->part, cl) : part_samples(s->part, cl);
        met_client_eval *ev = &s->cev[i];
        ev->client = cl;
        ev->round = round;
        ev->n = n;
        double lsum = 0;
        long hits = 0;
        fl_evaluate_client(&workers[t], params, s->ds, &s->ds->train, s->part, cl, idx, n, &lsum,
                           &hits);
        ev->loss = n ? lsum / n : 0;
        ev->acc = n ? (double)hits / ((double)n * s->model->y_len) : 0;
    }
    s->n_cev = s->n_cl;
}

void sim_eval_round(sim_eval *v, const float *params, nn_worker *eval_worker, nn_worker *workers,
                    int threads, int round, met_round_row *row)
{
    if (v->conf) {
        memset(v->conf, 0, (size_t)v->model->n_classes * v->model->n_classes * sizeof(long));
        v->conf_now = 1;
    }
    fl_evaluate(eval_worker, params, v->ds, &v->ds->test, (size_t)v->c->eval.test_samples,
                &row->test_loss, &row->test_acc, v->conf);
    eval_clients(v, params, workers, threads, round);
    if (v->tev_idx)
        eval_train(v, params, workers, threads, &row->global_train_loss, &row->global_train_acc);
}
