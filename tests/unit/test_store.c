/* The metrics store: every uint64 seed reads back exactly (2^63 and above too); a database of
 * schema version 1 is migrated to version 2 with its runs, rounds and seeds intact; a run row
 * names its process, and met_owner_alive tells a live owner from a gone one. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "store/store.h"

static char dir[256];

static int setup(void **st)
{
    (void)st;
    snprintf(dir, sizeof dir, "/tmp/fedsim_store_XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **st)
{
    (void)st;
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd);
}

/* The text of one value (SQL on the database at path). */
static void query(const char *path, const char *sql, char *out, size_t cap)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    out[0] = '\0';
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
        snprintf(out, cap, "%s", (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    sqlite3_close(db);
}

static void begin_run(const char *path, uint64_t seed)
{
    met_store s;
    assert_int_equal(met_open(&s, path), FS_OK);
    met_run_info info = {
        .name = "t", .scenario_text = "name: t", .params_json = "{}", .seed = seed};
    assert_int_equal(met_run_begin(&s, &info), FS_OK);
    assert_int_equal(met_run_end(&s, "completed", 1.0, NULL), FS_OK);
    met_close(&s);
}

static void test_seed_lossless(void **st)
{
    (void)st;
    char path[300], got[64];
    snprintf(path, sizeof path, "%s/seed.db", dir);
    const uint64_t seeds[] = {0, 1, INT64_MAX, (uint64_t)INT64_MAX + 1, UINT64_MAX};
    const char *want[] = {"0", "1", "9223372036854775807", "9223372036854775808",
                          "18446744073709551615"};
    for (int i = 0; i < 5; i++) begin_run(path, seeds[i]);
    for (int i = 0; i < 5; i++) {
        char sql[100];
        snprintf(sql, sizeof sql, "SELECT seed FROM runs WHERE id = %d", i + 1);
        query(path, sql, got, sizeof got);
        assert_string_equal(got, want[i]);
    }
    /* small seeds stay integers: numeric queries keep working */
    query(path, "SELECT count(*) FROM runs WHERE seed = 1", got, sizeof got);
    assert_string_equal(got, "1");
    query(path, "PRAGMA user_version", got, sizeof got);
    assert_string_equal(got, "2");
}

static void test_migrate_v1(void **st)
{
    (void)st;
    char path[300], got[256];
    snprintf(path, sizeof path, "%s/v1.db", dir);
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    /* the version-1 runs table as first released, a run with seed 2^64 - 1 stored negative, and
     * a round */
    assert_int_equal(
        sqlite3_exec(
            db,
            "CREATE TABLE runs (id INTEGER PRIMARY KEY, name TEXT NOT NULL, scenario TEXT "
            "NOT NULL, params TEXT NOT NULL, seed INTEGER NOT NULL, version TEXT NOT "
            "NULL, git_rev TEXT NOT NULL, model TEXT, n_params INTEGER, n_clients "
            "INTEGER, started_at TEXT NOT NULL, ended_at TEXT, wall_s REAL, status TEXT "
            "NOT NULL, error TEXT);"
            "CREATE TABLE rounds (run_id INTEGER NOT NULL REFERENCES runs(id), round "
            "INTEGER NOT NULL, vtime_s REAL NOT NULL, wall_s REAL NOT NULL, available "
            "INTEGER NOT NULL, selected INTEGER NOT NULL, completed INTEGER NOT NULL, "
            "dropped INTEGER NOT NULL, dropped_random INTEGER NOT NULL, dropped_offline "
            "INTEGER NOT NULL, dropped_failure INTEGER NOT NULL, late INTEGER NOT NULL, "
            "abandoned INTEGER NOT NULL, bytes_down REAL NOT NULL, bytes_up REAL NOT "
            "NULL, flops_used REAL NOT NULL, flops_wasted REAL NOT NULL, train_loss REAL, "
            "test_loss REAL, test_acc REAL, wait_s REAL NOT NULL, staleness_mean REAL, "
            "staleness_max REAL, state_bytes REAL NOT NULL DEFAULT 0, state_disk_bytes "
            "REAL NOT NULL DEFAULT 0, PRIMARY KEY (run_id, round));"
            "INSERT INTO runs VALUES (1, 'old', 's', '{}', -1, '0.1.0', 'x', NULL, NULL, "
            "NULL, '2024-01-01T00:00:00Z', NULL, NULL, 'completed', NULL);"
            "INSERT INTO runs VALUES (2, 'old2', 's', '{}', 7, '0.1.0', 'x', NULL, NULL, "
            "NULL, '2024-01-01T00:00:00Z', NULL, NULL, 'running', NULL);"
            "INSERT INTO rounds (run_id, round, vtime_s, wall_s, available, selected, "
            "completed, dropped, dropped_random, dropped_offline, dropped_failure, late, "
            "abandoned, bytes_down, bytes_up, flops_used, flops_wasted, wait_s) VALUES "
            "(1, 1, 2.5, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0); PRAGMA user_version = 1;",
            NULL, NULL, NULL),
        SQLITE_OK);
    sqlite3_close(db);
    met_store s;
    fs_err e = met_open(&s, path);
    if (e) print_error("%s\n", fs_errmsg());
    assert_int_equal(e, FS_OK);
    met_close(&s);
    query(path, "PRAGMA user_version", got, sizeof got);
    assert_string_equal(got, "2");
    query(path, "SELECT group_concat(id || ':' || seed || ':' || status, ',') FROM runs", got,
          sizeof got);
    assert_string_equal(got, "1:18446744073709551615:completed,2:7:running");
    query(path, "SELECT vtime_s FROM rounds WHERE run_id = 1", got, sizeof got);
    assert_string_equal(got, "2.5");
    query(path,
          "SELECT count(*) FROM pragma_table_info('runs') WHERE name IN ('host', 'pid', "
          "'proc_start', 'sweep_id')",
          got, sizeof got);
    assert_string_equal(got, "4");
    /* an old row has no owner: cannot tell */
    assert_int_equal(met_owner_alive(NULL, 0, NULL), -1);
    /* opening again changes nothing; a version from the future is refused */
    begin_run(path, 3);
    query(path, "SELECT count(*) FROM runs", got, sizeof got);
    assert_string_equal(got, "3");
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "PRAGMA user_version = 99", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    assert_int_equal(met_open(&s, path), FS_EINPUT);
    assert_non_null(strstr(fs_errmsg(), "schema version 99"));
}

static void test_owner(void **st)
{
    (void)st;
    char path[300], host[256], pid[32], start[128], sql[200];
    snprintf(path, sizeof path, "%s/owner.db", dir);
    begin_run(path, 5);
    query(path, "SELECT host FROM runs", host, sizeof host);
    query(path, "SELECT pid FROM runs", pid, sizeof pid);
    query(path, "SELECT proc_start FROM runs", start, sizeof start);
    assert_int_equal(atoll(pid), (long long)getpid());
    assert_true(host[0] != '\0');
    assert_int_equal(met_owner_alive(host, getpid(), start), 1);
    assert_int_equal(met_owner_alive("another-host.example", getpid(), start), -1);
    /* a child that has exited and been reaped: gone */
    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0) _exit(0);
    assert_int_equal(waitpid(child, NULL, 0), child);
    assert_int_equal(met_owner_alive(host, child, NULL), 0);
    /* our pid, but another start time (a reused pid), or another boot: gone */
    snprintf(sql, sizeof sql, "%.*s 1", (int)strcspn(start, " "), start);
    if (start[0]) assert_int_equal(met_owner_alive(host, getpid(), sql), 0);
    assert_int_equal(met_owner_alive(host, getpid(), "00000000-0000-0000-0000-000000000000 1"),
                     start[0] ? 0 : 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_seed_lossless),
        cmocka_unit_test(test_migrate_v1),
        cmocka_unit_test(test_owner),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
