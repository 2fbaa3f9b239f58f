/* Guided selection (sim/engine/guided.c, docs/efficiency.md), pinned by hand-computed cases:
 * Oort's utility (normalised statistical utility + staleness bonus, straggler penalty), its
 * exploitation of the highest utilities with exploration of clients never heard from, the
 * preferred duration T as a percentile of the reported durations and the pacer that raises it;
 * power of choice (rpow-d) keeping the highest reported losses, unheard-of clients first. Only
 * reports are used, and selections repeat for the same round. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "config/config.h"
#include "device/avail.h"
#include "engine/guided.h"
#include "fl_testutil.h"

#define NEAR(a, b, tol) assert_true(fabs((double)(a) - (double)(b)) <= (tol))

static void test_oort_utility(void **st)
{
    (void)st;
    /* (0.5 + sqrt(0.1 ln 5 / 2)) (10 / 20)^2 */
    NEAR(guided_oort_utility(0.5, 20, 10, 2, 2, 5), (0.5 + sqrt(0.1 * log(5.0) / 2)) * 0.25, 1e-12);
    NEAR(guided_oort_utility(0.5, 20, 10, 2, 2, 5), 0.195919, 1e-6);
    /* faster than T: no penalty; never selected before or round 1: no bonus */
    NEAR(guided_oort_utility(0.5, 5, 10, 2, 2, 5), 0.5 + sqrt(0.1 * log(5.0) / 2), 1e-12);
    NEAR(guided_oort_utility(0.5, 20, 10, 2, 0, 5), 0.125, 1e-12);
    NEAR(guided_oort_utility(0.5, 20, NAN, 2, 1, 1), 0.5, 1e-12);
}

typedef struct world {
    cfg c;
    partition p;
    av_model av;
    guided *g;
} world;

/* 6 clients of 10 samples, always online; clients 0..4 reported in round 2 with losses
 * 1, 3, 2, 0.5, 2.5 and durations 5, 50, 5, 5, 5 s; client 5 never did */
static void setup_world(world *w, const char *mode, double explore)
{
    cfg_defaults(&w->c);
    snprintf(w->c.selection.mode, sizeof w->c.selection.mode, "%s", mode);
    w->c.selection.oort_explore = explore;
    w->c.selection.oort_explore_decay = 1;
    w->c.selection.oort_explore_min = 0;
    w->c.selection.oort_cutoff = 1; /* exploit exactly the best (no ties here) */
    const uint32_t sizes[6] = {10, 10, 10, 10, 10, 10};
    make_part(&w->p, sizes, 6);
    assert_int_equal(av_init(&w->av, AV_ALWAYS, 1, 6), FS_OK);
    assert_int_equal(guided_new(&w->c, 6, &w->g), FS_OK);
    const double loss[5] = {1, 3, 2, 0.5, 2.5}, dur[5] = {5, 50, 5, 5, 5};
    for (uint32_t i = 0; i < 5; i++) guided_report(w->g, i, 2, 10, loss[i], dur[i]);
}

static void free_world(world *w)
{
    guided_free(w->g);
    av_free(&w->av);
    part_free(&w->p);
}

static int has(const uint32_t *a, int n, uint32_t v)
{
    for (int i = 0; i < n; i++)
        if (a[i] == v) return 1;
    return 0;
}

static void test_oort_select(void **st)
{
    (void)st;
    world w;
    setup_world(&w, "oort", 0);
    /* T = 30th percentile (nearest rank 2 of 5) of {5, 5, 5, 5, 50} = 5. Normalised statistical
     * utilities (n loss - 5) / 25: 0.2, 1, 0.6, 0, 0.8; bonus sqrt(0.1 ln 3 / 2) = 0.2344;
     * client 1 is 10x slower than T: x 0.01. Utilities: 0.434, 0.0123, 0.834, 0.234, 1.034 */
    uint32_t out[6];
    int n = guided_select(w.g, &w.av, &w.p, 3, 0, 2, out);
    assert_int_equal(n, 2);
    assert_true(has(out, n, 4) && has(out, n, 2));
    NEAR(guided_oort_T(w.g), 5, 0);
    n = guided_select(w.g, &w.av, &w.p, 3, 0, 3, out);
    assert_true(n == 3 && has(out, n, 4) && has(out, n, 2) && has(out, n, 0));
    free_world(&w);
    /* exploration 0.5 of 4: 2 exploited, 2 explored, but only client 5 is new: 3 + 1 */
    setup_world(&w, "oort", 0.5);
    n = guided_select(w.g, &w.av, &w.p, 3, 0, 4, out);
    assert_int_equal(n, 4);
    assert_true(has(out, n, 4) && has(out, n, 2) && has(out, n, 0) && has(out, n, 5));
    uint32_t again[6];
    assert_int_equal(guided_select(w.g, &w.av, &w.p, 3, 0, 4, again), 4);
    assert_memory_equal(out, again, sizeof(uint32_t) * 4); /* same round, same draw */
    free_world(&w);
}

static void test_oort_pacer(void **st)
{
    (void)st;
    world w;
    setup_world(&w, "oort", 0);
    w.c.selection.oort_pacer_step = 2;
    guided_free(w.g);
    w.c.selection.oort_pacer_delta = 70; /* 30th -> 100th percentile after a fall */
    assert_int_equal(guided_new(&w.c, 6, &w.g), FS_OK);
    const double loss[5] = {1, 3, 2, 0.5, 2.5}, dur[5] = {5, 50, 5, 5, 5};
    for (uint32_t i = 0; i < 5; i++) guided_report(w.g, i, 2, 10, loss[i], dur[i]);
    uint32_t out[6];
    /* rounds 3, 4 exploit 2 clients, rounds 5, 6 only 1: less utility, T goes to 50 s */
    for (uint32_t r = 3; r <= 6; r++) {
        guided_select(w.g, &w.av, &w.p, r, 0, r <= 4 ? 2 : 1, out);
        guided_round_end(w.g, r);
    }
    guided_select(w.g, &w.av, &w.p, 7, 0, 1, out);
    NEAR(guided_oort_T(w.g), 50, 0);
    free_world(&w);
}

static void test_power_of_choice(void **st)
{
    (void)st;
    world w;
    setup_world(&w, "power_of_choice", 0);
    uint32_t out[6];
    /* d = 2 m = 4 of 6 candidates; with d = 6 (all): client 5 (never reported) then loss 3 */
    w.c.selection.poc_d = 6;
    guided_free(w.g);
    assert_int_equal(guided_new(&w.c, 6, &w.g), FS_OK);
    const double loss[5] = {1, 3, 2, 0.5, 2.5};
    for (uint32_t i = 0; i < 5; i++) guided_report(w.g, i, 2, 10, loss[i], 5);
    int n = guided_select(w.g, &w.av, &w.p, 3, 0, 2, out);
    assert_int_equal(n, 2);
    assert_true(out[0] == 5 && out[1] == 1);
    n = guided_select(w.g, &w.av, &w.p, 3, 0, 4, out);
    assert_true(n == 4 && out[0] == 5 && out[1] == 1 && out[2] == 4 && out[3] == 2);
    /* a report without a loss (an abandoned round) keeps the last loss */
    guided_report(w.g, 1, 3, 0, NAN, 7);
    n = guided_select(w.g, &w.av, &w.p, 4, 0, 2, out);
    assert_true(out[0] == 5 && out[1] == 1);
    free_world(&w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_oort_utility),
        cmocka_unit_test(test_oort_select),
        cmocka_unit_test(test_oort_pacer),
        cmocka_unit_test(test_power_of_choice),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
