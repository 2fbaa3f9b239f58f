/* Private to sim/config: what the parts of the scenario parser share. The key table is a list
 * of sections (sections.c), each a slice of keys declared next to its cross-key checks in a
 * sec_*.c file; the keys whose value has a structure of their own (lists of mappings) are
 * cfg_list_key entries. Nothing outside sim/config includes this header. */
#ifndef FEDSIM_CONFIG_INT_H
#define FEDSIM_CONFIG_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "config/config.h"
#include "config/ytree.h"

/* ---- declaring keys (the sec_*.c files) --------------------------------------------------- */

#define CFG_BIG 1e7 /* upper bound of counts: clients, rounds, steps */

#define K_INT(p, f, def, lo, hi, doc)                                                              \
    {                                                                                              \
        p, CFG_T_INT, offsetof(cfg, f), sizeof(int), def, lo, hi, NULL, doc, 0                     \
    }
#define K_FLT(p, f, def, lo, hi, open, doc)                                                        \
    {                                                                                              \
        p, CFG_T_FLOAT, offsetof(cfg, f), sizeof(double), def, lo, hi, NULL, doc, open             \
    }
#define K_STR(p, f, def, doc)                                                                      \
    {                                                                                              \
        p, CFG_T_STRING, offsetof(cfg, f), sizeof(((cfg *)0)->f), def, 0,                          \
            sizeof(((cfg *)0)->f) - 1, NULL, doc, 0                                                \
    }
#define K_ENUM(p, f, def, choices, doc)                                                            \
    {                                                                                              \
        p, CFG_T_ENUM, offsetof(cfg, f), sizeof(((cfg *)0)->f), def, 0, 0, choices, doc, 0         \
    }
#define K_LIST(p, f, def, lo, hi, doc)                                                             \
    {                                                                                              \
        p, CFG_T_INTLIST, offsetof(cfg, f), sizeof(cfg_int_list), def, lo, hi, NULL, doc, 0        \
    }

typedef fs_err (*cfg_check_fn)(const cfg *c, const char *file, cfg_diag *d);

/* A slice of the key table: keys (terminated by {NULL}) and the cross-key checks cfg_validate
 * runs for them (may be NULL). Slices are concatenated in the order of cfg_sections. */
typedef struct cfg_section {
    const cfg_key *keys;
    cfg_check_fn check;
} cfg_section;

/* The scenario key table in its order: the order of cfg_to_json and docs/scenario.md. Run keys
 * hash cfg_to_json_diff, so existing keys keep their place; a new section goes where it reads
 * best (keys at their default are not in the JSON). */
extern const cfg_section cfg_sections[];
extern const int cfg_n_sections;

/* ---- parsing state ------------------------------------------------------------------------ */

typedef struct pctx {
    cfg *c;
    const char *file;
    int set_index; /* > 0: override number */
    int col_shift; /* added to node columns (overrides: offset of the value in the argument) */
    bool record;   /* record origins (not for defaults) */
    cfg_diag *d;
} pctx;

/* A key outside the table whose value has a structure of its own (model.layers, model.freeze,
 * vertical.parties). Its parser fills the cfg; it takes part in did-you-mean, the list of a
 * section's keys, the JSON (only when given: run keys of other scenarios unchanged) and the
 * docs (its row after its section's keys). */
typedef struct cfg_list_key {
    const char *path;
    fs_err (*parse)(pctx *x, const ynode *v);
    size_t origin; /* offsetof(cfg, ...) of the cfg_origin where it was given */
    bool (*given)(const cfg *c);
    void (*json)(FILE *f, const cfg *c); /* the value */
    void (*markdown)(FILE *out);         /* its row of docs/scenario.md */
} cfg_list_key;

/* In the order of the JSON (model.layers, vertical.parties, model.freeze). */
extern const cfg_list_key *const cfg_list_keys[];
extern const int cfg_n_list_keys;
extern const cfg_list_key cfg_lk_layers, cfg_lk_freeze, cfg_lk_parties;

/* The list key named path, or NULL. */
const cfg_list_key *cfg_list_key_find(const char *path);
/* Where list key lk was given in c (line 0: not). */
const cfg_origin *cfg_list_origin(const cfg *c, const cfg_list_key *lk);

/* The checks a list of mappings shares (model.layers, vertical.parties): v must be a list
 * ("<path> must be a list, got <what>"; other: the phrase for a value that is neither empty nor
 * a list, NULL: its kind) of at most max entries (max_hint: the hint, a format with one %d). */
fs_err cfg_list_check(pctx *x, const ynode *v, const char *path, int max, const char *other,
                      const char *list_hint, const char *max_hint);
/* The fields of entry i of list path, a mapping e: every field name a plain name (hint
 * name_hint) given once; then field(x, i, key, value, data) for each, in order. */
fs_err cfg_list_fields(pctx *x, const char *path, int i, const ynode *e, const char *name_hint,
                       fs_err (*field)(pctx *x, int i, const ynode *key, const ynode *v,
                                       void *data),
                       void *data);

/* ---- keys --------------------------------------------------------------------------------- */

/* True when path names a section: some key path is path + "." + more. */
bool cfg_is_section(const char *path);
const char *cfg_last_component(const char *path);
/* Parent section of a path into buf ("" at top level). */
void cfg_parent_of(const char *path, char *buf, size_t n);
/* True when path was given in the scenario or by --set. */
bool cfg_explicit(const cfg *c, const char *path);

/* ---- diagnostics (diag.c) ----------------------------------------------------------------- */

void diag_at(cfg_diag *d, const char *file, int line, int col);
void diag_msg(cfg_diag *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void diag_hint(cfg_diag *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Append to the hint. */
void hint_add(cfg_diag *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Record the finished diagnostic as the thread's error message too. */
fs_err diag_done(const cfg_diag *d);
/* Point d at where a key of the table was set, or the file with line 0. */
void diag_at_key(cfg_diag *d, const cfg *c, const char *file, const char *path);
/* Point d at node n of the text being parsed. */
void diag_at_node(pctx *x, const ynode *n);

/* "1 ... 1000000", "0 (exclusive) ... 100". */
void cfg_range_text(const cfg_key *k, char *buf, size_t n);
/* "a|b|c" -> "a, b, c" (each word between quote and quote). */
void cfg_choices_text(const char *choices, char *buf, size_t n, const char *quote);
const char *cfg_type_phrase(cfg_type t);
/* The hint that names a key's type and allowed values. */
void cfg_type_hint(cfg_diag *d, const cfg_key *k);
/* "a mapping", "a list", "an alias", "a scalar". */
const char *yn_kind_phrase(const ynode *n);

/* "unknown key" with a did-you-mean or the section's keys as the hint. */
fs_err cfg_unknown_key(cfg_diag *d, const char *full);
/* Hint listing the keys of a section (relative to it), or the top-level names. */
void cfg_hint_section_keys(cfg_diag *d, const char *sec);
/* A word of a "|" list, one of list. */
bool cfg_in_bar_list(const char *list, const char *s);
/* The closest word of a "|" list within the usual did-you-mean distance, or NULL. */
const char *cfg_closest_in(const char *list, const char *s, char *buf, size_t cap);

/* ---- scalars (parse.c) -------------------------------------------------------------------- */

/* The whole file at path, NUL-terminated, into *text (malloc'd) and its length (without the
 * NUL) into *len; *text NULL with errno set when it cannot be opened or read (FS_OK: the caller
 * words the error); FS_ENOMEM with a message when memory runs out. Scenarios and sweeps. */
fs_err cfg_read_file(const char *path, char **text, size_t *len);

/* YAML 1.2 core-schema float and integer syntax (see parse.c). */
bool cfg_parse_float(const char *s, double *out);
bool cfg_parse_integer(const char *s, double *out);

/* ---- JSON (render.c): the one emitter of a value; params, run keys and swept values ------- */

void cfg_json_string(FILE *f, const char *s);
/* %.17g (exact; the stored params and run keys of existing runs depend on it), null if not
 * finite. */
void cfg_json_number(FILE *f, double v);
/* The value of key k in c. */
void cfg_json_value(FILE *f, const cfg *c, const cfg_key *k);

#endif
