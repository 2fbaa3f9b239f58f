/* CSV importer for users' own tabular data (see importers.h for the encoding rules). The file is
 * read whole, unquoted in place (RFC 4180 quoting: "a, b", "" for a quote, line breaks inside
 * quotes) and checked cell by cell: a row with the wrong number of fields or an empty cell is
 * reported as file:line. Owns nothing after return but ds. */
#include "data/importers.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "util/rng.h"

#define CSV_MAX_CATEGORIES 1000
#define CSV_MAX_LABEL      1000000

typedef struct csv_table {
    const char *path;
    char *buf; /* the file, unquoted in place, cells NUL-terminated */
    int n_cols;
    size_t n_rows; /* data rows (header excluded) */
    char **cell;   /* (n_rows + 1, n_cols): row 0 is the header */
    size_t *line;  /* (n_rows + 1) line number where each row starts */
} csv_table;

static void csv_free(csv_table *t)
{
    free(t->buf);
    free(t->cell);
    free(t->line);
    memset(t, 0, sizeof *t);
}

static const char *cell_at(const csv_table *t, size_t row, int col)
{
    return t->cell[row * (size_t)t->n_cols + (size_t)col];
}

/* Parse the whole file. */
static fs_err csv_read(const char *path, char delim, csv_table *t, uLong *crc)
{
    memset(t, 0, sizeof *t);
    t->path = path;
    FILE *f = fopen(path, "rb");
    if (!f) return fs_error(FS_EINPUT, "%s: cannot open: %s", path, strerror(errno));
    size_t cap = 1 << 16, len = 0;
    t->buf = malloc(cap);
    fs_err e = FS_OK;
    for (;;) {
        if (!t->buf) {
            e = fs_error(FS_ENOMEM, "out of memory reading %s", path);
            break;
        }
        if (len + 1 >= cap) {
            char *nb = realloc(t->buf, cap * 2);
            if (!nb) {
                e = fs_error(FS_ENOMEM, "out of memory reading %s", path);
                break;
            }
            t->buf = nb;
            cap *= 2;
        }
        size_t r = fread(t->buf + len, 1, cap - len - 1, f);
        len += r;
        if (r == 0) break;
    }
    if (!e && ferror(f)) e = fs_error(FS_EIO, "%s: read error", path);
    fclose(f);
    if (e) {
        csv_free(t);
        return e;
    }
    t->buf[len] = '\0';
    *crc = crc32(*crc, (const Bytef *)t->buf, (uInt)len);
    /* one pass: unquote in place; cells point into buf */
    size_t cap_cells = 1024, n_cells = 0, cap_rows = 64, n_rows = 0, line = 1;
    size_t row_cells = 0;
    t->cell = malloc(cap_cells * sizeof *t->cell);
    t->line = malloc(cap_rows * sizeof *t->line);
    char *rd = t->buf, *end = t->buf + len;
    if (len >= 3 && memcmp(rd, "\xef\xbb\xbf", 3) == 0) rd += 3; /* UTF-8 byte order mark */
    while (!e && t->cell && t->line && rd < end) {
        if (row_cells == 0) { /* a new row; skip blank lines */
            if (*rd == '\n' || (*rd == '\r' && rd + 1 < end && rd[1] == '\n')) {
                rd += *rd == '\r' ? 2 : 1;
                line++;
                continue;
            }
            if (n_rows == cap_rows) {
                size_t *nl = realloc(t->line, 2 * cap_rows * sizeof *nl);
                if (!nl) break;
                t->line = nl;
                cap_rows *= 2;
            }
            t->line[n_rows] = line;
        }
        char *wr = rd, *start = rd;
        if (*rd == '"') { /* quoted: "" is a quote, anything else literal */
            rd++;
            for (;;) {
                if (rd >= end) {
                    e = fs_error(FS_EDATA, "%s:%zu: a quoted field is not closed", path,
                                 t->line[n_rows]);
                    break;
                }
                if (*rd == '"') {
                    if (rd + 1 < end && rd[1] == '"') {
                        *wr++ = '"';
                        rd += 2;
                        continue;
                    }
                    rd++;
                    break;
                }
                if (*rd == '\n') line++;
                *wr++ = *rd++;
            }
            if (e) break;
            if (rd < end && *rd != delim && *rd != '\n' && *rd != '\r') {
                e = fs_error(FS_EDATA, "%s:%zu: text after a closing quote", path, line);
                break;
            }
        } else {
            while (rd < end && *rd != delim && *rd != '\n' && *rd != '\r') *wr++ = *rd++;
        }
        int row_end = rd >= end || *rd != delim;
        if (rd < end && *rd == '\r') rd++;
        if (rd < end) rd++; /* the delimiter or the line break */
        if (row_end) line++;
        *wr = '\0';
        if (n_cells == cap_cells) {
            char **nc = realloc(t->cell, 2 * cap_cells * sizeof *nc);
            if (!nc) break;
            t->cell = nc;
            cap_cells *= 2;
        }
        t->cell[n_cells++] = start;
        row_cells++;
        if (row_end) {
            if (n_rows == 0) {
                t->n_cols = (int)row_cells;
            } else if (row_cells != (size_t)t->n_cols) {
                e = fs_error(FS_EDATA, "%s:%zu: %zu fields, but the header has %d", path,
                             t->line[n_rows], row_cells, t->n_cols);
                break;
            }
            n_rows++;
            row_cells = 0;
        }
    }
    if (!e && (!t->cell || !t->line)) e = fs_error(FS_ENOMEM, "out of memory reading %s", path);
    if (!e && row_cells != 0) { /* last line without its line break */
        if (n_rows == 0)
            t->n_cols = (int)row_cells;
        else if (row_cells != (size_t)t->n_cols)
            e = fs_error(FS_EDATA, "%s:%zu: %zu fields, but the header has %d", path,
                         t->line[n_rows], row_cells, t->n_cols);
        n_rows++;
    }
    if (!e && n_rows < 2)
        e = fs_error(FS_EDATA, "%s: needs a header line and at least one row", path);
    if (e) {
        csv_free(t);
        return e;
    }
    t->n_rows = n_rows - 1;
    return FS_OK;
}

static int col_index(const csv_table *t, const char *name)
{
    for (int c = 0; c < t->n_cols; c++)
        if (strcmp(cell_at(t, 0, c), name) == 0) return c;
    return -1;
}

static int parse_double(const char *s, double *v)
{
    char *endp;
    errno = 0;
    *v = strtod(s, &endp);
    if (endp == s || errno == ERANGE || !isfinite(*v)) return 0;
    while (isspace((unsigned char)*endp)) endp++;
    return *endp == '\0';
}

static int parse_int(const char *s, long long *v)
{
    char *endp;
    errno = 0;
    *v = strtoll(s, &endp, 10);
    if (endp == s || errno == ERANGE) return 0;
    while (isspace((unsigned char)*endp)) endp++;
    return *endp == '\0';
}

/* Distinct values of a column (over both tables), sorted by strcmp, or numerically when
 * numeric is set (all values integers). */
typedef struct csv_values {
    size_t n;
    const char **v;
    int numeric;
} csv_values;

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int cmp_num(const void *a, const void *b)
{
    long long x = strtoll(*(const char *const *)a, NULL, 10);
    long long y = strtoll(*(const char *const *)b, NULL, 10);
    if (x != y) return x < y ? -1 : 1;
    return cmp_str(a, b);
}

static fs_err collect_values(const csv_table *const *tabs, int n_tabs, int col, int try_numeric,
                             csv_values *out)
{
    memset(out, 0, sizeof *out);
    size_t total = 0;
    for (int i = 0; i < n_tabs; i++) total += tabs[i]->n_rows;
    out->v = malloc((total ? total : 1) * sizeof *out->v);
    if (!out->v) return fs_error(FS_ENOMEM, "out of memory");
    int numeric = try_numeric;
    for (int i = 0; i < n_tabs; i++)
        for (size_t r = 1; r <= tabs[i]->n_rows; r++) {
            const char *s = cell_at(tabs[i], r, col);
            long long iv;
            if (numeric && !parse_int(s, &iv)) numeric = 0;
            out->v[out->n++] = s;
        }
    int (*cmp)(const void *, const void *) = numeric ? cmp_num : cmp_str;
    qsort(out->v, out->n, sizeof *out->v, cmp);
    size_t k = 0;
    for (size_t i = 0; i < out->n; i++)
        if (k == 0 || cmp(&out->v[k - 1], &out->v[i]) != 0) out->v[k++] = out->v[i];
    out->n = k;
    out->numeric = numeric;
    return FS_OK;
}

static size_t value_index(const csv_values *vals, const char *s)
{
    const char **hit =
        bsearch(&s, vals->v, vals->n, sizeof *vals->v, vals->numeric ? cmp_num : cmp_str);
    FS_CHECK(hit != NULL);
    return (size_t)(hit - vals->v);
}

typedef enum col_role { COL_NUMERIC, COL_ONEHOT, COL_LABEL, COL_CLIENT } col_role;

/* An import in progress: the tables and what is learnt about their columns. */
typedef struct csv_import {
    const imp_csv_opts *o;
    csv_table tr, te;
    const csv_table *tabs[2];
    int n_tabs;
    int lc, cc;          /* label and client columns (cc -1: none) */
    col_role *role;      /* (n_cols) */
    csv_values *cats;    /* (n_cols) categories of one-hot columns */
    size_t *col_off;     /* (n_cols) first feature of each column */
    size_t F;            /* features */
    csv_values lab, cli; /* label and client values */
    int keep_labels;     /* labels are integers >= 0, kept as they are */
    long long max_label;
    uint8_t *to_test; /* (n_rows + 1) rows of tr that go to the test split */
    size_t n_test;
} csv_import;

static void csv_import_free(csv_import *ci)
{
    for (int c = 0; ci->cats && c < ci->tr.n_cols; c++) free(ci->cats[c].v);
    free(ci->cats);
    free(ci->lab.v);
    free(ci->cli.v);
    free(ci->role);
    free(ci->col_off);
    free(ci->to_test);
    csv_free(&ci->tr);
    csv_free(&ci->te);
}

/* Read the file(s); the test file's header must be the same; find the label and client
 * columns. */
static fs_err csv_open(csv_import *ci, char delim, uLong *crc)
{
    const imp_csv_opts *o = ci->o;
    fs_err e = csv_read(o->path, delim, &ci->tr, crc);
    if (!e && o->test_path) e = csv_read(o->test_path, delim, &ci->te, crc);
    if (e) return e;
    const csv_table *tr = &ci->tr, *te = &ci->te;
    if (o->test_path) {
        int same = te->n_cols == tr->n_cols;
        for (int c = 0; same && c < tr->n_cols; c++)
            same = strcmp(cell_at(tr, 0, c), cell_at(te, 0, c)) == 0;
        if (!same) return fs_error(FS_EDATA, "%s: header differs from %s's", o->test_path, o->path);
    }
    ci->tabs[0] = tr;
    ci->tabs[1] = te;
    ci->n_tabs = o->test_path ? 2 : 1;
    ci->lc = col_index(tr, o->label);
    ci->cc = o->client ? col_index(tr, o->client) : -1;
    if (ci->lc < 0 || (o->client && ci->cc < 0))
        return fs_error(FS_EINPUT, "%s: no column named '%s' in the header", o->path,
                        ci->lc < 0 ? o->label : o->client);
    if (ci->cc == ci->lc)
        return fs_error(FS_EINPUT, "csv: the label and client columns must differ");
    return FS_OK;
}

/* Column roles (numeric, one-hot, label, client) and the feature layout; empty cells are
 * errors. */
static fs_err csv_columns(csv_import *ci)
{
    const imp_csv_opts *o = ci->o;
    const csv_table *tr = &ci->tr;
    ci->role = calloc((size_t)tr->n_cols, sizeof *ci->role);
    ci->cats = calloc((size_t)tr->n_cols, sizeof *ci->cats);
    ci->col_off = calloc((size_t)tr->n_cols, sizeof *ci->col_off);
    if (!ci->role || !ci->cats || !ci->col_off) return fs_error(FS_ENOMEM, "out of memory");
    fs_err e = FS_OK;
    size_t F = 0;
    for (int c = 0; c < tr->n_cols && !e; c++) {
        col_role *role = &ci->role[c];
        *role = c == ci->lc ? COL_LABEL : c == ci->cc ? COL_CLIENT : COL_NUMERIC;
        for (int i = 0; i < ci->n_tabs && !e; i++)
            for (size_t r = 1; r <= ci->tabs[i]->n_rows; r++) {
                const char *s = cell_at(ci->tabs[i], r, c);
                double v;
                if (s[strspn(s, " \t")] == '\0') {
                    e = fs_error(FS_EDATA,
                                 "%s:%zu: column '%s' is empty (missing values are not supported)",
                                 ci->tabs[i]->path, ci->tabs[i]->line[r], cell_at(tr, 0, c));
                    break;
                }
                if (*role == COL_NUMERIC && !parse_double(s, &v)) *role = COL_ONEHOT;
            }
        if (e) break;
        ci->col_off[c] = F;
        if (*role == COL_NUMERIC) F++;
        if (*role == COL_ONEHOT) {
            e = collect_values(ci->tabs, ci->n_tabs, c, 0, &ci->cats[c]);
            if (!e && ci->cats[c].n > CSV_MAX_CATEGORIES)
                e = fs_error(FS_EDATA,
                             "%s: column '%s' has %zu distinct non-numeric values; one-hot "
                             "encoding is limited to %d (an id column? name it with --client)",
                             o->path, cell_at(tr, 0, c), ci->cats[c].n, CSV_MAX_CATEGORIES);
            F += ci->cats[c].n;
        }
    }
    ci->F = F;
    return e;
}

/* The label and client values; labels that are integers >= 0 are kept as they are, anything
 * else is numbered in sorted order. */
static fs_err csv_labels(csv_import *ci)
{
    const imp_csv_opts *o = ci->o;
    fs_err e = FS_OK;
    if (ci->F == 0) e = fs_error(FS_EDATA, "%s: no feature columns besides the label", o->path);
    if (!e) e = collect_values(ci->tabs, ci->n_tabs, ci->lc, 1, &ci->lab);
    if (!e && ci->cc >= 0) e = collect_values(ci->tabs, ci->n_tabs, ci->cc, 1, &ci->cli);
    if (e) return e;
    ci->keep_labels = ci->lab.numeric;
    ci->max_label = 0;
    for (size_t i = 0; ci->keep_labels && i < ci->lab.n; i++) {
        long long v = strtoll(ci->lab.v[i], NULL, 10);
        if (v < 0 || v > CSV_MAX_LABEL) ci->keep_labels = 0;
        if (v > ci->max_label) ci->max_label = v;
    }
    if (!ci->keep_labels && ci->lab.n > CSV_MAX_CATEGORIES)
        return fs_error(FS_EDATA, "%s: label column '%s' has %zu distinct values", o->path,
                        o->label, ci->lab.n);
    return FS_OK;
}

/* Test rows: the test file, or floor(frac * n_g) random rows of each client group (stream
 * (RNG_PARTITION, group, 2^60)). */
static fs_err csv_split(csv_import *ci, double frac)
{
    const csv_table *tr = &ci->tr;
    const int cc = ci->cc;
    ci->to_test = calloc(tr->n_rows + 1, 1);
    uint32_t *grp = calloc(tr->n_rows + 1, sizeof *grp);
    const size_t n_groups = cc >= 0 ? ci->cli.n : 1;
    size_t *gcount = calloc(n_groups + 1, sizeof *gcount);
    size_t *fill = NULL;
    fs_err e = FS_OK;
    ci->n_test = ci->te.n_rows;
    if (!ci->to_test || !grp || !gcount) {
        e = fs_error(FS_ENOMEM, "out of memory");
        goto out;
    }
    if (!ci->o->test_path && frac > 0) {
        /* rows of each group, listed group by group (counting sort), then shuffled per group */
        for (size_t r = 1; r <= tr->n_rows; r++)
            gcount[(cc >= 0 ? value_index(&ci->cli, cell_at(tr, r, cc)) : 0) + 1]++;
        for (size_t g = 0; g < n_groups; g++) gcount[g + 1] += gcount[g];
        if (!(fill = calloc(n_groups, sizeof *fill))) {
            e = fs_error(FS_ENOMEM, "out of memory");
            goto out;
        }
        for (size_t r = 1; r <= tr->n_rows; r++) {
            size_t g = cc >= 0 ? value_index(&ci->cli, cell_at(tr, r, cc)) : 0;
            grp[gcount[g] + fill[g]++] = (uint32_t)r;
        }
        for (size_t g = 0; g < n_groups; g++) {
            size_t ng = gcount[g + 1] - gcount[g], nt = (size_t)floor(frac * (double)ng);
            rng_t r;
            rng_init(&r, ci->o->seed, RNG_PARTITION, g, 1ull << 60);
            rng_shuffle_u32(&r, grp + gcount[g], ng);
            for (size_t j = ng - nt; j < ng; j++) ci->to_test[grp[gcount[g] + j]] = 1;
            ci->n_test += nt;
        }
    }
out:
    free(fill);
    free(grp);
    free(gcount);
    return e;
}

/* The dataset: its shape and classes, then every row encoded into its split. */
static fs_err csv_fill(const csv_import *ci, dataset *ds)
{
    const imp_csv_opts *o = ci->o;
    const csv_table *tr = &ci->tr;
    const int cc = ci->cc;
    const size_t F = ci->F, n_test = ci->n_test;
    ds->dtype = DS_F32;
    ds->task = DS_CLASSIFY;
    ds->shape[0] = ds->shape[1] = 1;
    ds->shape[2] = (int)F;
    ds->feat = F;
    ds->y_len = 1;
    ds->n_classes =
        ci->keep_labels ? (int)(ci->max_label + 1 < 2 ? 2 : ci->max_label + 1) : (int)ci->lab.n;
    if (ds->n_classes < 2) ds->n_classes = 2;
    ds->x_scale = 1.0f;
    ds->n_natural = cc >= 0 ? (int)ci->cli.n : 0;
    const size_t n_train = tr->n_rows - (o->test_path ? 0 : n_test);
    fs_err e;
    if ((e = ds_split_alloc(ds, &ds->train, n_train, cc >= 0))) return e;
    if ((e = ds_split_alloc(ds, &ds->test, n_test, cc >= 0))) return e;
    size_t rtr = 0, rte = 0;
    for (int i = 0; i < ci->n_tabs; i++)
        for (size_t r = 1; r <= ci->tabs[i]->n_rows; r++) {
            const int test = i == 1 || ci->to_test[r];
            ds_split *s = test ? &ds->test : &ds->train;
            size_t row = test ? rte++ : rtr++;
            float *x = (float *)s->x + row * F;
            for (int c = 0; c < tr->n_cols; c++) {
                const char *v = cell_at(ci->tabs[i], r, c);
                double d;
                switch (ci->role[c]) {
                case COL_NUMERIC:
                    parse_double(v, &d);
                    x[ci->col_off[c]] = (float)d;
                    break;
                case COL_ONEHOT:
                    x[ci->col_off[c] + value_index(&ci->cats[c], v)] = 1.0f;
                    break;
                case COL_LABEL:
                    s->y[row] = ci->keep_labels ? (int32_t)strtoll(v, NULL, 10)
                                                : (int32_t)value_index(&ci->lab, v);
                    break;
                case COL_CLIENT:
                    s->client[row] = (int32_t)value_index(&ci->cli, v);
                    break;
                }
            }
        }
    FS_CHECK(rtr == n_train && rte == n_test);
    if (cc >= 0 && (e = ds_names_set(&ds->client_names, (int)ci->cli.n, ci->cli.v))) return e;
    if (!ci->keep_labels && (e = ds_names_set(&ds->class_names, (int)ci->lab.n, ci->lab.v)))
        return e;
    return FS_OK;
}

fs_err imp_csv(const imp_csv_opts *o, dataset *ds)
{
    memset(ds, 0, sizeof *ds);
    if (!o->path || !o->label)
        return fs_error(FS_EINPUT, "csv: a file and --label COLUMN are needed");
    const double frac = o->test_fraction >= 0 ? o->test_fraction : IMP_DEFAULT_TEST_FRACTION;
    if (frac >= 1) return fs_error(FS_EINPUT, "csv: --test-fraction must be in [0, 1)");
    csv_import ci;
    memset(&ci, 0, sizeof ci);
    ci.o = o;
    uLong crc = crc32(0L, Z_NULL, 0);
    fs_err e = csv_open(&ci, o->delim ? o->delim : ',', &crc);
    if (!e) e = csv_columns(&ci);
    if (!e) e = csv_labels(&ci);
    if (!e) e = csv_split(&ci, frac);
    if (!e) e = csv_fill(&ci, ds);
    if (!e) {
        const char *base = strrchr(o->path, '/');
        base = base ? base + 1 : o->path;
        snprintf(ds->name, sizeof ds->name, "%.*s", (int)strcspn(base, "."), base);
        snprintf(ds->source, sizeof ds->source, "CSV: %s%s%s, label %s%s%s", o->path,
                 o->test_path ? " + " : "", o->test_path ? o->test_path : "", o->label,
                 o->client ? ", client " : "", o->client ? o->client : "");
        imp_set_date(ds);
        snprintf(ds->checksum, sizeof ds->checksum, "crc32:%08lx", crc);
    }
    if (e) ds_free(ds);
    csv_import_free(&ci);
    return e;
}
