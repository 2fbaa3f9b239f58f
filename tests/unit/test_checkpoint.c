/* Checkpoints: save -> load round trips are bit-exact (params and metadata) for every zoo
 * model; the architecture is rebuilt from the file (with another sequence length too);
 * loading into a different architecture fails naming the first mismatching tensor; files that
 * are not checkpoints fail clearly; writes never leave a .tmp behind. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "nn/checkpoint.h"

static char dir[256];

static int setup(void **st)
{
    (void)st;
    snprintf(dir, sizeof dir, "/tmp/fedsim_ckpt_XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **st)
{
    (void)st;
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd);
}

static void path_of(char *buf, size_t cap, const char *name)
{
    snprintf(buf, cap, "%s/%s", dir, name);
}

static float *random_params(const nn_model *m, uint64_t seed)
{
    float *p = malloc(m->n_params * sizeof(float));
    assert_non_null(p);
    rng_t r;
    rng_init(&r, seed, RNG_TEST, 0, 0);
    nn_model_init_params(m, p, &r);
    p[0] = -0.0f; /* odd values survive too */
    p[m->n_params - 1] = 1e-40f;
    return p;
}

static void roundtrip(const char *name, const int in[3], int classes)
{
    nn_model m, m2;
    assert_int_equal(nn_zoo_build(&m, name, (const int[]){32, 16}, 2, in, classes), FS_OK);
    float *p = random_params(&m, 7), *q = calloc(m.n_params, sizeof(float)), *r = NULL;
    char path[300];
    path_of(path, sizeof path, name);
    nn_ckpt_meta meta = {.dataset = "kjv-ot", .scenario = "transfer", .round = 12}, got;
    if (m.seq_len) snprintf(meta.vocab, sizeof meta.vocab, "%s", " .,abcdefghijklmnopqrs");
    assert_int_equal(nn_ckpt_save(path, &m, p, &meta), FS_OK);
    assert_int_equal(nn_ckpt_load_params(path, &m, q, &got), FS_OK);
    assert_memory_equal(p, q, m.n_params * sizeof(float));
    assert_string_equal(got.dataset, "kjv-ot");
    assert_string_equal(got.scenario, "transfer");
    assert_string_equal(got.vocab, meta.vocab);
    assert_int_equal(got.round, 12);
    assert_int_equal(nn_ckpt_load_model(path, NULL, &m2, &r, NULL), FS_OK);
    assert_int_equal(m2.n_params, m.n_params);
    assert_int_equal(m2.n_layers, m.n_layers);
    assert_string_equal(m2.name, name);
    for (int i = 0; i < m.n_layers; i++)
        assert_memory_equal(&m2.layers[i].s, &m.layers[i].s, sizeof m.layers[i].s);
    assert_memory_equal(p, r, m.n_params * sizeof(float));
    char tmp[310];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    assert_int_equal(access(tmp, F_OK), -1);
    free(p);
    free(q);
    free(r);
}

static void test_roundtrip_zoo(void **st)
{
    (void)st;
    const int img[3] = {1, 28, 28}, txt[3] = {1, 1, 20};
    roundtrip("logreg", img, 10);
    roundtrip("mlp", img, 10);
    roundtrip("lenet", img, 10);
    roundtrip("cnn", img, 10);
    roundtrip("char_lstm", txt, 22);
}

/* A sequence model rebuilt for another length (generation: T = 1) has the same parameters. */
static void test_other_length(void **st)
{
    (void)st;
    nn_model m, m1;
    const int txt[3] = {1, 1, 20}, one[3] = {1, 1, 1};
    nn_zoo_args a = {.lstm = (const int[]){12}, .n_lstm = 1, .embed = 4};
    assert_int_equal(nn_zoo_build_args(&m, "char_lstm", &a, txt, 9), FS_OK);
    float *p = random_params(&m, 8), *r = NULL;
    char path[300];
    path_of(path, sizeof path, "short.h5");
    assert_int_equal(nn_ckpt_save(path, &m, p, NULL), FS_OK);
    assert_int_equal(nn_ckpt_load_model(path, one, &m1, &r, NULL), FS_OK);
    assert_int_equal(m1.seq_len, 1);
    assert_memory_equal(p, r, m.n_params * sizeof(float));
    free(p);
    free(r);
}

/* Mismatches name the first tensor that differs. */
static void test_mismatch(void **st)
{
    (void)st;
    nn_model lenet, cnn, mlp, mlp2, logreg;
    const int img[3] = {1, 28, 28};
    assert_int_equal(nn_zoo_build(&lenet, "lenet", NULL, 0, img, 10), FS_OK);
    assert_int_equal(nn_zoo_build(&cnn, "cnn", NULL, 0, img, 10), FS_OK);
    assert_int_equal(nn_zoo_build(&mlp, "mlp", (const int[]){32, 16}, 2, img, 10), FS_OK);
    assert_int_equal(nn_zoo_build(&mlp2, "mlp", (const int[]){32}, 1, img, 10), FS_OK);
    assert_int_equal(nn_zoo_build(&logreg, "logreg", NULL, 0, img, 10), FS_OK);
    float *p = random_params(&lenet, 9), *q = calloc(cnn.n_params, sizeof(float));
    char path[300];
    path_of(path, sizeof path, "lenet.h5");
    assert_int_equal(nn_ckpt_save(path, &lenet, p, NULL), FS_OK);
    /* same tensor names, other shapes: conv 6 vs 32 filters */
    assert_int_equal(nn_ckpt_load_params(path, &cnn, q, NULL), FS_EINPUT);
    assert_non_null(strstr(fs_errmsg(), "tensor 'conv2d1/weight' has shape (6, 1, 5, 5)"));
    assert_non_null(strstr(fs_errmsg(), "expects (32, 1, 5, 5)"));
    /* other names */
    assert_int_equal(nn_ckpt_load_params(path, &logreg, q, NULL), FS_EINPUT);
    assert_non_null(strstr(fs_errmsg(), "the checkpoint has 'conv2d1/weight', the model "
                                        "'dense1/weight'"));
    free(p);
    /* the checkpoint has more layers than the model */
    p = random_params(&mlp, 10);
    path_of(path, sizeof path, "mlp.h5");
    assert_int_equal(nn_ckpt_save(path, &mlp, p, NULL), FS_OK);
    assert_int_equal(nn_ckpt_load_params(path, &mlp2, q, NULL), FS_EINPUT);
    assert_non_null(strstr(fs_errmsg(), "tensor 'dense2/weight' has shape (16, 32)"));
    free(p);
    free(q);
}

static void test_not_a_checkpoint(void **st)
{
    (void)st;
    nn_model m;
    const int img[3] = {1, 4, 4};
    assert_int_equal(nn_zoo_build(&m, "logreg", NULL, 0, img, 3), FS_OK);
    float q[51];
    char path[300];
    path_of(path, sizeof path, "missing.h5");
    assert_int_equal(nn_ckpt_load_params(path, &m, q, NULL), FS_EINPUT);
    path_of(path, sizeof path, "text.h5");
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("not hdf5\n", f);
    fclose(f);
    assert_int_equal(nn_ckpt_load_params(path, &m, q, NULL), FS_EDATA);
    assert_non_null(strstr(fs_errmsg(), "not an HDF5 file"));
    path_of(path, sizeof path, "nodir/x.h5");
    assert_int_equal(nn_ckpt_save(path, &m, q, NULL), FS_EIO);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip_zoo),
        cmocka_unit_test(test_other_length),
        cmocka_unit_test(test_mismatch),
        cmocka_unit_test(test_not_a_checkpoint),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
