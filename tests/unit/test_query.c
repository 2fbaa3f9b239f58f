/* The store's read side and the sweep's books (store/query.h): a sound database is told from a
 * missing, foreign or corrupt file; the selections of info and export (superseded rows hidden,
 * completed runs only) and their sweep filter; run lines with exact seeds and swept values;
 * export columns and typed values; a sweep's statuses, results, progress and settled rows; a
 * database without sweep columns reads as one of single runs; a rollback reports its own
 * failure without losing the first error. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "store/query.h"

static char dir[256];

static int setup(void **st)
{
    (void)st;
    snprintf(dir, sizeof dir, "/tmp/fedsim_query_XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **st)
{
    (void)st;
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd);
}

static void exec_sql(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
}

/* One run with `rounds` rounds (test_acc = round / 10 on even rounds) ending with status. */
static int64_t add_run(const char *path, const char *sweep, const char *key, const char *swept,
                       uint64_t seed, int rounds, const char *status)
{
    met_store s;
    assert_int_equal(met_open(&s, path), FS_OK);
    met_run_info info = {.name = "t",
                         .scenario_text = "name: t",
                         .params_json = "{\"rounds.count\": 4}",
                         .seed = seed,
                         .run_key = key,
                         .sweep_id = sweep,
                         .swept_json = swept};
    assert_int_equal(met_run_begin(&s, &info), FS_OK);
    for (int r = 1; r <= rounds; r++) {
        met_round_row row = {.round = r, .vtime_s = 1.5 * r, .train_loss = NAN};
        row.test_loss = row.test_acc = r % 2 ? NAN : r / 10.0;
        row.global_train_loss = row.global_train_acc = row.staleness_mean = row.staleness_max = NAN;
        row.epsilon = row.dp_clip = row.dp_clipped = row.backdoor_asr = row.malicious_kept =
            row.benign_kept = NAN;
        assert_int_equal(met_round(&s, &row), FS_OK);
    }
    if (strcmp(status, "running") != 0)
        assert_int_equal(met_run_end(&s, status, 2.0, strcmp(status, "failed") ? NULL : "boom"),
                         FS_OK);
    const int64_t id = s.run_id;
    met_close(&s);
    return id;
}

static void test_open_read_refuses(void **st)
{
    (void)st;
    char path[300];
    met_store s;
    snprintf(path, sizeof path, "%s/missing.db", dir);
    assert_int_equal(met_open_read(&s, path), FS_EINPUT);
    assert_non_null(strstr(fs_errmsg(), "No such file"));
    snprintf(path, sizeof path, "%s/text.db", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("not a database, but long enough to have a header of some sort.........\n", f);
    fclose(f);
    assert_int_equal(met_open_read(&s, path), FS_EDATA);
    assert_non_null(strstr(fs_errmsg(), "not a fedsim metrics database"));
    snprintf(path, sizeof path, "%s/other.db", dir);
    exec_sql(path, "CREATE TABLE t (x)");
    assert_int_equal(met_open_read(&s, path), FS_EDATA);
    assert_non_null(strstr(fs_errmsg(), "(no runs/rounds tables)"));
}

typedef struct counts_seen {
    int n;
    met_run_counts c[4];
    char sweep[4][32];
} counts_seen;

static fs_err on_counts(void *ctx, const met_run_counts *c)
{
    counts_seen *x = ctx;
    assert_true(x->n < 4);
    x->c[x->n] = *c;
    snprintf(x->sweep[x->n], sizeof x->sweep[0], "%s", c->sweep_id);
    x->n++;
    return FS_OK;
}

typedef struct lines_seen {
    int n;
    char text[8][160];
} lines_seen;

/* id status>superseded seed rounds/planned final best swept... */
static fs_err on_line(void *ctx, const met_run_line *r)
{
    lines_seen *x = ctx;
    assert_true(x->n < 8);
    snprintf(x->text[x->n++], sizeof x->text[0], "%lld %s>%lld %s %d/%d %.2f %.2f %s %s",
             (long long)r->id, r->status, (long long)r->superseded_by, r->seed, r->rounds,
             r->rounds_planned, r->final_acc, r->best_acc, r->swept[0] ? r->swept[0] : "-",
             r->error);
    return FS_OK;
}

static fs_err list(met_store *s, const met_select *sel, lines_seen *x)
{
    char **keys;
    int nk;
    memset(x, 0, sizeof *x);
    assert_int_equal(met_swept_keys(s, sel, &keys, &nk), FS_OK);
    fs_err e = met_list_runs(s, sel, keys, nk, on_line, x);
    met_free_keys(keys, nk);
    return e;
}

typedef struct export_seen {
    int cols, rows;
    char names[512];
    char first[512];
} export_seen;

static fs_err on_header(void *ctx, int n, const char *const *names)
{
    export_seen *x = ctx;
    x->cols = n;
    for (int i = 0; i < n && i < 12; i++)
        snprintf(x->names + strlen(x->names), sizeof x->names - strlen(x->names), "%s%s",
                 i ? "," : "", names[i]);
    return FS_OK;
}

static fs_err on_row(void *ctx, int n, const met_value *v)
{
    export_seen *x = ctx;
    if (x->rows++ == 0)
        for (int i = 0; i < n && i < 10; i++) {
            char cell[64] = "";
            if (v[i].type == MET_INT) snprintf(cell, sizeof cell, "i%lld", (long long)v[i].i);
            if (v[i].type == MET_REAL) snprintf(cell, sizeof cell, "r%g", v[i].r);
            if (v[i].type == MET_TEXT) snprintf(cell, sizeof cell, "t%s", v[i].s);
            if (v[i].type == MET_NULL) snprintf(cell, sizeof cell, "null");
            snprintf(x->first + strlen(x->first), sizeof x->first - strlen(x->first), "%s%s",
                     i ? "," : "", cell);
        }
    return FS_OK;
}

static fs_err stop_at_header(void *ctx, int n, const char *const *names)
{
    (void)ctx, (void)n, (void)names;
    return fs_error(FS_EIO, "stop here");
}

static void test_info_and_export(void **st)
{
    (void)st;
    char path[300];
    snprintf(path, sizeof path, "%s/sweep.db", dir);
    /* run key A failed, then ran again and completed (superseding it); key B completed; a single
     * run with the largest seed */
    add_run(path, "sw", "A", "{\"train.lr\": 0.1}", 1, 1, "failed");
    add_run(path, "sw", "A", "{\"train.lr\": 0.1}", 1, 4, "completed");
    add_run(path, "sw", "B", "{\"train.lr\": 0.05}", 2, 4, "completed");
    add_run(path, NULL, NULL, NULL, UINT64_MAX, 2, "completed");
    met_store s;
    assert_int_equal(met_open_read(&s, path), FS_OK);
    int version = 0;
    assert_int_equal(met_schema_version(&s, &version), FS_OK);
    assert_int_equal(version, MET_SCHEMA_VERSION);

    counts_seen c = {0};
    assert_int_equal(met_count_runs(&s, on_counts, &c), FS_OK);
    assert_int_equal(c.n, 2);
    assert_string_equal(c.sweep[0], "sw");
    assert_int_equal(c.c[0].runs, 3);
    assert_int_equal(c.c[0].completed, 2);
    assert_int_equal(c.c[0].failed, 1);
    assert_int_equal(c.c[0].superseded, 1);
    assert_string_equal(c.sweep[1], "");
    assert_int_equal(c.c[1].runs, 1);

    /* info: superseded rows hidden unless --all */
    lines_seen x;
    met_select info = {.hide_superseded = 1};
    assert_int_equal(list(&s, &info, &x), FS_OK);
    assert_int_equal(x.n, 3);
    assert_string_equal(x.text[0], "2 completed>0 1 4/4 0.40 0.40 0.1 ");
    assert_string_equal(x.text[1], "3 completed>0 2 4/4 0.40 0.40 0.05 ");
    assert_string_equal(x.text[2], "4 completed>0 18446744073709551615 2/4 0.20 0.20 - ");
    info.hide_superseded = 0;
    assert_int_equal(list(&s, &info, &x), FS_OK);
    assert_int_equal(x.n, 4);
    assert_string_equal(x.text[0], "1 failed>2 1 1/4 nan nan 0.1 boom");
    met_select one = {.sweep_id = "sw", .hide_superseded = 1};
    assert_int_equal(list(&s, &one, &x), FS_OK);
    assert_int_equal(x.n, 2);
    one.sweep_id = "nosuch";
    assert_int_equal(list(&s, &one, &x), FS_OK);
    assert_int_equal(x.n, 0);

    /* export: completed runs' rounds, run columns, swept key, then rounds columns */
    export_seen ex = {0};
    char **keys;
    int nk;
    met_select exp = {.completed_only = 1};
    assert_int_equal(met_swept_keys(&s, &exp, &keys, &nk), FS_OK);
    assert_int_equal(nk, 1);
    assert_int_equal(met_export_rounds(&s, &exp, keys, nk, on_header, on_row, &ex), FS_OK);
    assert_string_equal(ex.names,
                        "run_id,sweep_id,run_key,name,status,seed,train.lr,round,vtime_s,wall_s,"
                        "available,selected");
    assert_int_equal(ex.rows, 4 + 4 + 2);
    assert_string_equal(ex.first, "i2,tsw,tA,tt,tcompleted,i1,r0.1,i1,r1.5,r0");
    /* a callback's error stops the walk and comes back */
    assert_int_equal(met_export_rounds(&s, &exp, keys, nk, stop_at_header, on_row, &ex), FS_EIO);
    assert_string_equal(fs_errmsg(), "stop here");
    met_free_keys(keys, nk);
    memset(&ex, 0, sizeof ex);
    exp.completed_only = 0;
    assert_int_equal(met_export_rounds(&s, &exp, NULL, 0, on_header, on_row, &ex), FS_OK);
    assert_int_equal(ex.rows, 1 + 4 + 4 + 2);
    met_close(&s);
}

static void on_progress(void *ctx, const char *key, int round)
{
    char *out = ctx;
    snprintf(out + strlen(out), 64 - strlen(out), "%s:%d ", key, round);
}

static void test_sweep_books(void **st)
{
    (void)st;
    char path[300], status[32];
    snprintf(path, sizeof path, "%s/books.db", dir);
    add_run(path, "sw", "A", "{}", 1, 2, "completed");
    add_run(path, "sw", "A", "{}", 1, 1, "interrupted"); /* newer, but A is completed */
    const int64_t b = add_run(path, "sw", "B", "{}", 1, 3, "running");
    add_run(path, "other", "C", "{}", 1, 0, "running");
    met_store s;
    assert_int_equal(met_open(&s, path), FS_OK);
    assert_int_equal(met_sweep_status(&s, "sw", "A", status, sizeof status), FS_OK);
    assert_string_equal(status, "completed");
    assert_int_equal(met_sweep_status(&s, "sw", "B", status, sizeof status), FS_OK);
    assert_string_equal(status, "running");
    assert_int_equal(met_sweep_status(&s, "sw", "Z", status, sizeof status), FS_OK);
    assert_string_equal(status, "");
    assert_int_equal(met_sweep_count_keys(&s, "sw"), 2);
    assert_int_equal(met_last_run_id(&s), 4);

    char progress[64] = "";
    assert_int_equal(met_sweep_progress(&s, "sw", on_progress, progress), FS_OK);
    assert_string_equal(progress, "B:3 ");

    met_run_result r;
    assert_int_equal(met_sweep_find_run(&s, "sw", "A", 0, &r), FS_OK);
    assert_int_equal(r.id, 2);
    assert_string_equal(r.status, "interrupted");
    assert_int_equal(met_sweep_find_run(&s, "sw", "A", 2, &r), FS_OK);
    assert_int_equal(r.id, -1);
    assert_string_equal(r.status, "");
    assert_int_equal(met_run_result_of(&s, 1, &r), FS_OK);
    assert_int_equal(r.rounds, 2);
    assert_true(r.last_acc == 0.2);
    assert_int_equal(met_run_result_of(&s, b, &r), FS_OK);
    assert_true(r.last_acc == 0.2); /* round 2 of 3 */

    /* a dead worker's row, then the rest of the sweep's running rows */
    assert_int_equal(met_run_settle(&s, b, "failed", "worker killed by signal 9"), FS_OK);
    assert_int_equal(met_run_result_of(&s, b, &r), FS_OK);
    assert_string_equal(r.status, "failed");
    assert_string_equal(r.error, "worker killed by signal 9");
    int n = -1;
    assert_int_equal(met_sweep_settle_stale(&s, "sw", "gone", &n), FS_OK);
    assert_int_equal(n, 0);
    assert_int_equal(met_sweep_settle_stale(&s, "other", "gone", &n), FS_OK);
    assert_int_equal(n, 1);
    assert_int_equal(met_run_result_of(&s, 4, &r), FS_OK);
    assert_string_equal(r.status, "interrupted");
    assert_string_equal(r.error, "gone");
    met_close(&s);
}

/* A version-1 database from before sweeps: single runs, no owner, no sweep statuses. */
static void test_no_sweep_columns(void **st)
{
    (void)st;
    char path[300], status[32] = "x";
    snprintf(path, sizeof path, "%s/v1.db", dir);
    exec_sql(path,
             "CREATE TABLE runs (id INTEGER PRIMARY KEY, name TEXT, params TEXT, seed INTEGER, "
             "wall_s REAL, status TEXT, error TEXT);"
             "CREATE TABLE rounds (run_id INTEGER, round INTEGER, vtime_s REAL, test_acc REAL);"
             "INSERT INTO runs VALUES (1, 'old', '{}', -1, 3.0, 'running', NULL);"
             "INSERT INTO rounds VALUES (1, 1, 2.5, 0.5); PRAGMA user_version = 1;");
    met_store s;
    assert_int_equal(met_open_read(&s, path), FS_OK);
    assert_int_equal(s.sweep_cols, 0);
    assert_int_equal(s.owner_cols, 0);
    lines_seen x;
    met_select sel = {.sweep_id = "sw", .hide_superseded = 1};
    assert_int_equal(list(&s, &sel, &x), FS_OK);
    assert_int_equal(x.n, 1); /* no sweeps: the filter does not apply */
    /* a negative seed of schema 1 is a uint64 stored two's complement; no owner: still running */
    assert_string_equal(x.text[0], "1 running>0 18446744073709551615 1/-1 0.50 0.50 - ");
    assert_int_equal(met_sweep_status(&s, "sw", "A", status, sizeof status), FS_OK);
    assert_string_equal(status, "");
    assert_int_equal(met_sweep_count_keys(&s, "sw"), 0);
    export_seen ex = {0};
    assert_int_equal(met_export_rounds(&s, &sel, NULL, 0, on_header, on_row, &ex), FS_OK);
    assert_string_equal(ex.names,
                        "run_id,sweep_id,run_key,name,status,seed,round,vtime_s,test_acc");
    assert_string_equal(ex.first, "i1,null,null,told,trunning,i-1,i1,r2.5,r0.5");
    met_close(&s);
}

static void test_rollback(void **st)
{
    (void)st;
    char path[300];
    snprintf(path, sizeof path, "%s/rollback.db", dir);
    met_store s;
    assert_int_equal(met_open(&s, path), FS_OK);
    met_run_info info = {.name = "t", .seed = 1};
    assert_int_equal(met_run_begin(&s, &info), FS_OK);
    /* a round inside a transaction that is rolled back leaves no row, and the error stands */
    assert_int_equal(met_begin(&s), FS_OK);
    met_round_row row = {.round = 1, .test_acc = NAN, .test_loss = NAN, .train_loss = NAN};
    assert_int_equal(met_round(&s, &row), FS_OK);
    fs_error(FS_EIO, "the first error");
    assert_int_equal(met_rollback(&s, FS_EIO), FS_EIO);
    assert_string_equal(fs_errmsg(), "the first error");
    /* no transaction open: nothing to undo, nothing added to the message */
    assert_int_equal(met_rollback(&s, FS_ENOMEM), FS_ENOMEM);
    assert_string_equal(fs_errmsg(), "the first error");
    met_close(&s);
    assert_int_equal(met_open_read(&s, path), FS_OK);
    lines_seen x;
    met_select all = {0};
    assert_int_equal(list(&s, &all, &x), FS_OK);
    assert_int_equal(x.n, 1);
    assert_non_null(strstr(x.text[0], " 0/-1 ")); /* no round kept, no rounds.count recorded */
    met_close(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_open_read_refuses), cmocka_unit_test(test_info_and_export),
        cmocka_unit_test(test_sweep_books),       cmocka_unit_test(test_no_sweep_columns),
        cmocka_unit_test(test_rollback),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
