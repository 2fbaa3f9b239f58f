/* The metrics record: one SQLite database per run (or per sweep). WAL mode and one transaction
 * per round, so a run killed at any point leaves a readable database whose `runs` row says
 * running/interrupted/failed/completed, and names its process so that readers can tell a
 * live run from an abandoned one (met_owner_alive). Schema version in PRAGMA user_version; see
 * docs/metrics.md for every column. store/ owns the schema and every SQL statement: this file
 * writes a run; query.h reads the record and keeps a sweep's books; import.h copies runs between
 * databases. Nothing outside store/ includes sqlite3.h. */
#ifndef FEDSIM_STORE_H
#define FEDSIM_STORE_H

#include <stdint.h>

#include "util/err.h"

/* 2: runs.seed lossless for seeds >= 2^63, runs.host/pid/proc_start name a run's process */
#define MET_SCHEMA_VERSION 2

struct sqlite3;
struct sqlite3_stmt;

/* An open database: for writing (met_open) or reading (met_open_read, query.h). Its fields are
 * store/'s own. */
typedef struct met_store {
    struct sqlite3 *db;
    struct sqlite3_stmt *ins_round;
    struct sqlite3_stmt *ins_event;
    struct sqlite3_stmt *ins_eval;
    struct sqlite3_stmt *ins_conf;
    int64_t run_id;
    int readonly;   /* opened by met_open_read */
    int sweep_cols; /* runs has sweep_id and swept (always after met_open) */
    int owner_cols; /* runs names its process: host, pid, proc_start (likewise) */
    char path[1024];
} met_store;

typedef struct met_run_info {
    const char *name;
    const char *scenario_text;
    const char *params_json;
    uint64_t seed;
    const char *model_desc;
    long n_params;
    long n_clients;
    const char *run_key;    /* sweep_compute_key of the resolved scenario (NULL: none) */
    const char *sweep_id;   /* the sweep this run belongs to (NULL: a single run) */
    const char *swept_json; /* the sweep's values for this run, a JSON object (NULL: none) */
} met_run_info;

/* NaN doubles are stored as NULL (e.g. test metrics on rounds without evaluation). */
typedef struct met_round_row {
    int round;
    double vtime_s; /* virtual time at round end */
    double wall_s;  /* wall time since run start */
    long available; /* clients found available while selecting */
    long selected;
    long completed;       /* updates aggregated */
    long dropped;         /* all causes: */
    long dropped_random;  /*   the per-round dropout coin */
    long dropped_offline; /*   the client went offline while working */
    long dropped_failure; /*   the failure hazard */
    long late;            /* arrived after the round closed or never before the deadline */
    int abandoned;        /* 1 if no update was aggregated */
    double bytes_down;
    double bytes_up;
    double flops_used;   /* training FLOPs of aggregated updates */
    double flops_wasted; /* training FLOPs of dropped and late clients */
    double train_loss;   /* sample-weighted mean local training loss */
    double test_loss, test_acc;
    double global_train_loss, global_train_acc; /* eval.train_samples (NaN: not evaluated) */
    double wait_s;         /* virtual time spent waiting for enough available clients */
    double staleness_mean; /* async: mean staleness of the aggregated updates (NaN for sync) */
    double staleness_max;
    double state_bytes;      /* algorithm state in memory: client states, their index, server */
    double state_disk_bytes; /* client states spilled to the temporary HDF5 file */
    double epsilon;          /* DP: epsilon spent after this round (NaN: no DP); docs/privacy.md */
    double dp_clip;          /* DP: clip norm C of this round (NaN: no DP) */
    double dp_clipped;    /* DP: fraction of the aggregated updates that were clipped (NaN: none) */
    double secagg_bytes;  /* secure aggregation: protocol bytes besides the masked uploads */
    double secagg_time_s; /* secure aggregation: virtual time the protocol added */
    const char *secagg_abort; /* why secure aggregation aborted the round; NULL: it did not */
    double backdoor_asr;      /* backdoor: attack success rate on the triggered test set (NaN) */
    long malicious_updates;   /* malicious clients among the round's arrived updates */
    double malicious_kept;    /* their mean kept share under the robust rule (NaN: none) */
    double benign_kept;       /* the benign updates' mean kept share (NaN: none) */
} met_round_row;

/* One phase of one client's work (the optional client_events table). */
typedef struct met_client_event {
    uint32_t client;
    int round;         /* round, or server step for async */
    const char *phase; /* download | compute | upload */
    double t_start, t_end;
    const char *outcome; /* completed | dropped_random | dropped_offline | dropped_failure | late |
                            stale */
    long samples;
    double bytes;
    int malicious; /* 1: an adversary's client (docs/robustness.md) */
    double kept;   /* upload of an aggregated update: its kept share under the robust rule; NaN */
} met_client_event;

fs_err met_open(met_store *s, const char *path);
/* Inserts the `runs` row (status running). With a sweep_id and run_key, earlier failed or
 * interrupted rows of the same sweep and key get superseded_by = this run, in one transaction. */
fs_err met_run_begin(met_store *s, const met_run_info *info);
fs_err met_round(met_store *s, const met_round_row *r);
/* Group a round's rows (client events + round) into one transaction. */
fs_err met_begin(met_store *s);
fs_err met_commit(met_store *s);
/* Roll back the open transaction after the error e of one of its statements, and return e. If
 * the rollback fails too, e's message says so (its own message first). */
fs_err met_rollback(met_store *s, fs_err e);
fs_err met_client_event_add(met_store *s, const met_client_event *ev);

/* One client's evaluation (the optional client_eval table). */
typedef struct met_client_eval {
    uint32_t client;
    int round;
    long n; /* samples evaluated */
    double loss, acc;
} met_client_eval;

fs_err met_client_eval_add(met_store *s, const met_client_eval *ev);
/* The central test set's confusion matrix conf (k x k, row = true class) after `round`: one
 * `confusion` row per nonzero cell (per-class accuracy: the class_acc view). */
fs_err met_confusion_add(met_store *s, int round, int k, const long *conf);
/* status: completed | failed | interrupted */
fs_err met_run_end(met_store *s, const char *status, double wall_s, const char *error);
void met_close(met_store *s);

/* Is the process that owns a run row (runs.host, pid, proc_start) still alive? 1 yes, 0 provably
 * gone (no such process, its pid now another process's, or the machine rebooted since), -1
 * cannot tell (another host, or no owner recorded: a row of schema version 1). A `running` row
 * whose owner is gone was abandoned (kill -9, full disk, crash). */
int met_owner_alive(const char *host, int64_t pid, const char *proc_start);
/* Registers the SQL function fedsim_owner_gone(host, pid, proc_start) (1: gone) on db. */
int met_register_owner_fn(struct sqlite3 *db);

#endif
