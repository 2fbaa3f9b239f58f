/* Scenario text -> struct cfg: YAML 1.2 scalars to typed values with their range checks, the walk
 * of the scenario mapping (nested sections and dotted paths), the keys with a structure of their
 * own (cfg_list_key, and the checks their lists of mappings share), `--set` overrides, defaults,
 * derived values and cfg_load. Reads the positioned YAML tree of ytree.c (libfyaml's event
 * parser, which gives a line/column for every node).
 * Guarantees: every key ends up either at its default or at a value that passed its type and
 * range check; every error is reported as file:line:col (1-based) with a hint; every tree is
 * freed on every path. No global state: thread-safe. */
#include "config/config_int.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------------------------------------
 * Scalars -> typed values
 * ------------------------------------------------------------------------------------------- */

/* YAML 1.2 core-schema float syntax: [-+]? (\.[0-9]+ | [0-9]+(\.[0-9]*)?) ([eE][-+]?[0-9]+)?,
 * plus [-+]?.inf and .nan (which then fail every range check). */
bool cfg_parse_float(const char *s, double *out)
{
    const char *p = s;
    int sign = 1;
    if (*p == '+' || *p == '-') sign = *p++ == '-' ? -1 : 1;
    if (strcmp(p, ".inf") == 0 || strcmp(p, ".Inf") == 0 || strcmp(p, ".INF") == 0) {
        *out = sign * INFINITY;
        return true;
    }
    if (p == s && (strcmp(p, ".nan") == 0 || strcmp(p, ".NaN") == 0 || strcmp(p, ".NAN") == 0)) {
        *out = NAN;
        return true;
    }
    int digits = 0;
    while (isdigit((unsigned char)*p)) p++, digits++;
    if (*p == '.') {
        p++;
        int frac = 0;
        while (isdigit((unsigned char)*p)) p++, frac++;
        if (digits == 0 && frac == 0) return false;
    } else if (digits == 0) {
        return false;
    }
    if (*p == 'e' || *p == 'E') {
        p++;
        if (*p == '+' || *p == '-') p++;
        if (!isdigit((unsigned char)*p)) return false;
        while (isdigit((unsigned char)*p)) p++;
    }
    if (*p) return false;
    errno = 0;
    *out = strtod(s, NULL); /* overflow gives +-HUGE_VAL: then out of range */
    return true;
}

/* YAML 1.2 core-schema integer ([-+]?[0-9]+, 0o[0-7]+, 0x[0-9a-fA-F]+), or a float literal with
 * an integral value (1e6). *out is exact up to 2^53 and +-inf on overflow. */
bool cfg_parse_integer(const char *s, double *out)
{
    const char *p = s;
    int base = 10;
    bool neg = false;
    if (p[0] == '0' && p[1] == 'o') {
        base = 8;
        p += 2;
    } else if (p[0] == '0' && p[1] == 'x') {
        base = 16;
        p += 2;
    } else if (*p == '+' || *p == '-') {
        neg = *p++ == '-';
    }
    bool ok = *p != '\0';
    for (const char *q = p; *q && ok; q++)
        ok = base == 16 ? isxdigit((unsigned char)*q) : (*q >= '0' && *q < (base == 8 ? '8' : ':'));
    if (ok) {
        errno = 0;
        unsigned long long u = strtoull(p, NULL, base);
        *out = errno == ERANGE ? INFINITY : (double)u;
        if (neg) *out = -*out;
        return true;
    }
    double v;
    if (!cfg_parse_float(s, &v) || isnan(v)) return false;
    if (isfinite(v) && v != floor(v)) return false;
    *out = v;
    return true;
}

static bool in_range(const cfg_key *k, double v)
{
    bool lo = (k->open & CFG_OPEN_MIN) ? v > k->min : v >= k->min;
    bool hi = (k->open & CFG_OPEN_MAX) ? v < k->max : v <= k->max;
    return lo && hi;
}

/* ---------------------------------------------------------------------------------------------
 * Setting one key from a node
 * ------------------------------------------------------------------------------------------- */

static fs_err type_error(pctx *x, const cfg_key *k, const ynode *v)
{
    diag_at_node(x, v);
    if (v->kind != YN_SCALAR)
        diag_msg(x->d, "%s must be %s, got %s", k->path, cfg_type_phrase(k->type),
                 yn_kind_phrase(v));
    else if (yn_is_null(v))
        diag_msg(x->d, "%s must be %s, got an empty value", k->path, cfg_type_phrase(k->type));
    else if (!v->plain)
        diag_msg(x->d, "%s must be %s, got the quoted string '%s'", k->path,
                 cfg_type_phrase(k->type), v->text);
    else
        diag_msg(x->d, "%s must be %s, got '%s'", k->path, cfg_type_phrase(k->type), v->text);
    if (v->kind == YN_ALIAS)
        diag_hint(x->d, "aliases (*name) are not supported in scenarios: write the value out");
    else
        cfg_type_hint(x->d, k);
    if (v->kind == YN_SCALAR && !v->plain && k->type != CFG_T_INTLIST)
        hint_add(x->d, "; write numbers without quotes");
    return diag_done(x->d);
}

static fs_err range_error(pctx *x, const cfg_key *k, const ynode *v)
{
    char r[96];
    diag_at_node(x, v);
    diag_msg(x->d, "%s = %s is out of range", k->path, v->text);
    cfg_range_text(k, r, sizeof r);
    diag_hint(x->d, "allowed: %s", r);
    return diag_done(x->d);
}

/* An int-typed scalar. */
static fs_err scalar_int(pctx *x, const cfg_key *k, const ynode *v, int *out)
{
    double val;
    if (v->kind != YN_SCALAR || !v->plain || !cfg_parse_integer(v->text, &val))
        return type_error(x, k, v);
    if (!in_range(k, val)) return range_error(x, k, v);
    *out = (int)val;
    return FS_OK;
}

static fs_err set_u64(pctx *x, const cfg_key *k, const ynode *v, uint64_t *out)
{
    double val;
    if (v->kind != YN_SCALAR || !v->plain || !cfg_parse_integer(v->text, &val))
        return type_error(x, k, v);
    const char *p = v->text;
    int base = 10;
    if (p[0] == '0' && (p[1] == 'o' || p[1] == 'x')) {
        base = p[1] == 'o' ? 8 : 16;
        p += 2;
    } else if (*p == '+') {
        p++;
    }
    bool digits = *p != '\0';
    for (const char *q = p; *q; q++)
        if (!(base == 16 ? isxdigit((unsigned char)*q) : isdigit((unsigned char)*q)))
            digits = false;
    if (digits) { /* exact, all 64 bits */
        errno = 0;
        unsigned long long u = strtoull(p, NULL, base);
        if (errno == ERANGE) return range_error(x, k, v);
        *out = (uint64_t)u;
        return FS_OK;
    }
    if (!(val >= 0 && val < 18446744073709551616.0)) return range_error(x, k, v);
    *out = (uint64_t)val;
    return FS_OK;
}

/* A string or choice of at most k->size - 1 characters into field. */
static fs_err set_string(pctx *x, const cfg_key *k, const ynode *v, char *field)
{
    if (v->kind != YN_SCALAR) return type_error(x, k, v);
    const char *s = yn_is_null(v) ? "" : v->text;
    size_t len = yn_is_null(v) ? 0 : v->len;
    if (k->type == CFG_T_ENUM) {
        size_t sl = strlen(s);
        if (len != sl || !cfg_in_bar_list(k->choices, s)) {
            char ch[256], best[64] = "";
            int bd = 1 << 30;
            diag_at_node(x, v);
            if (len == 0)
                diag_msg(x->d, "%s has no value", k->path);
            else
                diag_msg(x->d, "%s = '%s' is not one of the choices", k->path, s);
            for (const char *p = k->choices; *p;) {
                const char *bar = strchr(p, '|');
                size_t cl = bar ? (size_t)(bar - p) : strlen(p);
                char c1[64];
                snprintf(c1, sizeof c1, "%.*s", (int)cl, p);
                int dist = cfg_edit_distance(s, c1);
                if (dist < bd) {
                    bd = dist;
                    snprintf(best, sizeof best, "%s", c1);
                }
                p += cl + (bar ? 1 : 0);
            }
            cfg_choices_text(k->choices, ch, sizeof ch, "");
            int thr = ((int)sl + 2) / 3;
            if (sl > 0 && bd <= (thr < 1 ? 1 : thr > 3 ? 3 : thr))
                diag_hint(x->d, "did you mean '%s'? choices: %s", best, ch);
            else
                diag_hint(x->d, "choices: %s", ch);
            return diag_done(x->d);
        }
    } else if (len != strlen(s) || len > (size_t)k->max || len >= k->size) {
        diag_at_node(x, v);
        if (len != strlen(s)) {
            diag_msg(x->d, "%s contains a NUL character", k->path);
            diag_hint(x->d, "remove the \\0 escape");
        } else {
            diag_msg(x->d, "%s is too long (%zu characters)", k->path, len);
            diag_hint(x->d, "at most %zu characters", k->size - 1);
        }
        return diag_done(x->d);
    }
    memset(field, 0, k->size); /* no stale bytes after the NUL: cfgs compare with memcmp */
    memcpy(field, s, len);
    return FS_OK;
}

static fs_err set_int_list(pctx *x, const cfg_key *k, const ynode *v, cfg_int_list *out)
{
    cfg_int_list l = {0};
    if (v->kind != YN_SEQ) {
        fs_err rc = type_error(x, k, v);
        if (v->kind == YN_SCALAR && !yn_is_null(v))
            hint_add(x->d, " (write [%s] for one element)", v->text);
        return rc;
    }
    if (v->n > CFG_LIST_MAX) {
        diag_at_node(x, v);
        diag_msg(x->d, "%s has %d elements, too many", k->path, v->n);
        diag_hint(x->d, "at most %d", CFG_LIST_MAX);
        return diag_done(x->d);
    }
    for (int i = 0; i < v->n; i++) {
        const ynode *e = v->kid[i];
        double val;
        if (e->kind != YN_SCALAR || !e->plain || !cfg_parse_integer(e->text, &val)) {
            diag_at_node(x, e);
            if (e->kind != YN_SCALAR)
                diag_msg(x->d, "%s[%d] must be an integer, got %s", k->path, i, yn_kind_phrase(e));
            else
                diag_msg(x->d, "%s[%d] must be an integer, got '%s'", k->path, i, e->text);
            cfg_type_hint(x->d, k);
            return diag_done(x->d);
        }
        if (!in_range(k, val)) {
            char r[96];
            diag_at_node(x, e);
            diag_msg(x->d, "%s[%d] = %s is out of range", k->path, i, e->text);
            cfg_range_text(k, r, sizeof r);
            diag_hint(x->d, "allowed: %s", r);
            return diag_done(x->d);
        }
        l.v[l.n++] = (int)val;
    }
    memcpy(out, &l, sizeof l);
    return FS_OK;
}

/* Key k (number ki of the table) from node v; key: where it was given. */
static fs_err set_key(pctx *x, int ki, const cfg_key *k, const ynode *key, const ynode *v)
{
    char *field = (char *)x->c + k->offset;
    fs_err rc = FS_OK;
    if (v->kind == YN_ALIAS) return type_error(x, k, v);
    switch (k->type) {
    case CFG_T_INT: {
        int iv = 0;
        if ((rc = scalar_int(x, k, v, &iv)) != FS_OK) return rc;
        memcpy(field, &iv, sizeof iv);
        break;
    }
    case CFG_T_U64: {
        uint64_t u = 0;
        if ((rc = set_u64(x, k, v, &u)) != FS_OK) return rc;
        memcpy(field, &u, sizeof u);
        break;
    }
    case CFG_T_FLOAT: {
        double f;
        if (v->kind != YN_SCALAR || !v->plain || !cfg_parse_float(v->text, &f))
            return type_error(x, k, v);
        if (!in_range(k, f)) return range_error(x, k, v);
        memcpy(field, &f, sizeof f);
        break;
    }
    case CFG_T_STRING:
    case CFG_T_ENUM:
        if ((rc = set_string(x, k, v, field)) != FS_OK) return rc;
        break;
    case CFG_T_INTLIST: {
        cfg_int_list l;
        if ((rc = set_int_list(x, k, v, &l)) != FS_OK) return rc;
        memcpy(field, &l, sizeof l);
        break;
    }
    }
    if (x->record && ki < CFG_KEYS_MAX) {
        x->c->origin[ki].line = x->set_index > 0 ? x->set_index : key->line;
        x->c->origin[ki].col = key->col;
        x->c->origin[ki].set_index = x->set_index;
    }
    return FS_OK;
}

/* ---------------------------------------------------------------------------------------------
 * Keys with a structure of their own (cfg_list_key) and the checks their lists share
 * ------------------------------------------------------------------------------------------- */

static fs_err set_list_key(pctx *x, const cfg_list_key *lk, const ynode *key, const ynode *v)
{
    fs_err rc = lk->parse(x, v);
    if (rc == FS_OK && x->record) {
        cfg_origin *o = (cfg_origin *)(void *)((char *)x->c + lk->origin);
        o->line = x->set_index > 0 ? x->set_index : key->line;
        o->col = key->col;
        o->set_index = x->set_index;
    }
    return rc;
}

fs_err cfg_list_check(pctx *x, const ynode *v, const char *path, int max, const char *other,
                      const char *list_hint, const char *max_hint)
{
    if (v->kind != YN_SEQ) {
        diag_at_node(x, v);
        diag_msg(x->d, "%s must be a list, got %s", path,
                 yn_is_null(v) ? "an empty value"
                 : other       ? other
                               : yn_kind_phrase(v));
        diag_hint(x->d, "%s", list_hint);
        return diag_done(x->d);
    }
    if (v->n > max) {
        diag_at_node(x, v);
        diag_msg(x->d, "%s has %d entries, too many", path, v->n);
        diag_hint(x->d, "%s", max_hint);
        return diag_done(x->d);
    }
    return FS_OK;
}

fs_err cfg_list_fields(pctx *x, const char *path, int i, const ynode *e, const char *name_hint,
                       fs_err (*field)(pctx *x, int i, const ynode *key, const ynode *v,
                                       void *data),
                       void *data)
{
    for (int k = 0; k + 1 < e->n; k += 2) {
        const ynode *key = e->kid[k], *v = e->kid[k + 1];
        if (key->kind != YN_SCALAR || yn_is_null(key)) {
            diag_at_node(x, key);
            diag_msg(x->d, "%s[%d]: a field name must be a plain name", path, i);
            diag_hint(x->d, "%s", name_hint);
            return diag_done(x->d);
        }
        for (int j = 0; j < k; j += 2)
            if (e->kid[j]->kind == YN_SCALAR && strcmp(e->kid[j]->text, key->text) == 0) {
                diag_at_node(x, key);
                diag_msg(x->d, "%s[%d]: duplicate field '%s'", path, i, key->text);
                diag_hint(x->d, "give each field once");
                return diag_done(x->d);
            }
        fs_err rc = field(x, i, key, v, data);
        if (rc) return rc;
    }
    return FS_OK;
}

/* ---------------------------------------------------------------------------------------------
 * Walking a scenario mapping
 * ------------------------------------------------------------------------------------------- */

static fs_err duplicate_key(pctx *x, const ynode *key, const char *full, const cfg_origin *o)
{
    diag_at_node(x, key);
    diag_msg(x->d, "duplicate key '%s'", full);
    diag_hint(x->d, "first given at line %d, column %d", o->line, o->col);
    return diag_done(x->d);
}

static fs_err walk_map(pctx *x, const ynode *map, const char *prefix)
{
    for (int i = 0; i + 1 < map->n; i += 2) {
        const ynode *key = map->kid[i], *val = map->kid[i + 1];
        if (key->kind != YN_SCALAR || key->text[0] == '\0') {
            diag_at_node(x, key);
            if (key->kind != YN_SCALAR)
                diag_msg(x->d, "a key must be a plain name, got %s", yn_kind_phrase(key));
            else
                diag_msg(x->d, "empty key");
            cfg_hint_section_keys(x->d, prefix);
            return diag_done(x->d);
        }
        if (prefix[0] == '\0' && strcmp(key->text, "sweep") == 0) continue;
        char full[CFG_STR];
        int w = snprintf(full, sizeof full, "%s%s%s", prefix, prefix[0] ? "." : "", key->text);
        if (w < 0 || (size_t)w >= sizeof full) {
            diag_at_node(x, key);
            return cfg_unknown_key(x->d, full);
        }
        for (int j = 0; j < i; j += 2) {
            const ynode *prev = map->kid[j];
            if (prev->kind == YN_SCALAR && strcmp(prev->text, key->text) == 0) {
                const cfg_origin o = {.line = prev->line, .col = prev->col};
                return duplicate_key(x, key, full, &o);
            }
        }
        int ki = cfg_key_index(full);
        const cfg_list_key *lk = cfg_list_key_find(full);
        fs_err rc;
        if (lk) {
            const cfg_origin *o = cfg_list_origin(x->c, lk);
            if (o->line > 0 && o->set_index == 0) return duplicate_key(x, key, full, o);
            rc = set_list_key(x, lk, key, val);
        } else if (ki >= 0) {
            const cfg_origin *o = &x->c->origin[ki];
            /* e.g. `train.lr:` and `train: {lr:}` */
            if (o->line > 0 && o->set_index == 0) return duplicate_key(x, key, full, o);
            rc = set_key(x, ki, cfg_key_at(ki), key, val);
        } else if (cfg_is_section(full)) {
            if (val->kind == YN_MAP) {
                rc = walk_map(x, val, full);
            } else if (yn_is_null(val)) {
                rc = FS_OK; /* an empty section */
            } else {
                diag_at_node(x, val);
                diag_msg(x->d, "'%s' is a section, not a single value (got %s)", full,
                         val->kind == YN_SCALAR ? "a scalar" : yn_kind_phrase(val));
                cfg_hint_section_keys(x->d, full);
                rc = diag_done(x->d);
            }
        } else {
            diag_at_node(x, key);
            rc = cfg_unknown_key(x->d, full);
        }
        if (rc != FS_OK) return rc;
    }
    return FS_OK;
}

static fs_err syntax_error(cfg_diag *d, const char *file, const yerr *e, int line, int col)
{
    diag_at(d, file, line, col);
    diag_msg(d, "%s", e->msg);
    if (strstr(e->msg, "tab"))
        diag_hint(d, "indent with spaces, not tabs");
    else if (strstr(e->msg, "second YAML document"))
        diag_hint(d, "one scenario per file; remove the '---' line");
    else if (strstr(e->msg, "binary data") || strstr(e->msg, "UTF-"))
        diag_hint(d, "a scenario is a YAML text file in UTF-8; is this the right file? (examples "
                     "in scenarios/)");
    else if (strstr(e->msg, "explicit '?' key"))
        diag_hint(d, "write 'key: value'; keys are plain names (docs/scenario.md)");
    else if (strstr(e->msg, "'%'"))
        diag_hint(d, "scenarios need no YAML directives: remove the line");
    else
        diag_hint(d, "check the YAML syntax here: indentation, brackets and quotes (quote a value "
                     "that contains ': ' or ' #')");
    return diag_done(d);
}

/* ---------------------------------------------------------------------------------------------
 * Public API
 * ------------------------------------------------------------------------------------------- */

/* Set key ki from its default text without a YAML parser (0.7 ms per cfg for 48 parsers is
 * too slow for large sweeps). The table's defaults use three forms only: a plain scalar, "" and a
 * flow list of plain integers [a, b]; the values still go through set_key's type and range
 * checks, and test_config checks that YAML gives the same values. */
static fs_err set_default(pctx *x, int ki, const cfg_key *k, const ynode *key)
{
    const char *def = k->def;
    char items[CFG_LIST_MAX][32];
    ynode item[CFG_LIST_MAX], *ptr[CFG_LIST_MAX];
    ynode v = {.kind = YN_SCALAR, .line = 1, .col = 1, .plain = true, .text = (char *)def};
    if (strcmp(def, "\"\"") == 0) {
        v.plain = false;
        v.text = (char *)"";
    } else if (def[0] == '[') {
        v.kind = YN_SEQ;
        v.text = NULL;
        v.kid = ptr;
        for (const char *p = def + 1; *p && *p != ']';) {
            while (*p == ' ' || *p == ',') p++;
            size_t n = strcspn(p, ", ]");
            if (n == 0) break;
            if (v.n == CFG_LIST_MAX || n >= sizeof items[0]) return FS_EINTERNAL;
            memcpy(items[v.n], p, n);
            items[v.n][n] = '\0';
            item[v.n] = (ynode){.kind = YN_SCALAR,
                                .line = 1,
                                .col = 1,
                                .plain = true,
                                .text = items[v.n],
                                .len = n};
            ptr[v.n] = &item[v.n];
            v.n++;
            p += n;
        }
    }
    if (v.text) v.len = strlen(v.text);
    return set_key(x, ki, k, key, &v);
}

void cfg_defaults(cfg *c)
{
    cfg_diag d;
    memset(c, 0, sizeof *c);
    pctx x = {.c = c, .file = "<default>", .d = &d};
    ynode key = {.kind = YN_SCALAR, .line = 0, .col = 0, .plain = true};
    FS_CHECK(cfg_key_count() <= CFG_KEYS_MAX);
    int i = 0;
    for (int s = 0; s < cfg_n_sections; s++)
        for (const cfg_key *k = cfg_sections[s].keys; k->path; k++, i++)
            FS_CHECK(set_default(&x, i, k, &key) == FS_OK);
}

fs_err cfg_parse_text(const char *text, size_t len, const char *name, cfg *c, cfg_diag *d)
{
    cfg_diag scratch;
    if (!d) d = &scratch;
    memset(d, 0, sizeof *d);
    cfg_defaults(c);
    ynode *root = NULL;
    yerr e;
    fs_err rc = yaml_build(text, len, &root, &e);
    if (rc == FS_EINPUT) return syntax_error(d, name, &e, e.line, e.col);
    if (rc != FS_OK) return rc;
    pctx x = {.c = c, .file = name ? name : "scenario", .record = true, .d = d};
    if (!root || yn_is_null(root) || (root->kind == YN_MAP && root->n == 0)) {
        diag_at(d, x.file, root ? root->line : 1, root ? root->col : 1);
        diag_msg(d, "empty scenario: no keys (only comments, blank lines or '---')");
        cfg_hint_section_keys(d, "");
        rc = diag_done(d);
    } else if (root->kind != YN_MAP) {
        diag_at_node(&x, root);
        diag_msg(d, "a scenario must be a mapping of keys, got %s", yn_kind_phrase(root));
        cfg_hint_section_keys(d, "");
        rc = diag_done(d);
    } else {
        rc = walk_map(&x, root, "");
    }
    yn_free(root);
    return rc;
}

fs_err cfg_apply_override(const char *kv, int index, cfg *c, cfg_diag *d)
{
    cfg_diag scratch;
    if (!d) d = &scratch;
    memset(d, 0, sizeof *d);
    const char *file = "--set";
    const char *eq = strchr(kv, '=');
    const char *ks = kv;
    while (*ks == ' ') ks++;
    const char *ke = eq ? eq : kv + strlen(kv);
    while (ke > ks && ke[-1] == ' ') ke--;
    int kcol = (int)(ks - kv) + 1;
    if (!eq || ke == ks) {
        diag_at(d, file, index, eq ? (int)(eq - kv) + 1 : kcol);
        if (!eq)
            diag_msg(d, "override '%s' has no '='", kv);
        else
            diag_msg(d, "override '%s' has no key before '='", kv);
        diag_hint(d, "write key.path=value, e.g. --set train.lr=0.1");
        return diag_done(d);
    }
    char key[CFG_STR];
    size_t kl = (size_t)(ke - ks);
    if (kl >= sizeof key) kl = sizeof key - 1;
    memcpy(key, ks, kl);
    key[kl] = '\0';
    int ki = cfg_key_index(key);
    const cfg_list_key *lk = cfg_list_key_find(key);
    if (!lk && ki < 0) {
        diag_at(d, file, index, kcol);
        if (cfg_is_section(key)) {
            diag_msg(d, "'%s' is a section, not a single value", key);
            cfg_hint_section_keys(d, key);
            return diag_done(d);
        }
        return cfg_unknown_key(d, key);
    }
    /* the value, a one-value YAML text (--set model.freeze=[conv2d1] for a list key) */
    pctx x = {.c = c,
              .file = file,
              .set_index = index,
              .col_shift = (int)(eq - kv) + 1,
              .record = true,
              .d = d};
    ynode knode = {.kind = YN_SCALAR, .line = index, .col = kcol, .plain = true};
    ynode *root = NULL;
    yerr ye;
    fs_err rc = yaml_build(eq + 1, strlen(eq + 1), &root, &ye);
    if (rc == FS_EINPUT) return syntax_error(d, file, &ye, index, ye.col + x.col_shift);
    if (rc != FS_OK) return rc;
    ynode empty = {.kind = YN_SCALAR, .line = 1, .col = 1, .plain = true, .text = (char[]){""}};
    const ynode *v = root ? root : &empty;
    rc = lk ? set_list_key(&x, lk, &knode, v) : set_key(&x, ki, cfg_key_at(ki), &knode, v);
    yn_free(root);
    return rc;
}

void cfg_derive(cfg *c, const char *path)
{
    int ik = cfg_key_index("partition.kind"), ic = cfg_key_index("partition.clients");
    int ik2 = cfg_key_index("rounds.clients_per_round");
    if (c->name[0] == '\0' && path && path[0]) {
        const char *base = strrchr(path, '/');
        base = base ? base + 1 : path;
        size_t n = strlen(base);
        if (n > 5 && strcmp(base + n - 5, ".yaml") == 0)
            n -= 5;
        else if (n > 4 && strcmp(base + n - 4, ".yml") == 0)
            n -= 4;
        if (n > 63) n = 63;
        memcpy(c->name, base, n);
        c->name[n] = '\0';
        for (char *p = c->name; *p; p++) /* a file name may hold what a run name may not */
            if (!isalnum((unsigned char)*p) && *p != '_' && *p != '-' && *p != '.') *p = '_';
    }
    if (strcmp(c->data.dataset, "kjv") == 0) {
        if (c->origin[ik].line == 0)
            snprintf(c->partition.kind, sizeof c->partition.kind, "natural");
        if (c->origin[cfg_key_index("data.path")].line == 0)
            snprintf(c->data.path, sizeof c->data.path, "datasets/kjv.h5");
    }
    if (strcmp(c->data.dataset, "synthetic") == 0) {
        if (c->origin[ik].line == 0)
            snprintf(c->partition.kind, sizeof c->partition.kind, "natural");
        if (c->origin[ic].line == 0) c->partition.clients = c->data.synthetic_clients;
    }
    if (c->origin[ik2].line == 0 && c->rounds.clients_per_round > c->partition.clients)
        c->rounds.clients_per_round = c->partition.clients;
}

fs_err cfg_read_file(const char *path, char **text, size_t *len)
{
    FILE *f = fopen(path, "rb");
    *text = NULL;
    *len = 0;
    if (!f) return FS_OK;
    char *t = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        if (n + 4096 + 1 > cap) {
            size_t nc = cap ? 2 * cap : 8192;
            char *g = realloc(t, nc);
            if (!g) {
                free(t);
                fclose(f);
                return fs_error(FS_ENOMEM, "out of memory reading %s", path);
            }
            t = g;
            cap = nc;
        }
        size_t r = fread(t + n, 1, cap - n - 1, f);
        n += r;
        if (r == 0) break;
    }
    bool bad = ferror(f);
    int err = errno;
    fclose(f);
    if (bad) {
        free(t);
        errno = err;
        return FS_OK;
    }
    t[n] = '\0';
    *text = t;
    *len = n;
    return FS_OK;
}

fs_err cfg_load(const char *path, const char *const *overrides, int n_overrides, cfg *c,
                cfg_diag *d, char **text_out)
{
    cfg_diag scratch;
    if (!d) d = &scratch;
    memset(d, 0, sizeof *d);
    if (text_out) *text_out = NULL;
    char *text;
    size_t len;
    fs_err rc = cfg_read_file(path, &text, &len);
    if (rc) return rc;
    if (!text) {
        diag_at(d, path, 0, 0);
        diag_msg(d, "cannot read the scenario: %s", strerror(errno));
        diag_hint(d, "check the path; ready-made scenarios are in scenarios/");
        return diag_done(d);
    }
    rc = cfg_parse_text(text, len, path, c, d);
    for (int i = 0; rc == FS_OK && i < n_overrides; i++)
        rc = cfg_apply_override(overrides[i], i + 1, c, d);
    if (rc == FS_OK) cfg_derive(c, path);
    if (rc == FS_OK && text_out)
        *text_out = text;
    else
        free(text);
    return rc;
}
