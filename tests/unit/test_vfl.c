/* Vertical learning (sim/vfl): the virtual clock against hand-computed times; AUC against
 * scikit-learn; hetero LR in the clear equal to centralised Taylor-loss logistic regression on
 * the joined features (1e-6) and encrypted within the fixed-point bound of the plain run, with
 * the ciphertext bytes on the wire; SplitNN gradient-checked end to end and its encrypted
 * interactive layer equal to the plain one; the parties' feature groups and the alignment
 * against a small in-memory dataset, with every data error at its file:line:col. Paillier keys
 * are the tests-only 512-bit ones (he_keygen_insecure_test). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "crypto/paillier.h"
#include "crypto/psi.h"
#include "data/dataset.h"
#include "nn_testutil.h"
#include "util/rng.h"
#include "vfl/auc.h"
#include "vfl/clock.h"
#include "vfl/hetero_lr.h"
#include "vfl/party.h"
#include "vfl/splitnn.h"

#define SEED 11

/* ---- the clock ---------------------------------------------------------------------------- */

static void test_clock(void **state)
{
    (void)state;
    vclk_party P[3] = {
        {.flops = 1e9, .up_bps = 8e6, .down_bps = 16e6, .latency_s = 0.1, .straggler_factor = 1},
        {.flops = 2e9, .up_bps = 8e6, .down_bps = 4e6, .latency_s = 0.2, .straggler_factor = 1},
        {.flops = 4e9, .up_bps = 8e6, .down_bps = 8e6, .latency_s = 0.0, .straggler_factor = 1},
    };
    vclk k;
    vclk_init(&k, 3, P, 2e9, SEED);
    /* 0 computes 1e9 FLOPs (1 s), sends 1e6 bytes to 1: 8e6 bits at min(8e6, 4e6) = 2 s on
     * the wire, + 0.1 + 0.2 latency: arrives at 3.3; 1 then does 1 reference second of crypto
     * at 2e9/2e9 = 1 s: 4.3. Meanwhile 0 sends 1e6 bytes to 2: its uplink is busy until 3 s,
     * then 1 s (8e6 / 8e6): arrives at 4.0. The step ends at 4.3. */
    vclk_compute(&k, 0, 1e9);
    vclk_send(&k, 0, 1, 1e6);
    vclk_crypto(&k, 1, 1.0);
    vclk_send(&k, 0, 2, 1e6);
    vclk_compute(&k, 2, 0); /* nothing recorded */
    double d;
    assert_int_equal(vclk_step(&k, 1, 1, &d), FS_OK);
    assert_true(fabs(d - 4.3) < 1e-12 && fabs(k.now - 4.3) < 1e-12);
    assert_true(k.tally[0].bytes_sent == 2e6 && k.tally[1].bytes_recv == 1e6);
    assert_true(k.tally[0].compute_s == 1.0 && k.tally[1].crypto_s == 1.0);
    assert_true(k.tally[0].flops == 1e9 && k.crypto_ref_s == 1.0);
    /* a straggler: party 1 at factor 3 on every step: its crypto takes 3 s */
    vclk_tally_reset(&k);
    k.party[1].straggler_p = 1;
    k.party[1].straggler_factor = 3;
    vclk_compute(&k, 0, 1e9);
    vclk_send(&k, 0, 1, 1e6);
    vclk_crypto(&k, 1, 1.0);
    assert_int_equal(vclk_step(&k, 2, 1, &d), FS_OK);
    assert_true(fabs(d - 6.3) < 1e-12);
    assert_int_equal(k.tally[1].straggles, 1);
    /* faults = 0 (set-up): no straggling */
    vclk_crypto(&k, 1, 1.0);
    assert_int_equal(vclk_step(&k, 3, 0, &d), FS_OK);
    assert_true(fabs(d - 1.0) < 1e-12);
    /* dropouts stall: time = the completed attempt + sum over abandoned attempts of (the point
     * of the drop + rejoin); work of abandoned attempts counted pro rata as wasted */
    k.party[1].straggler_p = 0;
    k.party[2].dropout = 0.5;
    k.party[2].rejoin_s = 10;
    vclk_tally_reset(&k);
    long drops = 0;
    double total = 0;
    for (uint64_t s = 10; s < 60; s++) {
        vclk_compute(&k, 2, 4e9); /* 1 s */
        assert_int_equal(vclk_step(&k, s, 1, &d), FS_OK);
        total += d;
    }
    drops = k.tally[2].dropouts;
    assert_true(drops > 10 && drops < 100); /* 50 steps at p = 0.5: about 50 */
    assert_true(fabs(total - (50 * 1.0 + k.stall_s)) < 1e-9);
    assert_true(k.stall_s >= 10.0 * drops && k.stall_s <= 11.0 * drops);
    assert_true(fabs(k.wasted_flops - (k.stall_s - 10.0 * drops) * 4e9) < 1e-3);
    assert_true(fabs(k.tally[2].flops - 50 * 4e9 - k.wasted_flops) < 1e-3);
    /* the same keys give the same draws */
    vclk k2;
    vclk_init(&k2, 3, k.party, 2e9, SEED);
    double t2 = 0;
    for (uint64_t s = 10; s < 60; s++) {
        vclk_compute(&k2, 2, 4e9);
        assert_int_equal(vclk_step(&k2, s, 1, &d), FS_OK);
        t2 += d;
    }
    assert_true(fabs(t2 - total) < 1e-9 && k2.stall_s == k.stall_s);
    assert_int_equal(k2.tally[2].dropouts, drops);
    vclk_free(&k);
    vclk_free(&k2);
    /* unit costs scale with the key size */
    assert_true(fabs(vfl_he_cost(VFL_HE_DEC, 2048, 10) - 10 * 2323.8e-6) < 1e-12);
    assert_true(fabs(vfl_he_cost(VFL_HE_DEC, 4096, 1) / vfl_he_cost(VFL_HE_DEC, 2048, 1) - 8) <
                1e-9);
}

/* ---- AUC ---------------------------------------------------------------------------------- */

static void test_auc(void **state)
{
    (void)state;
    /* sklearn.metrics.roc_auc_score on the same values (ties at 0.4) */
    const double s[10] = {0.1, 0.4, 0.35, 0.8, 0.4, 0.9, 0.2, 0.4, 0.65, 0.05};
    const uint8_t y[10] = {0, 0, 1, 1, 1, 1, 0, 0, 1, 0};
    assert_true(fabs(vfl_auc(s, y, 10, NULL) - 0.88) < 1e-12);
    const uint8_t one[3] = {1, 1, 1};
    assert_true(isnan(vfl_auc(s, one, 3, NULL)));
    /* roc_auc_score(y, p, multi_class="ovr", average="macro") */
    const float p[21] = {0.2f, 0.5f, 0.3f, 0.6f, 0.3f, 0.1f, 0.1f, 0.1f, 0.8f, 0.3f, 0.3f,
                         0.4f, 0.5f, 0.4f, 0.1f, 0.2f, 0.2f, 0.6f, 0.1f, 0.7f, 0.2f};
    const int32_t yy[7] = {1, 0, 2, 2, 0, 1, 1};
    assert_true(fabs(vfl_auc_ovr(p, yy, 7, 3) - 0.8833333333333333) < 1e-12);
}

/* ---- hetero LR ------------------------------------------------------------------------------ */

/* n_data parties with feats[i] features each (party 0 active) and, with coord, a coordinator
 * last; labels from a fixed linear model of all features plus noise. */
static void make_data(vfl_data *v, int n_data, const int *feats, int coord, size_t ntr)
{
    memset(v, 0, sizeof *v);
    v->n = n_data + coord;
    v->active = 0;
    v->coord = coord ? n_data : -1;
    v->n_classes = 2;
    v->n_train = ntr;
    v->n_test = 0;
    v->n_common = ntr;
    v->ytr = calloc(ntr, sizeof *v->ytr);
    v->yte = calloc(1, sizeof *v->yte);
    double *score = calloc(ntr, sizeof *score);
    assert_non_null(v->ytr);
    assert_non_null(score);
    rng_t r;
    rng_init(&r, SEED, RNG_TEST, 1, 0);
    for (int p = 0; p < v->n; p++) {
        vfl_party *q = &v->p[p];
        snprintf(q->name, sizeof q->name, "p%d", p);
        q->role = p == 0 ? VFL_ACTIVE : p < n_data ? VFL_PASSIVE : VFL_COORD;
        q->cfg_index = p;
        if (q->role == VFL_COORD) continue;
        q->n_feat = feats[p];
        q->in[0] = q->in[1] = 1;
        q->in[2] = feats[p];
        q->xtr = calloc(ntr * (size_t)feats[p], sizeof *q->xtr);
        q->xte = calloc(1, sizeof *q->xte);
        assert_non_null(q->xtr);
        for (size_t i = 0; i < ntr * (size_t)feats[p]; i++) {
            q->xtr[i] = (float)rng_normal(&r);
            score[i / (size_t)feats[p]] +=
                (((i % (size_t)feats[p]) + (size_t)p) % 3 - 1.0) * q->xtr[i];
        }
    }
    for (size_t i = 0; i < ntr; i++) v->ytr[i] = score[i] + 0.5 * rng_normal(&r) > 0;
    free(score);
}

/* n_steps minibatches of B rows: epochs of a keyed permutation. */
static uint32_t *batches(size_t ntr, int B, long n_steps)
{
    uint32_t *rows = malloc((size_t)n_steps * (size_t)B * sizeof *rows);
    uint32_t *perm = malloc(ntr * sizeof *perm);
    assert_non_null(rows);
    const long per = (long)(ntr / (size_t)B);
    for (long s = 0; s < n_steps; s++) {
        if (s % per == 0) {
            for (size_t i = 0; i < ntr; i++) perm[i] = (uint32_t)i;
            rng_t g;
            rng_init(&g, SEED, RNG_TEST, 2, (uint64_t)(s / per));
            rng_shuffle_u32(&g, perm, ntr);
        }
        memcpy(rows + (size_t)s * B, perm + (size_t)(s % per) * B, (size_t)B * sizeof *rows);
    }
    free(perm);
    return rows;
}

static he_key *test_key(uint64_t entity)
{
    cr_src r;
    he_key *k = NULL;
    assert_int_equal(cr_init_keyed(&r, SEED, entity, 0), FS_OK);
    assert_int_equal(he_keygen_insecure_test(512, &r, &k), FS_OK);
    return k;
}

static const vfl_lr_opts lr_opts = {
    .lr = 0.2, .l2 = 0.01, .intercept = 1, .frac_bits = 24, .seed = SEED, .keyed = 1};

static void test_lr_plain_equals_central(void **state)
{
    (void)state;
    const int feats[3] = {3, 4, 2};
    vfl_data v;
    make_data(&v, 3, feats, 1, 96);
    const int B = 16;
    const long steps = 6 * 6; /* 6 epochs */
    uint32_t *rows = batches(v.n_train, B, steps);
    vfl_lr m;
    assert_int_equal(vfl_lr_init(&m, &v, &lr_opts, NULL, NULL), FS_OK);
    for (long s = 0; s < steps; s++)
        assert_int_equal(vfl_lr_step(&m, rows + (size_t)s * B, B, NULL), FS_OK);
    const size_t n = vfl_lr_theta(&m, NULL);
    assert_int_equal(n, 3 + 1 + 4 + 2);
    double fed[16], cen[16];
    vfl_lr_theta(&m, fed);
    assert_int_equal(vfl_lr_central(&v, &lr_opts, rows, B, steps, cen), FS_OK);
    double diff = 0, norm = 0;
    for (size_t i = 0; i < n; i++) {
        diff = fmax(diff, fabs(fed[i] - cen[i]));
        norm = fmax(norm, fabs(cen[i]));
    }
    assert_true(norm > 0.1); /* it learned something */
    assert_true(diff < 1e-6);
    /* the Taylor loss went down: first epoch against the last */
    vfl_lr m2;
    assert_int_equal(vfl_lr_init(&m2, &v, &lr_opts, NULL, NULL), FS_OK);
    for (long s = 0; s < 6; s++) vfl_lr_step(&m2, rows + (size_t)s * B, B, NULL);
    const double first = vfl_lr_take_loss(&m2);
    for (long s = 6; s < steps - 6; s++) vfl_lr_step(&m2, rows + (size_t)s * B, B, NULL);
    vfl_lr_take_loss(&m2);
    for (long s = steps - 6; s < steps; s++) vfl_lr_step(&m2, rows + (size_t)s * B, B, NULL);
    assert_true(vfl_lr_take_loss(&m2) < first);
    vfl_lr_free(&m2);
    vfl_lr_free(&m);
    free(rows);
    vfl_data_free(&v);
}

static void test_lr_encrypted(void **state)
{
    (void)state;
    /* one passive party: the protocol also computes the loss */
    const int feats[2] = {3, 4};
    vfl_data v;
    make_data(&v, 2, feats, 1, 48);
    const int B = 12;
    const long steps = 8;
    uint32_t *rows = batches(v.n_train, B, steps);
    he_key *key = test_key(5);
    const he_pub *pk = he_key_pub(key);
    vfl_lr plain, enc;
    vclk k;
    vclk_party dev[3];
    for (int p = 0; p < 3; p++)
        dev[p] = (vclk_party){.flops = 1e9, .up_bps = 1e6, .down_bps = 1e6, .straggler_factor = 1};
    vclk_init(&k, 3, dev, 1e9, SEED);
    assert_int_equal(vfl_lr_init(&plain, &v, &lr_opts, NULL, NULL), FS_OK);
    assert_int_equal(vfl_lr_init(&enc, &v, &lr_opts, key, &k), FS_OK);
    /* the set-up: the public key to both parties */
    assert_int_equal(vclk_step(&k, 0, 0, NULL), FS_OK);
    assert_true(k.tally[2].bytes_sent == 2.0 * (double)he_pub_bytes(pk));
    vclk_tally_reset(&k);
    double lp = 0, le = 0;
    for (long s = 0; s < steps; s++) {
        assert_int_equal(vfl_lr_step(&plain, rows + (size_t)s * B, B, NULL), FS_OK);
        assert_int_equal(vfl_lr_step(&enc, rows + (size_t)s * B, B, &k), FS_OK);
        assert_int_equal(vclk_step(&k, (uint64_t)s + 1, 1, NULL), FS_OK);
        lp = vfl_lr_take_loss(&plain);
        le = vfl_lr_take_loss(&enc);
        /* the loss the coordinator decrypts: within the fixed point of the plain one */
        assert_true(fabs(lp - le) < 1e-6);
    }
    /* Fixed point 2^-24: one gradient coordinate errs by at most about 2 2^-24 per step, times
     * lr and the steps: 1e-6 is far above that and far below what a wrong term gives. */
    double a[16], b[16];
    const size_t n = vfl_lr_theta(&plain, a);
    vfl_lr_theta(&enc, b);
    double diff = 0;
    for (size_t i = 0; i < n; i++) diff = fmax(diff, fabs(a[i] - b[i]));
    assert_true(diff < 1e-6);
    assert_true(diff > 0); /* it did go through the fixed point */
    /* the wire: a ciphertext is 2|n| bits; per step the passive party sends [[u]] and [[u^2]]
     * (2B) and its 4 masked gradient coordinates, the active party [[4d]] (B) to it and 3 + 1
     * masked coordinates and [[T]] to the coordinator */
    const double ct = 2.0 * 512 / 8;
    assert_true(he_ct_bytes(pk) == 128);
    assert_true(k.tally[1].bytes_sent == steps * (2.0 * B + 4) * ct);
    assert_true(k.tally[0].bytes_sent == steps * ((double)B + 4 + 1) * ct);
    assert_true(k.tally[2].crypto_s > 0 && k.tally[1].crypto_s > 0);
    vfl_lr_free(&plain);
    vfl_lr_free(&enc);
    vclk_free(&k);
    he_key_free(key);
    free(rows);
    vfl_data_free(&v);

    /* two passive parties: no loss in the protocol, the weights still agree */
    const int feats3[3] = {2, 3, 2};
    make_data(&v, 3, feats3, 1, 24);
    rows = batches(v.n_train, 8, 3);
    key = test_key(6);
    assert_int_equal(vfl_lr_init(&plain, &v, &lr_opts, NULL, NULL), FS_OK);
    assert_int_equal(vfl_lr_init(&enc, &v, &lr_opts, key, NULL), FS_OK);
    for (long s = 0; s < 3; s++) {
        assert_int_equal(vfl_lr_step(&plain, rows + (size_t)s * 8, 8, NULL), FS_OK);
        assert_int_equal(vfl_lr_step(&enc, rows + (size_t)s * 8, 8, NULL), FS_OK);
    }
    assert_true(isnan(vfl_lr_take_loss(&enc)));
    vfl_lr_theta(&plain, a);
    vfl_lr_theta(&enc, b);
    for (size_t i = 0; i < vfl_lr_theta(&plain, NULL); i++) assert_true(fabs(a[i] - b[i]) < 1e-6);
    vfl_lr_free(&plain);
    vfl_lr_free(&enc);
    he_key_free(key);
    free(rows);
    vfl_data_free(&v);
}

/* ---- SplitNN --------------------------------------------------------------------------------- */

static void parse_cfg(const char *yaml, cfg *c)
{
    cfg_diag d;
    fs_err e = cfg_parse_text(yaml, strlen(yaml), "t.yaml", c, &d);
    if (e) cfg_diag_print(&d, stderr);
    assert_int_equal(e, FS_OK);
}

/* Three classes for SplitNN: the label is the argmax of three fixed projections. */
static void make_data3(vfl_data *v, size_t ntr)
{
    const int feats[2] = {5, 3};
    make_data(v, 2, feats, 0, ntr);
    v->n_classes = 3;
    for (size_t i = 0; i < ntr; i++) {
        const float *a = v->p[0].xtr + i * 5, *b = v->p[1].xtr + i * 3;
        const double s0 = a[0] + b[0], s1 = a[1] - b[1], s2 = a[2] + b[2] - a[3];
        v->ytr[i] = s0 > s1 ? (s0 > s2 ? 0 : 2) : (s1 > s2 ? 1 : 2);
    }
}

typedef struct gc_ctx {
    vfl_snn *s;
    const uint32_t *rows;
    int B;
    const float *z0; /* the interactive outputs at the unperturbed parameters */
} gc_ctx;

/* The loss at perturbed parameters. With a top model, its first layer is a ReLU of the
 * interactive outputs: a finite difference is only exact while no output changes sign. */
static double gc_loss(void *p)
{
    gc_ctx *g = p;
    const double l = vfl_snn_loss_grad(g->s, g->rows, g->B, 0);
    if (g->s->has_top)
        for (int i = 0; i < g->B * g->s->h; i++) assert_true((g->s->z[i] > 0) == (g->z0[i] > 0));
    return l;
}

/* Every parameter block's gradient along a random direction. */
static void grad_check(vfl_snn *s, const uint32_t *rows, int B)
{
    float z0[64 * 8];
    gc_ctx ctx = {s, rows, B, z0};
    rng_t r;
    rng_init(&r, SEED, RNG_TEST, 9, 0);
    const size_t EH = (size_t)s->emb * s->h;
    float *g = nn_tu_alloc(100000);
    for (int blk = 0; blk < 7; blk++) {
        float *p = NULL, *src = NULL;
        size_t n = 0;
        if (blk < 2) {
            p = s->bp[blk], src = s->bw[blk].grad, n = s->bottom[blk].n_params;
        } else if (blk < 4) {
            p = s->W[blk - 2], src = s->gW[blk - 2], n = EH;
        } else if (blk == 4) {
            p = s->bias, src = s->gbias, n = (size_t)s->h;
        } else if (s->has_top) {
            p = s->tp, src = s->tw.grad, n = s->top.n_params;
        }
        if (!p) continue;
        double loss = vfl_snn_loss_grad(s, rows, B, 1);
        assert_true(isfinite(loss));
        memcpy(z0, s->z, (size_t)B * s->h * sizeof *z0);
        memcpy(g, src, n * sizeof *g);
        const double err = nn_tu_grad_rel_err(gc_loss, &ctx, p, g, n, NN_TU_EPS, &r);
        if (err >= NN_TU_GRAD_RTOL) fprintf(stderr, "block %d: relative error %g\n", blk, err);
        assert_true(err < NN_TU_GRAD_RTOL);
    }
    free(g);
}

static const char snn_yaml[] =
    "name: s\n"
    "seed: 11\n"
    "federation: vertical\n"
    "model:\n"
    "  name: custom\n"
    "  layers: [{type: flatten}, {type: dense, units: 6}, {type: tanh},\n"
    "           {type: dense, units: 4}]\n"
    "vertical:\n"
    "  algorithm: splitnn\n"
    "  embedding_dim: 4\n"
    "  top_hidden: %s\n"
    "  encryption: %s\n"
    "train: {lr: 0.1, batch_size: 8, weight_decay: 0.01}\n";

static void test_splitnn_gradcheck(void **state)
{
    (void)state;
    vfl_data v;
    make_data3(&v, 32);
    uint32_t rows[8] = {3, 17, 5, 30, 11, 0, 22, 9};
    char yaml[1024];
    cfg c;
    /* no top model: the interactive layer gives the logits; everything is smooth */
    snprintf(yaml, sizeof yaml, snn_yaml, "[]", "none");
    parse_cfg(yaml, &c);
    vfl_snn s;
    assert_int_equal(vfl_snn_init(&s, &v, &c, NULL, NULL), FS_OK);
    assert_int_equal(s.h, 3);
    grad_check(&s, rows, 8);
    vfl_snn_free(&s);
    /* a top model (ReLU, dense 3) after an interactive layer of 5 (gc_loss checks that no
     * ReLU input crosses 0 under the perturbations) */
    snprintf(yaml, sizeof yaml, snn_yaml, "[5]", "none");
    parse_cfg(yaml, &c);
    assert_int_equal(vfl_snn_init(&s, &v, &c, NULL, NULL), FS_OK);
    grad_check(&s, rows, 8);
    /* a step moves every block against its gradient: the loss of the batch goes down */
    const double before = vfl_snn_loss_grad(&s, rows, 8, 0);
    for (int t = 0; t < 20; t++) assert_int_equal(vfl_snn_step(&s, rows, 8, NULL, 1), FS_OK);
    assert_true(vfl_snn_loss_grad(&s, rows, 8, 0) < before);
    /* probabilities sum to one */
    float prob[32 * 3];
    assert_int_equal(vfl_snn_predict(&s, 0, prob), FS_OK);
    for (int i = 0; i < 32; i++)
        assert_true(fabsf(prob[3 * i] + prob[3 * i + 1] + prob[3 * i + 2] - 1) < 1e-5f);
    vfl_snn_free(&s);
    vfl_data_free(&v);
}

static void test_splitnn_encrypted(void **state)
{
    (void)state;
    vfl_data v;
    make_data3(&v, 32);
    uint32_t rows[16];
    for (int i = 0; i < 16; i++) rows[i] = (uint32_t)(2 * i);
    char yaml[1024];
    cfg c, ce;
    snprintf(yaml, sizeof yaml, snn_yaml, "[5]", "none");
    parse_cfg(yaml, &c);
    snprintf(yaml, sizeof yaml, snn_yaml, "[5]", "paillier");
    parse_cfg(yaml, &ce);
    snprintf(ce.vertical.randomness, sizeof ce.vertical.randomness, "keyed");
    vfl_snn plain, enc;
    he_key *keys[VCLK_MAX_PARTIES] = {NULL, test_key(7)};
    vclk k;
    vclk_party dev[2];
    for (int p = 0; p < 2; p++)
        dev[p] = (vclk_party){.flops = 1e9, .up_bps = 1e6, .down_bps = 1e6, .straggler_factor = 1};
    vclk_init(&k, 2, dev, 1e9, SEED);
    assert_int_equal(vfl_snn_init(&plain, &v, &c, NULL, NULL), FS_OK);
    assert_int_equal(vfl_snn_init(&enc, &v, &ce, keys, &k), FS_OK);
    assert_null(keys[1]); /* taken over */
    assert_int_equal(vclk_step(&k, 0, 0, NULL), FS_OK);
    vclk_tally_reset(&k);
    const size_t EH = 4 * 5;
    float wp[EH], we[EH];
    /* the passive party's interactive weights are shared: W' alone is not W */
    vfl_snn_weights(&plain, 1, wp);
    vfl_snn_weights(&enc, 1, we);
    double share = 0;
    for (size_t i = 0; i < EH; i++) {
        assert_true(fabsf(wp[i] - we[i]) < 1e-6f);
        share = fmax(share, fabs((double)enc.W[1][i] - wp[i]));
    }
    assert_true(share > 1e-3);
    for (int t = 0; t < 3; t++) {
        assert_int_equal(vfl_snn_step(&plain, rows, 16, NULL, (uint64_t)t + 1), FS_OK);
        assert_int_equal(vfl_snn_step(&enc, rows, 16, &k, (uint64_t)t + 1), FS_OK);
        assert_int_equal(vclk_step(&k, (uint64_t)t + 1, 1, NULL), FS_OK);
        assert_true(fabs(vfl_snn_take_loss(&plain) - vfl_snn_take_loss(&enc)) < 1e-5);
    }
    /* after three steps every parameter agrees within float and 2^-24 fixed point */
    double diff = 0;
    for (int p = 0; p < 2; p++) {
        for (size_t i = 0; i < plain.bottom[p].n_params; i++)
            diff = fmax(diff, fabs((double)plain.bp[p][i] - enc.bp[p][i]));
        vfl_snn_weights(&plain, p, wp);
        vfl_snn_weights(&enc, p, we);
        for (size_t i = 0; i < EH; i++) diff = fmax(diff, fabs((double)wp[i] - we[i]));
    }
    for (size_t i = 0; i < plain.top.n_params; i++)
        diff = fmax(diff, fabs((double)plain.tp[i] - enc.tp[i]));
    assert_true(diff < 1e-5);
    /* the wire: per step the passive party sends [[A]] (16 x 4 ciphertexts), the forward
     * plaintexts (16 x 5) and the backward ones (4 x 5) of (256 + 8) / 8 + 1 bytes each */
    const double ct = 128, mb = (256 + 8) / 8 + 1;
    assert_true(k.tally[1].bytes_sent == 3 * (16 * 4 * ct + (16 * 5 + 20) * mb));
    assert_true(k.tally[0].bytes_sent == 3 * ((16 * 5 + 20) * ct + 4.0 * 16 * (4 + 5)));
    vclk_free(&k);
    vfl_snn_free(&plain);
    vfl_snn_free(&enc);
    vfl_data_free(&v);
}

/* ---- parties and alignment ------------------------------------------------------------------ */

/* 30 train + 10 test samples of 1 x 4 x 5 "images"; feature f of sample i is 100 i + f. */
static void make_dataset(dataset *ds, int classes)
{
    memset(ds, 0, sizeof *ds);
    snprintf(ds->name, sizeof ds->name, "tiny");
    ds->dtype = DS_F32;
    ds->task = DS_CLASSIFY;
    ds->shape[0] = 1;
    ds->shape[1] = 4;
    ds->shape[2] = 5;
    ds->feat = 20;
    ds->y_len = 1;
    ds->n_classes = classes;
    ds->x_scale = 1;
    assert_int_equal(ds_split_alloc(ds, &ds->train, 30, 0), FS_OK);
    assert_int_equal(ds_split_alloc(ds, &ds->test, 10, 0), FS_OK);
    for (size_t i = 0; i < 40; i++) {
        ds_split *s = i < 30 ? &ds->train : &ds->test;
        const size_t j = i < 30 ? i : i - 30;
        for (int f = 0; f < 20; f++) ((float *)s->x)[j * 20 + (size_t)f] = (float)(100 * i + f);
        s->y[j] = (int32_t)(i % (size_t)classes);
    }
}

static const char party_yaml[] = "name: t\n"                           /* 1 */
                                 "federation: vertical\n"              /* 2 */
                                 "vertical:\n"                         /* 3 */
                                 "  psi: %s\n"                         /* 4 */
                                 "  parties:\n"                        /* 5 */
                                 "    - {name: a, role: active, %s}\n" /* 6 */
                                 "    - {name: b, %s}\n";              /* 7 */

static fs_err setup_with(const char *psi, const char *a, const char *b, int classes, vfl_data *v,
                         cfg_diag *d, cfg *c, dataset *ds)
{
    char yaml[1024];
    snprintf(yaml, sizeof yaml, party_yaml, psi, a, b);
    parse_cfg(yaml, c);
    cfg_diag vd;
    fs_err e = cfg_validate(c, "t.yaml", &vd);
    if (e) cfg_diag_print(&vd, stderr);
    assert_int_equal(e, FS_OK);
    make_dataset(ds, classes);
    return vfl_parties_setup(c, ds, "t.yaml", v, d);
}

static void expect_setup_error(const char *a, const char *b, int line, int col, const char *msg)
{
    vfl_data v;
    cfg_diag d;
    cfg c;
    dataset ds;
    fs_err e = setup_with("true", a, b, 2, &v, &d, &c, &ds);
    if (e != FS_EINPUT || d.line != line || d.col != col || !strstr(d.msg, msg))
        cfg_diag_print(&d, stderr);
    assert_int_equal(e, FS_EINPUT);
    assert_string_equal(d.file, "t.yaml");
    assert_int_equal(d.line, line);
    assert_int_equal(d.col, col);
    assert_non_null(strstr(d.msg, msg));
    vfl_data_free(&v);
    ds_free(&ds);
}

static void test_parties(void **state)
{
    (void)state;
    vfl_data v;
    cfg_diag d;
    cfg c;
    dataset ds;
    /* pixel blocks: the left three columns and the right two */
    assert_int_equal(setup_with("true", "cols: \"0-2\"", "cols: \"3-4\"", 2, &v, &d, &c, &ds),
                     FS_OK);
    assert_int_equal(v.p[0].n_feat, 12);
    assert_true(v.p[0].in[0] == 1 && v.p[0].in[1] == 4 && v.p[0].in[2] == 3);
    assert_true(v.p[0].feat[3] == 5 && v.p[1].feat[2] == 8);
    assert_int_equal(v.coord, -1);
    vfl_data_free(&v);
    ds_free(&ds);
    /* a feature of nobody: at the list (line 5, col 3) */
    expect_setup_error("cols: \"0-2\"", "cols: \"4\"", 5, 3,
                       "feature 3 of the 20 of 'tiny' belongs to no party");
    /* overlapping forms that the scenario alone cannot compare: at b's rows */
    expect_setup_error("columns: \"0-5, 10-19\"", "rows: \"1\"", 7, 23,
                       "feature 5 of party 'b' also belongs to party 'a'");
    expect_setup_error("columns: \"0-9\"", "columns: \"10-20\"", 7, 26,
                       "names feature 20, beyond the dataset's 20");
    expect_setup_error("cols: \"0-2\"", "cols: \"3-5\"", 7, 23,
                       "names column 5, beyond the dataset's 5");
    /* hetero_lr needs two classes */
    fs_err e = setup_with("true", "cols: \"0-2\"", "cols: \"3-4\"", 3, &v, &d, &c, &ds);
    assert_int_equal(e, FS_EINPUT);
    assert_non_null(strstr(d.msg, "needs 2 classes"));
    vfl_data_free(&v);
    ds_free(&ds);
}

static int has_id(const vfl_party *p, uint64_t id)
{
    for (size_t i = 0; i < p->n_ids; i++)
        if (p->ids[i] == id) return 1;
    return 0;
}

static void align(const char *psi, const char *a, const char *b, vfl_data *v, vclk *k, cfg *c,
                  dataset *ds, cfg_diag *d, fs_err want)
{
    assert_int_equal(setup_with(psi, a, b, 2, v, d, c, ds), FS_OK);
    vclk_party dev[2];
    for (int p = 0; p < 2; p++) vfl_party_device(c, v, p, &dev[p]);
    vclk_init(k, 2, dev, 2e10, SEED);
    fs_err e = vfl_align(c, ds, "t.yaml", v, k, d);
    if (e != want) cfg_diag_print(d, stderr);
    assert_int_equal(e, want);
}

static void test_alignment(void **state)
{
    (void)state;
    const char *a = "cols: \"0-2\", coverage: 0.7, unique_ids: 5";
    const char *b = "cols: \"3-4\", coverage: 0.8, unique_ids: 3";
    vfl_data v, w;
    vclk k, kw;
    cfg c;
    dataset ds;
    cfg_diag d;
    align("true", a, b, &v, &k, &c, &ds, &d, FS_OK);
    /* the intersection of the two ID lists, whatever PSI's secret orders */
    size_t common = 0, common_tr = 0;
    for (uint64_t id = 0; id < 40; id++)
        if (has_id(&v.p[0], id) && has_id(&v.p[1], id)) common++, common_tr += id < 30;
    assert_true(common > 10 && common < 40);
    assert_int_equal(v.n_common, common);
    assert_int_equal(v.n_train, common_tr);
    assert_true(has_id(&v.p[0], VFL_UNIQUE_BASE + 4) && !has_id(&v.p[1], VFL_UNIQUE_BASE + 4));
    /* row r is the same sample at both parties, in ID order, with its label */
    uint64_t prev = 0;
    for (size_t r = 0; r < v.n_train; r++) {
        const uint64_t id = (uint64_t)(v.p[0].xtr[r * 12] / 100);
        assert_true(v.p[0].xtr[r * 12] == (float)(100 * id));
        assert_true(v.p[1].xtr[r * 8] == (float)(100 * id + 3));
        assert_int_equal(v.ytr[r], (int32_t)(id % 2));
        assert_true(r == 0 || id > prev);
        prev = id;
    }
    for (size_t r = 0; r < v.n_test; r++) assert_true(v.p[1].xte[r * 8 + 1] >= 100 * 30 + 4);
    /* PSI's messages on the clock: each party sends its own points, then the other's */
    const double na = (double)v.p[0].n_ids, nb = (double)v.p[1].n_ids;
    assert_true(k.tally[0].bytes_sent == 2 * PSI_HEADER_BYTES + PSI_POINT_BYTES * (na + nb));
    assert_true(k.tally[1].bytes_recv == k.tally[0].bytes_sent);
    assert_true(v.psi_s > 0 && v.psi_bytes == 2 * k.tally[0].bytes_sent);
    /* in the clear: the same rows, at no cost */
    dataset ds2;
    align("false", a, b, &w, &kw, &c, &ds2, &d, FS_OK);
    assert_int_equal(w.n_common, v.n_common);
    assert_memory_equal(w.p[1].xtr, v.p[1].xtr, v.n_train * 8 * sizeof(float));
    assert_true(w.psi_s == 0 && kw.tally[0].bytes_sent == 0);
    vfl_data_free(&w);
    vclk_free(&kw);
    ds_free(&ds2);
    ds_free(&ds);
    vfl_data_free(&v);
    vclk_free(&k);
    /* an empty intersection: at the parties list, nothing trained */
    align("true", a, "cols: \"3-4\", coverage: 0, unique_ids: 3", &v, &k, &c, &ds, &d, FS_EINPUT);
    assert_int_equal(d.line, 5);
    assert_int_equal(d.col, 3);
    assert_non_null(strstr(d.msg, "no sample ID in common"));
    vfl_data_free(&v);
    vclk_free(&k);
    ds_free(&ds);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_clock),
        cmocka_unit_test(test_auc),
        cmocka_unit_test(test_lr_plain_equals_central),
        cmocka_unit_test(test_lr_encrypted),
        cmocka_unit_test(test_splitnn_gradcheck),
        cmocka_unit_test(test_splitnn_encrypted),
        cmocka_unit_test(test_parties),
        cmocka_unit_test(test_alignment),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
