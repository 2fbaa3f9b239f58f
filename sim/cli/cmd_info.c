/* fedsim info and fedsim export: read a metrics database (read-only; also while a sweep is
 * writing it) and list its runs, or write its rounds with the run parameters joined.
 * Guarantees: superseded rows (failed or interrupted runs that a resumed sweep ran again) are
 * hidden unless --all, and export writes completed runs only unless --all, so no run is counted
 * twice; numbers are written so that they read back exactly (shortest round-trip text), text
 * fields quoted as util/csv.h says. The queries are store/'s (store/query.h); this file formats. */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "store/query.h"
#include "util/csv.h"

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

/* The runs info and export show (docs/sweeps.md). */
static met_select selection(const db_args *a, int export)
{
    met_select sel = {.sweep_id = a->sweep, .target = a->target > 0 ? a->target : 0};
    if (export)
        sel.completed_only = !a->all;
    else
        sel.hide_superseded = !a->all;
    return sel;
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

/* "-" for a missing number, else fmt of scale * v. */
static char *num_text(double v, const char *fmt, double scale)
{
    char buf[128];
    if (isnan(v)) return strdup("-");
    snprintf(buf, sizeof buf, fmt, scale * v);
    return strdup(buf);
}

/* The header's per-sweep lines: runs by status. */
typedef struct count_ctx {
    int all;
    int hidden; /* superseded rows not listed */
    int any_sweep;
} count_ctx;

static fs_err print_counts(void *ctx, const met_run_counts *c)
{
    count_ctx *x = ctx;
    const char *sw = c->sweep_id;
    if (sw[0]) x->any_sweep = 1;
    printf("  %s%s%s: %d runs: %d completed, %d running, %d failed, %d interrupted",
           sw[0] ? "sweep '" : "single runs", sw, sw[0] ? "'" : "", c->runs, c->completed,
           c->running, c->failed, c->interrupted);
    if (c->abandoned) printf(", %d abandoned (their process is gone)", c->abandoned);
    if (c->superseded) printf(" (%d superseded by a rerun)", c->superseded);
    if (!x->all) x->hidden += c->superseded;
    putchar('\n');
    return FS_OK;
}

/* The run table: id sweep status seed <swept keys> rounds final best vtime wall, and with a
 * time-to-accuracy target: target round vtime bytes (docs/efficiency.md). */
typedef struct list_ctx {
    table t;
    char **row;   /* one row being filled */
    int n_keys;   /* swept keys */
    int tta;      /* the time-to-accuracy columns */
    FILE *errors; /* the lines under the table: failed, interrupted, abandoned runs */
    int n_runs;
} list_ctx;

static fs_err list_open(list_ctx *x, char *const *keys, int n_keys, int tta)
{
    static const char *const tta_head[] = {"target %", "tta round", "tta vtime s", "tta bytes up"};
    static const char *const fixed[] = {"id",          "sweep",      "status",  "seed",  "rounds",
                                        "final acc %", "best acc %", "vtime s", "wall s"};
    const int nf = 9;
    memset(x, 0, sizeof *x);
    x->n_keys = n_keys;
    x->tta = tta;
    x->t = (table){.cols = nf + n_keys + (tta ? 4 : 0), .hide = -1};
    x->t.right = calloc((size_t)x->t.cols, sizeof *x->t.right);
    x->row = calloc((size_t)x->t.cols, sizeof *x->row);
    if (!x->t.right || !x->row) return fs_error(FS_ENOMEM, "out of memory");
    int c = 0;
    for (int j = 0; j < 4; j++) x->row[c++] = strdup(fixed[j]);
    for (int j = 0; j < n_keys; j++) x->row[c++] = strdup(keys[j]);
    for (int j = 4; j < nf; j++) x->row[c++] = strdup(fixed[j]);
    for (int j = 0; tta && j < 4; j++) x->row[c++] = strdup(tta_head[j]);
    x->t.right[0] = x->t.right[3] = 1;
    for (int j = 4 + n_keys; j < x->t.cols; j++) x->t.right[j] = 1;
    table_add(&x->t, x->row);
    return FS_OK;
}

static fs_err list_row(void *ctx, const met_run_line *r)
{
    list_ctx *x = ctx;
    char buf[64];
    int c = 0;
    snprintf(buf, sizeof buf, "%lld", (long long)r->id);
    x->row[c++] = strdup(buf);
    x->row[c++] = strdup(r->sweep_id[0] ? r->sweep_id : "-");
    if (r->superseded_by)
        snprintf(buf, sizeof buf, "%s>%lld", r->status, (long long)r->superseded_by);
    else
        snprintf(buf, sizeof buf, "%s", r->status);
    x->row[c++] = strdup(buf);
    x->row[c++] = strdup(r->seed ? r->seed : "-");
    for (int j = 0; j < x->n_keys; j++) x->row[c++] = strdup(r->swept[j] ? r->swept[j] : "-");
    if (r->rounds_planned >= 0)
        snprintf(buf, sizeof buf, "%d/%d", r->rounds, r->rounds_planned);
    else
        snprintf(buf, sizeof buf, "%d", r->rounds);
    x->row[c++] = strdup(buf);
    x->row[c++] = num_text(r->final_acc, "%.2f", 100);
    x->row[c++] = num_text(r->best_acc, "%.2f", 100);
    x->row[c++] = num_text(r->vtime_s, "%.1f", 1);
    x->row[c++] = num_text(r->wall_s, "%.1f", 1);
    if (x->tta) {
        const int has = r->tta_target > 0, got = has && r->tta_round > 0;
        x->row[c++] = has ? num_text(r->tta_target, "%.2f", 100) : strdup("-");
        x->row[c++] = !has  ? strdup("-")
                      : got ? num_text(r->tta_round, "%.0f", 1)
                            : strdup("not reached");
        x->row[c++] = got ? num_text(r->tta_vtime_s, "%.1f", 1) : strdup("-");
        x->row[c++] = got ? num_text(r->tta_bytes_up, "%.4g", 1) : strdup("-");
    }
    for (int j = 0; j < x->t.cols; j++)
        if (!x->row[j]) x->row[j] = strdup("?");
    table_add(&x->t, x->row);
    if (x->errors && r->error[0] && strcmp(r->status, "completed") != 0)
        fprintf(x->errors, "  run %lld %s: %s\n", (long long)r->id, r->status, r->error);
    if (x->errors && strcmp(r->status, "abandoned") == 0)
        fprintf(x->errors,
                "  run %lld abandoned: its row says running, but its process (pid %lld on %s) is "
                "gone\n",
                (long long)r->id, (long long)r->pid, r->host);
    x->n_runs++;
    return FS_OK;
}

static void list_free(list_ctx *x)
{
    table_free(&x->t);
    free(x->row);
}

int cmd_info(int argc, char **argv)
{
    db_args a;
    int rc = parse_db_args(argc, argv, &a, 0);
    if (rc) return rc;
    met_store db;
    fs_err e = met_open_read(&db, a.db);
    if (e) return cli_fail(e); /* the argument names no readable fedsim database: exit 2 */
    met_select sel = selection(&a, 0);
    char **keys = NULL;
    int nk = 0;
    e = met_swept_keys(&db, &sel, &keys, &nk);
    if (e) {
        met_close(&db);
        return cli_fail(e);
    }

    /* every count over all rows, for the header */
    printf("%s: fedsim metrics database", a.db);
    int version;
    if (met_schema_version(&db, &version) == FS_OK) printf(", schema %d", version);
    putchar('\n');
    count_ctx counts = {.all = a.all};
    e = met_count_runs(&db, print_counts, &counts);

    /* one row per run, and the errors under the table */
    list_ctx list;
    memset(&list, 0, sizeof list);
    char *errors = NULL;
    size_t errsize = 0;
    int tta = a.target > 0;
    if (!e && !tta) e = met_any_target(&db, &tta);
    sel.tta = tta;
    if (!e) e = list_open(&list, keys, nk, tta);
    if (!e) {
        list.errors = open_memstream(&errors, &errsize);
        e = met_list_runs(&db, &sel, keys, nk, list_row, &list);
        if (list.errors) fclose(list.errors);
    }
    met_free_keys(keys, nk);
    met_close(&db);
    if (e) {
        if (list.row) list_free(&list);
        free(errors);
        return cli_fail(e);
    }
    if (!counts.any_sweep) list.t.hide = 1; /* no sweep column for a database of single runs */
    putchar('\n');
    if (list.n_runs == 0)
        printf("no runs%s\n", a.sweep ? " in that sweep" : "");
    else
        table_print(&list.t, stdout);
    if (errors && errors[0]) printf("\n%s", errors);
    if (counts.hidden)
        printf("\nnot shown: %d failed or interrupted run(s) that a resumed sweep ran again "
               "(--all shows them, as status>new id)\n",
               counts.hidden);
    free(errors);
    list_free(&list);
    return 0;
}

/* ---------------------------------------------------------------------------------------------
 * export
 * ------------------------------------------------------------------------------------------- */

typedef struct export_ctx {
    const char *out; /* NULL: stdout */
    char tmp[4096];  /* out + ".tmp", renamed to out when complete */
    FILE *f;
    long rows;
} export_ctx;

static fs_err export_header(void *ctx, int n, const char *const *names)
{
    export_ctx *x = ctx;
    x->f = stdout;
    if (x->out) {
        snprintf(x->tmp, sizeof x->tmp, "%s.tmp", x->out);
        x->f = fopen(x->tmp, "w");
        if (!x->f) return fs_error(FS_EIO, "cannot write %s: %s", x->tmp, strerror(errno));
    }
    for (int i = 0; i < n; i++) {
        if (i) fputc(',', x->f);
        csv_put_field(x->f, names[i]);
    }
    fputc('\n', x->f);
    return FS_OK;
}

static fs_err export_row(void *ctx, int n, const met_value *v)
{
    export_ctx *x = ctx;
    char buf[64];
    for (int i = 0; i < n; i++) {
        if (i) fputc(',', x->f);
        switch (v[i].type) {
        case MET_NULL: /* an empty field */
            break;
        case MET_INT:
            fprintf(x->f, "%lld", (long long)v[i].i);
            break;
        case MET_REAL:
            fmt_real(buf, sizeof buf, v[i].r);
            fputs(buf, x->f);
            break;
        case MET_TEXT:
            csv_put_field(x->f, v[i].s);
            break;
        }
    }
    fputc('\n', x->f);
    x->rows++;
    return FS_OK;
}

int cmd_export(int argc, char **argv)
{
    db_args a;
    int rc = parse_db_args(argc, argv, &a, 1);
    if (rc) return rc;
    met_store db;
    fs_err e = met_open_read(&db, a.db);
    if (e) return cli_fail(e); /* the argument names no readable fedsim database: exit 2 */
    const met_select sel = selection(&a, 1);
    char **keys = NULL;
    int nk = 0;
    e = met_swept_keys(&db, &sel, &keys, &nk);
    export_ctx x = {.out = a.out};
    if (!e) e = met_export_rounds(&db, &sel, keys, nk, export_header, export_row, &x);
    met_free_keys(keys, nk);
    met_close(&db);
    int ok = !e;
    if (e) cli_fail(e);
    if (a.out && x.f) {
        if (fclose(x.f) != 0) ok = 0;
        if (ok && rename(x.tmp, a.out) != 0) {
            fprintf(stderr, "fedsim: error: cannot write %s: %s\n", a.out, strerror(errno));
            ok = 0;
        }
        if (!ok) unlink(x.tmp);
        if (ok) fprintf(stderr, "fedsim: wrote %ld rounds to %s\n", x.rows, a.out);
    } else if (ok && fflush(stdout) != 0) {
        ok = 0;
    }
    return ok ? 0 : 1;
}
