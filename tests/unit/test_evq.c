/* Event queue: ordering, equal-time FIFO, cancellation, time never decreasing; and the
 * schedule of a hand-made three-client round against hand-computed virtual times. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "engine/evq.h"
#include "engine/round.h"
#include "util/rng.h"

static void test_order_random(void **st)
{
    (void)st;
    evq q;
    assert_int_equal(evq_init(&q, 4), FS_OK);
    rng_t r;
    rng_init(&r, 7, RNG_TEST, 0, 0);
    for (int i = 0; i < 5000; i++)
        assert_int_equal(evq_push(&q, floor(rng_uniform(&r) * 100), 0, (uint32_t)i, 0, NULL), 0);
    evq_event prev = {-1, 0, 0, 0, 0}, e;
    int n = 0;
    while (evq_pop(&q, &e)) {
        assert_true(e.time >= prev.time);
        if (e.time == prev.time) assert_true(e.seq > prev.seq); /* FIFO among equal times */
        prev = e;
        n++;
    }
    assert_int_equal(n, 5000);
    evq_free(&q);
}

static void test_equal_time_fifo(void **st)
{
    (void)st;
    evq q;
    evq_init(&q, 0);
    for (uint32_t i = 0; i < 100; i++) evq_push(&q, 3.0, 0, i, 0, NULL);
    evq_push(&q, 1.0, 0, 1000, 0, NULL);
    evq_event e;
    evq_pop(&q, &e);
    assert_int_equal(e.client, 1000);
    for (uint32_t i = 0; i < 100; i++) {
        assert_true(evq_pop(&q, &e));
        assert_int_equal(e.client, i);
    }
    assert_false(evq_pop(&q, &e));
    evq_free(&q);
}

static void test_cancel(void **st)
{
    (void)st;
    evq q;
    evq_init(&q, 0);
    evq_handle h[50];
    for (uint32_t i = 0; i < 50; i++) evq_push(&q, (double)(i % 7), 0, i, 0, &h[i]);
    for (uint32_t i = 0; i < 50; i += 3) assert_int_equal(evq_cancel(&q, h[i]), 1);
    assert_int_equal(evq_cancel(&q, h[0]), 0); /* twice: no effect */
    evq_event e, prev = {-1, 0, 0, 0, 0};
    int n = 0;
    while (evq_pop(&q, &e)) {
        assert_true(e.client % 3 != 0);
        assert_true(e.time > prev.time || (e.time == prev.time && e.seq > prev.seq));
        prev = e;
        n++;
    }
    assert_int_equal(n, 50 - 17);
    /* a stale handle to a reused slot does not cancel the new event */
    evq_handle old = h[1], fresh;
    evq_push(&q, 100, 0, 77, 0, &fresh);
    assert_int_equal(evq_cancel(&q, old), 0);
    assert_int_equal(evq_size(&q), 1);
    assert_int_equal(evq_cancel(&q, fresh), 1);
    evq_free(&q);
}

static void test_time_monotone(void **st)
{
    (void)st;
    evq q;
    evq_init(&q, 0);
    evq_push(&q, 5, 0, 0, 0, NULL);
    evq_event e;
    evq_pop(&q, &e);
    assert_true(q.now == 5.0);
    /* events pushed at "now" come after it; time reported never decreases */
    evq_push(&q, 5, 0, 1, 0, NULL);
    evq_push(&q, 9, 0, 2, 0, NULL);
    evq_pop(&q, &e);
    assert_true(e.time == 5.0 && q.now == 5.0);
    evq_pop(&q, &e);
    assert_true(e.time == 9.0 && q.now == 9.0);
    evq_free(&q);
}

/* Three clients, hand-computed:
 *  c0: down 2 (latency 1), compute 3, up 2 (latency 1)        -> arrives at t0 + 7
 *  c1: down 1, compute 1, up 1 (no latency), drops after 1.5   -> dropped at t0 + 1.5
 *  c2: down 4, compute 4, up 4                                  -> would arrive at t0 + 12
 * k_target 1: round closes at t0 + 7 with c0; c2 is late, cut off at 7: download (4 s, no
 * latency) done, compute 3/4 done, nothing uploaded. */
static void test_three_client_round(void **st)
{
    (void)st;
    evq q;
    evq_init(&q, 0);
    sched_client c[3] = {
        {.client = 10,
         .d_down = 2,
         .d_comp = 3,
         .d_up = 2,
         .lat_down = 1,
         .lat_up = 1,
         .drop_after = INFINITY,
         .bytes_down = 100,
         .bytes_up = 100,
         .flops = 30},
        {.client = 11,
         .d_down = 1,
         .d_comp = 1,
         .d_up = 1,
         .drop_after = 1.5,
         .bytes_down = 100,
         .bytes_up = 100,
         .flops = 10},
        {.client = 12,
         .d_down = 4,
         .d_comp = 4,
         .d_up = 4,
         .drop_after = INFINITY,
         .bytes_down = 100,
         .bytes_up = 100,
         .flops = 40},
    };
    int arrival[3];
    sched_round r = {.t0 = 100, .n = 3, .c = c, .arrival = arrival};
    assert_int_equal(sched_run_round(&q, &r, 1, 0), FS_OK);
    assert_true(r.t_close == 107.0);
    assert_int_equal(r.n_completed, 1);
    assert_int_equal(arrival[0], 0);
    assert_int_equal(r.n_dropped, 1);
    assert_int_equal(r.n_late, 1);
    assert_int_equal(c[0].outcome, SCHED_COMPLETED);
    assert_int_equal(c[1].outcome, SCHED_DROPPED);
    assert_int_equal(c[2].outcome, SCHED_LATE);
    assert_true(c[1].t_end == 101.5);
    assert_float_equal(c[1].moved_down, 100, 1e-12);
    assert_float_equal(c[1].flops_done, 5, 1e-12); /* half of its 1 s compute */
    assert_float_equal(c[1].moved_up, 0, 1e-12);
    assert_float_equal(c[2].moved_down, 100, 1e-12);
    assert_float_equal(c[2].flops_done, 30, 1e-12);
    assert_float_equal(c[2].moved_up, 0, 1e-12);
    assert_float_equal(c[0].moved_up, 100, 1e-12);

    /* same clients, wait for all (k = 3) with a deadline of 10 s: c2 (12 s) is late at 110 */
    r.t0 = 200;
    q.now = 200;
    assert_int_equal(sched_run_round(&q, &r, 3, 10), FS_OK);
    assert_true(r.t_close == 210.0);
    assert_int_equal(r.n_completed, 1);
    assert_int_equal(r.n_late, 1);
    /* c2 at 10 s: download 4 + compute 4 done, upload 2 of 4 s -> half the bytes */
    assert_float_equal(c[2].moved_up, 50, 1e-12);

    /* no deadline, k = 3: closes when the last possible event fires (c2 at 12 s) */
    r.t0 = 300;
    assert_int_equal(sched_run_round(&q, &r, 3, 0), FS_OK);
    assert_true(r.t_close == 312.0);
    assert_int_equal(r.n_completed, 2);
    assert_int_equal(arrival[1], 2);
    assert_int_equal(r.n_late, 0);
    evq_free(&q);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_order_random),
        cmocka_unit_test(test_equal_time_fifo),
        cmocka_unit_test(test_cancel),
        cmocka_unit_test(test_time_monotone),
        cmocka_unit_test(test_three_client_round),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
