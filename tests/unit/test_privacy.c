/* Tests for sim/privacy/dp.c and the engine's privacy step sim/engine/priv.c: clipping bounds
 * every update (exactly) and leaves the others untouched; the Gaussian noise has the configured
 * standard deviation (moment tests) and comes from the documented keyed streams; DP-FedAvg's
 * estimators on hand-made results; z = 0 with a clip nobody reaches gives FedAvg's aggregate
 * bit for bit; the accountant inside the round equals the closed calculation; adaptive
 * clipping's update; secure aggregation inside the round: the aggregate is untouched until the
 * sum is unmasked, the sum equals the plain one within the quantisation error (with clients
 * that dropped after the key rounds), an abort is reported, and bytes and time are charged
 * from the documented wire layout and cost model, independently of the thread count. */
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
#include "engine/priv.h"
#include "privacy/accountant.h"
#include "privacy/dp.h"
#include "util/rng.h"

#define SEED  77ULL
#define MAXN  16
#define CHUNK 3 /* results per priv_round_add, to exercise chunking */

/* ---- mechanisms ---------------------------------------------------------------------------- */

static void test_clip_bounds(void **state)
{
    float hand[4] = {3, 4, 0, 0};
    assert_true(dp_clip(hand, 4, 1.0) == 5.0);
    assert_true(fabsf(hand[0] - 0.6f) < 1e-7f && fabsf(hand[1] - 0.8f) < 1e-7f);
    assert_true(hand[2] == 0 && hand[3] == 0);

    static const size_t dims[4] = {1, 7, 1000, 100003};
    static const double clips[3] = {0.1, 1.0, 3.7};
    float *u = malloc(100003 * sizeof *u), *orig = malloc(100003 * sizeof *orig);
    rng_t r;
    rng_init(&r, SEED, RNG_TEST, 1, 0);
    int clipped = 0, kept = 0;
    for (int rep = 0; rep < 120; rep++) {
        const size_t n = dims[rep % 4];
        const double C = clips[rep % 3], scale = pow(10.0, -3.0 + 6.0 * rng_uniform(&r));
        for (size_t i = 0; i < n; i++) orig[i] = u[i] = (float)(scale * rng_normal(&r) / sqrt(n));
        const double before = dp_clip(u, n, C);
        assert_true(before == dp_l2_norm(orig, n));
        const double after = dp_l2_norm(u, n);
        assert_true(after <= C); /* exactly, not up to rounding */
        if (before <= C) {
            assert_memory_equal(u, orig, n * sizeof *u);
            kept++;
        } else {
            assert_true(after >= C * (1 - 1e-5)); /* clipped to the sphere, not below it */
            for (size_t i = 0; i < n; i += 97)    /* same direction */
                assert_true(fabs(u[i] - orig[i] * C / before) <= 1e-5 * C + 1e-30);
            clipped++;
        }
    }
    assert_true(clipped > 20 && kept > 20);
    free(u);
    free(orig);
}

/* Sample mean, variance and kurtosis of v (n): for N(0, s^2) the estimates are within 5 standard
 * errors: mean s/sqrt(n), variance s^2 sqrt(2/n), kurtosis sqrt(24/n). */
static void check_gaussian(const double *v, size_t n, double s)
{
    double m = 0, m2 = 0, m4 = 0;
    for (size_t i = 0; i < n; i++) m += v[i];
    m /= n;
    for (size_t i = 0; i < n; i++) {
        const double d = (v[i] - m) * (v[i] - m);
        m2 += d;
        m4 += d * d;
    }
    m2 /= n;
    m4 /= n;
    assert_true(fabs(m) < 5 * s / sqrt((double)n));
    assert_true(fabs(m2 / (s * s) - 1) < 5 * sqrt(2.0 / n));
    assert_true(fabs(m4 / (m2 * m2) - 3) < 5 * sqrt(24.0 / n));
}

static void test_noise_std(void **state)
{
    const size_t n = 400000;
    double *v = calloc(n, sizeof *v), *w = calloc(n, sizeof *w);
    float *f = calloc(n, sizeof *f);
    dp_noise_add(v, n, 0.7, SEED, 3, 11);
    check_gaussian(v, n, 0.7);
    dp_noise_add(w, n, 0.7, SEED, 3, 11); /* the same key gives the same bits */
    assert_memory_equal(v, w, n * sizeof *v);
    dp_noise_add_f(f, n, 0.7, SEED, 3, 11); /* the float version adds the same draws */
    for (size_t i = 0; i < n; i += 101) assert_true(f[i] == (float)v[i]);
    memset(w, 0, n * sizeof *w);
    dp_noise_add(w, n, 0.7, SEED, 3, 12); /* another round: other draws */
    assert_true(memcmp(v, w, n * sizeof *v) != 0);
    memset(w, 0, n * sizeof *w);
    dp_noise_add(w, n, 0.0, SEED, 3, 11); /* std 0: untouched */
    for (size_t i = 0; i < n; i++) assert_true(w[i] == 0);
    /* a scale: std 1e3 */
    memset(v, 0, n * sizeof *v);
    dp_noise_add(v, n, 1e3, SEED, 4, 1);
    check_gaussian(v, n, 1e3);
    free(v);
    free(w);
    free(f);
}

static void test_adaptive_rule(void **state)
{
    /* Andrew et al. 2021, Thm. 1: z_delta = (z^-2 - (2 sigma_b)^-2)^-1/2 */
    assert_true(fabs(dp_update_noise_multiplier(1.0, 5.0) - 1.0050378152592121) < 1e-15);
    assert_true(isnan(dp_update_noise_multiplier(1.0, 0.5)));
    assert_true(dp_update_noise_multiplier(0.0, 0.5) == 0);
    /* Algorithm 1: C <- C exp(-eta (b - gamma)); 3 of an expected 4 unclipped, no count noise */
    double b;
    double c = dp_adaptive_clip_next(2.0, 3, 4, 0.5, 0.2, 0, SEED, 5, &b);
    assert_true(b == 0.75);
    assert_true(fabs(c - 2.0 * exp(-0.2 * 0.25)) < 1e-15);
    /* with count noise: the draw of (RNG_DP_NOISE, DP_ENTITY_COUNT, round) */
    double noise = 0;
    dp_noise_add(&noise, 1, 1.5, SEED, DP_ENTITY_COUNT, 5);
    c = dp_adaptive_clip_next(2.0, 3, 4, 0.5, 0.2, 1.5, SEED, 5, &b);
    assert_true(b == (3 + noise) / 4);
    assert_true(fabs(c - 2.0 * exp(-0.2 * ((3 + noise) / 4 - 0.5))) < 1e-15);
}

/* ---- the round ----------------------------------------------------------------------------- */

typedef struct env {
    cfg c;
    partition part;
    uint32_t off[MAXN + 1];
    sched_client sc[MAXN];
    int arrival[MAXN];
    sched_round sr;
    dev_model dev;
    const fl_algorithm *algo;
    size_t np;
    float *upd;                  /* (MAXN, np) the clients' original updates */
    float *buf;                  /* (CHUNK, np) result slots */
    fl_client_result res[CHUNK]; /* slots */
    fl_agg agg;
} env;

/* N clients with sizes 10, 20, ..., selected = the first n, the first `arrived` in the given
 * order arrive. Updates are random with norms around `scale`. */
static env *env_new(int N, size_t np, double scale)
{
    env *e = calloc(1, sizeof *e);
    cfg_defaults(&e->c);
    e->c.seed = SEED;
    e->c.rounds.clients_per_round = 4;
    e->c.rounds.count = 10;
    e->part.n_clients = (uint32_t)N;
    e->part.off = e->off;
    for (int i = 0; i < N; i++) e->off[i + 1] = e->off[i] + 10 * (uint32_t)(i + 1);
    e->part.n_samples = e->off[N];
    e->sr.c = e->sc;
    e->sr.arrival = e->arrival;
    e->dev.mode = DEV_LOGNORMAL;
    e->dev.seed = SEED;
    e->dev.flops = (dev_lognormal){2e9, 0.8};
    e->dev.down_bps = (dev_lognormal){20e6, 0.8};
    e->dev.up_bps = (dev_lognormal){5e6, 0.9};
    e->dev.latency_s = (dev_lognormal){0.05, 0.5};
    e->algo = fl_find("fedavg");
    e->np = np;
    e->upd = malloc(MAXN * np * sizeof *e->upd);
    e->buf = malloc(CHUNK * np * sizeof *e->buf);
    rng_t r;
    rng_init(&r, SEED, RNG_TEST, 2, 0);
    for (size_t i = 0; i < MAXN * np; i++)
        e->upd[i] = (float)(scale * rng_normal(&r) / sqrt((double)np));
    for (int k = 0; k < CHUNK; k++) e->res[k].update = e->buf + (size_t)k * np;
    assert_int_equal(fl_agg_init(&e->agg, np, 0), FS_OK);
    return e;
}

static void env_free(env *e)
{
    fl_agg_free(&e->agg);
    free(e->upd);
    free(e->buf);
    free(e);
}

static void schedule(env *e, int n, const int *arrive, int n_arrive)
{
    e->sr.n = n;
    for (int i = 0; i < n; i++) e->sc[i].client = (uint32_t)i;
    for (int a = 0; a < n_arrive; a++) e->arrival[a] = arrive[a];
    e->sr.n_completed = n_arrive;
}

/* Fill slot k with the result of selected client i, as fl_train_clients would. */
static void fill(env *e, int k, int i, uint32_t round)
{
    fl_client_result *r = &e->res[k];
    r->client = (uint32_t)i;
    r->n_samples = part_size(&e->part, (uint32_t)i);
    r->weight = r->n_samples;
    r->train_loss = 0.1 * (i + 1) + 0.01 * round;
    r->steps = 1;
    r->scalar = 0;
    memcpy(r->update, e->upd + (size_t)i * e->np, e->np * sizeof(float));
}

/* One round through the privacy step, results given in chunks of CHUNK. */
static void run_round(env *e, priv_state *p, uint32_t round, priv_stats *st)
{
    fl_agg_reset(&e->agg);
    assert_int_equal(priv_round_begin(p, round, &e->sr), FS_OK);
    for (int start = 0; start < e->sr.n_completed; start += CHUNK) {
        int n = e->sr.n_completed - start < CHUNK ? e->sr.n_completed - start : CHUNK;
        for (int k = 0; k < n; k++) fill(e, k, e->arrival[start + k], round);
        assert_int_equal(priv_round_add(p, e->res, n, start, &e->agg), FS_OK);
        if (strcmp(e->c.privacy.secagg, "none") != 0) { /* nothing reaches the aggregate */
            assert_int_equal(e->agg.count, 0);
            for (size_t i = 0; i < e->np; i++) assert_true(e->agg.sum[i] == 0);
        }
    }
    assert_int_equal(priv_round_end(p, &e->dev, &e->agg, st), FS_OK);
}

/* The plain FedAvg aggregate of the arrivals (what fl_train_clients adds). */
static void plain_agg(env *e, uint32_t round, fl_agg *out)
{
    assert_int_equal(fl_agg_init(out, e->np, 0), FS_OK);
    for (int a = 0; a < e->sr.n_completed; a++) {
        fill(e, 0, e->arrival[a], round);
        fl_agg_add(out, e->res, 1);
    }
}

static priv_state *make(env *e, int threads)
{
    priv_state *p = NULL;
    assert_int_equal(priv_new(&e->c, &e->part, e->np, e->algo, CHUNK, threads, &p), FS_OK);
    return p;
}

static void test_estimator_hand(void **state)
{
    env *e = env_new(8, 4, 1.0);
    /* client updates: (3,4,0,0) norm 5 -> (0.6,0.8,0,0); (0.1,0,0,0) kept; (0,0,0,2) -> (0,0,0,1)
     */
    const float u[3][4] = {{3, 4, 0, 0}, {0.1f, 0, 0, 0}, {0, 0, 0, 2}};
    memcpy(e->upd, u, sizeof u);
    snprintf(e->c.privacy.mode, sizeof e->c.privacy.mode, "central");
    snprintf(e->c.privacy.sampling, sizeof e->c.privacy.sampling, "fixed");
    e->c.privacy.noise_multiplier = 0;
    e->c.privacy.clip = 1;
    const int arrive[3] = {2, 0, 1};
    schedule(e, 4, arrive, 3);
    priv_state *p = make(e, 1);
    priv_stats st;
    run_round(e, p, 1, &st);
    /* uniform weights, fixed denominator q N = clients_per_round = 4 (McMahan et al. 2018) */
    assert_true(e->agg.wsum == 4 && e->agg.count == 3);
    const double want[4] = {0.6f + 0.1f, 0.8f, 0, 1};
    for (int i = 0; i < 4; i++) assert_true(fabs(e->agg.sum[i] - want[i]) < 1e-7);
    assert_true(st.clip == 1 && fabs(st.clipped_frac - 2.0 / 3) < 1e-15);
    assert_true(st.sa_bytes_up == 0 && st.sa_time_s == 0 && st.sa_abort[0] == 0);
    /* training loss is kept as without privacy: sum n_k loss_k */
    assert_true(fabs(e->agg.loss - (30 * 0.31 + 10 * 0.11 + 20 * 0.21)) < 1e-12);
    priv_free(p);

    /* samples: weights n_k = 30, 10, 20 and their sum */
    snprintf(e->c.privacy.weighting, sizeof e->c.privacy.weighting, "samples");
    p = make(e, 1);
    run_round(e, p, 1, &st);
    assert_true(e->agg.wsum == 60 && e->agg.count == 3);
    const double want2[4] = {10 * (double)0.6f + 20 * (double)0.1f, 10 * (double)0.8f, 0, 30};
    for (int i = 0; i < 4; i++) assert_true(fabs(e->agg.sum[i] - want2[i]) < 1e-6);
    priv_free(p);
    env_free(e);
}

static void test_zero_noise_is_fedavg(void **state)
{
    env *e = env_new(10, 5000, 1.0);
    snprintf(e->c.privacy.mode, sizeof e->c.privacy.mode, "central");
    snprintf(e->c.privacy.sampling, sizeof e->c.privacy.sampling, "fixed");
    snprintf(e->c.privacy.weighting, sizeof e->c.privacy.weighting, "samples");
    e->c.privacy.noise_multiplier = 0;
    e->c.privacy.clip = 1e9;
    const int arrive[7] = {4, 1, 6, 0, 3, 2, 5};
    schedule(e, 8, arrive, 7);
    priv_state *p = make(e, 2);
    priv_stats st;
    run_round(e, p, 3, &st);
    fl_agg ref;
    plain_agg(e, 3, &ref);
    assert_memory_equal(e->agg.sum, ref.sum, e->np * sizeof(double));
    assert_true(e->agg.wsum == ref.wsum && e->agg.count == ref.count);
    assert_true(e->agg.loss == ref.loss && e->agg.samples == ref.samples);
    assert_true(st.clipped_frac == 0 && isinf(st.epsilon));
    fl_agg_free(&ref);
    priv_free(p);
    env_free(e);
}

static void test_central_noise(void **state)
{
    const size_t np = 200000;
    env *e = env_new(6, np, 1.0);
    memset(e->upd, 0, MAXN * np * sizeof *e->upd); /* zero updates: the sum is the noise */
    snprintf(e->c.privacy.mode, sizeof e->c.privacy.mode, "central");
    e->c.privacy.noise_multiplier = 0.8;
    e->c.privacy.clip = 0.5;
    const int arrive[2] = {1, 3};
    schedule(e, 2, arrive, 2);
    priv_state *p = make(e, 1);
    priv_stats st;
    run_round(e, p, 9, &st);
    check_gaussian(e->agg.sum, np, 0.8 * 0.5); /* N(0, (z C)^2) per coordinate */
    double *ref = calloc(np, sizeof *ref);     /* from the stream (RNG_DP_NOISE, 0, round) */
    dp_noise_add(ref, np, 0.4, SEED, DP_ENTITY_CENTRAL, 9);
    assert_memory_equal(e->agg.sum, ref, np * sizeof *ref);
    priv_free(p);
    /* sample weights: the sensitivity is n_max C (n_max = 60 here) */
    snprintf(e->c.privacy.weighting, sizeof e->c.privacy.weighting, "samples");
    p = make(e, 1);
    run_round(e, p, 9, &st);
    check_gaussian(e->agg.sum, np, 0.8 * 0.5 * 60);
    assert_true(e->agg.wsum == 20 + 40);
    free(ref);
    priv_free(p);
    env_free(e);
}

static void test_local_dp(void **state)
{
    const size_t np = 100000;
    env *e = env_new(6, np, 1.0);
    memset(e->upd, 0, MAXN * np * sizeof *e->upd);
    snprintf(e->c.privacy.mode, sizeof e->c.privacy.mode, "local");
    e->c.privacy.noise_multiplier = 1.0;
    e->c.privacy.clip = 0.5;
    priv_state *p = make(e, 2);
    assert_false(priv_poisson(p)); /* auto: fixed-size selection outside central DP */
    priv_stats st;
    double *v = malloc(np * sizeof *v);
    /* client 2 takes part in all three rounds, the others once */
    const int a1[2] = {2, 0}, a2[2] = {1, 2}, a3[2] = {2, 3};
    const int *arr[3] = {a1, a2, a3};
    for (uint32_t round = 1; round <= 3; round++) {
        schedule(e, 4, arr[round - 1], 2);
        fl_agg_reset(&e->agg);
        assert_int_equal(priv_round_begin(p, round, &e->sr), FS_OK);
        fill(e, 0, arr[round - 1][0], round);
        fill(e, 1, arr[round - 1][1], round);
        assert_int_equal(priv_round_add(p, e->res, 2, 0, &e->agg), FS_OK);
        /* each client noised its own update: N(0, (z C)^2) from (RNG_DP_NOISE, client, round) */
        for (int k = 0; k < 2; k++) {
            for (size_t i = 0; i < np; i++) v[i] = e->res[k].update[i];
            if (round == 1) check_gaussian(v, np, 0.5);
            float *f = calloc(np, sizeof *f);
            dp_noise_add_f(f, np, 0.5, SEED, e->res[k].client, round);
            assert_memory_equal(f, e->res[k].update, np * sizeof *f);
            free(f);
        }
        assert_int_equal(priv_round_end(p, &e->dev, &e->agg, &st), FS_OK);
        /* per-client epsilon of the most frequent participant: q = 1, multiplier z/2 (the
         * sensitivity of one report is 2C) */
        double eps;
        assert_int_equal(dp_eps_from(1.0, 0.5, round, 1e-5, DP_CONV_IMPROVED, NULL, 0, &eps, NULL),
                         FS_OK);
        assert_true(fabs(st.epsilon - eps) <= 1e-12 * eps);
        assert_true(e->agg.wsum == 2 && e->agg.count == 2); /* the plain mean (uniform) */
    }
    free(v);
    priv_free(p);
    env_free(e);
}

static void test_accountant_central(void **state)
{
    env *e = env_new(12, 10, 1.0);
    snprintf(e->c.privacy.mode, sizeof e->c.privacy.mode, "central");
    e->c.privacy.noise_multiplier = 1.1;
    e->c.rounds.clients_per_round = 3; /* q = 3/12 */
    priv_state *p = make(e, 1);
    assert_true(priv_poisson(p) && priv_rate(p) == 0.25);
    const int arrive[2] = {0, 1};
    priv_stats st;
    for (uint32_t round = 1; round <= 5; round++) {
        schedule(e, 2, arrive, round == 3 ? 0 : 2); /* an empty round still counts */
        run_round(e, p, round, &st);
        double eps;
        assert_int_equal(dp_eps_from(0.25, 1.1, round, 1e-5, DP_CONV_IMPROVED, NULL, 0, &eps, NULL),
                         FS_OK);
        assert_true(fabs(st.epsilon - eps) <= 1e-12 * eps);
    }
    priv_free(p);
    /* a target epsilon: z solved over rounds.count rounds */
    e->c.privacy.target_epsilon = 3.0;
    snprintf(e->c.privacy.conversion, sizeof e->c.privacy.conversion, "classic");
    p = make(e, 1);
    double eps, eps2;
    const double z = priv_noise_multiplier(p);
    dp_eps_from(0.25, z, 10, 1e-5, DP_CONV_CLASSIC, NULL, 0, &eps, NULL);
    dp_eps_from(0.25, z * (1 - 1e-6), 10, 1e-5, DP_CONV_CLASSIC, NULL, 0, &eps2, NULL);
    assert_true(eps <= 3.0 && eps2 > 3.0);
    priv_free(p);
    /* unreachable target: a clear error */
    e->c.privacy.target_epsilon = 1e-3;
    priv_state *bad = NULL;
    assert_int_equal(priv_new(&e->c, &e->part, e->np, e->algo, CHUNK, 1, &bad), FS_EINPUT);
    assert_null(bad);
    assert_non_null(strstr(fs_errmsg(), "privacy.target_epsilon"));
    env_free(e);
}

static void test_adaptive_round(void **state)
{
    env *e = env_new(8, 50, 1.0);
    /* norms about 1 +- a little: with clip 1.0 some are clipped */
    snprintf(e->c.privacy.mode, sizeof e->c.privacy.mode, "central");
    snprintf(e->c.privacy.adaptive_clip, sizeof e->c.privacy.adaptive_clip, "true");
    e->c.privacy.noise_multiplier = 0;
    e->c.privacy.adaptive_count_noise = 1e-300; /* no count noise to speak of */
    e->c.privacy.clip = 1.0;
    const int arrive[5] = {0, 1, 2, 3, 4};
    schedule(e, 5, arrive, 5);
    int unclipped = 0;
    for (int i = 0; i < 5; i++) unclipped += dp_l2_norm(e->upd + (size_t)i * e->np, e->np) <= 1.0;
    assert_true(unclipped > 0 && unclipped < 5);
    const double next = 1.0 * exp(-0.2 * (unclipped / 4.0 - 0.5));
    for (int sa = 0; sa < 2; sa++) { /* the count in the clear, then through secure aggregation */
        snprintf(e->c.privacy.secagg, sizeof e->c.privacy.secagg, sa ? "secagg" : "none");
        priv_state *p = make(e, 1);
        priv_stats st;
        run_round(e, p, 1, &st);
        assert_true(st.clip == 1.0 && fabs(st.clipped_frac - (5 - unclipped) / 5.0) < 1e-15);
        run_round(e, p, 2, &st);
        assert_true(fabs(st.clip - next) < 1e-12);
        priv_free(p);
    }
    /* too little count noise for the budget: refused */
    e->c.privacy.noise_multiplier = 1.0;
    e->c.privacy.adaptive_count_noise = 0.2;
    priv_state *bad = NULL;
    assert_int_equal(priv_new(&e->c, &e->part, e->np, e->algo, CHUNK, 1, &bad), FS_EINPUT);
    env_free(e);
}

/* The scale the round picks when privacy.secagg_scale_bits = 0: the largest f with
 * n ceil(R 2^f) <= 2^31 - 1. */
static int auto_bits(int n, double R)
{
    int f = 30;
    while (f > 1 && (double)n * ceil(R * ldexp(1.0, f)) > 2147483647.0) f--;
    return f;
}

/* Secure aggregation in the round equals the plain aggregate within the quantisation error:
 * count * 2^-f per coordinate of the encoded vector, times the weight scale n_max (plus the
 * float rounding of the encoding, 2^-24 relative). */
static void test_secagg_matches_plain(void **state)
{
    env *e = env_new(10, 3000, 0.5);
    const int arrive[7] = {6, 2, 0, 8, 3, 5, 1}; /* clients 4, 7, 9 dropped after the key rounds */
    schedule(e, 10, arrive, 7);
    snprintf(e->c.privacy.secagg, sizeof e->c.privacy.secagg, "secagg");
    priv_state *p = make(e, 2);
    assert_true(priv_upload_bytes(p, 123) == 4 + 4.0 * (3000 + 1));
    priv_stats st;
    run_round(e, p, 4, &st);
    fl_agg ref;
    plain_agg(e, 4, &ref);
    /* R = 10 without DP: f = 24 for n = 10 */
    assert_int_equal(auto_bits(10, 10), 24);
    const double nmax = 100, tol = 7 * ldexp(1.0, -24) * nmax * 1.001 + 2e-6;
    assert_int_equal(e->agg.count, 7);
    for (size_t i = 0; i < e->np; i++)
        assert_true(fabs(e->agg.sum[i] - ref.sum[i]) <= tol + 1e-6 * fabs(ref.sum[i]));
    assert_true(fabs(e->agg.wsum - ref.wsum) <= tol);
    assert_true(e->agg.loss == ref.loss && e->agg.samples == ref.samples);
    assert_true(st.sa_abort[0] == 0 && st.sa_time_s > 0);
    fl_agg_free(&ref);
    priv_free(p);

    /* SecAgg+ and central DP (z = 0, uniform) give the same sum within the same bound */
    snprintf(e->c.privacy.secagg, sizeof e->c.privacy.secagg, "secagg_plus");
    e->c.privacy.secagg_neighbours = 6;
    snprintf(e->c.privacy.mode, sizeof e->c.privacy.mode, "central");
    e->c.privacy.noise_multiplier = 0;
    e->c.privacy.clip = 0.4;
    p = make(e, 1);
    run_round(e, p, 4, &st);
    double plain[3000];
    memcpy(plain, e->agg.sum, sizeof plain);
    priv_free(p);
    snprintf(e->c.privacy.secagg, sizeof e->c.privacy.secagg, "none");
    p = make(e, 1);
    run_round(e, p, 4, &st);
    for (size_t i = 0; i < e->np; i++)
        assert_true(fabs(e->agg.sum[i] - plain[i]) <= 7 * ldexp(1.0, -auto_bits(10, 0.4)) * 1.001);
    assert_true(e->agg.wsum == 4); /* fixed denominator either way */
    priv_free(p);
    env_free(e);
}

static void test_secagg_abort(void **state)
{
    env *e = env_new(8, 200, 0.5);
    snprintf(e->c.privacy.secagg, sizeof e->c.privacy.secagg, "secagg");
    e->c.privacy.secagg_threshold = 0.9; /* t = ceil(0.9 * 6) = 6 */
    const int arrive[4] = {0, 1, 2, 3};
    schedule(e, 6, arrive, 4);
    priv_state *p = make(e, 1);
    priv_stats st;
    run_round(e, p, 2, &st);
    assert_int_equal(e->agg.count, 0); /* fl_server_step leaves the model alone */
    assert_non_null(strstr(st.sa_abort, "4 masked inputs arrived, threshold t = 6"));
    assert_true(st.sa_time_s > 0 && st.sa_bytes_up > 0); /* the key rounds were paid */
    /* exactly t = 6 arrive: no abort */
    const int all[6] = {5, 4, 3, 2, 1, 0};
    schedule(e, 6, all, 6);
    run_round(e, p, 3, &st);
    assert_true(st.sa_abort[0] == 0 && e->agg.count == 6);
    priv_free(p);
    env_free(e);
}

/* Bytes from the wire layout of docs/secagg.md, complete graph, n = 6, everyone masks: per
 * client up 68 (keys) + 5 x 112 (shares) + 4 + 6 x 44 (unmasking) = 896, down 5 x 68 +
 * 5 x 112 + 5 x 4 (U3 list) = 920. Time from the cost model; independent of threads. */
static void test_secagg_cost(void **state)
{
    env *e = env_new(8, 100, 0.5);
    snprintf(e->c.privacy.secagg, sizeof e->c.privacy.secagg, "secagg");
    const int all[6] = {0, 1, 2, 3, 4, 5};
    schedule(e, 6, all, 6);
    priv_stats st[2];
    double sum[2][100];
    for (int th = 0; th < 2; th++) {
        priv_state *p = make(e, th + 1);
        run_round(e, p, 1, &st[th]);
        memcpy(sum[th], e->agg.sum, sizeof sum[th]);
        priv_free(p);
    }
    assert_true(st[0].sa_bytes_up == 6 * 896.0 && st[0].sa_bytes_down == 6 * 920.0);
    assert_memory_equal(&st[0], &st[1], sizeof st[0]);
    assert_memory_equal(sum[0], sum[1], sizeof sum[0]);

    /* the unit-cost model on hand-made counts */
    const priv_sa_units *u = &priv_sa_default_units;
    sa_cost c = {0};
    c.key_agreements = 5;
    c.aead_ops = 5;
    c.shamir_elems = 60;
    double want = 5 * u->kx + 5 * u->aead + 60 * 4 * u->split;
    assert_true(fabs(priv_sa_seconds(u, &c, SA_PHASE_SHARE, 0, 4, 1000, 0, 0) - want) < 1e-15);
    memset(&c, 0, sizeof c);
    c.key_agreements = 5;
    c.prg_bytes = 6 * 4000;
    want = 5 * u->kx + 24000 * u->prg_byte + 1000 * u->quant;
    assert_true(fabs(priv_sa_seconds(u, &c, SA_PHASE_MASK, 0, 4, 1000, 0, 0) - want) < 1e-15);
    assert_true(fabs(priv_sa_seconds(u, &c, SA_PHASE_MASK, 1, 4, 1000, 6, 0) -
                     (5 * u->kx + 24000 * u->prg_byte + 6000 * u->add)) < 1e-15);
    memset(&c, 0, sizeof c);
    c.keygens = 1;
    c.shamir_elems = 40;
    want = u->keygen + 40 * u->combine + 2 * 16 * u->lagrange + 1000 * u->add;
    assert_true(fabs(priv_sa_seconds(u, &c, SA_PHASE_UNMASK, 1, 4, 1000, 6, 2) - want) < 1e-15);
    env_free(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_clip_bounds),
        cmocka_unit_test(test_noise_std),
        cmocka_unit_test(test_adaptive_rule),
        cmocka_unit_test(test_estimator_hand),
        cmocka_unit_test(test_zero_noise_is_fedavg),
        cmocka_unit_test(test_central_noise),
        cmocka_unit_test(test_local_dp),
        cmocka_unit_test(test_accountant_central),
        cmocka_unit_test(test_adaptive_round),
        cmocka_unit_test(test_secagg_matches_plain),
        cmocka_unit_test(test_secagg_abort),
        cmocka_unit_test(test_secagg_cost),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
