/* Personalized evaluation and fairness summaries (see personal.h). */
#include "engine/personal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "config/personal.h"
#include "util/rng.h"

struct pers_state {
    pers_env env;
    int finetune;       /* eval.personalize_steps or _epochs */
    int personal;       /* the algorithm keeps personal models */
    fl_train_cfg ftc;   /* the fine-tuning's local training */
    float *base, *out;  /* (chunk, n_params) personalized models, fine-tuned models */
    int *fresh;         /* (chunk) the client had no state */
    uint32_t *cl;       /* (n) the sample's clients */
    double *loss, *acc; /* (n) personalized results, NaN: not evaluated */
    double *tmp;        /* (n) accuracies for the summaries */
    int n, round;       /* clients; round of the kept results, 0: none */
    int have_pers;
    met_fairness g, p;
    int columns; /* the store has the columns */
};

fs_err pers_layers(const cfg *c, const nn_model *m, fl_params *p)
{
    p->n_personal = 0;
    char buf[CFG_STR];
    snprintf(buf, sizeof buf, "%s", c->algorithm.personal_layers);
    int take[NN_MAX_LAYERS] = {0};
    for (char *save = NULL, *t = strtok_r(buf, ", ", &save); t; t = strtok_r(NULL, ", ", &save)) {
        const int i = nn_model_find_layer(m, t);
        if (i < 0 || !m->layers[i].n_params) {
            char list[512] = "";
            size_t o = 0;
            for (int j = 0; j < m->n_layers && o < sizeof list; j++)
                if (m->layers[j].n_params)
                    o += (size_t)snprintf(list + o, sizeof list - o, "%s%s", o ? ", " : "",
                                          m->layers[j].s.name);
            return fs_error(FS_EINPUT,
                            "algorithm.personal_layers: model '%s' has no layer '%s' with "
                            "parameters (its layers with parameters: %s)",
                            m->name, t, list);
        }
        take[i] = 1;
    }
    for (int i = 0; i < m->n_layers; i++) /* in buffer order, adjacent layers merged */
        if (take[i]) {
            const size_t lo = m->layers[i].p_off, hi = lo + m->layers[i].n_params;
            if (p->n_personal > 0 && p->personal[2 * p->n_personal - 1] == lo)
                p->personal[2 * p->n_personal - 1] = hi;
            else
                p->personal[2 * p->n_personal] = lo, p->personal[2 * p->n_personal + 1] = hi,
                                p->n_personal++;
        }
    return FS_OK;
}

fs_err pers_params(const cfg *c, const nn_model *m, fl_params *p)
{
    p->q = c->algorithm.q;
    p->lambda = c->algorithm.lambda;
    p->head_epochs = c->algorithm.head_epochs;
    p->apfl_alpha = c->algorithm.apfl_alpha;
    p->perfedavg_alpha = c->algorithm.perfedavg_alpha;
    return pers_layers(c, m, p);
}

fs_err pers_eval_sample(uint64_t seed, uint32_t N, int want, uint32_t **out, uint32_t *n_out)
{
    uint32_t *perm = FS_CALLOC(N ? N : 1, sizeof *perm);
    if (!perm) return FS_ENOMEM;
    for (uint32_t i = 0; i < N; i++) perm[i] = i;
    rng_t r;
    rng_init(&r, seed, RNG_EVAL, 0, 0);
    const uint32_t n = want > 0 && (uint32_t)want < N ? (uint32_t)want : want > 0 ? N : 0;
    for (uint32_t i = 0; i < n; i++) { /* partial Fisher-Yates */
        uint32_t j = i + (uint32_t)rng_below(&r, N - i);
        uint32_t t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
    *out = perm;
    *n_out = n;
    return FS_OK;
}

fs_err pers_check_setup(const cfg *c, const nn_model *m, const partition *part, const char *file,
                        cfg_diag *d)
{
    fl_params p;
    fs_err e = pers_layers(c, m, &p);
    if (e) {
        char msg[sizeof d->msg];
        snprintf(msg, sizeof msg, "%s", fs_errmsg());
        cfg_diag_key(d, c, file, "algorithm.personal_layers");
        snprintf(d->msg, sizeof d->msg, "%s", msg);
        snprintf(d->hint, sizeof d->hint,
                 "name layers of the model that have parameters, comma-separated; a layer's "
                 "name is its type and number among layers of that type (docs/models.md)");
        return e;
    }
    if (strcmp(c->algorithm.name, "apfl") == 0 && m->n_layers > 0 && m->layers[0].inplace) {
        cfg_diag_key(d, c, file, "model.layers");
        snprintf(d->msg, sizeof d->msg,
                 "algorithm.name = apfl needs a first layer that keeps its input (layer 1, %s, "
                 "computes in place)",
                 m->layers[0].s.name);
        snprintf(d->hint, sizeof d->hint,
                 "APFL's second gradient pass reuses the minibatch in the input buffer: start "
                 "the model with a layer that has parameters or a flatten");
        return FS_EINPUT;
    }
    if (!part || !cfg_personal_finetune(c) || !part->split) return FS_OK;
    uint32_t *perm, n;
    if ((e = pers_eval_sample(c->seed, part->n_clients, c->eval.clients, &perm, &n))) return e;
    for (uint32_t i = 0; i < n && !e; i++) {
        const uint32_t cl = perm[i];
        if (part_test_size(part, cl) > 0 && part_size(part, cl) > 0) continue;
        e = FS_EINPUT;
        cfg_diag_key(d, c, file,
                     c->eval.personalize_steps > 0 ? "eval.personalize_steps"
                                                   : "eval.personalize_epochs");
        snprintf(d->msg, sizeof d->msg,
                 "client %u of the eval.clients sample has %u local test and %u training "
                 "samples: it cannot be fine-tuned and judged",
                 cl, part_test_size(part, cl), part_size(part, cl));
        snprintf(d->hint, sizeof d->hint,
                 "a larger partition.local_test_fraction or partition.min_size, or fewer "
                 "eval.clients");
    }
    free(perm);
    return e;
}

static int cmp_double(const void *a, const void *b)
{
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

void pers_fairness(const double *acc, int n, met_fairness *f)
{
    f->mean = f->worst10 = f->best10 = f->std = f->jain = NAN;
    if (n <= 0) return;
    double *s = malloc((size_t)n * sizeof *s);
    FS_CHECK(s);
    memcpy(s, acc, (size_t)n * sizeof *s);
    qsort(s, (size_t)n, sizeof *s, cmp_double);
    double sum = 0, sq = 0;
    for (int i = 0; i < n; i++) sum += s[i], sq += s[i] * s[i];
    f->mean = sum / n;
    double var = 0;
    for (int i = 0; i < n; i++) var += (s[i] - f->mean) * (s[i] - f->mean);
    f->std = sqrt(var / n);
    const int k = (n + 9) / 10;
    double lo = 0, hi = 0;
    for (int i = 0; i < k; i++) lo += s[i], hi += s[n - 1 - i];
    f->worst10 = lo / k;
    f->best10 = hi / k;
    f->jain = sq > 0 ? sum * sum / (n * sq) : 1;
    free(s);
}

fs_err pers_new(const cfg *c, const pers_env *env, pers_state **out)
{
    *out = NULL;
    if (c->eval.clients <= 0) return FS_OK;
    pers_state *ps = FS_CALLOC(1, sizeof *ps);
    if (!ps) return FS_ENOMEM;
    ps->env = *env;
    /* two models per client personalized at once: two per thread is enough for the dynamic
     * schedule and keeps the buffers small next to the training chunk */
    if (ps->env.chunk > 2 * env->threads) ps->env.chunk = 2 * env->threads;
    ps->finetune = cfg_personal_finetune(c);
    ps->personal = env->algo->personal_model != NULL;
    ps->ftc = *env->tc;
    ps->ftc.steps = c->eval.personalize_steps;
    ps->ftc.epochs = c->eval.personalize_epochs;
    if (c->eval.personalize_lr > 0)
        ps->ftc.sgd.lr = c->eval.personalize_lr;
    else if (strcmp(env->algo->name, "perfedavg") == 0) /* its personalization step */
        ps->ftc.sgd.lr = env->p->perfedavg_alpha;
    uint32_t n;
    fs_err e = pers_eval_sample(c->seed, env->part->n_clients, c->eval.clients, &ps->cl, &n);
    ps->n = (int)n;
    for (uint32_t i = 0; i < n && !e && ps->finetune; i++) /* checked by validate for files */
        if (!part_test_size(env->part, ps->cl[i]) || !part_size(env->part, ps->cl[i]))
            e = fs_error(FS_EINPUT,
                         "eval.personalize_steps/_epochs: client %u of the eval.clients sample has "
                         "%u local test and %u training samples (raise "
                         "partition.local_test_fraction)",
                         ps->cl[i], part_test_size(env->part, ps->cl[i]),
                         part_size(env->part, ps->cl[i]));
    const size_t np = env->m->n_params, ch = (size_t)ps->env.chunk;
    if (!e && (ps->finetune || ps->personal)) {
        ps->base = FS_ALIGNED(ch * np, sizeof(float));
        ps->out = FS_ALIGNED(ch * np, sizeof(float));
        ps->fresh = FS_CALLOC(ch, sizeof *ps->fresh);
        if (!ps->base || !ps->out || !ps->fresh) e = FS_ENOMEM;
    }
    ps->loss = FS_CALLOC(n ? n : 1, sizeof *ps->loss);
    ps->acc = FS_CALLOC(n ? n : 1, sizeof *ps->acc);
    ps->tmp = FS_CALLOC(n ? n : 1, sizeof *ps->tmp);
    if (!e && (!ps->loss || !ps->acc || !ps->tmp)) e = FS_ENOMEM;
    if (e) {
        pers_free(ps);
        return e;
    }
    *out = ps;
    return FS_OK;
}

double pers_estimate_bytes(const cfg *c, const fl_algorithm *a, size_t n_params, uint32_t n_clients,
                           int chunk, int threads)
{
    if (c->eval.clients <= 0) return 0;
    const double ch = chunk > 2 * threads ? 2 * threads : chunk; /* as pers_new caps it */
    const uint32_t want = (uint32_t)c->eval.clients, n = want < n_clients ? want : n_clients;
    double b = (n_clients ? n_clients : 1) * (double)sizeof(uint32_t) + /* the sample */
               3.0 * (n ? n : 1) * sizeof(double);                      /* loss, acc, tmp */
    if (cfg_personal_finetune(c) || (a && a->personal_model))
        b += ch * (2.0 * (double)n_params * sizeof(float) + sizeof(int)); /* base, out, fresh */
    return b;
}

void pers_free(pers_state *ps)
{
    if (!ps) return;
    free(ps->base);
    free(ps->out);
    free(ps->fresh);
    free(ps->cl);
    free(ps->loss);
    free(ps->acc);
    free(ps->tmp);
    free(ps);
}

/* Client k of a chunk: its personalized model in base (k), fine-tuned into out (k), evaluated on
 * its local test split (else its training samples, as the global model's evaluation). */
static void pers_client(pers_state *ps, nn_worker *w, uint32_t cl, int round, float *base,
                        float *out, double *loss, double *acc)
{
    const pers_env *v = &ps->env;
    const float *model = base;
    if (ps->finetune) {
        fl_round_ctx ctx = {
            v->m, v->ds, v->part, base, &ps->ftc, fl_personal_seed(v->seed, 0), (uint32_t)round,
            v->p, NULL,  NULL};
        long steps;
        w->opt_resume = 0;
        fl_local_train_post(&ctx, cl, w, out, NULL, NULL, NULL, &steps);
        model = out;
    }
    const int local = v->part->split != NULL;
    const uint32_t n = local ? part_test_size(v->part, cl) : part_size(v->part, cl);
    const uint32_t *idx = local ? part_test_samples(v->part, cl) : part_samples(v->part, cl);
    double lsum = 0;
    long hits = 0;
    fl_evaluate_client(w, model, v->ds, &v->ds->train, v->part, cl, idx, n, &lsum, &hits);
    *loss = n ? lsum / n : NAN;
    *acc = n ? (double)hits / ((double)n * v->m->y_len) : NAN;
}

fs_err pers_eval(pers_state *ps, int round, const float *global, const met_client_eval *cev, int n,
                 fl_cstate *cs)
{
    FS_CHECK(n == ps->n);
    int m = 0;
    for (int i = 0; i < n; i++)
        if (cev[i].n > 0) ps->tmp[m++] = cev[i].acc;
    pers_fairness(ps->tmp, m, &ps->g);
    ps->round = round;
    ps->have_pers = ps->finetune || ps->personal;
    if (!ps->have_pers) return FS_OK;
    const pers_env *v = &ps->env;
    const size_t np = v->m->n_params;
    fs_err e = FS_OK;
    for (int start = 0; start < n && !e; start += v->chunk) {
        const int c = n - start < v->chunk ? n - start : v->chunk;
        for (int k = 0; k < c && !e; k++) { /* serially: the store is not thread-safe */
            float *b = ps->base + (size_t)k * np, *o = ps->out + (size_t)k * np;
            if (ps->personal && cs) { /* the stored state (packed: FedPer, FedRep) in b, its
                                       * n_params layout in o, the personal model in b */
                int existed = 0;
                e = fl_cstate_get(cs, ps->cl[start + k], b, &existed);
                fl_state_unpack(v->algo, v->p, np, b, o);
                v->algo->personal_model(v->p, np, global, o, !existed, b);
            } else {
                memcpy(b, global, np * sizeof(float));
            }
        }
        if (e) break;
#ifdef _OPENMP
#pragma omp parallel for schedule(dynamic, 1) num_threads(v->threads)
#endif
        for (int k = 0; k < c; k++) {
            int t = 0;
#ifdef _OPENMP
            t = omp_get_thread_num();
#endif
            pers_client(ps, &v->workers[t], ps->cl[start + k], round, ps->base + (size_t)k * np,
                        ps->out + (size_t)k * np, &ps->loss[start + k], &ps->acc[start + k]);
        }
        if ((e = fs_stopped())) break;
    }
    m = 0;
    for (int i = 0; i < n; i++)
        if (!isnan(ps->acc[i])) ps->tmp[m++] = ps->acc[i];
    pers_fairness(ps->tmp, m, &ps->p);
    return e;
}

fs_err pers_write(pers_state *ps, met_store *st, int round)
{
    if (ps->round != round) return FS_OK;
    fs_err e = FS_OK;
    if (!ps->columns && !(e = met_pers_columns(st))) ps->columns = 1;
    if (!e) e = met_pers_round(st, round, &ps->g, ps->have_pers ? &ps->p : NULL);
    for (int i = 0; i < ps->n && !e && ps->have_pers; i++)
        e = met_pers_client(st, round, ps->cl[i], ps->loss[i], ps->acc[i]);
    ps->round = 0;
    return e;
}
