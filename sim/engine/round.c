/* Synchronous round schedule (see round.h). Events carry the index of the client in the
 * round's selection in `data`; every client has at most one pending phase event and one
 * pending dropout event, whose handles are kept so that closing the round cancels them. */
#include "engine/round.h"

#include <math.h>
#include <stdlib.h>

static double frac(double done, double lat, double total)
{
    /* share of a transfer's bytes moved after `done` seconds: none during the latency */
    if (total <= lat) return done >= total ? 1.0 : 0.0;
    double f = (done - lat) / (total - lat);
    return f > 1 ? 1 : f > 0 ? f : 0; /* total: NaN (inf / inf) counts as nothing moved */
}

void sched_account(double t0, sched_client *c, double t)
{
    double el = t - t0;
    c->t_end = t;
    c->moved_down = c->bytes_down * frac(el, c->lat_down, c->d_down);
    double after_down = el - c->d_down;
    double cf = c->d_comp > 0 ? after_down / c->d_comp : (after_down >= 0 ? 1 : 0);
    c->flops_done = c->flops * (cf > 1 ? 1 : cf > 0 ? cf : 0);
    c->moved_up = c->bytes_up * frac(after_down - c->d_comp, c->lat_up, c->d_up);
}

fs_err sched_run_round(evq *q, sched_round *r, int k_target, double deadline_s)
{
    FS_CHECK(k_target >= 1);
    evq_clear(q);
    evq_handle *phase = calloc((size_t)r->n + 1, sizeof *phase);
    evq_handle *drop = calloc((size_t)r->n + 1, sizeof *drop);
    if (!phase || !drop) {
        free(phase);
        free(drop);
        return fs_error(FS_ENOMEM, "round schedule: out of memory");
    }
    fs_err e = FS_OK;
    r->n_completed = r->n_dropped = r->n_late = 0;
    r->t_close = r->t0;
    for (int i = 0; i < r->n && !e; i++) {
        sched_client *c = &r->c[i];
        c->outcome = SCHED_PENDING;
        e = evq_push(q, r->t0 + c->d_down, EV_DOWNLOAD_DONE, c->client, (uint64_t)i, &phase[i]);
        if (!e && isfinite(c->drop_after))
            e = evq_push(q, r->t0 + c->drop_after, EV_DROPOUT, c->client, (uint64_t)i, &drop[i]);
    }
    if (!e && deadline_s > 0) e = evq_push(q, r->t0 + deadline_s, EV_DEADLINE, 0, 0, NULL);
    int open = 1;
    evq_event ev;
    while (!e && open && evq_pop(q, &ev)) {
        r->t_close = ev.time;
        int i = (int)ev.data;
        sched_client *c = ev.kind == EV_DEADLINE ? NULL : &r->c[i];
        switch (ev.kind) {
        case EV_DOWNLOAD_DONE:
            e = evq_push(q, ev.time + c->d_comp, EV_COMPUTE_DONE, c->client, ev.data, &phase[i]);
            break;
        case EV_COMPUTE_DONE:
            e = evq_push(q, ev.time + c->d_up, EV_UPLOAD_DONE, c->client, ev.data, &phase[i]);
            break;
        case EV_UPLOAD_DONE:
            evq_cancel(q, drop[i]);
            c->outcome = SCHED_COMPLETED;
            sched_account(r->t0, c, ev.time);
            r->arrival[r->n_completed++] = i;
            if (r->n_completed >= k_target) open = 0;
            break;
        case EV_DROPOUT:
            evq_cancel(q, phase[i]);
            c->outcome = SCHED_DROPPED;
            sched_account(r->t0, c, ev.time);
            r->n_dropped++;
            break;
        case EV_DEADLINE:
            open = 0;
            break;
        default:
            FS_CHECK(0);
        }
    }
    /* everyone still working when the round closed is late: work so far is wasted */
    for (int i = 0; i < r->n && !e; i++) {
        sched_client *c = &r->c[i];
        if (c->outcome != SCHED_PENDING) continue;
        c->outcome = SCHED_LATE;
        sched_account(r->t0, c, r->t_close);
        r->n_late++;
    }
    evq_clear(q);
    free(phase);
    free(drop);
    return e;
}
