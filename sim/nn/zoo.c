/* The model zoo (see zoo.h): each model is a list of layer specs handed to nn_model_build.
 * Also the one place that reads the scenario's model section. */
#include "nn/zoo.h"

#include <stdio.h>
#include <string.h>

#include "config/config.h"

/* One limit on hidden layers: the scenario's list length (model.hidden, model.lstm_units hold up
 * to CFG_LIST_MAX values); every list `validate` accepts builds (16 entries passed validate but
 * failed in `run` when the layer table held 32) */
_Static_assert(2 * CFG_LIST_MAX + 2 <= NN_MAX_LAYERS, "an mlp of CFG_LIST_MAX hidden layers fits");
_Static_assert(CFG_LIST_MAX + 2 <= NN_MAX_LAYERS, "a char_lstm of CFG_LIST_MAX layers fits");
_Static_assert(CFG_LAYERS_MAX <= NN_MAX_LAYERS, "every model.layers list fits");

const char nn_zoo_names[] = "logreg | mlp | lenet | cnn | char_lstm";

static nn_layer_spec sp(nn_kind k)
{
    return (nn_layer_spec){.kind = k};
}

static nn_layer_spec dense(int units)
{
    return (nn_layer_spec){.kind = NN_DENSE, .units = units};
}

static nn_layer_spec conv(int filters, int kernel, int padding)
{
    return (nn_layer_spec){
        .kind = NN_CONV2D, .filters = filters, .kernel = kernel, .stride = 1, .padding = padding};
}

static nn_layer_spec maxpool(int k)
{
    return (nn_layer_spec){.kind = NN_MAXPOOL, .kernel = k, .stride = k};
}

fs_err nn_zoo_build_args(nn_model *m, const char *name, const nn_zoo_args *a, const int in[3],
                         int n_classes)
{
    nn_layer_spec s[NN_MAX_LAYERS];
    int n = 0;
    memset(s, 0, sizeof s);
    if (strcmp(name, "logreg") == 0) {
        s[n++] = sp(NN_FLATTEN);
        s[n++] = dense(n_classes);
    } else if (strcmp(name, "mlp") == 0) {
        if (a->n_hidden < 1 || 2 * a->n_hidden + 2 > NN_MAX_LAYERS)
            return fs_error(FS_EINPUT, "mlp: between 1 and %d hidden layers, got %d",
                            (NN_MAX_LAYERS - 2) / 2, a->n_hidden);
        s[n++] = sp(NN_FLATTEN);
        for (int i = 0; i < a->n_hidden; i++) {
            s[n++] = dense(a->hidden[i]);
            s[n++] = sp(NN_RELU);
        }
        s[n++] = dense(n_classes);
    } else if (strcmp(name, "lenet") == 0) {
        s[n++] = conv(6, 5, 0);
        s[n++] = sp(NN_RELU);
        s[n++] = maxpool(2);
        s[n++] = conv(16, 5, 0);
        s[n++] = sp(NN_RELU);
        s[n++] = maxpool(2);
        s[n++] = sp(NN_FLATTEN);
        s[n++] = dense(120);
        s[n++] = sp(NN_RELU);
        s[n++] = dense(84);
        s[n++] = sp(NN_RELU);
        s[n++] = dense(n_classes);
    } else if (strcmp(name, "cnn") == 0) {
        s[n++] = conv(32, 5, NN_PAD_SAME);
        s[n++] = sp(NN_RELU);
        s[n++] = maxpool(2);
        s[n++] = conv(64, 5, NN_PAD_SAME);
        s[n++] = sp(NN_RELU);
        s[n++] = maxpool(2);
        s[n++] = sp(NN_FLATTEN);
        s[n++] = dense(512);
        s[n++] = sp(NN_RELU);
        s[n++] = dense(n_classes);
    } else if (strcmp(name, "char_lstm") == 0) {
        static const int lstm_default[2] = {256, 256};
        const int *h = a->lstm ? a->lstm : lstm_default;
        const int nh = a->lstm ? a->n_lstm : 2;
        if (nh < 1 || nh + 2 > NN_MAX_LAYERS)
            return fs_error(FS_EINPUT, "char_lstm: between 1 and %d LSTM layers, got %d",
                            NN_MAX_LAYERS - 2, nh);
        s[n++] = (nn_layer_spec){.kind = NN_EMBEDDING, .units = a->embed ? a->embed : 8};
        for (int i = 0; i < nh; i++) s[n++] = (nn_layer_spec){.kind = NN_LSTM, .units = h[i]};
        s[n++] = dense(n_classes);
    } else {
        return fs_error(FS_EINPUT, "unknown model '%s' (known: %s, custom)", name, nn_zoo_names);
    }
    return nn_model_build(m, name, s, n, in, n_classes);
}

fs_err nn_zoo_build(nn_model *m, const char *name, const int *hidden, int n_hidden, const int in[3],
                    int n_classes)
{
    nn_zoo_args a = {.hidden = hidden, .n_hidden = n_hidden};
    return nn_zoo_build_args(m, name, &a, in, n_classes);
}

/* model.layers -> specs and build; shape errors get the entry's position prepended. */
static fs_err build_custom(nn_model *m, const cfg *c, const int in[3], int n_classes)
{
    nn_layer_spec s[NN_MAX_LAYERS];
    const int n = c->model.n_layers;
    if (n < 1)
        return fs_error(FS_EINPUT, "model.name = custom needs model.layers (a list of layers, "
                                   "see docs/models.md)");
    if (n > NN_MAX_LAYERS)
        return fs_error(FS_EINPUT, "model.layers: %d layers, at most %d", n, NN_MAX_LAYERS);
    for (int i = 0; i < n; i++) {
        const cfg_layer *l = &c->model.layers[i];
        int k = nn_kind_find(l->type);
        if (k < 0)
            return fs_error(FS_EINPUT, "model.layers[%d] (%s %d:%d): unknown type '%s'", i,
                            l->set_index ? "--set" : "line", l->line, l->col, l->type);
        s[i] = (nn_layer_spec){.kind = (nn_kind)k,
                               .units = l->units,
                               .filters = l->filters,
                               .kernel = l->kernel,
                               .stride = l->stride,
                               .padding = l->padding < 0 ? NN_PAD_SAME : l->padding,
                               .rate = (float)l->rate};
        snprintf(s[i].name, sizeof s[i].name, "%s", l->name);
    }
    fs_err e = nn_model_build(m, "custom", s, n, in, n_classes);
    if (e) {
        int li = 0;
        /* nn_model_build names the layer as "layer <1-based index> '...'" */
        if (sscanf(fs_errmsg(), "layer %d ", &li) == 1 && li >= 1 && li <= n) {
            const cfg_layer *l = &c->model.layers[li - 1];
            char msg[512];
            snprintf(msg, sizeof msg, "%s", fs_errmsg());
            return fs_error(e, "model.layers[%d] (%s %d:%d): %s", li - 1,
                            l->set_index ? "--set" : "line", l->line, l->col, msg);
        }
    }
    return e;
}

fs_err nn_zoo_from_cfg(nn_model *m, const cfg *c, const int in[3], int n_classes)
{
    fs_err e;
    if (strcmp(c->model.name, "custom") == 0) {
        e = build_custom(m, c, in, n_classes);
    } else {
        nn_zoo_args a = {.hidden = c->model.hidden.v,
                         .n_hidden = c->model.hidden.n,
                         .lstm = c->model.lstm_units.v,
                         .n_lstm = c->model.lstm_units.n,
                         .embed = c->model.embedding_dim};
        e = nn_zoo_build_args(m, c->model.name, &a, in, n_classes);
    }
    if (e) return e;
    const char *names[CFG_LAYERS_MAX];
    for (int i = 0; i < c->model.n_freeze; i++) names[i] = c->model.freeze[i];
    return nn_model_freeze(m, names, c->model.n_freeze);
}
