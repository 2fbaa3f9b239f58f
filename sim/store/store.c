/* SQLite metrics writer (see store.h). Every statement is checked; failures carry the
 * database path and SQLite's message. Databases of schema version 1 are migrated to version 2
 * when opened for writing (migrate_runs). */
#include "store/store.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#ifndef FEDSIM_GIT_REV
#define FEDSIM_GIT_REV "unknown"
#endif
#define FEDSIM_VERSION "0.1.0"

/* The runs table of schema version 2. `seed` has no type (no affinity): seeds below 2^63 are
 * stored as integers, larger ones as their decimal text, so every uint64 seed reads back exactly
 * (an INTEGER column stored them negative). `host`, `pid`, `proc_start` name the process that
 * owns a running row (met_owner_alive). */
#define RUNS_TABLE(name)                                                                           \
    "CREATE TABLE IF NOT EXISTS " name " ("                                                        \
    "  id INTEGER PRIMARY KEY,"                                                                    \
    "  name TEXT NOT NULL,"                                                                        \
    "  scenario TEXT NOT NULL,"                                                                    \
    "  params TEXT NOT NULL,"                                                                      \
    "  seed NOT NULL,"                                                                             \
    "  version TEXT NOT NULL,"                                                                     \
    "  git_rev TEXT NOT NULL,"                                                                     \
    "  model TEXT,"                                                                                \
    "  n_params INTEGER,"                                                                          \
    "  n_clients INTEGER,"                                                                         \
    "  started_at TEXT NOT NULL,"                                                                  \
    "  ended_at TEXT,"                                                                             \
    "  wall_s REAL,"                                                                               \
    "  status TEXT NOT NULL CHECK (status IN ('running','completed','failed','interrupted')),"     \
    "  error TEXT,"                                                                                \
    "  run_key TEXT,"                                                                              \
    "  sweep_id TEXT,"                                                                             \
    "  swept TEXT,"                                                                                \
    "  superseded_by INTEGER,"                                                                     \
    "  host TEXT,"                                                                                 \
    "  pid INTEGER,"                                                                               \
    "  proc_start TEXT);"
#define RUNS_COLUMNS                                                                               \
    "id, name, scenario, params, seed, version, git_rev, model, n_params, n_clients, started_at, " \
    "ended_at, wall_s, status, error, run_key, sweep_id, swept, superseded_by, host, pid, "        \
    "proc_start"

static const char *schema = RUNS_TABLE(
    "runs") "CREATE TABLE IF NOT EXISTS rounds ("
            "  run_id INTEGER NOT NULL REFERENCES runs(id),"
            "  round INTEGER NOT NULL,"
            "  vtime_s REAL NOT NULL,"
            "  wall_s REAL NOT NULL,"
            "  available INTEGER NOT NULL,"
            "  selected INTEGER NOT NULL,"
            "  completed INTEGER NOT NULL,"
            "  dropped INTEGER NOT NULL,"
            "  dropped_random INTEGER NOT NULL,"
            "  dropped_offline INTEGER NOT NULL,"
            "  dropped_failure INTEGER NOT NULL,"
            "  late INTEGER NOT NULL,"
            "  abandoned INTEGER NOT NULL,"
            "  bytes_down REAL NOT NULL,"
            "  bytes_up REAL NOT NULL,"
            "  flops_used REAL NOT NULL,"
            "  flops_wasted REAL NOT NULL,"
            "  train_loss REAL,"
            "  test_loss REAL,"
            "  test_acc REAL,"
            "  wait_s REAL NOT NULL,"
            "  staleness_mean REAL,"
            "  staleness_max REAL,"
            "  state_bytes REAL NOT NULL DEFAULT 0,"
            "  state_disk_bytes REAL NOT NULL DEFAULT 0,"
            "  epsilon REAL,"
            "  dp_clip REAL,"
            "  dp_clipped REAL,"
            "  secagg_bytes REAL NOT NULL DEFAULT 0,"
            "  secagg_time_s REAL NOT NULL DEFAULT 0,"
            "  secagg_abort TEXT,"
            "  global_train_loss REAL,"
            "  global_train_acc REAL,"
            "  PRIMARY KEY (run_id, round));"
            "CREATE TABLE IF NOT EXISTS client_events ("
            "  run_id INTEGER NOT NULL REFERENCES runs(id),"
            "  client INTEGER NOT NULL,"
            "  round INTEGER NOT NULL,"
            "  phase TEXT NOT NULL,"
            "  t_start REAL NOT NULL,"
            "  t_end REAL NOT NULL,"
            "  outcome TEXT NOT NULL,"
            "  samples INTEGER NOT NULL,"
            "  bytes REAL NOT NULL);"
            "CREATE INDEX IF NOT EXISTS client_events_by_round ON client_events(run_id, round);"
            "CREATE TABLE IF NOT EXISTS client_eval ("
            "  run_id INTEGER NOT NULL REFERENCES runs(id),"
            "  round INTEGER NOT NULL,"
            "  client INTEGER NOT NULL,"
            "  n INTEGER NOT NULL,"
            "  loss REAL NOT NULL,"
            "  acc REAL NOT NULL,"
            "  PRIMARY KEY (run_id, round, client));"
            /* the central test set's confusion matrix at each evaluation (eval.confusion),
             * nonzero cells only; class_acc is its per-class view */
            "CREATE TABLE IF NOT EXISTS confusion ("
            "  run_id INTEGER NOT NULL REFERENCES runs(id),"
            "  round INTEGER NOT NULL,"
            "  label INTEGER NOT NULL,"
            "  pred INTEGER NOT NULL,"
            "  n INTEGER NOT NULL,"
            "  PRIMARY KEY (run_id, round, label, pred));"
            "CREATE VIEW IF NOT EXISTS class_acc AS"
            "  SELECT run_id, round, label AS class, sum(n) AS n,"
            "         sum(CASE WHEN pred = label THEN n ELSE 0 END) AS hits,"
            "         1.0 * sum(CASE WHEN pred = label THEN n ELSE 0 END) / sum(n) AS acc"
            "  FROM confusion GROUP BY run_id, round, label;";

/* Columns added to `runs` after its first release in this schema version: databases made
 * before them get them (NULL) when opened for writing. */
static const char *const runs_added[] = {
    "run_key TEXT",  "sweep_id TEXT",   "swept TEXT",      "superseded_by INTEGER",
    "host TEXT",     "pid INTEGER",     "proc_start TEXT", "federation TEXT",
    "protocol TEXT", "key_bits INTEGER"};
/* Likewise for `rounds` (the privacy columns, docs/privacy.md; eval.train_samples; robust
 * aggregation, docs/robustness.md; vertical learning, docs/vertical.md, written by store_vfl.c). */
static const char *const rounds_added[] = {"epsilon REAL",
                                           "dp_clip REAL",
                                           "dp_clipped REAL",
                                           "secagg_bytes REAL NOT NULL DEFAULT 0",
                                           "secagg_time_s REAL NOT NULL DEFAULT 0",
                                           "secagg_abort TEXT",
                                           "global_train_loss REAL",
                                           "global_train_acc REAL",
                                           "backdoor_asr REAL",
                                           "malicious_updates INTEGER NOT NULL DEFAULT 0",
                                           "malicious_kept REAL",
                                           "benign_kept REAL",
                                           "test_auc REAL",
                                           "crypto_time_s REAL",
                                           "stall_s REAL"};
/* Likewise for `client_events` (adversaries and robust aggregation, docs/robustness.md). */
static const char *const events_added[] = {"malicious INTEGER NOT NULL DEFAULT 0", "kept REAL"};

static fs_err sql_fail(met_store *s, const char *what)
{
    return fs_error(FS_EIO, "%s: %s: %s", s->path, what, s->db ? sqlite3_errmsg(s->db) : "");
}

static fs_err exec(met_store *s, const char *sql, const char *what)
{
    char *msg = NULL;
    if (sqlite3_exec(s->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        fs_err e = fs_error(FS_EIO, "%s: %s: %s", s->path, what, msg ? msg : "");
        sqlite3_free(msg);
        return e;
    }
    return FS_OK;
}

static fs_err add_columns(met_store *s, const char *table, const char *const *cols, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char name[32], sql[160];
        snprintf(name, sizeof name, "%.*s", (int)strcspn(cols[i], " "), cols[i]);
        sqlite3_stmt *st = NULL;
        int have = 0;
        if (sqlite3_prepare_v2(s->db, "SELECT count(*) FROM pragma_table_info(?) WHERE name=?", -1,
                               &st, NULL) != SQLITE_OK)
            return sql_fail(s, "read the table columns");
        sqlite3_bind_text(st, 1, table, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, name, -1, SQLITE_TRANSIENT);
        if (sqlite3_step(st) == SQLITE_ROW) have = sqlite3_column_int(st, 0);
        sqlite3_finalize(st);
        if (have) continue;
        snprintf(sql, sizeof sql, "ALTER TABLE %s ADD COLUMN %s", table, cols[i]);
        fs_err e = exec(s, sql, "add a column");
        if (e) return e;
    }
    return FS_OK;
}

static fs_err add_run_columns(met_store *s)
{
    fs_err e = add_columns(s, "runs", runs_added, sizeof runs_added / sizeof *runs_added);
    if (e) return e;
    e = add_columns(s, "rounds", rounds_added, sizeof rounds_added / sizeof *rounds_added);
    if (e) return e;
    return add_columns(s, "client_events", events_added,
                       sizeof events_added / sizeof *events_added);
}

/* Schema 1 -> 2: rebuild `runs` without the INTEGER affinity of `seed` (SQLite cannot change a
 * column's type in place: new table, copy, drop, rename, the procedure of its ALTER TABLE page).
 * A negative seed of version 1 was a uint64 seed >= 2^63 stored two's complement: it becomes the
 * seed's decimal text. Runs inside the schema transaction. */
static fs_err migrate_runs(met_store *s)
{
    sqlite3_stmt *st = NULL;
    int typed = 0;
    if (sqlite3_prepare_v2(s->db, "SELECT type FROM pragma_table_info('runs') WHERE name='seed'",
                           -1, &st, NULL) != SQLITE_OK)
        return sql_fail(s, "read the runs columns");
    if (sqlite3_step(st) == SQLITE_ROW) typed = sqlite3_column_bytes(st, 0) > 0;
    sqlite3_finalize(st);
    if (!typed) return FS_OK;
    fs_err e = exec(s,
                    RUNS_TABLE("runs_v2") "INSERT INTO runs_v2 (" RUNS_COLUMNS
                                          ") SELECT " RUNS_COLUMNS " FROM runs; DROP TABLE runs; "
                                          "ALTER TABLE runs_v2 RENAME TO runs;",
                    "migrate the runs table to schema 2");
    if (e) return e;
    if (sqlite3_prepare_v2(s->db,
                           "SELECT id, seed FROM runs WHERE typeof(seed)='integer' AND seed<0", -1,
                           &st, NULL) != SQLITE_OK)
        return sql_fail(s, "read the seeds");
    sqlite3_stmt *up = NULL;
    if (sqlite3_prepare_v2(s->db, "UPDATE runs SET seed=?2 WHERE id=?1", -1, &up, NULL) !=
        SQLITE_OK) {
        sqlite3_finalize(st);
        return sql_fail(s, "prepare the seed update");
    }
    int rc = SQLITE_DONE;
    while (rc == SQLITE_DONE && sqlite3_step(st) == SQLITE_ROW) {
        char txt[24];
        snprintf(txt, sizeof txt, "%llu",
                 (unsigned long long)(uint64_t)sqlite3_column_int64(st, 1));
        sqlite3_reset(up);
        sqlite3_bind_int64(up, 1, sqlite3_column_int64(st, 0));
        sqlite3_bind_text(up, 2, txt, -1, SQLITE_TRANSIENT);
        rc = sqlite3_step(up);
    }
    sqlite3_finalize(st);
    sqlite3_finalize(up);
    return rc == SQLITE_DONE ? FS_OK : sql_fail(s, "update a seed");
}

/* "<boot id> <start time in clock ticks since boot>" of process pid ("self" for this one), from
 * /proc; "" where there is no /proc. Together with the host and pid it names one process for
 * good: a pid reused later, or the same pid after a reboot, has another. */
static void proc_start_of(const char *pid, char *out, size_t cap)
{
    char path[64], boot[64] = "", buf[1024];
    out[0] = '\0';
    FILE *f = fopen("/proc/sys/kernel/random/boot_id", "r");
    if (!f) return;
    if (!fgets(boot, sizeof boot, f)) boot[0] = '\0';
    fclose(f);
    boot[strcspn(boot, "\n")] = '\0';
    snprintf(path, sizeof path, "/proc/%s/stat", pid);
    f = fopen(path, "r");
    if (!f) return;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    /* field 22 (starttime); the command name (field 2) is in parentheses and may hold spaces */
    const char *p = strrchr(buf, ')');
    for (int field = 2; p && field < 22; field++) p = strchr(p + 1, ' ');
    if (!p || !boot[0]) return;
    snprintf(out, cap, "%s %llu", boot, strtoull(p + 1, NULL, 10));
}

int met_owner_alive(const char *host, int64_t pid, const char *proc_start)
{
    char me[256] = "";
    if (!host || pid <= 0 || gethostname(me, sizeof me - 1) != 0 || strcmp(host, me) != 0)
        return -1; /* no owner recorded, or another machine's: cannot tell */
    if (proc_start && proc_start[0]) {
        char now[128], pidtxt[32];
        proc_start_of("self", now, sizeof now);
        const size_t bl = strcspn(proc_start, " ");
        if (now[0] && (strncmp(now, proc_start, bl) != 0 || now[bl] != ' '))
            return 0; /* the machine rebooted since */
        snprintf(pidtxt, sizeof pidtxt, "%lld", (long long)pid);
        proc_start_of(pidtxt, now, sizeof now);
        if (now[0]) return strcmp(now, proc_start) == 0; /* another process has that pid now */
    }
    if (pid > INT32_MAX) return -1;
    return kill((pid_t)pid, 0) == 0 || errno == EPERM;
}

static void owner_gone_fn(sqlite3_context *ctx, int argc, sqlite3_value **v)
{
    (void)argc;
    const char *host = (const char *)sqlite3_value_text(v[0]);
    const char *start = (const char *)sqlite3_value_text(v[2]);
    sqlite3_result_int(ctx, met_owner_alive(host, sqlite3_value_int64(v[1]), start) == 0);
}

int met_register_owner_fn(sqlite3 *db)
{
    return sqlite3_create_function(db, "fedsim_owner_gone", 3, SQLITE_UTF8, NULL, owner_gone_fn,
                                   NULL, NULL);
}

static void now_iso(char *buf, size_t cap)
{
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, cap, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

fs_err met_open(met_store *s, const char *path)
{
    memset(s, 0, sizeof *s);
    snprintf(s->path, sizeof s->path, "%s", path);
    s->sweep_cols = s->owner_cols = 1; /* the schema below has them */
    if (sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
        SQLITE_OK) {
        fs_err e = sql_fail(s, "cannot open database");
        met_close(s);
        return e;
    }
    sqlite3_busy_timeout(s->db, 30000);
    fs_err e = exec(s, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;", "set WAL mode");
    /* the version is read inside the schema transaction: concurrent sweep workers migrate once */
    if (!e) e = exec(s, "BEGIN IMMEDIATE", "begin");
    int version = -1;
    sqlite3_stmt *st = NULL;
    if (!e && sqlite3_prepare_v2(s->db, "PRAGMA user_version", -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        version = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    if (!e && (version < 0 || version > MET_SCHEMA_VERSION))
        e = fs_error(FS_EINPUT,
                     "%s: metrics schema version %d, this fedsim writes version %d "
                     "(use another --db)",
                     path, version, MET_SCHEMA_VERSION);
    if (!e) e = exec(s, schema, "create schema");
    if (!e) e = add_run_columns(s); /* version 1 as first released, then its later columns */
    if (!e) e = migrate_runs(s);    /* version 1 -> 2 */
    if (!e)
        e = exec(s, "CREATE INDEX IF NOT EXISTS runs_sweep ON runs(sweep_id, run_key)",
                 "create index");
    if (!e) {
        char sql[64];
        snprintf(sql, sizeof sql, "PRAGMA user_version=%d", MET_SCHEMA_VERSION);
        e = exec(s, sql, "set schema version");
    }
    if (!e) e = exec(s, "COMMIT", "commit schema");
    if (!e && sqlite3_prepare_v2(
                  s->db,
                  "INSERT INTO rounds (run_id, round, vtime_s, wall_s, available, selected, "
                  "completed, dropped, dropped_random, dropped_offline, "
                  "dropped_failure, late, abandoned, bytes_down, bytes_up, "
                  "flops_used, flops_wasted, train_loss, test_loss, test_acc, "
                  "wait_s, staleness_mean, staleness_max, state_bytes, "
                  "state_disk_bytes, epsilon, dp_clip, dp_clipped, secagg_bytes, "
                  "secagg_time_s, secagg_abort, global_train_loss, global_train_acc, "
                  "backdoor_asr, malicious_updates, malicious_kept, benign_kept) VALUES "
                  "(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                  -1, &s->ins_round, NULL) != SQLITE_OK)
        e = sql_fail(s, "prepare round insert");
    if (!e && sqlite3_prepare_v2(s->db,
                                 "INSERT INTO client_events (run_id, client, round, phase, "
                                 "t_start, t_end, outcome, samples, bytes, malicious, kept) "
                                 "VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                                 -1, &s->ins_event, NULL) != SQLITE_OK)
        e = sql_fail(s, "prepare client event insert");
    if (!e && sqlite3_prepare_v2(s->db,
                                 "INSERT INTO client_eval (run_id, round, client, n, loss, acc) "
                                 "VALUES (?,?,?,?,?,?)",
                                 -1, &s->ins_eval, NULL) != SQLITE_OK)
        e = sql_fail(s, "prepare client eval insert");
    if (!e && sqlite3_prepare_v2(s->db,
                                 "INSERT INTO confusion (run_id, round, label, pred, n) "
                                 "VALUES (?,?,?,?,?)",
                                 -1, &s->ins_conf, NULL) != SQLITE_OK)
        e = sql_fail(s, "prepare confusion insert");
    if (e) met_close(s);
    return e;
}

fs_err met_run_begin(met_store *s, const met_run_info *info)
{
    char ts[32];
    now_iso(ts, sizeof ts);
    fs_err e = exec(s, "BEGIN IMMEDIATE", "begin run");
    if (e) return e;
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(s->db,
                           "INSERT INTO runs (name, scenario, params, seed, version, git_rev, "
                           "model, n_params, n_clients, started_at, status, run_key, sweep_id, "
                           "swept, host, pid, proc_start) VALUES "
                           "(?,?,?,?,?,?,?,?,?,?,'running',?,?,json(?),?,?,?)",
                           -1, &st, NULL) != SQLITE_OK) {
        return met_rollback(s, sql_fail(s, "prepare run insert"));
    }
    sqlite3_bind_text(st, 1, info->name, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, info->scenario_text ? info->scenario_text : "", -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 3, info->params_json ? info->params_json : "{}", -1, SQLITE_TRANSIENT);
    char seed[24];
    snprintf(seed, sizeof seed, "%llu", (unsigned long long)info->seed);
    if (info->seed <= INT64_MAX)
        sqlite3_bind_int64(st, 4, (sqlite3_int64)info->seed);
    else /* beyond SQLite's integers: the exact decimal text (the column has no affinity) */
        sqlite3_bind_text(st, 4, seed, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 5, FEDSIM_VERSION, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 6, FEDSIM_GIT_REV, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 7, info->model_desc ? info->model_desc : "", -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 8, info->n_params);
    sqlite3_bind_int64(st, 9, info->n_clients);
    sqlite3_bind_text(st, 10, ts, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 11, info->run_key, -1, SQLITE_TRANSIENT); /* NULL binds NULL */
    sqlite3_bind_text(st, 12, info->sweep_id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 13, info->swept_json, -1, SQLITE_TRANSIENT);
    char host[256] = "", start[128];
    if (gethostname(host, sizeof host - 1) == 0 && host[0])
        sqlite3_bind_text(st, 14, host, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 15, (sqlite3_int64)getpid());
    proc_start_of("self", start, sizeof start);
    if (start[0]) sqlite3_bind_text(st, 16, start, -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        return met_rollback(s, sql_fail(s, "insert run"));
    }
    s->run_id = sqlite3_last_insert_rowid(s->db);
    if (info->sweep_id && info->run_key) {
        /* a rerun of a failed or interrupted sweep run replaces it (docs/sweeps.md) */
        st = NULL;
        rc = sqlite3_prepare_v2(s->db,
                                "UPDATE runs SET superseded_by=?1 WHERE sweep_id=?2 AND "
                                "run_key=?3 AND id<>?1 AND status IN ('failed','interrupted') "
                                "AND superseded_by IS NULL",
                                -1, &st, NULL);
        if (rc == SQLITE_OK) {
            sqlite3_bind_int64(st, 1, s->run_id);
            sqlite3_bind_text(st, 2, info->sweep_id, -1, SQLITE_TRANSIENT);
            sqlite3_bind_text(st, 3, info->run_key, -1, SQLITE_TRANSIENT);
            rc = sqlite3_step(st) == SQLITE_DONE ? SQLITE_OK : SQLITE_ERROR;
        }
        sqlite3_finalize(st);
        if (rc != SQLITE_OK) {
            return met_rollback(s, sql_fail(s, "mark superseded runs"));
        }
    }
    return exec(s, "COMMIT", "commit run");
}

static void bind_real(sqlite3_stmt *st, int i, double v)
{
    if (isnan(v))
        sqlite3_bind_null(st, i);
    else
        sqlite3_bind_double(st, i, v);
}

fs_err met_round(met_store *s, const met_round_row *r)
{
    sqlite3_stmt *st = s->ins_round;
    sqlite3_reset(st);
    int i = 1;
    sqlite3_bind_int64(st, i++, s->run_id);
    sqlite3_bind_int(st, i++, r->round);
    sqlite3_bind_double(st, i++, r->vtime_s);
    sqlite3_bind_double(st, i++, r->wall_s);
    sqlite3_bind_int64(st, i++, r->available);
    sqlite3_bind_int64(st, i++, r->selected);
    sqlite3_bind_int64(st, i++, r->completed);
    sqlite3_bind_int64(st, i++, r->dropped);
    sqlite3_bind_int64(st, i++, r->dropped_random);
    sqlite3_bind_int64(st, i++, r->dropped_offline);
    sqlite3_bind_int64(st, i++, r->dropped_failure);
    sqlite3_bind_int64(st, i++, r->late);
    sqlite3_bind_int(st, i++, r->abandoned);
    sqlite3_bind_double(st, i++, r->bytes_down);
    sqlite3_bind_double(st, i++, r->bytes_up);
    sqlite3_bind_double(st, i++, r->flops_used);
    sqlite3_bind_double(st, i++, r->flops_wasted);
    bind_real(st, i++, r->train_loss);
    bind_real(st, i++, r->test_loss);
    bind_real(st, i++, r->test_acc);
    sqlite3_bind_double(st, i++, r->wait_s);
    bind_real(st, i++, r->staleness_mean);
    bind_real(st, i++, r->staleness_max);
    sqlite3_bind_double(st, i++, r->state_bytes);
    sqlite3_bind_double(st, i++, r->state_disk_bytes);
    bind_real(st, i++, r->epsilon);
    bind_real(st, i++, r->dp_clip);
    bind_real(st, i++, r->dp_clipped);
    sqlite3_bind_double(st, i++, r->secagg_bytes);
    sqlite3_bind_double(st, i++, r->secagg_time_s);
    sqlite3_bind_text(st, i++, r->secagg_abort, -1, SQLITE_TRANSIENT); /* NULL binds NULL */
    bind_real(st, i++, r->global_train_loss);
    bind_real(st, i++, r->global_train_acc);
    bind_real(st, i++, r->backdoor_asr);
    sqlite3_bind_int64(st, i++, r->malicious_updates);
    bind_real(st, i++, r->malicious_kept);
    bind_real(st, i++, r->benign_kept);
    /* one transaction per round (met_begin/met_commit around the round's client events, or
     * autocommit): the round is in or it is not */
    if (sqlite3_step(st) != SQLITE_DONE) return sql_fail(s, "insert round");
    return FS_OK;
}

fs_err met_begin(met_store *s)
{
    return exec(s, "BEGIN IMMEDIATE", "begin round");
}

fs_err met_commit(met_store *s)
{
    return exec(s, "COMMIT", "commit round");
}

fs_err met_rollback(met_store *s, fs_err e)
{
    if (sqlite3_get_autocommit(s->db) || /* no transaction open: nothing to undo */
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL) == SQLITE_OK)
        return e;
    char why[512];
    snprintf(why, sizeof why, "%s", fs_errmsg());
    return fs_error(e, "%s (and the rollback failed: %s)", why, sqlite3_errmsg(s->db));
}

fs_err met_client_event_add(met_store *s, const met_client_event *ev)
{
    sqlite3_stmt *st = s->ins_event;
    sqlite3_reset(st);
    sqlite3_bind_int64(st, 1, s->run_id);
    sqlite3_bind_int64(st, 2, ev->client);
    sqlite3_bind_int(st, 3, ev->round);
    sqlite3_bind_text(st, 4, ev->phase, -1, SQLITE_STATIC);
    sqlite3_bind_double(st, 5, ev->t_start);
    sqlite3_bind_double(st, 6, ev->t_end);
    sqlite3_bind_text(st, 7, ev->outcome, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 8, ev->samples);
    sqlite3_bind_double(st, 9, ev->bytes);
    sqlite3_bind_int(st, 10, ev->malicious);
    bind_real(st, 11, ev->kept);
    if (sqlite3_step(st) != SQLITE_DONE) return sql_fail(s, "insert client event");
    return FS_OK;
}

fs_err met_client_eval_add(met_store *s, const met_client_eval *ev)
{
    sqlite3_stmt *st = s->ins_eval;
    sqlite3_reset(st);
    sqlite3_bind_int64(st, 1, s->run_id);
    sqlite3_bind_int(st, 2, ev->round);
    sqlite3_bind_int64(st, 3, ev->client);
    sqlite3_bind_int64(st, 4, ev->n);
    sqlite3_bind_double(st, 5, ev->loss);
    sqlite3_bind_double(st, 6, ev->acc);
    if (sqlite3_step(st) != SQLITE_DONE) return sql_fail(s, "insert client eval");
    return FS_OK;
}

fs_err met_confusion_add(met_store *s, int round, int k, const long *conf)
{
    sqlite3_stmt *st = s->ins_conf;
    for (int a = 0; a < k; a++)
        for (int b = 0; b < k; b++) {
            const long n = conf[(size_t)a * k + b];
            if (!n) continue;
            sqlite3_reset(st);
            sqlite3_bind_int64(st, 1, s->run_id);
            sqlite3_bind_int(st, 2, round);
            sqlite3_bind_int(st, 3, a);
            sqlite3_bind_int(st, 4, b);
            sqlite3_bind_int64(st, 5, n);
            if (sqlite3_step(st) != SQLITE_DONE) return sql_fail(s, "insert confusion");
        }
    return FS_OK;
}

fs_err met_run_end(met_store *s, const char *status, double wall_s, const char *error)
{
    char ts[32];
    now_iso(ts, sizeof ts);
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(s->db,
                           "UPDATE runs SET status=?, ended_at=?, wall_s=?, error=? WHERE id=?", -1,
                           &st, NULL) != SQLITE_OK)
        return sql_fail(s, "prepare run update");
    sqlite3_bind_text(st, 1, status, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, ts, -1, SQLITE_TRANSIENT);
    sqlite3_bind_double(st, 3, wall_s);
    if (error && error[0])
        sqlite3_bind_text(st, 4, error, -1, SQLITE_TRANSIENT);
    else
        sqlite3_bind_null(st, 4);
    sqlite3_bind_int64(st, 5, s->run_id);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? FS_OK : sql_fail(s, "update run");
}

void met_close(met_store *s)
{
    if (s->ins_round) sqlite3_finalize(s->ins_round);
    if (s->ins_event) sqlite3_finalize(s->ins_event);
    if (s->ins_eval) sqlite3_finalize(s->ins_eval);
    if (s->ins_conf) sqlite3_finalize(s->ins_conf);
    if (s->db && s->readonly) {
        sqlite3_close(s->db);
    } else if (s->db) {
        /* fold the WAL back so the .db file alone is complete */
        sqlite3_wal_checkpoint_v2(s->db, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);
        sqlite3_close(s->db);
    }
    s->db = NULL;
    s->ins_round = NULL;
    s->ins_event = NULL;
    s->ins_eval = NULL;
    s->ins_conf = NULL;
}
