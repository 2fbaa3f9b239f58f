/* Scenario diagnostics: file:line:col messages with a hint, the texts that describe a key (its
 * type, range and choices), and the did-you-mean suggestions for unknown keys and values
 * (optimal string alignment distance). Every message of the parser goes through here; no global
 * state. */
#include "config/config_int.h"

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <string.h>

void diag_at(cfg_diag *d, const char *file, int line, int col)
{
    snprintf(d->file, sizeof d->file, "%s", file ? file : "scenario");
    d->line = line;
    d->col = col;
    d->msg[0] = d->hint[0] = '\0';
}

void diag_msg(cfg_diag *d, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(d->msg, sizeof d->msg, fmt, ap);
    va_end(ap);
}

void diag_hint(cfg_diag *d, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(d->hint, sizeof d->hint, fmt, ap);
    va_end(ap);
}

void hint_add(cfg_diag *d, const char *fmt, ...)
{
    size_t n = strlen(d->hint);
    if (n + 1 >= sizeof d->hint) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(d->hint + n, sizeof d->hint - n, fmt, ap);
    va_end(ap);
}

fs_err diag_done(const cfg_diag *d)
{
    if (d->line > 0) return fs_error(FS_EINPUT, "%s:%d:%d: %s", d->file, d->line, d->col, d->msg);
    return fs_error(FS_EINPUT, "%s: %s", d->file, d->msg);
}

void cfg_diag_print(const cfg_diag *d, FILE *out)
{
    if (d->line > 0)
        fprintf(out, "%s:%d:%d: error: %s\n", d->file, d->line, d->col, d->msg);
    else
        fprintf(out, "%s: error: %s\n", d->file, d->msg);
    if (d->hint[0]) fprintf(out, "  hint: %s\n", d->hint);
}

void diag_at_node(pctx *x, const ynode *n)
{
    diag_at(x->d, x->file, x->set_index > 0 ? x->set_index : n->line, n->col + x->col_shift);
}

static void at_origin(cfg_diag *d, const char *file, const cfg_origin *o)
{
    if (o->set_index > 0)
        diag_at(d, "--set", o->set_index, o->col);
    else
        diag_at(d, file, o->line, o->line > 0 ? o->col : 0);
}

void diag_at_key(cfg_diag *d, const cfg *c, const char *file, const char *path)
{
    at_origin(d, file, &c->origin[cfg_key_index(path)]);
}

void cfg_diag_key(cfg_diag *d, const cfg *c, const char *file, const char *path)
{
    const cfg_list_key *lk = cfg_list_key_find(path);
    if (lk)
        at_origin(d, file, cfg_list_origin(c, lk));
    else if (cfg_key_index(path) >= 0)
        diag_at_key(d, c, file, path);
    else
        diag_at(d, file, 0, 0);
}

/* ---------------------------------------------------------------------------------------------
 * What a key takes, as text
 * ------------------------------------------------------------------------------------------- */

/* A bound as text: integers without exponent, others %g. */
static void fmt_num(char *buf, size_t n, double v)
{
    if (v == floor(v) && fabs(v) < 1e16)
        snprintf(buf, n, "%.0f", v);
    else
        snprintf(buf, n, "%g", v);
}

void cfg_range_text(const cfg_key *k, char *buf, size_t n)
{
    char lo[32], hi[32];
    if (k->type == CFG_T_U64) {
        snprintf(buf, n, "0 ... %" PRIu64, UINT64_MAX);
        return;
    }
    fmt_num(lo, sizeof lo, k->min);
    fmt_num(hi, sizeof hi, k->max);
    snprintf(buf, n, "%s%s ... %s%s", lo, (k->open & CFG_OPEN_MIN) ? " (exclusive)" : "", hi,
             (k->open & CFG_OPEN_MAX) ? " (exclusive)" : "");
}

void cfg_choices_text(const char *choices, char *buf, size_t n, const char *quote)
{
    size_t o = 0;
    buf[0] = '\0';
    for (const char *p = choices; *p && o + 1 < n;) {
        const char *bar = strchr(p, '|');
        size_t len = bar ? (size_t)(bar - p) : strlen(p);
        int w = snprintf(buf + o, n - o, "%s%s%.*s%s", o ? ", " : "", quote, (int)len, p, quote);
        if (w < 0) break;
        o += (size_t)w;
        if (o >= n) break;
        p += len + (bar ? 1 : 0);
    }
}

const char *cfg_type_phrase(cfg_type t)
{
    switch (t) {
    case CFG_T_INT:
    case CFG_T_U64:
        return "an integer";
    case CFG_T_FLOAT:
        return "a number";
    case CFG_T_STRING:
        return "a string";
    case CFG_T_ENUM:
        return "one of the choices";
    case CFG_T_INTLIST:
        return "a list of integers";
    }
    return "a value";
}

void cfg_type_hint(cfg_diag *d, const cfg_key *k)
{
    char r[96], ch[256];
    switch (k->type) {
    case CFG_T_INT:
    case CFG_T_U64:
    case CFG_T_FLOAT:
        cfg_range_text(k, r, sizeof r);
        diag_hint(d, "%s is %s, allowed: %s", k->path, cfg_type_phrase(k->type), r);
        break;
    case CFG_T_STRING:
        diag_hint(d, "%s is a string of at most %zu characters", k->path, k->size - 1);
        break;
    case CFG_T_ENUM:
        cfg_choices_text(k->choices, ch, sizeof ch, "");
        diag_hint(d, "choices: %s", ch);
        break;
    case CFG_T_INTLIST:
        cfg_range_text(k, r, sizeof r);
        diag_hint(d, "%s is a list of at most %d integers like [200, 200], each %s", k->path,
                  CFG_LIST_MAX, r);
        break;
    }
}

const char *yn_kind_phrase(const ynode *n)
{
    switch (n->kind) {
    case YN_MAP:
        return "a mapping";
    case YN_SEQ:
        return "a list";
    case YN_ALIAS:
        return "an alias";
    case YN_SCALAR:
        break;
    }
    return "a scalar";
}

/* ---------------------------------------------------------------------------------------------
 * Did-you-mean: optimal string alignment distance (Levenshtein plus adjacent transpositions,
 * so "alpah" is one edit from "alpha").
 * ------------------------------------------------------------------------------------------- */

int cfg_edit_distance(const char *a, const char *b)
{
    enum { M = 128 };
    size_t n = strlen(a), m = strlen(b);
    if (n >= M || m >= M) return 1000;
    int dd[M][M];
    for (size_t i = 0; i <= n; i++) dd[i][0] = (int)i;
    for (size_t j = 0; j <= m; j++) dd[0][j] = (int)j;
    for (size_t i = 1; i <= n; i++) {
        for (size_t j = 1; j <= m; j++) {
            int cost = a[i - 1] != b[j - 1];
            int v = dd[i - 1][j] + 1;
            if (dd[i][j - 1] + 1 < v) v = dd[i][j - 1] + 1;
            if (dd[i - 1][j - 1] + cost < v) v = dd[i - 1][j - 1] + cost;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
                dd[i - 2][j - 2] + 1 < v)
                v = dd[i - 2][j - 2] + 1;
            dd[i][j] = v;
        }
    }
    return dd[n][m];
}

/* The largest distance a suggestion for a word of len characters may have: 1 to 3. */
static int near_threshold(size_t len)
{
    int thr = ((int)len + 2) / 3;
    return thr < 1 ? 1 : thr > 3 ? 3 : thr;
}

bool cfg_in_bar_list(const char *list, const char *s)
{
    size_t n = strlen(s);
    for (const char *p = list; *p;) {
        const char *bar = strchr(p, '|');
        size_t len = bar ? (size_t)(bar - p) : strlen(p);
        if (len == n && strncmp(p, s, n) == 0) return true;
        p += len + (bar ? 1 : 0);
    }
    return false;
}

const char *cfg_closest_in(const char *list, const char *s, char *buf, size_t cap)
{
    int best = 1 << 30;
    for (const char *p = list; *p;) {
        const char *bar = strchr(p, '|');
        size_t len = bar ? (size_t)(bar - p) : strlen(p);
        char w[64];
        snprintf(w, sizeof w, "%.*s", (int)len, p);
        int dist = cfg_edit_distance(s, w);
        if (dist < best) {
            best = dist;
            snprintf(buf, cap, "%s", w);
        }
        p += len + (bar ? 1 : 0);
    }
    return best <= near_threshold(strlen(s)) ? buf : NULL;
}

/* Consider candidate path cand for typed path full (last component typed_last, section sec). */
static void suggest_consider(const char *full, const char *typed_last, const char *sec,
                             const char *cand, int *best_d, int *best_other, char *best,
                             size_t best_n)
{
    char csec[CFG_STR];
    cfg_parent_of(cand, csec, sizeof csec);
    int other = strcmp(csec, sec) != 0;
    int dist = cfg_edit_distance(full, cand);
    if (!other) {
        int dl = cfg_edit_distance(typed_last, cfg_last_component(cand));
        if (dl < dist) dist = dl;
    } else if (strcmp(typed_last, cfg_last_component(cand)) == 0 && dist > 1) {
        dist = 1; /* right name, wrong section */
    }
    if (dist > near_threshold(strlen(typed_last))) return;
    if (dist < *best_d || (dist == *best_d && other < *best_other)) {
        *best_d = dist;
        *best_other = other;
        snprintf(best, best_n, "%s", cand);
    }
}

/* Closest key or section path to an unknown full path; false if none is close. */
static bool suggest(const char *full, char *best, size_t best_n)
{
    char sec[CFG_STR];
    cfg_parent_of(full, sec, sizeof sec);
    const char *typed_last = cfg_last_component(full);
    int best_d = 1 << 30, best_other = 1;
    best[0] = '\0';
    const cfg_key *k;
    for (int i = 0; (k = cfg_key_at(i)); i++) {
        const char *p = k->path;
        suggest_consider(full, typed_last, sec, p, &best_d, &best_other, best, best_n);
        /* Every section that is a prefix of this key. */
        for (const char *dot = strchr(p, '.'); dot; dot = strchr(dot + 1, '.')) {
            char s[CFG_STR];
            size_t len = (size_t)(dot - p);
            if (len >= sizeof s) break;
            memcpy(s, p, len);
            s[len] = '\0';
            suggest_consider(full, typed_last, sec, s, &best_d, &best_other, best, best_n);
        }
    }
    for (int i = 0; i < cfg_n_list_keys; i++)
        suggest_consider(full, typed_last, sec, cfg_list_keys[i]->path, &best_d, &best_other, best,
                         best_n);
    return best[0] != '\0';
}

void cfg_hint_section_keys(cfg_diag *d, const char *sec)
{
    size_t n = strlen(sec);
    const cfg_key *key;
    if (n == 0) {
        diag_hint(d, "valid top-level keys: ");
        char seen[CFG_KEYS_MAX][40];
        int ns = 0;
        for (int i = 0; (key = cfg_key_at(i)); i++) {
            const char *p = key->path;
            const char *dot = strchr(p, '.');
            size_t len = dot ? (size_t)(dot - p) : strlen(p);
            if (len >= sizeof seen[0]) continue;
            bool dup = false;
            for (int j = 0; j < ns; j++)
                if (strlen(seen[j]) == len && strncmp(seen[j], p, len) == 0) dup = true;
            if (dup || ns >= CFG_KEYS_MAX) continue;
            memcpy(seen[ns], p, len);
            seen[ns][len] = '\0';
            hint_add(d, "%s%s", ns ? ", " : "", seen[ns]);
            ns++;
        }
        hint_add(d, ", sweep");
        return;
    }
    diag_hint(d, "valid keys in '%s': ", sec);
    int k = 0;
    for (int i = 0; (key = cfg_key_at(i)); i++) {
        const char *p = key->path;
        if (strncmp(p, sec, n) == 0 && p[n] == '.') hint_add(d, "%s%s", k++ ? ", " : "", p + n + 1);
    }
    for (int i = 0; i < cfg_n_list_keys; i++) {
        const char *p = cfg_list_keys[i]->path;
        if (strncmp(p, sec, n) == 0 && p[n] == '.') hint_add(d, "%s%s", k++ ? ", " : "", p + n + 1);
    }
}

fs_err cfg_unknown_key(cfg_diag *d, const char *full)
{
    char best[CFG_STR], sec[CFG_STR];
    diag_msg(d, "unknown key '%s'", full);
    if (suggest(full, best, sizeof best)) {
        diag_hint(d, "did you mean '%s'?", best);
    } else {
        cfg_parent_of(full, sec, sizeof sec);
        while (sec[0] && !cfg_is_section(sec)) cfg_parent_of(sec, sec, sizeof sec);
        cfg_hint_section_keys(d, sec);
    }
    return diag_done(d);
}
