/* The vertical section (vertical federated learning, docs/vertical.md): the vertical.* keys of
 * the table, the vertical.parties list (a cfg_list_key: parser, JSON, docs row), and the checks
 * that need no data (see vertical.h). Every error names the entry or field at fault as
 * file:line:col with a hint, like the rest of the scenario parser. No global state. */
#include "config/vertical.h"
#include "config/config_int.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define RANGES_MAX  64       /* ranges in one columns/rows/cols value */
#define FEATURE_MAX 10000000 /* largest feature index a range may name */

const cfg_key cfg_keys_vertical[] = {
    K_ENUM("vertical.algorithm", vertical.algorithm, "hetero_lr", "hetero_lr|splitnn",
           "vertical: hetero logistic regression with a Taylor loss (Hardy et al. 2017, FATE) or "
           "a split neural network (bottom models per party, top model at the active party)"),
    K_ENUM("vertical.encryption", vertical.encryption, "none", "none|paillier",
           "vertical: paillier encrypts what the protocol exchanges (real Paillier on GMP; its "
           "cost charged to virtual time); none: the same protocol in plaintext"),
    K_INT("vertical.key_bits", vertical.key_bits, "2048", 2048, 16384,
          "vertical: Paillier modulus size in bits, the length of n (even; 2048 is 112-bit "
          "security; a "
          "ciphertext is twice that on the wire)"),
    K_INT("vertical.frac_bits", vertical.frac_bits, "24", 4, 48,
          "vertical: fixed-point fraction bits of encrypted values (a value x is encrypted as "
          "round(x 2^f); products carry 2f)"),
    K_ENUM("vertical.randomness", vertical.randomness, "system", "system|keyed",
           "vertical: randomness of keys, ciphertexts, masks and PSI: the OS CSPRNG, or keyed "
           "from the seed (reproducible ciphertexts; SIMULATION ONLY, protects nothing); the "
           "metrics do not depend on it"),
    K_ENUM("vertical.psi", vertical.psi, "true", "true|false",
           "vertical: align the parties' sample IDs with Diffie-Hellman PSI (its bytes and time "
           "charged); false: the intersection is computed in the clear at no cost"),
    K_ENUM("vertical.intercept", vertical.intercept, "true", "true|false",
           "hetero_lr: the active party fits an intercept"),
    K_INT("vertical.embedding_dim", vertical.embedding_dim, "64", 1, 65536,
          "splitnn: output width of every party's bottom model (the model section, with this "
          "many outputs instead of the classes)"),
    K_LIST(
        "vertical.top_hidden", vertical.top_hidden, "[64]", 1, 65536,
        "splitnn: hidden widths (ReLU) of the top model; its first layer is the interactive layer "
        "that mixes the parties' embeddings ([]: it gives the logits)"),
    K_FLT("vertical.embedding_noise", vertical.embedding_noise, "0", 0, 1e6, 0,
          "splitnn: standard deviation of Gaussian noise each passive party adds to the "
          "embeddings it sends (0: none)"),
    K_ENUM("vertical.central", vertical.central, "false", "false|true",
           "vertical: the centralised baseline instead: the same algorithm trained by one party "
           "holding every party's columns of the aligned samples (no exchange, no encryption)"),
    K_FLT("vertical.crypto_ref_flops", vertical.crypto_ref_flops, "2e10", 0, 1e18, CFG_OPEN_MIN,
          "vertical: FLOP/s of the machine the crypto unit costs were measured on; a party of "
          "FLOP/s f spends ref/f times the unit cost (docs/vertical.md)"),
    {0},
};

static const char party_fields[] = "name|role|columns|rows|cols|flops|up_bps|down_bps|latency_s|"
                                   "coverage|unique_ids|dropout|rejoin_s|straggler_p|"
                                   "straggler_factor";

/* ---- diagnostics -------------------------------------------------------------------------- */

static fs_err done(cfg_diag *d, const char *hint, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static fs_err done(cfg_diag *d, const char *hint, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(d->msg, sizeof d->msg, fmt, ap);
    va_end(ap);
    snprintf(d->hint, sizeof d->hint, "%s", hint ? hint : "");
    return diag_done(d);
}

void cfg_vertical_at(cfg_diag *d, const cfg *c, const char *file, int party, int field)
{
    const cfg_party *p = &c->vertical.parties[party];
    const int given = field >= 0 && field < 8 && p->fline[field] > 0;
    diag_at(d, p->set_index > 0 ? "--set" : file, given ? p->fline[field] : p->line,
            given ? p->fcol[field] : p->col);
}

void cfg_vertical_at_list(cfg_diag *d, const cfg *c, const char *file)
{
    cfg_diag_key(d, c, file, "vertical.parties");
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
static fs_err parse_ranges(pctx *x, int i, const char *field, const ynode *v, char *out, size_t cap)
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
        diag_at_node(x, v);
        return done(x->d, hint, "vertical.parties[%d].%s must be ranges of feature indices", i,
                    field);
    }
    size_t o = 0;
    out[0] = '\0';
    for (int k = 0; k < n; k++) {
        const ynode *e = items[k];
        if (e->kind != YN_SCALAR || yn_is_null(e)) {
            diag_at_node(x, e);
            return done(x->d, hint, "vertical.parties[%d].%s: an entry is not a range", i, field);
        }
        int lo[RANGES_MAX], hi[RANGES_MAX], m;
        if (cfg_ranges_parse(e->text, lo, hi, RANGES_MAX, &m) != FS_OK || m == 0) {
            diag_at_node(x, e);
            return done(x->d, hint, "vertical.parties[%d].%s: '%s' is not a range like 0-9", i,
                        field, e->text);
        }
        for (int r = 0; r < m; r++) {
            int w = lo[r] == hi[r]
                        ? snprintf(out + o, cap - o, "%s%d", o ? "," : "", lo[r])
                        : snprintf(out + o, cap - o, "%s%d-%d", o ? "," : "", lo[r], hi[r]);
            if (w < 0 || (size_t)w >= cap - o) {
                diag_at_node(x, e);
                return done(x->d, "merge adjacent ranges", "vertical.parties[%d].%s is too long", i,
                            field);
            }
            o += (size_t)w;
        }
    }
    int lo[RANGES_MAX], hi[RANGES_MAX], m;
    if (cfg_ranges_parse(out, lo, hi, RANGES_MAX, &m) != FS_OK) {
        diag_at_node(x, v);
        return done(x->d, "at most 64 ranges", "vertical.parties[%d].%s has too many ranges", i,
                    field);
    }
    for (int a = 0; a < m; a++)
        for (int b = 0; b < a; b++)
            if (lo[a] <= hi[b] && lo[b] <= hi[a]) {
                diag_at_node(x, v);
                return done(x->d, "give each index once",
                            "vertical.parties[%d].%s names index %d twice", i, field,
                            lo[a] > lo[b] ? lo[a] : lo[b]);
            }
    return FS_OK;
}

/* ---- numbers ------------------------------------------------------------------------------ */

static fs_err parse_num(pctx *x, int i, const char *field, const ynode *v, double lo, double hi,
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
        diag_at_node(x, v);
        return done(x->d, h, "vertical.parties[%d].%s must be a number, got %s%s%s", i, field,
                    v->kind == YN_SCALAR ? "'" : "a structure",
                    v->kind == YN_SCALAR ? (v->text ? v->text : "") : "",
                    v->kind == YN_SCALAR ? "'" : "");
    }
    if (val < lo || val > hi || (open_lo && val == lo)) {
        diag_at_node(x, v);
        return done(x->d, h, "vertical.parties[%d].%s = %s is out of range", i, field, v->text);
    }
    *out = val;
    return FS_OK;
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

typedef struct party_ctx {
    cfg_party *p;
    int have_name;
} party_ctx;

/* One field of party i (cfg_list_fields checked its name is plain and given once). */
static fs_err party_field(pctx *x, int i, const ynode *key, const ynode *v, void *data)
{
    party_ctx *pc = data;
    cfg_party *p = pc->p;
    const char *f = key->text;
    if (!cfg_in_bar_list(party_fields, f)) {
        char buf[32], h[320];
        const char *near = closest_field(f, buf, sizeof buf);
        if (near)
            snprintf(h, sizeof h, "did you mean '%s'?", near);
        else
            snprintf(h, sizeof h,
                     "fields: name, role, columns, rows, cols, flops, up_bps, "
                     "down_bps, latency_s, coverage, unique_ids, dropout, "
                     "rejoin_s, straggler_p, straggler_factor");
        diag_at_node(x, key);
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
            diag_at_node(x, v);
            return done(x->d,
                        "a name of 1 to 31 characters without spaces, '/', '=', ',' or "
                        "quotes",
                        "vertical.parties[%d].name is not a valid party name", i);
        }
        snprintf(p->name, sizeof p->name, "%s", v->text);
        pc->have_name = 1;
        for (int j = 0; j < i; j++)
            if (strcmp(x->c->vertical.parties[j].name, p->name) == 0) {
                diag_at_node(x, v);
                return done(x->d, "party names must be unique",
                            "vertical.parties[%d]: name '%s' is already used by "
                            "vertical.parties[%d]",
                            i, p->name, j);
            }
    } else if (strcmp(f, "role") == 0) {
        if (v->kind != YN_SCALAR || !cfg_in_bar_list("active|passive|coordinator", v->text)) {
            diag_at_node(x, v);
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
            diag_at_node(x, v);
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
    return rc;
}

static fs_err parse_party(pctx *x, int i, const ynode *e, cfg_party *p)
{
    party_defaults(p);
    p->line = x->set_index > 0 ? x->set_index : e->line;
    p->col = e->col + x->col_shift;
    p->set_index = x->set_index;
    if (e->kind != YN_MAP) {
        diag_at_node(x, e);
        return done(x->d,
                    "write each party as a mapping, e.g. - {name: bank, role: active, "
                    "columns: \"0-9\"}",
                    "vertical.parties[%d] must be a mapping", i);
    }
    party_ctx pc = {p, 0};
    fs_err rc = cfg_list_fields(x, "vertical.parties", i, e,
                                "fields are plain names like name or columns", party_field, &pc);
    if (rc) return rc;
    if (!pc.have_name) {
        diag_at_node(x, e);
        return done(x->d, "e.g. - {name: bank, role: active, columns: \"0-9\"}",
                    "vertical.parties[%d] has no name", i);
    }
    return FS_OK;
}

static fs_err parse_parties(pctx *x, const ynode *v)
{
    char most[64];
    snprintf(most, sizeof most, "at most %d parties", CFG_PARTIES_MAX);
    fs_err rc =
        cfg_list_check(x, v, "vertical.parties", CFG_PARTIES_MAX, "a single value or mapping",
                       "one entry per party, e.g.\n    parties:\n      - {name: bank, "
                       "role: active, columns: \"0-9\"}\n      - {name: shop, columns: "
                       "\"10-29\"}",
                       most);
    if (rc) return rc;
    cfg *c = x->c;
    c->vertical.n_parties = 0;
    for (int i = 0; i < v->n; i++) {
        rc = parse_party(x, i, v->kid[i], &c->vertical.parties[i]);
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
        diag_at_key(d, c, file, "federation");
        return done(d,
                    "list the parties, e.g.\n  vertical:\n    parties:\n      - {name: bank, role: "
                    "active, columns: \"0-9\"}\n      - {name: shop, columns: \"10-29\"}",
                    "federation = vertical needs vertical.parties");
    }
    if (c->vertical.key_bits % 2) {
        diag_at_key(d, c, file, "vertical.key_bits");
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

static void parties_json(FILE *f, const cfg *c)
{
    fputc('[', f);
    for (int i = 0; i < c->vertical.n_parties; i++) {
        const cfg_party *p = &c->vertical.parties[i];
        const char *const sn[] = {"name", "role", "columns", "rows", "cols"};
        const char *const sv[] = {p->name, p->role, p->columns, p->rows, p->cols};
        for (int k = 0; k < 5; k++) {
            fprintf(f, "%s\"%s\": ", k ? ", " : i ? ", {" : "{", sn[k]);
            cfg_json_string(f, sv[k]);
        }
        const char *const nn[] = {"flops",       "up_bps",          "down_bps", "latency_s",
                                  "coverage",    "unique_ids",      "dropout",  "rejoin_s",
                                  "straggler_p", "straggler_factor"};
        const double nv[] = {p->flops,       p->up_bps,          p->down_bps, p->latency_s,
                             p->coverage,    p->unique_ids,      p->dropout,  p->rejoin_s,
                             p->straggler_p, p->straggler_factor};
        for (int k = 0; k < 10; k++) {
            fprintf(f, ", \"%s\": ", nn[k]);
            if (k == 5)
                fprintf(f, "%d", p->unique_ids);
            else
                cfg_json_number(f, nv[k]);
        }
        fputc('}', f);
    }
    fputc(']', f);
}

static void parties_markdown(FILE *out)
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

static bool parties_given(const cfg *c)
{
    return c->vertical.n_parties > 0;
}

const cfg_list_key cfg_lk_parties = {
    "vertical.parties", parse_parties, offsetof(cfg, vertical.parties_origin),
    parties_given,      parties_json,  parties_markdown};
