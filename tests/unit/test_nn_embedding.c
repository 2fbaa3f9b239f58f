/* Tests for sim/nn/embedding.c: finite-difference gradient w.r.t. the table (with repeated
 * ids), hand values, accumulation of repeated rows and id range checks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "nn/embedding.h"
#include "nn_testutil.h"

enum { EB = 3, ET = 5, EV = 7, ED = 4 };

typedef struct emb_case {
    int32_t ids[EB * ET];                     /* (B, T) */
    float table[EV * ED], dtable[EV * ED];    /* (V, D) */
    float out[EB * ET * ED], r[EB * ET * ED]; /* (B, T, D) */
} emb_case;

static double emb_loss(void *ctx)
{
    emb_case *c = ctx;
    assert_int_equal(nn_embedding_forward(c->out, c->ids, c->table, EB * ET, EV, ED), FS_OK);
    return nn_tu_dot(c->out, c->r, EB * ET * ED);
}

static void test_gradcheck_table(void **state)
{
    rng_t rng;
    rng_init(&rng, 4, RNG_TEST, 0, 0);
    emb_case c = {0};
    for (int i = 0; i < EB * ET; i++) c.ids[i] = (int32_t)rng_below(&rng, EV); /* repeats */
    nn_tu_fill_normal(c.table, EV * ED, 1.0f, &rng);
    nn_tu_fill_normal(c.r, EB * ET * ED, 1.0f, &rng);
    emb_loss(&c);
    assert_int_equal(nn_embedding_backward(c.dtable, c.r, c.ids, EB * ET, EV, ED), FS_OK);
    nn_tu_check_grad("embedding dtable", emb_loss, &c, c.table, c.dtable, EV * ED, 4, &rng);
}

static void test_hand_values(void **state)
{
    float table[3 * 2] = {1, 2, 3, 4, 5, 6}; /* (V=3, D=2) */
    int32_t ids[4] = {2, 0, 2, 2};           /* (B=2, T=2) */
    float out[8];
    assert_int_equal(nn_embedding_forward(out, ids, table, 4, 3, 2), FS_OK);
    float want[8] = {5, 6, 1, 2, 5, 6, 5, 6};
    for (int i = 0; i < 8; i++) assert_float_equal(out[i], want[i], 0);
    float g[8] = {1, 10, 2, 20, 3, 30, 4, 40}, dt[6] = {0.5f, 0.5f, 0.5f, 0.5f, 0.5f, 0.5f};
    assert_int_equal(nn_embedding_backward(dt, g, ids, 4, 3, 2), FS_OK);
    /* row 0 gets position 1; row 1 nothing; row 2 positions 0, 2, 3 summed; all on top of 0.5 */
    float want_dt[6] = {2.5f, 20.5f, 0.5f, 0.5f, 8.5f, 80.5f};
    for (int i = 0; i < 6; i++) assert_float_equal(dt[i], want_dt[i], 0);
}

static void test_bad_ids(void **state)
{
    float table[3 * 2] = {0}, out[4], g[4] = {0}, dt[6] = {0};
    int32_t high[2] = {1, 3}, neg[2] = {-1, 0};
    assert_int_equal(nn_embedding_forward(out, high, table, 2, 3, 2), FS_EINPUT);
    assert_non_null(strstr(fs_errmsg(), "id 3"));
    assert_int_equal(nn_embedding_forward(out, neg, table, 2, 3, 2), FS_EINPUT);
    assert_int_equal(nn_embedding_backward(dt, g, high, 2, 3, 2), FS_EINPUT);
    assert_int_equal(nn_embedding_backward(dt, g, neg, 2, 3, 2), FS_EINPUT);
    fs_error_clear();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gradcheck_table),
        cmocka_unit_test(test_hand_values),
        cmocka_unit_test(test_bad_ids),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
