/* Sweep expansion (see sweep.h): the reading of the `sweep:` section from the positioned YAML
 * tree of ytree.c (the same as the scenario parser's), the expansion into runs and each run's
 * key.
 * Guarantees: a plan is returned only if every run of the sweep passed cfg_validate (and the
 * caller's check); every error
 * carries the position of the offending key or value; every allocation is freed on every path
 * (sweep_free_plan frees a plan, also a partly filled one). No global state. */
#include "config/sweep.h"
#include "config/config_int.h"
#include "config/ytree.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *sn_phrase(const ynode *n)
{
    if (n->kind != YN_SCALAR) return yn_kind_phrase(n);
    return yn_is_null(n) ? "an empty value" : "a single value";
}

/* snprintf that may truncate (messages quote user text of any length). */
static void fmt_into(char *buf, size_t n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void fmt_into(char *buf, size_t n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, n, fmt, ap);
    va_end(ap);
}

/* Build the tree of text (NULL for an empty document). The caller parsed the text with
 * cfg_parse_text first, which reports syntax errors with their position. */
static fs_err sn_build(const char *text, size_t len, const char *file, ynode **root)
{
    yerr ye;
    fs_err rc = yaml_build(text, len, root, &ye);
    if (rc == FS_EINPUT) return fs_error(FS_EINPUT, "%s:%d:%d: %s", file, ye.line, ye.col, ye.msg);
    return rc;
}

/* ---------------------------------------------------------------------------------------------
 * Text helpers
 * ------------------------------------------------------------------------------------------- */

/* Render a value node as YAML flow text that reads back as the same value: plain scalars as
 * written, other scalars double-quoted, lists as [a, b]. Returns false on an alias or a mapping
 * inside a list (never a scenario value). */
static bool render(FILE *f, const ynode *n)
{
    switch (n->kind) {
    case YN_SCALAR:
        if (n->plain) {
            fputs(n->text, f);
            return true;
        }
        fputc('"', f);
        for (size_t i = 0; i < n->len; i++) {
            unsigned char ch = (unsigned char)n->text[i];
            if (ch == '"' || ch == '\\')
                fprintf(f, "\\%c", ch);
            else if (ch == '\n')
                fputs("\\n", f);
            else if (ch == '\t')
                fputs("\\t", f);
            else if (ch < 0x20)
                fprintf(f, "\\x%02x", ch);
            else
                fputc(ch, f);
        }
        fputc('"', f);
        return true;
    case YN_SEQ:
        fputc('[', f);
        for (int i = 0; i < n->n; i++) {
            if (i) fputs(", ", f);
            if (!render(f, n->kid[i])) return false;
        }
        fputc(']', f);
        return true;
    case YN_MAP:
        fputc('{', f);
        for (int i = 0; i + 1 < n->n; i += 2) {
            if (i) fputs(", ", f);
            if (!render(f, n->kid[i])) return false;
            fputs(": ", f);
            if (!render(f, n->kid[i + 1])) return false;
        }
        fputc('}', f);
        return true;
    case YN_ALIAS:
        break;
    }
    return false;
}

/* 64-bit FNV-1a followed by the splitmix64 finaliser (spreads the bits of short inputs). */
static uint64_t hash64(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        h ^= *p;
        h *= 0x100000001b3ULL;
    }
    h ^= h >> 30;
    h *= 0xbf58476d1ce4e5b9ULL;
    h ^= h >> 27;
    h *= 0x94d049bb133111ebULL;
    h ^= h >> 31;
    return h;
}

fs_err sweep_compute_key(const cfg *c, char out[SWEEP_KEY_LEN + 1])
{
    cfg *k = malloc(sizeof *k);
    if (!k) return fs_error(FS_ENOMEM, "out of memory computing a run key");
    memcpy(k, c, sizeof *k);
    memset(k->name, 0, sizeof k->name);
    memset(k->output.db, 0, sizeof k->output.db);
    k->threads = 0;
    /* where and how often checkpoints are written does not change results */
    memset(k->checkpoint.dir, 0, sizeof k->checkpoint.dir);
    k->checkpoint.every = 0;
    /* only what differs from the defaults: a key added to fedsim later (with a default that
     * keeps old behaviour) leaves the run keys of existing sweeps unchanged */
    cfg *d = malloc(sizeof *d);
    if (!d) {
        free(k);
        return fs_error(FS_ENOMEM, "out of memory computing a run key");
    }
    cfg_defaults(d);
    char *json = cfg_to_json_diff(k, d);
    free(k);
    free(d);
    if (!json) return FS_ENOMEM;
    snprintf(out, SWEEP_KEY_LEN + 1, "%016" PRIx64, hash64(json));
    free(json);
    return FS_OK;
}

/* ---------------------------------------------------------------------------------------------
 * Reading the sweep section
 * ------------------------------------------------------------------------------------------- */

typedef struct skey {
    char path[CFG_STR];
    const ynode *key;  /* the (innermost) key node in the sweep section */
    const ynode *list; /* its list of values */
    char **text;       /* YAML rendering of each value */
    int axis;
} skey;

typedef struct sctx {
    const char *file;
    cfg_diag *d;
    sweep_check check; /* after cfg_validate, or NULL */
    skey *keys;
    int n_keys, cap_keys;
    int axis_len[CFG_KEYS_MAX + 1];
    int n_axes;
} sctx;

static fs_err err_at(sctx *x, int line, int col, const char *hint, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static fs_err err_at(sctx *x, int line, int col, const char *hint, const char *fmt, ...)
{
    cfg_diag *d = x->d;
    snprintf(d->file, sizeof d->file, "%s", x->file);
    d->line = line;
    d->col = col;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(d->msg, sizeof d->msg, fmt, ap);
    va_end(ap);
    snprintf(d->hint, sizeof d->hint, "%s", hint ? hint : "");
    if (line > 0) return fs_error(FS_EINPUT, "%s:%d:%d: %s", d->file, line, col, d->msg);
    return fs_error(FS_EINPUT, "%s: %s", d->file, d->msg);
}

static void skeys_free(sctx *x)
{
    for (int i = 0; i < x->n_keys; i++) {
        if (x->keys[i].text)
            for (int j = 0; j < x->keys[i].list->n; j++) free(x->keys[i].text[j]);
        free(x->keys[i].text);
    }
    free(x->keys);
}

/* One swept key: path, its key node, its list of values, on axis (a new one when axis < 0). */
static fs_err read_values(sctx *x, const char *path, const ynode *key, const ynode *val, int axis)
{
    char hint[300];
    if (val->kind != YN_SEQ) {
        snprintf(hint, sizeof hint, "write the values to try as a list: %s: [a, b]", path);
        return err_at(x, val->line, val->col, hint, "sweep values of '%s' must be a list, got %s",
                      path, sn_phrase(val));
    }
    if (val->n == 0)
        return err_at(x, val->line, val->col, "give at least one value",
                      "sweep values of '%s' are an empty list", path);
    for (int i = 0; i < x->n_keys; i++)
        if (strcmp(x->keys[i].path, path) == 0) {
            snprintf(hint, sizeof hint,
                     "first swept at line %d, column %d; a key varies on one "
                     "axis only",
                     x->keys[i].key->line, x->keys[i].key->col);
            return err_at(x, key->line, key->col, hint, "'%s' is swept twice", path);
        }
    if (x->n_keys == x->cap_keys) {
        int cap = x->cap_keys ? 2 * x->cap_keys : 8;
        skey *k = realloc(x->keys, (size_t)cap * sizeof *k);
        if (!k) return fs_error(FS_ENOMEM, "out of memory reading the sweep");
        x->keys = k;
        x->cap_keys = cap;
    }
    skey *k = &x->keys[x->n_keys++];
    memset(k, 0, sizeof *k);
    snprintf(k->path, sizeof k->path, "%s", path);
    k->key = key;
    k->list = val;
    k->text = calloc((size_t)val->n, sizeof *k->text);
    if (!k->text) return fs_error(FS_ENOMEM, "out of memory reading the sweep");
    for (int i = 0; i < val->n; i++) {
        const ynode *v = val->kid[i];
        size_t size = 0;
        FILE *f = open_memstream(&k->text[i], &size);
        if (!f) return fs_error(FS_ENOMEM, "out of memory reading the sweep");
        bool ok = render(f, v);
        fclose(f);
        if (!ok)
            return err_at(x, v->line, v->col, "write the value out",
                          "sweep value %d of '%s' is %s, which a scenario key cannot take", i + 1,
                          path, v->kind == YN_ALIAS ? "an alias" : "a mapping in a list");
        /* in a zip group values may repeat (the tuples differ); on an axis of its own not */
        for (int j = 0; axis < 0 && j < i; j++)
            if (strcmp(k->text[j], k->text[i]) == 0) {
                snprintf(hint, sizeof hint, "first listed at line %d, column %d", val->kid[j]->line,
                         val->kid[j]->col);
                return err_at(x, v->line, v->col, hint, "value %s of '%s' is listed twice",
                              k->text[i], path);
            }
    }
    if (axis < 0) {
        if (x->n_axes > CFG_KEYS_MAX)
            return err_at(x, key->line, key->col, NULL, "too many swept keys");
        axis = x->n_axes++;
        x->axis_len[axis] = val->n;
    }
    k->axis = axis;
    return FS_OK;
}

/* A mapping of key paths to lists (grid, or one zip group when axis >= 0), dotted or nested:
 * `train.lr: [...]` and `train: {lr: [...]}` are the same. */
static fs_err read_map(sctx *x, const ynode *map, const char *prefix, int axis)
{
    for (int i = 0; i + 1 < map->n; i += 2) {
        const ynode *key = map->kid[i], *val = map->kid[i + 1];
        if (key->kind != YN_SCALAR || key->len == 0)
            return err_at(x, key->line, key->col, "write key.path: [values]",
                          "a swept key must be a plain key path, got %s",
                          key->kind == YN_SCALAR ? "an empty key" : sn_phrase(key));
        char full[CFG_STR];
        int w = snprintf(full, sizeof full, "%s%s%s", prefix, prefix[0] ? "." : "", key->text);
        if (w < 0 || (size_t)w >= sizeof full)
            return err_at(x, key->line, key->col, NULL, "key path too long");
        fs_err rc;
        if (val->kind == YN_MAP && cfg_key_index(full) < 0)
            rc = read_map(x, val, full, axis);
        else
            rc = read_values(x, full, key, val, axis);
        if (rc != FS_OK) return rc;
    }
    return FS_OK;
}

/* One zip group: every list the same length, on one new axis. */
static fs_err read_zip_group(sctx *x, const ynode *map)
{
    if (map->kind != YN_MAP)
        return err_at(x, map->line, map->col,
                      "a zip group is a mapping of key paths to lists of equal length, e.g. "
                      "{train.lr: [0.1, 0.05], train.batch_size: [10, 20]}",
                      "a zip group must be a mapping, got %s", sn_phrase(map));
    int first = x->n_keys;
    int axis = x->n_axes++;
    if (axis > CFG_KEYS_MAX) return err_at(x, map->line, map->col, NULL, "too many zip groups");
    x->axis_len[axis] = -1;
    fs_err rc = read_map(x, map, "", axis);
    if (rc != FS_OK) return rc;
    if (x->n_keys == first)
        return err_at(x, map->line, map->col, "list at least one key path with its values",
                      "empty zip group");
    x->axis_len[axis] = x->keys[first].list->n;
    for (int i = first + 1; i < x->n_keys; i++) {
        const skey *a = &x->keys[first], *b = &x->keys[i];
        if (b->list->n != a->list->n) {
            char hint[300];
            fmt_into(hint, sizeof hint,
                     "keys of a zip group vary together: '%s' has %d values (line %d), give "
                     "every list of the group the same length",
                     a->path, a->list->n, a->list->line);
            return err_at(x, b->list->line, b->list->col, hint,
                          "zip group: '%s' has %d values but '%s' has %d", b->path, b->list->n,
                          a->path, a->list->n);
        }
    }
    return FS_OK;
}

static const char *const sweep_fields[] = {"name", "grid", "zip", "seeds"};

static fs_err read_sweep(sctx *x, const ynode *sw, const ynode **name)
{
    const ynode *grid = NULL, *zip = NULL, *seeds = NULL;
    *name = NULL;
    if (yn_is_null(sw)) return FS_OK;
    if (sw->kind != YN_MAP)
        return err_at(x, sw->line, sw->col,
                      "sweep is a mapping with any of: name, grid, zip, seeds (see docs/sweeps.md)",
                      "sweep must be a mapping, got %s", sn_phrase(sw));
    for (int i = 0; i + 1 < sw->n; i += 2) {
        const ynode *k = sw->kid[i], *v = sw->kid[i + 1];
        const char *t = k->kind == YN_SCALAR ? k->text : "";
        const ynode **slot = strcmp(t, "name") == 0    ? name
                             : strcmp(t, "grid") == 0  ? &grid
                             : strcmp(t, "zip") == 0   ? &zip
                             : strcmp(t, "seeds") == 0 ? &seeds
                                                       : NULL;
        if (!slot) {
            char hint[200];
            int best = 100, bi = 0;
            for (int j = 0; j < 4; j++) {
                int dist = cfg_edit_distance(t, sweep_fields[j]);
                if (dist < best) best = dist, bi = j;
            }
            if (best <= 2)
                snprintf(hint, sizeof hint,
                         "did you mean '%s'? keys of sweep: name, grid, zip, "
                         "seeds",
                         sweep_fields[bi]);
            else
                snprintf(hint, sizeof hint, "keys of sweep: name, grid, zip, seeds");
            return err_at(x, k->line, k->col, hint, "unknown key 'sweep.%s'", t);
        }
        if (*slot) return err_at(x, k->line, k->col, NULL, "duplicate key 'sweep.%s'", t);
        *slot = v;
    }
    if (*name && ((*name)->kind != YN_SCALAR || yn_is_null(*name)))
        return err_at(x, (*name)->line, (*name)->col, "e.g. name: lr_study",
                      "sweep.name must be a name, got %s", sn_phrase(*name));
    if (*name) {
        const char *s = (*name)->text;
        bool ok = (*name)->len < SWEEP_ID_MAX;
        for (const char *p = s; *p && ok; p++)
            ok = isalnum((unsigned char)*p) || *p == '_' || *p == '-' || *p == '.';
        if (!ok)
            return err_at(x, (*name)->line, (*name)->col,
                          "letters, digits, '_', '-' and '.', at most 63 (it names the database)",
                          "sweep.name '%s' is not a valid name", s);
    }
    fs_err rc = FS_OK;
    if (grid && !yn_is_null(grid)) {
        if (grid->kind != YN_MAP)
            return err_at(x, grid->line, grid->col,
                          "grid maps key paths to lists: {algorithm.name: [fedavg, fedsgd]}",
                          "sweep.grid must be a mapping, got %s", sn_phrase(grid));
        if ((rc = read_map(x, grid, "", -1)) != FS_OK) return rc;
    }
    if (zip && !yn_is_null(zip)) {
        if (zip->kind == YN_SEQ) {
            for (int i = 0; i < zip->n && rc == FS_OK; i++) rc = read_zip_group(x, zip->kid[i]);
        } else {
            rc = read_zip_group(x, zip);
        }
        if (rc != FS_OK) return rc;
    }
    if (seeds) {
        const ynode *sk = NULL;
        for (int i = 0; i + 1 < sw->n; i += 2)
            if (sw->kid[i + 1] == seeds) sk = sw->kid[i];
        if ((rc = read_values(x, "seed", sk, seeds, -1)) != FS_OK) return rc;
    }
    return FS_OK;
}

/* ---------------------------------------------------------------------------------------------
 * Expansion
 * ------------------------------------------------------------------------------------------- */

/* Move an override's diagnostic ("--set":index:col within "path=value") to the sweep section. */
static fs_err remap_override(sctx *x, const skey *k, const ynode *v)
{
    cfg_diag *d = x->d;
    int klen = (int)strlen(k->path);
    int c = d->col - 1;
    const ynode *at = v;
    int shift = 0;
    if (c < klen) {
        at = k->key;
        int off = klen - (int)k->key->len; /* nested keys: the node holds the last components */
        if (k->key->plain && c >= off) shift = c - off;
    } else if (v->kind == YN_SCALAR && v->plain && c - klen - 1 > 0 && c - klen - 1 < (int)v->len) {
        shift = c - klen - 1;
    }
    char hint[sizeof d->hint], msg[sizeof d->msg];
    snprintf(hint, sizeof hint, "%s", d->hint);
    snprintf(msg, sizeof msg, "%s", d->msg);
    return err_at(x, at->line, at->col + shift, hint, "%s", msg);
}

static int cmp_keys(const void *a, const void *b)
{
    const sweep_run *const *ra = a, *const *rb = b;
    int c = strcmp((*ra)->key, (*rb)->key);
    return c ? c : (*ra)->index - (*rb)->index;
}

/* Expand into p->runs: every combination, each validated. */
static fs_err expand(sctx *x, const cfg *base, int n_user, const char *path, sweep_plan *p)
{
    long total = 1;
    for (int a = 0; a < x->n_axes; a++) {
        total *= x->axis_len[a];
        if (total > SWEEP_RUNS_MAX)
            return err_at(x, 0, 0, "split it into several sweeps",
                          "the sweep expands to more than %d runs", SWEEP_RUNS_MAX);
    }
    p->runs = calloc((size_t)total, sizeof *p->runs);
    if (!p->runs) return fs_error(FS_ENOMEM, "out of memory expanding the sweep");
    cfg *c = malloc(sizeof *c);
    if (!c) return fs_error(FS_ENOMEM, "out of memory expanding the sweep");
    fs_err rc = FS_OK;
    int idx[CFG_KEYS_MAX + 1];
    for (long r = 0; r < total && rc == FS_OK; r++) {
        sweep_run *run = &p->runs[p->n_runs++];
        run->index = (int)r + 1;
        long rem = r;
        for (int a = x->n_axes - 1; a >= 0; a--) {
            idx[a] = (int)(rem % x->axis_len[a]);
            rem /= x->axis_len[a];
        }
        memcpy(c, base, sizeof *c);
        run->sets = calloc((size_t)x->n_keys + 1, sizeof *run->sets);
        if (!run->sets) {
            rc = fs_error(FS_ENOMEM, "out of memory expanding the sweep");
            break;
        }
        char *label = NULL, *json = NULL;
        size_t lsize = 0, jsize = 0;
        FILE *lf = open_memstream(&label, &lsize), *jf = open_memstream(&json, &jsize);
        if (!lf || !jf) {
            if (lf) fclose(lf);
            if (jf) fclose(jf);
            free(label);
            free(json);
            rc = fs_error(FS_ENOMEM, "out of memory expanding the sweep");
            break;
        }
        fputc('{', jf);
        int nj = 0;
        for (int i = 0; i < x->n_keys && rc == FS_OK; i++) {
            const skey *k = &x->keys[i];
            int vi = idx[k->axis];
            const char *text = k->text[vi];
            size_t n = strlen(k->path) + strlen(text) + 2;
            char *kv = malloc(n);
            if (!kv) {
                rc = fs_error(FS_ENOMEM, "out of memory expanding the sweep");
                break;
            }
            snprintf(kv, n, "%s=%s", k->path, text);
            run->sets[run->n_sets++] = kv;
            fprintf(lf, "%s%s", i ? " " : "", kv);
            if (cfg_apply_override(kv, n_user + run->n_sets, c, x->d) != FS_OK) {
                rc = remap_override(x, k, k->list->kid[vi]);
                break;
            }
            if (strcmp(k->path, "seed") != 0) {
                fputs(nj++ ? ", " : "", jf);
                cfg_json_string(jf, k->path);
                fputs(": ", jf);
                cfg_json_value(jf, c, cfg_key_at(cfg_key_index(k->path)));
            }
        }
        fputc('}', jf);
        fclose(lf);
        fclose(jf);
        run->label = label;
        run->swept_json = json;
        if (rc != FS_OK) break;
        cfg_derive(c, path);
        fs_err bad = cfg_validate(c, path, x->d);
        if (!bad && x->check) bad = x->check(c, path, x->d);
        if (bad != FS_OK) {
            cfg_diag *d = x->d;
            int j = strcmp(d->file, "--set") == 0 ? d->line - n_user - 1 : -1;
            char hint[sizeof d->hint];
            fmt_into(hint, sizeof hint, "%s%s(sweep run #%d: %s)", d->hint, d->hint[0] ? " " : "",
                     run->index, run->label);
            if (j >= 0 && j < run->n_sets) {
                /* sets[j] is keys[j]'s override: point at that key in the sweep section */
                char msg[sizeof d->msg];
                snprintf(msg, sizeof msg, "%s", d->msg);
                rc = err_at(x, x->keys[j].key->line, x->keys[j].key->col, hint, "%s", msg);
            } else {
                snprintf(d->hint, sizeof d->hint, "%s", hint);
                rc = d->line > 0
                         ? fs_error(FS_EINPUT, "%s:%d:%d: %s", d->file, d->line, d->col, d->msg)
                         : fs_error(FS_EINPUT, "%s: %s", d->file, d->msg);
            }
            break;
        }
        run->seed = c->seed;
        run->rounds = c->rounds.count;
        rc = sweep_compute_key(c, run->key);
    }
    free(c);
    if (rc != FS_OK) return rc;
    /* Two runs with the same resolved parameters would be one experiment counted twice. */
    sweep_run **by = malloc((size_t)p->n_runs * sizeof *by);
    if (!by) return fs_error(FS_ENOMEM, "out of memory expanding the sweep");
    for (int i = 0; i < p->n_runs; i++) by[i] = &p->runs[i];
    qsort(by, (size_t)p->n_runs, sizeof *by, cmp_keys);
    for (int i = 1; i < p->n_runs && rc == FS_OK; i++)
        if (strcmp(by[i]->key, by[i - 1]->key) == 0) {
            char hint[sizeof x->d->hint];
            snprintf(hint, sizeof hint,
                     "a swept value has no effect on the resolved parameters (name, threads and "
                     "output.db do not count): run #%d is %s; run #%d is %s",
                     by[i - 1]->index, by[i - 1]->label, by[i]->index, by[i]->label);
            rc = err_at(x, 0, 0, hint, "sweep runs #%d and #%d have identical parameters",
                        by[i - 1]->index, by[i]->index);
        }
    free(by);
    return rc;
}

fs_err sweep_parse_plan(const char *text, size_t len, const char *path,
                        const char *const *overrides, int n_overrides, sweep_check check,
                        sweep_plan *p, cfg_diag *d)
{
    cfg_diag scratch;
    if (!d) d = &scratch;
    memset(d, 0, sizeof *d);
    memset(p, 0, sizeof *p);
    cfg *base = malloc(sizeof *base);
    if (!base) return fs_error(FS_ENOMEM, "out of memory reading the sweep");
    fs_err rc = cfg_parse_text(text, len, path, base, d);
    for (int i = 0; rc == FS_OK && i < n_overrides; i++)
        rc = cfg_apply_override(overrides[i], i + 1, base, d);
    ynode *root = NULL;
    if (rc == FS_OK) rc = sn_build(text, len, path, &root);
    sctx x = {.file = path, .d = d, .check = check};
    const ynode *sw = NULL, *name = NULL;
    if (rc == FS_OK && root && root->kind == YN_MAP)
        for (int i = 0; i + 1 < root->n; i += 2)
            if (root->kid[i]->kind == YN_SCALAR && strcmp(root->kid[i]->text, "sweep") == 0)
                sw = root->kid[i + 1];
    if (rc == FS_OK && !sw)
        rc = err_at(&x, 0, 0,
                    "add a section like\n    sweep:\n      grid: {train.lr: [0.1, 0.05]}\n     "
                    " seeds: [1, 2, 3]\n  (see docs/sweeps.md); 'fedsim run' runs a scenario "
                    "without one",
                    "no 'sweep' section: nothing to sweep");
    if (rc == FS_OK) rc = read_sweep(&x, sw, &name);
    if (rc == FS_OK) {
        cfg *named = malloc(sizeof *named);
        if (!named) {
            rc = fs_error(FS_ENOMEM, "out of memory reading the sweep");
        } else {
            memcpy(named, base, sizeof *named);
            cfg_derive(named, path);
            fmt_into(p->id, sizeof p->id, "%s", name ? name->text : named->name);
            if (named->output.db[0])
                snprintf(p->db, sizeof p->db, "%s", named->output.db);
            else
                snprintf(p->db, sizeof p->db, "results/%s.db", p->id);
            free(named);
        }
    }
    if (rc == FS_OK) rc = expand(&x, base, n_overrides, path, p);
    if (rc == FS_OK) {
        p->keys = calloc((size_t)x.n_keys + 1, sizeof *p->keys);
        if (!p->keys) rc = fs_error(FS_ENOMEM, "out of memory reading the sweep");
        for (int i = 0; rc == FS_OK && i < x.n_keys; i++) {
            if (strcmp(x.keys[i].path, "seed") == 0) {
                p->n_seeds = x.keys[i].list->n;
                continue;
            }
            if (!(p->keys[p->n_keys] = strdup(x.keys[i].path)))
                rc = fs_error(FS_ENOMEM, "out of memory reading the sweep");
            else
                p->n_keys++;
        }
    }
    skeys_free(&x);
    yn_free(root);
    free(base);
    if (rc != FS_OK) sweep_free_plan(p);
    return rc;
}

fs_err sweep_load_plan(const char *path, const char *const *overrides, int n_overrides,
                       sweep_check check, sweep_plan *p, cfg_diag *d)
{
    cfg_diag scratch;
    if (!d) d = &scratch;
    memset(d, 0, sizeof *d);
    memset(p, 0, sizeof *p);
    char *text;
    size_t len;
    fs_err rc = cfg_read_file(path, &text, &len); /* the scenario's reader, parse.c */
    if (rc) return rc;
    if (!text) {
        int err = errno;
        snprintf(d->file, sizeof d->file, "%s", path);
        snprintf(d->msg, sizeof d->msg, "cannot read the scenario: %s", strerror(err));
        snprintf(d->hint, sizeof d->hint, "check the path; examples are in scenarios/examples/");
        return fs_error(FS_EINPUT, "%s: %s", path, d->msg);
    }
    rc = sweep_parse_plan(text, len, path, overrides, n_overrides, check, p, d);
    free(text);
    return rc;
}

void sweep_free_plan(sweep_plan *p)
{
    for (int i = 0; i < p->n_runs; i++) {
        sweep_run *r = &p->runs[i];
        for (int j = 0; j < r->n_sets; j++) free(r->sets[j]);
        free(r->sets);
        free(r->swept_json);
        free(r->label);
    }
    free(p->runs);
    for (int i = 0; i < p->n_keys; i++) free(p->keys[i]);
    free(p->keys);
    memset(p, 0, sizeof *p);
}
