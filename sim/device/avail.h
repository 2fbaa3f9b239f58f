/* Client availability over virtual time. Every mode is a deterministic function of
 * (seed, client, time), so availability never depends on the order of queries:
 *   always    online all the time;
 *   bernoulli online with probability p, drawn per (client, round) at selection; it does not
 *             change during a round;
 *   markov    a two-state on/off process in continuous time with exponential on and off
 *             durations (means mean_on_s, mean_off_s), started in its stationary distribution;
 *             each client's process is generated lazily from its own stream, so memory is a
 *             cursor per client (44 bytes) for clients that were ever queried;
 *   diurnal   each client has a time zone (a whole hour, uniform); time is cut in slots of
 *             slot_s seconds and in each slot the client is online with probability
 *             p(h) = p_min + (p_max - p_min) (1 + cos(2 pi (h - peak) / 24)) / 2 at its local
 *             hour h (mid-slot): no per-client state;
 *   trace     a CSV of online intervals (client,start_s,end_s); population client c follows
 *             trace client (c mod number of trace clients), optionally repeated with a period.
 * Queries must come with non-decreasing times for a given client (virtual time only moves
 * forward); av_is_online checks that for markov. */
#ifndef FEDSIM_AVAIL_H
#define FEDSIM_AVAIL_H

#include <stdint.h>

#include "util/err.h"

typedef enum av_mode { AV_ALWAYS = 0, AV_BERNOULLI, AV_MARKOV, AV_DIURNAL, AV_TRACE } av_mode;

typedef struct av_interval {
    double start, end;
} av_interval;

typedef struct av_model {
    av_mode mode;
    uint64_t seed;
    uint32_t n_clients;
    double p;                       /* bernoulli */
    double mean_on_s, mean_off_s;   /* markov */
    double p_min, p_max, peak_hour; /* diurnal */
    double slot_s;
    /* markov cursors (allocated on first use): current segment [start, end) and its state */
    double *seg_end;
    uint64_t (*seg_rng)[4];
    uint8_t *seg_on; /* 0 off, 1 on, 2 never queried */
    /* trace */
    av_interval *iv;  /* all intervals, grouped by trace client, sorted by start */
    uint32_t *iv_off; /* (n_trace + 1) offsets into iv */
    uint32_t n_trace;
    double period_s;
} av_model;

/* Set up a model; for trace mode reads the CSV (errors name file:line). */
fs_err av_init(av_model *m, av_mode mode, uint64_t seed, uint32_t n_clients);
fs_err av_load_trace(av_model *m, const char *path, double period_s);
void av_free(av_model *m);

/* Is client c online at time t (in round r, used by bernoulli)? */
int av_is_online(av_model *m, uint32_t c, uint32_t round, double t);
/* Given that c is online at t, when does it next go offline? INFINITY if not before the end
 * of what the model describes (always, bernoulli: never within a round). */
double av_next_offline(av_model *m, uint32_t c, uint32_t round, double t);
/* Earliest time >= t at which c is online (t itself if online); INFINITY if never. For
 * bernoulli this is t or INFINITY (availability is only redrawn per round). */
double av_next_online(av_model *m, uint32_t c, uint32_t round, double t);

/* Memory used per client by the model's state, for reports. */
double av_bytes_per_client(const av_model *m);

#endif
