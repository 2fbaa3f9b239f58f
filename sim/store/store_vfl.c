/* Vertical-learning metrics (see store_vfl.h). Statements are prepared per call: a vertical run
 * writes a handful of rows per epoch. */
#include "store/store_vfl.h"

#include <math.h>
#include <sqlite3.h>
#include <stdio.h>

static const char *vfl_schema =
    "CREATE TABLE IF NOT EXISTS parties ("
    "  run_id INTEGER NOT NULL REFERENCES runs(id),"
    "  party INTEGER NOT NULL,"
    "  name TEXT NOT NULL,"
    "  role TEXT NOT NULL CHECK (role IN ('active','passive','coordinator')),"
    "  features INTEGER NOT NULL,"
    "  ids INTEGER NOT NULL,"
    "  common INTEGER NOT NULL,"
    "  PRIMARY KEY (run_id, party));"
    "CREATE TABLE IF NOT EXISTS party_rounds ("
    "  run_id INTEGER NOT NULL REFERENCES runs(id),"
    "  round INTEGER NOT NULL,"
    "  party INTEGER NOT NULL,"
    "  bytes_sent REAL NOT NULL,"
    "  bytes_received REAL NOT NULL,"
    "  flops REAL NOT NULL,"
    "  compute_s REAL NOT NULL,"
    "  crypto_s REAL NOT NULL,"
    "  dropouts INTEGER NOT NULL,"
    "  straggles INTEGER NOT NULL,"
    "  PRIMARY KEY (run_id, round, party));";

static fs_err fail(met_store *s, const char *what)
{
    return fs_error(FS_EIO, "%s: %s: %s", s->path, what, sqlite3_errmsg(s->db));
}

static void bind_real(sqlite3_stmt *st, int i, double v)
{
    if (isnan(v))
        sqlite3_bind_null(st, i);
    else
        sqlite3_bind_double(st, i, v);
}

/* Prepare, let bind() fill the parameters, step once. */
static fs_err run1(met_store *s, const char *sql, const char *what,
                   void (*bind)(sqlite3_stmt *, const void *), const void *arg)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK) return fail(s, what);
    bind(st, arg);
    const int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? FS_OK : fail(s, what);
}

typedef struct begin_args {
    const met_store *s;
    const char *protocol;
    int key_bits;
} begin_args;

static void bind_begin(sqlite3_stmt *st, const void *p)
{
    const begin_args *a = p;
    sqlite3_bind_text(st, 1, a->protocol, -1, SQLITE_TRANSIENT);
    if (a->key_bits > 0)
        sqlite3_bind_int(st, 2, a->key_bits);
    else
        sqlite3_bind_null(st, 2);
    sqlite3_bind_int64(st, 3, a->s->run_id);
}

fs_err met_vfl_begin(met_store *s, const char *protocol, int key_bits)
{
    char *msg = NULL;
    if (sqlite3_exec(s->db, vfl_schema, NULL, NULL, &msg) != SQLITE_OK) {
        fs_err e = fs_error(FS_EIO, "%s: create the vertical tables: %s", s->path, msg);
        sqlite3_free(msg);
        return e;
    }
    begin_args a = {s, protocol, key_bits};
    return run1(s, "UPDATE runs SET federation='vertical', protocol=?, key_bits=? WHERE id=?",
                "record the protocol", bind_begin, &a);
}

typedef struct party_args {
    const met_store *s;
    const met_party_info *p;
} party_args;

static void bind_party(sqlite3_stmt *st, const void *arg)
{
    const party_args *a = arg;
    sqlite3_bind_int64(st, 1, a->s->run_id);
    sqlite3_bind_int(st, 2, a->p->party);
    sqlite3_bind_text(st, 3, a->p->name, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 4, a->p->role, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 5, a->p->features);
    sqlite3_bind_int64(st, 6, a->p->ids);
    sqlite3_bind_int64(st, 7, a->p->common);
}

fs_err met_vfl_party(met_store *s, const met_party_info *p)
{
    party_args a = {s, p};
    return run1(s,
                "INSERT INTO parties (run_id, party, name, role, features, ids, common) VALUES "
                "(?,?,?,?,?,?,?)",
                "insert a party", bind_party, &a);
}

typedef struct round_args {
    const met_store *s;
    int round;
    double auc, crypto, stall;
} round_args;

static void bind_round(sqlite3_stmt *st, const void *arg)
{
    const round_args *a = arg;
    bind_real(st, 1, a->auc);
    bind_real(st, 2, a->crypto);
    bind_real(st, 3, a->stall);
    sqlite3_bind_int64(st, 4, a->s->run_id);
    sqlite3_bind_int(st, 5, a->round);
}

fs_err met_vfl_round(met_store *s, int round, double test_auc, double crypto_time_s, double stall_s)
{
    round_args a = {s, round, test_auc, crypto_time_s, stall_s};
    return run1(s,
                "UPDATE rounds SET test_auc=?, crypto_time_s=?, stall_s=? WHERE run_id=? AND "
                "round=?",
                "record the vertical round columns", bind_round, &a);
}

typedef struct prow_args {
    const met_store *s;
    const met_party_row *r;
} prow_args;

static void bind_prow(sqlite3_stmt *st, const void *arg)
{
    const prow_args *a = arg;
    const met_party_row *r = a->r;
    sqlite3_bind_int64(st, 1, a->s->run_id);
    sqlite3_bind_int(st, 2, r->round);
    sqlite3_bind_int(st, 3, r->party);
    sqlite3_bind_double(st, 4, r->bytes_sent);
    sqlite3_bind_double(st, 5, r->bytes_received);
    sqlite3_bind_double(st, 6, r->flops);
    sqlite3_bind_double(st, 7, r->compute_s);
    sqlite3_bind_double(st, 8, r->crypto_s);
    sqlite3_bind_int64(st, 9, r->dropouts);
    sqlite3_bind_int64(st, 10, r->straggles);
}

fs_err met_vfl_party_round(met_store *s, const met_party_row *r)
{
    prow_args a = {s, r};
    return run1(s,
                "INSERT INTO party_rounds (run_id, round, party, bytes_sent, bytes_received, "
                "flops, compute_s, crypto_s, dropouts, straggles) VALUES (?,?,?,?,?,?,?,?,?,?)",
                "insert a party round", bind_prow, &a);
}
