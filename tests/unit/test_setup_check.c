/* The set-up checks of validate and run (engine/setup_check.c): the memory estimate counts what
 * set-up allocates, a run that needs more than the limit is refused at the key that makes it
 * large, and problems are reported at their key. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "config/config.h"
#include "engine/setup_check.h"
#include "nn/model.h"

static void parse(const char *text, cfg *c)
{
    cfg_diag d;
    fs_err e = cfg_parse_text(text, strlen(text), "s.yaml", c, &d);
    if (e) cfg_diag_print(&d, stderr);
    assert_int_equal(e, FS_OK);
    cfg_derive(c, "s.yaml");
    assert_int_equal(cfg_validate(c, "s.yaml", &d), FS_OK);
}

#define SYNTH                                                                                      \
    "name: s\n"                                                                                    \
    "data: {dataset: synthetic, synthetic_clients: 30, synthetic_dim: 60, synthetic_classes: "     \
    "10}\n"

static void test_estimate_small(void **state)
{
    (void)state;
    cfg c;
    parse(SYNTH "model: {name: logreg}\ntrain: {batch_size: 10}\n", &c);
    cfg_diag d;
    sim_estimate est;
    assert_int_equal(sim_check_setup(&c, 2, "/tmp/x.db", "s.yaml", &d, &est), FS_OK);
    const double np = 60 * 10 + 10; /* logreg: weights and biases */
    /* fedavg: the float global model and one double aggregate, no server vectors */
    assert_true(est.model == np * 4 + np * 8);
    /* the clients trained at once (as setup.c sizes them), one update each */
    assert_true(est.chunk == sim_chunk_clients(2, np * 4, c.rounds.clients_per_round) * np * 4);
    assert_true(est.state == 0);
    assert_true(est.workers > 2 * 2 * np * 4); /* at least grad and opt per thread */
    assert_true(est.total ==
                est.data + est.partition + est.model + est.workers + est.chunk + est.state);
    assert_true(est.total < 1e8);
    assert_true(est.limit > 0);
}

static void test_estimate_state(void **state)
{
    (void)state;
    cfg c, s;
    parse(SYNTH "model: {name: mlp, hidden: [1000]}\n", &c);
    parse(SYNTH "model: {name: mlp, hidden: [1000]}\nalgorithm: {name: scaffold}\n", &s);
    cfg_diag d;
    sim_estimate a, b;
    assert_int_equal(sim_check_setup(&c, 1, "/tmp/x.db", "s.yaml", &d, &a), FS_OK);
    assert_int_equal(sim_check_setup(&s, 1, "/tmp/x.db", "s.yaml", &d, &b), FS_OK);
    const double np = 60 * 1000 + 1000 + 1000 * 10 + 10;
    /* SCAFFOLD: a state vector per client (30, under the default cap), a second upload */
    assert_true(b.state == 30 * np * 4);
    assert_true(b.chunk ==
                sim_chunk_clients(1, np * 4 * 3, s.rounds.clients_per_round) * np * 4 * 3);
    assert_true(b.total > a.total);
}

static void test_too_large(void **state)
{
    (void)state;
    cfg c;
    parse(SYNTH "model:\n  name: mlp\n  hidden: [50000, 50000]\n", &c);
    cfg_diag d;
    sim_estimate est;
    assert_int_equal(sim_check_setup(&c, 1, "/tmp/x.db", "s.yaml", &d, &est), FS_EINPUT);
    assert_true(est.total > 100e9);
    assert_true(est.total > est.limit);
    /* at the key that makes it large, with the estimate and the limit */
    assert_int_equal(d.line, 5);
    assert_int_equal(d.col, 3);
    assert_non_null(strstr(d.msg, "needs an estimated"));
    assert_non_null(strstr(d.msg, "GB"));
}

static void test_errors_at_keys(void **state)
{
    (void)state;
    cfg c;
    cfg_diag d;
    parse("name: s\ndata:\n  dataset: file\n  path: /nonexistent/d.h5\n", &c);
    assert_int_equal(sim_check_setup(&c, 1, "/tmp/x.db", "s.yaml", &d, NULL), FS_EINPUT);
    assert_int_equal(d.line, 4);
    assert_non_null(strstr(d.msg, "cannot open dataset file"));
    parse("name: s\ndata:\n  dataset: file\n  path: /\n", &c);
    assert_int_equal(sim_check_setup(&c, 1, "/tmp/x.db", "s.yaml", &d, NULL), FS_EINPUT);
    assert_non_null(strstr(d.msg, "is a directory"));
    parse(SYNTH "model:\n  name: logreg\n  init_from: /nonexistent/m.h5\n", &c);
    assert_int_equal(sim_check_setup(&c, 1, "/tmp/x.db", "s.yaml", &d, NULL), FS_EINPUT);
    assert_int_equal(d.line, 5);
    parse(SYNTH "model:\n  name: mlp\n  hidden: [8]\n  freeze: [nope]\n", &c);
    assert_int_equal(sim_check_setup(&c, 1, "/tmp/x.db", "s.yaml", &d, NULL), FS_EINPUT);
    assert_int_equal(d.line, 6);
    assert_non_null(strstr(d.msg, "nope"));
    parse(SYNTH "model:\n  name: custom\n  layers: [{type: conv2d, filters: 2, kernel: 5}]\n", &c);
    assert_int_equal(sim_check_setup(&c, 1, "/tmp/x.db", "s.yaml", &d, NULL), FS_EINPUT);
    assert_int_equal(d.line, 5);
}

static void test_chunk(void **state)
{
    (void)state;
    assert_int_equal(sim_chunk_clients(1, 1000, 100), 64);
    assert_int_equal(sim_chunk_clients(1, 1000, 10), 16);
    assert_int_equal(sim_chunk_clients(4, 100e6, 100), 16); /* 256 MB of updates at most */
    assert_int_equal(sim_chunk_clients(2, 1e9, 100), 8);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_estimate_small), cmocka_unit_test(test_estimate_state),
        cmocka_unit_test(test_too_large),      cmocka_unit_test(test_errors_at_keys),
        cmocka_unit_test(test_chunk),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
