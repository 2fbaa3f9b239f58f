/* The model section's structured keys: model.layers (a list of mappings, its own parser) and
 * model.freeze (a list of names) from YAML and from --set, with positions line:col on every
 * error, did-you-mean for unknown fields and types, missing and misplaced fields; their JSON;
 * cross-key checks (custom needs layers, layers need custom, nesterov needs momentum); and a
 * custom model built from the scenario through nn_zoo_from_cfg, with shape errors naming the
 * entry and where it was given. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "config/config.h"
#include "config/model.h"
#include "nn/model.h"

static fs_err parse(const char *text, cfg *c, cfg_diag *d)
{
    return cfg_parse_text(text, strlen(text), "m.yaml", c, d);
}

static void expect_error(const char *text, int line, int col, const char *msg, const char *hint)
{
    cfg c;
    cfg_diag d;
    assert_int_equal(parse(text, &c, &d), FS_EINPUT);
    if (d.line != line || d.col != col || !strstr(d.msg, msg) || (hint && !strstr(d.hint, hint)))
        cfg_diag_print(&d, stderr);
    assert_int_equal(d.line, line);
    assert_int_equal(d.col, col);
    assert_non_null(strstr(d.msg, msg));
    if (hint) assert_non_null(strstr(d.hint, hint));
}

static const char lenet_yaml[] = "name: t\n"
                                 "model:\n"
                                 "  name: custom\n"
                                 "  layers:\n"
                                 "    - {type: conv2d, filters: 6, kernel: 5}\n"
                                 "    - relu\n"
                                 "    - {type: maxpool, kernel: 2}\n"
                                 "    - type: conv2d\n"
                                 "      name: c2\n"
                                 "      filters: 16\n"
                                 "      kernel: 5\n"
                                 "      padding: valid\n"
                                 "    - {type: relu}\n"
                                 "    - {type: maxpool, kernel: 2, stride: 2}\n"
                                 "    - {type: flatten}\n"
                                 "    - {type: dense, units: 120}\n"
                                 "    - {type: relu}\n"
                                 "    - {type: dropout, rate: 0.25}\n"
                                 "    - {type: dense, units: 84}\n"
                                 "    - {type: tanh}\n"
                                 "    - {type: dense, units: 10}\n"
                                 "  freeze: [conv2d1, c2]\n";

static void test_parse_layers(void **state)
{
    (void)state;
    cfg c;
    cfg_diag d;
    fs_err e = parse(lenet_yaml, &c, &d);
    if (e) cfg_diag_print(&d, stderr);
    assert_int_equal(e, FS_OK);
    assert_int_equal(c.model.n_layers, 13);
    assert_string_equal(c.model.layers[0].type, "conv2d");
    assert_int_equal(c.model.layers[0].filters, 6);
    assert_int_equal(c.model.layers[0].kernel, 5);
    assert_int_equal(c.model.layers[0].line, 5);
    assert_int_equal(c.model.layers[0].col, 7);
    assert_string_equal(c.model.layers[1].type, "relu");
    assert_string_equal(c.model.layers[3].name, "c2");
    assert_int_equal(c.model.layers[3].padding, 0);
    assert_int_equal(c.model.layers[5].stride, 2);
    assert_true(c.model.layers[9].rate == 0.25);
    assert_int_equal(c.model.n_freeze, 2);
    assert_string_equal(c.model.freeze[1], "c2");
    assert_int_equal(cfg_validate(&c, "m.yaml", &d), FS_OK);
    char *j = cfg_to_json(&c);
    assert_non_null(strstr(j, "\"model.layers\": [{\"type\": \"conv2d\", \"filters\": 6, "
                              "\"kernel\": 5}, {\"type\": \"relu\"}"));
    assert_non_null(strstr(j, "{\"type\": \"dropout\", \"rate\": 0.25}"));
    assert_non_null(strstr(j, "\"model.freeze\": [\"conv2d1\", \"c2\"]}"));
    free(j);
    /* no layers: the JSON (and the run key) of other scenarios is unchanged */
    assert_int_equal(parse("model: {name: mlp}\n", &c, &d), FS_OK);
    j = cfg_to_json(&c);
    assert_null(strstr(j, "model.layers"));
    free(j);
    /* --set replaces them */
    assert_int_equal(parse(lenet_yaml, &c, &d), FS_OK);
    assert_int_equal(cfg_apply_override("model.freeze=[dense1]", 1, &c, &d), FS_OK);
    assert_int_equal(c.model.n_freeze, 1);
    assert_int_equal(
        cfg_apply_override("model.layers=[flatten, {type: dense, units: 3}]", 2, &c, &d), FS_OK);
    assert_int_equal(c.model.n_layers, 2);
    assert_int_equal(c.model.layers[1].units, 3);
    assert_int_equal(cfg_apply_override("model.layers=[{type: dense, unit: 3}]", 3, &c, &d),
                     FS_EINPUT);
    assert_string_equal(d.file, "--set");
    assert_int_equal(d.line, 3);
    assert_int_equal(d.col, 29); /* "model.layers=" is 13 characters, then [{type: dense, */
    assert_non_null(strstr(d.hint, "did you mean 'units'?"));
}

static void test_layer_errors(void **state)
{
    (void)state;
    expect_error("model:\n  layers:\n    - {type: dense, unit: 10}\n", 3, 21,
                 "model.layers[0]: unknown field 'unit'", "did you mean 'units'?");
    expect_error("model:\n  layers:\n    - {type: dens, units: 10}\n", 3, 14,
                 "unknown layer type 'dens'", "did you mean 'dense'?");
    expect_error("model:\n  layers:\n    - {type: flatten}\n    - {type: dense, filters: 3}\n", 4,
                 21, "a dense layer has no field 'filters'", "fields of dense: name|units");
    expect_error("model:\n  layers:\n    - {type: conv2d, filters: 3}\n", 3, 7,
                 "model.layers[0] (conv2d) has no kernel", "needs filters and kernel");
    expect_error("model:\n  layers:\n    - {units: 3}\n", 3, 7, "model.layers[0] has no type",
                 "dense, conv2d");
    expect_error("model:\n  layers:\n    - {type: dense, units: -3}\n", 3, 28,
                 "model.layers[0].units = -3 is out of range", "allowed: 1 ... 1000000");
    expect_error("model:\n  layers:\n    - {type: dropout, rate: 1.5}\n", 3, 29,
                 "rate must be a probability below 1", NULL);
    expect_error("model:\n  layers:\n    - {type: conv2d, filters: 2, kernel: 3, padding: full}\n",
                 3, 54, "padding must be an integer", NULL);
    expect_error("model:\n  layers: {type: dense}\n", 2, 11, "model.layers must be a list",
                 "one entry per layer");
    expect_error("model:\n  layers:\n    - [dense, 3]\n", 3, 7, "must be a mapping", NULL);
    expect_error("model:\n  layers:\n    - {type: dense, units: 3, name: a}\n"
                 "    - {type: dense, units: 3, name: a}\n",
                 4, 37, "name 'a' is already used by model.layers[0]", NULL);
    expect_error("model:\n  layers:\n    - {type: dense, units: 3, units: 4}\n", 3, 31,
                 "duplicate field 'units'", NULL);
    expect_error("model:\n  freeze: dense1\n", 2, 11, "model.freeze must be a list", NULL);
    expect_error("model:\n  freeze: [[a]]\n", 2, 12, "model.freeze[0] must be a layer name", NULL);
    expect_error("model:\n  layer: []\n", 2, 3, "unknown key 'model.layer'",
                 "did you mean 'model.layers'?");
    expect_error("model:\n  freeze: [a]\nmodel.freeze: [b]\n", 3, 1, "duplicate key 'model.freeze'",
                 "first given at line 2");
}

static void test_cross_checks(void **state)
{
    (void)state;
    cfg c;
    cfg_diag d;
    assert_int_equal(parse("name: t\nmodel: {name: custom}\n", &c, &d), FS_OK);
    assert_int_equal(cfg_validate(&c, "m.yaml", &d), FS_EINPUT);
    assert_non_null(strstr(d.msg, "model.layers is not given"));
    assert_int_equal(d.line, 2);
    assert_int_equal(
        parse("name: t\nmodel:\n  layers: [flatten, {type: dense, units: 10}]\n", &c, &d), FS_OK);
    assert_int_equal(cfg_validate(&c, "m.yaml", &d), FS_EINPUT);
    assert_non_null(strstr(d.msg, "model.layers is given but model.name = mlp"));
    assert_int_equal(d.line, 3);
    assert_int_equal(d.col, 3);
    assert_int_equal(parse("name: t\ntrain: {nesterov: true}\n", &c, &d), FS_OK);
    assert_int_equal(cfg_validate(&c, "m.yaml", &d), FS_EINPUT);
    assert_non_null(strstr(d.msg, "needs train.momentum > 0"));
    assert_int_equal(
        parse("name: t\ntrain: {nesterov: true, momentum: 0.9, clip_norm: 5}\n", &c, &d), FS_OK);
    assert_int_equal(cfg_validate(&c, "m.yaml", &d), FS_OK);
    assert_true(c.train.clip_norm == 5);
    assert_int_equal(parse("model: {name: char_lstm, lstm_units: [64], embedding_dim: 4}\n"
                           "checkpoint: {every: 5, dir: out/ck}\n",
                           &c, &d),
                     FS_OK);
    assert_int_equal(c.model.lstm_units.n, 1);
    assert_int_equal(c.checkpoint.every, 5);
    assert_string_equal(c.checkpoint.dir, "out/ck");
}

/* The scenario's layers become the model; shape errors name the entry and its position. */
static void test_build_from_cfg(void **state)
{
    (void)state;
    cfg c;
    cfg_diag d;
    assert_int_equal(parse(lenet_yaml, &c, &d), FS_OK);
    nn_model m;
    const int img[3] = {1, 28, 28};
    assert_int_equal(cfg_build_model(&m, &c, img, 10), FS_OK);
    assert_int_equal(m.n_params, 44426);
    assert_string_equal(m.layers[3].s.name, "c2");
    assert_true(m.layers[0].frozen && m.layers[3].frozen);
    assert_int_equal(nn_model_trainable_params(&m), 44426 - 156 - 2416);
    const int small[3] = {1, 12, 12}; /* 12 -> 8 -> 4 -> conv 5x5 does not fit */
    assert_int_equal(cfg_build_model(&m, &c, small, 10), FS_EINPUT);
    assert_non_null(strstr(fs_errmsg(), "model.layers[3] (line 8:7): layer 4 'c2' (conv2d)"));
    assert_int_equal(cfg_apply_override("model.freeze=[c3]", 1, &c, &d), FS_OK);
    assert_int_equal(cfg_build_model(&m, &c, img, 10), FS_EINPUT);
    assert_non_null(strstr(fs_errmsg(), "no layer 'c3'"));
    /* the zoo models from their keys */
    assert_int_equal(
        parse("model: {name: char_lstm, lstm_units: [32, 16], embedding_dim: 4}\n", &c, &d), FS_OK);
    const int txt[3] = {1, 1, 20};
    assert_int_equal(cfg_build_model(&m, &c, txt, 30), FS_OK);
    assert_int_equal(m.n_layers, 4);
    assert_int_equal(m.layers[0].s.units, 4);
    assert_int_equal(m.layers[2].s.units, 16);
    /* the longest model.hidden the key table takes (CFG_LIST_MAX entries) validates and builds:
     * one limit (16 passed validate and failed in run) */
    char yaml[256] = "name: t\nmodel: {name: mlp, hidden: [4";
    for (int i = 1; i < CFG_LIST_MAX; i++) strcat(yaml, ", 4");
    strcat(yaml, "]}\n");
    assert_int_equal(parse(yaml, &c, &d), FS_OK);
    assert_int_equal(c.model.hidden.n, CFG_LIST_MAX);
    assert_int_equal(cfg_validate(&c, "m.yaml", &d), FS_OK);
    assert_int_equal(cfg_build_model(&m, &c, img, 10), FS_OK);
    assert_int_equal(m.n_layers, 2 * CFG_LIST_MAX + 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_layers),
        cmocka_unit_test(test_layer_errors),
        cmocka_unit_test(test_cross_checks),
        cmocka_unit_test(test_build_from_cfg),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
