/* The schedule of one synchronous round, in virtual time. Given the selected clients' phase
 * durations and dropout instants, it runs the round through the event queue: download done,
 * compute done, upload done, dropout and deadline events. The round closes when k_target
 * updates have arrived or at the deadline, whichever is first; the clients still working then
 * are late (their work is discarded), and those whose dropout came first are dropped. The
 * schedule never depends on training results (docs/ARCHITECTURE.md, "Rounds": schedule, then work).
 */
#ifndef FEDSIM_ROUND_H
#define FEDSIM_ROUND_H

#include <stdint.h>

#include "engine/evq.h"

enum sched_outcome { SCHED_PENDING = 0, SCHED_COMPLETED, SCHED_DROPPED, SCHED_LATE };
enum sched_drop_cause { DROP_RANDOM = 0, DROP_OFFLINE, DROP_FAILURE };
enum sched_event { EV_DOWNLOAD_DONE = 1, EV_COMPUTE_DONE, EV_UPLOAD_DONE, EV_DROPOUT, EV_DEADLINE };

typedef struct sched_client {
    uint32_t client;
    /* inputs */
    double d_down, d_comp, d_up; /* phase durations (s), transfer ones including latency */
    double lat_down, lat_up;     /* latency part of the transfers (no bytes move) */
    double drop_after;           /* seconds after round start; INFINITY: never */
    int drop_cause;              /* why it drops at drop_after (enum sched_drop_cause) */
    double bytes_down, bytes_up; /* full transfer sizes */
    double flops;                /* full training work */
    /* outputs */
    int outcome;
    double t_end;                /* when it completed, dropped or was cut off */
    double moved_down, moved_up; /* bytes actually transferred */
    double flops_done;           /* training work done */
} sched_client;

typedef struct sched_round {
    double t0;      /* round start */
    double t_close; /* round end */
    int n;          /* selected clients */
    sched_client *c;
    int *arrival; /* indices into c of completed clients, in arrival order (n capacity) */
    int n_completed, n_dropped, n_late;
} sched_round;

/* Account the bytes moved and FLOPs done by a client that started at t0 and whose work stopped
 * at t: no bytes move during latency, a transfer cut off part way counts in part. Sets t_end. */
void sched_account(double t0, sched_client *c, double t);

/* Run the round. deadline_s <= 0: none. k_target >= 1. */
fs_err sched_run_round(evq *q, sched_round *r, int k_target, double deadline_s);

#endif
