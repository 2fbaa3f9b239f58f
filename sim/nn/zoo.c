/* The model zoo (see zoo.h): each model is a list of layer specs handed to nn_model_build; a
 * custom model is the caller's list. */
#include "nn/zoo.h"

#include <stdio.h>
#include <string.h>

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

/* A custom model; a shape error gets the layer's name in the caller's terms prepended. */
static fs_err build_custom(nn_model *m, const nn_model_desc *d, const int in[3], int n_classes)
{
    const int n = d->n_layers;
    if (n < 1 || n > NN_MAX_LAYERS)
        return fs_error(FS_EINPUT, "a custom model has 1 to %d layers, got %d", NN_MAX_LAYERS, n);
    fs_err e = nn_model_build(m, "custom", d->layers, n, in, n_classes);
    if (e && d->where) {
        int li = 0;
        /* nn_model_build names the layer as "layer <1-based index> '...'" */
        if (sscanf(fs_errmsg(), "layer %d ", &li) == 1 && li >= 1 && li <= n) {
            char msg[512];
            snprintf(msg, sizeof msg, "%s", fs_errmsg());
            return fs_error(e, "%s: %s", d->where[li - 1], msg);
        }
    }
    return e;
}

fs_err nn_zoo_build_desc(nn_model *m, const nn_model_desc *d, const int in[3], int n_classes)
{
    fs_err e = strcmp(d->name, "custom") == 0
                   ? build_custom(m, d, in, n_classes)
                   : nn_zoo_build_args(m, d->name, &d->args, in, n_classes);
    if (e) return e;
    return nn_model_freeze(m, d->freeze, d->n_freeze);
}
