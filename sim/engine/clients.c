/* Selection, timing and client events of the population (see clients.h). */
#include "engine/clients.h"

#include <math.h>
#include <stdlib.h>

#include "util/rng.h"

long sim_count_available(const sim_pop *p, uint32_t round, double t, uint32_t scanned,
                         uint32_t online, int exhausted)
{
    const uint32_t N = p->part->n_clients;
    if (p->av->mode == AV_ALWAYS) return N;
    if (N <= 100000) {
        long n = 0;
        for (uint32_t i = 0; i < N; i++) n += av_is_online(p->av, i, round, t);
        return n;
    }
    if (!scanned) { /* no selection to go by: a fixed systematic sample of 4096 clients */
        uint32_t stride = N / 4096;
        for (uint32_t i = 0; i < 4096; i++) online += av_is_online(p->av, i * stride, round, t);
        return lround((double)online / 4096 * N);
    }
    return exhausted ? (long)online : lround((double)online / scanned * N);
}

/* Partial Fisher-Yates over the population, checking availability lazily; availability does
 * not depend on the selection draws, so this is uniform among the available. */
int sim_select_clients(const sim_pop *p, uint32_t key, uint32_t round, double t, int m,
                       const uint8_t *busy, uint32_t *out, long *available)
{
    const uint32_t N = p->part->n_clients;
    rng_t r;
    rng_init(&r, p->c->seed, RNG_SELECT, 0, key);
    int got = 0;
    uint32_t scanned = 0, online = 0;
    for (uint32_t i = 0; i < N && got < m; i++) {
        uint32_t j = i + (uint32_t)rng_below(&r, N - i);
        uint32_t tmp = p->perm[i];
        p->perm[i] = p->perm[j];
        p->perm[j] = tmp;
        uint32_t cl = p->perm[i];
        scanned++;
        if (!av_is_online(p->av, cl, round, t)) continue;
        online++;
        if (part_size(p->part, cl) == 0 || (busy && busy[cl])) continue;
        out[got++] = cl;
    }
    if (available) *available = sim_count_available(p, round, t, scanned, online, got < m);
    return got;
}

void sim_plan_client(const sim_pop *p, sched_client *sc, uint32_t round, double t0)
{
    const cfg *c = p->c;
    dev_profile pr;
    dev_profile_of(p->dev, sc->client, &pr);
    const double model_bytes = (double)p->model->n_params * sizeof(float);
    fl_work wk;
    fl_algo_work(p->algo, p->fp, p->tc, part_size(p->part, sc->client), &wk);
    /* vectors on the wire: the model (+ SCAFFOLD's c) down, the update (+ its Delta c) up */
    sc->bytes_down = model_bytes * (1 + p->algo->bcast);
    /* frozen layers (model.freeze) are not uploaded: their update is exactly zero */
    const double upd_bytes = (double)nn_model_trainable_params(p->model) * sizeof(float);
    sc->bytes_up = upd_bytes * (1 + p->algo->two_uploads) * c->network.upload_compression;
    if (p->cm) /* compression.kind: the exact encoded size (SCAFFOLD's second vector dense) */
        sc->bytes_up = comm_upload_bytes(p->cm) + upd_bytes * p->algo->two_uploads;
    if (p->pv) /* secure aggregation uploads the masked vector instead (incompressible) */
        sc->bytes_up = priv_upload_bytes(p->pv, sc->bytes_up);
    sc->lat_down = sc->lat_up = pr.latency_s;
    sc->d_down = dev_transfer_s(sc->bytes_down, pr.down_bps, pr.latency_s);
    sc->d_up = dev_transfer_s(sc->bytes_up, pr.up_bps, pr.latency_s);
    sc->flops = (double)wk.samples * p->model->flops_train;
    if (wk.fwd_samples) sc->flops += (double)wk.fwd_samples * p->model->flops_fwd;
    sc->d_comp = sc->flops / pr.flops;
    const double work = sc->d_down + sc->d_comp + sc->d_up;
    /* three ways to drop, the earliest wins: a per-round coin (at a uniform point of the
     * work), going offline, and a failure hazard while working (exponential) */
    rng_t r;
    rng_init(&r, c->seed, RNG_DROPOUT, sc->client, round);
    double u = rng_uniform(&r), at = rng_uniform(&r), hz = rng_uniform_pos(&r);
    sc->drop_after = u < c->dropout.p ? at * work : INFINITY;
    sc->drop_cause = DROP_RANDOM;
    double off = av_next_offline(p->av, sc->client, round, t0) - t0;
    if (off < sc->drop_after && off < work) {
        sc->drop_after = off;
        sc->drop_cause = DROP_OFFLINE;
    }
    if (c->dropout.hazard_per_s > 0) {
        double fail = -log(hz) / c->dropout.hazard_per_s;
        if (fail < sc->drop_after && fail < work) {
            sc->drop_after = fail;
            sc->drop_cause = DROP_FAILURE;
        }
    }
}

static fs_err ev_push(sim_events *s, const met_client_event *ev)
{
    if (s->n == s->cap) {
        size_t nc = s->cap ? 2 * s->cap : 256;
        met_client_event *n = realloc(s->ev, nc * sizeof *n);
        if (!n) return fs_error(FS_ENOMEM, "out of memory for client events");
        s->ev = n;
        s->cap = nc;
    }
    s->ev[s->n++] = *ev;
    return FS_OK;
}

fs_err sim_events_client(sim_events *evs, const sim_pop *p, const sched_client *sc, double t0,
                         int round, const char *outcome)
{
    if (!evs->on) return FS_OK;
    fl_work wk;
    fl_algo_work(p->algo, p->fp, p->tc, part_size(p->part, sc->client), &wk);
    const double b[4] = {t0, t0 + sc->d_down, t0 + sc->d_down + sc->d_comp,
                         t0 + sc->d_down + sc->d_comp + sc->d_up};
    static const char *const phase[3] = {"download", "compute", "upload"};
    fs_err e = FS_OK;
    for (int ph = 0; ph < 3 && !e; ph++) {
        if (b[ph] >= sc->t_end && ph > 0) break;
        double end = b[ph + 1] < sc->t_end ? b[ph + 1] : sc->t_end;
        int done = b[ph + 1] <= sc->t_end;
        met_client_event ev = {sc->client,
                               round,
                               phase[ph],
                               b[ph],
                               end,
                               done && ph < 2 ? "completed" : outcome,
                               ph == 1 ? wk.samples : 0,
                               ph == 0   ? sc->moved_down
                               : ph == 2 ? sc->moved_up
                                         : 0,
                               0,
                               NAN};
        e = ev_push(evs, &ev);
    }
    return e;
}

void sim_events_free(sim_events *ev)
{
    free(ev->ev);
    ev->ev = NULL;
    ev->n = ev->cap = 0;
}
