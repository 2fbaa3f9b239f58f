/* met_import_runs (see import.h): ATTACH the source, then per runs row an INSERT ... SELECT with
 * the column lists read from both schemas, in one transaction on the destination. */
#include "store/import.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_COLS 128
#define COL_LEN  64

/* Column names of schema.table (n at most MAX_COLS). */
static int columns(sqlite3 *db, const char *schema, const char *table, char cols[][COL_LEN])
{
    char sql[256];
    snprintf(sql, sizeof sql, "PRAGMA %s.table_info(\"%s\")", schema, table);
    sqlite3_stmt *st = NULL;
    int n = 0;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) return -1;
    while (sqlite3_step(st) == SQLITE_ROW && n < MAX_COLS)
        snprintf(cols[n++], COL_LEN, "%s", (const char *)sqlite3_column_text(st, 1));
    sqlite3_finalize(st);
    return n;
}

static int has(char cols[][COL_LEN], int n, const char *name)
{
    for (int i = 0; i < n; i++)
        if (strcmp(cols[i], name) == 0) return 1;
    return 0;
}

/* "a","b",... of the columns both tables have, without skip (NULL: none), into buf. */
static void common(char a[][COL_LEN], int na, char b[][COL_LEN], int nb, const char *skip,
                   char *buf, size_t cap)
{
    size_t len = 0;
    buf[0] = '\0';
    for (int i = 0; i < na; i++) {
        if ((skip && strcmp(a[i], skip) == 0) || !has(b, nb, a[i])) continue;
        len += (size_t)snprintf(buf + len, len < cap ? cap - len : 0, "%s\"%s\"", len ? "," : "",
                                a[i]);
    }
}

static fs_err fail(sqlite3 *db, const char *what)
{
    return fs_error(FS_EIO, "importing a run: %s: %s", what, sqlite3_errmsg(db));
}

static fs_err run_sql(sqlite3 *db, const char *sql, const char *what)
{
    return sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK ? FS_OK : fail(db, what);
}

/* Copy the runs row src.runs(id = old) and its rows; *id gets its new id. */
static fs_err copy_run(sqlite3 *db, int64_t old, int64_t *id)
{
    char mc[MAX_COLS][COL_LEN], wc[MAX_COLS][COL_LEN];
    char list[MAX_COLS * (COL_LEN + 3)], sql[sizeof list * 2 + 256];
    int nm = columns(db, "main", "runs", mc), nw = columns(db, "src", "runs", wc);
    if (nm <= 0 || nw <= 0) return fail(db, "read the runs columns");
    common(wc, nw, mc, nm, "id", list, sizeof list);
    snprintf(sql, sizeof sql, "INSERT INTO main.runs (%s) SELECT %s FROM src.runs WHERE id=%lld",
             list, list, (long long)old);
    fs_err e = run_sql(db, sql, "copy the run row");
    if (e) return e;
    *id = sqlite3_last_insert_rowid(db);
    /* a rerun replaces the failed or interrupted rows of its sweep and key (docs/sweeps.md) */
    snprintf(sql, sizeof sql,
             "UPDATE main.runs SET superseded_by=%lld WHERE id<>%lld AND superseded_by IS NULL "
             "AND status IN ('failed','interrupted') AND sweep_id IS NOT NULL AND "
             "(sweep_id, run_key) = (SELECT sweep_id, run_key FROM main.runs WHERE id=%lld)",
             (long long)*id, (long long)*id, (long long)*id);
    if ((e = run_sql(db, sql, "mark superseded runs"))) return e;
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, "SELECT name FROM src.sqlite_master WHERE type='table'", -1, &st,
                           NULL) != SQLITE_OK)
        return fail(db, "list the tables");
    while (!e && sqlite3_step(st) == SQLITE_ROW) {
        char t[COL_LEN];
        snprintf(t, sizeof t, "%s", (const char *)sqlite3_column_text(st, 0));
        if (strcmp(t, "runs") == 0) continue;
        nw = columns(db, "src", t, wc);
        nm = columns(db, "main", t, mc);
        if (nw <= 0 || !has(wc, nw, "run_id") || nm <= 0) continue;
        common(wc, nw, mc, nm, "run_id", list, sizeof list);
        snprintf(sql, sizeof sql,
                 "INSERT INTO main.\"%s\" (run_id%s%s) SELECT %lld%s%s FROM src.\"%s\" WHERE "
                 "run_id=%lld",
                 t, list[0] ? "," : "", list, (long long)*id, list[0] ? "," : "", list, t,
                 (long long)old);
        e = run_sql(db, sql, t);
    }
    sqlite3_finalize(st);
    return e;
}

fs_err met_import_runs(met_store *s, const char *src, int64_t *last_id)
{
    *last_id = -1;
    sqlite3 *db = s->db;
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, "ATTACH ?1 AS src", -1, &st, NULL) != SQLITE_OK)
        return fail(db, "attach");
    sqlite3_bind_text(st, 1, src, -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) return fail(db, src);
    fs_err e = run_sql(db, "BEGIN IMMEDIATE", "begin");
    int64_t ids[64];
    int n = 0;
    if (!e &&
        sqlite3_prepare_v2(db, "SELECT id FROM src.runs ORDER BY id", -1, &st, NULL) == SQLITE_OK) {
        while (sqlite3_step(st) == SQLITE_ROW && n < 64) ids[n++] = sqlite3_column_int64(st, 0);
        sqlite3_finalize(st);
    } else if (!e) {
        e = fail(db, "read the runs");
    }
    for (int i = 0; i < n && !e; i++) e = copy_run(db, ids[i], last_id);
    if (!e) e = run_sql(db, "COMMIT", "commit");
    if (e) e = met_rollback(s, e);
    sqlite3_exec(db, "DETACH src", NULL, NULL, NULL);
    return e;
}
