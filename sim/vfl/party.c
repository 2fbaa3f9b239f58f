/* Parties, feature groups, sample IDs and their alignment (see party.h). */
#include "vfl/party.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/vertical.h"
#include "crypto/psi.h"
#include "util/rng.h"

#define RANGES_MAX 64

static fs_err vdiag(cfg_diag *d, const char *hint, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static fs_err vdiag(cfg_diag *d, const char *hint, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(d->msg, sizeof d->msg, fmt, ap);
    va_end(ap);
    snprintf(d->hint, sizeof d->hint, "%s", hint);
    if (d->line > 0) return fs_error(FS_EINPUT, "%s:%d:%d: %s", d->file, d->line, d->col, d->msg);
    return fs_error(FS_EINPUT, "%s: %s", d->file, d->msg);
}

/* A message without a position (data problems that no one key causes). */
static fs_err vmsg(cfg_diag *d, const char *file, const char *hint, const char *msg)
{
    memset(d, 0, sizeof *d);
    snprintf(d->file, sizeof d->file, "%s", file);
    return vdiag(d, hint, "%s", msg);
}

void vfl_data_free(vfl_data *v)
{
    for (int i = 0; i < v->n; i++) {
        free(v->p[i].feat);
        free(v->p[i].ids);
        free(v->p[i].xtr);
        free(v->p[i].xte);
    }
    free(v->ytr);
    free(v->yte);
    memset(v, 0, sizeof *v);
}

/* Expand ranges into a list of indices; out of [0, lim) is an error at the field. */
static fs_err expand(const char *spec, int lim, int **out, int *n, const cfg *c, const char *file,
                     int party, int field, const char *what, cfg_diag *d)
{
    int lo[RANGES_MAX], hi[RANGES_MAX], m;
    *out = NULL;
    *n = 0;
    if (!spec[0]) { /* a pixel axis left out: all of it */
        lo[0] = 0;
        hi[0] = lim - 1;
        m = 1;
    } else if (cfg_ranges_parse(spec, lo, hi, RANGES_MAX, &m) != FS_OK) {
        return fs_error(FS_EINTERNAL, "ranges '%s' were not normalised", spec);
    }
    size_t total = 0;
    for (int r = 0; r < m; r++) {
        if (hi[r] >= lim) {
            cfg_vertical_at(d, c, file, party, field);
            char h[160];
            snprintf(h, sizeof h, "the dataset has %d %s, indices 0-%d", lim, what, lim - 1);
            return vdiag(d, h, "vertical.parties[%d].%s names %s %d, beyond the dataset's %d",
                         party,
                         field == CFG_PF_COLUMNS ? "columns"
                         : field == CFG_PF_ROWS  ? "rows"
                                                 : "cols",
                         field == CFG_PF_COLUMNS ? "feature"
                         : field == CFG_PF_ROWS  ? "row"
                                                 : "column",
                         hi[r], lim);
        }
        total += (size_t)(hi[r] - lo[r] + 1);
    }
    int *v = malloc(total * sizeof *v);
    if (!v) return fs_error(FS_ENOMEM, "out of memory");
    size_t k = 0;
    for (int r = 0; r < m; r++)
        for (int i = lo[r]; i <= hi[r]; i++) v[k++] = i;
    *out = v;
    *n = (int)total;
    return FS_OK;
}

/* Party i's feature indices (columns, or every channel of its pixel block). */
static fs_err party_features(const cfg *c, const dataset *ds, const char *file, int i, vfl_party *p,
                             cfg_diag *d)
{
    const cfg_party *cp = &c->vertical.parties[i];
    const int C = ds->shape[0], H = ds->shape[1], W = ds->shape[2];
    if (cp->columns[0]) {
        int *idx, n;
        fs_err e =
            expand(cp->columns, (int)ds->feat, &idx, &n, c, file, i, CFG_PF_COLUMNS, "features", d);
        if (e) return e;
        p->feat = malloc((size_t)n * sizeof *p->feat);
        if (!p->feat) {
            free(idx);
            return fs_error(FS_ENOMEM, "out of memory");
        }
        for (int k = 0; k < n; k++) p->feat[k] = (uint32_t)idx[k];
        free(idx);
        p->n_feat = n;
        p->in[0] = p->in[1] = 1;
        p->in[2] = n;
        return FS_OK;
    }
    int *rows, *cols, nr, nc;
    fs_err e = expand(cp->rows, H, &rows, &nr, c, file, i, CFG_PF_ROWS, "pixel rows", d);
    if (e) return e;
    e = expand(cp->cols, W, &cols, &nc, c, file, i, CFG_PF_COLS, "pixel columns", d);
    if (e) {
        free(rows);
        return e;
    }
    p->n_feat = C * nr * nc;
    p->feat = malloc((size_t)p->n_feat * sizeof *p->feat);
    if (p->feat) {
        size_t k = 0;
        for (int ch = 0; ch < C; ch++)
            for (int r = 0; r < nr; r++)
                for (int q = 0; q < nc; q++)
                    p->feat[k++] = (uint32_t)(((size_t)ch * H + (size_t)rows[r]) * W + cols[q]);
    }
    free(rows);
    free(cols);
    if (!p->feat) return fs_error(FS_ENOMEM, "out of memory");
    p->in[0] = C;
    p->in[1] = nr;
    p->in[2] = nc;
    return FS_OK;
}

fs_err vfl_parties_setup(const cfg *c, const dataset *ds, const char *file, vfl_data *v,
                         cfg_diag *d)
{
    memset(v, 0, sizeof *v);
    memset(d, 0, sizeof *d);
    v->active = v->coord = -1;
    const int lr = strcmp(c->vertical.algorithm, "hetero_lr") == 0;
    if (ds->task != DS_CLASSIFY || ds->lazy)
        return vmsg(d, file, "use a classification dataset (docs/datasets.md)",
                    "vertical learning needs a classification dataset held in memory");
    if (lr && ds->n_classes != 2) {
        char m[160];
        snprintf(m, sizeof m, "vertical.algorithm = hetero_lr needs 2 classes; '%s' has %d",
                 ds->name, ds->n_classes);
        return vmsg(d, file, "use vertical.algorithm: splitnn for more classes", m);
    }
    v->n_classes = ds->n_classes;
    int *owner = malloc(ds->feat * sizeof *owner);
    if (!owner) return fs_error(FS_ENOMEM, "out of memory");
    for (size_t f = 0; f < ds->feat; f++) owner[f] = -1;
    fs_err e = FS_OK;
    for (int i = 0; i < c->vertical.n_parties && !e; i++) {
        const cfg_party *cp = &c->vertical.parties[i];
        vfl_party *p = &v->p[v->n++];
        snprintf(p->name, sizeof p->name, "%s", cp->name);
        p->cfg_index = i;
        p->role = strcmp(cp->role, "active") == 0        ? VFL_ACTIVE
                  : strcmp(cp->role, "coordinator") == 0 ? VFL_COORD
                                                         : VFL_PASSIVE;
        if (p->role == VFL_ACTIVE) v->active = i;
        if (p->role == VFL_COORD) {
            v->coord = i;
            continue;
        }
        if ((e = party_features(c, ds, file, i, p, d))) break;
        for (int k = 0; k < p->n_feat && !e; k++) {
            const uint32_t f = p->feat[k];
            if (owner[f] < 0) {
                owner[f] = i;
                continue;
            }
            cfg_vertical_at(d, c, file, i,
                            cp->columns[0] ? CFG_PF_COLUMNS
                            : cp->rows[0]  ? CFG_PF_ROWS
                                           : CFG_PF_COLS);
            char h[160];
            snprintf(h, sizeof h,
                     "every feature belongs to exactly one party (pixel (c, r, w) is "
                     "feature c*H*W + r*W + w)");
            e = vdiag(d, h, "feature %u of party '%s' also belongs to party '%s'", f, p->name,
                      v->p[owner[f]].name);
        }
    }
    for (size_t f = 0; f < ds->feat && !e; f++) {
        if (owner[f] >= 0) continue;
        size_t g = f;
        while (g + 1 < ds->feat && owner[g + 1] < 0) g++;
        cfg_vertical_at_list(d, c, file);
        char h[200];
        snprintf(h, sizeof h,
                 "give them to a party, e.g. columns: \"%zu-%zu\" (every feature of "
                 "the data belongs to exactly one party)",
                 f, g);
        if (g == f)
            e = vdiag(d, h, "feature %zu of the %zu of '%s' belongs to no party", f, ds->feat,
                      ds->name);
        else
            e = vdiag(d, h, "features %zu-%zu of the %zu of '%s' belong to no party", f, g,
                      ds->feat, ds->name);
    }
    free(owner);
    if (e) return e;
    if (lr && strcmp(c->vertical.encryption, "paillier") == 0 && v->coord < 0) {
        vfl_party *p = &v->p[v->n];
        snprintf(p->name, sizeof p->name, "coordinator");
        p->role = VFL_COORD;
        p->cfg_index = -1;
        v->coord = v->n++;
    }
    /* sample IDs: each dataset sample with probability coverage, then the IDs only it has */
    const size_t N = ds->train.n + ds->test.n;
    for (int i = 0; i < v->n; i++) {
        vfl_party *p = &v->p[i];
        if (p->role == VFL_COORD) continue;
        const cfg_party *cp = &c->vertical.parties[p->cfg_index];
        p->ids = malloc((N + (size_t)cp->unique_ids + 1) * sizeof *p->ids);
        if (!p->ids) return fs_error(FS_ENOMEM, "out of memory");
        rng_t r;
        rng_init(&r, c->seed, RNG_VFL_DATA, (uint64_t)i, 1);
        for (size_t s = 0; s < N; s++)
            if (cp->coverage >= 1 || rng_uniform(&r) < cp->coverage) p->ids[p->n_ids++] = s;
        for (int j = 0; j < cp->unique_ids; j++)
            p->ids[p->n_ids++] = VFL_UNIQUE_BASE + ((uint64_t)i << 32) + (uint64_t)j;
    }
    return FS_OK;
}

void vfl_party_device(const cfg *c, const vfl_data *v, int i, vclk_party *out)
{
    const int ci = v->p[i].cfg_index;
    const cfg_party *cp = ci >= 0 ? &c->vertical.parties[ci] : NULL;
    out->flops = cp && cp->flops > 0 ? cp->flops : c->devices.flops.median;
    out->up_bps = cp && cp->up_bps > 0 ? cp->up_bps : c->network.up_bps.median;
    out->down_bps = cp && cp->down_bps > 0 ? cp->down_bps : c->network.down_bps.median;
    out->latency_s = cp && cp->latency_s >= 0 ? cp->latency_s : c->network.latency_s.median;
    out->dropout = cp ? cp->dropout : 0;
    out->rejoin_s = cp ? cp->rejoin_s : 30;
    out->straggler_p = cp ? cp->straggler_p : 0;
    out->straggler_factor = cp ? cp->straggler_factor : 1;
}

fs_err vfl_crand(const cfg *c, int party, uint64_t purpose, cr_src *s)
{
    if (strcmp(c->vertical.randomness, "keyed") == 0)
        return cr_init_keyed(s, c->seed, (uint64_t)party, purpose);
    return cr_init_system(s);
}

static int cmp_u64(const void *a, const void *b)
{
    const uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* Record one pairwise PSI run (psi.h's message flow) on the clock. */
static void psi_charge(vclk *k, int a, int b, const psi_result *res, size_t na, size_t nb)
{
    const psi_cost *ca = &res->cost[0], *cb = &res->cost[1];
    const double h = vfl_he_cost(VFL_PSI_HASH, 0, 1), s = vfl_he_cost(VFL_PSI_SMUL, 0, 1);
    const double a1 = PSI_HEADER_BYTES + PSI_POINT_BYTES * (double)na;
    const double b1 = PSI_HEADER_BYTES + PSI_POINT_BYTES * (double)nb;
    /* step 1: hash and blind own IDs, exchange */
    vclk_crypto(k, a, (double)ca->hashes * h + (double)na * s);
    vclk_crypto(k, b, (double)cb->hashes * h + (double)nb * s);
    vclk_send(k, a, b, a1);
    vclk_send(k, b, a, b1);
    /* step 2: blind the other's points, send them back */
    vclk_crypto(k, a, (double)(ca->scalarmults > na ? ca->scalarmults - na : 0) * s);
    vclk_crypto(k, b, (double)(cb->scalarmults > nb ? cb->scalarmults - nb : 0) * s);
    vclk_send(k, a, b, b1);
    vclk_send(k, b, a, a1);
}

/* Gather party p's columns of the listed samples (dataset sample ids) into x. */
static fs_err gather(const dataset *ds, const ds_split *s, const uint32_t *rows, size_t n,
                     const vfl_party *p, float *x)
{
    enum { CH = 512 };
    float *buf = malloc((size_t)CH * ds->feat * sizeof *buf);
    int32_t *y = malloc(CH * sizeof *y);
    if (!buf || !y) {
        free(buf);
        free(y);
        return fs_error(FS_ENOMEM, "out of memory gathering party data");
    }
    for (size_t a = 0; a < n; a += CH) {
        const size_t b = n - a < CH ? n - a : CH;
        ds_gather(ds, s, rows + a, b, buf, y);
        for (size_t i = 0; i < b; i++)
            for (int f = 0; f < p->n_feat; f++)
                x[(a + i) * (size_t)p->n_feat + (size_t)f] = buf[i * ds->feat + p->feat[f]];
    }
    free(buf);
    free(y);
    return FS_OK;
}

fs_err vfl_align(const cfg *c, const dataset *ds, const char *file, vfl_data *v, vclk *k,
                 cfg_diag *d)
{
    memset(d, 0, sizeof *d);
    const int A = v->active;
    vfl_party *act = &v->p[A];
    /* the current intersection, held by the active party */
    size_t n_cur = act->n_ids;
    uint64_t *cur = malloc((n_cur ? n_cur : 1) * sizeof *cur);
    if (!cur) return fs_error(FS_ENOMEM, "out of memory");
    memcpy(cur, act->ids, n_cur * sizeof *cur);
    const int psi = strcmp(c->vertical.psi, "true") == 0;
    fs_err e = FS_OK;
    int passives = 0;
    for (int i = 0; i < v->n && !e; i++) {
        const vfl_party *p = &v->p[i];
        if (i == A || p->role == VFL_COORD) continue;
        passives++;
        size_t n_new = 0;
        uint64_t *next = malloc((n_cur ? n_cur : 1) * sizeof *next);
        if (!next) {
            e = fs_error(FS_ENOMEM, "out of memory");
            break;
        }
        if (psi) {
            cr_src ra, rb;
            psi_result res;
            memset(&res, 0, sizeof res);
            if (!(e = vfl_crand(c, A, 16 + (uint64_t)i, &ra)) &&
                !(e = vfl_crand(c, i, 16 + (uint64_t)i, &rb)))
                e = psi_run(cur, n_cur, p->ids, p->n_ids, c->seed ^ (uint64_t)i, &ra, &rb, &res);
            cr_wipe(&ra);
            cr_wipe(&rb);
            if (!e) {
                for (size_t j = 0; j < res.count; j++) next[n_new++] = cur[res.idx_a[j]];
                psi_charge(k, A, i, &res, n_cur, p->n_ids);
            }
            psi_result_free(&res);
        } else {
            uint64_t *theirs = malloc((p->n_ids ? p->n_ids : 1) * sizeof *theirs);
            if (!theirs) {
                free(next);
                e = fs_error(FS_ENOMEM, "out of memory");
                break;
            }
            memcpy(theirs, p->ids, p->n_ids * sizeof *theirs);
            qsort(theirs, p->n_ids, sizeof *theirs, cmp_u64);
            for (size_t j = 0; j < n_cur; j++)
                if (bsearch(&cur[j], theirs, p->n_ids, sizeof *theirs, cmp_u64))
                    next[n_new++] = cur[j];
            free(theirs);
        }
        free(cur);
        cur = next;
        n_cur = n_new;
    }
    /* with several passive parties, the active party tells each the final intersection (as
     * indices into the IDs they share, 4 bytes each) */
    if (!e && psi && passives > 1)
        for (int i = 0; i < v->n; i++)
            if (i != A && v->p[i].role != VFL_COORD) vclk_send(k, A, i, 4.0 * (double)n_cur);
    if (!e && psi) {
        vclk_tally_reset(k);
        e = vclk_step(k, 0, 0, &v->psi_s);
        for (int i = 0; i < k->n; i++) v->psi_bytes += k->tally[i].bytes_sent;
    }
    if (!e && n_cur == 0) {
        char m[256];
        snprintf(m, sizeof m,
                 "the parties have no sample ID in common (the %s intersection is empty): "
                 "nothing to train on",
                 psi ? "PSI" : "ID");
        cfg_vertical_at_list(d, c, file);
        e = vdiag(d,
                  "raise the parties' coverage (each holds that fraction of the dataset's "
                  "samples); unique_ids are IDs nobody else has",
                  "%s", m);
    }
    if (e) {
        free(cur);
        return e;
    }
    /* order by ID (each party knows the IDs of its common samples): training rows, test rows */
    qsort(cur, n_cur, sizeof *cur, cmp_u64);
    const size_t ntr_all = ds->train.n;
    size_t ntr = 0;
    while (ntr < n_cur && cur[ntr] < ntr_all) ntr++;
    v->n_common = n_cur;
    v->n_train = ntr;
    v->n_test = n_cur - ntr;
    uint32_t *rtr = malloc((ntr ? ntr : 1) * sizeof *rtr);
    uint32_t *rte = malloc((v->n_test ? v->n_test : 1) * sizeof *rte);
    v->ytr = malloc((ntr ? ntr : 1) * sizeof *v->ytr);
    v->yte = malloc((v->n_test ? v->n_test : 1) * sizeof *v->yte);
    if (!rtr || !rte || !v->ytr || !v->yte) e = fs_error(FS_ENOMEM, "out of memory");
    for (size_t j = 0; j < n_cur && !e; j++) {
        if (cur[j] >= ntr_all + ds->test.n)
            e = fs_error(FS_EINTERNAL, "an ID only one party has is in the intersection");
        else if (j < ntr)
            rtr[j] = (uint32_t)cur[j];
        else
            rte[j - ntr] = (uint32_t)(cur[j] - ntr_all);
    }
    for (size_t j = 0; j < ntr && !e; j++) v->ytr[j] = ds->train.y[rtr[j]];
    for (size_t j = 0; j < v->n_test && !e; j++) v->yte[j] = ds->test.y[rte[j]];
    for (int i = 0; i < v->n && !e; i++) {
        vfl_party *p = &v->p[i];
        if (p->role == VFL_COORD) continue;
        p->xtr = malloc((ntr ? ntr : 1) * (size_t)p->n_feat * sizeof *p->xtr);
        p->xte = malloc((v->n_test ? v->n_test : 1) * (size_t)p->n_feat * sizeof *p->xte);
        if (!p->xtr || !p->xte) {
            e = fs_error(FS_ENOMEM, "out of memory for party '%s''s data", p->name);
            break;
        }
        if (!(e = gather(ds, &ds->train, rtr, ntr, p, p->xtr)))
            e = gather(ds, &ds->test, rte, v->n_test, p, p->xte);
    }
    if (!e && ntr == 0) {
        cfg_vertical_at_list(d, c, file);
        e = vdiag(d, "raise the parties' coverage",
                  "the parties' common samples include no training sample");
    }
    free(cur);
    free(rtr);
    free(rte);
    return e;
}

fs_err vfl_data_join(const vfl_data *v, vfl_data *out)
{
    memset(out, 0, sizeof *out);
    out->n = 1;
    out->active = 0;
    out->coord = -1;
    out->n_classes = v->n_classes;
    out->n_train = v->n_train;
    out->n_test = v->n_test;
    out->n_common = v->n_common;
    vfl_party *j = &out->p[0];
    snprintf(j->name, sizeof j->name, "joined");
    j->role = VFL_ACTIVE;
    j->cfg_index = v->p[v->active].cfg_index;
    for (int p = 0; p < v->n; p++) j->n_feat += v->p[p].n_feat;
    j->in[0] = j->in[1] = 1;
    j->in[2] = j->n_feat;
    const size_t F = (size_t)j->n_feat, ntr = v->n_train, nte = v->n_test;
    j->feat = malloc(F * sizeof *j->feat);
    j->ids = malloc((v->n_common ? v->n_common : 1) * sizeof *j->ids);
    j->xtr = malloc((ntr ? ntr : 1) * F * sizeof *j->xtr);
    j->xte = malloc((nte ? nte : 1) * F * sizeof *j->xte);
    out->ytr = malloc((ntr ? ntr : 1) * sizeof *out->ytr);
    out->yte = malloc((nte ? nte : 1) * sizeof *out->yte);
    if (!j->feat || !j->ids || !j->xtr || !j->xte || !out->ytr || !out->yte) {
        vfl_data_free(out);
        return fs_error(FS_ENOMEM, "out of memory joining the parties' columns");
    }
    j->n_ids = v->n_common;
    for (size_t i = 0; i < v->n_common; i++) j->ids[i] = i;
    memcpy(out->ytr, v->ytr, ntr * sizeof *out->ytr);
    memcpy(out->yte, v->yte, nte * sizeof *out->yte);
    size_t off = 0;
    for (int p = 0; p < v->n; p++) {
        const vfl_party *q = &v->p[p];
        const size_t Fq = (size_t)q->n_feat;
        if (!Fq) continue;
        memcpy(j->feat + off, q->feat, Fq * sizeof *j->feat);
        for (size_t i = 0; i < ntr; i++)
            memcpy(j->xtr + i * F + off, q->xtr + i * Fq, Fq * sizeof *j->xtr);
        for (size_t i = 0; i < nte; i++)
            memcpy(j->xte + i * F + off, q->xte + i * Fq, Fq * sizeof *j->xte);
        off += Fq;
    }
    return FS_OK;
}
