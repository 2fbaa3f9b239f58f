/* fedsim info and fedsim export: read a metrics database (read-only; also while a sweep is
 * writing it) and list its runs, or write its rounds with the run parameters joined.
 * Guarantees: superseded rows (failed or interrupted runs that a resumed sweep ran again) are
 * hidden unless --all, and export writes completed runs only unless --all, so no run is counted
 * twice; numbers are written so that they read back exactly (shortest round-trip text). */
#include <errno.h>
#include <math.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "store/store.h"

typedef struct db_args {
    const char *db;
    const char *sweep; /* --sweep ID */
    const char *out;   /* export: --out FILE */
    const char *format;
    int all;
    double target; /* info --target ACC: time-to-accuracy columns; < 0: eval.target_accuracy */
} db_args;

static int parse_db_args(int argc, char **argv, db_args *a, int export)
{
    memset(a, 0, sizeof *a);
    a->format = "csv";
    a->target = -1;
    for (int i = 0; i < argc; i++) {
        const char *s = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(s, "--all") == 0) {
            a->all = 1;
        } else if (strcmp(s, "--sweep") == 0) {
            if (!v) return cli_usage_error("--sweep needs a sweep id");
            a->sweep = v;
            i++;
        } else if (export && (strcmp(s, "--out") == 0 || strcmp(s, "-o") == 0)) {
            if (!v) return cli_usage_error("--out needs a file");
            a->out = v;
            i++;
        } else if (export && strcmp(s, "--format") == 0) {
            if (!v) return cli_usage_error("--format needs a format: csv");
            a->format = v;
            i++;
        } else if (!export && strcmp(s, "--target") == 0) {
            char *end = NULL;
            a->target = v ? strtod(v, &end) : -1;
            if (!v || end == v || *end || !(a->target > 0 && a->target <= 1))
                return cli_usage_error("--target needs a test accuracy in (0, 1], e.g. 0.8");
            i++;
        } else if (s[0] == '-') {
            char msg[300];
            snprintf(msg, sizeof msg, "unknown option '%s' (%s)", s,
                     export ? "export takes --format csv, --out FILE, --all, --sweep ID"
                            : "info takes --all, --sweep ID, --target ACC");
            return cli_usage_error(msg);
        } else if (!a->db) {
            a->db = s;
        } else {
            return cli_usage_error("only one database");
        }
    }
    if (!a->db) return cli_usage_error("a metrics database is needed, e.g. results/quickstart.db");
    if (export && strcmp(a->format, "csv") != 0)
        return cli_usage_error("export --format: only csv is supported");
    return 0;
}

static int db_fail(sqlite3 *db, const char *path, const char *what)
{
    fprintf(stderr, "fedsim: error: %s: %s: %s\n", path, what, db ? sqlite3_errmsg(db) : "");
    if (db) sqlite3_close(db);
    return 1;
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

/* Open read-only and check it is a sound fedsim database (PRAGMA quick_check). Returns NULL
 * after printing why. */
static sqlite3 *open_db(const char *path, int *sweep_cols)
{
    struct stat sb;
    if (stat(path, &sb) != 0) {
        fprintf(stderr, "fedsim: error: %s: %s\n", path, strerror(errno));
        return NULL;
    }
    sqlite3 *db = NULL;
    char check[512];
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        db_fail(db, path, "cannot open");
        return NULL;
    }
    sqlite3_busy_timeout(db, 10000);
    int rc = quick_check(db, check, sizeof check);
    if (rc == SQLITE_CANTOPEN || rc == SQLITE_READONLY) {
        /* a WAL database where the -shm file cannot be created (a read-only file system or
         * directory): nobody can be writing it, so read it as immutable (fedsim folds the WAL
         * back into the file when a run closes) */
        sqlite3_close(db);
        db = NULL;
        char *uri = sqlite3_mprintf("file:%s?immutable=1", path);
        const int ok =
            uri && strpbrk(path, "?#%") == NULL && /* characters a URI would need escaped */
            sqlite3_open_v2(uri, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, NULL) == SQLITE_OK;
        sqlite3_free(uri);
        if (!ok) {
            db_fail(db, path, "cannot read it (read-only file system?)");
            return NULL;
        }
        rc = quick_check(db, check, sizeof check);
    }
    if (rc == SQLITE_NOTADB || rc == SQLITE_CORRUPT || (rc == SQLITE_OK && strcmp(check, "ok"))) {
        fprintf(stderr, "fedsim: error: %s: %s: %s\n", path,
                rc == SQLITE_NOTADB ? "not a fedsim metrics database" : "corrupt database", check);
        sqlite3_close(db);
        return NULL;
    }
    if (rc != SQLITE_OK) {
        fprintf(stderr, "fedsim: error: %s: cannot read it: %s\n", path, check);
        sqlite3_close(db);
        return NULL;
    }
    if (!has_column(db, "runs", "status") || !has_column(db, "rounds", "test_acc")) {
        fprintf(stderr,
                "fedsim: error: %s: not a fedsim metrics database (no runs/rounds "
                "tables)\n",
                path);
        sqlite3_close(db);
        return NULL;
    }
    *sweep_cols = has_column(db, "runs", "sweep_id") && has_column(db, "runs", "swept");
    met_register_owner_fn(db);
    return db;
}

/* The WHERE clause shared by info and export (binds ?1 = sweep id when given). */
static const char *run_filter(const db_args *a, int sweep_cols, int export)
{
    if (export) {
        if (a->all) return a->sweep && sweep_cols ? "r.sweep_id = ?1" : "1";
        return a->sweep && sweep_cols ? "r.status = 'completed' AND r.sweep_id = ?1"
                                      : "r.status = 'completed'";
    }
    if (!sweep_cols) return "1";
    if (a->all) return a->sweep ? "r.sweep_id = ?1" : "1";
    return a->sweep ? "r.superseded_by IS NULL AND r.sweep_id = ?1" : "r.superseded_by IS NULL";
}

/* The swept keys of the selected runs, in order of first appearance. */
static int swept_keys(sqlite3 *db, const db_args *a, const char *filter, char ***keys)
{
    *keys = NULL;
    char *sql = sqlite3_mprintf("SELECT j.key FROM runs r, json_each(r.swept) j WHERE %s "
                                "GROUP BY j.key ORDER BY min(r.id), min(j.id)",
                                filter);
    sqlite3_stmt *st = NULL;
    int n = 0, cap = 0, rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    sqlite3_free(sql);
    if (rc != SQLITE_OK) return -1;
    if (a->sweep) sqlite3_bind_text(st, 1, a->sweep, -1, SQLITE_STATIC);
    while (sqlite3_step(st) == SQLITE_ROW) {
        if (n == cap) {
            cap = cap ? 2 * cap : 8;
            char **k = realloc(*keys, (size_t)cap * sizeof *k);
            if (!k) break;
            *keys = k;
        }
        (*keys)[n++] = strdup((const char *)sqlite3_column_text(st, 0));
    }
    sqlite3_finalize(st);
    return n;
}

static void free_keys(char **keys, int n)
{
    for (int i = 0; i < n; i++) free(keys[i]);
    free(keys);
}

/* Text that reads back as v exactly, as short as possible. */
static void fmt_real(char *buf, size_t cap, double v)
{
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(buf, cap, "%.*g", prec, v);
        if (strtod(buf, NULL) == v) return;
    }
}

/* ---------------------------------------------------------------------------------------------
 * info
 * ------------------------------------------------------------------------------------------- */

typedef struct table {
    int cols, rows, cap;
    char **cell; /* rows x cols, row 0 is the header */
    int *right;  /* right-align column */
    int hide;    /* column not printed, -1: none */
} table;

static int table_add(table *t, char **row)
{
    if (t->rows == t->cap) {
        int cap = t->cap ? 2 * t->cap : 32;
        char **c = realloc(t->cell, (size_t)cap * (size_t)t->cols * sizeof *c);
        if (!c) return -1;
        t->cell = c;
        t->cap = cap;
    }
    for (int j = 0; j < t->cols; j++) t->cell[t->rows * t->cols + j] = row[j];
    t->rows++;
    return 0;
}

static void table_print(const table *t, FILE *f)
{
    int *w = calloc((size_t)t->cols, sizeof *w);
    if (!w) return;
    for (int i = 0; i < t->rows; i++)
        for (int j = 0; j < t->cols; j++) {
            int l = (int)strlen(t->cell[i * t->cols + j]);
            if (l > w[j]) w[j] = l;
        }
    for (int i = 0; i < t->rows; i++) {
        for (int j = 0; j < t->cols; j++) {
            if (j == t->hide) continue;
            const char *c = t->cell[i * t->cols + j];
            int last = j == t->cols - 1;
            if (t->right[j])
                fprintf(f, "%s%*s", j ? "  " : "", w[j], c);
            else
                fprintf(f, "%s%-*s", j ? "  " : "", last ? 0 : w[j], c);
        }
        fputc('\n', f);
    }
    free(w);
}

static void table_free(table *t)
{
    for (int i = 0; i < t->rows * t->cols; i++) free(t->cell[i]);
    free(t->cell);
    free(t->right);
}

static char *col_text(sqlite3_stmt *st, int i, const char *fmt, double scale)
{
    char buf[128];
    if (sqlite3_column_type(st, i) == SQLITE_NULL) return strdup("-");
    if (fmt) {
        snprintf(buf, sizeof buf, fmt, scale * sqlite3_column_double(st, i));
        return strdup(buf);
    }
    return strdup((const char *)sqlite3_column_text(st, i));
}

int cmd_info(int argc, char **argv)
{
    db_args a;
    int rc = parse_db_args(argc, argv, &a, 0);
    if (rc) return rc;
    int sweep_cols = 0;
    sqlite3 *db = open_db(a.db, &sweep_cols);
    if (!db) return 2; /* the argument names no readable fedsim database */
    const char *filter = run_filter(&a, sweep_cols, 0);
    char **keys = NULL;
    int nk = sweep_cols ? swept_keys(db, &a, filter, &keys) : 0;
    if (nk < 0) return db_fail(db, a.db, "read the swept keys");

    /* a `running` row whose process is provably gone (kill -9, full disk, crash) is shown as
     * abandoned (met_owner_alive); rows without an owner (schema 1) stay running */
    const char *stx = has_column(db, "runs", "proc_start")
                          ? "(CASE WHEN status = 'running' AND fedsim_owner_gone(host, pid, "
                            "proc_start) THEN 'abandoned' ELSE status END)"
                          : "status";
    const char *owner_cols = has_column(db, "runs", "proc_start") ? "host, pid" : "NULL, NULL";

    /* every count over all rows, for the header */
    sqlite3_stmt *st = NULL;
    printf("%s: fedsim metrics database", a.db);
    if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        printf(", schema %d", sqlite3_column_int(st, 0));
    sqlite3_finalize(st);
    putchar('\n');
    char *sql = sqlite3_mprintf(
        "SELECT %s, count(*), sum(status='completed'), sum(%s='running'), "
        "sum(status='failed'), sum(status='interrupted'), %s, sum(%s='abandoned') FROM runs "
        "GROUP BY 1 ORDER BY min(id)",
        sweep_cols ? "coalesce(sweep_id, '')" : "''", stx,
        sweep_cols ? "sum(superseded_by IS NOT NULL)" : "0", stx);
    rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    sqlite3_free(sql);
    if (rc != SQLITE_OK) {
        free_keys(keys, nk);
        return db_fail(db, a.db, "count the runs");
    }
    int hidden = 0, any_sweep = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *sw = (const char *)sqlite3_column_text(st, 0);
        if (sw[0]) any_sweep = 1;
        printf("  %s%s%s: %d runs: %d completed, %d running, %d failed, %d interrupted",
               sw[0] ? "sweep '" : "single runs", sw, sw[0] ? "'" : "", sqlite3_column_int(st, 1),
               sqlite3_column_int(st, 2), sqlite3_column_int(st, 3), sqlite3_column_int(st, 4),
               sqlite3_column_int(st, 5));
        if (sqlite3_column_int(st, 7))
            printf(", %d abandoned (their process is gone)", sqlite3_column_int(st, 7));
        int sup = sqlite3_column_int(st, 6);
        if (sup) printf(" (%d superseded by a rerun)", sup);
        if (!a.all) hidden += sup;
        putchar('\n');
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        free_keys(keys, nk);
        return db_fail(db, a.db, "count the runs");
    }

    /* one row per run */
    char *cols = sqlite3_mprintf("%s", "");
    for (int i = 0; i < nk && cols; i++) {
        char *c = sqlite3_mprintf("%s, json_extract(r.swept, '$.\"%q\"')", cols, keys[i]);
        sqlite3_free(cols);
        cols = c;
    }
    /* time-to-accuracy (docs/efficiency.md): with --target, or for runs that set
     * eval.target_accuracy; the first evaluated round at or above the target */
    char tgt[96];
    if (a.target > 0)
        snprintf(tgt, sizeof tgt, "%.17g", a.target);
    else
        snprintf(tgt, sizeof tgt,
                 "coalesce(json_extract(r.params, '$.\"eval.target_accuracy\"'), 0)");
    int tta = a.target > 0;
    if (!tta && sqlite3_prepare_v2(db,
                                   "SELECT 1 FROM runs WHERE json_extract(params, "
                                   "'$.\"eval.target_accuracy\"') > 0 LIMIT 1",
                                   -1, &st, NULL) == SQLITE_OK) {
        tta = sqlite3_step(st) == SQLITE_ROW;
        sqlite3_finalize(st);
    }
    char *tr = sqlite3_mprintf("(SELECT min(round) FROM rounds x WHERE x.run_id = r.id AND %s > 0 "
                               "AND x.test_acc >= %s)",
                               tgt, tgt);
    char *ttacols =
        tr ? sqlite3_mprintf(", %s, %s, (SELECT vtime_s FROM rounds x WHERE x.run_id = r.id AND "
                             "x.round = %s), (SELECT sum(bytes_up) FROM rounds x WHERE x.run_id = "
                             "r.id AND x.round <= %s)",
                             tgt, tr, tr, tr)
           : NULL;
    sqlite3_free(tr);
    sql = sqlite3_mprintf(
        "SELECT r.id, %s, %s, r.seed, r.name, "
        "(SELECT count(*) FROM rounds x WHERE x.run_id = r.id), "
        "json_extract(r.params, '$.\"rounds.count\"'), "
        "(SELECT test_acc FROM rounds x WHERE x.run_id = r.id AND test_acc IS NOT NULL "
        " ORDER BY round DESC LIMIT 1), "
        "(SELECT max(test_acc) FROM rounds x WHERE x.run_id = r.id), "
        "(SELECT vtime_s FROM rounds x WHERE x.run_id = r.id ORDER BY round DESC LIMIT 1), "
        "r.wall_s, coalesce(r.error, ''), %s, %s %s %s FROM runs r WHERE %s ORDER BY r.id",
        sweep_cols ? "coalesce(r.sweep_id, '')" : "''", stx,
        sweep_cols ? "r.superseded_by" : "NULL", owner_cols, cols ? cols : "",
        ttacols ? ttacols : "", filter);
    sqlite3_free(cols);
    sqlite3_free(ttacols);
    rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    sqlite3_free(sql);
    if (rc != SQLITE_OK) {
        free_keys(keys, nk);
        return db_fail(db, a.db, "list the runs");
    }
    if (a.sweep) sqlite3_bind_text(st, 1, a.sweep, -1, SQLITE_STATIC);
    const char *fixed[] = {"id",          "sweep",      "status",  "seed",  "rounds",
                           "final acc %", "best acc %", "vtime s", "wall s"};
    const char *tta_head[] = {"target %", "tta round", "tta vtime s", "tta bytes up"};
    const int nf = 9, nt = tta ? 4 : 0;
    table t = {.cols = nf + nk + nt, .hide = -1};
    t.right = calloc((size_t)t.cols, sizeof *t.right);
    char **row = calloc((size_t)t.cols, sizeof *row);
    if (!t.right || !row) {
        free(t.right);
        free(row);
        sqlite3_finalize(st);
        free_keys(keys, nk);
        sqlite3_close(db);
        return cli_fail(fs_error(FS_ENOMEM, "out of memory"));
    }
    /* header: id sweep status seed <swept keys> rounds final best vtime wall */
    int c = 0;
    for (int j = 0; j < 4; j++) row[c++] = strdup(fixed[j]);
    for (int j = 0; j < nk; j++) row[c++] = strdup(keys[j]);
    for (int j = 4; j < nf; j++) row[c++] = strdup(fixed[j]);
    for (int j = 0; j < nt; j++) row[c++] = strdup(tta_head[j]);
    t.right[0] = t.right[3] = 1;
    for (int j = 4 + nk; j < t.cols; j++) t.right[j] = 1;
    table_add(&t, row);
    char *errors = NULL;
    size_t errsize = 0;
    FILE *ef = open_memstream(&errors, &errsize);
    int n_runs = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        char buf[64];
        c = 0;
        row[c++] = col_text(st, 0, NULL, 1);
        row[c++] = strdup(((const char *)sqlite3_column_text(st, 1))[0]
                              ? (const char *)sqlite3_column_text(st, 1)
                              : "-");
        const char *status = (const char *)sqlite3_column_text(st, 2);
        if (sqlite3_column_type(st, 12) != SQLITE_NULL)
            snprintf(buf, sizeof buf, "%s>%lld", status, (long long)sqlite3_column_int64(st, 12));
        else
            snprintf(buf, sizeof buf, "%s", status);
        row[c++] = strdup(buf);
        if (sqlite3_column_type(st, 3) == SQLITE_INTEGER) { /* seeds are uint64 (schema 1: < 0) */
            snprintf(buf, sizeof buf, "%llu", (unsigned long long)sqlite3_column_int64(st, 3));
            row[c++] = strdup(buf);
        } else {
            row[c++] = col_text(st, 3, NULL, 1);
        }
        for (int j = 0; j < nk; j++) row[c++] = col_text(st, 15 + j, NULL, 1);
        if (sqlite3_column_type(st, 6) != SQLITE_NULL)
            snprintf(buf, sizeof buf, "%d/%d", sqlite3_column_int(st, 5),
                     sqlite3_column_int(st, 6));
        else
            snprintf(buf, sizeof buf, "%d", sqlite3_column_int(st, 5));
        row[c++] = strdup(buf);
        row[c++] = col_text(st, 7, "%.2f", 100);
        row[c++] = col_text(st, 8, "%.2f", 100);
        row[c++] = col_text(st, 9, "%.1f", 1);
        row[c++] = col_text(st, 10, "%.1f", 1);
        if (nt) {
            const int b = 15 + nk, has_t = sqlite3_column_double(st, b) > 0;
            row[c++] = has_t ? col_text(st, b, "%.2f", 100) : strdup("-");
            const int reached = sqlite3_column_type(st, b + 1) != SQLITE_NULL;
            for (int j = 1; j < 4; j++)
                row[c++] = !has_t     ? strdup("-")
                           : !reached ? strdup(j == 1 ? "not reached" : "-")
                                      : col_text(st, b + j,
                                                 j == 1   ? "%.0f"
                                                 : j == 2 ? "%.1f"
                                                          : "%.4g",
                                                 1);
        }
        for (int j = 0; j < t.cols; j++)
            if (!row[j]) row[j] = strdup("?");
        table_add(&t, row);
        const char *err = (const char *)sqlite3_column_text(st, 11);
        if (ef && err[0] && strcmp(status, "completed") != 0)
            fprintf(ef, "  run %lld %s: %s\n", (long long)sqlite3_column_int64(st, 0), status, err);
        if (ef && strcmp(status, "abandoned") == 0)
            fprintf(ef,
                    "  run %lld abandoned: its row says running, but its process (pid %lld on "
                    "%s) is gone\n",
                    (long long)sqlite3_column_int64(st, 0), (long long)sqlite3_column_int64(st, 14),
                    (const char *)sqlite3_column_text(st, 13));
        n_runs++;
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        if (ef) fclose(ef);
        free(errors);
        table_free(&t);
        free(row);
        free_keys(keys, nk);
        return db_fail(db, a.db, "list the runs");
    }
    if (ef) fclose(ef);
    if (!any_sweep) t.hide = 1; /* no sweep column for a database of single runs */
    putchar('\n');
    if (n_runs == 0)
        printf("no runs%s\n", a.sweep ? " in that sweep" : "");
    else
        table_print(&t, stdout);
    if (errors && errors[0]) printf("\n%s", errors);
    if (hidden)
        printf("\nnot shown: %d failed or interrupted run(s) that a resumed sweep ran again "
               "(--all shows them, as status>new id)\n",
               hidden);
    free(errors);
    table_free(&t);
    free(row);
    free_keys(keys, nk);
    sqlite3_close(db);
    return 0;
}

/* ---------------------------------------------------------------------------------------------
 * export
 * ------------------------------------------------------------------------------------------- */

static void csv_text(FILE *f, const char *s)
{
    if (strpbrk(s, ",\"\n\r") == NULL) {
        fputs(s, f);
        return;
    }
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"') fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

static void csv_value(FILE *f, sqlite3_stmt *st, int i)
{
    char buf[64];
    switch (sqlite3_column_type(st, i)) {
    case SQLITE_NULL:
        break;
    case SQLITE_INTEGER:
        fprintf(f, "%lld", (long long)sqlite3_column_int64(st, i));
        break;
    case SQLITE_FLOAT:
        fmt_real(buf, sizeof buf, sqlite3_column_double(st, i));
        fputs(buf, f);
        break;
    default:
        csv_text(f, (const char *)sqlite3_column_text(st, i));
        break;
    }
}

int cmd_export(int argc, char **argv)
{
    db_args a;
    int rc = parse_db_args(argc, argv, &a, 1);
    if (rc) return rc;
    int sweep_cols = 0;
    sqlite3 *db = open_db(a.db, &sweep_cols);
    if (!db) return 2; /* the argument names no readable fedsim database */
    const char *filter = run_filter(&a, sweep_cols, 1);
    char **keys = NULL;
    int nk = sweep_cols ? swept_keys(db, &a, filter, &keys) : 0;
    if (nk < 0) return db_fail(db, a.db, "read the swept keys");

    /* rounds columns but run_id, in table order: new metrics flow through */
    char *rcols = sqlite3_mprintf("%s", "");
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, "SELECT name FROM pragma_table_info('rounds') ORDER BY cid", -1, &st,
                           NULL) == SQLITE_OK)
        while (rcols && sqlite3_step(st) == SQLITE_ROW) {
            const char *n = (const char *)sqlite3_column_text(st, 0);
            if (strcmp(n, "run_id") == 0) continue;
            char *x = sqlite3_mprintf("%s, x.\"%w\"", rcols, n);
            sqlite3_free(rcols);
            rcols = x;
        }
    sqlite3_finalize(st);
    char *kcols = sqlite3_mprintf("%s", "");
    for (int i = 0; i < nk && kcols; i++) {
        char *x = sqlite3_mprintf("%s, json_extract(r.swept, '$.\"%q\"') AS \"%w\"", kcols, keys[i],
                                  keys[i]);
        sqlite3_free(kcols);
        kcols = x;
    }
    char *sql = NULL;
    if (rcols && kcols)
        sql = sqlite3_mprintf("SELECT r.id AS run_id, %s, r.name, r.status, r.seed%s%s FROM runs r "
                              "JOIN rounds x ON x.run_id = r.id WHERE %s ORDER BY r.id, x.round",
                              sweep_cols ? "r.sweep_id, r.run_key"
                                         : "NULL AS sweep_id, NULL AS run_key",
                              kcols, rcols, filter);
    sqlite3_free(rcols);
    sqlite3_free(kcols);
    free_keys(keys, nk);
    rc = sql ? sqlite3_prepare_v2(db, sql, -1, &st, NULL) : SQLITE_NOMEM;
    sqlite3_free(sql);
    if (rc != SQLITE_OK) return db_fail(db, a.db, "select the rounds");
    if (a.sweep && sweep_cols) sqlite3_bind_text(st, 1, a.sweep, -1, SQLITE_STATIC);

    char tmp[4096];
    FILE *f = stdout;
    if (a.out) {
        snprintf(tmp, sizeof tmp, "%s.tmp", a.out);
        f = fopen(tmp, "w");
        if (!f) {
            fprintf(stderr, "fedsim: error: cannot write %s: %s\n", tmp, strerror(errno));
            sqlite3_finalize(st);
            sqlite3_close(db);
            return 1;
        }
    }
    int nc = sqlite3_column_count(st);
    for (int i = 0; i < nc; i++) {
        if (i) fputc(',', f);
        csv_text(f, sqlite3_column_name(st, i));
    }
    fputc('\n', f);
    long rows = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        for (int i = 0; i < nc; i++) {
            if (i) fputc(',', f);
            csv_value(f, st, i);
        }
        fputc('\n', f);
        rows++;
    }
    int ok = rc == SQLITE_DONE;
    if (!ok) fprintf(stderr, "fedsim: error: %s: %s\n", a.db, sqlite3_errmsg(db));
    sqlite3_finalize(st);
    sqlite3_close(db);
    if (a.out) {
        if (fclose(f) != 0) ok = 0;
        if (ok && rename(tmp, a.out) != 0) {
            fprintf(stderr, "fedsim: error: cannot write %s: %s\n", a.out, strerror(errno));
            ok = 0;
        }
        if (!ok) unlink(tmp);
        if (ok) fprintf(stderr, "fedsim: wrote %ld rounds to %s\n", rows, a.out);
    } else if (fflush(stdout) != 0) {
        ok = 0;
    }
    return ok ? 0 : 1;
}
