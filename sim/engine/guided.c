/* Guided client selection (see guided.h). */
#include "engine/guided.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util/rng.h"

enum { G_OORT = 1, G_POC };

typedef struct kv {
    double k;
    uint32_t i;
} kv;

struct guided {
    int mode;
    uint32_t n;
    float *stat;    /* (n) samples x loss of the last report; NaN: none */
    float *loss;    /* (n) last reported loss; NaN: none */
    float *dur;     /* (n) last reported duration; NaN: none */
    uint32_t *last; /* (n) round of the last report (0: never) */
    uint8_t *seen;  /* (n) 1 once the client reported */
    double eps, eps_decay, eps_min, alpha, cutoff, pct, delta;
    int pacer_step, poc_d;
    double T;          /* preferred duration of the current selection */
    double *util_hist; /* (rounds seen) exploited utility per round, for the pacer */
    size_t n_hist, cap_hist;
    double round_util; /* exploited utility of the current round */
    /* scratch, (n) each */
    uint32_t *cand;
    double *key;
    uint32_t *ord;
    kv *kv;
    uint64_t seed;
};

int guided_wanted(const cfg *c)
{
    return strcmp(c->selection.mode, "uniform") != 0;
}

fs_err guided_new(const cfg *c, uint32_t n, guided **out)
{
    guided *g = calloc(1, sizeof *g);
    if (!g) return FS_ENOMEM;
    g->mode = strcmp(c->selection.mode, "oort") == 0 ? G_OORT : G_POC;
    g->n = n;
    g->stat = FS_CALLOC(n, sizeof *g->stat);
    g->loss = FS_CALLOC(n, sizeof *g->loss);
    g->dur = FS_CALLOC(n, sizeof *g->dur);
    g->last = FS_CALLOC(n, sizeof *g->last);
    g->seen = FS_CALLOC(n, 1);
    g->cand = FS_CALLOC(n, sizeof *g->cand);
    g->key = FS_CALLOC(n, sizeof *g->key);
    g->ord = FS_CALLOC(n, sizeof *g->ord);
    g->kv = FS_CALLOC(n, sizeof *g->kv);
    g->seed = c->seed;
    if (!g->kv || !g->stat || !g->loss || !g->dur || !g->last || !g->seen || !g->cand || !g->key ||
        !g->ord) {
        guided_free(g);
        return FS_ENOMEM;
    }
    for (uint32_t i = 0; i < n; i++) g->stat[i] = g->loss[i] = g->dur[i] = NAN;
    g->eps = c->selection.oort_explore;
    g->eps_decay = c->selection.oort_explore_decay;
    g->eps_min = c->selection.oort_explore_min;
    g->alpha = c->selection.oort_alpha;
    g->cutoff = c->selection.oort_cutoff;
    g->pct = c->selection.oort_round_threshold;
    g->delta = c->selection.oort_pacer_delta;
    g->pacer_step = c->selection.oort_pacer_step;
    g->poc_d = c->selection.poc_d;
    g->T = NAN;
    *out = g;
    return FS_OK;
}

void guided_free(guided *g)
{
    if (!g) return;
    free(g->stat);
    free(g->loss);
    free(g->dur);
    free(g->last);
    free(g->seen);
    free(g->cand);
    free(g->key);
    free(g->ord);
    free(g->kv);
    free(g->util_hist);
    free(g);
}

double guided_oort_utility(double stat_norm, double dur, double T, double alpha,
                           uint32_t last_round, uint32_t round)
{
    double u = stat_norm;
    if (last_round > 0 && round > 1) u += sqrt(0.1 * log((double)round) / last_round);
    if (isfinite(T) && dur > T) u *= pow(T / dur, alpha);
    return u;
}

void guided_report(guided *g, uint32_t client, uint32_t round, double samples, double loss,
                   double duration)
{
    FS_CHECK(client < g->n);
    g->seen[client] = 1;
    g->last[client] = round;
    if (isfinite(duration)) g->dur[client] = (float)duration;
    if (isfinite(loss)) {
        g->loss[client] = (float)loss;
        g->stat[client] = (float)(samples * loss);
    }
}

double guided_oort_T(const guided *g)
{
    return g->T;
}

static int cmp_double(const void *a, const void *b)
{
    const double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* the pct-th percentile (nearest rank) of the reported durations; NaN before any */
static double duration_percentile(guided *g, double pct)
{
    size_t k = 0;
    for (uint32_t i = 0; i < g->n; i++)
        if (isfinite(g->dur[i])) g->key[k++] = g->dur[i];
    if (!k) return NAN;
    qsort(g->key, k, sizeof *g->key, cmp_double);
    size_t r = (size_t)ceil(pct / 100.0 * (double)k);
    return g->key[r > 0 ? (r > k ? k : r) - 1 : 0];
}

/* descending by key, ties by client id */
static int by_key_desc(const void *a, const void *b)
{
    const kv *x = a, *y = b;
    if (x->k != y->k) return x->k > y->k ? -1 : 1;
    return x->i < y->i ? -1 : x->i > y->i;
}

/* sort idx[0..n) by key[] (indexed by client) descending, ties by client id */
static void sort_desc(guided *g, uint32_t *idx, size_t n, const double *key)
{
    for (size_t j = 0; j < n; j++) g->kv[j] = (kv){key[idx[j]], idx[j]};
    qsort(g->kv, n, sizeof *g->kv, by_key_desc);
    for (size_t j = 0; j < n; j++) idx[j] = g->kv[j].i;
}

static int select_oort(guided *g, av_model *av, const partition *p, uint32_t round, double t, int m,
                       uint32_t *out)
{
    /* online candidates with data: explored (reported before) first in cand, unexplored after */
    size_t ne = 0, nu = 0;
    for (uint32_t i = 0; i < g->n; i++) {
        if (part_size(p, i) == 0 || !av_is_online(av, i, round, t)) continue;
        if (g->seen[i] && isfinite(g->stat[i]))
            g->cand[ne++] = i;
        else
            g->ord[nu++] = i;
    }
    const double eps =
        fmax(g->eps_min, g->eps * pow(g->eps_decay, (double)(round > 0 ? round - 1 : 0)));
    size_t want = (size_t)m, n_exploit = (size_t)llround((1 - eps) * (double)m);
    if (n_exploit > ne) n_exploit = ne;
    size_t n_explore = want - n_exploit;
    if (n_explore > nu) { /* too few new clients: exploit more */
        n_explore = nu;
        n_exploit = want - nu < ne ? want - nu : ne;
    }
    g->T = duration_percentile(g, g->pct);
    /* statistical utilities normalised over the explored candidates (FedScale's Oort) */
    double lo = INFINITY, hi = -INFINITY;
    for (size_t j = 0; j < ne; j++) {
        lo = fmin(lo, g->stat[g->cand[j]]);
        hi = fmax(hi, g->stat[g->cand[j]]);
    }
    for (size_t j = 0; j < ne; j++) {
        const uint32_t i = g->cand[j];
        const double sn = hi > lo ? (g->stat[i] - lo) / (hi - lo) : 1.0;
        g->key[i] = guided_oort_utility(sn, g->dur[i], g->T, g->alpha, g->last[i], round);
    }
    int got = 0;
    g->round_util = 0;
    if (n_exploit > 0) {
        sort_desc(g, g->cand, ne, g->key);
        const double floor_u = g->cutoff * g->key[g->cand[n_exploit - 1]];
        size_t pool = n_exploit;
        while (pool < ne && g->key[g->cand[pool]] >= floor_u) pool++;
        /* n_exploit of the pool, each draw in proportion to utility, without replacement */
        rng_t r;
        rng_init(&r, g->seed, RNG_GUIDED, 0, round);
        for (size_t k = 0; k < n_exploit; k++) {
            double sum = 0;
            for (size_t j = k; j < pool; j++) sum += fmax(g->key[g->cand[j]], 0);
            size_t pick = k;
            if (sum > 0) {
                double u = rng_uniform(&r) * sum;
                for (pick = k; pick + 1 < pool; pick++) {
                    u -= fmax(g->key[g->cand[pick]], 0);
                    if (u < 0) break;
                }
            } else {
                pick = k + (size_t)rng_below(&r, pool - k);
            }
            const uint32_t tmp = g->cand[k];
            g->cand[k] = g->cand[pick];
            g->cand[pick] = tmp;
            out[got++] = g->cand[k];
            g->round_util += g->key[g->cand[k]];
        }
    }
    if (n_explore > 0) { /* clients never heard from, uniformly (partial Fisher-Yates) */
        rng_t r;
        rng_init(&r, g->seed, RNG_GUIDED, 1, round);
        for (size_t k = 0; k < n_explore; k++) {
            const size_t j = k + (size_t)rng_below(&r, nu - k);
            const uint32_t tmp = g->ord[k];
            g->ord[k] = g->ord[j];
            g->ord[j] = tmp;
            out[got++] = g->ord[k];
        }
    }
    return got;
}

/* rpow-d: d candidates without replacement in proportion to data size (Efraimidis and
 * Spirakis' keys log(u) / n_i, the d largest), then the m with the highest last loss (never
 * reported: first), ties in candidate order */
static int select_poc(guided *g, av_model *av, const partition *p, uint32_t round, double t, int m,
                      uint32_t *out)
{
    size_t n = 0;
    rng_t r;
    rng_init(&r, g->seed, RNG_GUIDED, 2, round);
    for (uint32_t i = 0; i < g->n; i++) {
        const double u = rng_uniform_pos(&r); /* one draw per client: keys do not depend on t */
        if (part_size(p, i) == 0 || !av_is_online(av, i, round, t)) continue;
        g->key[i] = log(u) / (double)part_size(p, i);
        g->cand[n++] = i;
    }
    size_t d = g->poc_d > 0 ? (size_t)g->poc_d : 2 * (size_t)m;
    if (d > n) d = n;
    sort_desc(g, g->cand, n, g->key);
    for (size_t j = 0; j < d; j++) { /* rank: loss, unknown first; then candidate order */
        const uint32_t i = g->cand[j];
        g->key[i] = isfinite(g->loss[i]) ? g->loss[i] : INFINITY;
        g->ord[j] = i;
    }
    size_t got = 0;
    for (size_t k = 0; k < d && got < (size_t)m; k++) { /* selection by repeated maximum */
        size_t best = k;
        for (size_t j = k + 1; j < d; j++)
            if (g->key[g->ord[j]] > g->key[g->ord[best]]) best = j;
        const uint32_t tmp = g->ord[best];
        memmove(g->ord + k + 1, g->ord + k, (best - k) * sizeof *g->ord);
        g->ord[k] = tmp;
        out[got++] = tmp;
    }
    return (int)got;
}

int guided_select(guided *g, av_model *av, const partition *p, uint32_t round, double t, int m,
                  uint32_t *out)
{
    if (m <= 0) return 0;
    return g->mode == G_OORT ? select_oort(g, av, p, round, t, m, out)
                             : select_poc(g, av, p, round, t, m, out);
}

void guided_round_end(guided *g, uint32_t round)
{
    (void)round;
    if (g->mode != G_OORT) return;
    if (g->n_hist == g->cap_hist) {
        size_t nc = g->cap_hist ? 2 * g->cap_hist : 64;
        double *h = realloc(g->util_hist, nc * sizeof *h);
        if (!h) return; /* the pacer then keeps T: no effect on correctness */
        g->util_hist = h;
        g->cap_hist = nc;
    }
    g->util_hist[g->n_hist++] = g->round_util;
    /* pacer (Oort, Algorithm 1): every W rounds, less utility in the last window than in the
     * one before means the preferred duration is too short: admit slower clients */
    const size_t W = (size_t)g->pacer_step;
    if (g->n_hist >= 2 * W && g->n_hist % W == 0) {
        double last = 0, prev = 0;
        for (size_t j = g->n_hist - W; j < g->n_hist; j++) last += g->util_hist[j];
        for (size_t j = g->n_hist - 2 * W; j < g->n_hist - W; j++) prev += g->util_hist[j];
        if (last < prev) g->pct = fmin(100, g->pct + g->delta);
    }
}
