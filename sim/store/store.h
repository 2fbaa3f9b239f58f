/* The metrics record: one SQLite database per run (or per sweep). WAL mode and one transaction
 * per round, so a run killed at any point leaves a readable database whose `runs` row says
 * running/interrupted/failed/completed. Schema version in PRAGMA user_version; see
 * docs/metrics.md for every column. */
#ifndef FEDSIM_STORE_H
#define FEDSIM_STORE_H

#include <sqlite3.h>
#include <stdint.h>

#include "util/err.h"

#define MET_SCHEMA_VERSION 1

typedef struct met_store {
    sqlite3 *db;
    sqlite3_stmt *ins_round;
    int64_t run_id;
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
} met_run_info;

/* NaN doubles are stored as NULL (e.g. test metrics on rounds without evaluation). */
typedef struct met_round_row {
    int round;
    double vtime_s;      /* virtual time at round end */
    double wall_s;       /* wall time since run start */
    long available;      /* clients found available while selecting */
    long selected;
    long completed;      /* updates aggregated */
    long dropped;
    long late;           /* arrived after the round closed or never before the deadline */
    int abandoned;       /* 1 if no update was aggregated */
    double bytes_down;
    double bytes_up;
    double flops_used;   /* training FLOPs of aggregated updates */
    double flops_wasted; /* training FLOPs of dropped and late clients */
    double train_loss;   /* sample-weighted mean local training loss */
    double test_loss, test_acc;
} met_round_row;

fs_err met_open(met_store *s, const char *path);
fs_err met_run_begin(met_store *s, const met_run_info *info);
fs_err met_round(met_store *s, const met_round_row *r);
/* status: completed | failed | interrupted */
fs_err met_run_end(met_store *s, const char *status, double wall_s, const char *error);
void met_close(met_store *s);

#endif
