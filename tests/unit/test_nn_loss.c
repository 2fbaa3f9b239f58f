/* Tests for sim/nn/loss.c: finite-difference gradients of both cross-entropies, PyTorch
 * F.cross_entropy fixtures (with logits of 100 that overflow a naive float softmax and with
 * ignore_index=-1 padding), hand values, bad labels and the accuracy count. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "nn/loss.h"
#include "nn_testutil.h"
#include "util/err.h"

enum { LB = 4, LT = 3, LK = 6 };

typedef struct loss_case {
    int seq;
    float logits[LB * LT * LK], dlogits[LB * LT * LK];
    int32_t labels[LB * LT];
} loss_case;

static double lc_loss(void *ctx)
{
    loss_case *c = ctx;
    if (c->seq) return nn_loss_seq_softmax_xent(NULL, c->logits, c->labels, LB, LT, LK);
    return nn_loss_softmax_xent(NULL, c->logits, c->labels, LB, LK);
}

static void gradcheck_loss(int seq, uint64_t entity)
{
    rng_t rng;
    rng_init(&rng, 21, RNG_TEST, entity, 0);
    loss_case c = {.seq = seq};
    int rows = seq ? LB * LT : LB;
    nn_tu_fill_normal(c.logits, (size_t)rows * LK, 2.0f, &rng);
    for (int i = 0; i < rows; i++) c.labels[i] = (int32_t)rng_below(&rng, LK);
    if (seq) c.labels[2] = c.labels[7] = -1; /* padding */
    double loss = seq ? nn_loss_seq_softmax_xent(c.dlogits, c.logits, c.labels, LB, LT, LK)
                      : nn_loss_softmax_xent(c.dlogits, c.logits, c.labels, LB, LK);
    assert_true(fabs(loss - lc_loss(&c)) < 1e-6 * loss); /* dlogits == NULL: same loss */
    nn_tu_check_grad(seq ? "seq xent dlogits" : "xent dlogits", lc_loss, &c, c.logits, c.dlogits,
                     (size_t)rows * LK, 4, &rng);
    if (seq)
        for (int k = 0; k < LK; k++) assert_float_equal(c.dlogits[2 * LK + k], 0.0f, 0);
}

static void test_gradcheck_xent(void **state)
{
    gradcheck_loss(0, 1);
}

static void test_gradcheck_seq_xent(void **state)
{
    gradcheck_loss(1, 2);
}

static void test_hand_values(void **state)
{
    /* two equal logits: loss ln 2, gradient (p - onehot) / B */
    float l[4] = {0, 0, 3, 3}, d[4];
    int32_t y[2] = {0, 1};
    nn_tu_assert_near("ln 2", nn_loss_softmax_xent(d, l, y, 2, 2), M_LN2, 1e-7);
    float want[4] = {-0.25f, 0.25f, 0.25f, -0.25f};
    for (int i = 0; i < 4; i++) assert_float_equal(d[i], want[i], 1e-7);
    /* huge logits stay finite: loss = 1000 - 0, softmax = (1, 0) */
    float big[2] = {1000.0f, 0.0f}, db[2];
    int32_t y1[1] = {1};
    nn_tu_assert_near("big", nn_loss_softmax_xent(db, big, y1, 1, 2), 1000.0, 1e-9);
    assert_float_equal(db[0], 1.0f, 0);
    assert_float_equal(db[1], -1.0f, 0);
    float neg[2] = {-1e30f, -1e30f};
    y1[0] = 0;
    nn_tu_assert_near("-1e30", nn_loss_softmax_xent(db, neg, y1, 1, 2), M_LN2, 1e-12);
}

static void test_bad_labels_and_padding(void **state)
{
    float l[6] = {1, 2, 3, 4, 5, 6}, d[6];
    int32_t bad[2] = {0, 3};
    assert_true(isnan(nn_loss_softmax_xent(d, l, bad, 2, 3)));
    assert_non_null(strstr(fs_errmsg(), "label 3"));
    int32_t neg[2] = {-1, 0};
    assert_true(isnan(nn_loss_softmax_xent(d, l, neg, 2, 3))); /* -1 is padding only in seq */
    int32_t badseq[2] = {-2, 0};
    assert_true(isnan(nn_loss_seq_softmax_xent(d, l, badseq, 1, 2, 3)));
    /* all padding: 0 and a zero gradient */
    int32_t pad[2] = {-1, -1};
    for (int i = 0; i < 6; i++) d[i] = 9.0f;
    nn_tu_assert_near("all padding", nn_loss_seq_softmax_xent(d, l, pad, 2, 1, 3), 0.0, 0);
    for (int i = 0; i < 6; i++) assert_float_equal(d[i], 0.0f, 0);
    fs_error_clear();
}

static void torch_case(const char *tag, int seq)
{
    char key[64];
    snprintf(key, sizeof key, "%s.dims", tag);
    int32_t *dm = nn_tu_fixture_int(key, 2);
    const int N = dm[0], K = dm[1];
    free(dm);
    snprintf(key, sizeof key, "%s.logits", tag);
    float *logits = nn_tu_fixture(key, (size_t)N * K);
    snprintf(key, sizeof key, "%s.labels", tag);
    int32_t *labels = nn_tu_fixture_int(key, (size_t)N);
    snprintf(key, sizeof key, "%s.loss", tag);
    float *want_loss = nn_tu_fixture(key, 1);
    snprintf(key, sizeof key, "%s.dlogits", tag);
    float *want_d = nn_tu_fixture(key, (size_t)N * K);
    float *d = nn_tu_alloc((size_t)N * K);
    /* the sequence case as B = 2 sequences of T = N/2 steps */
    float loss = (float)(seq ? nn_loss_seq_softmax_xent(d, logits, labels, 2, N / 2, K)
                             : nn_loss_softmax_xent(d, logits, labels, N, K));
    nn_tu_assert_close("torch loss", &loss, want_loss, 1, 1e-6, 1e-6);
    nn_tu_assert_close("torch dlogits", d, want_d, (size_t)N * K, 1e-5, 1e-6);
    free(logits);
    free(labels);
    free(want_loss);
    free(want_d);
    free(d);
}

static void test_torch_xent(void **state)
{
    torch_case("xent", 0);
}

static void test_torch_seq_xent(void **state)
{
    torch_case("seqxent", 1);
}

static void test_argmax_correct(void **state)
{
    float l[4 * 3] = {
        0.1f, 0.7f, 0.2f,  /* argmax 1 */
        0.5f, 0.5f, 0.1f,  /* tie: first max, 0 */
        -1.f, -2.f, -0.5f, /* argmax 2 */
        3.0f, 1.0f, 2.0f,  /* argmax 0 */
    };
    int32_t y[4] = {1, 1, 2, 0};
    assert_int_equal(nn_argmax_correct(l, y, 4, 3), 3);
    y[1] = 0;
    assert_int_equal(nn_argmax_correct(l, y, 4, 3), 4);
    y[0] = -1; /* padding never counts */
    y[3] = 7;  /* nor an out-of-range label */
    assert_int_equal(nn_argmax_correct(l, y, 4, 3), 2);
}

/* The confusion matrix uses the same argmax (first maximum): cell by cell, and its trace is
 * nn_argmax_correct's count; padding and out-of-range labels are not tallied. */
static void test_argmax_confusion(void **state)
{
    (void)state;
    float l[5 * 3] = {
        0.1f, 0.7f, 0.2f,  /* argmax 1 */
        0.5f, 0.5f, 0.1f,  /* tie: first max, 0 */
        -1.f, -2.f, -0.5f, /* argmax 2 */
        3.0f, 1.0f, 2.0f,  /* argmax 0 */
        0.0f, 0.0f, 9.0f,  /* argmax 2 */
    };
    int32_t y[5] = {1, 1, 0, -1, 7};
    long conf[9] = {0};
    nn_argmax_confusion(l, y, 5, 3, conf);
    const long want[9] = {0, 0, 1, /* true 0: predicted 2 */
                          1, 1, 0, /* true 1: predicted 1 and 0 */
                          0, 0, 0};
    for (int i = 0; i < 9; i++) assert_int_equal(conf[i], want[i]);
    assert_int_equal(conf[0] + conf[4] + conf[8], nn_argmax_correct(l, y, 5, 3));
    nn_argmax_confusion(l, y, 5, 3, conf); /* accumulates */
    assert_int_equal(conf[3], 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gradcheck_xent), cmocka_unit_test(test_gradcheck_seq_xent),
        cmocka_unit_test(test_hand_values),    cmocka_unit_test(test_bad_labels_and_padding),
        cmocka_unit_test(test_torch_xent),     cmocka_unit_test(test_torch_seq_xent),
        cmocka_unit_test(test_argmax_correct), cmocka_unit_test(test_argmax_confusion),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
