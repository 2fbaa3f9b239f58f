/* King James Bible importer (Debian's bible-kjv) and the text windowing shared with the TFF
 * importer. The `bible` command runs once (popen) with -f, which prints one verse per line as
 * "<book><chapter>:<verse> <text>"; every line is checked (reference form, chapters and verses
 * consecutive, characters in the fixed vocabulary), so a truncated or foreign input is reported
 * with its line. The task follows LEAF's Shakespeare (Caldas et al. 2018): next character,
 * natural clients. Guarantees: decoding a chapter's windows gives its cleaned text followed by
 * spaces; train and test windows of a chapter are disjoint and in text order. */
#include "data/importers.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <zlib.h>

const char imp_kjv_vocab[] = " !'(),-.:;?"
                             "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                             "abcdefghijklmnopqrstuvwxyz";

#define KJV_COMMAND "bible -f 'Gen1:1-Rev22:21'"

/* windows of unit u that go to the test split */
static size_t unit_n_test(const uint8_t *unit_test, size_t u, size_t nw, double test_fraction)
{
    if (unit_test) return unit_test[u] ? nw : 0;
    return (size_t)(test_fraction * (double)nw);
}

fs_err imp_text_windows(dataset *ds, const uint8_t *const *tok, const size_t *len,
                        const int32_t *client, const uint8_t *unit_test, size_t n_units, int T,
                        double test_fraction, uint8_t pad)
{
    if (T < 1 || !(test_fraction >= 0 && test_fraction < 1))
        return fs_error(FS_EINPUT,
                        "text windows: length %d must be >= 1 and test fraction %g in "
                        "[0, 1)",
                        T, test_fraction);
    const size_t t = (size_t)T;
    size_t n_train = 0, n_test = 0;
    for (size_t u = 0; u < n_units; u++) {
        size_t nw = (len[u] + t - 1) / t, nt = unit_n_test(unit_test, u, nw, test_fraction);
        n_test += nt;
        n_train += nw - nt;
    }
    fs_err e = ds_split_alloc(ds, &ds->train, n_train, 1);
    if (!e) e = ds_split_alloc(ds, &ds->test, n_test, 1);
    if (e) return e;
    size_t i_train = 0, i_test = 0;
    for (size_t u = 0; u < n_units; u++) {
        const size_t L = len[u], nw = (L + t - 1) / t;
        const size_t nt = unit_n_test(unit_test, u, nw, test_fraction);
        for (size_t w = 0; w < nw; w++) {
            ds_split *s = w < nw - nt ? &ds->train : &ds->test;
            size_t row = w < nw - nt ? i_train++ : i_test++;
            uint8_t *x = (uint8_t *)s->x + row * t;
            int32_t *y = s->y + row * t;
            for (size_t j = 0; j < t; j++) {
                size_t a = w * t + j;
                x[j] = a < L ? tok[u][a] : pad;
                y[j] = a + 1 < L ? tok[u][a + 1] : pad;
            }
            s->client[row] = client[u];
        }
    }
    FS_CHECK(i_train == n_train && i_test == n_test);
    return FS_OK;
}

/* Whole input in memory (the command's output or a file); crc32 of the bytes. */
static fs_err read_all(const imp_kjv_opts *o, char **out, size_t *n, uLong *crc)
{
    FILE *f = o->text_path ? fopen(o->text_path, "rb") : popen(KJV_COMMAND, "r");
    const char *what = o->text_path ? o->text_path : KJV_COMMAND;
    if (!f) return fs_error(FS_EINPUT, "%s: cannot open", what);
    size_t cap = 1 << 20, len = 0;
    char *buf = malloc(cap);
    fs_err e = buf ? FS_OK : fs_error(FS_ENOMEM, "out of memory reading %s", what);
    while (!e) {
        if (len + 65536 + 1 > cap) {
            char *nb = realloc(buf, cap * 2);
            if (!nb) {
                e = fs_error(FS_ENOMEM, "out of memory reading %s", what);
                break;
            }
            buf = nb;
            cap *= 2;
        }
        size_t r = fread(buf + len, 1, 65536, f);
        len += r;
        if (r == 0) break;
    }
    if (!e && ferror(f)) e = fs_error(FS_EIO, "%s: read error", what);
    if (o->text_path) {
        fclose(f);
    } else {
        int st = pclose(f);
        if (!e && st != 0)
            e = fs_error(FS_EINPUT,
                         "`%s` failed (exit status %d): is Debian's bible-kjv installed? "
                         "(apt-get install bible-kjv)",
                         KJV_COMMAND, WIFEXITED(st) ? WEXITSTATUS(st) : -1);
    }
    if (!e && len == 0) e = fs_error(FS_EDATA, "%s: no text", what);
    if (e) {
        free(buf);
        return e;
    }
    buf[len] = '\0';
    *crc = crc32(crc32(0L, Z_NULL, 0), (const Bytef *)buf, (uInt)len);
    *out = buf;
    *n = len;
    return FS_OK;
}

typedef struct kjv_unit {
    size_t start, len; /* token range of the chapter */
    int book;          /* 0-based book index */
    char name[24];     /* e.g. "Ge1" */
    char book_name[16];
} kjv_unit;

/* Parse "<book><chapter>:<verse> " at line; returns the text start or NULL. */
static const char *parse_ref(const char *line, const char *end, char *book, size_t cap, long *ch,
                             long *verse)
{
    const char *colon = NULL, *p = line;
    while (p < end && *p != ' ' && *p != ':') p++;
    if (p >= end || *p != ':') return NULL;
    colon = p;
    const char *d = colon;
    while (d > line && isdigit((unsigned char)d[-1])) d--;
    if (d == colon || d == line || !isalpha((unsigned char)d[-1])) return NULL;
    size_t bl = (size_t)(d - line);
    if (bl >= cap) return NULL;
    memcpy(book, line, bl);
    book[bl] = '\0';
    *ch = strtol(d, NULL, 10);
    p = colon + 1;
    if (p >= end || !isdigit((unsigned char)*p)) return NULL;
    *verse = strtol(p, NULL, 10);
    while (p < end && isdigit((unsigned char)*p)) p++;
    if (p >= end || *p != ' ') return NULL;
    return p + 1;
}

/* The parsed text: the cleaned tokens, grouped by chapter (units) in text order. */
typedef struct kjv_text {
    uint8_t *tok; /* cleaned text never exceeds the input */
    size_t nt;
    kjv_unit *units;
    size_t n_units, cap_u;
    int n_books;
} kjv_text;

static void kjv_text_free(kjv_text *t)
{
    free(t->tok);
    free(t->units);
}

/* Start chapter ch of book (a new book when new_book). */
static fs_err kjv_new_unit(kjv_text *t, int new_book, const char *book, long ch)
{
    if (t->n_units == t->cap_u) {
        kjv_unit *nu = realloc(t->units, 2 * t->cap_u * sizeof *t->units);
        if (!nu) return fs_error(FS_ENOMEM, "out of memory");
        t->units = nu;
        t->cap_u *= 2;
    }
    if (new_book) t->n_books++;
    kjv_unit *u = &t->units[t->n_units++];
    u->start = t->nt;
    u->len = 0;
    u->book = t->n_books - 1;
    snprintf(u->book_name, sizeof u->book_name, "%s", book);
    snprintf(u->name, sizeof u->name, "%s%ld", book, ch);
    return FS_OK;
}

/* Append the verse text [p, end) to the current chapter: whitespace runs -> one space, trimmed;
 * verses joined by one space; every character must be in the vocabulary (code). */
static fs_err kjv_add_verse(kjv_text *t, const char *p, const char *end, const uint8_t *code,
                            const char *what, size_t line_no)
{
    kjv_unit *u = &t->units[t->n_units - 1];
    int pending_space = u->len > 0;
    for (; p < end; p++) {
        unsigned char cch = (unsigned char)*p;
        if (isspace(cch)) {
            pending_space = u->len > 0 || pending_space;
            continue;
        }
        if (code[cch] == 0xff)
            return fs_error(FS_EDATA,
                            "%s: line %zu: character '%c' (0x%02x) is not in the KJV "
                            "vocabulary",
                            what, line_no, isprint(cch) ? cch : '?', cch);
        if (pending_space) t->tok[t->nt++] = code[' '], u->len++;
        pending_space = 0;
        t->tok[t->nt++] = code[cch];
        u->len++;
    }
    return FS_OK;
}

/* Parse the text line by line into t, checking every reference (books start at chapter 1,
 * chapters and verses consecutive). */
static fs_err kjv_parse(const char *text, size_t n, const char *what, const uint8_t *code,
                        kjv_text *t)
{
    memset(t, 0, sizeof *t);
    t->tok = malloc(n + 1);
    t->cap_u = 2048;
    t->units = malloc(t->cap_u * sizeof *t->units);
    if (!t->tok || !t->units) return fs_error(FS_ENOMEM, "out of memory");
    char book[16] = "", prev_book[16] = "";
    long prev_ch = 0, prev_v = 0;
    size_t line_no = 0;
    fs_err e = FS_OK;
    for (const char *line = text; line < text + n && !e;) {
        const char *end = memchr(line, '\n', (size_t)(text + n - line));
        if (!end) end = text + n;
        line_no++;
        if (end == line) { /* blank line */
            line = end + 1;
            continue;
        }
        long ch = 0, v = 0;
        const char *p = parse_ref(line, end, book, sizeof book, &ch, &v);
        if (!p)
            return fs_error(FS_EDATA,
                            "%s: line %zu: expected '<book><chapter>:<verse> <text>', got "
                            "'%.40s' (the importer reads the unformatted output of `bible -f`)",
                            what, line_no, line);
        int new_book = strcmp(book, prev_book) != 0, new_ch = new_book || ch != prev_ch;
        if ((new_book && ch != 1) || (!new_book && new_ch && ch != prev_ch + 1) ||
            (new_ch && v != 1) || (!new_ch && v != prev_v + 1))
            return fs_error(FS_EDATA,
                            "%s: line %zu: %s%ld:%ld follows %s%ld:%ld (verses missing or out "
                            "of order: truncated output?)",
                            what, line_no, book, ch, v, prev_book, prev_ch, prev_v);
        if (new_ch) e = kjv_new_unit(t, new_book, book, ch);
        if (!e) e = kjv_add_verse(t, p, end, code, what, line_no);
        snprintf(prev_book, sizeof prev_book, "%s", book);
        prev_ch = ch;
        prev_v = v;
        line = end + 1;
    }
    if (!e && t->n_units == 0) e = fs_error(FS_EDATA, "%s: no verses found", what);
    return e;
}

/* The dataset from the parsed text: clients are chapters or books, each chapter's last
 * windows are its test windows. */
static fs_err kjv_dataset(const imp_kjv_opts *o, const kjv_text *t, const uint8_t *code, int T,
                          double frac, uLong crc, dataset *ds)
{
    const int by_book = o->clients == IMP_KJV_BOOKS;
    const size_t n_units = t->n_units;
    const int n_clients = by_book ? t->n_books : (int)n_units;
    const uint8_t **uptr = malloc(n_units * sizeof *uptr);
    size_t *ulen = malloc(n_units * sizeof *ulen);
    int32_t *ucl = malloc(n_units * sizeof *ucl);
    const char **names = malloc((size_t)n_clients * sizeof *names);
    fs_err e = FS_OK;
    if (!uptr || !ulen || !ucl || !names) {
        e = fs_error(FS_ENOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < n_units; i++) {
        uptr[i] = t->tok + t->units[i].start;
        ulen[i] = t->units[i].len;
        ucl[i] = by_book ? t->units[i].book : (int32_t)i;
        names[ucl[i]] = by_book ? t->units[i].book_name : t->units[i].name;
    }
    snprintf(ds->name, sizeof ds->name, "kjv");
    snprintf(ds->source, sizeof ds->source,
             "King James Bible, Debian bible-kjv (%s); next character, T = %d, clients = %s, "
             "test = last %g of each chapter's windows",
             o->text_path ? o->text_path : KJV_COMMAND, T, by_book ? "books" : "chapters", frac);
    imp_set_date(ds);
    snprintf(ds->checksum, sizeof ds->checksum, "crc32:%08lx", crc);
    ds->dtype = DS_U8;
    ds->task = DS_SEQUENCE;
    ds->shape[0] = ds->shape[1] = 1;
    ds->shape[2] = T;
    ds->feat = (size_t)T;
    ds->y_len = T;
    ds->n_classes = (int)strlen(imp_kjv_vocab);
    ds->x_scale = 1.0f;
    ds->n_natural = n_clients;
    ds->vocab = malloc(sizeof imp_kjv_vocab);
    if (!ds->vocab) {
        e = fs_error(FS_ENOMEM, "out of memory");
        goto out;
    }
    memcpy(ds->vocab, imp_kjv_vocab, sizeof imp_kjv_vocab);
    e = ds_names_set(&ds->client_names, n_clients, names);
    if (!e) e = imp_text_windows(ds, uptr, ulen, ucl, NULL, n_units, T, frac, code[' ']);
out:
    free(uptr);
    free(ulen);
    free(ucl);
    free(names);
    return e;
}

fs_err imp_kjv(const imp_kjv_opts *o, dataset *ds)
{
    memset(ds, 0, sizeof *ds);
    const int T = o->seq_len > 0 ? o->seq_len : IMP_DEFAULT_SEQ_LEN;
    const double frac = o->test_fraction >= 0 ? o->test_fraction : IMP_DEFAULT_TEST_FRACTION;
    if (T > 100000 || frac >= 1)
        return fs_error(FS_EINPUT, "kjv: --seq-len must be 1..100000 and --test-fraction in "
                                   "[0, 1)");
    const char *what = o->text_path ? o->text_path : KJV_COMMAND;
    uint8_t code[256];
    memset(code, 0xff, sizeof code);
    for (int i = 0; imp_kjv_vocab[i]; i++) code[(unsigned char)imp_kjv_vocab[i]] = (uint8_t)i;
    char *text = NULL;
    size_t n = 0;
    uLong crc = 0;
    fs_err e = read_all(o, &text, &n, &crc);
    if (e) return e;
    kjv_text t;
    e = kjv_parse(text, n, what, code, &t);
    if (!e) e = kjv_dataset(o, &t, code, T, frac, crc, ds);
    if (e) ds_free(ds);
    kjv_text_free(&t);
    free(text);
    return e;
}
