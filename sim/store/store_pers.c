/* Personalization and fairness metrics (see store_pers.h). Statements are prepared per call: an
 * evaluation writes one round row and eval.clients client rows. */
#include "store/store_pers.h"

#include <math.h>
#include <sqlite3.h>
#include <stdio.h>

static const char *const round_cols[] = {
    "client_acc_mean", "client_acc_worst10", "client_acc_best10", "client_acc_std",
    "client_acc_jain", "pers_acc_mean",      "pers_acc_worst10",  "pers_acc_best10",
    "pers_acc_std",    "pers_acc_jain"};
static const char *const eval_cols[] = {"pers_loss", "pers_acc"};

static fs_err fail(met_store *s, const char *what)
{
    return fs_error(FS_EIO, "%s: %s: %s", s->path, what, sqlite3_errmsg(s->db));
}

static fs_err add(met_store *s, const char *table, const char *const *cols, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        sqlite3_stmt *st = NULL;
        int have = 0;
        if (sqlite3_prepare_v2(s->db, "SELECT count(*) FROM pragma_table_info(?) WHERE name=?", -1,
                               &st, NULL) != SQLITE_OK)
            return fail(s, "read the table columns");
        sqlite3_bind_text(st, 1, table, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, cols[i], -1, SQLITE_STATIC);
        if (sqlite3_step(st) == SQLITE_ROW) have = sqlite3_column_int(st, 0);
        sqlite3_finalize(st);
        if (have) continue;
        char sql[160];
        snprintf(sql, sizeof sql, "ALTER TABLE %s ADD COLUMN %s REAL", table, cols[i]);
        if (sqlite3_exec(s->db, sql, NULL, NULL, NULL) != SQLITE_OK)
            return fail(s, "add a personalization column");
    }
    return FS_OK;
}

fs_err met_pers_columns(met_store *s)
{
    fs_err e = add(s, "rounds", round_cols, sizeof round_cols / sizeof *round_cols);
    return e ? e : add(s, "client_eval", eval_cols, sizeof eval_cols / sizeof *eval_cols);
}

static void bind_real(sqlite3_stmt *st, int i, double v)
{
    if (isnan(v))
        sqlite3_bind_null(st, i);
    else
        sqlite3_bind_double(st, i, v);
}

fs_err met_pers_round(met_store *s, int round, const met_fairness *g, const met_fairness *p)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(s->db,
                           "UPDATE rounds SET client_acc_mean=?, client_acc_worst10=?, "
                           "client_acc_best10=?, client_acc_std=?, client_acc_jain=?, "
                           "pers_acc_mean=?, pers_acc_worst10=?, pers_acc_best10=?, "
                           "pers_acc_std=?, pers_acc_jain=? WHERE run_id=? AND round=?",
                           -1, &st, NULL) != SQLITE_OK)
        return fail(s, "prepare the fairness update");
    const met_fairness none = {NAN, NAN, NAN, NAN, NAN};
    const met_fairness *f[2] = {g, p ? p : &none};
    for (int k = 0; k < 2; k++) {
        bind_real(st, 5 * k + 1, f[k]->mean);
        bind_real(st, 5 * k + 2, f[k]->worst10);
        bind_real(st, 5 * k + 3, f[k]->best10);
        bind_real(st, 5 * k + 4, f[k]->std);
        bind_real(st, 5 * k + 5, f[k]->jain);
    }
    sqlite3_bind_int64(st, 11, s->run_id);
    sqlite3_bind_int(st, 12, round);
    const int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? FS_OK : fail(s, "write the fairness summaries");
}

fs_err met_pers_client(met_store *s, int round, uint32_t client, double loss, double acc)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(s->db,
                           "UPDATE client_eval SET pers_loss=?, pers_acc=? WHERE run_id=? AND "
                           "round=? AND client=?",
                           -1, &st, NULL) != SQLITE_OK)
        return fail(s, "prepare the personalized client update");
    bind_real(st, 1, loss);
    bind_real(st, 2, acc);
    sqlite3_bind_int64(st, 3, s->run_id);
    sqlite3_bind_int(st, 4, round);
    sqlite3_bind_int64(st, 5, client);
    const int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? FS_OK : fail(s, "write a personalized client evaluation");
}
