/* The population as a protocol's schedule sees it (private to sim/engine): who is online, who
 * is selected, how long a selected client's work takes and when it drops, and the record of
 * each client's phases (output.client_events). Shared by the synchronous round (sim.c) and the
 * asynchronous protocol (async.c), so both select and time clients the same way.
 * Guarantees: every draw comes from a keyed stream (selection (RNG_SELECT, 0, key), dropouts
 * (RNG_DROPOUT, client, round)); nothing depends on training or on the thread count. */
#ifndef FEDSIM_ENGINE_CLIENTS_H
#define FEDSIM_ENGINE_CLIENTS_H

#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "data/partition.h"
#include "device/avail.h"
#include "device/device.h"
#include "engine/comm.h"
#include "engine/priv.h"
#include "engine/round.h"
#include "fl/algorithm.h"
#include "nn/model.h"
#include "store/store.h"

/* What selection and timing read from the run; the run owns every pointer. */
typedef struct sim_pop {
    const cfg *c;
    const partition *part;
    const dev_model *dev;
    av_model *av;
    const nn_model *model;
    const fl_algorithm *algo;
    const fl_params *fp; /* the algorithm.* keys (what the local work depends on) */
    const fl_train_cfg *tc;
    const priv_state *pv; /* secure aggregation changes the upload size; NULL: none */
    const comm_state *cm; /* compression.kind: the exact encoded upload size; NULL: none */
    uint32_t *perm;       /* (n_clients) selection permutation over the population */
} sim_pop;

/* Online clients at t: counted exactly up to 100,000 clients; above that estimated from the
 * candidates the last selection examined (scanned, of which online; exhausted: it ran out of
 * candidates), or from a fixed sample when scanned is 0 (docs/metrics.md). */
long sim_count_available(const sim_pop *p, uint32_t round, double t, uint32_t scanned,
                         uint32_t online, int exhausted);

/* Select up to m clients uniformly among those online at t, with data and not busy (busy may be
 * NULL); draws from (RNG_SELECT, 0, key). Fills out[] and, when asked, *available. */
int sim_select_clients(const sim_pop *p, uint32_t key, uint32_t round, double t, int m,
                       const uint8_t *busy, uint32_t *out, long *available);

/* Phase durations, bytes, FLOPs and dropout instant of client sc->client starting at t0. */
void sim_plan_client(const sim_pop *p, sched_client *sc, uint32_t round, double t0);

/* output.client_events: the events of the row being built, flushed with it. */
typedef struct sim_events {
    int on; /* 0: nothing is recorded */
    met_client_event *ev;
    size_t n, cap;
} sim_events;

/* Record the phases of one client's work from t0, cut where its work ended (sc->t_end). */
fs_err sim_events_client(sim_events *ev, const sim_pop *p, const sched_client *sc, double t0,
                         int round, const char *outcome);

void sim_events_free(sim_events *ev);

#endif
