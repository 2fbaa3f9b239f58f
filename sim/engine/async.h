/* Asynchronous FedBuff (protocol: async; Nguyen et al., "Federated Learning with Buffered
 * Asynchronous Aggregation", AISTATS 2022, Algorithm 1), private to sim/engine. The run driver
 * (sim.c) hands it what it needs of the run state in an async_env and calls async_step once
 * per rounds row; the protocol owns its jobs, update buffers and counters.
 * Guarantees: the schedule depends only on (scenario, seed); updates are summed in arrival
 * order, so the bits do not depend on the thread count; with concurrency 1 and buffer 1 a run
 * is exactly sequential FedAvg over one client per round. */
#ifndef FEDSIM_ENGINE_ASYNC_H
#define FEDSIM_ENGINE_ASYNC_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/clients.h"
#include "engine/evq.h"
#include "fl/algorithm.h"
#include "nn/model.h"
#include "store/store.h"

/* The run state the protocol reads and writes; the run owns every pointer. */
typedef struct async_env {
    const sim_pop *pop; /* selection and timing of jobs */
    sim_events *events; /* output.client_events of the step being built */
    evq *q;             /* the run's event queue (cleared by async_new) */
    fl_round_ctx ctx;   /* the run's training context (its round is set per model version) */
    nn_worker *workers; /* (threads) */
    int threads;
    int chunk;             /* clients trained between two ordered summations */
    uint32_t *chunk_cl;    /* (chunk) scratch */
    fl_client_result *res; /* (chunk) scratch; update pointers point into res_buf on return */
    float *res_buf;        /* (chunk, n_params) */
    fl_agg *agg;           /* the step's aggregate (also scratch while training) */
    float *global;         /* the global model, updated by each server step */
} async_env;

typedef struct async_state async_state;

/* Check the algorithm (no client state, the plain server step), allocate async.concurrency job
 * slots and concurrency + buffer update vectors, and start the first jobs at time 0. */
fs_err async_new(const async_env *env, async_state **out);

/* Process events until async.buffer updates are buffered, then take one server step and fill
 * its rounds row (step, vtime, staleness, counts, bytes, FLOPs, train loss). *train_wall grows
 * by the wall time spent training; stop (may be NULL) is checked after training. */
fs_err async_step(async_state *a, int step, double *vtime, met_round_row *row, double *train_wall,
                  volatile sig_atomic_t *stop);

void async_free(async_state *a);

#endif
