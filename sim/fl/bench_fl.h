/* `fedsim bench fl`: the end-to-end FedAvg client loop of issue 17 in one command (sim/fl/
 * bench_fl.c). The workload: Fashion-MNIST, Dirichlet(alpha) label skew over N clients, K
 * clients per round chosen uniformly, E local epochs of minibatch SGD at batch B from the
 * global model, update w_k - w, weighted sum in double, the server step: exactly the engine's
 * code (fl_train_clients, fl_server_step), without the simulated devices, network and SQLite.
 * It reports training samples/s and where the time outside the layers' kernels goes (model copy
 * in, batch gather, gradient zeroing, SGD step, update computation, aggregation, server step).
 * A benchmark: it prints numbers and asserts no time. */
#ifndef FEDSIM_BENCH_FL_H
#define FEDSIM_BENCH_FL_H

#include <stdint.h>
#include <stdio.h>

#include "data/dataset.h"
#include "util/err.h"

typedef struct fl_bench_opts {
    const char *model; /* zoo name: logreg, mlp, lenet, cnn */
    int batch;         /* B */
    int threads;       /* OpenMP workers training clients */
    uint32_t clients;  /* population N (1,000) */
    int per_round;     /* K (50) */
    int epochs;        /* E (1) */
    double alpha;      /* Dirichlet concentration (0.5) */
    double lr;         /* client SGD learning rate (0.1, the quickstart's) */
    double seconds;    /* timed rounds until this much time has passed (at least one round) */
    int rounds;        /* > 0: exactly this many timed rounds instead */
    uint64_t seed;     /* partition, selection, initial model, minibatch order */
} fl_bench_opts;

/* Defaults: the workload (mlp, batch 10, one thread). */
fl_bench_opts fl_bench_defaults(void);

/* Run the benchmark on ds (a classification dataset of 28x28x1 images for the zoo models) and
 * print its report to out; *rate (may be NULL) gets the training samples/s (one thread: per
 * second of the thread's CPU time; more: per wall second). */
fs_err fl_bench_run(const fl_bench_opts *o, const dataset *ds, FILE *out, double *rate);

#endif
