/* The scenario's model section -> nn_model_desc -> nn_zoo_build_desc (see model.h). Not part of
 * the parser: the scenario fuzzers link sim/config without it. */
#include "config/model.h"

#include <stdio.h>
#include <string.h>

#include "nn/zoo.h"

/* One limit on hidden layers: the scenario's list length (model.hidden, model.lstm_units hold up
 * to CFG_LIST_MAX values); every list `validate` accepts builds (16 entries passed validate but
 * failed in `run` when the layer table held 32) */
_Static_assert(2 * CFG_LIST_MAX + 2 <= NN_MAX_LAYERS, "an mlp of CFG_LIST_MAX hidden layers fits");
_Static_assert(CFG_LIST_MAX + 2 <= NN_MAX_LAYERS, "a char_lstm of CFG_LIST_MAX layers fits");
_Static_assert(CFG_LAYERS_MAX <= NN_MAX_LAYERS, "every model.layers list fits");

fs_err cfg_build_model(nn_model *m, const cfg *c, const int in[3], int n_classes)
{
    nn_layer_spec specs[CFG_LAYERS_MAX];
    char where[CFG_LAYERS_MAX][64];
    const char *wp[CFG_LAYERS_MAX], *freeze[CFG_LAYERS_MAX];
    nn_model_desc d = {.name = c->model.name,
                       .args = {.hidden = c->model.hidden.v,
                                .n_hidden = c->model.hidden.n,
                                .lstm = c->model.lstm_units.v,
                                .n_lstm = c->model.lstm_units.n,
                                .embed = c->model.embedding_dim},
                       .layers = specs,
                       .n_layers = c->model.n_layers,
                       .where = wp,
                       .freeze = freeze,
                       .n_freeze = c->model.n_freeze};
    if (strcmp(c->model.name, "custom") == 0 && c->model.n_layers < 1)
        return fs_error(FS_EINPUT, "model.name = custom needs model.layers (a list of layers, "
                                   "see docs/models.md)");
    for (int i = 0; i < c->model.n_layers; i++) {
        const cfg_layer *l = &c->model.layers[i];
        snprintf(where[i], sizeof where[i], "model.layers[%d] (%s %d:%d)", i,
                 l->set_index ? "--set" : "line", l->line, l->col);
        wp[i] = where[i];
        const int k = nn_kind_find(l->type);
        if (k < 0) return fs_error(FS_EINPUT, "%s: unknown type '%s'", where[i], l->type);
        specs[i] = (nn_layer_spec){.kind = (nn_kind)k,
                                   .units = l->units,
                                   .filters = l->filters,
                                   .kernel = l->kernel,
                                   .stride = l->stride,
                                   .padding = l->padding < 0 ? NN_PAD_SAME : l->padding,
                                   .rate = (float)l->rate};
        snprintf(specs[i].name, sizeof specs[i].name, "%s", l->name);
    }
    for (int i = 0; i < c->model.n_freeze; i++) freeze[i] = c->model.freeze[i];
    return nn_zoo_build_desc(m, &d, in, n_classes);
}
