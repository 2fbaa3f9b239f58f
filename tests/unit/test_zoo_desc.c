/* nn/zoo.c builds from a model description, without the scenario format: a zoo model with its
 * arguments, a custom list of layer specs whose shape errors are prefixed with the caller's name
 * for the layer, and frozen layers by name. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "nn/model.h"
#include "nn/zoo.h"

static void test_zoo_and_custom(void **state)
{
    (void)state;
    const int img[3] = {1, 28, 28};
    nn_model m;
    const int hidden[2] = {20, 10};
    nn_model_desc zoo = {.name = "mlp", .args = {.hidden = hidden, .n_hidden = 2}};
    assert_int_equal(nn_zoo_build_desc(&m, &zoo, img, 10), FS_OK);
    assert_int_equal(m.n_params, 784 * 20 + 20 + 20 * 10 + 10 + 10 * 10 + 10);

    nn_layer_spec s[3] = {
        {.kind = NN_FLATTEN}, {.kind = NN_DENSE, .units = 16}, {.kind = NN_DENSE, .units = 10}};
    snprintf(s[1].name, sizeof s[1].name, "hid");
    const char *where[3] = {"first", "second", "third"};
    const char *freeze[1] = {"hid"};
    nn_model_desc custom = {.name = "custom",
                            .layers = s,
                            .n_layers = 3,
                            .where = where,
                            .freeze = freeze,
                            .n_freeze = 1};
    assert_int_equal(nn_zoo_build_desc(&m, &custom, img, 10), FS_OK);
    assert_int_equal(m.n_params, 784 * 16 + 16 + 16 * 10 + 10);
    assert_true(m.layers[1].frozen && !m.layers[2].frozen);

    /* a conv kernel larger than the input: the error names the layer as the caller does */
    nn_layer_spec bad[1] = {{.kind = NN_CONV2D, .filters = 2, .kernel = 30, .stride = 1}};
    const char *bw[1] = {"model.layers[0] (line 3:5)"};
    nn_model_desc b = {.name = "custom", .layers = bad, .n_layers = 1, .where = bw};
    assert_int_equal(nn_zoo_build_desc(&m, &b, img, 10), FS_EINPUT);
    assert_true(strncmp(fs_errmsg(), "model.layers[0] (line 3:5): layer 1", 35) == 0);
    b.where = NULL; /* no names: nn_model_build's message as it is */
    assert_int_equal(nn_zoo_build_desc(&m, &b, img, 10), FS_EINPUT);
    assert_true(strncmp(fs_errmsg(), "layer 1", 7) == 0);

    /* an unknown frozen layer, no layers at all */
    freeze[0] = "nope";
    assert_int_equal(nn_zoo_build_desc(&m, &custom, img, 10), FS_EINPUT);
    assert_non_null(strstr(fs_errmsg(), "no layer 'nope'"));
    custom.n_layers = 0;
    assert_int_equal(nn_zoo_build_desc(&m, &custom, img, 10), FS_EINPUT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_zoo_and_custom)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
