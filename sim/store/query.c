/* Reading the metrics record and the sweep's bookkeeping (see query.h). Statements are prepared
 * per call: info, export and the sweep's progress make a few queries a second at most. */
#include "store/query.h"

#include <errno.h>
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static fs_err fail(met_store *s, const char *what)
{
    return fs_error(FS_EIO, "%s: %s: %s", s->path, what, s->db ? sqlite3_errmsg(s->db) : "");
}

static int has_column(sqlite3 *db, const char *table, const char *col)
{
    sqlite3_stmt *st = NULL;
    int n = 0;
    if (sqlite3_prepare_v2(db, "SELECT count(*) FROM pragma_table_info(?1) WHERE name=?2", -1, &st,
                           NULL) != SQLITE_OK)
        return 0;
    sqlite3_bind_text(st, 1, table, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, col, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW) n = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    return n > 0;
}

/* The first line of `PRAGMA quick_check` ("ok" for a sound file) into out; the SQLite result
 * code of the check. */
static int quick_check(sqlite3 *db, char *out, size_t cap)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, "PRAGMA quick_check(1)", -1, &st, NULL);
    out[0] = '\0';
    if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        snprintf(out, cap, "%s", (const char *)sqlite3_column_text(st, 0));
        for (char *p = out; *p; p++)
            if (*p == '\n') *p = ' '; /* one line */
        rc = SQLITE_OK;
    }
    if (rc != SQLITE_OK) snprintf(out, cap, "%s", sqlite3_errmsg(db));
    sqlite3_finalize(st);
    return rc;
}

/* Close s and return code with "<path>: what[: detail]". */
static fs_err open_fail(met_store *s, fs_err code, const char *what, const char *detail)
{
    fs_err e = detail ? fs_error(code, "%s: %s: %s", s->path, what, detail)
                      : fs_error(code, "%s: %s", s->path, what);
    met_close(s);
    return e;
}

static const char *errmsg(const met_store *s)
{
    return s->db ? sqlite3_errmsg(s->db) : "";
}

fs_err met_open_read(met_store *s, const char *path)
{
    memset(s, 0, sizeof *s);
    s->readonly = 1;
    snprintf(s->path, sizeof s->path, "%s", path);
    struct stat sb;
    if (stat(path, &sb) != 0) return fs_error(FS_EINPUT, "%s: %s", path, strerror(errno));
    if (sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
        return open_fail(s, FS_EINPUT, "cannot open", errmsg(s));
    sqlite3_busy_timeout(s->db, 10000);
    char check[512];
    int rc = quick_check(s->db, check, sizeof check);
    if (rc == SQLITE_CANTOPEN || rc == SQLITE_READONLY) {
        /* a WAL database where the -shm file cannot be created (a read-only file system or
         * directory): nobody can be writing it, so read it as immutable (fedsim folds the WAL
         * back into the file when a run closes) */
        sqlite3_close(s->db);
        s->db = NULL;
        char *uri = sqlite3_mprintf("file:%s?immutable=1", path);
        const int ok =
            uri && strpbrk(path, "?#%") == NULL && /* characters a URI would escape */
            sqlite3_open_v2(uri, &s->db, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, NULL) == SQLITE_OK;
        sqlite3_free(uri);
        if (!ok)
            return open_fail(s, FS_EINPUT, "cannot read it (read-only file system?)", errmsg(s));
        rc = quick_check(s->db, check, sizeof check);
    }
    if (rc == SQLITE_NOTADB) return open_fail(s, FS_EDATA, "not a fedsim metrics database", check);
    if (rc == SQLITE_CORRUPT || (rc == SQLITE_OK && strcmp(check, "ok")))
        return open_fail(s, FS_EDATA, "corrupt database", check);
    if (rc != SQLITE_OK) return open_fail(s, FS_EINPUT, "cannot read it", check);
    if (!has_column(s->db, "runs", "status") || !has_column(s->db, "rounds", "test_acc"))
        return open_fail(s, FS_EDATA, "not a fedsim metrics database (no runs/rounds tables)",
                         NULL);
    s->sweep_cols = has_column(s->db, "runs", "sweep_id") && has_column(s->db, "runs", "swept");
    s->owner_cols = has_column(s->db, "runs", "proc_start");
    met_register_owner_fn(s->db);
    return FS_OK;
}

fs_err met_schema_version(met_store *s, int *version)
{
    sqlite3_stmt *st = NULL;
    int ok = sqlite3_prepare_v2(s->db, "PRAGMA user_version", -1, &st, NULL) == SQLITE_OK &&
             sqlite3_step(st) == SQLITE_ROW;
    if (ok) *version = sqlite3_column_int(st, 0);
    fs_err e = ok ? FS_OK : fail(s, "read the schema version");
    sqlite3_finalize(st);
    return e;
}

/* The WHERE clause of sel over `runs r` (binds ?1 = the sweep id when it has one). */
static char *run_filter(const met_store *s, const met_select *sel)
{
    const int by_sweep = sel->sweep_id && s->sweep_cols;
    return sqlite3_mprintf(
        "1%s%s%s", sel->hide_superseded && s->sweep_cols ? " AND r.superseded_by IS NULL" : "",
        sel->completed_only ? " AND r.status = 'completed'" : "",
        by_sweep ? " AND r.sweep_id = ?1" : "");
}

static void bind_sweep(const met_store *s, const met_select *sel, sqlite3_stmt *st)
{
    if (sel->sweep_id && s->sweep_cols) sqlite3_bind_text(st, 1, sel->sweep_id, -1, SQLITE_STATIC);
}

/* Prepare sql (freed here; NULL: out of memory). */
static fs_err prepare(met_store *s, char *sql, sqlite3_stmt **st, const char *what)
{
    *st = NULL;
    if (!sql) return fs_error(FS_ENOMEM, "%s: %s: out of memory", s->path, what);
    const int rc = sqlite3_prepare_v2(s->db, sql, -1, st, NULL);
    sqlite3_free(sql);
    return rc == SQLITE_OK ? FS_OK : fail(s, what);
}

void met_free_keys(char **keys, int n)
{
    for (int i = 0; i < n; i++) free(keys[i]);
    free(keys);
}

fs_err met_swept_keys(met_store *s, const met_select *sel, char ***keys, int *n)
{
    *keys = NULL;
    *n = 0;
    if (!s->sweep_cols) return FS_OK;
    char *filter = run_filter(s, sel);
    sqlite3_stmt *st;
    fs_err e = prepare(s,
                       filter ? sqlite3_mprintf("SELECT j.key FROM runs r, json_each(r.swept) j "
                                                "WHERE %s GROUP BY j.key ORDER BY min(r.id), "
                                                "min(j.id)",
                                                filter)
                              : NULL,
                       &st, "read the swept keys");
    sqlite3_free(filter);
    if (e) return e;
    bind_sweep(s, sel, st);
    int cap = 0, rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (*n == cap) {
            cap = cap ? 2 * cap : 8;
            char **k = realloc(*keys, (size_t)cap * sizeof *k);
            if (!k) break;
            *keys = k;
        }
        char *key = strdup((const char *)sqlite3_column_text(st, 0));
        if (!key) break;
        (*keys)[(*n)++] = key;
    }
    sqlite3_finalize(st);
    if (rc == SQLITE_ROW)
        e = fs_error(FS_ENOMEM, "%s: read the swept keys: out of memory", s->path);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) e = fail(s, "read the swept keys");
    if (e) {
        met_free_keys(*keys, *n);
        *keys = NULL;
        *n = 0;
    }
    return e;
}

/* A run's status as shown: a `running` row whose process is provably gone (kill -9, full disk,
 * crash) is abandoned (met_owner_alive); rows without an owner (schema 1) stay running. */
static const char *status_expr(const met_store *s)
{
    return s->owner_cols ? "(CASE WHEN status = 'running' AND fedsim_owner_gone(host, pid, "
                           "proc_start) THEN 'abandoned' ELSE status END)"
                         : "status";
}

static const char *text(sqlite3_stmt *st, int i)
{
    return (const char *)sqlite3_column_text(st, i);
}

static double real_or_nan(sqlite3_stmt *st, int i)
{
    return sqlite3_column_type(st, i) == SQLITE_NULL ? NAN : sqlite3_column_double(st, i);
}

fs_err met_count_runs(met_store *s, fs_err (*fn)(void *ctx, const met_run_counts *c), void *ctx)
{
    const char *stx = status_expr(s);
    sqlite3_stmt *st;
    fs_err e = prepare(
        s,
        sqlite3_mprintf("SELECT %s, count(*), sum(status='completed'), sum(%s='running'), "
                        "sum(status='failed'), sum(status='interrupted'), %s, sum(%s='abandoned') "
                        "FROM runs GROUP BY 1 ORDER BY min(id)",
                        s->sweep_cols ? "coalesce(sweep_id, '')" : "''", stx,
                        s->sweep_cols ? "sum(superseded_by IS NOT NULL)" : "0", stx),
        &st, "count the runs");
    if (e) return e;
    int rc;
    while (!e && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        const met_run_counts c = {.sweep_id = text(st, 0),
                                  .runs = sqlite3_column_int(st, 1),
                                  .completed = sqlite3_column_int(st, 2),
                                  .running = sqlite3_column_int(st, 3),
                                  .failed = sqlite3_column_int(st, 4),
                                  .interrupted = sqlite3_column_int(st, 5),
                                  .superseded = sqlite3_column_int(st, 6),
                                  .abandoned = sqlite3_column_int(st, 7)};
        e = fn(ctx, &c);
    }
    if (!e && rc != SQLITE_DONE) e = fail(s, "count the runs");
    sqlite3_finalize(st);
    return e;
}

/* ", json_extract(r.swept, '$."key"')[ AS "key"]" for each key. */
static char *swept_columns(char *const *keys, int n, int named)
{
    char *cols = sqlite3_mprintf("%s", "");
    for (int i = 0; i < n && cols; i++) {
        char *c = named ? sqlite3_mprintf("%s, json_extract(r.swept, '$.\"%q\"') AS \"%w\"", cols,
                                          keys[i], keys[i])
                        : sqlite3_mprintf("%s, json_extract(r.swept, '$.\"%q\"')", cols, keys[i]);
        sqlite3_free(cols);
        cols = c;
    }
    return cols;
}

fs_err met_any_target(met_store *s, int *yes)
{
    sqlite3_stmt *st;
    *yes = 0;
    fs_err e = prepare(s,
                       sqlite3_mprintf("SELECT 1 FROM runs WHERE json_extract(params, "
                                       "'$.\"eval.target_accuracy\"') > 0 LIMIT 1"),
                       &st, "look for a time-to-accuracy target");
    if (e) return e;
    int rc = sqlite3_step(st);
    *yes = rc == SQLITE_ROW;
    sqlite3_finalize(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? FS_OK
                                                 : fail(s, "look for a time-to-accuracy target");
}

fs_err met_list_runs(met_store *s, const met_select *sel, char *const *keys, int n_keys,
                     fs_err (*fn)(void *ctx, const met_run_line *r), void *ctx)
{
    const char **swept = calloc((size_t)n_keys + 1, sizeof *swept);
    char *cols = swept_columns(keys, n_keys, 0), *filter = run_filter(s, sel);
    /* time-to-accuracy: the first evaluated round at or above the target */
    char tgt[96];
    if (sel->target > 0)
        snprintf(tgt, sizeof tgt, "%.17g", sel->target);
    else
        snprintf(tgt, sizeof tgt,
                 "coalesce(json_extract(r.params, '$.\"eval.target_accuracy\"'), 0)");
    char *tr = sqlite3_mprintf("(SELECT min(round) FROM rounds x WHERE x.run_id = r.id AND %s > 0 "
                               "AND x.test_acc >= %s)",
                               tgt, tgt);
    char *tta =
        !sel->tta ? sqlite3_mprintf("%s", ", 0, 0, NULL, NULL")
        : tr
            ? sqlite3_mprintf(", %s, %s, (SELECT vtime_s FROM rounds x WHERE x.run_id = r.id AND "
                              "x.round = %s), (SELECT sum(bytes_up) FROM rounds x WHERE x.run_id = "
                              "r.id AND x.round <= %s)",
                              tgt, tr, tr, tr)
            : NULL;
    sqlite3_free(tr);
    char *sql = NULL;
    if (swept && cols && filter && tta)
        sql = sqlite3_mprintf(
            "SELECT r.id, %s, %s, r.seed, r.name, "
            "(SELECT count(*) FROM rounds x WHERE x.run_id = r.id), "
            "json_extract(r.params, '$.\"rounds.count\"'), "
            "(SELECT test_acc FROM rounds x WHERE x.run_id = r.id AND test_acc IS NOT NULL "
            " ORDER BY round DESC LIMIT 1), "
            "(SELECT max(test_acc) FROM rounds x WHERE x.run_id = r.id), "
            "(SELECT vtime_s FROM rounds x WHERE x.run_id = r.id ORDER BY round DESC LIMIT 1), "
            "r.wall_s, coalesce(r.error, ''), %s, %s %s %s FROM runs r WHERE %s ORDER BY r.id",
            s->sweep_cols ? "coalesce(r.sweep_id, '')" : "''", status_expr(s),
            s->sweep_cols ? "r.superseded_by" : "NULL", s->owner_cols ? "host, pid" : "NULL, NULL",
            cols, tta, filter);
    sqlite3_free(cols);
    sqlite3_free(tta);
    sqlite3_free(filter);
    sqlite3_stmt *st;
    fs_err e = prepare(s, sql, &st, "list the runs");
    if (e) {
        free(swept);
        return e;
    }
    bind_sweep(s, sel, st);
    int rc;
    while (!e && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        char seed[24];
        const char *seed_text = text(st, 3);
        if (sqlite3_column_type(st, 3) == SQLITE_INTEGER) { /* uint64 seeds (schema 1: < 0) */
            snprintf(seed, sizeof seed, "%llu", (unsigned long long)sqlite3_column_int64(st, 3));
            seed_text = seed;
        }
        for (int j = 0; j < n_keys; j++) swept[j] = text(st, 15 + j);
        const int b = 15 + n_keys; /* target, round, its virtual time, bytes up to it */
        const met_run_line r = {
            .id = sqlite3_column_int64(st, 0),
            .sweep_id = text(st, 1),
            .status = text(st, 2),
            .seed = seed_text,
            .rounds = sqlite3_column_int(st, 5),
            .rounds_planned =
                sqlite3_column_type(st, 6) == SQLITE_NULL ? -1 : sqlite3_column_int(st, 6),
            .final_acc = real_or_nan(st, 7),
            .best_acc = real_or_nan(st, 8),
            .vtime_s = real_or_nan(st, 9),
            .wall_s = real_or_nan(st, 10),
            .error = text(st, 11),
            .superseded_by =
                sqlite3_column_type(st, 12) == SQLITE_NULL ? 0 : sqlite3_column_int64(st, 12),
            .host = text(st, 13),
            .pid = sqlite3_column_int64(st, 14),
            .swept = swept,
            .tta_target = sqlite3_column_double(st, b),
            .tta_round = sqlite3_column_int(st, b + 1),
            .tta_vtime_s = real_or_nan(st, b + 2),
            .tta_bytes_up = real_or_nan(st, b + 3)};
        e = fn(ctx, &r);
    }
    if (!e && rc != SQLITE_DONE) e = fail(s, "list the runs");
    sqlite3_finalize(st);
    free(swept);
    return e;
}

fs_err met_export_rounds(met_store *s, const met_select *sel, char *const *keys, int n_keys,
                         fs_err (*header)(void *ctx, int n, const char *const *names),
                         fs_err (*row)(void *ctx, int n, const met_value *v), void *ctx)
{
    /* rounds columns but run_id, in table order */
    char *rcols = sqlite3_mprintf("%s", "");
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(s->db, "SELECT name FROM pragma_table_info('rounds') ORDER BY cid", -1,
                           &st, NULL) == SQLITE_OK)
        while (rcols && sqlite3_step(st) == SQLITE_ROW) {
            const char *n = text(st, 0);
            if (strcmp(n, "run_id") == 0) continue;
            char *x = sqlite3_mprintf("%s, x.\"%w\"", rcols, n);
            sqlite3_free(rcols);
            rcols = x;
        }
    sqlite3_finalize(st);
    char *kcols = swept_columns(keys, n_keys, 1), *filter = run_filter(s, sel), *sql = NULL;
    if (rcols && kcols && filter)
        sql = sqlite3_mprintf("SELECT r.id AS run_id, %s, r.name, r.status, r.seed%s%s FROM runs r "
                              "JOIN rounds x ON x.run_id = r.id WHERE %s ORDER BY r.id, x.round",
                              s->sweep_cols ? "r.sweep_id, r.run_key"
                                            : "NULL AS sweep_id, NULL AS run_key",
                              kcols, rcols, filter);
    sqlite3_free(rcols);
    sqlite3_free(kcols);
    sqlite3_free(filter);
    fs_err e = prepare(s, sql, &st, "select the rounds");
    if (e) return e;
    bind_sweep(s, sel, st);
    const int nc = sqlite3_column_count(st);
    const char **names = calloc((size_t)nc + 1, sizeof *names);
    met_value *v = calloc((size_t)nc + 1, sizeof *v);
    if (!names || !v) e = fs_error(FS_ENOMEM, "%s: select the rounds: out of memory", s->path);
    for (int i = 0; !e && i < nc; i++) names[i] = sqlite3_column_name(st, i);
    if (!e) e = header(ctx, nc, names);
    int rc = SQLITE_DONE;
    while (!e && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        for (int i = 0; i < nc; i++) {
            switch (sqlite3_column_type(st, i)) {
            case SQLITE_NULL:
                v[i] = (met_value){.type = MET_NULL};
                break;
            case SQLITE_INTEGER:
                v[i] = (met_value){.type = MET_INT, .i = sqlite3_column_int64(st, i)};
                break;
            case SQLITE_FLOAT:
                v[i] = (met_value){.type = MET_REAL, .r = sqlite3_column_double(st, i)};
                break;
            default:
                v[i] = (met_value){.type = MET_TEXT, .s = text(st, i)};
                break;
            }
        }
        e = row(ctx, nc, v);
    }
    if (!e && rc != SQLITE_DONE) e = fs_error(FS_EIO, "%s: %s", s->path, sqlite3_errmsg(s->db));
    sqlite3_finalize(st);
    free(names);
    free(v);
    return e;
}

/* ---- sweeps ---- */

fs_err met_sweep_status(met_store *s, const char *sweep_id, const char *run_key, char *out,
                        size_t cap)
{
    out[0] = '\0';
    if (!s->sweep_cols) return FS_OK;
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(s->db,
                           "SELECT status FROM runs WHERE sweep_id=?1 AND run_key=?2 ORDER BY "
                           "status='completed' DESC, id DESC LIMIT 1",
                           -1, &st, NULL) != SQLITE_OK)
        return fail(s, "read a run's status");
    sqlite3_bind_text(st, 1, sweep_id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, run_key, -1, SQLITE_TRANSIENT);
    const int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) snprintf(out, cap, "%s", text(st, 0));
    fs_err e = rc == SQLITE_ROW || rc == SQLITE_DONE ? FS_OK : fail(s, "read a run's status");
    sqlite3_finalize(st);
    return e;
}

/* The integer of a one-value query with up to one text parameter (-1: failed). */
static int64_t query_i64(met_store *s, const char *sql, const char *p1)
{
    sqlite3_stmt *st = NULL;
    int64_t v = -1;
    if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK) return -1;
    if (p1) sqlite3_bind_text(st, 1, p1, -1, SQLITE_TRANSIENT);
    if (sqlite3_step(st) == SQLITE_ROW) v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

int64_t met_sweep_count_keys(met_store *s, const char *sweep_id)
{
    if (!s->sweep_cols) return 0;
    return query_i64(s, "SELECT count(DISTINCT run_key) FROM runs WHERE sweep_id=?", sweep_id);
}

int64_t met_last_run_id(met_store *s)
{
    return query_i64(s, "SELECT coalesce(max(id), 0) FROM runs", NULL);
}

fs_err met_sweep_progress(met_store *s, const char *sweep_id,
                          void (*fn)(void *ctx, const char *run_key, int round), void *ctx)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(s->db,
                           "SELECT run_key, (SELECT max(round) FROM rounds WHERE run_id=runs.id) "
                           "FROM runs WHERE sweep_id=? AND status='running'",
                           -1, &st, NULL) != SQLITE_OK)
        return fail(s, "read the sweep's progress");
    sqlite3_bind_text(st, 1, sweep_id, -1, SQLITE_TRANSIENT);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        if (text(st, 0)) fn(ctx, text(st, 0), sqlite3_column_int(st, 1));
    fs_err e = rc == SQLITE_DONE ? FS_OK : fail(s, "read the sweep's progress");
    sqlite3_finalize(st);
    return e;
}

/* The result columns of a runs row: id, status, error, rounds, last accuracy. */
#define RESULT_COLUMNS                                                                             \
    "SELECT id, status, coalesce(error, ''), (SELECT count(*) FROM rounds WHERE "                  \
    "run_id=runs.id), (SELECT test_acc FROM rounds WHERE run_id=runs.id AND test_acc IS NOT "      \
    "NULL ORDER BY round DESC LIMIT 1) FROM runs "

static fs_err read_result(met_store *s, sqlite3_stmt *st, met_run_result *out)
{
    const int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        out->id = sqlite3_column_int64(st, 0);
        snprintf(out->status, sizeof out->status, "%s", text(st, 1));
        snprintf(out->error, sizeof out->error, "%s", text(st, 2));
        out->rounds = sqlite3_column_int(st, 3);
        out->last_acc = real_or_nan(st, 4);
    }
    fs_err e = rc == SQLITE_ROW || rc == SQLITE_DONE ? FS_OK : fail(s, "read a run's result");
    sqlite3_finalize(st);
    return e;
}

static void no_result(met_run_result *out)
{
    out->id = -1;
    out->status[0] = out->error[0] = '\0';
    out->rounds = 0;
    out->last_acc = NAN;
}

fs_err met_sweep_find_run(met_store *s, const char *sweep_id, const char *run_key, int64_t after_id,
                          met_run_result *out)
{
    no_result(out);
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(s->db,
                           RESULT_COLUMNS "WHERE sweep_id=? AND run_key=? AND id>? ORDER BY id "
                                          "DESC LIMIT 1",
                           -1, &st, NULL) != SQLITE_OK)
        return fail(s, "read a run's result");
    sqlite3_bind_text(st, 1, sweep_id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, run_key, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 3, after_id);
    return read_result(s, st, out);
}

fs_err met_run_result_of(met_store *s, int64_t id, met_run_result *out)
{
    no_result(out);
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(s->db, RESULT_COLUMNS "WHERE id=?", -1, &st, NULL) != SQLITE_OK)
        return fail(s, "read a run's result");
    sqlite3_bind_int64(st, 1, id);
    return read_result(s, st, out);
}

fs_err met_run_settle(met_store *s, int64_t id, const char *status, const char *error)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(s->db,
                           "UPDATE runs SET status=?1, error=?2, "
                           "ended_at=strftime('%Y-%m-%dT%H:%M:%SZ','now') WHERE id=?3",
                           -1, &st, NULL) != SQLITE_OK)
        return fail(s, "settle a run");
    sqlite3_bind_text(st, 1, status, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, error, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 3, id);
    const int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? FS_OK : fail(s, "settle a run");
}

fs_err met_sweep_settle_stale(met_store *s, const char *sweep_id, const char *why, int *n)
{
    *n = 0;
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(s->db,
                           "UPDATE runs SET status='interrupted', error=?2 WHERE sweep_id=?1 AND "
                           "status='running'",
                           -1, &st, NULL) != SQLITE_OK)
        return fail(s, "settle the sweep's stale runs");
    sqlite3_bind_text(st, 1, sweep_id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, why, -1, SQLITE_TRANSIENT);
    const int rc = sqlite3_step(st);
    if (rc == SQLITE_DONE) *n = sqlite3_changes(s->db);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? FS_OK : fail(s, "settle the sweep's stale runs");
}
