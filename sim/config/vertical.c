/* vertical.parties: parser, data-free checks, JSON and docs row (see vertical.h). Every error
 * names the entry or field at fault as file:line:col with a hint, like the rest of the
 * scenario parser. No global state. */
#include "config/vertical.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define RANGES_MAX  64       /* ranges in one columns/rows/cols value */
#define FEATURE_MAX 10000000 /* largest feature index a range may name */

static const char party_fields[] = "name|role|columns|rows|cols|flops|up_bps|down_bps|latency_s|"
                                   "coverage|unique_ids|dropout|rejoin_s|straggler_p|"
                                   "straggler_factor";

/* ---- diagnostics -------------------------------------------------------------------------- */

static void at(cfg_diag *d, const char *file, int line, int col)
{
    memset(d, 0, sizeof *d);
    snprintf(d->file, sizeof d->file, "%s", file ? file : "scenario");
    d->line = line;
    d->col = col;
}

static fs_err done(cfg_diag *d, const char *hint, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static fs_err done(cfg_diag *d, const char *hint, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(d->msg, sizeof d->msg, fmt, ap);
    va_end(ap);
    snprintf(d->hint, sizeof d->hint, "%s", hint ? hint : "");
    if (d->line > 0) return fs_error(FS_EINPUT, "%s:%d:%d: %s", d->file, d->line, d->col, d->msg);
    return fs_error(FS_EINPUT, "%s: %s", d->file, d->msg);
}

typedef struct pparse {
    const char *file;
    int set_index, col_shift;
    cfg_diag *d;
} pparse;

static void at_node(pparse *x, const ynode *n)
{
    at(x->d, x->file, x->set_index > 0 ? x->set_index : n->line, n->col + x->col_shift);
}

void cfg_vertical_at(cfg_diag *d, const cfg *c, const char *file, int party, int field)
{
    const cfg_party *p = &c->vertical.parties[party];
    const int given = field >= 0 && field < 8 && p->fline[field] > 0;
    at(d, p->set_index > 0 ? "--set" : file, given ? p->fline[field] : p->line,
       given ? p->fcol[field] : p->col);
}

void cfg_vertical_at_list(cfg_diag *d, const cfg *c, const char *file)
{
    const cfg_origin *o = &c->vertical.parties_origin;
    at(d, o->set_index > 0 ? "--set" : file, o->line, o->line > 0 ? o->col : 0);
}

/* Position of a key of the table (its origin), for the cross-key messages. */
static void at_key(cfg_diag *d, const cfg *c, const char *file, const char *path)
{
    const int ki = cfg_key_index(path);
    const cfg_origin *o = &c->origin[ki];
    at(d, o->set_index > 0 ? "--set" : file, o->line, o->line > 0 ? o->col : 0);
}

/* ---- ranges ------------------------------------------------------------------------------- */

static int parse_uint(const char **p, long *out)
{
    const char *s = *p;
    if (!isdigit((unsigned char)*s)) return 0;
    errno = 0;
    char *end;
    long v = strtol(s, &end, 10);
    if (errno || v > FEATURE_MAX) return 0;
    *out = v;
    *p = end;
    return 1;
}

/* One "a" or "a-b" piece (spaces allowed around) into lo, hi. */
static int parse_piece(const char *s, size_t len, long *lo, long *hi)
{
    char buf[64];
    if (len >= sizeof buf) return 0;
    memcpy(buf, s, len);
    buf[len] = '\0';
    const char *p = buf;
    while (*p == ' ') p++;
    if (!parse_uint(&p, lo)) return 0;
    while (*p == ' ') p++;
    *hi = *lo;
    if (*p == '-') {
        p++;
        while (*p == ' ') p++;
        if (!parse_uint(&p, hi)) return 0;
        while (*p == ' ') p++;
    }
    return *p == '\0' && *lo <= *hi;
}

fs_err cfg_ranges_parse(const char *s, int *lo, int *hi, int cap, int *n)
{
    *n = 0;
    while (*s == ' ') s++;
    if (!*s) return FS_OK;
    for (const char *p = s;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        long a, b;
        if (*n >= cap || !parse_piece(p, len, &a, &b))
            return fs_error(FS_EINPUT, "bad feature range '%.*s'", (int)len, p);
        lo[*n] = (int)a;
        hi[*n] = (int)b;
        (*n)++;
        if (!comma) break;
        p = comma + 1;
    }
    return FS_OK;
}

/* A ranges field: a scalar "0-9, 12" or a list of scalars (numbers or "a-b"), normalised into
 * out as "a-b,c". */
static fs_err parse_ranges(pparse *x, int i, const char *field, const ynode *v, char *out,
                           size_t cap)
{
    static const char hint[] = "give feature indices as ranges, e.g. \"0-9\" or [0-9, 12] "
                               "(0-based, inclusive)";
    const ynode *items[RANGES_MAX];
    int n = 0;
    if (v->kind == YN_SCALAR && !yn_is_null(v)) {
        items[n++] = v;
    } else if (v->kind == YN_SEQ && v->n > 0 && v->n <= RANGES_MAX) {
        for (int k = 0; k < v->n; k++) items[n++] = v->kid[k];
    } else {
        at_node(x, v);
        return done(x->d, hint, "vertical.parties[%d].%s must be ranges of feature indices", i,
                    field);
    }
    size_t o = 0;
    out[0] = '\0';
    for (int k = 0; k < n; k++) {
        const ynode *e = items[k];
        if (e->kind != YN_SCALAR || yn_is_null(e)) {
            at_node(x, e);
            return done(x->d, hint, "vertical.parties[%d].%s: an entry is not a range", i, field);
        }
        int lo[RANGES_MAX], hi[RANGES_MAX], m;
        if (cfg_ranges_parse(e->text, lo, hi, RANGES_MAX, &m) != FS_OK || m == 0) {
            at_node(x, e);
            return done(x->d, hint, "vertical.parties[%d].%s: '%s' is not a range like 0-9", i,
                        field, e->text);
        }
        for (int r = 0; r < m; r++) {
            int w = lo[r] == hi[r]
                        ? snprintf(out + o, cap - o, "%s%d", o ? "," : "", lo[r])
                        : snprintf(out + o, cap - o, "%s%d-%d", o ? "," : "", lo[r], hi[r]);
            if (w < 0 || (size_t)w >= cap - o) {
                at_node(x, e);
                return done(x->d, "merge adjacent ranges", "vertical.parties[%d].%s is too long", i,
                            field);
            }
            o += (size_t)w;
        }
    }
    int lo[RANGES_MAX], hi[RANGES_MAX], m;
    if (cfg_ranges_parse(out, lo, hi, RANGES_MAX, &m) != FS_OK) {
        at_node(x, v);
        return done(x->d, "at most 64 ranges", "vertical.parties[%d].%s has too many ranges", i,
                    field);
    }
    for (int a = 0; a < m; a++)
        for (int b = 0; b < a; b++)
            if (lo[a] <= hi[b] && lo[b] <= hi[a]) {
                at_node(x, v);
                return done(x->d, "give each index once",
                            "vertical.parties[%d].%s names index %d twice", i, field,
                            lo[a] > lo[b] ? lo[a] : lo[b]);
            }
    return FS_OK;
}

/* ---- numbers ------------------------------------------------------------------------------ */

static fs_err parse_num(pparse *x, int i, const char *field, const ynode *v, double lo, double hi,
                        int open_lo, double *out)
{
    char h[160];
    snprintf(h, sizeof h, "allowed: %g%s ... %g", lo, open_lo ? " (exclusive)" : "", hi);
    double val = NAN;
    if (v->kind == YN_SCALAR && v->plain && !yn_is_null(v)) {
        char *end;
        errno = 0;
        val = strtod(v->text, &end);
        if (*end || errno || !isfinite(val)) val = NAN;
    }
    if (isnan(val)) {
        at_node(x, v);
        return done(x->d, h, "vertical.parties[%d].%s must be a number, got %s%s%s", i, field,
                    v->kind == YN_SCALAR ? "'" : "a structure",
                    v->kind == YN_SCALAR ? (v->text ? v->text : "") : "",
                    v->kind == YN_SCALAR ? "'" : "");
    }
    if (val < lo || val > hi || (open_lo && val == lo)) {
        at_node(x, v);
        return done(x->d, h, "vertical.parties[%d].%s = %s is out of range", i, field, v->text);
    }
    *out = val;
    return FS_OK;
}

static int in_list(const char *list, const char *s)
{
    size_t n = strlen(s);
    for (const char *p = list; *p;) {
        const char *bar = strchr(p, '|');
        size_t len = bar ? (size_t)(bar - p) : strlen(p);
        if (len == n && strncmp(p, s, n) == 0) return 1;
        p += len + (bar ? 1 : 0);
    }
    return 0;
}

/* The closest field name within two edits, or NULL. */
static const char *closest_field(const char *s, char *buf, size_t cap)
{
    int best = 3;
    const char *found = NULL;
    for (const char *p = party_fields; *p;) {
        const char *bar = strchr(p, '|');
        size_t len = bar ? (size_t)(bar - p) : strlen(p);
        char w[32];
        snprintf(w, sizeof w, "%.*s", (int)len, p);
        int dist = cfg_edit_distance(s, w);
        if (dist < best) {
            best = dist;
            snprintf(buf, cap, "%s", w);
            found = buf;
        }
        p += len + (bar ? 1 : 0);
    }
    return found;
}

static void party_defaults(cfg_party *p)
{
    memset(p, 0, sizeof *p);
    snprintf(p->role, sizeof p->role, "passive");
    p->latency_s = -1;
    p->coverage = 1;
    p->rejoin_s = 30;
    p->straggler_factor = 4;
}

static fs_err parse_party(pparse *x, cfg *c, int i, const ynode *e, cfg_party *p)
{
    party_defaults(p);
    p->line = x->set_index > 0 ? x->set_index : e->line;
    p->col = e->col + x->col_shift;
    p->set_index = x->set_index;
    if (e->kind != YN_MAP) {
        at_node(x, e);
        return done(x->d,
                    "write each party as a mapping, e.g. - {name: bank, role: active, "
                    "columns: \"0-9\"}",
                    "vertical.parties[%d] must be a mapping", i);
    }
    int have_name = 0;
    for (int k = 0; k + 1 < e->n; k += 2) {
        const ynode *key = e->kid[k], *v = e->kid[k + 1];
        if (key->kind != YN_SCALAR || yn_is_null(key)) {
            at_node(x, key);
            return done(x->d, "fields are plain names like name or columns",
                        "vertical.parties[%d]: a field name must be a plain name", i);
        }
        const char *f = key->text;
        for (int j = 0; j < k; j += 2)
            if (e->kid[j]->kind == YN_SCALAR && strcmp(e->kid[j]->text, f) == 0) {
                at_node(x, key);
                return done(x->d, "give each field once",
                            "vertical.parties[%d]: duplicate field "
                            "'%s'",
                            i, f);
            }
        if (!in_list(party_fields, f)) {
            char buf[32], h[320];
            const char *near = closest_field(f, buf, sizeof buf);
            if (near)
                snprintf(h, sizeof h, "did you mean '%s'?", near);
            else
                snprintf(h, sizeof h,
                         "fields: name, role, columns, rows, cols, flops, up_bps, "
                         "down_bps, latency_s, coverage, unique_ids, dropout, "
                         "rejoin_s, straggler_p, straggler_factor");
            at_node(x, key);
            return done(x->d, h, "vertical.parties[%d]: unknown field '%s'", i, f);
        }
        const int fi = strcmp(f, "name") == 0      ? CFG_PF_NAME
                       : strcmp(f, "role") == 0    ? CFG_PF_ROLE
                       : strcmp(f, "columns") == 0 ? CFG_PF_COLUMNS
                       : strcmp(f, "rows") == 0    ? CFG_PF_ROWS
                       : strcmp(f, "cols") == 0    ? CFG_PF_COLS
                                                   : -1;
        if (fi >= 0) {
            p->fline[fi] = x->set_index > 0 ? x->set_index : v->line;
            p->fcol[fi] = v->col + x->col_shift;
        }
        fs_err rc = FS_OK;
        double num;
        if (strcmp(f, "name") == 0) {
            if (v->kind != YN_SCALAR || yn_is_null(v) || v->len >= CFG_PARTY_NAME ||
                strpbrk(v->text, " /=,\"")) {
                at_node(x, v);
                return done(x->d,
                            "a name of 1 to 31 characters without spaces, '/', '=', ',' or "
                            "quotes",
                            "vertical.parties[%d].name is not a valid party name", i);
            }
            snprintf(p->name, sizeof p->name, "%s", v->text);
            have_name = 1;
            for (int j = 0; j < i; j++)
                if (strcmp(c->vertical.parties[j].name, p->name) == 0) {
                    at_node(x, v);
                    return done(x->d, "party names must be unique",
                                "vertical.parties[%d]: name '%s' is already used by "
                                "vertical.parties[%d]",
                                i, p->name, j);
                }
        } else if (strcmp(f, "role") == 0) {
            if (v->kind != YN_SCALAR || !in_list("active|passive|coordinator", v->text)) {
                at_node(x, v);
                return done(x->d,
                            "roles: active (owns the labels), passive (features only), "
                            "coordinator (hetero_lr: holds the Paillier key, no data)",
                            "vertical.parties[%d].role must be active, passive or coordinator", i);
            }
            snprintf(p->role, sizeof p->role, "%s", v->text);
        } else if (strcmp(f, "columns") == 0) {
            rc = parse_ranges(x, i, f, v, p->columns, sizeof p->columns);
        } else if (strcmp(f, "rows") == 0) {
            rc = parse_ranges(x, i, f, v, p->rows, sizeof p->rows);
        } else if (strcmp(f, "cols") == 0) {
            rc = parse_ranges(x, i, f, v, p->cols, sizeof p->cols);
        } else if (strcmp(f, "flops") == 0) {
            rc = parse_num(x, i, f, v, 0, 1e18, 1, &p->flops);
        } else if (strcmp(f, "up_bps") == 0) {
            rc = parse_num(x, i, f, v, 0, 1e12, 1, &p->up_bps);
        } else if (strcmp(f, "down_bps") == 0) {
            rc = parse_num(x, i, f, v, 0, 1e12, 1, &p->down_bps);
        } else if (strcmp(f, "latency_s") == 0) {
            rc = parse_num(x, i, f, v, 0, 3600, 0, &p->latency_s);
        } else if (strcmp(f, "coverage") == 0) {
            rc = parse_num(x, i, f, v, 0, 1, 0, &p->coverage);
        } else if (strcmp(f, "unique_ids") == 0) {
            rc = parse_num(x, i, f, v, 0, 1e8, 0, &num);
            if (!rc && num != floor(num)) {
                at_node(x, v);
                return done(x->d, "a whole number of IDs",
                            "vertical.parties[%d].unique_ids "
                            "must be an integer",
                            i);
            }
            p->unique_ids = (int)num;
        } else if (strcmp(f, "dropout") == 0) {
            rc = parse_num(x, i, f, v, 0, 0.9, 0, &p->dropout);
        } else if (strcmp(f, "rejoin_s") == 0) {
            rc = parse_num(x, i, f, v, 0, 1e9, 0, &p->rejoin_s);
        } else if (strcmp(f, "straggler_p") == 0) {
            rc = parse_num(x, i, f, v, 0, 1, 0, &p->straggler_p);
        } else if (strcmp(f, "straggler_factor") == 0) {
            rc = parse_num(x, i, f, v, 1, 1e6, 0, &p->straggler_factor);
        }
        if (rc) return rc;
    }
    if (!have_name) {
        at_node(x, e);
        return done(x->d, "e.g. - {name: bank, role: active, columns: \"0-9\"}",
                    "vertical.parties[%d] has no name", i);
    }
    return FS_OK;
}

fs_err cfg_vertical_parse_parties(cfg *c, const ynode *v, const char *file, int set_index,
                                  int col_shift, cfg_diag *d)
{
    pparse x = {file, set_index, col_shift, d};
    if (v->kind != YN_SEQ) {
        at_node(&x, v);
        return done(d,
                    "one entry per party, e.g.\n    parties:\n      - {name: bank, role: active, "
                    "columns: \"0-9\"}\n      - {name: shop, columns: \"10-29\"}",
                    "vertical.parties must be a list, got %s",
                    yn_is_null(v) ? "an empty value" : "a single value or mapping");
    }
    if (v->n > CFG_PARTIES_MAX) {
        at_node(&x, v);
        char h[64];
        snprintf(h, sizeof h, "at most %d parties", CFG_PARTIES_MAX);
        return done(d, h, "vertical.parties has %d entries, too many", v->n);
    }
    c->vertical.n_parties = 0;
    for (int i = 0; i < v->n; i++) {
        fs_err rc = parse_party(&x, c, i, v->kid[i], &c->vertical.parties[i]);
        if (rc) return rc;
        c->vertical.n_parties = i + 1;
    }
    return FS_OK;
}

/* ---- data-free checks --------------------------------------------------------------------- */

static int is_coord(const cfg_party *p)
{
    return strcmp(p->role, "coordinator") == 0;
}

/* First overlap of two range lists: 1 and the index range in *a, *b. */
static int ranges_overlap(const char *x, const char *y, int *a, int *b)
{
    int xl[RANGES_MAX], xh[RANGES_MAX], yl[RANGES_MAX], yh[RANGES_MAX], nx, ny;
    if (!*x || !*y) return 0;
    if (cfg_ranges_parse(x, xl, xh, RANGES_MAX, &nx) ||
        cfg_ranges_parse(y, yl, yh, RANGES_MAX, &ny))
        return 0;
    for (int i = 0; i < nx; i++)
        for (int j = 0; j < ny; j++)
            if (xl[i] <= yh[j] && yl[j] <= xh[i]) {
                *a = xl[i] > yl[j] ? xl[i] : yl[j];
                *b = xh[i] < yh[j] ? xh[i] : yh[j];
                return 1;
            }
    return 0;
}

/* An empty rows or cols list means every row or column: overlaps anything. */
static int block_axis_overlap(const char *x, const char *y)
{
    int a, b;
    if (!*x || !*y) return 1;
    return ranges_overlap(x, y, &a, &b);
}

fs_err cfg_vertical_validate(const cfg *c, const char *file, cfg_diag *d)
{
    const int vertical = strcmp(c->federation, "vertical") == 0;
    const int n = c->vertical.n_parties;
    const int lr = strcmp(c->vertical.algorithm, "hetero_lr") == 0;
    if (!vertical) {
        if (n == 0) return FS_OK;
        cfg_vertical_at_list(d, c, file);
        return done(d, "set federation: vertical (docs/vertical.md)",
                    "vertical.parties is given but federation = horizontal");
    }
    if (n == 0) {
        at_key(d, c, file, "federation");
        return done(d,
                    "list the parties, e.g.\n  vertical:\n    parties:\n      - {name: bank, role: "
                    "active, columns: \"0-9\"}\n      - {name: shop, columns: \"10-29\"}",
                    "federation = vertical needs vertical.parties");
    }
    if (c->vertical.key_bits % 2) {
        at_key(d, c, file, "vertical.key_bits");
        return done(d, "|n| = |p| + |q| with primes of equal size: use 2048, 3072, 4096",
                    "vertical.key_bits = %d is odd", c->vertical.key_bits);
    }
    int active = -1, coord = -1, data = 0;
    for (int i = 0; i < n; i++) {
        const cfg_party *p = &c->vertical.parties[i];
        if (strcmp(p->role, "active") == 0) {
            if (active >= 0) {
                cfg_vertical_at(d, c, file, i, CFG_PF_ROLE);
                char h[160];
                snprintf(h, sizeof h,
                         "party '%s' already owns the labels; make this one role: "
                         "passive",
                         c->vertical.parties[active].name);
                return done(d, h, "vertical.parties[%d] ('%s') is a second active party", i,
                            p->name);
            }
            active = i;
        }
        if (is_coord(p)) {
            if (!lr) {
                cfg_vertical_at(d, c, file, i, CFG_PF_ROLE);
                return done(d,
                            "splitnn has no coordinator: the active party computes the top "
                            "model (drop this party)",
                            "vertical.parties[%d] ('%s') is a coordinator but vertical.algorithm "
                            "= splitnn",
                            i, p->name);
            }
            if (coord >= 0) {
                cfg_vertical_at(d, c, file, i, CFG_PF_ROLE);
                return done(d, "one party holds the Paillier key",
                            "vertical.parties[%d] ('%s') is a second coordinator", i, p->name);
            }
            coord = i;
            const int f = p->columns[0] ? CFG_PF_COLUMNS : p->rows[0] ? CFG_PF_ROWS : CFG_PF_COLS;
            if (p->columns[0] || p->rows[0] || p->cols[0]) {
                cfg_vertical_at(d, c, file, i, f);
                return done(d, "a coordinator holds no data: remove its feature group",
                            "vertical.parties[%d] ('%s') is a coordinator with features", i,
                            p->name);
            }
            continue;
        }
        data++;
        if (!p->columns[0] && !p->rows[0] && !p->cols[0]) {
            cfg_vertical_at(d, c, file, i, -1);
            return done(d,
                        "give its feature group: columns: \"0-9\" (feature indices) or rows: "
                        "\"0-27\" and cols: \"0-13\" (a pixel block of an image dataset)",
                        "vertical.parties[%d] ('%s') has no feature group", i, p->name);
        }
        if (p->columns[0] && (p->rows[0] || p->cols[0])) {
            cfg_vertical_at(d, c, file, i, CFG_PF_COLUMNS);
            return done(d, "use columns (flat feature indices) or rows and cols (a pixel block)",
                        "vertical.parties[%d] ('%s') gives both columns and rows/cols", i, p->name);
        }
    }
    if (active < 0) {
        cfg_vertical_at_list(d, c, file);
        return done(d, "mark the party that holds the label column with role: active",
                    "no party owns the labels: vertical.%s needs one active party",
                    c->vertical.algorithm);
    }
    if (data < 2) {
        cfg_vertical_at_list(d, c, file);
        return done(d, "vertical learning splits the features among at least two parties",
                    "vertical.parties has %d data part%s", data, data == 1 ? "y" : "ies");
    }
    /* the same feature or pixel owned twice, where both use the same form */
    for (int i = 0; i < n; i++) {
        const cfg_party *p = &c->vertical.parties[i];
        if (is_coord(p)) continue;
        for (int j = 0; j < i; j++) {
            const cfg_party *q = &c->vertical.parties[j];
            if (is_coord(q)) continue;
            int a, b;
            char h[200];
            if (p->columns[0] && q->columns[0] && ranges_overlap(p->columns, q->columns, &a, &b)) {
                cfg_vertical_at(d, c, file, i, CFG_PF_COLUMNS);
                snprintf(h, sizeof h, "every feature belongs to one party; '%s' has columns %s",
                         q->name, q->columns);
                if (a == b)
                    return done(d, h, "feature %d of party '%s' also belongs to party '%s'", a,
                                p->name, q->name);
                return done(d, h, "features %d-%d of party '%s' also belong to party '%s'", a, b,
                            p->name, q->name);
            }
            if (!p->columns[0] && !q->columns[0] && block_axis_overlap(p->rows, q->rows) &&
                block_axis_overlap(p->cols, q->cols)) {
                cfg_vertical_at(d, c, file, i, p->rows[0] ? CFG_PF_ROWS : CFG_PF_COLS);
                snprintf(h, sizeof h,
                         "every pixel belongs to one party; '%s' has rows %s, cols %s (empty: "
                         "all)",
                         q->name, q->rows[0] ? q->rows : "all", q->cols[0] ? q->cols : "all");
                return done(d, h, "the pixel block of party '%s' overlaps party '%s''s", p->name,
                            q->name);
            }
        }
    }
    return FS_OK;
}

/* ---- renderings --------------------------------------------------------------------------- */

static void json_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (const char *p = s; *p; p++) {
        if (*p == '"' || *p == '\\') fputc('\\', f);
        fputc(*p, f);
    }
    fputc('"', f);
}

void cfg_vertical_json(FILE *f, const cfg *c)
{
    fputs("\"vertical.parties\": [", f);
    for (int i = 0; i < c->vertical.n_parties; i++) {
        const cfg_party *p = &c->vertical.parties[i];
        fputs(i ? ", {\"name\": " : "{\"name\": ", f);
        json_str(f, p->name);
        fputs(", \"role\": ", f);
        json_str(f, p->role);
        fputs(", \"columns\": ", f);
        json_str(f, p->columns);
        fputs(", \"rows\": ", f);
        json_str(f, p->rows);
        fputs(", \"cols\": ", f);
        json_str(f, p->cols);
        fprintf(f,
                ", \"flops\": %.17g, \"up_bps\": %.17g, \"down_bps\": %.17g, \"latency_s\": "
                "%.17g, \"coverage\": %.17g, \"unique_ids\": %d, \"dropout\": %.17g, "
                "\"rejoin_s\": %.17g, \"straggler_p\": %.17g, \"straggler_factor\": %.17g}",
                p->flops, p->up_bps, p->down_bps, p->latency_s, p->coverage, p->unique_ids,
                p->dropout, p->rejoin_s, p->straggler_p, p->straggler_factor);
    }
    fputc(']', f);
}

void cfg_vertical_markdown(FILE *out)
{
    fprintf(out,
            "| `vertical.parties` | list of parties | `[]` | up to %d entries, each `{name: N, "
            "...}` with the fields role (`active`: owns the labels, `passive` (default), "
            "`coordinator`: hetero_lr's key holder, no data), columns (feature ranges like "
            "`\"0-9, 12\"`) or rows and cols (a pixel block of an image dataset; empty: all), "
            "flops, up_bps, down_bps (default: the medians of devices.flops, network.up_bps, "
            "network.down_bps), latency_s (default network.latency_s.median), coverage (fraction "
            "of the samples it holds, 1), unique_ids (IDs only it has, 0), dropout (per-step "
            "probability, 0), rejoin_s (30), straggler_p (0), straggler_factor (4) | vertical: "
            "the parties; every feature belongs to exactly one data party (docs/vertical.md) "
            "|\n",
            CFG_PARTIES_MAX);
}
