/* The population interface the protocols share (engine/clients.h): selection picks distinct,
 * online, idle clients with data, deterministically from its key; the available count is
 * exact for small populations; client events cut a client's phases where its work ended. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "engine/clients.h"

enum { N = 60 };

typedef struct pop_fixture {
    cfg c;
    partition part;
    av_model av;
    uint32_t perm[N];
    fl_train_cfg tc;
    sim_pop pop;
} pop_fixture;

static void fixture_init(pop_fixture *f, av_mode mode)
{
    memset(f, 0, sizeof *f);
    cfg_defaults(&f->c);
    f->c.seed = 11;
    assert_int_equal(part_iid(300, N, 11, &f->part), FS_OK);
    assert_int_equal(av_init(&f->av, mode, 11, N), FS_OK);
    f->av.p = 0.5;
    for (uint32_t i = 0; i < N; i++) f->perm[i] = i;
    f->tc = (fl_train_cfg){1, 0, 10, {0.1, 0, 0, 0, 0}};
    f->pop = (sim_pop){&f->c, &f->part, NULL, &f->av, NULL,   fl_find("fedavg"),
                       NULL,  &f->tc,   NULL, NULL,   f->perm};
}

static void fixture_free(pop_fixture *f)
{
    part_free(&f->part);
    av_free(&f->av);
}

static void test_select(void **st)
{
    (void)st;
    pop_fixture f;
    fixture_init(&f, AV_BERNOULLI);
    uint8_t busy[N] = {0};
    for (int i = 0; i < N; i += 3) busy[i] = 1;
    uint32_t got[N], again[N];
    long avail = -1;
    const int n = sim_select_clients(&f.pop, 4, 4, 0.0, 8, busy, got, &avail);
    assert_int_equal(n, 8);
    long online = 0;
    for (uint32_t i = 0; i < N; i++) online += av_is_online(&f.av, i, 4, 0.0);
    assert_int_equal(avail, online); /* exact below 100,000 clients */
    for (int i = 0; i < n; i++) {
        assert_true(av_is_online(&f.av, got[i], 4, 0.0));
        assert_false(busy[got[i]]);
        assert_true(part_size(&f.part, got[i]) > 0);
        for (int j = 0; j < i; j++) assert_true(got[i] != got[j]);
    }
    /* the same key from the same permutation: the same clients */
    for (uint32_t i = 0; i < N; i++) f.perm[i] = i;
    assert_int_equal(sim_select_clients(&f.pop, 4, 4, 0.0, 8, busy, again, NULL), 8);
    assert_memory_equal(got, again, sizeof(uint32_t) * 8);
    /* more than are online and idle: all of them, no more */
    for (uint32_t i = 0; i < N; i++) f.perm[i] = i;
    const int all = sim_select_clients(&f.pop, 5, 4, 0.0, N, busy, got, NULL);
    long idle = 0;
    for (uint32_t i = 0; i < N; i++) idle += av_is_online(&f.av, i, 4, 0.0) && !busy[i];
    assert_int_equal(all, idle);
    fixture_free(&f);
}

static void test_count_always(void **st)
{
    (void)st;
    pop_fixture f;
    fixture_init(&f, AV_ALWAYS);
    assert_int_equal(sim_count_available(&f.pop, 1, 0.0, 0, 0, 1), N);
    fixture_free(&f);
}

static void test_events(void **st)
{
    (void)st;
    pop_fixture f;
    fixture_init(&f, AV_ALWAYS);
    sim_events ev = {0};
    sched_client sc = {.client = 3, .d_down = 1, .d_comp = 2, .d_up = 4, .t_end = 17};
    sc.moved_down = 100;
    sc.moved_up = 50;
    /* output.client_events off: nothing recorded */
    assert_int_equal(sim_events_client(&ev, &f.pop, &sc, 10, 2, "completed"), FS_OK);
    assert_int_equal(ev.n, 0);
    ev.on = 1;
    assert_int_equal(sim_events_client(&ev, &f.pop, &sc, 10, 2, "completed"), FS_OK);
    assert_int_equal(ev.n, 3);
    assert_string_equal(ev.ev[0].phase, "download");
    assert_true(ev.ev[1].t_start == 11 && ev.ev[1].t_end == 13);
    assert_true(ev.ev[2].t_end == 17 && ev.ev[2].bytes == 50);
    assert_string_equal(ev.ev[2].outcome, "completed");
    /* dropped during compute: two phases, the second cut at t_end with the outcome */
    ev.n = 0;
    sc.t_end = 12;
    assert_int_equal(sim_events_client(&ev, &f.pop, &sc, 10, 2, "dropped_random"), FS_OK);
    assert_int_equal(ev.n, 2);
    assert_true(ev.ev[1].t_end == 12);
    assert_string_equal(ev.ev[1].outcome, "dropped_random");
    sim_events_free(&ev);
    fixture_free(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_select),
        cmocka_unit_test(test_count_always),
        cmocka_unit_test(test_events),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
