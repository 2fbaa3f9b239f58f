/* A whole simulation run: scenario -> data, partition, model, devices -> rounds of schedule
 * (serial, exact, virtual time) and work (parallel client training) -> SQLite. */
#ifndef FEDSIM_SIM_H
#define FEDSIM_SIM_H

#include <signal.h>
#include <stdint.h>

#include "config/config.h"
#include "util/err.h"

typedef struct sim_opts {
    const char *db_path;         /* NULL: cfg output.db or results/<name>.db */
    const char *scenario_text;   /* stored with the run */
    int quiet;                   /* no progress, no summary */
    int threads;                 /* > 0 overrides cfg threads */
    volatile sig_atomic_t *stop; /* set by a signal handler: stop after the current round */
    const char *sweep_id;        /* fedsim sweep: the sweep this run belongs to (else NULL) */
    const char *swept_json;      /* fedsim sweep: the swept values, a JSON object (else NULL) */
    int schedule_only;           /* benchmarks: run the schedule, skip training and evaluation */
    const char *ckpt_db;         /* mpirun fedsim sweep: the database the run ends up in, which
                                  * names the default checkpoint folder (NULL: the db written) */
    int distribute;              /* mpirun: every rank calls sim_run; rank 0 runs the schedule and
                                  * the record, the others train its clients (engine/mpi_dist.h) */
} sim_opts;

typedef struct sim_summary {
    int rounds_done;
    double vtime_s, wall_s;
    double final_acc, final_loss; /* NaN if never evaluated */
    double train_wall_s;          /* wall time inside client training */
    long updates, dropped, late;
    char status[16];
    char db_path[1024];
    int recorded; /* 1 once the run row exists (0: stopped or failed during set-up) */
    /* eval.target_accuracy: the first evaluation at or above it (tta_round 0: not reached) */
    int tta_round;
    double tta_vtime_s, tta_bytes_up, tta_bytes_down;
    double bytes_up, bytes_down; /* moved over the whole run */
} sim_summary;

/* Run the scenario. FS_EINPUT/FS_EDATA (or FS_EINTR on a signal during set-up) before anything
 * is written; once the run row exists, failures and interruptions are recorded in it. */
fs_err sim_run(const cfg *c, const sim_opts *o, sim_summary *out);

/* Load (or generate) the dataset a scenario names. */
struct dataset;
fs_err sim_load_data(const cfg *c, struct dataset *ds);

/* The scenario's partition of ds (partition.kind, then its feature skew and local test split),
 * as a run uses it. */
struct partition;
fs_err sim_make_partition(const cfg *c, const struct dataset *ds, struct partition *p);

/* The scenario's device and availability models for n_clients clients (devices.*, network.*,
 * availability.*: tiers and trace files are read here), as a run uses them. Free with
 * dev_free and av_free, also after a failure. */
struct dev_model;
struct av_model;
fs_err sim_make_devices(const cfg *c, uint32_t n_clients, struct dev_model *dev,
                        struct av_model *av);

#endif
