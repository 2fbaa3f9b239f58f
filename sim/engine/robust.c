/* Adversaries and robust aggregation in the run (see robust.h and docs/robustness.md). Owns the
 * malicious-client bitmap (one bit per client), the round's kept updates (arrival order), the
 * centre of centered clipping (the previous round's aggregate), FLTrust's root dataset and its
 * server update, and the backdoor's triggered test set. */
#include "engine/robust.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fl/attack/attack.h"
#include "fl/robust/robust.h"
#include "nn/train.h"
#include "util/rng.h"

typedef struct robust_byc {
    uint32_t client, j;
} robust_byc;

struct robust_state {
    const cfg *c;
    const dataset *ds;
    atk_params atk;
    const fl_robust_rule *rule;
    fl_robust_params rp;
    int bucket;
    uint32_t N;
    uint8_t *mal; /* (N / 8) bitmap of malicious clients */
    long n_mal;
    size_t np;
    int cap;         /* updates a round can hold */
    float *U;        /* (cap, np) the round's updates, arrival order */
    double *w;       /* (cap) their weights */
    uint32_t *cl;    /* (cap) their clients */
    uint8_t *is_mal; /* (cap) */
    double *kept;    /* (cap) */
    int n;           /* updates this round */
    uint32_t round;
    double *center;    /* (np) centered clipping: the previous aggregate */
    float *ref;        /* (np) FLTrust: the server update */
    partition root;    /* FLTrust: one client holding the root dataset */
    robust_byc *byc;   /* (cap) the round's updates sorted by client */
    fl_poison poison;  /* data attacks */
    uint32_t *asr_idx; /* backdoor: test samples outside the target class */
    size_t asr_n;
    /* the round's row */
    long r_mal;
    double r_mal_kept, r_ben_kept;
    char desc[256];
};

int robust_is_malicious(const robust_state *r, uint32_t client)
{
    return client < r->N && (r->mal[client >> 3] >> (client & 7)) & 1;
}

static int poison_active(const fl_poison *p, uint32_t client)
{
    return robust_is_malicious(p->data, client);
}

static void poison_batch(const fl_poison *p, const dataset *ds, float *x, int32_t *y, size_t b)
{
    const robust_state *r = p->data;
    atk_poison_batch(&r->atk, ds, x, y, b);
}

static void poison_step(const fl_poison *p, const float *global, float *params, size_t n)
{
    const robust_state *r = p->data;
    atk_project(&r->atk, global, params, n);
}

/* The rule's parameters from the scenario (f before the rule clamps it to a round's size). */
static fl_robust_params params_of(const cfg *c, int threads)
{
    return (fl_robust_params){.f = cfg_robust_f(c),
                              .m = c->aggregation.m,
                              .iters = c->aggregation.iters,
                              .clip = c->aggregation.clip,
                              .noise = c->aggregation.noise,
                              .seed = c->seed,
                              .threads = threads};
}

/* FLTrust's root dataset: aggregation.root_samples of the n_train training samples at most. */
static size_t root_size(const cfg *c, size_t n_train)
{
    return (size_t)c->aggregation.root_samples < n_train ? (size_t)c->aggregation.root_samples
                                                         : n_train;
}

fs_err robust_check_memory(const cfg *c, size_t n_params, int max_updates)
{
    if (!cfg_robust_wanted(c)) return FS_OK;
    const double bytes = (double)max_updates * (double)n_params * sizeof(float);
    if (bytes > c->aggregation.memory_mb * 1048576.0)
        return fs_error(FS_EINPUT,
                        "keeping a round's %d updates of %zu parameters for aggregation.rule %s / "
                        "adversary.attack %s takes %.0f MB, above aggregation.memory_mb = %g "
                        "(raise it or lower rounds.clients_per_round)",
                        max_updates, n_params, c->aggregation.rule, c->adversary.attack,
                        bytes / 1048576.0, c->aggregation.memory_mb);
    return FS_OK;
}

double robust_estimate_bytes(const cfg *c, size_t n_params, uint32_t n_clients, size_t n_train,
                             size_t n_test, int max_updates, int threads)
{
    const fl_robust_rule *rule = fl_robust_find(c->aggregation.rule);
    const int k = atk_parse(c->adversary.attack);
    if (!cfg_robust_wanted(c) || !rule || k < 0) return 0;
    const double np = (double)n_params, cap = max_updates;
    /* setup: the malicious bitmap; the round's updates with their weight, client, flag, kept
     * share and sort slot; the centre; FLTrust's server update and root sample; the backdoor's
     * test samples (at most all of them) */
    double b = n_clients / 8 + 1.0 +
               cap * (np * sizeof(float) + 2 * sizeof(double) + sizeof(uint32_t) + 1 +
                      sizeof(robust_byc)) +
               np * sizeof(double);
    if (rule->needs_ref) {
        const size_t n = root_size(c, n_train);
        b += np * sizeof(float) + (n ? n : 1) * sizeof(uint32_t) + 2 * sizeof(uint32_t);
    }
    if (k == ATK_BACKDOOR) b += (n_test ? n_test : 1) * (double)sizeof(uint32_t);
    /* robust_round_end: the omniscient attack's buffers (attack_updates), freed before the
     * rule runs with its buckets on the round's updates (f clamped as there) */
    const double atk = atk_omniscient((atk_kind)k)
                           ? cap + np * sizeof(float) + atk_craft_bytes((atk_kind)k, n_params)
                           : 0;
    const int bucket = c->aggregation.bucket;
    const int nb = bucket > 1 ? (max_updates + bucket - 1) / bucket : max_updates;
    fl_robust_params p = params_of(c, threads);
    p.f = fl_robust_f(rule, p.f, nb);
    const fl_robust_in in = {max_updates, n_params, NULL, NULL, NULL, NULL, &p};
    const double agg = fl_robust_bucketed_bytes(rule, &in, bucket);
    return b + (atk > agg ? atk : agg);
}

void robust_free(robust_state *r)
{
    if (!r) return;
    free(r->mal);
    free(r->U);
    free(r->w);
    free(r->cl);
    free(r->is_mal);
    free(r->kept);
    free(r->center);
    free(r->ref);
    free(r->byc);
    free(r->asr_idx);
    part_free(&r->root);
    free(r);
}

const char *robust_describe(const robust_state *r)
{
    return r->desc;
}

const fl_poison *robust_poison(const robust_state *r)
{
    return atk_on_data(r->atk.kind) ? &r->poison : NULL;
}

static fs_err setup(robust_state *r, const cfg *c, const dataset *ds, const partition *part,
                    const nn_model *m, int max_updates, int threads)
{
    r->c = c;
    r->ds = ds;
    r->N = part->n_clients;
    r->np = m->n_params;
    r->rule = fl_robust_find(c->aggregation.rule);
    if (!r->rule) return fs_error(FS_EINPUT, "unknown aggregation.rule '%s'", c->aggregation.rule);
    const int k = atk_parse(c->adversary.attack);
    if (k < 0) return fs_error(FS_EINPUT, "unknown adversary.attack '%s'", c->adversary.attack);
    const char *pt = c->adversary.perturbation;
    r->atk = (atk_params){
        .kind = (atk_kind)k,
        .scale = c->adversary.scale > 0 ? c->adversary.scale
                 : k == ATK_SCALING     ? (double)c->rounds.clients_per_round
                                        : 1,
        .sigma = c->adversary.sigma,
        .epsilon = c->adversary.epsilon,
        .z = c->adversary.z,
        .perturbation = strcmp(pt, "std") == 0    ? ATK_PERTURB_STD
                        : strcmp(pt, "sign") == 0 ? ATK_PERTURB_SIGN
                                                  : ATK_PERTURB_UNIT,
        .target = c->adversary.target,
        .poison_frac = c->adversary.poison_fraction,
        .trigger = c->adversary.trigger_size,
        .n_classes = ds->n_classes,
        .norm_bound = c->adversary.norm_bound,
    };
    if (atk_on_data(r->atk.kind) && (ds->task != DS_CLASSIFY || ds->y_len != 1))
        return fs_error(FS_EINPUT,
                        "adversary.attack %s needs a classification dataset; '%s' is not",
                        c->adversary.attack, ds->name);
    if (r->atk.kind == ATK_BACKDOOR && c->adversary.target >= ds->n_classes)
        return fs_error(FS_EINPUT, "adversary.target = %d is not a class of dataset '%s' (0 .. %d)",
                        c->adversary.target, ds->name, ds->n_classes - 1);
    r->rp = params_of(c, threads);
    r->bucket = c->aggregation.bucket;
    /* the malicious clients: a prefix of a permutation of the population */
    const long want = c->adversary.count > 0    ? c->adversary.count
                      : r->atk.kind != ATK_NONE ? lround(c->adversary.fraction * (double)r->N)
                                                : 0;
    r->mal = FS_CALLOC((size_t)r->N / 8 + 1, 1);
    if (!r->mal) return FS_ENOMEM;
    if (want > 0) {
        uint32_t *perm = FS_CALLOC(r->N, sizeof *perm);
        if (!perm) return FS_ENOMEM;
        for (uint32_t i = 0; i < r->N; i++) perm[i] = i;
        rng_t g;
        rng_init(&g, c->seed, RNG_ATTACK, 0, 0);
        for (long i = 0; i < want && i < (long)r->N; i++) { /* partial Fisher-Yates */
            const uint32_t j = (uint32_t)i + (uint32_t)rng_below(&g, r->N - (uint64_t)i);
            const uint32_t t = perm[i];
            perm[i] = perm[j];
            perm[j] = t;
            r->mal[perm[i] >> 3] |= (uint8_t)(1u << (perm[i] & 7));
            r->n_mal++;
        }
        free(perm);
    }
    /* the round's updates */
    fs_err e = robust_check_memory(c, r->np, max_updates);
    if (e) return e;
    r->cap = max_updates;
    r->U = FS_ALIGNED((size_t)r->cap * r->np, sizeof(float));
    r->w = FS_CALLOC((size_t)r->cap, sizeof *r->w);
    r->cl = FS_CALLOC((size_t)r->cap, sizeof *r->cl);
    r->is_mal = FS_CALLOC((size_t)r->cap, 1);
    r->kept = FS_CALLOC((size_t)r->cap, sizeof *r->kept);
    r->byc = FS_CALLOC((size_t)r->cap, sizeof *r->byc);
    r->center = FS_ALIGNED(r->np, sizeof(double));
    if (!r->U || !r->w || !r->cl || !r->is_mal || !r->kept || !r->byc || !r->center)
        return FS_ENOMEM;
    if (r->rule->needs_ref) { /* FLTrust's root dataset: a uniform sample of the training set */
        const size_t n = root_size(c, ds->train.n);
        r->ref = FS_ALIGNED(r->np, sizeof(float));
        r->root.n_clients = 1;
        r->root.n_samples = n;
        r->root.idx = FS_CALLOC(n ? n : 1, sizeof *r->root.idx);
        r->root.off = FS_CALLOC(2, sizeof *r->root.off);
        if (!r->ref || !r->root.idx || !r->root.off) return FS_ENOMEM;
        r->root.off[1] = (uint32_t)n;
        rng_t g;
        rng_init(&g, c->seed, RNG_ROBUST, 2, 0);
        size_t got = 0;
        for (size_t i = 0; i < ds->train.n && got < n; i++) /* selection sampling */
            if ((double)(ds->train.n - i) * rng_uniform(&g) < (double)(n - got))
                r->root.idx[got++] = (uint32_t)i;
    }
    if (r->atk.kind == ATK_BACKDOOR) {
        r->asr_idx = FS_CALLOC(ds->test.n ? ds->test.n : 1, sizeof *r->asr_idx);
        if (!r->asr_idx) return FS_ENOMEM;
        for (size_t i = 0; i < ds->test.n; i++)
            if (ds->test.y[i] != r->atk.target) r->asr_idx[r->asr_n++] = (uint32_t)i;
    }
    r->poison =
        (fl_poison){poison_active, poison_batch,
                    r->atk.kind == ATK_BACKDOOR && r->atk.norm_bound > 0 ? poison_step : NULL, r};
    snprintf(r->desc, sizeof r->desc, "adversary %s: %ld malicious clients; aggregation %s, f %d%s",
             c->adversary.attack, r->n_mal, r->rule->name, r->rp.f,
             r->bucket > 1 ? ", bucketing" : "");
    return FS_OK;
}

fs_err robust_new(const cfg *c, const dataset *ds, const partition *part, const nn_model *m,
                  int max_updates, int threads, robust_state **out)
{
    *out = NULL;
    robust_state *r = FS_CALLOC(1, sizeof *r);
    if (!r) return FS_ENOMEM;
    fs_err e = setup(r, c, ds, part, m, max_updates, threads);
    if (e) {
        robust_free(r);
        return e;
    }
    *out = r;
    return FS_OK;
}

void robust_round_begin(robust_state *r, uint32_t round)
{
    r->round = round;
    r->n = 0;
    r->r_mal = 0;
    r->r_mal_kept = r->r_ben_kept = NAN;
}

fs_err robust_round_add(robust_state *r, const fl_client_result *res, int n)
{
    FS_CHECK(r->n + n <= r->cap);
    for (int k = 0; k < n; k++, r->n++) {
        memcpy(r->U + (size_t)r->n * r->np, res[k].update, r->np * sizeof(float));
        r->w[r->n] = res[k].weight;
        r->cl[r->n] = res[k].client;
        r->is_mal[r->n] = (uint8_t)robust_is_malicious(r, res[k].client);
    }
    return FS_OK;
}

/* The update attacks on the malicious rows. */
static fs_err attack_updates(robust_state *r)
{
    const atk_kind k = r->atk.kind;
    int nm = 0;
    for (int j = 0; j < r->n; j++) nm += r->is_mal[j];
    r->r_mal = nm;
    if (nm == 0 || k == ATK_NONE || k == ATK_LABEL_FLIP) return FS_OK;
    if (!atk_omniscient(k)) {
        for (int j = 0; j < r->n; j++) {
            if (!r->is_mal[j]) continue;
            rng_t g;
            rng_init(&g, r->c->seed, RNG_ATTACK, r->cl[j], r->round);
            atk_own(&r->atk, r->U + (size_t)j * r->np, r->np, &g);
        }
        return FS_OK;
    }
    /* omniscient: from the round's benign updates (the malicious clients' own honest updates
     * when none arrived) */
    uint8_t *ben = malloc((size_t)r->n);
    float *x = FS_ALIGNED(r->np, sizeof(float));
    if (!ben || !x) {
        free(ben), free(x);
        return fs_error(FS_ENOMEM, "out of memory crafting the attack");
    }
    for (int j = 0; j < r->n; j++) ben[j] = !r->is_mal[j];
    fs_err e = atk_craft(&r->atk, r->U, r->n, nm < r->n ? ben : r->is_mal, r->np, r->n, nm, x);
    for (int j = 0; j < r->n && !e; j++)
        if (r->is_mal[j]) memcpy(r->U + (size_t)j * r->np, x, r->np * sizeof(float));
    free(ben), free(x);
    return e;
}

static int cmp_byc(const void *a, const void *b)
{
    const robust_byc *x = a, *y = b;
    return (x->client > y->client) - (x->client < y->client);
}

fs_err robust_round_end(robust_state *r, const fl_round_ctx *ctx, nn_worker *w,
                        const fl_agg *trained, fl_agg *agg)
{
    fs_err e = attack_updates(r);
    if (e || r->n == 0) return e;
    if (r->rule->needs_ref) { /* FLTrust: the server's own update on the root data */
        fl_round_ctx rc = *ctx;
        rc.part = &r->root;
        rc.seed = rng_mix64(ctx->seed ^ 0x464c5472757374ull); /* its own minibatch stream */
        rc.poison = NULL;
        fl_client_result res = {.update = r->ref};
        fl_fedavg_client(&rc, 0, w, &res);
    }
    const int nb = r->bucket > 1 ? (r->n + r->bucket - 1) / r->bucket : r->n;
    fl_robust_params p = r->rp;
    p.round = r->round;
    p.f = fl_robust_f(r->rule, p.f, nb);
    fl_robust_in in = {r->n, r->np, r->U, r->w, r->center, r->ref, &p};
    fl_robust_out out = {agg->sum, 0, r->kept};
    rng_t g;
    rng_init(&g, r->c->seed, RNG_ROBUST, 0, r->round);
    e = fl_robust_bucketed(r->rule, &in, r->bucket, &g, &out);
    if (e) return e;
    agg->wsum = out.wsum;
    agg->count = trained->count;
    agg->loss = trained->loss;
    agg->samples = trained->samples;
    agg->ssum = trained->ssum;
    if (out.wsum > 0)
        for (size_t i = 0; i < r->np; i++) r->center[i] = agg->sum[i] / out.wsum;
    double km = 0, kb = 0;
    for (int j = 0; j < r->n; j++) {
        if (r->is_mal[j])
            km += r->kept[j];
        else
            kb += r->kept[j];
        r->byc[j] = (robust_byc){r->cl[j], (uint32_t)j};
    }
    r->r_mal_kept = r->r_mal ? km / r->r_mal : NAN;
    r->r_ben_kept = r->n > r->r_mal ? kb / (r->n - r->r_mal) : NAN;
    qsort(r->byc, (size_t)r->n, sizeof *r->byc, cmp_byc);
    return FS_OK;
}

void robust_row(const robust_state *r, met_round_row *row)
{
    row->malicious_updates = r->r_mal;
    row->malicious_kept = r->r_mal_kept;
    row->benign_kept = r->r_ben_kept;
}

void robust_events(const robust_state *r, met_client_event *ev, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        ev[i].malicious = robust_is_malicious(r, ev[i].client);
        if ((uint32_t)ev[i].round != r->round || strcmp(ev[i].phase, "upload") != 0 ||
            strcmp(ev[i].outcome, "completed") != 0)
            continue;
        int lo = 0, hi = r->n - 1; /* binary search by client */
        while (lo <= hi) {
            const int mid = (lo + hi) / 2;
            const uint32_t cm = r->byc[mid].client;
            if (cm == ev[i].client) {
                ev[i].kept = r->kept[r->byc[mid].j];
                break;
            }
            if (cm < ev[i].client)
                lo = mid + 1;
            else
                hi = mid - 1;
        }
    }
}

double robust_asr(robust_state *r, nn_worker *w, const float *params)
{
    if (r->atk.kind != ATK_BACKDOOR || r->asr_n == 0) return NAN;
    double lsum = 0;
    long hits = 0;
    for (size_t start = 0; start < r->asr_n;) {
        const size_t b =
            r->asr_n - start < (size_t)w->max_batch ? r->asr_n - start : (size_t)w->max_batch;
        ds_gather(r->ds, &r->ds->test, r->asr_idx + start, b, nn_input(w), w->y);
        atk_stamp(&r->atk, r->ds, nn_input(w), b);
        for (size_t s = 0; s < b; s++) w->y[s] = r->atk.target;
        nn_eval_batch(w, params, (int)b, &lsum, &hits);
        start += b;
    }
    return (double)hits / (double)r->asr_n;
}
