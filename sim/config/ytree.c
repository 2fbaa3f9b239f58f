/* The positioned YAML tree (see ytree.h). */
#include "config/ytree.h"

#include <libfyaml.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void yn_free(ynode *n)
{
    if (!n) return;
    for (int i = 0; i < n->n; i++) yn_free(n->kid[i]);
    free(n->kid);
    free(n->text);
    free(n);
}

bool yn_is_null(const ynode *n)
{
    if (n->kind != YN_SCALAR || !n->plain) return false;
    const char *t = n->text;
    return t[0] == '\0' || strcmp(t, "~") == 0 || strcmp(t, "null") == 0 ||
           strcmp(t, "Null") == 0 || strcmp(t, "NULL") == 0;
}

static fs_err yn_append(ynode *parent, ynode *child)
{
    if (parent->n == parent->cap) {
        int cap = parent->cap ? 2 * parent->cap : 8;
        ynode **k = realloc(parent->kid, (size_t)cap * sizeof *k);
        if (!k) return fs_error(FS_ENOMEM, "out of memory reading YAML");
        parent->kid = k;
        parent->cap = cap;
    }
    parent->kid[parent->n++] = child;
    return FS_OK;
}

static void diag_swallow(struct fy_diag *diag, void *user, const char *buf, size_t len)
{
    (void)diag;
    (void)user;
    (void)buf;
    (void)len;
}

/* Set e to (line, col) and a message; FS_EINPUT. */
static fs_err text_error(yerr *e, int line, int col, const char *msg, unsigned byte)
{
    e->line = line;
    e->col = col;
    snprintf(e->msg, sizeof e->msg, msg, byte);
    return FS_EINPUT;
}

/* Length of the UTF-8 sequence at s (at most n bytes), 0 if it is not well-formed (RFC 3629:
 * no overlong forms, no surrogates, nothing above U+10FFFF). */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    size_t k;
    unsigned lo = 0x80, hi = 0xBF;
    if (c < 0x80) return 1;
    if (c >= 0xC2 && c <= 0xDF)
        k = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        k = 3;
        if (c == 0xE0) lo = 0xA0;
        if (c == 0xED) hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        k = 4;
        if (c == 0xF0) lo = 0x90;
        if (c == 0xF4) hi = 0x8F;
    } else {
        return 0;
    }
    if (n < k || s[1] < lo || s[1] > hi) return 0;
    for (size_t i = 2; i < k; i++)
        if (s[i] < 0x80 || s[i] > 0xBF) return 0;
    return k;
}

/* Text in UTF-16 (or UTF-32) without a byte-order mark: its first (up to) four characters are
 * ASCII with NUL bytes beside them, all on the same side. */
static bool utf16_without_bom(const unsigned char *s, size_t len)
{
    size_t n = len < 8 ? len & ~(size_t)1 : 8;
    if (n < 4) return false;
    bool be = true, le = true;
    for (size_t i = 0; i < n; i += 2) {
        be = be && s[i] == 0 && s[i + 1] >= 0x09 && s[i + 1] < 0x80;
        le = le && s[i + 1] == 0 && s[i] >= 0x09 && s[i] < 0x80;
    }
    return be || le;
}

fs_err yaml_check_text(const char *text, size_t len, yerr *e)
{
    const unsigned char *s = (const unsigned char *)text;
    e->line = e->col = 0;
    e->msg[0] = '\0';
    if (len >= 2 && ((s[0] == 0xFF && s[1] == 0xFE) || (s[0] == 0xFE && s[1] == 0xFF) ||
                     utf16_without_bom(s, len)))
        return text_error(e, 1, 1, "UTF-16 (or UTF-32) is not supported: save the file as UTF-8",
                          0);
    int line = 1, col = 1;
    char quote = 0;         /* inside a '...' or "..." scalar */
    int comment = 0;        /* after '#' to the end of the line */
    unsigned char prev = 0; /* last byte that was not a space or tab on this line (0: none) */
    for (size_t i = 0; i < len;) {
        unsigned char c = s[i];
        if (c == '\n') {
            comment = 0;
            prev = 0;
        } else if (comment) {
        } else if (quote) {
            if (quote == '"' && c == '\\' && i + 1 < len && s[i + 1] != '\n')
                i++, col++; /* the escaped character */
            else if (c == (unsigned char)quote && quote == '\'' && i + 1 < len && s[i + 1] == '\'')
                i++, col++; /* '' inside '...' */
            else if (c == (unsigned char)quote)
                quote = 0;
        } else if (c == '#' &&
                   (i == 0 || s[i - 1] == ' ' || s[i - 1] == '\t' || s[i - 1] == '\n')) {
            comment = 1;
        } else if ((c == '"' || c == '\'') && (prev == 0 || strchr("-?:[{,", prev))) {
            quote = (char)c;
        } else if (c == '?' && (prev == 0 || strchr("-?:[{,", prev)) &&
                   (i + 1 == len || s[i + 1] == ' ' || s[i + 1] == '\t' || s[i + 1] == '\r' ||
                    s[i + 1] == '\n')) {
            /* libfyaml 0.7.12 crashes on some explicit keys ('? ?a:<tab>?'); no scenario needs
             * one */
            return text_error(e, line, col, "an explicit '?' key: not supported in a scenario", 0);
        }
        if (c != ' ' && c != '\t' && c != '\n' && !comment) prev = c;
        if (col == 1 && c == '%' && !(len - i > 6 && memcmp(text + i, "%YAML ", 6) == 0) &&
            !(len - i > 5 && memcmp(text + i, "%TAG ", 5) == 0))
            return text_error(e, line, col,
                              "a line starting with '%%' that is not a %%YAML or %%TAG directive",
                              0);
        if (c == '\n') {
            line++;
            col = 1;
            i++;
            continue;
        }
        if ((c < 0x20 && c != '\t' && c != '\r') || c == 0x7F)
            return text_error(e, line, col, "binary data (byte 0x%02X): not a YAML text", c);
        size_t k = utf8_len(s + i, len - i);
        if (k == 0) return text_error(e, line, col, "invalid UTF-8 (byte 0x%02X)", c);
        i += k;
        col++;
    }
    return FS_OK;
}

/* Parse text into a tree. *root is NULL for an empty stream or document. Returns FS_EINPUT with
 * e filled on a syntax error (or a second document), FS_ENOMEM on allocation failure. */
fs_err yaml_build(const char *text, size_t len, ynode **root, yerr *e)
{
    enum { DEPTH = 256 };
    ynode *stack[DEPTH];
    int top = 0, docs = 0, last_line = 1, last_col = 1;
    fs_err rc = FS_OK;
    *root = NULL;
    e->line = e->col = 0;
    e->msg[0] = '\0';
    /* libfyaml 0.7.12 loops forever on some malformed input ('%' then a byte that is not UTF-8:
     * docs/dependencies.md); it never sees text that fails these checks. */
    fs_err tc = yaml_check_text(text, len, e);
    if (tc != FS_OK) return tc;

    struct fy_diag_cfg dc;
    fy_diag_cfg_default(&dc);
    dc.fp = NULL;
    dc.output_fn = diag_swallow;
    dc.colorize = false;
    struct fy_diag *diag = fy_diag_create(&dc);
    if (!diag) return fs_error(FS_ENOMEM, "cannot create the YAML diagnostics");
    fy_diag_set_collect_errors(diag, true);
    struct fy_parse_cfg pc = {.flags = FYPCF_QUIET, .diag = diag};
    struct fy_parser *fyp = fy_parser_create(&pc);
    if (!fyp) {
        fy_diag_destroy(diag);
        return fs_error(FS_ENOMEM, "cannot create the YAML parser");
    }
    if (len == 0) goto done; /* libfyaml wants a non-empty input */
    if (fy_parser_set_string(fyp, text, len) != 0) {
        rc = fs_error(FS_ENOMEM, "cannot hand the text to the YAML parser");
        goto done;
    }

    struct fy_event *ev;
    while ((ev = fy_parser_parse(fyp))) {
        enum fy_event_type t = ev->type;
        const struct fy_mark *m = fy_event_start_mark(ev);
        int line = m && m->line >= 0 ? m->line + 1 : 0;
        int col = m && m->line >= 0 ? m->column + 1 : 0;
        if (line > 0) {
            last_line = line;
            last_col = col;
        }
        ynode *n = NULL;
        if (t == FYET_DOCUMENT_START) {
            docs++;
        } else if (t == FYET_MAPPING_END || t == FYET_SEQUENCE_END) {
            if (top > 0) top--;
        } else if (t == FYET_MAPPING_START || t == FYET_SEQUENCE_START || t == FYET_SCALAR ||
                   t == FYET_ALIAS) {
            if (docs > 1) {
                e->line = line > 0 ? line : last_line; /* an empty document has no mark */
                e->col = line > 0 ? col : last_col;
                snprintf(e->msg, sizeof e->msg, "a second YAML document ('---') in one scenario");
                rc = FS_EINPUT;
            } else if (!(n = calloc(1, sizeof *n))) {
                rc = fs_error(FS_ENOMEM, "out of memory reading YAML");
            } else {
                n->line = line;
                n->col = col;
                n->kind = t == FYET_MAPPING_START    ? YN_MAP
                          : t == FYET_SEQUENCE_START ? YN_SEQ
                          : t == FYET_SCALAR         ? YN_SCALAR
                                                     : YN_ALIAS;
                if (top > 0)
                    rc = yn_append(stack[top - 1], n);
                else if (!*root)
                    *root = n;
                else
                    rc = fs_error(FS_EINTERNAL, "YAML: two roots in one document");
                if (rc != FS_OK) {
                    free(n);
                    n = NULL;
                }
            }
            if (n && t == FYET_SCALAR) {
                size_t l = 0;
                const char *s = fy_token_get_text(ev->scalar.value, &l);
                n->text = malloc(l + 1);
                if (!n->text) {
                    rc = fs_error(FS_ENOMEM, "out of memory reading YAML");
                } else {
                    if (l) memcpy(n->text, s, l);
                    n->text[l] = '\0';
                    n->len = l;
                    enum fy_scalar_style st = fy_token_scalar_style(ev->scalar.value);
                    n->plain = st == FYSS_PLAIN;
                    /* Quoted scalars are marked at their first character: point at the quote. */
                    if ((st == FYSS_SINGLE_QUOTED || st == FYSS_DOUBLE_QUOTED) && n->col > 1)
                        n->col--;
                }
            }
            if (n && t == FYET_ALIAS && n->col > 1) n->col--; /* marked after the '*' */
            if (n && n->line == 0) { /* an empty value has no mark: just after its key */
                const ynode *p = top > 0 ? stack[top - 1] : NULL;
                if (p && p->kind == YN_MAP && p->n % 2 == 0 &&
                    p->kid[p->n - 2]->kind == YN_SCALAR) {
                    const ynode *k = p->kid[p->n - 2];
                    n->line = k->line;
                    n->col = k->col + (int)k->len + (k->plain ? 1 : 3);
                } else if (p) {
                    n->line = p->line;
                    n->col = p->col;
                } else {
                    n->line = n->col = 1;
                }
            }
            if (n && (t == FYET_MAPPING_START || t == FYET_SEQUENCE_START)) {
                if (top == DEPTH) {
                    e->line = line;
                    e->col = col;
                    snprintf(e->msg, sizeof e->msg, "nesting deeper than %d levels", DEPTH);
                    rc = FS_EINPUT;
                } else {
                    stack[top++] = n;
                }
            }
        }
        fy_parser_event_free(fyp, ev);
        if (rc != FS_OK) break;
    }
    if (rc == FS_OK && fy_parser_get_stream_error(fyp)) {
        void *it = NULL;
        struct fy_diag_error *de = fy_diag_errors_iterate(diag, &it);
        if (de && de->line > 0) {
            e->line = de->line;
            e->col = de->column > 0 ? de->column : 1;
            snprintf(e->msg, sizeof e->msg, "%s", de->msg ? de->msg : "YAML syntax error");
        } else { /* some libfyaml errors carry no position: the last node it read */
            e->line = last_line;
            e->col = last_col;
            snprintf(e->msg, sizeof e->msg, "YAML syntax error after this point");
        }
        rc = FS_EINPUT;
    }
done:
    fy_parser_destroy(fyp);
    fy_diag_destroy(diag);
    if (rc != FS_OK) {
        yn_free(*root);
        *root = NULL;
    }
    return rc;
}
