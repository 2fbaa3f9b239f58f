/* Personalization and fairness (sim/fl/qffl.c, ditto.c, fedrep.c; sim/engine/personal.c):
 *   - one round of q-FFL (q = 2 and q = 0), of Ditto's and of APFL's personal models against a
 * reference computed here in double precision from the papers' rules, on the two-client softmax
 *     regression of test_algorithms.c (4 parameters). Each client's batch is its whole data, so
 *     the minibatch order does not matter and float32 training differs from the double
 *     reference by ~1e-7; tolerance 1e-5, while the rules differ from FedAvg by > 1e-2;
 *   - reductions: Ditto's and APFL's global models are FedAvg's bit for bit, and with lambda = 1e30
 * its personal model is the global model it received, bit for bit; FedPer and FedRep without
 *     personal layers are FedAvg bit for bit;
 *   - FedPer and FedRep on a small MLP against the same steps built from fl_local_train and
 *     frozen layers (the head epochs with the body frozen, then the body with the head frozen);
 *   - the same bits with 1 and 2 threads and with a state memory cap of one vector;
 *   - FedPer's and FedRep's packed client states: the store holds the personal ranges only
 *     (fl_state_dim floats), in memory and through the spill file, with slots of exactly that
 *     size, and keeps the values the full-layout store keeps, bit for bit;
 *   - personal layer names, the evaluation sample and the fairness summaries. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#define FL_TESTUTIL_FED
#include "fl_testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "engine/personal.h"
#include "fl/algorithm.h"
#include "fl/client_state.h"
#include "nn/zoo.h"

#define MAXC 16
#define TOL  1e-5

/* ---- the hand problem: softmax regression, one feature, two classes ----------------------- */

static const float HX[10] = {1.0f, -0.5f, 2.0f, 0.5f, 0.5f, 0.5f, 0.5f, 0.5f, 0.5f, 0.0f};
static const int32_t HY[10] = {0, 1, 0, 1, 1, 1, 1, 1, 1, 0};
static const uint32_t HSIZES[3] = {3, 6, 1};
static const uint32_t HOFF[3] = {0, 3, 9};

typedef struct hand {
    dataset ds;
    partition part;
    nn_model m;
    fl_train_cfg tc;
} hand;

static void hand_init(hand *h)
{
    dataset *ds = &h->ds;
    memset(ds, 0, sizeof *ds);
    ds->dtype = DS_F32;
    ds->task = DS_CLASSIFY;
    ds->shape[0] = ds->shape[1] = ds->shape[2] = 1;
    ds->feat = 1;
    ds->y_len = 1;
    ds->n_classes = 2;
    ds->x_scale = 1;
    assert_int_equal(ds_split_alloc(ds, &ds->train, 10, 0), FS_OK);
    memcpy(ds->train.x, HX, sizeof HX);
    memcpy(ds->train.y, HY, sizeof HY);
    make_part(&h->part, HSIZES, 3);
    assert_int_equal(nn_zoo_build(&h->m, "logreg", NULL, 0, ds->shape, 2), FS_OK);
    assert_int_equal(h->m.n_params, 4);
    /* batch 6 >= every client's size: each step is a full-batch gradient step */
    h->tc = (fl_train_cfg){2, 0, 6, {.lr = 0.1}};
}

static void hand_free(hand *h)
{
    part_free(&h->part);
    ds_free(&h->ds);
}

/* Mean loss and gradient of client k at w = (W0, W1, b0, b1), z_c = W_c x + b_c. */
static double ref_loss_grad(int k, const double *w, double *g)
{
    double loss = 0;
    for (int i = 0; i < 4; i++) g[i] = 0;
    const int n = (int)HSIZES[k];
    for (int s = (int)HOFF[k]; s < (int)HOFF[k] + n; s++) {
        const double x = HX[s], z0 = w[0] * x + w[2], z1 = w[1] * x + w[3];
        const double m = fmax(z0, z1), e0 = exp(z0 - m), e1 = exp(z1 - m);
        const double p[2] = {e0 / (e0 + e1), e1 / (e0 + e1)};
        loss -= log(p[HY[s]]);
        for (int c = 0; c < 2; c++) {
            const double dz = p[c] - (HY[s] == c);
            g[c] += dz * x / n;
            g[2 + c] += dz / n;
        }
    }
    return loss / n;
}

/* Two full-batch steps of client k from w into out; with a > 0 each step is followed by
 * Ditto's proximal map towards anchor: v <- (v + a anchor) / (1 + a). */
static void ref_train(int k, const double *w, double lr, double a, const double *anchor,
                      double *out)
{
    double g[4];
    for (int i = 0; i < 4; i++) out[i] = w[i];
    for (int s = 0; s < 2; s++) {
        ref_loss_grad(k, out, g);
        for (int i = 0; i < 4; i++) out[i] -= lr * g[i];
        if (a > 0)
            for (int i = 0; i < 4; i++) out[i] = (out[i] + a * anchor[i]) / (1 + a);
    }
}

static const float W0[4] = {0.3f, -0.2f, 0.1f, -0.1f};

static void assert_close(const float *got, const double *want, int n, const char *what)
{
    for (int i = 0; i < n; i++)
        if (!(fabs((double)got[i] - want[i]) <= TOL))
            fail_msg("%s[%d] = %.9g, want %.9g", what, i, (double)got[i], want[i]);
}

/* One round of algo with clients 0 and 1 of the hand problem into g. */
static void hand_round(hand *h, fed *f, const char *algo, const fl_params *p, float *g)
{
    fed_init(f, algo, p, &h->m, 3, 0, 6);
    memcpy(g, W0, sizeof W0);
    fl_round_ctx ctx = {&h->m, &h->ds, &h->part, g, &h->tc, 3, 1, NULL, NULL, NULL};
    const uint32_t cl[2] = {0, 1};
    fed_round(f, &ctx, 1, g, cl, 2, 1, 2);
}

/* q-FedAvg (Li et al. 2020): w+ = w - sum_k D_k / sum_k h_k, L = 1/lr. */
static void ref_qffl(double q, double *out)
{
    const double lr = 0.1, L = 1 / lr;
    double w[4], wk[4], g[4], D[4] = {0}, H = 0;
    for (int i = 0; i < 4; i++) w[i] = W0[i];
    for (int k = 0; k < 2; k++) {
        const double F = ref_loss_grad(k, w, g);
        ref_train(k, w, lr, 0, NULL, wk);
        double dw[4], n2 = 0;
        for (int i = 0; i < 4; i++) dw[i] = L * (w[i] - wk[i]), n2 += dw[i] * dw[i];
        for (int i = 0; i < 4; i++) D[i] += pow(F, q) * dw[i];
        H += (q > 0 ? q * pow(F, q - 1) * n2 : 0) + L * pow(F, q);
    }
    for (int i = 0; i < 4; i++) out[i] = w[i] - D[i] / H;
}

static void test_hand_qffl(void **st)
{
    (void)st;
    hand h;
    hand_init(&h);
    const double qs[2] = {2, 0};
    double want[4], avg[4], wk[4], w[4];
    for (int i = 0; i < 4; i++) w[i] = W0[i], avg[i] = 0;
    for (int k = 0; k < 2; k++) { /* q = 0: the uniform mean of the client models */
        ref_train(k, w, 0.1, 0, NULL, wk);
        for (int i = 0; i < 4; i++) avg[i] += wk[i] / 2;
    }
    for (int t = 0; t < 2; t++) {
        fl_params p = fl_params_default();
        p.q = qs[t];
        fed f;
        float g[4];
        hand_round(&h, &f, "qffl", &p, g);
        ref_qffl(qs[t], want);
        assert_close(g, want, 4, qs[t] > 0 ? "q-FFL q=2" : "q-FFL q=0");
        if (qs[t] == 0) assert_close(g, avg, 4, "q-FFL q=0 vs the uniform mean");
        double d = 0; /* the rule matters: q = 2 is far from the uniform mean */
        for (int i = 0; i < 4; i++) d = fmax(d, fabs(want[i] - avg[i]));
        assert_true(qs[t] == 0 || d > 1e-2);
        fed_free(&f);
    }
    hand_free(&h);
}

static void test_hand_ditto(void **st)
{
    (void)st;
    hand h;
    hand_init(&h);
    fl_params p = fl_params_default();
    p.lambda = 0.5;
    fed f, fa;
    float g[4], ga[4], v[4];
    hand_round(&h, &f, "ditto", &p, g);
    hand_round(&h, &fa, "fedavg", &p, ga);
    assert_same_bits(g, ga, 4); /* the global model is FedAvg's */
    double w[4], want[4];
    for (int i = 0; i < 4; i++) w[i] = W0[i];
    for (uint32_t k = 0; k < 2; k++) {
        int existed;
        assert_int_equal(fl_cstate_get(f.cs, k, v, &existed), FS_OK);
        assert_int_equal(existed, 1);
        ref_train((int)k, w, 0.1, 0.1 * 0.5, w, want);
        assert_close(v, want, 4, k ? "Ditto v_1" : "Ditto v_0");
        double plain[4], d = 0; /* lambda matters */
        ref_train((int)k, w, 0.1, 0, NULL, plain);
        for (int i = 0; i < 4; i++) d = fmax(d, fabs(want[i] - plain[i]));
        assert_true(d > 1e-3);
    }
    fed_free(&f);
    fed_free(&fa);
    p.lambda = 1e30; /* lambda -> infinity: v_k is the w^t it received */
    hand_round(&h, &f, "ditto", &p, g);
    for (uint32_t k = 0; k < 2; k++) {
        assert_int_equal(fl_cstate_get(f.cs, k, v, NULL), FS_OK);
        assert_same_bits(v, W0, 4);
    }
    float out[4];
    f.a->personal_model(&p, 4, g, v, 1, out); /* a client never selected: the global model */
    assert_same_bits(out, g, 4);
    fed_free(&f);
    hand_free(&h);
}

/* APFL (Deng et al. 2020, fixed alpha): on each full batch both steps at the models before it:
 * w <- w - lr grad f(w), v <- v - lr alpha grad f(alpha v + (1 - alpha) w). */
/* fl_local_batch (APFL's and Per-FedAvg's hooks): the minibatch sizes fl_local_train_post
 * takes, full batches then the epoch's remainder, or min(n, batch) with train.steps. */
static void test_local_batch(void **st)
{
    (void)st;
    const fl_train_cfg ep = {2, 0, 4, {.lr = 0.1}}, sp = {0, 3, 4, {.lr = 0.1}};
    const uint32_t want[] = {4, 4, 2, 4, 4, 2};
    for (long s = 0; s < 6; s++) assert_int_equal(fl_local_batch(&ep, 10, s), want[s]);
    for (long s = 0; s < 3; s++) assert_int_equal(fl_local_batch(&ep, 8, s), 4);
    assert_int_equal(fl_local_batch(&ep, 3, 0), 3);
    assert_int_equal(fl_local_batch(&ep, 3, 1), 3);
    assert_int_equal(fl_local_batch(&sp, 10, 2), 4);
    assert_int_equal(fl_local_batch(&sp, 3, 5), 3);
}

static void test_hand_apfl(void **st)
{
    (void)st;
    hand h;
    hand_init(&h);
    fl_params p = fl_params_default();
    p.apfl_alpha = 0.4;
    fed f, fa;
    float g[4], ga[4], v[4];
    hand_round(&h, &f, "apfl", &p, g);
    hand_round(&h, &fa, "fedavg", &p, ga);
    assert_same_bits(g, ga, 4); /* the global model is FedAvg's */
    for (uint32_t k = 0; k < 2; k++) {
        double w[4], vv[4], vb[4], gw[4], gv[4];
        for (int i = 0; i < 4; i++) w[i] = vv[i] = W0[i];
        for (int s = 0; s < 2; s++) {
            for (int i = 0; i < 4; i++) vb[i] = 0.4 * vv[i] + 0.6 * w[i];
            ref_loss_grad((int)k, w, gw);
            ref_loss_grad((int)k, vb, gv);
            for (int i = 0; i < 4; i++) w[i] -= 0.1 * gw[i], vv[i] -= 0.1 * 0.4 * gv[i];
        }
        int existed;
        assert_int_equal(fl_cstate_get(f.cs, k, v, &existed), FS_OK);
        assert_int_equal(existed, 1);
        assert_close(v, vv, 4, k ? "APFL v_1" : "APFL v_0");
        double d = 0; /* the local model moved */
        for (int i = 0; i < 4; i++) d = fmax(d, fabs(vv[i] - W0[i]));
        assert_true(d > 1e-3);
        float out[4]; /* the personalized model: alpha v + (1 - alpha) w */
        f.a->personal_model(&p, 4, g, v, 0, out);
        for (int i = 0; i < 4; i++) vb[i] = 0.4 * vv[i] + 0.6 * (double)g[i];
        assert_close(out, vb, 4, "APFL vbar");
    }
    p.apfl_alpha = 0; /* alpha = 0: the personalized model is the global one */
    float out[4];
    f.a->personal_model(&p, 4, g, v, 0, out);
    assert_same_bits(out, g, 4);
    fed_free(&f);
    fed_free(&fa);
    hand_free(&h);
}

/* Per-FedAvg (FO): each full-batch step w <- w - beta grad f(w - alpha grad f(w)); the server
 * averages by n_k. */
static void test_hand_perfedavg(void **st)
{
    (void)st;
    hand h;
    hand_init(&h);
    fl_params p = fl_params_default();
    p.perfedavg_alpha = 0.3;
    fed f;
    float g[4];
    hand_round(&h, &f, "perfedavg", &p, g);
    double want[4] = {0}, plain[4] = {0};
    for (int k = 0; k < 2; k++) {
        double w[4], t[4], gr[4], wk[4];
        for (int i = 0; i < 4; i++) w[i] = W0[i];
        for (int s = 0; s < 2; s++) {
            ref_loss_grad(k, w, gr);
            for (int i = 0; i < 4; i++) t[i] = w[i] - 0.3 * gr[i];
            ref_loss_grad(k, t, gr);
            for (int i = 0; i < 4; i++) w[i] -= 0.1 * gr[i];
        }
        ref_train(k, (const double[]){W0[0], W0[1], W0[2], W0[3]}, 0.1, 0, NULL, wk);
        for (int i = 0; i < 4; i++) {
            want[i] += w[i] * HSIZES[k] / 9.0;
            plain[i] += wk[i] * HSIZES[k] / 9.0;
        }
    }
    assert_close(g, want, 4, "Per-FedAvg");
    double d = 0; /* the meta step matters */
    for (int i = 0; i < 4; i++) d = fmax(d, fabs(want[i] - plain[i]));
    assert_true(d > 1e-3);
    fed_free(&f);
    hand_free(&h);
}

/* ---- FedPer and FedRep on a small MLP ---------------------------------------------------------
 */

typedef struct small {
    dataset ds;
    partition part;
    nn_model m;
    float *g0;
} small;

static void small_init(small *e, const uint32_t *sizes, uint32_t n)
{
    size_t tot = 0;
    for (uint32_t c = 0; c < n; c++) tot += sizes[c];
    make_data_n(&e->ds, tot);
    make_part(&e->part, sizes, n);
    int hidden[1] = {6};
    assert_int_equal(nn_zoo_build(&e->m, "mlp", hidden, 1, e->ds.shape, 3), FS_OK);
    e->g0 = malloc(e->m.n_params * sizeof(float));
    rng_t r;
    rng_init(&r, 1, RNG_INIT, 0, 0);
    nn_model_init_params(&e->m, e->g0, &r);
}

static void small_free(small *e)
{
    free(e->g0);
    part_free(&e->part);
    ds_free(&e->ds);
}

/* Rounds of algo on all clients into out; the client states into states (N, np) if not NULL. */
static void run_small(small *e, const char *algo, const fl_params *p, const fl_train_cfg *tc,
                      int rounds, float *out, float *states, int threads, size_t mem_cap)
{
    fed f;
    fed_init(&f, algo, p, &e->m, e->part.n_clients, mem_cap, tc->batch);
    memcpy(out, e->g0, e->m.n_params * sizeof(float));
    fl_round_ctx ctx = {&e->m, &e->ds, &e->part, out, tc, 11, 1, NULL, NULL, NULL};
    uint32_t cl[MAXC];
    const uint32_t N = e->part.n_clients;
    for (int r = 1; r <= rounds; r++) { /* a different half of the clients each round */
        int n = 0;
        for (uint32_t c = 0; c < N; c++)
            if ((c + (uint32_t)r) % 2) cl[n++] = c;
        fed_round(&f, &ctx, (uint32_t)r, out, cl, n, threads, 2);
    }
    for (uint32_t c = 0; states && c < N; c++)
        assert_int_equal(fl_cstate_get(f.cs, c, states + (size_t)c * e->m.n_params, NULL), FS_OK);
    fed_free(&f);
}

static void test_no_personal_layers_is_fedavg(void **st)
{
    (void)st;
    const uint32_t sizes[4] = {9, 14, 20, 11};
    small e;
    small_init(&e, sizes, 4);
    const size_t np = e.m.n_params;
    float *a = malloc(np * sizeof(float)), *b = malloc(np * sizeof(float));
    fl_train_cfg tc = {2, 0, 4, {.lr = 0.05, .momentum = 0.5, .weight_decay = 1e-3}};
    fl_params p = fl_params_default();
    run_small(&e, "fedavg", &p, &tc, 3, a, NULL, 1, 0);
    run_small(&e, "fedper", &p, &tc, 3, b, NULL, 1, 0);
    assert_same_bits(a, b, np);
    p.head_epochs = 3;
    run_small(&e, "fedrep", &p, &tc, 3, b, NULL, 1, 0);
    assert_same_bits(a, b, np);
    run_small(&e, "ditto", &p, &tc, 3, b, NULL, 2, 0); /* Ditto's global model, too */
    assert_same_bits(a, b, np);
    p.apfl_alpha = 0.5;
    run_small(&e, "apfl", &p, &tc, 3, b, NULL, 2, 0); /* and APFL's (no dropout) */
    assert_same_bits(a, b, np);
    free(a);
    free(b);
    small_free(&e);
}

/* One client's FedPer / FedRep step built from fl_local_train and frozen layers. */
static void test_fedrep_fedper_steps(void **st)
{
    (void)st;
    const uint32_t sizes[2] = {13, 10};
    small e;
    small_init(&e, sizes, 2);
    const size_t np = e.m.n_params;
    cfg c;
    cfg_defaults(&c);
    snprintf(c.algorithm.personal_layers, sizeof c.algorithm.personal_layers, "dense2");
    fl_params p = fl_params_default();
    p.head_epochs = 2;
    assert_int_equal(pers_layers(&c, &e.m, &p), FS_OK);
    assert_int_equal(p.n_personal, 1);
    const size_t lo = p.personal[0], hi = p.personal[1];
    assert_int_equal(hi, np); /* the output layer is last in the buffer */
    fl_train_cfg tc = {1, 0, 4, {.lr = 0.1}};
    nn_worker w;
    assert_int_equal(nn_worker_init(&w, &e.m, 4), FS_OK);
    float *head = malloc(np * sizeof(float)), *want = malloc(np * sizeof(float));
    float *upd = malloc(np * sizeof(float)), *state = malloc(np * sizeof(float));
    for (int rep = 0; rep < 2; rep++) {
        /* the client's personal head from an earlier round: the global one, moved */
        float *mine = malloc(np * sizeof(float));
        memcpy(mine, e.g0, np * sizeof(float));
        for (size_t i = lo; i < hi; i++) mine[i] += 0.01f * (float)(i - lo);
        fl_round_ctx ctx = {&e.m, &e.ds, &e.part, mine, &tc, 11, 4, &p, NULL, NULL};
        nn_model frozen = e.m;
        long steps;
        if (rep) { /* FedRep: head epochs with dense1 frozen, then the body with dense2 frozen */
            const char *body[1] = {"dense1"}, *hd[1] = {"dense2"};
            fl_train_cfg th = tc;
            th.epochs = p.head_epochs;
            fl_round_ctx hc = ctx;
            hc.m = &frozen;
            hc.tc = &th;
            hc.seed = fl_personal_seed(11, 2);
            assert_int_equal(nn_model_freeze(&frozen, body, 1), FS_OK);
            fl_local_train(&hc, 1, &w, head, NULL, NULL, &steps);
            assert_int_equal(nn_model_freeze(&frozen, hd, 1), FS_OK);
            hc = ctx;
            hc.m = &frozen;
            hc.global = head;
            fl_local_train(&hc, 1, &w, want, NULL, NULL, &steps);
        } else {
            fl_local_train(&ctx, 1, &w, want, NULL, NULL, &steps);
        }
        fl_client_result res = {.update = upd, .state = state, .state_new = 0};
        memcpy(state, mine, np * sizeof(float));
        fl_round_ctx real = ctx;
        real.global = e.g0;
        fl_find(rep ? "fedrep" : "fedper")->client_update(&real, 1, &w, &res);
        for (size_t i = lo; i < hi; i++) assert_true(upd[i] == 0.0f); /* the head stays */
        for (size_t i = 0; i < lo; i++) assert_true(upd[i] == want[i] - e.g0[i]);
        assert_same_bits(state + lo, want + lo, hi - lo);
        free(mine);
    }
    free(head);
    free(want);
    free(upd);
    free(state);
    nn_worker_free(&w);
    small_free(&e);
}

static void test_threads_and_cap(void **st)
{
    (void)st;
    const uint32_t sizes[6] = {9, 14, 20, 11, 16, 7};
    small e;
    small_init(&e, sizes, 6);
    const size_t np = e.m.n_params;
    float *a = malloc(np * sizeof(float)), *b = malloc(np * sizeof(float));
    float *sa = malloc(6 * np * sizeof(float)), *sb = malloc(6 * np * sizeof(float));
    fl_train_cfg tc = {2, 0, 4, {.lr = 0.05, .momentum = 0.5}};
    fl_params p = fl_params_default();
    p.lambda = 0.3;
    p.head_epochs = 1;
    p.n_personal = 1;
    p.personal[0] = np - 3 * 6 - 3;
    p.personal[1] = np;
    p.apfl_alpha = 0.5;
    p.perfedavg_alpha = 0.02;
    const char *algos[6] = {"ditto", "fedrep", "fedper", "qffl", "apfl", "perfedavg"};
    for (int i = 0; i < 6; i++) {
        const int st_ = fl_find(algos[i])->state_vecs;
        run_small(&e, algos[i], &p, &tc, 4, a, st_ ? sa : NULL, 1, 0);
        run_small(&e, algos[i], &p, &tc, 4, b, st_ ? sb : NULL, 2, 0);
        assert_same_bits(a, b, np);
        if (st_) assert_same_bits(sa, sb, 6 * np);
        run_small(&e, algos[i], &p, &tc, 4, b, st_ ? sb : NULL, 2, 1); /* one vector in memory */
        assert_same_bits(a, b, np);
        if (st_) assert_same_bits(sa, sb, 6 * np);
    }
    free(a);
    free(b);
    free(sa);
    free(sb);
    small_free(&e);
}

/* The pack helpers and fl_state_dim on two personal ranges of the small MLP. */
static void test_state_pack(void **st)
{
    (void)st;
    const uint32_t sizes[2] = {5, 5};
    small e;
    small_init(&e, sizes, 2);
    const size_t np = e.m.n_params;
    fl_params p = fl_params_default();
    p.n_personal = 2;
    p.personal[0] = 3, p.personal[1] = 10, p.personal[2] = np - 21, p.personal[3] = np;
    const size_t sd = 7 + 21;
    assert_int_equal(fl_ranges_len(p.personal, p.n_personal), sd);
    assert_int_equal(fl_state_dim(fl_find("fedrep"), &p, np), sd);
    assert_int_equal(fl_state_dim(fl_find("fedper"), &p, np), sd);
    assert_int_equal(fl_state_dim(fl_find("ditto"), &p, np), np);
    assert_int_equal(fl_state_dim(fl_find("scaffold"), &p, np), np);
    assert_int_equal(fl_state_dim(fl_find("fedavg"), &p, np), 0);
    assert_int_equal(fl_state_dim(fl_find("fedrep"), NULL, np), 1); /* no layers: one float */
    float *x = malloc(np * sizeof(float)), *full = malloc(np * sizeof(float));
    float *pk = malloc(sd * sizeof(float)), *pk2 = malloc(sd * sizeof(float));
    for (size_t i = 0; i < np; i++) x[i] = 0.5f + (float)i;
    fl_state_pack(fl_find("fedrep"), &p, np, x, pk);
    assert_same_bits(pk, x + 3, 7); /* the ranges in order, concatenated */
    assert_same_bits(pk + 7, x + np - 21, 21);
    for (size_t i = 0; i < np; i++) full[i] = -1.0f;
    fl_state_unpack(fl_find("fedrep"), &p, np, pk, full);
    for (size_t i = 0; i < np; i++) {
        const int in = (i >= 3 && i < 10) || i >= np - 21;
        assert_true(full[i] == (in ? x[i] : 0.0f)); /* zeros between the ranges */
    }
    fl_state_pack(fl_find("fedper"), &p, np, full, pk2);
    assert_same_bits(pk, pk2, sd);
    fl_state_pack(fl_find("ditto"), &p, np, x, full); /* unpacked algorithms: copies */
    assert_same_bits(full, x, np);
    free(x);
    free(full);
    free(pk);
    free(pk2);
    small_free(&e);
}

/* FedPer and FedRep over a store of packed vectors (slots of exactly fl_state_dim floats, as
 * setup.c allocates them; one vector in memory, the rest through the spill file) against the
 * full-layout store of run_small: the same global model and, packed, the same client states. */
static void test_packed_store(void **st)
{
    (void)st;
    const uint32_t sizes[6] = {9, 14, 20, 11, 16, 7};
    small e;
    small_init(&e, sizes, 6);
    const size_t np = e.m.n_params;
    fl_train_cfg tc = {1, 0, 4, {.lr = 0.05, .momentum = 0.5, .weight_decay = 1e-3}};
    fl_params p = fl_params_default();
    p.head_epochs = 2;
    p.n_personal = 2; /* part of the first layer's weights and the whole output layer */
    p.personal[0] = 5, p.personal[1] = 40, p.personal[2] = np - 3 * 6 - 3, p.personal[3] = np;
    const size_t sd = 35 + 21;
    float *want = malloc(np * sizeof(float)), *got = malloc(np * sizeof(float));
    float *sw = malloc(6 * np * sizeof(float)), *pk = malloc(sd * sizeof(float));
    float *sp = malloc(6 * sd * sizeof(float));
    for (int rep = 0; rep < 2; rep++) {
        const char *algo = rep ? "fedrep" : "fedper";
        run_small(&e, algo, &p, &tc, 4, want, sw, 2, 0);
        fed f;
        fed_init(&f, algo, &p, &e.m, 6, 0, tc.batch);
        assert_int_equal(fl_state_dim(f.a, &f.srv.p, np), sd);
        fl_cstate_free(f.cs); /* the engine's store: packed vectors, one kept in memory */
        assert_int_equal(fl_cstate_new(&f.cs, sd, sd * sizeof(float), NULL), FS_OK);
        float *slot[2];
        for (int k = 0; k < 2; k++) /* exact sizes: an overrun shows under ASan */
            f.res[k].state = slot[k] = malloc(sd * sizeof(float));
        memcpy(got, e.g0, np * sizeof(float));
        fl_round_ctx ctx = {&e.m, &e.ds, &e.part, got, &tc, 11, 1, NULL, NULL, NULL};
        uint32_t cl[MAXC];
        for (int r = 1; r <= 4; r++) { /* run_small's rounds */
            int n = 0;
            for (uint32_t c = 0; c < 6; c++)
                if ((c + (uint32_t)r) % 2) cl[n++] = c;
            fed_round(&f, &ctx, (uint32_t)r, got, cl, n, 2, 2);
        }
        assert_same_bits(want, got, np);
        for (uint32_t c = 0; c < 6; c++) {
            /* run_small's store of n_params floats holds the packed vector at its front */
            assert_int_equal(fl_cstate_get(f.cs, c, sp + c * sd, NULL), FS_OK);
            assert_same_bits(sp + c * sd, sw + (size_t)c * np, sd);
            for (size_t i = sd; i < np; i++) assert_true(sw[(size_t)c * np + i] == 0.0f);
            /* the personal model: the global body, the client's own trained ranges */
            float *b = malloc(np * sizeof(float)), *a = malloc(np * sizeof(float));
            fl_state_unpack(f.a, &f.srv.p, np, sp + c * sd, b);
            f.a->personal_model(&f.srv.p, np, got, b, 0, a);
            fl_state_pack(f.a, &f.srv.p, np, a, pk);
            assert_same_bits(pk, sp + c * sd, sd);
            assert_same_bits(a + 40, got + 40, np - 21 - 40);
            assert_true(a[5] != got[5] && a[np - 1] != got[np - 1]); /* trained, not global */
            free(a);
            free(b);
        }
        fl_cstate_stats cs;
        fl_cstate_stats_get(f.cs, &cs);
        assert_int_equal(cs.clients, 6);
        assert_int_equal(cs.in_memory, 1);
        assert_true(cs.spills > 0 && cs.loads > 0);
        assert_true(cs.disk_bytes > 0 && cs.disk_bytes % (sd * sizeof(float)) == 0);
        assert_true(cs.disk_bytes <= 64 * sd * sizeof(float)); /* the file's first rows */
        for (int k = 0; k < 2; k++) {
            free(slot[k]);
            f.res[k].state = NULL;
        }
        fed_free(&f);
    }
    free(want);
    free(got);
    free(sw);
    free(pk);
    free(sp);
    small_free(&e);
}

static void test_personal_layers(void **st)
{
    (void)st;
    const uint32_t sizes[2] = {5, 5};
    small e;
    small_init(&e, sizes, 2);
    cfg c;
    cfg_defaults(&c);
    fl_params p;
    snprintf(c.algorithm.personal_layers, sizeof c.algorithm.personal_layers, "dense1, dense2");
    assert_int_equal(pers_layers(&c, &e.m, &p), FS_OK);
    assert_int_equal(p.n_personal, 1); /* adjacent layers merge */
    assert_int_equal(p.personal[0], 0);
    assert_int_equal(p.personal[1], e.m.n_params);
    snprintf(c.algorithm.personal_layers, sizeof c.algorithm.personal_layers, "dense3");
    assert_int_equal(pers_layers(&c, &e.m, &p), FS_EINPUT);
    assert_non_null(strstr(fs_errmsg(), "dense3"));
    snprintf(c.algorithm.personal_layers, sizeof c.algorithm.personal_layers, "relu1");
    assert_int_equal(pers_layers(&c, &e.m, &p), FS_EINPUT); /* no parameters */
    c.algorithm.personal_layers[0] = '\0';
    assert_int_equal(pers_layers(&c, &e.m, &p), FS_OK);
    assert_int_equal(p.n_personal, 0);
    small_free(&e);
}

static void test_fairness(void **st)
{
    (void)st;
    double a[25];
    met_fairness f;
    for (int i = 0; i < 10; i++) a[i] = 0.1 * (10 - i); /* 1.0 .. 0.1 */
    pers_fairness(a, 10, &f);
    assert_true(fabs(f.mean - 0.55) < 1e-12);
    assert_true(fabs(f.worst10 - 0.1) < 1e-12);
    assert_true(fabs(f.best10 - 1.0) < 1e-12);
    assert_true(fabs(f.std - sqrt(0.0825)) < 1e-12);
    assert_true(fabs(f.jain - 30.25 / 38.5) < 1e-12);
    for (int i = 0; i < 25; i++) a[i] = i; /* ceil(25 / 10) = 3 at each end */
    pers_fairness(a, 25, &f);
    assert_true(fabs(f.worst10 - 1.0) < 1e-12);
    assert_true(fabs(f.best10 - 23.0) < 1e-12);
    for (int i = 0; i < 4; i++) a[i] = 0.5;
    pers_fairness(a, 4, &f);
    assert_true(f.std == 0 && fabs(f.jain - 1) < 1e-12);
    a[0] = a[1] = 0;
    pers_fairness(a, 2, &f);
    assert_true(f.jain == 1);
    pers_fairness(a, 0, &f);
    assert_true(isnan(f.mean) && isnan(f.jain));
}

static void test_eval_sample(void **st)
{
    (void)st;
    uint32_t *a, *b, n;
    assert_int_equal(pers_eval_sample(9, 100, 10, &a, &n), FS_OK);
    assert_int_equal(n, 10);
    assert_int_equal(pers_eval_sample(9, 100, 500, &b, &n), FS_OK);
    assert_int_equal(n, 100);
    int seen[100] = {0};
    for (uint32_t i = 0; i < 100; i++) seen[b[i]]++;
    for (int i = 0; i < 100; i++) assert_int_equal(seen[i], 1);
    free(a);
    free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hand_qffl),
        cmocka_unit_test(test_hand_ditto),
        cmocka_unit_test(test_local_batch),
        cmocka_unit_test(test_hand_apfl),
        cmocka_unit_test(test_hand_perfedavg),
        cmocka_unit_test(test_no_personal_layers_is_fedavg),
        cmocka_unit_test(test_fedrep_fedper_steps),
        cmocka_unit_test(test_threads_and_cap),
        cmocka_unit_test(test_state_pack),
        cmocka_unit_test(test_packed_store),
        cmocka_unit_test(test_personal_layers),
        cmocka_unit_test(test_fairness),
        cmocka_unit_test(test_eval_sample),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
