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
    assert_true(est.comm == 0 && est.residuals == 0 && est.pers == 0);
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

/* FedRep and FedPer keep only their personal layers per client (packed): the stores and the
 * chunk's state buffers count those floats, Ditto's a whole model; FedRep without personal
 * layers keeps one float per client */
static void test_estimate_packed_state(void **state)
{
    (void)state;
    cfg r, p, d, n;
    parse(SYNTH "model: {name: mlp, hidden: [1000]}\n"
                "algorithm: {name: fedrep, personal_layers: dense2}\n",
          &r);
    parse(SYNTH "model: {name: mlp, hidden: [1000]}\n"
                "algorithm: {name: fedper, personal_layers: dense2}\n",
          &p);
    parse(SYNTH "model: {name: mlp, hidden: [1000]}\nalgorithm: {name: ditto}\n", &d);
    parse(SYNTH "model: {name: mlp, hidden: [1000]}\nalgorithm: {name: fedrep}\n", &n);
    cfg_diag dg;
    sim_estimate er, ep, ed, en;
    assert_int_equal(sim_check_setup(&r, 1, "/tmp/x.db", "s.yaml", &dg, &er), FS_OK);
    assert_int_equal(sim_check_setup(&p, 1, "/tmp/x.db", "s.yaml", &dg, &ep), FS_OK);
    assert_int_equal(sim_check_setup(&d, 1, "/tmp/x.db", "s.yaml", &dg, &ed), FS_OK);
    assert_int_equal(sim_check_setup(&n, 1, "/tmp/x.db", "s.yaml", &dg, &en), FS_OK);
    const double np = 60 * 1000 + 1000 + 1000 * 10 + 10, head = 1000 * 10 + 10;
    assert_true(ed.state == 30 * np * 4); /* 30 clients, under the default cap */
    assert_true(er.state == 30 * head * 4);
    assert_true(ep.state == er.state);
    assert_true(en.state == 30 * 4);
    const double per = np * 4 + head * 4; /* the update and the packed state */
    assert_true(er.chunk == sim_chunk_clients(1, per, r.rounds.clients_per_round) * per);
    assert_true(ed.chunk ==
                sim_chunk_clients(1, np * 4 * 2, d.rounds.clients_per_round) * np * 4 * 2);
    assert_true(er.total < ed.total);
    /* under a cap the store keeps what fits: the cap, not n_clients vectors */
    cfg rc;
    parse(SYNTH "model: {name: mlp, hidden: [1000]}\n"
                "algorithm: {name: fedrep, personal_layers: dense2, state_memory_mb: 0.5}\n",
          &rc);
    sim_estimate erc;
    assert_int_equal(sim_check_setup(&rc, 1, "/tmp/x.db", "s.yaml", &dg, &erc), FS_OK);
    assert_true(erc.state == 0.5 * 1048576.0);
}

#define LOGREG SYNTH "model: {name: logreg}\ntrain: {batch_size: 10}\n"

/* top-k with error feedback: comm.c's chunk buffers, the encodings, top-k's |x| copy per
 * encoding thread, and one residual per client (under the cap) or as many as the cap holds */
static void test_estimate_compression(void **state)
{
    (void)state;
    cfg c, t, e, k;
    parse(LOGREG, &c);
    parse(LOGREG "compression: {kind: topk, k: 0.1}\n", &t);
    parse(LOGREG "compression: {kind: topk, k: 0.1, error_feedback: true}\n", &e);
    parse(LOGREG "compression: {kind: topk, k: 0.1, error_feedback: true}\n"
                 "algorithm: {state_memory_mb: 0.01}\n",
          &k);
    cfg_diag d;
    sim_estimate a, bt, be, bk;
    assert_int_equal(sim_check_setup(&c, 2, "/tmp/x.db", "s.yaml", &d, &a), FS_OK);
    assert_int_equal(sim_check_setup(&t, 2, "/tmp/x.db", "s.yaml", &d, &bt), FS_OK);
    assert_int_equal(sim_check_setup(&e, 2, "/tmp/x.db", "s.yaml", &d, &be), FS_OK);
    assert_int_equal(sim_check_setup(&k, 2, "/tmp/x.db", "s.yaml", &d, &bk), FS_OK);
    const double np = 610, ch = sim_chunk_clients(2, np * 4, c.rounds.clients_per_round);
    /* 61 of 610 kept: 10-bit indices (77 bytes) and 61 floats */
    const double enc = 77 + 61 * 4;
    const double buffers = 2 * ch * np * 4 + ch * enc + 1 + 2 * np * 4;
    assert_true(bt.comm == buffers);
    assert_true(bt.residuals == 0);
    assert_true(bt.total - a.total == buffers);
    assert_true(be.residuals == 30 * np * 4); /* 30 clients, default cap 1 GiB */
    assert_true(be.total - a.total == buffers + 30 * np * 4);
    /* 0.01 MiB = 10485 bytes: 4 residuals of 2440 bytes stay in memory */
    assert_true(bk.residuals == 4 * np * 4);
    assert_true(bk.total - a.total == buffers + 4 * np * 4);
}

/* PowerSGD's factors of its largest matrix (hidden 60 -> 8, rank 2), once per encoding thread */
static void test_estimate_powersgd(void **state)
{
    (void)state;
    cfg c;
    parse(SYNTH "model: {name: mlp, hidden: [8]}\ncompression: {kind: powersgd, rank: 2}\n", &c);
    cfg_diag d;
    sim_estimate est;
    assert_int_equal(sim_check_setup(&c, 1, "/tmp/x.db", "s.yaml", &d, &est), FS_OK);
    const double np = 60 * 8 + 8 + 8 * 10 + 10;
    const double ch = sim_chunk_clients(1, np * 4, c.rounds.clients_per_round);
    /* P, Q: (8 + 60) x 2 and (10 + 8) x 2 floats; the 18 biases as they are */
    const double enc = 4 * (68 * 2 + 18 * 2 + 18);
    const double scratch = 2 * (60 * 8 + 8 * (8 + 4)); /* Q, P in double, P in float */
    assert_true(est.comm == 2 * ch * np * 4 + ch * enc + 1 + scratch);
}

/* eval.clients: the sample (every client) and three results each; fine-tuning or a personalized
 * algorithm: two models and a flag per client personalized at once (2 x threads at most) */
static void test_estimate_personal(void **state)
{
    (void)state;
    cfg c, s, f, p, pd;
    parse(LOGREG "partition: {local_test_fraction: 0.2}\n", &c);
    parse(LOGREG "partition: {local_test_fraction: 0.2}\neval: {clients: 10}\n", &s);
    parse(LOGREG "partition: {local_test_fraction: 0.2}\n"
                 "eval: {clients: 10, personalize_steps: 5}\n",
          &f);
    parse(LOGREG "algorithm: {name: ditto}\n", &p);
    parse(LOGREG "algorithm: {name: ditto}\neval: {clients: 10}\n", &pd);
    cfg_diag d;
    sim_estimate a, bs, bf, bp, bpd;
    assert_int_equal(sim_check_setup(&c, 2, "/tmp/x.db", "s.yaml", &d, &a), FS_OK);
    assert_int_equal(sim_check_setup(&s, 2, "/tmp/x.db", "s.yaml", &d, &bs), FS_OK);
    assert_int_equal(sim_check_setup(&f, 2, "/tmp/x.db", "s.yaml", &d, &bf), FS_OK);
    assert_int_equal(sim_check_setup(&p, 2, "/tmp/x.db", "s.yaml", &d, &bp), FS_OK);
    assert_int_equal(sim_check_setup(&pd, 2, "/tmp/x.db", "s.yaml", &d, &bpd), FS_OK);
    const double np = 610, sample = 30 * 4 + 3 * 10 * 8;
    assert_true(a.pers == 0);
    assert_true(bs.pers == sample);
    assert_true(bs.total - a.total == sample);
    /* 2 threads: 4 clients at once (the chunk is larger) */
    assert_true(sim_chunk_clients(2, np * 4, f.rounds.clients_per_round) >= 4);
    assert_true(bf.pers == sample + 4 * (2 * np * 4 + 4));
    assert_true(bf.total - a.total == sample + 4 * (2 * np * 4 + 4));
    /* Ditto's personal models are its client states (counted there), its evaluation buffers here */
    assert_true(bp.state == 30 * np * 4);
    assert_true(bp.pers == 0);
    assert_true(bpd.pers == sample + 4 * (2 * np * 4 + 4));
    assert_true(bpd.total - bp.total == bpd.pers);
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

/* compressing a huge model: the chunk's gathered and decoded copies outgrow its updates, and
 * error feedback's residuals of 30 clients (uncapped) outgrow both */
static void test_too_large_compressed(void **state)
{
    (void)state;
    cfg c;
    parse(SYNTH "model: {name: mlp, hidden: [50000, 50000]}\n"
                "compression:\n  kind: topk\n  error_feedback: true\n",
          &c);
    cfg_diag d;
    sim_estimate est;
    assert_int_equal(sim_check_setup(&c, 1, "/tmp/x.db", "s.yaml", &d, &est), FS_EINPUT);
    assert_true(est.comm > est.chunk && est.comm > est.model);
    assert_true(est.residuals < est.comm); /* capped at 1 GiB */
    assert_int_equal(d.line, 5);           /* compression.kind */
    assert_non_null(strstr(d.msg, "the compression buffers"));
    parse(SYNTH "model: {name: mlp, hidden: [50000, 50000]}\n"
                "compression: {kind: topk, error_feedback: true}\n"
                "algorithm:\n  state_memory_mb: 100000000\n",
          &c);
    assert_int_equal(sim_check_setup(&c, 1, "/tmp/x.db", "s.yaml", &d, &est), FS_EINPUT);
    assert_true(est.residuals > est.comm);
    assert_int_equal(d.line, 6); /* algorithm.state_memory_mb */
    assert_non_null(strstr(d.msg, "the error-feedback residual store"));
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
        cmocka_unit_test(test_estimate_small),        cmocka_unit_test(test_estimate_state),
        cmocka_unit_test(test_estimate_packed_state), cmocka_unit_test(test_too_large),
        cmocka_unit_test(test_errors_at_keys),        cmocka_unit_test(test_chunk),
        cmocka_unit_test(test_estimate_compression),  cmocka_unit_test(test_estimate_powersgd),
        cmocka_unit_test(test_estimate_personal),     cmocka_unit_test(test_too_large_compressed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
