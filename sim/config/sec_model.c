/* The model section: the model.* keys of the table, model.layers (a custom model, a list of
 * mappings, one per layer, e.g. {type: conv2d, filters: 6, kernel: 5}) and model.freeze (a list
 * of layer names) with their parsers, JSON and rows of docs/scenario.md, and the checks of the
 * section (docs/models.md). Every error points at the entry or field at fault. */
#include "config/config_int.h"

#include <stdarg.h>
#include <string.h>

const cfg_key cfg_keys_model[] = {
    K_ENUM("model.name", model.name, "mlp", "logreg|mlp|lenet|cnn|char_lstm|custom",
           "model trained by every client (docs/models.md); custom: the layers of model.layers"),
    K_LIST("model.hidden", model.hidden, "[200, 200]", 1, 65536,
           "mlp: hidden layer widths (ReLU), e.g. [200, 200]"),
    K_INT("model.embedding_dim", model.embedding_dim, "8", 1, 65536,
          "char_lstm: embedding dimension (LEAF's Shakespeare model: 8)"),
    K_LIST("model.lstm_units", model.lstm_units, "[256, 256]", 1, 65536,
           "char_lstm: one LSTM layer per width (LEAF: [256, 256])"),
    K_STR("model.init_from", model.init_from, "\"\"",
          "checkpoint (.h5) to start from instead of a fresh initialisation; the architecture "
          "must match"),
    {0},
};

/* Layer types and the fields each takes besides type and name. */
static const struct {
    const char *type;
    const char *fields; /* "units|filters|..." */
    const char *required;
} layer_types[] = {
    {"dense", "units", "units"},
    {"conv2d", "filters|kernel|stride|padding", "filters|kernel"},
    {"maxpool", "kernel|stride", "kernel"},
    {"avgpool", "kernel|stride", "kernel"},
    {"relu", "", ""},
    {"tanh", "", ""},
    {"sigmoid", "", ""},
    {"flatten", "", ""},
    {"dropout", "rate", "rate"},
    {"embedding", "units", "units"},
    {"lstm", "units", "units"},
};
static const char layer_fields[] = "type|name|units|filters|kernel|stride|padding|rate";
enum { N_LAYER_TYPES = sizeof layer_types / sizeof layer_types[0] };

static fs_err layer_error_at(pctx *x, const ynode *n, const char *hint, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static fs_err layer_error_at(pctx *x, const ynode *n, const char *hint, const char *fmt, ...)
{
    diag_at_node(x, n);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(x->d->msg, sizeof x->d->msg, fmt, ap);
    va_end(ap);
    diag_hint(x->d, "%s", hint);
    return diag_done(x->d);
}

/* An integer field of entry i in [lo, hi]. */
static fs_err layer_int(pctx *x, int i, const char *field, const ynode *v, double lo, double hi,
                        int *out)
{
    double val;
    if (v->kind != YN_SCALAR || !v->plain || !cfg_parse_integer(v->text, &val))
        return layer_error_at(x, v, "write a whole number, e.g. 5",
                              "model.layers[%d].%s must be an integer, got %s%s%s", i, field,
                              v->kind == YN_SCALAR ? "'" : yn_kind_phrase(v),
                              v->kind == YN_SCALAR ? v->text : "", v->kind == YN_SCALAR ? "'" : "");
    if (val < lo || val > hi) {
        char h[96];
        snprintf(h, sizeof h, "allowed: %.0f ... %.0f", lo, hi);
        return layer_error_at(x, v, h, "model.layers[%d].%s = %s is out of range", i, field,
                              v->text);
    }
    *out = (int)val;
    return FS_OK;
}

typedef struct layer_ctx {
    cfg_layer *l;
    int ti; /* index into layer_types */
} layer_ctx;

/* One field of layer i (cfg_list_fields checked its name is plain and given once). */
static fs_err layer_field(pctx *x, int i, const ynode *key, const ynode *v, void *data)
{
    const layer_ctx *lc = data;
    cfg_layer *l = lc->l;
    const char *fields = layer_types[lc->ti].fields, *f = key->text;
    if (strcmp(f, "type") == 0) return FS_OK;
    char h[256], buf[64];
    if (!cfg_in_bar_list(layer_fields, f)) {
        const char *near = cfg_closest_in(layer_fields, f, buf, sizeof buf);
        if (near)
            snprintf(h, sizeof h, "did you mean '%s'?", near);
        else
            snprintf(h, sizeof h, "fields of %s: name%s%s", l->type, fields[0] ? "|" : "", fields);
        return layer_error_at(x, key, h, "model.layers[%d]: unknown field '%s'", i, f);
    }
    if (strcmp(f, "name") != 0 && !cfg_in_bar_list(fields, f)) {
        snprintf(h, sizeof h, "fields of %s: name%s%s", l->type, fields[0] ? "|" : "", fields);
        return layer_error_at(x, key, h, "model.layers[%d]: a %s layer has no field '%s'", i,
                              l->type, f);
    }
    if (strcmp(f, "name") == 0) {
        if (v->kind != YN_SCALAR || yn_is_null(v) || v->len >= sizeof l->name ||
            strchr(v->text, ' ') || strchr(v->text, '/') || strchr(v->text, '='))
            return layer_error_at(x, v, "a name of 1 to 31 characters without spaces, '/' or '='",
                                  "model.layers[%d].name is not a valid layer name", i);
        snprintf(l->name, sizeof l->name, "%s", v->text);
        for (int j = 0; j < i; j++)
            if (strcmp(x->c->model.layers[j].name, l->name) == 0)
                return layer_error_at(x, v, "layer names must be unique",
                                      "model.layers[%d]: name '%s' is already used by "
                                      "model.layers[%d]",
                                      i, l->name, j);
        return FS_OK;
    }
    if (strcmp(f, "units") == 0) return layer_int(x, i, f, v, 1, 1e6, &l->units);
    if (strcmp(f, "filters") == 0) return layer_int(x, i, f, v, 1, 65536, &l->filters);
    if (strcmp(f, "kernel") == 0) return layer_int(x, i, f, v, 1, 1024, &l->kernel);
    if (strcmp(f, "stride") == 0) return layer_int(x, i, f, v, 1, 1024, &l->stride);
    if (strcmp(f, "padding") == 0) {
        if (v->kind == YN_SCALAR && strcmp(v->text, "same") == 0)
            l->padding = -1;
        else if (v->kind == YN_SCALAR && strcmp(v->text, "valid") == 0)
            l->padding = 0;
        else
            return layer_int(x, i, f, v, 0, 1024, &l->padding);
        return FS_OK;
    }
    /* rate */
    double r;
    if (v->kind != YN_SCALAR || !v->plain || !cfg_parse_float(v->text, &r) || !(r >= 0) || !(r < 1))
        return layer_error_at(x, v, "a number in [0, 1), e.g. 0.5",
                              "model.layers[%d].rate must be a probability below 1", i);
    l->rate = r;
    return FS_OK;
}

static fs_err parse_layer(pctx *x, int i, const ynode *e, cfg_layer *l)
{
    memset(l, 0, sizeof *l);
    l->line = x->set_index > 0 ? x->set_index : e->line;
    l->col = e->col + x->col_shift;
    l->set_index = x->set_index;
    char types[256] = "", bars[256] = "", buf[64];
    for (int t = 0; t < N_LAYER_TYPES; t++) {
        snprintf(types + strlen(types), sizeof types - strlen(types), "%s%s", t ? ", " : "",
                 layer_types[t].type);
        snprintf(bars + strlen(bars), sizeof bars - strlen(bars), "%s%s", t ? "|" : "",
                 layer_types[t].type);
    }
    const ynode *type = NULL;
    if (e->kind == YN_SCALAR && !yn_is_null(e)) {
        type = e; /* shorthand: "- relu" */
    } else if (e->kind != YN_MAP) {
        return layer_error_at(x, e,
                              "write each layer as a mapping, e.g. - {type: dense, units: 10}",
                              "model.layers[%d] must be a mapping, got %s", i,
                              yn_is_null(e) ? "an empty value" : yn_kind_phrase(e));
    } else {
        for (int k = 0; k + 1 < e->n; k += 2)
            if (e->kid[k]->kind == YN_SCALAR && strcmp(e->kid[k]->text, "type") == 0)
                type = e->kid[k + 1];
        if (!type) return layer_error_at(x, e, types, "model.layers[%d] has no type", i);
    }
    if (type->kind != YN_SCALAR || yn_is_null(type))
        return layer_error_at(x, type, types, "model.layers[%d].type must be a layer type", i);
    int ti = -1;
    for (int t = 0; t < N_LAYER_TYPES; t++)
        if (strcmp(type->text, layer_types[t].type) == 0) ti = t;
    if (ti < 0) {
        char h[320];
        const char *near = cfg_closest_in(bars, type->text, buf, sizeof buf);
        if (near)
            snprintf(h, sizeof h, "did you mean '%s'? types: %s", near, types);
        else
            snprintf(h, sizeof h, "types: %s", types);
        return layer_error_at(x, type, h, "model.layers[%d]: unknown layer type '%s'", i,
                              type->text);
    }
    snprintf(l->type, sizeof l->type, "%s", layer_types[ti].type);
    if (e->kind == YN_MAP) {
        layer_ctx lc = {l, ti};
        fs_err rc =
            cfg_list_fields(x, "model.layers", i, e, "fields are plain names like units or kernel",
                            layer_field, &lc);
        if (rc) return rc;
    }
    /* required fields */
    const char *req = layer_types[ti].required;
    for (const char *p = req; *p;) {
        const char *bar = strchr(p, '|');
        size_t len = bar ? (size_t)(bar - p) : strlen(p);
        char f[32];
        snprintf(f, sizeof f, "%.*s", (int)len, p);
        bool have = false;
        for (int k = 0; e->kind == YN_MAP && k + 1 < e->n; k += 2)
            have |= e->kid[k]->kind == YN_SCALAR && strcmp(e->kid[k]->text, f) == 0;
        if (!have) {
            char h[256], need[64];
            snprintf(need, sizeof need, "%s", req);
            char *bar2 = strchr(need, '|');
            if (bar2) { /* "filters|kernel" -> "filters and kernel" (at most two) */
                memmove(bar2 + 5, bar2 + 1, strlen(bar2 + 1) + 1);
                memcpy(bar2, " and ", 5);
            }
            snprintf(h, sizeof h, "a %s layer needs %s, e.g. {type: %s, %s: %s}", l->type, need,
                     l->type, f, strcmp(f, "rate") == 0 ? "0.5" : "5");
            return layer_error_at(x, e, h, "model.layers[%d] (%s) has no %s", i, l->type, f);
        }
        p += len + (bar ? 1 : 0);
    }
    return FS_OK;
}

static fs_err parse_layers(pctx *x, const ynode *v)
{
    char most[32];
    snprintf(most, sizeof most, "at most %d", CFG_LAYERS_MAX);
    fs_err rc = cfg_list_check(x, v, "model.layers", CFG_LAYERS_MAX, NULL,
                               "one entry per layer, e.g.\n    layers:\n      - {type: conv2d, "
                               "filters: 6, kernel: 5}\n      - {type: relu}",
                               most);
    if (rc) return rc;
    x->c->model.n_layers = 0;
    for (int i = 0; i < v->n; i++) {
        rc = parse_layer(x, i, v->kid[i], &x->c->model.layers[i]);
        if (rc) return rc;
        x->c->model.n_layers = i + 1;
    }
    return FS_OK;
}

static fs_err parse_freeze(pctx *x, const ynode *v)
{
    char most[32];
    snprintf(most, sizeof most, "at most %d", CFG_LAYERS_MAX);
    fs_err rc = cfg_list_check(x, v, "model.freeze", CFG_LAYERS_MAX, NULL,
                               "layer names, e.g. [conv2d1, dense1]: a layer's name, else its "
                               "type and number among the layers of that type (docs/models.md)",
                               most);
    if (rc) return rc;
    cfg *c = x->c;
    c->model.n_freeze = 0;
    for (int i = 0; i < v->n; i++) {
        const ynode *e = v->kid[i];
        if (e->kind != YN_SCALAR || yn_is_null(e) || e->len >= CFG_LAYER_NAME) {
            diag_at_node(x, e);
            diag_msg(x->d, "model.freeze[%d] must be a layer name", i);
            diag_hint(x->d, "layer names have 1 to %d characters", CFG_LAYER_NAME - 1);
            return diag_done(x->d);
        }
        snprintf(c->model.freeze[i], CFG_LAYER_NAME, "%s", e->text);
        c->model.n_freeze = i + 1;
    }
    return FS_OK;
}

static bool layers_given(const cfg *c)
{
    return c->model.n_layers > 0;
}

static bool freeze_given(const cfg *c)
{
    return c->model.n_freeze > 0;
}

static void layers_json(FILE *f, const cfg *c)
{
    fputc('[', f);
    for (int i = 0; i < c->model.n_layers; i++) {
        const cfg_layer *l = &c->model.layers[i];
        fprintf(f, "%s{\"type\": ", i ? ", " : "");
        cfg_json_string(f, l->type);
        if (l->name[0]) {
            fputs(", \"name\": ", f);
            cfg_json_string(f, l->name);
        }
        const char *nm[5] = {"units", "filters", "kernel", "stride", "padding"};
        const int v[5] = {l->units, l->filters, l->kernel, l->stride, l->padding};
        for (int k = 0; k < 5; k++)
            if (v[k]) fprintf(f, ", \"%s\": %d", nm[k], v[k]);
        if (l->rate > 0) {
            fputs(", \"rate\": ", f);
            cfg_json_number(f, l->rate);
        }
        fputc('}', f);
    }
    fputc(']', f);
}

static void freeze_json(FILE *f, const cfg *c)
{
    fputc('[', f);
    for (int i = 0; i < c->model.n_freeze; i++) {
        if (i) fputs(", ", f);
        cfg_json_string(f, c->model.freeze[i]);
    }
    fputc(']', f);
}

static void layers_markdown(FILE *out)
{
    fprintf(out,
            "| `model.layers` | list of layers | `[]` | up to %d entries, each "
            "`{type: T, name: N, ...}` with T one of dense, conv2d, maxpool, "
            "avgpool, relu, tanh, sigmoid, flatten, dropout, embedding, lstm and "
            "the fields units, filters, kernel, stride, padding (a number or "
            "`same`), rate that T takes | custom: the model layer by layer "
            "(docs/models.md) |\n",
            CFG_LAYERS_MAX);
}

static void freeze_markdown(FILE *out)
{
    fprintf(out,
            "| `model.freeze` | list of layer names | `[]` | up to %d names | "
            "layers kept fixed during local training and left out of the upload "
            "(e.g. after model.init_from) |\n",
            CFG_LAYERS_MAX);
}

const cfg_list_key cfg_lk_layers = {
    "model.layers", parse_layers, offsetof(cfg, model.layers_origin),
    layers_given,   layers_json,  layers_markdown};
const cfg_list_key cfg_lk_freeze = {
    "model.freeze", parse_freeze, offsetof(cfg, model.freeze_origin),
    freeze_given,   freeze_json,  freeze_markdown};

fs_err cfg_check_model(const cfg *c, const char *file, cfg_diag *d)
{
    if (strcmp(c->model.name, "mlp") == 0 && c->model.hidden.n == 0) {
        diag_at_key(d, c, file, "model.hidden");
        diag_msg(d, "model.hidden is empty but model.name = mlp");
        diag_hint(d, "give at least one hidden width, e.g. [200, 200], or use model.name: logreg");
        return diag_done(d);
    }
    bool custom = strcmp(c->model.name, "custom") == 0;
    if (custom && c->model.n_layers == 0) {
        diag_at_key(d, c, file, "model.name");
        diag_msg(d, "model.name = custom but model.layers is not given");
        diag_hint(d, "list the layers, e.g. layers: [{type: flatten}, {type: dense, units: 10}] "
                     "(docs/models.md)");
        return diag_done(d);
    }
    if (!custom && c->model.n_layers > 0) {
        const cfg_origin *o = &c->model.layers_origin;
        diag_at(d, o->set_index > 0 ? "--set" : file, o->line, o->col);
        diag_msg(d, "model.layers is given but model.name = %s", c->model.name);
        diag_hint(d, "set model.name: custom to train the layers of model.layers");
        return diag_done(d);
    }
    if (strcmp(c->model.name, "char_lstm") == 0 && c->model.lstm_units.n == 0) {
        diag_at_key(d, c, file, "model.lstm_units");
        diag_msg(d, "model.lstm_units is empty but model.name = char_lstm");
        diag_hint(d, "give at least one LSTM width, e.g. [256, 256]");
        return diag_done(d);
    }
    return FS_OK;
}
