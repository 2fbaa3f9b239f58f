/* Client optimiser state kept per client (train.optimizer_state: per_client; fl_train_clients'
 * opt_cs store). On a small MLP (3 classes, 8 features, six clients of 7..20 samples), every
 * comparison bit-exact (memcmp):
 *   - momentum 0: a run with the store gives the bits of a run without it;
 *   - a client trained in two rounds through fl_train_clients and the store gives the bits of a
 *     hand-driven sequence: fl_local_train twice on one worker, the second time continuing the
 *     momentum in w->opt (opt_resume, i.e. first = 0); the stored buffer is that of the hand
 *     run, and its second update differs from a fresh-buffer run (so the test can fail);
 *   - the first run is torch.optim.SGD's first step (buffer = gradient): a one-parameter
 *     sequence computed by hand;
 *   - 1 vs 2 threads, and a cap below one vector (spilling to HDF5) vs no cap, over 4 rounds;
 *   - a client with no samples stores nothing (its buffer stays fresh);
 *   - validation refuses per_client with protocol async (cfg_validate) and with fednova (the
 *     algorithm table's fresh_opt, sim_check_algorithm). Well under 1 s. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "fl_testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config/config.h"
#include "engine/check_algo.h"
#include "fl/algorithm.h"
#include "fl/client_state.h"

#define NC 6

typedef struct env {
    dataset ds;
    partition part;
    nn_model m;
    float *g0;
    size_t np;
} env;

static const uint32_t SIZES[NC] = {9, 14, 20, 11, 16, 7};

static void env_init(env *e, const uint32_t *sizes)
{
    size_t tot = 0;
    for (int c = 0; c < NC; c++) tot += sizes[c];
    make_data_n(&e->ds, tot);
    make_part(&e->part, sizes, NC);
    int hidden[1] = {6};
    assert_int_equal(nn_zoo_build(&e->m, "mlp", hidden, 1, e->ds.shape, 3), FS_OK);
    e->np = e->m.n_params;
    e->g0 = malloc(e->np * sizeof(float));
    rng_t r;
    rng_init(&r, 1, RNG_INIT, 0, 0);
    nn_model_init_params(&e->m, e->g0, &r);
}

static void env_free(env *e)
{
    free(e->g0);
    part_free(&e->part);
    ds_free(&e->ds);
}

/* The engine's buffers: NC result slots with update and opt vectors, two workers. */
typedef struct fed {
    fl_client_result res[NC];
    float *buf;
    nn_worker w[2];
    fl_agg agg;
    fl_server srv;
} fed;

static void fed_init(fed *f, const env *e, int batch)
{
    memset(f, 0, sizeof *f);
    f->buf = FS_ALIGNED((size_t)NC * 2 * e->np, sizeof(float));
    assert_non_null(f->buf);
    for (int k = 0; k < NC; k++) {
        f->res[k].update = f->buf + (size_t)(2 * k) * e->np;
        f->res[k].opt = f->buf + (size_t)(2 * k + 1) * e->np;
    }
    for (int t = 0; t < 2; t++) assert_int_equal(nn_worker_init(&f->w[t], &e->m, batch), FS_OK);
    assert_int_equal(fl_agg_init(&f->agg, e->np, 0), FS_OK);
    assert_int_equal(fl_server_init(&f->srv, fl_find("fedavg"), NULL, e->np, NC), FS_OK);
}

static void fed_free(fed *f)
{
    free(f->buf);
    for (int t = 0; t < 2; t++) nn_worker_free(&f->w[t]);
    fl_agg_free(&f->agg);
    fl_server_free(&f->srv);
}

/* `rounds` FedAvg rounds over all clients (reversed order, chunks of 4) from e->g0 into out;
 * ocs: the momentum store or NULL. */
static void run_fedavg(const env *e, const fl_train_cfg *tc, int rounds, float *out, int threads,
                       fl_cstate *ocs)
{
    fed f;
    fed_init(&f, e, tc->batch);
    memcpy(out, e->g0, e->np * sizeof(float));
    const fl_algorithm *a = fl_find("fedavg");
    uint32_t cl[NC];
    for (int c = 0; c < NC; c++) cl[c] = (uint32_t)(NC - 1 - c);
    for (int r = 1; r <= rounds; r++) {
        fl_round_ctx ctx = {&e->m, &e->ds, &e->part, out, tc, 11, (uint32_t)r, NULL, NULL, NULL};
        fl_agg_reset(&f.agg);
        for (int s = 0; s < NC; s += 4) {
            int n = NC - s < 4 ? NC - s : 4;
            assert_int_equal(
                fl_train_clients(a, &ctx, cl + s, n, f.res, f.w, threads, NULL, ocs, &f.agg),
                FS_OK);
        }
        fl_server_step(&f.srv, out, &f.agg);
    }
    fed_free(&f);
}

static void assert_same_bits(const float *a, const float *b, size_t n)
{
    size_t diff = 0;
    for (size_t i = 0; i < n; i++) diff += memcmp(&a[i], &b[i], sizeof(float)) != 0;
    if (diff) fail_msg("%zu of %zu values differ", diff, n);
}

static int same_bits(const float *a, const float *b, size_t n)
{
    return memcmp(a, b, n * sizeof(float)) == 0;
}

static void test_momentum0_unchanged(void **st)
{
    (void)st;
    env e;
    env_init(&e, SIZES);
    float *a = malloc(e.np * sizeof(float)), *b = malloc(e.np * sizeof(float));
    fl_train_cfg tc = {2, 0, 4, {.lr = 0.05, .weight_decay = 1e-3}};
    run_fedavg(&e, &tc, 3, a, 1, NULL);
    fl_cstate *ocs;
    assert_int_equal(fl_cstate_new(&ocs, e.np, 0, NULL), FS_OK);
    run_fedavg(&e, &tc, 3, b, 1, ocs);
    assert_same_bits(a, b, e.np);
    assert_false(same_bits(a, e.g0, e.np)); /* it trained */
    fl_cstate_free(ocs);
    free(a);
    free(b);
    env_free(&e);
}

/* Client 2 in round 1 (with client 4) and round 2 (alone, from another global model). */
static void test_second_run_continues(void **st)
{
    (void)st;
    env e;
    env_init(&e, SIZES);
    const size_t np = e.np;
    for (int nest = 0; nest < 2; nest++) {
        fl_train_cfg tc = {2, 0, 4, {.lr = 0.05, .momentum = 0.9, .nesterov = nest}};
        float *g2 = malloc(np * sizeof(float)), *hand = malloc(np * sizeof(float));
        float *fresh = malloc(np * sizeof(float)), *stored = malloc(np * sizeof(float));
        for (size_t i = 0; i < np; i++) g2[i] = e.g0[i] + 0.01f * (float)(i % 7);
        fl_round_ctx c1 = {&e.m, &e.ds, &e.part, e.g0, &tc, 11, 1, NULL, NULL, NULL};
        fl_round_ctx c2 = {&e.m, &e.ds, &e.part, g2, &tc, 11, 2, NULL, NULL, NULL};

        /* by hand: one worker, its buffer carried from run 1 into run 2 */
        nn_worker w;
        assert_int_equal(nn_worker_init(&w, &e.m, tc.batch), FS_OK);
        long steps;
        fl_local_train(&c1, 2, &w, hand, NULL, NULL, &steps);
        assert_int_equal(steps, 2 * 5); /* 20 samples, batch 4 */
        float *v1 = malloc(np * sizeof(float));
        memcpy(v1, w.opt, np * sizeof(float));
        w.opt_resume = 1;
        fl_local_train(&c2, 2, &w, hand, NULL, NULL, &steps);
        float *v2 = malloc(np * sizeof(float));
        memcpy(v2, w.opt, np * sizeof(float));
        w.opt_resume = 0;
        fl_local_train(&c2, 2, &w, fresh, NULL, NULL, &steps);
        assert_false(same_bits(hand, fresh, np)); /* the kept momentum matters */

        /* the engine path: fl_train_clients with the store */
        fed f;
        fed_init(&f, &e, tc.batch);
        fl_cstate *ocs;
        assert_int_equal(fl_cstate_new(&ocs, np, 0, NULL), FS_OK);
        const fl_algorithm *a = fl_find("fedavg");
        const uint32_t r1[2] = {4, 2}, r2[1] = {2};
        assert_int_equal(fl_train_clients(a, &c1, r1, 2, f.res, f.w, 2, NULL, ocs, &f.agg), FS_OK);
        assert_int_equal(f.res[1].opt_resume, 0);
        int existed = 0;
        assert_int_equal(fl_cstate_get(ocs, 2, stored, &existed), FS_OK);
        assert_int_equal(existed, 1);
        assert_same_bits(stored, v1, np);
        assert_int_equal(fl_train_clients(a, &c2, r2, 1, f.res, f.w, 2, NULL, ocs, &f.agg), FS_OK);
        assert_int_equal(f.res[0].opt_resume, 1);
        for (size_t i = 0; i < np; i++) hand[i] -= g2[i]; /* FedAvg's update w_k - w */
        assert_same_bits(f.res[0].update, hand, np);
        assert_int_equal(fl_cstate_get(ocs, 2, stored, NULL), FS_OK);
        assert_same_bits(stored, v2, np);
        fl_cstate_free(ocs);
        fed_free(&f);
        nn_worker_free(&w);
        free(v1);
        free(v2);
        free(g2);
        free(hand);
        free(fresh);
        free(stored);
    }
    env_free(&e);
}

/* One parameter, loss-free: nn_sgd_step with first = 1 then a resumed buffer, by hand.
 * mu 0.5, lr 0.1, g = 1, 2 | 4: v = 1, 2.5 | resumed: v = 0.5 * 2.5 + 4 = 5.25. */
static void test_first_step_semantics(void **st)
{
    (void)st;
    nn_sgd o = {.lr = 0.1, .momentum = 0.5};
    float w = 1, v = 123, g = 1;
    int first = 1;
    nn_sgd_step(&o, &w, &g, &v, 1, &first);
    assert_true(v == 1.0f && first == 0);
    g = 2;
    nn_sgd_step(&o, &w, &g, &v, 1, &first);
    assert_true(v == 2.5f);
    g = 4; /* a new run with the kept buffer: first stays 0 */
    nn_sgd_step(&o, &w, &g, &v, 1, &first);
    assert_true(v == 5.25f);
    assert_true(w == 1.0f - 0.1f * 1.0f - 0.1f * 2.5f - 0.1f * 5.25f);
}

static void test_threads_and_spill(void **st)
{
    (void)st;
    env e;
    env_init(&e, SIZES);
    const size_t np = e.np;
    float *a = malloc(np * sizeof(float)), *b = malloc(np * sizeof(float));
    float *c = malloc(np * sizeof(float)), *d = malloc(np * sizeof(float));
    fl_train_cfg tc = {1, 0, 4, {.lr = 0.05, .momentum = 0.9, .weight_decay = 1e-3}};
    fl_cstate *s1, *s2, *s3;
    char dir[] = "/tmp/fedsim-ostate-XXXXXX";
    assert_non_null(mkdtemp(dir));
    assert_int_equal(fl_cstate_new(&s1, np, 0, NULL), FS_OK);
    assert_int_equal(fl_cstate_new(&s2, np, 0, NULL), FS_OK);
    assert_int_equal(fl_cstate_new(&s3, np, 1, dir), FS_OK); /* keeps one vector */
    run_fedavg(&e, &tc, 4, a, 1, s1);
    run_fedavg(&e, &tc, 4, b, 2, s2);
    run_fedavg(&e, &tc, 4, c, 2, s3);
    run_fedavg(&e, &tc, 4, d, 1, NULL);
    assert_same_bits(a, b, np);
    assert_same_bits(a, c, np);
    assert_false(same_bits(a, d, np)); /* per client differs from reset */
    fl_cstate_stats st1, st3;
    fl_cstate_stats_get(s1, &st1);
    fl_cstate_stats_get(s3, &st3);
    assert_int_equal(st1.clients, NC);
    assert_int_equal(st1.disk_bytes, 0);
    assert_int_equal(st3.in_memory, 1);
    assert_true(st3.disk_bytes >= (NC - 1) * np * sizeof(float));
    assert_true(st3.spills > 0 && st3.loads > 0);
    float *v1 = malloc(np * sizeof(float)), *v3 = malloc(np * sizeof(float));
    for (uint32_t k = 0; k < NC; k++) {
        assert_int_equal(fl_cstate_get(s1, k, v1, NULL), FS_OK);
        assert_int_equal(fl_cstate_get(s3, k, v3, NULL), FS_OK);
        assert_same_bits(v1, v3, np);
    }
    fl_cstate_free(s1);
    fl_cstate_free(s2);
    fl_cstate_free(s3);
    assert_int_equal(rmdir(dir), 0); /* the spill file was unlinked */
    free(v1);
    free(v3);
    free(a);
    free(b);
    free(c);
    free(d);
    env_free(&e);
}

static void test_empty_client_stays_fresh(void **st)
{
    (void)st;
    const uint32_t sizes[NC] = {9, 0, 20, 11, 16, 7};
    env e;
    env_init(&e, sizes);
    fl_train_cfg tc = {1, 0, 4, {.lr = 0.05, .momentum = 0.9}};
    fl_cstate *ocs;
    assert_int_equal(fl_cstate_new(&ocs, e.np, 0, NULL), FS_OK);
    float *out = malloc(e.np * sizeof(float));
    run_fedavg(&e, &tc, 2, out, 1, ocs);
    fl_cstate_stats s;
    fl_cstate_stats_get(ocs, &s);
    assert_int_equal(s.clients, NC - 1);
    int existed = 1;
    assert_int_equal(fl_cstate_get(ocs, 1, out, &existed), FS_OK);
    assert_int_equal(existed, 0);
    fl_cstate_free(ocs);
    free(out);
    env_free(&e);
}

static void expect_refused(const char *over1, const char *over2, const char *msg_part)
{
    cfg c;
    cfg_diag d;
    cfg_defaults(&c);
    memset(&d, 0, sizeof d);
    assert_int_equal(cfg_apply_override("train.optimizer_state=per_client", 1, &c, &d), FS_OK);
    assert_int_equal(cfg_apply_override(over1, 2, &c, &d), FS_OK);
    if (over2) assert_int_equal(cfg_apply_override(over2, 3, &c, &d), FS_OK);
    cfg_derive(&c, "o.yaml");
    fs_err e = cfg_validate(&c, "o.yaml", &d);
    if (!e) e = sim_check_algorithm(&c, "o.yaml", &d);
    assert_int_equal(e, FS_EINPUT);
    assert_string_equal(d.file, "--set");
    assert_int_equal(d.line, 1); /* points at train.optimizer_state */
    if (!strstr(d.msg, msg_part)) fail_msg("message '%s' lacks '%s'", d.msg, msg_part);
}

static void test_validation(void **st)
{
    (void)st;
    expect_refused("protocol=async", NULL, "needs protocol: sync");
    expect_refused("algorithm.name=fednova", NULL, "fednova");
    cfg c;
    cfg_diag d;
    cfg_defaults(&c);
    assert_string_equal(c.train.optimizer_state, "reset");
    assert_int_equal(cfg_apply_override("train.optimizer_state=per_client", 1, &c, &d), FS_OK);
    assert_int_equal(cfg_apply_override("algorithm.name=scaffold", 2, &c, &d), FS_OK);
    cfg_derive(&c, "o.yaml");
    assert_int_equal(cfg_validate(&c, "o.yaml", &d), FS_OK);
    assert_int_equal(cfg_apply_override("train.optimizer_state=always", 3, &c, &d), FS_EINPUT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_momentum0_unchanged),
        cmocka_unit_test(test_second_run_continues),
        cmocka_unit_test(test_first_step_semantics),
        cmocka_unit_test(test_threads_and_spill),
        cmocka_unit_test(test_empty_client_stays_fresh),
        cmocka_unit_test(test_validation),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
