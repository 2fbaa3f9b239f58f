/* The pieces of a run over MPI ranks that do not need mpirun (the wire itself is tested end to
 * end by tests/e2e/mpi.sh):
 *   - dist_share cuts a chunk into contiguous slices that cover it once, sizes within one;
 *   - without a launcher the process is rank 0 of 1 and dist_agree returns its own outcome;
 *   - the rank-0 protocol in one process: fl_train_load, each slice's states copied out to
 *     another rank's buffers, trained there with fl_train_run, every vector copied back, then
 *     fl_train_store, gives the bits of fl_train_clients for SCAFFOLD (client states and a second
 *     upload) over several rounds, for 1 to 4 simulated ranks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include "fl_testutil.h"
#include <stdlib.h>
#include <string.h>

#include "engine/mpi_dist.h"
#include "fl/algorithm.h"
#include "fl/client_state.h"
#include "nn/optim.h"
#include "nn/zoo.h"

static void test_share_covers(void **st)
{
    (void)st;
    for (int R = 1; R <= 9; R++)
        for (int n = 0; n <= 70; n++) {
            int next = 0;
            for (int r = 0; r < R; r++) {
                int lo, hi;
                dist_share(n, R, r, &lo, &hi);
                assert_int_equal(lo, next);
                assert_true(hi >= lo);
                assert_true(hi - lo == n / R || hi - lo == n / R + 1);
                next = hi;
            }
            assert_int_equal(next, n);
        }
}

static void test_single_process(void **st)
{
    (void)st;
    if (dist_launched()) skip();
    assert_int_equal(dist_init(), FS_OK);
    assert_int_equal(dist_rank(), 0);
    assert_int_equal(dist_size(), 1);
    assert_int_equal(dist_agree(FS_OK), FS_OK);
    assert_int_equal(dist_agree(FS_EDATA), FS_EDATA);
    dist_finalize();
}

enum { NC = 7, ROUNDS = 3 };

typedef struct fed {
    const fl_algorithm *a;
    fl_server srv;
    fl_cstate *cs;
    fl_agg agg;
    fl_client_result res[NC], far[NC]; /* rank 0's slots, another rank's slots */
    float *buf;
    nn_worker w[2];
} fed;

static void slots(fl_client_result *res, float *buf, size_t np)
{
    for (int k = 0; k < NC; k++) {
        res[k].update = buf + (size_t)(3 * k) * np;
        res[k].update2 = buf + (size_t)(3 * k + 1) * np;
        res[k].state = buf + (size_t)(3 * k + 2) * np;
    }
}

/* ROUNDS rounds of SCAFFOLD on every client into global; ranks == 0: fl_train_clients, else the
 * shipped protocol over that many simulated ranks. */
static void run(const nn_model *m, const dataset *ds, const partition *part, const float *g0,
                float *global, int ranks)
{
    const size_t np = m->n_params;
    fed f;
    memset(&f, 0, sizeof f);
    f.a = fl_find("scaffold");
    fl_params p = fl_params_default();
    p.server_lr = 0.5;
    assert_int_equal(fl_server_init(&f.srv, f.a, &p, np, NC), FS_OK);
    assert_int_equal(fl_agg_init(&f.agg, np, 1), FS_OK);
    assert_int_equal(fl_cstate_new(&f.cs, np, 0, NULL), FS_OK);
    f.buf = calloc((size_t)NC * 6 * np, sizeof(float));
    slots(f.res, f.buf, np);
    slots(f.far, f.buf + (size_t)NC * 3 * np, np);
    for (int t = 0; t < 2; t++) assert_int_equal(nn_worker_init(&f.w[t], m, 4), FS_OK);
    fl_train_cfg tc = {2, 0, 4, {.lr = 0.05}};
    memcpy(global, g0, np * sizeof(float));
    uint32_t cl[NC] = {3, 0, 6, 1, 5, 2, 4}; /* an arrival order */
    for (int r = 1; r <= ROUNDS; r++) {
        fl_round_ctx ctx = {m, ds, part, global, &tc, 7, (uint32_t)r, &f.srv.p, f.srv.bcast, NULL};
        fl_agg_reset(&f.agg);
        if (!ranks) {
            assert_int_equal(fl_train_clients(f.a, &ctx, cl, NC, f.res, f.w, 2, f.cs, NULL, &f.agg),
                             FS_OK);
        } else {
            assert_int_equal(fl_train_load(f.a, cl, NC, f.res, f.cs, NULL), FS_OK);
            for (int q = 0; q < ranks; q++) {
                int lo, hi;
                dist_share(NC, ranks, q, &lo, &hi);
                for (int k = lo; k < hi; k++) { /* the task: client and state */
                    f.far[k].client = f.res[k].client;
                    f.far[k].scalar = 0;
                    memcpy(f.far[k].state, f.res[k].state, np * sizeof(float));
                    memset(f.res[k].update, 0xff, np * sizeof(float)); /* no leftovers */
                }
                fl_train_run(f.a, &ctx, f.far + lo, hi - lo, f.w, 1 + q % 2, 0);
                for (int k = lo; k < hi; k++) { /* the result */
                    fl_client_result *d = &f.res[k], *s = &f.far[k];
                    d->n_samples = s->n_samples;
                    d->weight = s->weight;
                    d->weight2 = s->weight2;
                    d->train_loss = s->train_loss;
                    d->steps = s->steps;
                    d->scalar = s->scalar;
                    memcpy(d->update, s->update, np * sizeof(float));
                    memcpy(d->update2, s->update2, np * sizeof(float));
                    memcpy(d->state, s->state, np * sizeof(float));
                }
            }
            assert_int_equal(fl_train_store(f.a, &ctx, f.res, NC, f.cs, NULL, &f.agg), FS_OK);
        }
        fl_server_step(&f.srv, global, &f.agg);
    }
    fl_server_free(&f.srv);
    fl_agg_free(&f.agg);
    fl_cstate_free(f.cs);
    free(f.buf);
    for (int t = 0; t < 2; t++) nn_worker_free(&f.w[t]);
}

static void test_shipped_states_same_bits(void **st)
{
    (void)st;
    const uint32_t sizes[NC] = {9, 14, 20, 11, 16, 7, 12};
    dataset ds;
    partition part;
    nn_model m;
    size_t tot = 0;
    for (int c = 0; c < NC; c++) tot += sizes[c];
    make_data_n(&ds, tot);
    make_part(&part, sizes, NC);
    int hidden[1] = {6};
    assert_int_equal(nn_zoo_build(&m, "mlp", hidden, 1, ds.shape, 3), FS_OK);
    const size_t np = m.n_params;
    float *g0 = malloc(np * sizeof(float)), *a = malloc(np * sizeof(float)),
          *b = malloc(np * sizeof(float));
    rng_t r;
    rng_init(&r, 1, RNG_INIT, 0, 0);
    nn_model_init_params(&m, g0, &r);
    run(&m, &ds, &part, g0, a, 0);
    assert_true(memcmp(a, g0, np * sizeof(float)) != 0); /* it trained */
    for (int ranks = 1; ranks <= 4; ranks++) {
        run(&m, &ds, &part, g0, b, ranks);
        assert_memory_equal(a, b, np * sizeof(float));
    }
    free(g0);
    free(a);
    free(b);
    part_free(&part);
    ds_free(&ds);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_share_covers),
        cmocka_unit_test(test_single_process),
        cmocka_unit_test(test_shipped_states_same_bits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
