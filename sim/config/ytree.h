/* A small YAML tree built from libfyaml's events, each node with its 1-based line and column
 * (libfyaml 0.7 has no public node marks). Shared by the scenario parser (parse.c) and the
 * sweep parser (sweep.c), so both report file:line:col the same way. */
#ifndef FEDSIM_YTREE_H
#define FEDSIM_YTREE_H

#include <stdbool.h>
#include <stddef.h>

#include "util/err.h"

typedef enum yn_kind { YN_SCALAR, YN_MAP, YN_SEQ, YN_ALIAS } yn_kind;

typedef struct ynode {
    yn_kind kind;
    int line, col; /* 1-based */
    bool plain;    /* scalar written without quotes or block style */
    char *text;    /* scalar: value, NUL-terminated */
    size_t len;
    struct ynode **kid; /* map: key, value, key, value, ...; seq: items */
    int n, cap;
} ynode;

/* Where and why parsing failed. */
typedef struct yerr {
    int line, col;
    char msg[256];
} yerr;

void yn_free(ynode *n);
/* An empty value, ~ or null (unquoted). */
bool yn_is_null(const ynode *n);
/* Reject text no scenario can be, before any parser sees it: UTF-16/32 (a byte-order mark or
 * NUL bytes beside ASCII at the start), control bytes other than tab, CR and LF ("binary
 * data"), ill-formed UTF-8, lines starting with '%' other than %YAML and %TAG directives, and
 * the explicit-key indicator '?' outside quotes and comments.
 * FS_EINPUT with e at the first bad byte (line and column in characters, 1-based). */
fs_err yaml_check_text(const char *text, size_t len, yerr *e);
/* Parse text into a tree (after yaml_check_text). *root is NULL for an empty stream or document.
 * Returns FS_EINPUT with e filled on a syntax error (or a second document), FS_ENOMEM on allocation
 * failure. */
fs_err yaml_build(const char *text, size_t len, ynode **root, yerr *e);

#endif
