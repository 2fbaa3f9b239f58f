/* The run driver (see sim.h): set-up (setup.c, over run.h's run state), the record, then one
 * step of the scenario's protocol per rounds row (a synchronous round here, asynchronous
 * FedBuff in async.c), each followed by evaluation (eval.c), the row and checkpoints; then the
 * final checkpoint and the run's status.
 * A synchronous round has two phases:
 *   schedule (serial): availability, selection, phase durations from device profiles, dropout
 *     draws, the event-driven round (engine/round.c) -> which updates arrive;
 *   work (parallel): only the updates that will be aggregated are computed, over a pool of
 *     OpenMP threads, each with its own model workspace and single-threaded OpenBLAS; the
 *     results are summed in arrival order in double, so the bits do not depend on threads.
 * Randomness comes only from keyed streams, so a seed fixes every number but wall times. */
#include "engine/sim.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/run.h"
#include "nn/checkpoint.h"
#include "util/log.h"

static void fmt_duration(double s, char *buf, size_t cap)
{
    if (!isfinite(s) || s < 0) {
        snprintf(buf, cap, "?");
    } else if (s < 60) {
        snprintf(buf, cap, "%.1fs", s);
    } else if (s < 3600) {
        snprintf(buf, cap, "%dm%02ds", (int)(s / 60), (int)fmod(s, 60));
    } else if (s < 86400) {
        snprintf(buf, cap, "%dh%02dm", (int)(s / 3600), (int)fmod(s / 60, 60));
    } else {
        snprintf(buf, cap, "%dd%02dh", (int)(s / 86400), (int)fmod(s / 3600, 24));
    }
}

static int select_round(run_state *s, uint32_t round, double t, int m, long *available)
{
    int n = s->gd
                ? guided_select(s->gd, &s->av, &s->part, round, t, m, s->chunk_cl_sel)
                : sim_select_clients(&s->pop, round, round, t, m, NULL, s->chunk_cl_sel, available);
    if (s->gd) *available = sim_count_available(&s->pop, round, t, 0, 0, 0);
    for (int i = 0; i < n; i++) s->sr.c[i].client = s->chunk_cl_sel[i];
    return n;
}

/* Grow the per-round arrays to n selected clients (Poisson rounds vary in size). */
static fs_err grow_round(run_state *s, int n)
{
    if (n <= s->sel_cap) return FS_OK;
    const int cap = 2 * s->sel_cap > n ? 2 * s->sel_cap : n;
    sched_client *c = realloc(s->sr.c, (size_t)cap * sizeof *c);
    if (c) s->sr.c = c;
    int *a = realloc(s->sr.arrival, (size_t)cap * sizeof *a);
    if (a) s->sr.arrival = a;
    uint32_t *sel = realloc(s->chunk_cl_sel, (size_t)cap * sizeof *sel);
    if (sel) s->chunk_cl_sel = sel;
    if (!c || !a || !sel) return fs_error(FS_ENOMEM, "out of memory for a round of %d clients", n);
    s->sel_cap = cap;
    return FS_OK;
}

/* Poisson sampling (privacy.sampling; McMahan et al. 2018): every client joins the round
 * independently with probability q = clients_per_round / N, the sampling the DP accountant
 * assumes. Sampled clients offline at t or without data take no part (dropping clients
 * independently of the data keeps the guarantee). Geometric gaps drawn from the
 * (RNG_SELECT, 1, round) stream: about qN draws. */
static fs_err select_poisson(run_state *s, uint32_t round, double t, long *available)
{
    const uint32_t N = s->part.n_clients;
    const double q = priv_rate(s->pv), lq = log1p(-q);
    rng_t r;
    rng_init(&r, s->c->seed, RNG_SELECT, 1, round);
    int n = 0;
    for (double i = -1;;) {
        i += q >= 1 ? 1 : 1 + floor(log(rng_uniform_pos(&r)) / lq);
        if (i >= N) break;
        const uint32_t cl = (uint32_t)i;
        if (!av_is_online(&s->av, cl, round, t) || part_size(&s->part, cl) == 0) continue;
        fs_err e = grow_round(s, n + 1);
        if (e) return e;
        s->sr.c[n++].client = cl;
    }
    s->sr.n = n;
    *available = sim_count_available(&s->pop, round, t, 0, 0, 0);
    return FS_OK;
}

/* Train the arrived clients in chunks, in parallel (fl_train_clients); sum in arrival order;
 * then the algorithm's server step. */
static fs_err train_round(run_state *s, uint32_t round, double *loss_out, double *samples_out,
                          volatile sig_atomic_t *stop)
{
    fl_round_ctx ctx = {
        &s->model,  &s->ds, &s->part,  s->global,    &s->tc,
        s->c->seed, round,  &s->srv.p, s->srv.bcast, s->rb ? robust_poison(s->rb) : NULL};
    fl_agg_reset(&s->agg);
    /* privacy (engine/priv.h): fl_train_clients only counts into `trained` (it has no vectors);
     * priv clips, noises or masks the updates and builds the aggregate */
    fl_agg trained = {0};
    fs_err e = s->pv ? priv_round_begin(s->pv, round, &s->sr) : FS_OK;
    if (e) return e;
    if (s->rb) robust_round_begin(s->rb, round); /* keeps every update: engine/robust.h */
    if (s->cm) comm_round_begin(s->cm);          /* compresses every update: engine/comm.h */
    for (int start = 0; start < s->sr.n_completed; start += s->chunk) {
        int n = s->sr.n_completed - start < s->chunk ? s->sr.n_completed - start : s->chunk;
        for (int k = 0; k < n; k++) s->chunk_cl[k] = s->sr.c[s->sr.arrival[start + k]].client;
        fl_agg *to = s->pv || s->rb || s->cm ? &trained : &s->agg;
        to->eager = to == &s->agg; /* nothing but the sum reads the updates (fl_agg.eager) */
        e = s->dist ? dist_train_chunk(&s->denv, round, s->chunk_cl, n, s->res, s->cs, s->ocs, to)
                    : fl_train_clients(s->algo, &ctx, s->chunk_cl, n, s->res, s->workers,
                                       s->threads, s->cs, s->ocs, to);
        if (!e && s->cm)
            e = comm_round_add(s->cm, s->res, n, round, s->c->seed, s->threads,
                               s->pv || s->rb ? NULL : &s->agg);
        for (int k = 0; !e && s->gd && k < n; k++) /* what the client reported with its update */
            guided_report(s->gd, s->res[k].client, round, s->res[k].n_samples, s->res[k].train_loss,
                          NAN);
        if (!e && s->pv) e = priv_round_add(s->pv, s->res, n, start, &s->agg);
        if (!e && s->rb) e = robust_round_add(s->rb, s->res, n);
        if (e) return e;
        if (stop && *stop) return FS_EINTR;
    }
    if (s->cm && !s->pv && !s->rb) comm_round_end(s->cm, &s->agg);
    if (s->pv && (e = priv_round_end(s->pv, &s->dev, &s->agg, &s->pst))) return e;
    if (s->rb && (e = robust_round_end(s->rb, &ctx, &s->workers[0], &trained, &s->agg))) return e;
    fl_server_step(&s->srv, s->global, &s->agg);
    *loss_out = s->agg.samples > 0 ? s->agg.loss / s->agg.samples : NAN;
    *samples_out = s->agg.samples;
    return FS_OK;
}

/* Bytes of algorithm state in memory (client states with their index, kept client momentum,
 * server vectors) and of client states and momentum spilled to disk. */
static void state_bytes(const run_state *s, double *mem, double *disk)
{
    fl_cstate_stats st = {0}, so = {0};
    if (s->cs) fl_cstate_stats_get(s->cs, &st);
    if (s->ocs) fl_cstate_stats_get(s->ocs, &so);
    double cm = 0, cd = 0;
    comm_state_bytes(s->cm, &cm, &cd);
    *mem = (double)st.mem_bytes + (double)so.mem_bytes + (double)fl_server_bytes(&s->srv) + cm;
    *disk = (double)st.disk_bytes + (double)so.disk_bytes + cd;
}

static const char *outcome_name(const sched_client *sc, int accepted)
{
    switch (sc->outcome) {
    case SCHED_COMPLETED:
        return accepted ? "completed" : "abandoned";
    case SCHED_LATE:
        return "late";
    case SCHED_DROPPED:
        return sc->drop_cause == DROP_OFFLINE   ? "dropped_offline"
               : sc->drop_cause == DROP_FAILURE ? "dropped_failure"
                                                : "dropped_random";
    }
    return "?";
}
/* The round's row and, with output.client_events, its client events, in one transaction. */
static fs_err write_round(run_state *s, const met_round_row *row)
{
    sim_eval *v = &s->eval;
    if (!s->evs.on && !v->n_cev && !v->conf_now) return met_round(&s->store, row);
    fs_err e = met_begin(&s->store);
    if (v->conf_now) e = met_confusion_add(&s->store, row->round, s->model.n_classes, v->conf);
    v->conf_now = 0;
    for (size_t i = 0; i < s->evs.n && !e; i++) e = met_client_event_add(&s->store, &s->evs.ev[i]);
    for (int i = 0; i < v->n_cev && !e; i++) e = met_client_eval_add(&s->store, &v->cev[i]);
    s->evs.n = 0;
    v->n_cev = 0;
    if (!e) e = met_round(&s->store, row);
    if (!e && s->ps) e = pers_write(s->ps, &s->store, row->round);
    if (!e) e = met_commit(&s->store);
    return e ? met_rollback(&s->store, e) : FS_OK;
}

/* The round's privacy metrics (docs/privacy.md): epsilon and clip; secure aggregation's bytes
 * and time, which the round also pays; an aborted protocol leaves the model unchanged. */
static void privacy_row(run_state *s, met_round_row *row, double *vtime)
{
    const priv_stats *p = &s->pst;
    row->epsilon = p->epsilon;
    row->dp_clip = p->clip;
    row->dp_clipped = p->clipped_frac;
    row->bytes_up += p->sa_bytes_up;
    row->bytes_down += p->sa_bytes_down;
    row->secagg_bytes = p->sa_bytes_up + p->sa_bytes_down;
    row->secagg_time_s = p->sa_time_s;
    *vtime += p->sa_time_s;
    row->vtime_s = *vtime;
    if (p->sa_abort[0]) {
        row->secagg_abort = p->sa_abort;
        row->completed = 0;
        row->abandoned = 1;
        row->flops_wasted += row->flops_used;
        row->flops_used = 0;
    }
}

/* Write the global model to <checkpoint dir>/<name>[-<run key>]-<label>.h5 (the run key only
 * in a sweep, whose runs share one directory); the directory is created when missing. */
static fs_err save_checkpoint(const run_state *s, const sim_opts *o, const char *db,
                              const char *run_key, const char *label, int round, char *path,
                              size_t cap)
{
    const cfg *c = s->c;
    char dir[1024];
    if (o->ckpt_db) db = o->ckpt_db;
    if (c->checkpoint.dir[0]) {
        snprintf(dir, sizeof dir, "%s", c->checkpoint.dir);
    } else {
        size_t n = strlen(db);
        if (n > 3 && strcmp(db + n - 3, ".db") == 0) n -= 3;
        snprintf(dir, sizeof dir, "%.*s-ckpt", (int)n, db);
    }
    for (char *p = dir + 1; *p; p++) { /* mkdir -p */
        if (*p != '/') continue;
        *p = '\0';
        mkdir(dir, 0777);
        *p = '/';
    }
    if (mkdir(dir, 0777) != 0 && errno != EEXIST)
        return fs_error(FS_EIO, "cannot create the checkpoint directory %s: %s", dir,
                        strerror(errno));
    snprintf(path, cap, "%s/%s%s%s-%s.h5", dir, c->name, o->sweep_id ? "-" : "",
             o->sweep_id ? run_key : "", label);
    nn_ckpt_meta meta = {.round = round};
    snprintf(meta.dataset, sizeof meta.dataset, "%s", s->ds.name);
    snprintf(meta.scenario, sizeof meta.scenario, "%s", c->name);
    if (s->ds.vocab) snprintf(meta.vocab, sizeof meta.vocab, "%s", s->ds.vocab);
    return nn_ckpt_save(path, &s->model, s->global, &meta);
}

/* The schedule's bytes, FLOPs and dropouts into the row, and the clients' events. */
static fs_err round_accounting(run_state *s, int r, int accepted, met_round_row *row)
{
    for (int i = 0; i < s->sr.n; i++) {
        const sched_client *sc = &s->sr.c[i];
        row->bytes_down += sc->moved_down;
        row->bytes_up += sc->moved_up;
        if (sc->outcome == SCHED_COMPLETED && accepted)
            row->flops_used += sc->flops_done;
        else
            row->flops_wasted += sc->flops_done;
        if (sc->outcome == SCHED_DROPPED) {
            row->dropped_random += sc->drop_cause == DROP_RANDOM;
            row->dropped_offline += sc->drop_cause == DROP_OFFLINE;
            row->dropped_failure += sc->drop_cause == DROP_FAILURE;
        }
    }
    fs_err e = FS_OK;
    for (int i = 0; i < s->sr.n && !e; i++)
        e = sim_events_client(&s->evs, &s->pop, &s->sr.c[i], s->sr.t0, r,
                              outcome_name(&s->sr.c[i], accepted));
    return e;
}

/* One synchronous round (protocol: sync): select, schedule, train what arrived, step. */
static fs_err sync_round(run_state *s, const sim_opts *o, int r, double *vtime, met_round_row *row,
                         double *train_wall)
{
    const cfg *c = s->c;
    const int K = c->rounds.clients_per_round;
    const int m = (int)ceil(K * (1.0 + c->rounds.overcommit));
    fs_err e;
    row->round = r;
    row->staleness_mean = row->staleness_max = NAN;
    double t0 = *vtime;
    const int poisson = s->pv && priv_poisson(s->pv); /* round size varies: wait for all */
    if (poisson && (e = select_poisson(s, (uint32_t)r, t0, &row->available))) return e;
    if (!poisson) s->sr.n = select_round(s, (uint32_t)r, t0, m, &row->available);
    /* too few online: wait (re-checking every retry_s) up to rounds.wait_s */
    while (!poisson && s->sr.n < K && t0 + c->rounds.retry_s <= *vtime + c->rounds.wait_s) {
        t0 += c->rounds.retry_s;
        s->sr.n = select_round(s, (uint32_t)r, t0, m, &row->available);
    }
    row->wait_s = t0 - *vtime;
    s->q.now = t0 > s->q.now ? t0 : s->q.now;
    s->sr.t0 = t0;
    for (int i = 0; i < s->sr.n; i++) sim_plan_client(&s->pop, &s->sr.c[i], (uint32_t)r, t0);
    if (s->sr.n > 0) {
        e = sched_run_round(&s->q, &s->sr, poisson ? s->sr.n : K, c->rounds.deadline_s);
        if (e) return e;
    } else {
        s->sr.t_close = t0, s->sr.n_completed = s->sr.n_dropped = s->sr.n_late = 0;
    }
    /* too few updates arrived: the round is abandoned, its work wasted */
    const int accepted = s->sr.n_completed >= c->rounds.min_updates;
    if ((e = round_accounting(s, r, accepted, row))) return e;
    for (int i = 0; s->gd && i < s->sr.n; i++) /* arrivals tell the server their duration */
        if (s->sr.c[i].outcome == SCHED_COMPLETED)
            guided_report(s->gd, s->sr.c[i].client, (uint32_t)r, 0, NAN, s->sr.c[i].t_end - t0);
    if (!accepted) s->sr.n_completed = 0;
    double samples = 0, t_train = time_now();
    row->train_loss = NAN;
    if (!o->schedule_only) e = train_round(s, (uint32_t)r, &row->train_loss, &samples, o->stop);
    *train_wall += time_now() - t_train;
    if (e) return e;
    if (s->rb && !o->schedule_only) {
        robust_row(s->rb, row);
        robust_events(s->rb, s->evs.ev, s->evs.n);
    }
    state_bytes(s, &row->state_bytes, &row->state_disk_bytes);
    if (s->gd) guided_round_end(s->gd, (uint32_t)r);
    *vtime = s->sr.t_close;
    row->vtime_s = *vtime;
    row->selected = s->sr.n;
    row->completed = s->sr.n_completed;
    row->dropped = s->sr.n_dropped;
    row->late = s->sr.n_late;
    row->abandoned = s->sr.n_completed == 0;
    if (s->pv && !o->schedule_only) privacy_row(s, row, vtime);
    return FS_OK;
}

/* protocol: async (engine/async.h): the run state it works on, then its first jobs. */
static fs_err async_begin(run_state *s, const sim_opts *o)
{
    const async_env env = {&s->pop,
                           &s->evs,
                           &s->q,
                           {&s->model, &s->ds, &s->part, s->global, &s->tc, s->c->seed, 0,
                            &s->srv.p, s->srv.bcast, NULL},
                           s->workers,
                           s->threads,
                           s->chunk,
                           s->chunk_cl,
                           s->res,
                           s->res_buf,
                           &s->agg,
                           s->global};
    fs_err e = async_new(&env, &s->as);
    if (s->dist && !o->quiet)
        log_warn("protocol: async trains on rank 0 only (the other %d ranks wait)",
                 dist_size() - 1);
    return e;
}

static fs_err async_round(run_state *s, const sim_opts *o, int r, double *vtime, met_round_row *row,
                          double *train_wall)
{
    return async_step(s->as, r, vtime, row, train_wall, o->stop);
}

/* A protocol makes one rounds row per step: `begin` (may be NULL) once the record is open,
 * `step` for rows 1..rounds.count. A new protocol is a module of its own (as async.c) and an
 * entry here; its state is freed in run_state_free. */
typedef struct run_protocol {
    const char *name; /* the scenario's protocol: */
    fs_err (*begin)(run_state *s, const sim_opts *o);
    fs_err (*step)(run_state *s, const sim_opts *o, int r, double *vtime, met_round_row *row,
                   double *train_wall);
} run_protocol;

static const run_protocol protocols[] = {
    {"sync", NULL, sync_round},
    {"async", async_begin, async_round},
};

static const run_protocol *protocol_of(const cfg *c)
{
    for (size_t i = 0; i < sizeof protocols / sizeof protocols[0]; i++)
        if (strcmp(c->protocol, protocols[i].name) == 0) return &protocols[i];
    return &protocols[0];
}

/* The progress line (a terminal) or a log line per evaluated row. */
static void progress(const run_state *s, int r, double vtime, const met_round_row *row)
{
    const cfg *c = s->c;
    char vt[32], eta[32];
    fmt_duration(vtime, vt, sizeof vt);
    fmt_duration(row->wall_s / r * (c->rounds.count - r), eta, sizeof eta);
    if (s->tty)
        fprintf(stderr,
                "\r  round %d/%d | virtual %s | updates %ld/%ld (drop %ld, late %ld) | "
                "loss %.4f | test acc %5.2f%% | ETA %s   ",
                r, c->rounds.count, vt, row->completed, row->selected, row->dropped, row->late,
                row->train_loss, 100 * s->last_acc, eta);
    else if (!isnan(row->test_acc))
        log_info("round %d/%d virtual %s updates %ld/%ld dropped %ld late %ld train loss "
                 "%.4f test acc %.2f%%",
                 r, c->rounds.count, vt, row->completed, row->selected, row->dropped, row->late,
                 row->train_loss, 100 * row->test_acc);
}

/* After a step: evaluation when due, the row written, a checkpoint when due, the summary's
 * counts and the progress. */
static fs_err round_end(run_state *s, const sim_opts *o, int r, double vtime, met_round_row *row,
                        sim_summary *out)
{
    const cfg *c = s->c;
    if (!isfinite(vtime)) /* devices or links so slow (tiers, traces) that time overflows */
        return fs_error(FS_EINPUT,
                        "round %d: virtual time overflowed (%g s): device FLOP/s or bandwidths "
                        "too small (devices.*, network.*, tier or trace files)",
                        r, vtime);
    row->test_loss = row->test_acc = row->global_train_loss = row->global_train_acc = NAN;
    if (!o->schedule_only && (r % c->eval.every == 0 || r == c->rounds.count)) {
        sim_eval_round(&s->eval, s->global, &s->eval_worker, s->workers, s->threads, r, row);
        fs_err pe =
            s->ps ? pers_eval(s->ps, r, s->global, s->eval.cev, s->eval.n_cl, s->cs) : FS_OK;
        if (pe) return pe;
        if (s->rb) row->backdoor_asr = robust_asr(s->rb, &s->eval_worker, s->global);
        s->last_acc = row->test_acc;
        out->final_acc = row->test_acc;
        out->final_loss = row->test_loss;
    }
    out->bytes_up += row->bytes_up; /* time-to-accuracy (docs/efficiency.md) */
    out->bytes_down += row->bytes_down;
    if (c->eval.target_accuracy > 0 && !out->tta_round &&
        row->test_acc >= c->eval.target_accuracy) {
        out->tta_round = r;
        out->tta_vtime_s = vtime;
        out->tta_bytes_up = out->bytes_up;
        out->tta_bytes_down = out->bytes_down;
    }
    row->wall_s = time_now() - s->t_start;
    fs_err e = write_round(s, row);
    if (!e && !o->schedule_only && c->checkpoint.every > 0 && r % c->checkpoint.every == 0) {
        char label[32], ck[2048];
        snprintf(label, sizeof label, "round-%d", r);
        e = save_checkpoint(s, o, s->db, s->run_key, label, r, ck, sizeof ck);
    }
    out->rounds_done = r;
    out->updates += row->completed;
    out->dropped += row->dropped;
    out->late += row->late;
    if (!o->quiet) progress(s, r, vtime, row);
    return e;
}

/* Set-up on every rank; over MPI the first failure is everyone's, then rank 0 opens the record
 * and the other ranks (*worker) train what rank 0 sends them until it is done. */
static fs_err run_setup(run_state *s, const cfg *c, const sim_opts *o, int *worker)
{
    fs_err e = run_state_setup(s, c, o);
    *worker = o->distribute && dist_rank() != 0;
    if (!e && o->distribute && dist_size() > c->rounds.clients_per_round)
        e = fs_error(FS_EINPUT,
                     "mpirun -n %d: more ranks than rounds.clients_per_round = %d, so some "
                     "would never train (use -n %d or fewer)",
                     dist_size(), c->rounds.clients_per_round, c->rounds.clients_per_round);
    if (!e && o->distribute && dist_size() > 1 && s->algo->personal_model)
        e = fs_error(FS_EINPUT,
                     "algorithm.name = %s does not run under mpirun yet: a client's "
                     "first personal model is made where its state is loaded (run "
                     "without mpirun)",
                     s->algo->name);
    if (!e && o->distribute && dist_size() > 1 && s->rb)
        e = fs_error(FS_EINPUT, "adversary.* and aggregation.* do not run under mpirun yet: the "
                                "poisoned training and the kept updates live on one process "
                                "(run without mpirun)");
    if (o->distribute) e = dist_agree(e); /* every rank's set-up */
    if (!e && !*worker) {
        if ((e = met_open(&s->store, s->db)) == FS_OK) {
            s->store_open = 1;
        } else if (e == FS_EIO) { /* a path the user can fix */
            char msg[1024];
            snprintf(msg, sizeof msg, "%s", fs_errmsg());
            e = fs_error(FS_EINPUT, "%s (hint: --db PATH or output.db: a writable place)", msg);
        }
    }
    if (!o->distribute) return e;
    e = dist_agree(e); /* rank 0's record */
    s->denv = (dist_env){
        s->algo,
        {&s->model, &s->ds, &s->part, s->global, &s->tc, c->seed, 0, &s->srv.p, s->srv.bcast, NULL},
        s->global,
        s->srv.bcast,
        s->model.n_params,
        s->workers,
        s->threads,
        s->ocs != NULL};
    if (!e && *worker) e = dist_serve(&s->denv);
    if (!e && !*worker) {
        s->dist = 1;
        dist_run_begin();
    }
    return e;
}

/* Log what runs and insert its `runs` row (status running). */
static fs_err run_record(run_state *s, const sim_opts *o)
{
    const cfg *c = s->c;
    char desc[256];
    nn_model_describe(&s->model, desc, sizeof desc);
    if (!o->quiet) {
        log_info("scenario '%s': %s, %zu train / %zu test samples, %u clients (%s), seed %llu",
                 c->name, s->ds.name, s->ds.train.n, s->ds.test.n, s->part.n_clients,
                 c->partition.kind, (unsigned long long)c->seed);
        log_info("model %s; %s; %d rounds x %d clients; %d threads", desc, s->algo->name,
                 c->rounds.count, c->rounds.clients_per_round, s->threads);
        if (s->pv) log_info("%s", priv_describe(s->pv));
        if (s->dist)
            log_info("MPI: %d ranks, each client chunk split over them (docs/cluster.md)",
                     dist_size());
        if (s->rb) log_info("%s", robust_describe(s->rb));
        if (s->cm) log_info("%s", comm_describe(s->cm));
        if (s->gd) log_info("selection %s (docs/efficiency.md)", c->selection.mode);
    }
    char *json = cfg_to_json(c);
    met_run_info info = {.name = c->name,
                         .scenario_text = o->scenario_text,
                         .params_json = json,
                         .seed = c->seed,
                         .model_desc = desc,
                         .n_params = (long)s->model.n_params,
                         .n_clients = (long)s->part.n_clients};
    fs_err e = sweep_compute_key(c, s->run_key);
    info.run_key = s->run_key;
    info.sweep_id = o->sweep_id;
    info.swept_json = o->swept_json;
    if (!e) e = met_run_begin(&s->store, &info);
    free(json);
    return e;
}

/* Steps 1..rounds.count of the scenario's protocol, until one fails or a signal stops it. */
static fs_err run_rounds(run_state *s, const sim_opts *o, sim_summary *out)
{
    const cfg *c = s->c;
    const run_protocol *proto = protocol_of(c);
    double vtime = 0, train_wall = 0;
    s->tty = !o->quiet && isatty(STDERR_FILENO);
    s->last_acc = NAN;
    fs_err e = proto->begin ? proto->begin(s, o) : FS_OK;
    for (int r = 1; r <= c->rounds.count && !e; r++) {
        if (o->stop && *o->stop) {
            e = FS_EINTR;
            break;
        }
        met_round_row row = {0};
        row.epsilon = row.dp_clip = row.dp_clipped = NAN;
        row.backdoor_asr = row.malicious_kept = row.benign_kept = NAN;
        e = proto->step(s, o, r, &vtime, &row, &train_wall);
        if (!e) e = round_end(s, o, r, vtime, &row, out);
    }
    if (s->tty) fputc('\n', stderr);
    out->vtime_s = vtime;
    out->wall_s = time_now() - s->t_start;
    out->train_wall_s = train_wall;
    return e;
}

/* The final model, also of a run interrupted before its first round ended (the model as
 * initialised, round 0), then the run's status. */
static fs_err run_end(run_state *s, const sim_opts *o, fs_err e, sim_summary *out)
{
    if ((e == FS_OK || e == FS_EINTR) && !o->schedule_only) {
        char ck[2048];
        fs_err ec =
            save_checkpoint(s, o, s->db, s->run_key, "final", out->rounds_done, ck, sizeof ck);
        if (ec && !e) e = ec;
        if (!ec && !o->quiet) log_info("final checkpoint: %s", ck);
    }
    if (s->dist && !o->quiet) {
        dist_stats ds;
        dist_stats_get(&ds);
        log_info("MPI: %.2f s of %.2f s in MPI calls at rank 0 (waiting included), %ld chunks, "
                 "%.1f MB sent, %.1f MB received",
                 ds.mpi_s, out->wall_s, ds.chunks, ds.bytes_sent / 1e6, ds.bytes_recv / 1e6);
    }
    const char *status = e == FS_OK ? "completed" : e == FS_EINTR ? "interrupted" : "failed";
    snprintf(out->status, sizeof out->status, "%s", status);
    fs_err e2 =
        met_run_end(&s->store, status, out->wall_s, e && e != FS_EINTR ? fs_errmsg() : NULL);
    if (!e) e = e2;
    return e;
}

fs_err sim_run(const cfg *c, const sim_opts *o, sim_summary *out)
{
    memset(out, 0, sizeof *out);
    out->final_acc = out->final_loss = NAN;
    snprintf(out->status, sizeof out->status, "failed");
    const double t_start = time_now();
    run_state *s = calloc(1, sizeof *s);
    if (!s) return fs_error(FS_ENOMEM, "out of memory");
    char dbbuf[1024];
    s->t_start = t_start;
    s->db = sim_default_db(c, o, dbbuf, sizeof dbbuf);
    snprintf(out->db_path, sizeof out->db_path, "%s", s->db);
    int worker = 0;
    fs_err e = run_setup(s, c, o, &worker);
    if (!e && !worker) e = run_record(s, o);
    if (!e && !worker) {
        out->recorded = 1;
        e = run_end(s, o, run_rounds(s, o, out), out);
    }
    run_state_free(s);
    free(s);
    return e;
}
