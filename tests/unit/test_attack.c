/* Attacks, each by what it sends (docs/robustness.md): label flipping and the backdoor's
 * poisoned batch (trigger pixels, relabelled fraction), the norm projection of
 * constrain-and-scale, sign flipping, scaling, Gaussian updates (keyed), ALIE's z_max and vector,
 * IPM, and min-max / min-sum's largest gamma within the benign updates' spread. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fl/attack/attack.h"

#define NEAR(a, b, tol) assert_true(fabs((double)(a) - (double)(b)) <= (tol))

static void test_names(void **st)
{
    (void)st;
    assert_int_equal(atk_parse("min_sum"), ATK_MINSUM);
    assert_int_equal(atk_parse("nope"), -1);
    assert_true(atk_on_data(ATK_BACKDOOR) && atk_on_data(ATK_LABEL_FLIP) && !atk_on_data(ATK_IPM));
    assert_true(atk_omniscient(ATK_ALIE) && !atk_omniscient(ATK_SIGN_FLIP));
}

static void test_data_attacks(void **st)
{
    (void)st;
    dataset ds = {
        .dtype = DS_U8, .x_scale = 1.0f / 255, .shape = {1, 6, 6}, .feat = 36, .n_classes = 10};
    float x[4 * 36];
    int32_t y[4] = {0, 3, 9, 5};
    for (int i = 0; i < 4 * 36; i++) x[i] = 0.5f;
    atk_params a = {.kind = ATK_LABEL_FLIP, .n_classes = 10};
    atk_poison_batch(&a, &ds, x, y, 4);
    assert_true(y[0] == 9 && y[1] == 6 && y[2] == 0 && y[3] == 4);
    for (int i = 0; i < 4 * 36; i++) assert_true(x[i] == 0.5f); /* images untouched */
    /* backdoor: half of the batch of 4 triggered (2x2 checkerboard, bottom-right) to target 7 */
    a = (atk_params){.kind = ATK_BACKDOOR, .target = 7, .poison_frac = 0.5, .trigger = 2};
    atk_poison_batch(&a, &ds, x, y, 4);
    assert_true(y[0] == 7 && y[1] == 7 && y[2] == 0 && y[3] == 4);
    for (int s = 0; s < 4; s++) {
        const float *p = x + s * 36;
        const int hit = s < 2;
        assert_true(p[4 * 6 + 4] == (hit ? 1.0f : 0.5f)); /* (4,4): (i+j) even -> max */
        assert_true(p[4 * 6 + 5] == (hit ? 0.0f : 0.5f));
        assert_true(p[5 * 6 + 4] == (hit ? 0.0f : 0.5f));
        assert_true(p[5 * 6 + 5] == (hit ? 1.0f : 0.5f));
        assert_true(p[3 * 6 + 3] == 0.5f && p[0] == 0.5f); /* outside the pattern */
    }
    /* constrain: the local model is projected onto ||w - g|| <= 1 */
    float g[2] = {1, 1}, w[2] = {4, 5};
    a.norm_bound = 1;
    atk_project(&a, g, w, 2);
    NEAR(w[0], 1.6, 1e-6);
    NEAR(w[1], 1.8, 1e-6);
    float w2[2] = {1.5f, 1};
    atk_project(&a, g, w2, 2);
    assert_true(w2[0] == 1.5f && w2[1] == 1); /* inside: unchanged */
}

static void test_own_updates(void **st)
{
    (void)st;
    float u[3] = {1, -2, 0.5f};
    rng_t r;
    atk_params a = {.kind = ATK_SIGN_FLIP, .scale = 1};
    atk_own(&a, u, 3, &r);
    assert_true(u[0] == -1 && u[1] == 2 && u[2] == -0.5f);
    a = (atk_params){.kind = ATK_SCALING, .scale = 10};
    atk_own(&a, u, 3, &r);
    assert_true(u[0] == -10 && u[1] == 20 && u[2] == -5);
    a = (atk_params){.kind = ATK_GAUSSIAN, .sigma = 2};
    float g1[1000], g2[1000];
    rng_init(&r, 1, RNG_ATTACK, 5, 3);
    atk_own(&a, g1, 1000, &r);
    rng_init(&r, 1, RNG_ATTACK, 5, 3);
    atk_own(&a, g2, 1000, &r);
    assert_memory_equal(g1, g2, sizeof g1);
    double s2 = 0;
    for (int i = 0; i < 1000; i++) s2 += (double)g1[i] * g1[i];
    NEAR(sqrt(s2 / 1000), 2, 0.15);
}

static void test_omniscient(void **st)
{
    (void)st;
    /* ALIE: n = 10, f = 2: s = 6 - 2 = 4, z = Phi^-1(0.6) = 0.2533 */
    NEAR(atk_alie_z(10, 2), 0.253347, 1e-5);
    /* benign rows (1, 0), (3, 2), (5, 4); row 3 is malicious and ignored */
    const float u[] = {1, 0, 3, 2, 5, 4, 100, 100};
    const uint8_t ben[] = {1, 1, 1, 0};
    float out[2];
    atk_params a = {.kind = ATK_ALIE, .z = 1.5};
    assert_int_equal(atk_craft(&a, u, 4, ben, 2, 4, 1, out), FS_OK);
    const double sd = sqrt(8.0 / 3);
    NEAR(out[0], 3 - 1.5 * sd, 1e-5);
    NEAR(out[1], 2 - 1.5 * sd, 1e-5);
    a = (atk_params){.kind = ATK_IPM, .epsilon = 0.5};
    atk_craft(&a, u, 4, ben, 2, 4, 1, out);
    NEAR(out[0], -1.5, 1e-6);
    NEAR(out[1], -1.0, 1e-6);
    /* min-max, unit direction: the largest gamma with max_k ||x - b_k||^2 <= the largest
     * pairwise squared distance among the benign (32) */
    for (int kind = ATK_MINMAX; kind <= ATK_MINSUM; kind++) {
        a = (atk_params){.kind = (atk_kind)kind, .perturbation = ATK_PERTURB_UNIT};
        atk_craft(&a, u, 4, ben, 2, 4, 1, out);
        const double mu[2] = {3, 2}, nmu = sqrt(13);
        const double gamma = (mu[0] - out[0]) * nmu / mu[0];
        NEAR((mu[1] - out[1]) * nmu / mu[1], gamma, 1e-4); /* along -mu */
        double worst = 0, total = 0;
        for (int k = 0; k < 3; k++) {
            const double dx = out[0] - u[2 * k], dy = out[1] - u[2 * k + 1], s = dx * dx + dy * dy;
            worst = s > worst ? s : worst;
            total += s;
        }
        if (kind == ATK_MINMAX) {
            NEAR(worst, 32, 1e-3); /* on the bound: the search is tight */
        } else {
            NEAR(total, 40, 1e-3); /* min-sum: the largest of a benign row's sums, 8 + 32 */
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_data_attacks),
        cmocka_unit_test(test_own_updates),
        cmocka_unit_test(test_omniscient),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
