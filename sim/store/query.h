/* Reading the metrics record, and the sweep's bookkeeping on it: every query that `fedsim info`,
 * `fedsim export` and `fedsim sweep` make, so that the schema is known in store/ alone and its
 * callers see typed rows. Databases of every schema version this fedsim has written are read
 * (columns added later are treated as absent: no sweeps, no process owner).
 * Errors are FS_EIO with "<path>: <what>: <SQLite's message>" unless said otherwise. */
#ifndef FEDSIM_QUERY_H
#define FEDSIM_QUERY_H

#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

/* Open path read-only (also while a sweep writes it; a WAL database on a read-only file system
 * is read as immutable) and check that it is a sound fedsim database: PRAGMA quick_check, then
 * the runs and rounds tables. A missing or unreadable file is FS_EINPUT, a corrupt file or
 * another kind of file FS_EDATA, each with the message `fedsim info` prints. Close with
 * met_close. */
fs_err met_open_read(met_store *s, const char *path);
/* PRAGMA user_version: the schema version (MET_SCHEMA_VERSION when fedsim last wrote it). */
fs_err met_schema_version(met_store *s, int *version);

/* Which runs info and export show. */
typedef struct met_select {
    const char *sweep_id; /* one sweep's runs (NULL: all; ignored without sweep columns) */
    int hide_superseded;  /* leave out rows a resumed sweep ran again (info without --all) */
    int completed_only;   /* completed runs only (export without --all) */
    int tta;              /* list the time-to-accuracy of each run (met_run_line.tta_*) */
    double target;        /* its target (> 0), else each run's eval.target_accuracy */
} met_select;

/* The keys swept by the selected runs, in order of first appearance: *keys gets n strings
 * (free with met_free_keys); none for a database without sweeps. */
fs_err met_swept_keys(met_store *s, const met_select *sel, char ***keys, int *n);
void met_free_keys(char **keys, int n);

/* Runs per sweep over every row of the database (superseded ones too), in order of each
 * group's first run. `running` and `abandoned` follow met_owner_alive: a running row whose
 * process is gone counts as abandoned, not running. */
typedef struct met_run_counts {
    const char *sweep_id; /* "" for the single runs */
    int runs, completed, running, failed, interrupted, abandoned;
    int superseded; /* rows a rerun replaced */
} met_run_counts;

fs_err met_count_runs(met_store *s, fs_err (*fn)(void *ctx, const met_run_counts *c), void *ctx);

/* One selected run with what info shows of it. Text is valid during the callback only. */
typedef struct met_run_line {
    int64_t id;
    const char *sweep_id;  /* "" for a single run */
    const char *status;    /* running | completed | failed | interrupted | abandoned */
    int64_t superseded_by; /* 0: none */
    const char *seed;      /* the exact uint64 in decimal (NULL: none) */
    int rounds;            /* rounds rows */
    int rounds_planned;    /* rounds.count of its parameters (-1: not recorded) */
    double final_acc;      /* test_acc of the last evaluated round (NaN: none) */
    double best_acc;       /* max test_acc (NaN: none) */
    double vtime_s;        /* virtual time of the last round (NaN: no rounds) */
    double wall_s;         /* NaN: not ended */
    const char *error;     /* "" for none */
    const char *host;      /* the owner process (NULL, 0: not recorded) */
    int64_t pid;
    const char *const *swept; /* n_keys values as text, NULL where the run has none */
    /* time-to-accuracy (docs/efficiency.md): the first round whose test accuracy reached the
     * target (met_select.target, else the run's eval.target_accuracy; 0: none) */
    double tta_target;
    int tta_round; /* 0: not reached */
    double tta_vtime_s, tta_bytes_up;
} met_run_line;

/* 1 in *yes when some run of the database set eval.target_accuracy. */
fs_err met_any_target(met_store *s, int *yes);

/* The selected runs in id order, with the values of keys[0..n_keys) (met_swept_keys). */
fs_err met_list_runs(met_store *s, const met_select *sel, char *const *keys, int n_keys,
                     fs_err (*fn)(void *ctx, const met_run_line *r), void *ctx);

/* A value of a result row. */
typedef enum met_type { MET_NULL, MET_INT, MET_REAL, MET_TEXT } met_type;
typedef struct met_value {
    met_type type;
    int64_t i;
    double r;
    const char *s; /* MET_TEXT: valid during the callback only */
} met_value;

/* The rounds of the selected runs in (run id, round) order, each with its run: the columns
 * run_id, sweep_id, run_key, name, status, seed, one per swept key (keys[0..n_keys), named
 * after it), then every column of `rounds` but run_id in table order (new metrics flow
 * through). header gets the n column names once, first; row each row. A nonzero fs_err from a
 * callback stops the walk and is returned. */
fs_err met_export_rounds(met_store *s, const met_select *sel, char *const *keys, int n_keys,
                         fs_err (*header)(void *ctx, int n, const char *const *names),
                         fs_err (*row)(void *ctx, int n, const met_value *v), void *ctx);

/* ---- sweeps (on a store opened with met_open, or met_open_read for a dry run) ---- */

/* Status of run key in the sweep: its completed row if any, else its newest row ("" if none,
 * or the database has no sweeps). */
fs_err met_sweep_status(met_store *s, const char *sweep_id, const char *run_key, char *out,
                        size_t cap);
/* Distinct run keys recorded for the sweep (-1: cannot tell). */
int64_t met_sweep_count_keys(met_store *s, const char *sweep_id);
/* The largest run id (0: no runs; -1: cannot tell). A run started later has a larger id. */
int64_t met_last_run_id(met_store *s);

/* The last round of each running row of the sweep: fn(ctx, run key, round; 0 before the first). */
fs_err met_sweep_progress(met_store *s, const char *sweep_id,
                          void (*fn)(void *ctx, const char *run_key, int round), void *ctx);

typedef struct met_run_result {
    int64_t id; /* -1: no such row */
    char status[32];
    char error[512]; /* "" for none */
    int rounds;      /* rounds rows */
    double last_acc; /* test_acc of the last evaluated round (NaN: none) */
} met_run_result;

/* The newest row of run key in the sweep with an id above after_id (a worker's row). */
fs_err met_sweep_find_run(met_store *s, const char *sweep_id, const char *run_key, int64_t after_id,
                          met_run_result *out);
/* Row id (an imported run). */
fs_err met_run_result_of(met_store *s, int64_t id, met_run_result *out);

/* Close the row of a run whose process died without doing so: status (failed | interrupted),
 * error and ended_at now. */
fs_err met_run_settle(met_store *s, int64_t id, const char *status, const char *error);
/* Rows of the sweep still `running` become interrupted with error `why` (the sweep holds its
 * lock, so none of its processes is alive); *n gets how many. */
fs_err met_sweep_settle_stale(met_store *s, const char *sweep_id, const char *why, int *n);

#endif
