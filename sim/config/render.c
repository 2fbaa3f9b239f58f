/* The renderings of the key table: the JSON of resolved parameters (stored with every run; the
 * run key of a sweep hashes it, so its text must not change for existing keys) and the key
 * reference docs/scenario.md. The one JSON emitter of a key's value is here (sweep.c's swept
 * values use it too). No global state. */
#include "config/config_int.h"

#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

void cfg_json_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(f, "\\%c", *p);
        else if (*p == '\n')
            fputs("\\n", f);
        else if (*p == '\t')
            fputs("\\t", f);
        else if (*p < 0x20)
            fprintf(f, "\\u%04x", *p);
        else
            fputc(*p, f);
    }
    fputc('"', f);
}

void cfg_json_number(FILE *f, double v)
{
    if (isfinite(v))
        fprintf(f, "%.17g", v);
    else
        fputs("null", f);
}

void cfg_json_value(FILE *f, const cfg *c, const cfg_key *k)
{
    const char *field = (const char *)c + k->offset;
    switch (k->type) {
    case CFG_T_INT: {
        int v;
        memcpy(&v, field, sizeof v);
        fprintf(f, "%d", v);
        break;
    }
    case CFG_T_U64: {
        uint64_t v;
        memcpy(&v, field, sizeof v);
        fprintf(f, "%" PRIu64, v);
        break;
    }
    case CFG_T_FLOAT: {
        double v;
        memcpy(&v, field, sizeof v);
        cfg_json_number(f, v);
        break;
    }
    case CFG_T_STRING:
    case CFG_T_ENUM:
        cfg_json_string(f, field);
        break;
    case CFG_T_INTLIST: {
        const cfg_int_list *l = (const cfg_int_list *)(const void *)field;
        fputc('[', f);
        for (int j = 0; j < l->n; j++) fprintf(f, "%s%d", j ? ", " : "", l->v[j]);
        fputc(']', f);
        break;
    }
    }
}

/* Does key k hold the same value in a and b? */
static bool key_equal(const cfg_key *k, const cfg *a, const cfg *b)
{
    const char *x = (const char *)a + k->offset, *y = (const char *)b + k->offset;
    switch (k->type) {
    case CFG_T_INT:
        return memcmp(x, y, sizeof(int)) == 0;
    case CFG_T_U64:
        return memcmp(x, y, sizeof(uint64_t)) == 0;
    case CFG_T_FLOAT:
        return memcmp(x, y, sizeof(double)) == 0;
    case CFG_T_STRING:
    case CFG_T_ENUM:
        return strcmp(x, y) == 0;
    case CFG_T_INTLIST: {
        const cfg_int_list *l = (const cfg_int_list *)(const void *)x;
        const cfg_int_list *m = (const cfg_int_list *)(const void *)y;
        return l->n == m->n && memcmp(l->v, m->v, (size_t)l->n * sizeof(int)) == 0;
    }
    }
    return false;
}

char *cfg_to_json(const cfg *c)
{
    return cfg_to_json_diff(c, NULL);
}

char *cfg_to_json_diff(const cfg *c, const cfg *base)
{
    char *buf = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&buf, &size);
    if (!f) {
        fs_error(FS_ENOMEM, "cannot open a memory stream for the JSON");
        return NULL;
    }
    fputc('{', f);
    int written = 0;
    for (int s = 0; s < cfg_n_sections; s++)
        for (const cfg_key *k = cfg_sections[s].keys; k->path; k++) {
            if (base && key_equal(k, c, base)) continue;
            if (written++) fputs(", ", f);
            cfg_json_string(f, k->path);
            fputs(": ", f);
            cfg_json_value(f, c, k);
        }
    for (int i = 0; i < cfg_n_list_keys; i++) {
        const cfg_list_key *lk = cfg_list_keys[i];
        if (!lk->given(c)) continue; /* only when given: run keys of other scenarios unchanged */
        if (written++) fputs(", ", f);
        cfg_json_string(f, lk->path);
        fputs(": ", f);
        lk->json(f, c);
    }
    fputc('}', f);
    if (fclose(f) != 0) {
        free(buf);
        fs_error(FS_ENOMEM, "cannot write the JSON");
        return NULL;
    }
    return buf;
}

static const char *type_name(cfg_type t)
{
    switch (t) {
    case CFG_T_INT:
        return "integer";
    case CFG_T_U64:
        return "integer (64-bit)";
    case CFG_T_FLOAT:
        return "number";
    case CFG_T_STRING:
        return "string";
    case CFG_T_ENUM:
        return "choice";
    case CFG_T_INTLIST:
        return "integer list";
    }
    return "?";
}

/* The section of a path ("" for a top-level key) into sec. */
static void section_of(const char *path, char *sec, size_t n)
{
    const char *dot = strchr(path, '.');
    size_t len = dot ? (size_t)(dot - path) : 0;
    if (len >= n) len = n - 1;
    memcpy(sec, path, len);
    sec[len] = '\0';
}

void cfg_print_markdown(FILE *out)
{
    fprintf(out, "# Scenario keys\n\n"
                 "Generated from the key table in sim/config/ (one sec_*.c file per group of "
                 "sections, cfg_print_markdown); do not edit by hand.\n"
                 "Nested mappings give the dotted paths (`train: {lr: 0.1}` sets `train.lr`); "
                 "`--set key.path=value` overrides one key. A top-level `sweep` section is read "
                 "by `fedsim sweep`.\n");
    char section[CFG_STR] = "\x01";
    const cfg_key *k;
    for (int i = 0; (k = cfg_key_at(i)); i++) {
        char sec[CFG_STR];
        section_of(k->path, sec, sizeof sec);
        if (strcmp(sec, section) != 0) {
            snprintf(section, sizeof section, "%s", sec);
            fprintf(out,
                    "\n## %s\n\n| key | type | default | allowed | description |\n"
                    "| --- | --- | --- | --- | --- |\n",
                    sec[0] ? sec : "general");
        }
        char allowed[320];
        switch (k->type) {
        case CFG_T_INT:
        case CFG_T_U64:
        case CFG_T_FLOAT:
            cfg_range_text(k, allowed, sizeof allowed);
            break;
        case CFG_T_STRING:
            snprintf(allowed, sizeof allowed, "up to %zu characters", k->size - 1);
            break;
        case CFG_T_ENUM:
            cfg_choices_text(k->choices, allowed, sizeof allowed, "`");
            break;
        case CFG_T_INTLIST: {
            char r[96];
            cfg_range_text(k, r, sizeof r);
            snprintf(allowed, sizeof allowed, "up to %d values, each %s", CFG_LIST_MAX, r);
            break;
        }
        }
        fprintf(out, "| `%s` | %s | `%s` | %s | %s |\n", k->path, type_name(k->type), k->def,
                allowed, k->doc);
        /* after a section's last key, its list keys */
        const cfg_key *next = cfg_key_at(i + 1);
        char nsec[CFG_STR] = "\x01";
        if (next) section_of(next->path, nsec, sizeof nsec);
        if (sec[0] && strcmp(nsec, sec) != 0)
            for (int j = 0; j < cfg_n_list_keys; j++) {
                char lsec[CFG_STR];
                cfg_parent_of(cfg_list_keys[j]->path, lsec, sizeof lsec);
                if (strcmp(lsec, sec) == 0) cfg_list_keys[j]->markdown(out);
            }
    }
}
