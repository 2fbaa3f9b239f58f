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
#include "crypto/paillier.h"
#include "engine/setup_check.h"
#include "nn/model.h"
#include "privacy/secagg_impl.h" /* the protocol's record sizes, for the hand counts */

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

#define SA_ROUNDS "rounds: {clients_per_round: 20, overcommit: 0.1}\n"

/* Secure aggregation's round state for n selected clients of degree deg, by hand: per client its
 * secrets, two public keys, four flags and its cost (ours: two snapshots more); per pair of
 * neighbours (and one spare) a receive key, a share ciphertext and its flag; per client and
 * holder (itself too) an unmasking share and its flag; the running sum; round 1's scratch per
 * OpenMP thread; round 3's keys (at most `keys`), Lagrange scratch and one client's message;
 * SecAgg+'s ring (perm, pos). */
static double sa_round_by_hand(double n, double deg, double dim, double keys, int ring)
{
    int T = 1;
#ifdef _OPENMP
    T = omp_get_max_threads();
#endif
    assert_int_equal(KEY + CT_BYTES + 1, 32 + 104 + 1);
    assert_int_equal(8 * SECRET_ELEMS + 1, 41);
    return n * (sizeof(struct sa_client) + 2 * 32 + 4 + 3 * sizeof(sa_cost)) + (n * deg + 1) * 137 +
           n * (deg + 1) * 41 + dim * 4 + T * (deg + 1) * (1 + 10) * 8 + (keys + 1) * (32 + 4) +
           (deg + 1) * (3 + 5) * 8 + sizeof(sa_unmask_msg) +
           (deg + 1) * sizeof(struct sa_unmask_entry) + (ring ? 2 * n * sizeof(int) : 0);
}

/* privacy.secagg on logreg (610 parameters, a 611-word encoding with the weight), 22 clients
 * selected a round (20 + 10 %): priv_new's buffers for the chunk (norms, encoded inputs, masked
 * handles, clip counts; the sum), the chunk's masked vectors alive at once, and the round:
 * SecAgg's complete graph (degree 21) and SecAgg+'s ring of degree 2 ceil(log2 22) = 10 */
static void test_estimate_secagg(void **state)
{
    (void)state;
    cfg c, s, p;
    parse(LOGREG SA_ROUNDS, &c);
    parse(LOGREG SA_ROUNDS "privacy: {secagg: secagg}\n", &s);
    parse(LOGREG SA_ROUNDS "privacy: {secagg: secagg_plus}\n", &p);
    cfg_diag d;
    sim_estimate a, bs, bp;
    assert_int_equal(sim_check_setup(&c, 2, "/tmp/x.db", "s.yaml", &d, &a), FS_OK);
    assert_int_equal(sim_check_setup(&s, 2, "/tmp/x.db", "s.yaml", &d, &bs), FS_OK);
    assert_int_equal(sim_check_setup(&p, 2, "/tmp/x.db", "s.yaml", &d, &bp), FS_OK);
    const double np = 610, dim = 611, n = 22;
    const double ch = sim_chunk_clients(2, np * 4, 20);
    const double chunk = ch * 8 + ch * (dim * 4 + 8 + 8) + dim * 4 + ch * (24 + dim * 4);
    assert_int_equal(sizeof(sa_masked_input), 24);
    assert_true(a.priv == 0 && a.robust == 0);
    /* unmasking keys: u + (22 - u) min(deg, u) at most: 23u - u^2 = 132 (u = 11) on the complete
     * graph; 130 (u = 10) with degree 10 */
    const double secagg = chunk + sa_round_by_hand(n, 21, dim, 132, 0);
    const double plus = chunk + sa_round_by_hand(n, 10, dim, 130, 1);
    assert_true(bs.priv == secagg);
    assert_true(bs.total - a.total == secagg);
    assert_true(bp.priv == plus);
    assert_true(bp.total - a.total == plus);
    /* 500 clients a round: the pairs' 137 + 41 bytes dominate (44 MB on the complete graph) */
    parse("name: s\ndata: {dataset: synthetic, synthetic_clients: 600, synthetic_dim: 60, "
          "synthetic_classes: 10}\nmodel: {name: logreg}\nrounds: {clients_per_round: 500, "
          "overcommit: 0}\n"
          "privacy: {secagg: secagg}\n",
          &s);
    assert_int_equal(sim_check_setup(&s, 2, "/tmp/x.db", "s.yaml", &d, &bs), FS_OK);
    assert_true(bs.priv > 500.0 * 499 * (137 + 41));
    assert_true(bs.priv < 500.0 * 499 * (137 + 41) * 1.2);
}

/* privacy.secagg: paillier (2048 bits): the public encryptor's table, the chunk's ciphertexts and
 * the server's product: 30 clients leave 5 bits of headroom, 37-bit slots, 55 a plaintext, 12
 * ciphertexts of 64 limbs for 611 words; the decrypted sums, the key-seen flags, the slot values
 * per thread */
static void test_estimate_paillier(void **state)
{
    (void)state;
    cfg c, h;
    parse(LOGREG SA_ROUNDS, &c);
    parse(LOGREG SA_ROUNDS "privacy: {secagg: paillier}\n", &h);
    cfg_diag d;
    sim_estimate a, b;
    assert_int_equal(sim_check_setup(&c, 2, "/tmp/x.db", "s.yaml", &d, &a), FS_OK);
    assert_int_equal(sim_check_setup(&h, 2, "/tmp/x.db", "s.yaml", &d, &b), FS_OK);
    const double np = 610, dim = 611, ch = sim_chunk_clients(2, np * 4, 20);
    const double buffers = ch * 8 + ch * (dim * 4 + 8 + 8) + dim * 4;
    const double he =
        he_enc_table_bytes_for(2048) + (ch + 1) * 12 * (16 + 64 * 8) + dim * 8 + 30 + 2 * 55 * 8;
    assert_true(he_enc_table_bytes_for(2048) > 27e6 && he_enc_table_bytes_for(2048) < 28e6);
    assert_true(b.priv == buffers + he);
    assert_true(b.total - a.total == buffers + he);
}

/* Krum and Bulyan over 150 of 200 clients a round (logreg): the kept updates (610 floats, weight,
 * client, flag, kept share, sort slot), the centre, the bitmap; Krum's 150 x 150 distances, its
 * scores and sorted row; Bulyan's the same plus active, sel, the per-thread counts and the
 * sorted columns of theta = 150 - 2 f = 130 chosen updates (f = 10) */
static void test_estimate_robust(void **state)
{
    (void)state;
    cfg c, k, b, m;
#define MANY                                                                                       \
    "name: s\ndata: {dataset: synthetic, synthetic_clients: 200, synthetic_dim: 60, "              \
    "synthetic_classes: 10}\nmodel: {name: logreg}\ntrain: {batch_size: 10}\n"                     \
    "rounds: {clients_per_round: 150}\n"
    parse(MANY, &c);
    parse(MANY "aggregation: {rule: krum}\n", &k);
    parse(MANY "aggregation: {rule: bulyan, f: 10}\n", &b);
    parse(MANY "aggregation: {rule: median, bucket: 2}\n", &m);
    cfg_diag d;
    sim_estimate a, bk, bb, bm;
    assert_int_equal(sim_check_setup(&c, 2, "/tmp/x.db", "s.yaml", &d, &a), FS_OK);
    assert_int_equal(sim_check_setup(&k, 2, "/tmp/x.db", "s.yaml", &d, &bk), FS_OK);
    assert_int_equal(sim_check_setup(&b, 2, "/tmp/x.db", "s.yaml", &d, &bb), FS_OK);
    assert_int_equal(sim_check_setup(&m, 2, "/tmp/x.db", "s.yaml", &d, &bm), FS_OK);
    const double np = 610, n = 150;
    const double kept = n * (np * 4 + 8 + 4 + 1 + 8 + 8) + np * 8 + (200 / 8 + 1);
    assert_true(a.robust == 0);
    const double krum = n * n * 8 + n * 8 + n * 8;
    assert_true(bk.robust == kept + krum);
    assert_true(bk.total - a.total == kept + krum);
    const double bulyan = n * n * 8 + n * 8 + n * (8 + 1 + 4) + 2 * n * 8 + 2 * 130 * 8;
    assert_true(bb.robust == kept + bulyan);
    assert_true(bb.total - a.total == kept + bulyan);
    /* bucketing by 2: the permutation, 75 bucket means, their weights and kept shares, the
     * accumulator; the median's per-thread counts and columns over 75 */
    const double buckets = n * 4 + 75 * np * 4 + 2 * 75 * 8 + np * 8 + 2 * 75 * (8 + 8);
    assert_true(bm.robust == kept + buckets);
    assert_true(bm.total - a.total == kept + buckets);
}

/* secure aggregation of a huge model: the chunk's encoded inputs and masked vectors outgrow its
 * updates (named at privacy.secagg); a robust rule's kept updates of 20 clients outgrow both
 * (aggregation.rule) */
static void test_too_large_priv_robust(void **state)
{
    (void)state;
    cfg c;
    parse(SYNTH "model: {name: mlp, hidden: [50000, 50000]}\n"
                "privacy:\n  secagg: secagg\n",
          &c);
    cfg_diag d;
    sim_estimate est;
    assert_int_equal(sim_check_setup(&c, 1, "/tmp/x.db", "s.yaml", &d, &est), FS_EINPUT);
    assert_true(est.priv > est.chunk && est.priv > est.model);
    assert_int_equal(d.line, 5); /* privacy.secagg */
    assert_non_null(strstr(d.msg, "the privacy buffers"));
    parse(SYNTH "model: {name: mlp, hidden: [50000, 50000]}\n"
                "rounds: {clients_per_round: 20}\n"
                "aggregation:\n  rule: median\n  memory_mb: 10000000\n",
          &c);
    assert_int_equal(sim_check_setup(&c, 1, "/tmp/x.db", "s.yaml", &d, &est), FS_EINPUT);
    assert_true(est.robust > est.chunk && est.robust > est.model);
    assert_int_equal(d.line, 6); /* aggregation.rule */
    assert_non_null(strstr(d.msg, "the robust aggregation's kept updates"));
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
        cmocka_unit_test(test_estimate_secagg),       cmocka_unit_test(test_estimate_paillier),
        cmocka_unit_test(test_estimate_robust),       cmocka_unit_test(test_too_large_priv_robust),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
