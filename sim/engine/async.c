/* Asynchronous FedBuff (Nguyen et al., "Federated Learning with Buffered Asynchronous
 * Aggregation", AISTATS 2022, Algorithm 1); the contract is in async.h.
 *
 * Schedule: async.concurrency slots are kept busy. When a slot frees (its client uploaded,
 * dropped, or nobody was available), a new client is selected uniformly among the online,
 * idle clients (stream (RNG_SELECT, job number)) and downloads the CURRENT model version v.
 * Its phases are timed like a synchronous client's (sim_plan_client); it may drop out (coin,
 * going offline, failure hazard). When it uploads, its staleness is tau = (server version now)
 * - v; updates with tau > async.max_staleness are discarded. Every async.buffer accepted
 * updates make one server step:
 *     w <- w + server_lr * (1/K) sum_i s(tau_i) (w_i - w_{v_i}),
 *     s(tau) = 1 | 1/sqrt(1 + tau) | (1 + tau)^-a          (async.staleness)
 * and the version increases by one. rounds.count counts server steps.
 *
 * Work: a client trains from the model version it downloaded. All clients that start between
 * two server steps share that version, so they are trained together (in parallel, over the
 * thread pool) just before the next step needs any update. Each job that will upload takes an
 * update buffer from a pool of concurrency + buffer vectors; the buffer follows the update into
 * the server's buffer and is released after the step. Training keys are (client, v + 1), so
 * with concurrency 1 and buffer 1 the run is exactly sequential FedAvg over one client per
 * round. Only algorithms without client state and with the default server rule (FedAvg,
 * FedProx) are allowed. */
#include "engine/async.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util/log.h"

enum async_event { EV_A_ARRIVE = 20, EV_A_DROP, EV_A_REFILL };

typedef struct async_job {
    sched_client sc; /* timing and accounting, as for a synchronous client */
    double t_start;
    uint64_t version; /* model version it downloaded */
    int ub;           /* its update buffer, -1 if it will not upload */
} async_job;

struct async_state {
    async_env env;
    int C, K;
    async_job *job; /* (C) */
    float *upd;     /* (C + K, np) update buffers */
    int *ub_free;   /* free update buffers (stack) */
    int n_ub_free;
    uint8_t *busy; /* (N) client is in a job */
    int *pending;  /* (C + K) update buffers to train at the current version */
    uint32_t *pending_cl;
    int n_pending;
    int *buf;        /* (K) update buffers of the server's buffer, in arrival order */
    double *buf_tau; /* (K) their staleness */
    int n_buf;
    uint64_t version;
    uint32_t next_job;     /* selection key of the next job */
    fl_client_result *res; /* (C + K) by update buffer */
    /* counters since the last server step */
    long started, dropped[3], stale;
    double bytes_down, bytes_up, flops_used, flops_wasted;
};

void async_free(async_state *a)
{
    if (!a) return;
    free(a->job);
    free(a->upd);
    free(a->ub_free);
    free(a->pending_cl);
    free(a->busy);
    free(a->pending);
    free(a->buf);
    free(a->buf_tau);
    free(a->res);
    free(a);
}

static double staleness_weight(const cfg *c, double tau)
{
    if (strcmp(c->async.staleness, "constant") == 0) return 1.0;
    if (strcmp(c->async.staleness, "sqrt") == 0) return 1.0 / sqrt(1.0 + tau);
    return pow(1.0 + tau, -c->async.staleness_a);
}

/* Start a job in slot k at time t, or schedule a refill if nobody is available. */
static fs_err async_start(async_state *a, int k, double t)
{
    const sim_pop *p = a->env.pop;
    evq *q = a->env.q;
    uint32_t cl;
    uint32_t key = ++a->next_job;
    if (sim_select_clients(p, key, key, t, 1, a->busy, &cl, NULL) == 0)
        return evq_push(q, t + p->c->rounds.retry_s, EV_A_REFILL, 0, (uint64_t)k, NULL);
    async_job *j = &a->job[k];
    memset(j, 0, sizeof *j);
    j->sc.client = cl;
    j->t_start = t;
    j->version = a->version;
    j->ub = -1;
    sim_plan_client(p, &j->sc, key, t);
    a->busy[cl] = 1;
    a->started++;
    const double work = j->sc.d_down + j->sc.d_comp + j->sc.d_up;
    if (isfinite(j->sc.drop_after))
        return evq_push(q, t + j->sc.drop_after, EV_A_DROP, cl, (uint64_t)k, NULL);
    FS_CHECK(a->n_ub_free > 0);
    j->ub = a->ub_free[--a->n_ub_free];
    a->pending_cl[a->n_pending] = cl;
    a->pending[a->n_pending++] = j->ub;
    return evq_push(q, t + work, EV_A_ARRIVE, cl, (uint64_t)k, NULL);
}

fs_err async_new(const async_env *env, async_state **out)
{
    *out = NULL;
    const sim_pop *p = env->pop;
    const cfg *c = p->c;
    const fl_algorithm *algo = p->algo;
    if (algo->state_vecs || algo->server_update || algo->bcast)
        return fs_error(FS_EINPUT,
                        "protocol async (FedBuff) runs algorithms without client state "
                        "and with the plain server step (fedavg, fedprox); '%s' has "
                        "its own",
                        algo->name);
    async_state *a = calloc(1, sizeof *a);
    if (!a) return fs_error(FS_ENOMEM, "out of memory");
    *out = a;
    a->env = *env;
    const uint32_t N = p->part->n_clients;
    a->C = c->async.concurrency < (int)N ? c->async.concurrency : (int)N;
    a->K = c->async.buffer;
    const size_t np = p->model->n_params;
    a->job = FS_CALLOC((size_t)a->C, sizeof *a->job);
    const size_t pool = (size_t)a->C + (size_t)a->K;
    a->upd = FS_ALIGNED(pool * np, sizeof(float));
    a->ub_free = FS_CALLOC(pool, sizeof *a->ub_free);
    a->busy = FS_CALLOC(N, 1);
    a->pending = FS_CALLOC(pool, sizeof *a->pending);
    a->pending_cl = FS_CALLOC(pool, sizeof *a->pending_cl);
    a->buf = FS_CALLOC((size_t)a->K, sizeof *a->buf);
    a->buf_tau = FS_CALLOC((size_t)a->K, sizeof *a->buf_tau);
    a->res = FS_CALLOC(pool, sizeof *a->res);
    if (!a->job || !a->upd || !a->ub_free || !a->busy || !a->pending || !a->pending_cl || !a->buf ||
        !a->buf_tau || !a->res)
        return FS_ENOMEM;
    for (size_t b = pool; b-- > 0;) a->ub_free[a->n_ub_free++] = (int)b;
    evq_clear(env->q);
    fs_err e = FS_OK;
    for (int k = 0; k < a->C && !e; k++) e = async_start(a, k, 0.0);
    return e;
}

/* Train every pending slot from the current model (version a->version). */
static fs_err async_train_pending(async_state *a)
{
    const async_env *v = &a->env;
    fl_round_ctx ctx = v->ctx;
    ctx.round = (uint32_t)(a->version + 1);
    const size_t np = v->pop->model->n_params;
    for (int start = 0; start < a->n_pending; start += v->chunk) {
        int n = a->n_pending - start < v->chunk ? a->n_pending - start : v->chunk;
        for (int i = 0; i < n; i++) {
            v->chunk_cl[i] = a->pending_cl[start + i];
            v->res[i].update = a->upd + (size_t)a->pending[start + i] * np;
        }
        fl_agg_reset(v->agg); /* scratch: the step aggregates later, in arrival order */
        fs_err e = fl_train_clients(v->pop->algo, &ctx, v->chunk_cl, n, v->res, v->workers,
                                    v->threads, NULL, NULL, v->agg);
        for (int i = 0; i < n; i++) a->res[a->pending[start + i]] = v->res[i];
        if (e) return e;
    }
    for (int k = 0; k < v->chunk; k++) v->res[k].update = v->res_buf + (size_t)k * np;
    a->n_pending = 0;
    return FS_OK;
}

/* Take the job of event ev off its slot: account it, buffer its update or discard it, record
 * its client events, and refill the slot. */
static fs_err async_job_end(async_state *a, const evq_event *ev, int step)
{
    const cfg *c = a->env.pop->c;
    int k = (int)ev->data;
    async_job *j = &a->job[k];
    /* the job ends here: account its bytes and FLOPs at this instant */
    sched_client *sc = &j->sc;
    sched_account(j->t_start, sc, ev->time);
    a->bytes_down += sc->moved_down;
    a->bytes_up += sc->moved_up;
    const char *outcome;
    if (ev->kind == EV_A_DROP) {
        a->dropped[sc->drop_cause]++;
        a->flops_wasted += sc->flops_done;
        outcome = sc->drop_cause == DROP_OFFLINE   ? "dropped_offline"
                  : sc->drop_cause == DROP_FAILURE ? "dropped_failure"
                                                   : "dropped_random";
    } else {
        double tau = (double)(a->version - j->version);
        if (tau > c->async.max_staleness) {
            a->stale++;
            a->flops_wasted += sc->flops_done;
            outcome = "stale";
            a->ub_free[a->n_ub_free++] = j->ub; /* trained at an earlier step: free now */
        } else {
            a->buf[a->n_buf] = j->ub;
            a->buf_tau[a->n_buf++] = tau;
            a->flops_used += sc->flops_done;
            outcome = "completed";
        }
    }
    fs_err e = sim_events_client(a->env.events, a->env.pop, sc, j->t_start, step, outcome);
    a->busy[sc->client] = 0;
    /* the slot is refilled by an event at this same instant, which pops after the server
     * step this arrival may complete: the next client downloads the new model */
    if (!e) e = evq_push(a->env.q, ev->time, EV_A_REFILL, 0, (uint64_t)k, NULL);
    return e;
}

/* The step's rounds row from the counters since the last step; resets them. */
static void async_row(async_state *a, int step, double vtime, double tau_sum, double tau_max,
                      met_round_row *row)
{
    const fl_agg *agg = a->env.agg;
    row->round = step;
    row->vtime_s = vtime;
    row->staleness_mean = tau_sum / a->n_buf;
    row->staleness_max = tau_max;
    row->selected = a->started;
    row->completed = a->n_buf;
    row->dropped_random = a->dropped[DROP_RANDOM];
    row->dropped_offline = a->dropped[DROP_OFFLINE];
    row->dropped_failure = a->dropped[DROP_FAILURE];
    row->dropped = row->dropped_random + row->dropped_offline + row->dropped_failure;
    row->late = a->stale;
    row->bytes_down = a->bytes_down;
    row->bytes_up = a->bytes_up;
    row->flops_used = a->flops_used;
    row->flops_wasted = a->flops_wasted;
    row->train_loss = agg->samples > 0 ? agg->loss / agg->samples : NAN;
    row->available = sim_count_available(a->env.pop, (uint32_t)step, vtime, 0, 0, 1);
    for (int i = 0; i < a->n_buf; i++) a->ub_free[a->n_ub_free++] = a->buf[i];
    a->n_buf = 0;
    a->started = a->stale = 0;
    a->dropped[0] = a->dropped[1] = a->dropped[2] = 0;
    a->bytes_down = a->bytes_up = a->flops_used = a->flops_wasted = 0;
}

fs_err async_step(async_state *a, int step, double *vtime, met_round_row *row, double *train_wall,
                  volatile sig_atomic_t *stop)
{
    const async_env *v = &a->env;
    const cfg *c = v->pop->c;
    fs_err e = FS_OK;
    evq_event ev;
    while (!e && a->n_buf < a->K) {
        if (!evq_pop(v->q, &ev))
            return fs_error(FS_EINTERNAL, "async: event queue ran dry at step %d", step);
        *vtime = ev.time;
        if (ev.kind == EV_A_REFILL)
            e = async_start(a, (int)ev.data, ev.time);
        else
            e = async_job_end(a, &ev, step);
    }
    if (e) return e;
    /* the server step: train what is pending at this version, then aggregate the buffer in
     * arrival order with staleness weights */
    double t_train = time_now();
    e = async_train_pending(a);
    *train_wall += time_now() - t_train;
    if (e) return e;
    if (stop && *stop) return FS_EINTR;
    fl_agg_reset(v->agg);
    double tau_sum = 0, tau_max = 0;
    for (int i = 0; i < a->n_buf; i++) {
        fl_client_result r = a->res[a->buf[i]];
        r.weight = staleness_weight(c, a->buf_tau[i]);
        fl_agg_add(v->agg, &r, 1);
        tau_sum += a->buf_tau[i];
        if (a->buf_tau[i] > tau_max) tau_max = a->buf_tau[i];
    }
    const size_t np = v->pop->model->n_params;
    const double scale = c->algorithm.server_lr / a->K;
    for (size_t i = 0; i < np; i++)
        v->global[i] = (float)((double)v->global[i] + scale * v->agg->sum[i]);
    a->version++;
    async_row(a, step, *vtime, tau_sum, tau_max, row);
    return FS_OK;
}
