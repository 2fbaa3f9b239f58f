/* Update compression in the run (see comm.h). */
#include "engine/comm.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "fl/client_state.h"

struct comm_state {
    fl_cmp cmp;
    const nn_model *m;
    int ef;         /* error feedback */
    int chunk;      /* clients per chunk */
    size_t np;      /* parameters (the update's length) */
    size_t nb;      /* bytes of one encoding */
    fl_cstate *res; /* per-client residuals (error feedback), else NULL */
    float *g;       /* (chunk, d) the gathered vector to encode, then the residual */
    float *dec;     /* (chunk, d) decoded */
    uint8_t *buf;   /* (chunk, nb) encodings */
    double *votes;  /* (d) signSGD: sum of the signs of the round */
    double scale_w; /* signSGD: sum_k weight_k scale_k */
    double w;       /* signSGD: sum_k weight_k */
    char desc[160];
};

int comm_wanted(const cfg *c)
{
    return strcmp(c->compression.kind, "none") != 0;
}

fs_err comm_cmp_of(const cfg *c, const nn_model *m, fl_cmp *out)
{
    memset(out, 0, sizeof *out);
    out->kind = fl_cmp_find(c->compression.kind);
    if (!out->kind)
        return fs_error(FS_EINPUT, "unknown compression.kind '%s'", c->compression.kind);
    out->d = m->n_trainable;
    out->k = c->compression.k;
    out->bits = c->compression.bits;
    out->rank = c->compression.rank;
    size_t g = 0; /* offset in the gathered (trainable) vector */
    for (int i = 0; i < m->n_layers; i++) {
        const nn_layer *L = &m->layers[i];
        if (!L->n_params || L->frozen) continue;
        const size_t rows = L->out[0] > 0 ? (size_t)L->out[0] : 0;
        if ((L->s.kind == NN_DENSE || L->s.kind == NN_CONV2D) && rows > 1 && L->w_count > rows &&
            L->w_count % rows == 0 && out->n_blocks < FL_CMP_BLOCKS_MAX)
            out->blocks[out->n_blocks++] = (fl_cmp_block){g, rows, L->w_count / rows};
        g += L->n_params;
    }
    FS_CHECK(g == out->d);
    return FS_OK;
}

fs_err comm_new(const cfg *c, const nn_model *m, int chunk, const char *state_dir, size_t state_cap,
                comm_state **out)
{
    *out = NULL;
    comm_state *s = calloc(1, sizeof *s);
    if (!s) return FS_ENOMEM;
    fs_err e = comm_cmp_of(c, m, &s->cmp);
    if (e) {
        free(s);
        return e;
    }
    s->m = m;
    s->ef = strcmp(c->compression.error_feedback, "true") == 0;
    s->chunk = chunk;
    s->np = m->n_params;
    s->nb = fl_cmp_bytes(&s->cmp);
    const size_t d = s->cmp.d ? s->cmp.d : 1;
    s->g = FS_ALIGNED((size_t)chunk * d, sizeof(float));
    s->dec = FS_ALIGNED((size_t)chunk * d, sizeof(float));
    s->buf = FS_CALLOC((size_t)chunk * s->nb + 1, 1);
    if (s->cmp.kind->vote) s->votes = FS_ALIGNED(d, sizeof(double));
    if (!s->g || !s->dec || !s->buf || (s->cmp.kind->vote && !s->votes)) e = FS_ENOMEM;
    if (!e && s->ef) e = fl_cstate_new(&s->res, s->cmp.d, state_cap, state_dir);
    if (e) {
        comm_free(s);
        return e;
    }
    const double dense = 4.0 * (double)s->cmp.d;
    snprintf(s->desc, sizeof s->desc, "compression %s (%s)%s: %zu bytes per update, %.1fx smaller",
             s->cmp.kind->name, s->cmp.kind->cite, s->ef ? " with error feedback" : "", s->nb,
             s->nb ? dense / (double)s->nb : 0);
    *out = s;
    return FS_OK;
}

void comm_free(comm_state *s)
{
    if (!s) return;
    fl_cstate_free(s->res);
    free(s->g);
    free(s->dec);
    free(s->buf);
    free(s->votes);
    free(s);
}

void comm_estimate_bytes(const cfg *c, const nn_model *m, int chunk, int threads, size_t state_cap,
                         uint32_t n_clients, double *buffers, double *residuals)
{
    *buffers = *residuals = 0;
    fl_cmp cmp;
    if (!comm_wanted(c) || comm_cmp_of(c, m, &cmp)) {
        fs_error_clear();
        return;
    }
    const double d = (double)(cmp.d ? cmp.d : 1), enc = threads < chunk ? threads : chunk;
    *buffers = 2.0 * chunk * d * sizeof(float) + (chunk * (double)fl_cmp_bytes(&cmp) + 1) +
               (cmp.kind->vote ? d * sizeof(double) : 0) + enc * (double)fl_cmp_scratch(&cmp);
    if (strcmp(c->compression.error_feedback, "true") != 0 || !cmp.d) return;
    /* fl_cstate_new's slots: state_cap / vector bytes, at least 1; 0 means no cap */
    const size_t vb = cmp.d * sizeof(float);
    size_t slots = state_cap > 0 ? state_cap / vb : SIZE_MAX;
    if (slots < 1) slots = 1;
    *residuals = (double)(slots < n_clients ? slots : n_clients) * (double)vb;
}

double comm_upload_bytes(const comm_state *s)
{
    return (double)s->nb;
}

void comm_state_bytes(const comm_state *s, double *mem, double *disk)
{
    fl_cstate_stats st = {0};
    if (s && s->res) fl_cstate_stats_get(s->res, &st);
    *mem = (double)st.mem_bytes;
    *disk = (double)st.disk_bytes;
}

void comm_round_begin(comm_state *s)
{
    if (s->votes) memset(s->votes, 0, s->cmp.d * sizeof *s->votes);
    s->scale_w = s->w = 0;
}

/* the trainable coordinates of v (n_params) into g (d), and back */
static void gather(const nn_model *m, const float *v, float *g)
{
    for (int r = 0; r < m->n_ranges; r++) {
        const size_t lo = m->ranges[2 * r], hi = m->ranges[2 * r + 1];
        memcpy(g, v + lo, (hi - lo) * sizeof *g);
        g += hi - lo;
    }
}

static void scatter(const nn_model *m, const float *g, float *v)
{
    for (int r = 0; r < m->n_ranges; r++) {
        const size_t lo = m->ranges[2 * r], hi = m->ranges[2 * r + 1];
        memcpy(v + lo, g, (hi - lo) * sizeof *g);
        g += hi - lo;
    }
}

fs_err comm_round_add(comm_state *s, fl_client_result *res, int n, uint32_t round, uint64_t seed,
                      int threads, fl_agg *agg)
{
    FS_CHECK(n <= s->chunk);
    const size_t d = s->cmp.d;
    fs_err e = FS_OK;
    for (int k = 0; k < n && !e; k++) /* residuals, serially (the store is not thread-safe) */
        if (s->ef) e = fl_cstate_get(s->res, res[k].client, s->g + (size_t)k * d, NULL);
    if (e) return e;
#ifdef _OPENMP
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads)
#endif
    for (int k = 0; k < n; k++) {
        float *g = s->g + (size_t)k * d, *dec = s->dec + (size_t)k * d;
        uint8_t *buf = s->buf + (size_t)k * s->nb;
        gather(s->m, res[k].update, dec);
        for (size_t i = 0; i < d; i++) g[i] = s->ef ? g[i] + dec[i] : dec[i];
        rng_t r;
        rng_init(&r, seed, RNG_COMPRESS, res[k].client, round);
        const size_t w = s->cmp.kind->encode(&s->cmp, g, &r, buf);
        FS_CHECK(w == s->nb);
        s->cmp.kind->decode(&s->cmp, buf, dec);
        for (size_t i = 0; i < d; i++) g[i] -= dec[i]; /* the residual: what was not sent */
        scatter(s->m, dec, res[k].update);
    }
    for (int k = 0; k < n && !e; k++)
        if (s->ef) e = fl_cstate_put(s->res, res[k].client, s->g + (size_t)k * d);
    if (e) return e;
    if (s->votes)
        for (int k = 0; k < n; k++) { /* signSGD: every client votes with the sign it sent */
            const float *dec = s->dec + (size_t)k * d;
            for (size_t i = 0; i < d; i++) s->votes[i] += dec[i] > 0 ? 1.0 : -1.0;
            s->scale_w += res[k].weight * (d ? fabs((double)dec[0]) : 0);
            s->w += res[k].weight;
        }
    if (agg) fl_agg_add(agg, res, n);
    return FS_OK;
}

void comm_round_end(comm_state *s, fl_agg *agg)
{
    if (!s->votes || agg->count == 0 || !(s->w > 0)) return;
    /* majority vote (Bernstein et al. 2019): sign of the vote, ties 0, times the mean scale;
     * agg->sum / agg->wsum is then that vector, so every server rule applies to it */
    const double mag = s->scale_w / s->w * agg->wsum;
    const nn_model *m = s->m;
    const double *v = s->votes;
    for (int r = 0; r < m->n_ranges; r++)
        for (size_t i = m->ranges[2 * r]; i < m->ranges[2 * r + 1]; i++, v++)
            agg->sum[i] = *v > 0 ? mag : *v < 0 ? -mag : 0;
}

fs_err comm_residual(comm_state *s, uint32_t client, float *dst)
{
    if (!s->res) return fs_error(FS_EINPUT, "compression without error feedback keeps no residual");
    return fl_cstate_get(s->res, client, dst, NULL);
}

const char *comm_describe(const comm_state *s)
{
    return s->desc;
}
