/* Update compressors (sim/fl/compress/, docs/efficiency.md) and their use in a round
 * (sim/engine/comm.c): every encoding round-trips as specified and writes exactly the bytes the
 * schedule charges; top-k keeps the largest magnitudes (ties to the lower index); random-k keeps
 * exactly k coordinates from its seed; QSGD is unbiased over many draws; signSGD sends signs and
 * the mean magnitude; PowerSGD reproduces a rank-1 matrix; error feedback sends, over the steps,
 * everything it was given (sum of decoded updates + residual = sum of updates); the majority vote;
 * and the same bits with 1 and 2 threads. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "config/config.h"
#include "engine/comm.h"
#include "fl/compress/compress.h"
#include "nn/zoo.h"

static fl_cmp make(const char *kind, size_t d)
{
    fl_cmp c;
    memset(&c, 0, sizeof c);
    c.kind = fl_cmp_find(kind);
    assert_non_null(c.kind);
    c.d = d;
    c.k = 0.3;
    c.bits = 4;
    c.rank = 1;
    return c;
}

/* encode x, check the size, decode into out */
static size_t roundtrip(const fl_cmp *c, const float *x, uint64_t key, float *out)
{
    uint8_t *buf = calloc(fl_cmp_bytes(c) + 16, 1);
    assert_non_null(buf);
    memset(buf + fl_cmp_bytes(c), 0xA5, 16); /* guard: nothing written past the size */
    rng_t r;
    rng_init(&r, 11, RNG_TEST, 0, key);
    const size_t n = c->kind->encode(c, x, &r, buf);
    assert_int_equal(n, fl_cmp_bytes(c));
    for (int i = 0; i < 16; i++) assert_int_equal(buf[n + (size_t)i], 0xA5);
    c->kind->decode(c, buf, out);
    free(buf);
    return n;
}

static void test_topk(void **st)
{
    (void)st;
    const float x[10] = {0.1f, -5, 2, 0, 3, -3, 0.5f, 1, -0.2f, 0.3f};
    float y[10];
    fl_cmp c = make("topk", 10); /* k = ceil(0.3 x 10) = 3; indices of 4 bits */
    assert_int_equal(fl_cmp_kept(&c), 3);
    assert_int_equal(fl_cmp_index_bits(10), 4);
    assert_int_equal(roundtrip(&c, x, 0, y), 2 + 12); /* ceil(3 x 4 / 8) + 3 x 4 */
    const float want[10] = {0, -5, 0, 0, 3, -3, 0, 0, 0, 0};
    assert_memory_equal(y, want, sizeof want);
    /* ties at the threshold go to the lower index */
    const float t[10] = {1, -1, 1, 1, -1, 1, 0, 0, 0, 0};
    roundtrip(&c, t, 0, y);
    const float wt[10] = {1, -1, 1, 0, 0, 0, 0, 0, 0, 0};
    assert_memory_equal(y, wt, sizeof wt);
    /* large d: indices of 17 bits, k = 1 % */
    const size_t d = 100000;
    float *big = malloc(d * sizeof *big), *out = malloc(d * sizeof *out);
    rng_t r;
    rng_init(&r, 1, RNG_TEST, 0, 0);
    for (size_t i = 0; i < d; i++) big[i] = (float)rng_normal(&r);
    c = make("topk", d);
    c.k = 0.01;
    assert_int_equal(roundtrip(&c, big, 0, out), (1000 * 17 + 7) / 8 + 4000);
    float mink = INFINITY, maxdrop = 0;
    size_t nz = 0;
    for (size_t i = 0; i < d; i++) {
        if (out[i] != 0) {
            assert_true(out[i] == big[i]);
            mink = fminf(mink, fabsf(out[i]));
            nz++;
        } else {
            maxdrop = fmaxf(maxdrop, fabsf(big[i]));
        }
    }
    assert_int_equal(nz, 1000);
    assert_true(mink >= maxdrop);
    free(big);
    free(out);
}

static void test_randk(void **st)
{
    (void)st;
    float x[50], y[50], z[50];
    for (int i = 0; i < 50; i++) x[i] = (float)(i + 1);
    fl_cmp c = make("randk", 50); /* k = 15 */
    assert_int_equal(roundtrip(&c, x, 1, y), 8 + 4 * 15);
    int nz = 0;
    for (int i = 0; i < 50; i++) {
        assert_true(y[i] == 0 || y[i] == x[i]);
        nz += y[i] != 0;
    }
    assert_int_equal(nz, 15);
    roundtrip(&c, x, 1, z); /* same stream, same coordinates */
    assert_memory_equal(y, z, sizeof y);
    roundtrip(&c, x, 2, z); /* another round, other coordinates */
    assert_true(memcmp(y, z, sizeof y) != 0);
}

static void test_qsgd_unbiased(void **st)
{
    (void)st;
    const float x[5] = {0.9f, -0.25f, 0.0f, 0.4f, -1.0f};
    for (int bits = 1; bits <= 3; bits++) {
        fl_cmp c = make("qsgd", 5);
        c.bits = bits;
        const int draws = 20000;
        double mean[5] = {0};
        float y[5];
        for (int t = 0; t < draws; t++) {
            assert_int_equal(roundtrip(&c, x, (uint64_t)t, y), 4 + (5 * (size_t)bits + 7) / 8);
            const double L = (1 << bits) - 1;
            for (int i = 0; i < 5; i++) {
                /* on the grid: s (2q / L - 1) for a level q */
                const double q = (y[i] / 1.0 + 1) * L / 2;
                assert_true(fabs(q - round(q)) < 1e-4);
                mean[i] += y[i];
            }
        }
        /* per-draw sd <= s / L (one grid step / 2 at most ... 1 for one bit): 4 sd of the mean */
        for (int i = 0; i < 5; i++)
            assert_true(fabs(mean[i] / draws - x[i]) < 4 * 1.0 / sqrt(draws));
    }
    /* 16 bits: within one grid step */
    float big[7] = {1e-3f, -2, 3, 0.5f, -0.75f, 2.5f, 0}, y[7];
    fl_cmp c = make("qsgd", 7);
    c.bits = 16;
    assert_int_equal(roundtrip(&c, big, 3, y), 4 + 14);
    for (int i = 0; i < 7; i++) assert_true(fabsf(y[i] - big[i]) <= 2 * 3.0f / 65535 + 1e-6f);
}

static void test_sign(void **st)
{
    (void)st;
    const float x[9] = {1, -2, 3, -4, 0, 6, -7, 8, 9};
    float y[9];
    fl_cmp c = make("sign", 9);
    assert_int_equal(roundtrip(&c, x, 0, y), 4 + 2);
    const float s = 40.0f / 9;
    for (int i = 0; i < 9; i++) assert_true(y[i] == (x[i] > 0 ? s : -s));
}

static void test_powersgd(void **st)
{
    (void)st;
    /* a 4 x 6 rank-1 matrix, then 3 coordinates outside it (sent as they are) */
    float x[27], y[27];
    const float a[4] = {1, -2, 0.5f, 3}, b[6] = {2, 1, -1, 0.25f, 4, -3};
    for (int i = 0; i < 4; i++)
        for (int k = 0; k < 6; k++) x[i * 6 + k] = a[i] * b[k];
    x[24] = 7;
    x[25] = -8;
    x[26] = 9;
    fl_cmp c = make("powersgd", 27);
    c.n_blocks = 1;
    c.blocks[0] = (fl_cmp_block){0, 4, 6};
    assert_int_equal(roundtrip(&c, x, 0, y), 4 * (4 + 6) * 1 + 4 * 3);
    for (int i = 0; i < 27; i++) assert_true(fabsf(y[i] - x[i]) < 1e-4f * (1 + fabsf(x[i])));
    /* rank 4 of a 4 x 6 matrix is no smaller: sent as it is */
    c.rank = 4;
    assert_int_equal(fl_cmp_bytes(&c), 4 * 27);
    roundtrip(&c, x, 0, y);
    assert_memory_equal(x, y, sizeof x);
}

/* a logistic regression on 8 features and 3 classes: one dense layer, 27 parameters */
static void logreg(nn_model *m)
{
    const int in[3] = {1, 1, 8};
    assert_int_equal(nn_zoo_build(m, "logreg", NULL, 0, in, 3), FS_OK);
    assert_int_equal(m->n_trainable, 27);
}

static comm_state *comm_of(const char *kind, const char *ef, const nn_model *m, int chunk)
{
    cfg c;
    cfg_defaults(&c);
    snprintf(c.compression.kind, sizeof c.compression.kind, "%s", kind);
    snprintf(c.compression.error_feedback, sizeof c.compression.error_feedback, "%s", ef);
    c.compression.k = 0.2;
    comm_state *s;
    assert_int_equal(comm_new(&c, m, chunk, "", 0, &s), FS_OK);
    return s;
}

static void test_error_feedback_sums(void **st)
{
    (void)st;
    nn_model m;
    logreg(&m);
    comm_state *s = comm_of("topk", "true", &m, 1);
    assert_true(comm_upload_bytes(s) == (6 * 5 + 7) / 8 + 4 * 6); /* k = ceil(0.2 x 27) = 6 */
    /* integer-valued updates: every sum below is exact in float */
    float u[27], total[27] = {0}, sent[27] = {0}, e[27];
    rng_t r;
    rng_init(&r, 4, RNG_TEST, 0, 0);
    for (uint32_t t = 1; t <= 12; t++) {
        fl_client_result res = {.client = 7, .weight = 1, .update = u};
        for (int i = 0; i < 27; i++) {
            u[i] = (float)((int)rng_below(&r, 17) - 8);
            total[i] += u[i];
        }
        assert_int_equal(comm_round_add(s, &res, 1, t, 1, 1, NULL), FS_OK);
        int nz = 0;
        for (int i = 0; i < 27; i++) {
            sent[i] += u[i]; /* u now holds what the server decoded */
            nz += u[i] != 0;
        }
        assert_true(nz <= 6);
    }
    assert_int_equal(comm_residual(s, 7, e), FS_OK);
    for (int i = 0; i < 27; i++) assert_true(sent[i] + e[i] == total[i]);
    assert_int_equal(comm_residual(s, 8, e), FS_OK); /* never seen: zeros */
    for (int i = 0; i < 27; i++) assert_true(e[i] == 0);
    comm_free(s);
    /* QSGD with error feedback: the same identity up to float rounding */
    s = comm_of("qsgd", "true", &m, 1);
    memset(total, 0, sizeof total);
    memset(sent, 0, sizeof sent);
    for (uint32_t t = 1; t <= 12; t++) {
        fl_client_result res = {.client = 3, .weight = 1, .update = u};
        for (int i = 0; i < 27; i++) total[i] += u[i] = (float)rng_normal(&r);
        assert_int_equal(comm_round_add(s, &res, 1, t, 1, 1, NULL), FS_OK);
        for (int i = 0; i < 27; i++) sent[i] += u[i];
    }
    assert_int_equal(comm_residual(s, 3, e), FS_OK);
    for (int i = 0; i < 27; i++) assert_true(fabsf(sent[i] + e[i] - total[i]) < 1e-4f);
    comm_free(s);
}

static void test_majority_vote(void **st)
{
    (void)st;
    nn_model m;
    logreg(&m);
    comm_state *s = comm_of("sign", "false", &m, 3);
    float u[3][27];
    fl_client_result res[3];
    for (int k = 0; k < 3; k++) {
        for (int i = 0; i < 27; i++) u[k][i] = (float)((i + k) % 3 == 0 ? -(k + 1) : (k + 1));
        res[k] =
            (fl_client_result){.client = (uint32_t)k, .weight = 1, .n_samples = 1, .update = u[k]};
    }
    fl_agg a;
    assert_int_equal(fl_agg_init(&a, 27, 0), FS_OK);
    comm_round_begin(s);
    assert_int_equal(comm_round_add(s, res, 3, 1, 1, 1, &a), FS_OK);
    comm_round_end(s, &a);
    /* client k's scale is k + 1: mean 2; coordinate i: two of three votes decide */
    for (int i = 0; i < 27; i++) {
        int votes = 0;
        for (int k = 0; k < 3; k++) votes += (i + k) % 3 == 0 ? -1 : 1;
        assert_true(a.sum[i] / a.wsum == (votes > 0 ? 2.0 : -2.0));
    }
    fl_agg_free(&a);
    comm_free(s);
}

static void test_threads(void **st)
{
    (void)st;
    nn_model m;
    logreg(&m);
    float out[2][4][27];
    for (int th = 1; th <= 2; th++) {
        comm_state *s = comm_of("qsgd", "true", &m, 4);
        rng_t r;
        rng_init(&r, 9, RNG_TEST, 0, 0);
        for (uint32_t t = 1; t <= 3; t++) {
            fl_client_result res[4];
            for (int k = 0; k < 4; k++) {
                for (int i = 0; i < 27; i++) out[th - 1][k][i] = (float)rng_normal(&r);
                res[k] = (fl_client_result){
                    .client = (uint32_t)(10 + k), .weight = 1, .update = out[th - 1][k]};
            }
            assert_int_equal(comm_round_add(s, res, 4, t, 5, th, NULL), FS_OK);
        }
        comm_free(s);
    }
    assert_memory_equal(out[0], out[1], sizeof out[0]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_topk),          cmocka_unit_test(test_randk),
        cmocka_unit_test(test_qsgd_unbiased), cmocka_unit_test(test_sign),
        cmocka_unit_test(test_powersgd),      cmocka_unit_test(test_error_feedback_sums),
        cmocka_unit_test(test_majority_vote), cmocka_unit_test(test_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
