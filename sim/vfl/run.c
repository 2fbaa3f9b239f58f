/* The vertical run driver (see vfl.h). The algorithms sit behind a small table of functions
 * (step, loss, predict, free); the driver owns the data, the clock, the keys and the record. */
#include "vfl/vfl.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "config/sweep.h"
#include "crypto/paillier.h"
#include "data/dataset.h"
#include "store/store.h"
#include "store/store_vfl.h"
#include "util/log.h"
#include "util/rng.h"
#include "vfl/auc.h"
#include "vfl/clock.h"
#include "vfl/hetero_lr.h"
#include "vfl/party.h"
#include "vfl/splitnn.h"

void openblas_set_num_threads(int num_threads);

/* One vertical algorithm behind the driver. */
typedef struct algo_ops {
    fs_err (*step)(void *m, const uint32_t *rows, int B, vclk *k, uint64_t step);
    double (*take_loss)(void *m);
    fs_err (*predict)(void *m, int test, float *prob); /* (n, K) class probabilities */
    void (*free)(void *m);
} algo_ops;

/* ---- hetero_lr behind the table ------------------------------------------------------------ */

typedef struct lr_box {
    vfl_lr m;
    he_key *key;
} lr_box;

static fs_err lr_step(void *p, const uint32_t *rows, int B, vclk *k, uint64_t step)
{
    (void)step;
    return vfl_lr_step(&((lr_box *)p)->m, rows, B, k);
}

static double lr_loss(void *p)
{
    return vfl_lr_take_loss(&((lr_box *)p)->m);
}

static fs_err lr_predict(void *p, int test, float *prob)
{
    lr_box *b = p;
    const size_t n = test ? b->m.v->n_test : b->m.v->n_train;
    double *u = malloc((n ? n : 1) * sizeof *u);
    if (!u) return fs_error(FS_ENOMEM, "out of memory");
    vfl_lr_scores(&b->m, test, u);
    for (size_t i = 0; i < n; i++) {
        const double p1 = 1.0 / (1.0 + exp(-u[i]));
        prob[2 * i] = (float)(1.0 - p1);
        prob[2 * i + 1] = (float)p1;
    }
    free(u);
    return FS_OK;
}

static void lr_free(void *p)
{
    lr_box *b = p;
    vfl_lr_free(&b->m);
    he_key_free(b->key);
    free(b);
}

static const algo_ops lr_ops = {lr_step, lr_loss, lr_predict, lr_free};

/* ---- splitnn behind the table --------------------------------------------------------------- */

static fs_err snn_step(void *p, const uint32_t *rows, int B, vclk *k, uint64_t step)
{
    return vfl_snn_step(p, rows, B, k, step);
}

static double snn_loss(void *p)
{
    return vfl_snn_take_loss(p);
}

static fs_err snn_predict(void *p, int test, float *prob)
{
    return vfl_snn_predict(p, test, prob);
}

static void snn_free(void *p)
{
    vfl_snn_free(p);
    free(p);
}

static const algo_ops snn_ops = {snn_step, snn_loss, snn_predict, snn_free};

/* ---- the run -----------------------------------------------------------------------------------
 */

typedef struct vrun {
    const cfg *c;
    dataset ds;
    vfl_data v;
    vclk k;
    const algo_ops *ops;
    void *m;
    met_store store;
    int store_open;
    float *prob;
    int K;
    char desc[256];
    long n_params;
    long dropped, late; /* party dropouts and straggling party-steps, the whole run */
    cfg central[1];     /* vertical.central: the scenario without PSI and encryption */
} vrun;

static void vrun_free(vrun *r)
{
    if (r->m) r->ops->free(r->m);
    free(r->prob);
    vclk_free(&r->k);
    vfl_data_free(&r->v);
    ds_free(&r->ds);
    if (r->store_open) met_close(&r->store);
}

/* Loss, accuracy and AUC of the model on the common test rows (NaN without any). */
static fs_err evaluate(vrun *r, double *loss, double *acc, double *auc)
{
    *loss = *acc = *auc = NAN;
    const size_t n = r->v.n_test;
    if (!n) return FS_OK;
    fs_err e = r->ops->predict(r->m, 1, r->prob);
    if (e) return e;
    const int K = r->K;
    double l = 0;
    long hits = 0;
    for (size_t i = 0; i < n; i++) {
        const float *p = r->prob + i * (size_t)K;
        int best = 0;
        for (int c = 1; c < K; c++)
            if (p[c] > p[best]) best = c;
        hits += best == r->v.yte[i];
        l -= log(fmax((double)p[r->v.yte[i]], 1e-12));
    }
    *loss = l / (double)n;
    *acc = (double)hits / (double)n;
    if (K == 2) {
        double *s = malloc(n * sizeof *s);
        uint8_t *pos = malloc(n);
        if (!s || !pos) {
            free(s);
            free(pos);
            return fs_error(FS_ENOMEM, "out of memory");
        }
        for (size_t i = 0; i < n; i++) {
            s[i] = r->prob[2 * i + 1];
            pos[i] = r->v.yte[i] == 1;
        }
        *auc = vfl_auc(s, pos, n, NULL);
        free(s);
        free(pos);
    } else {
        *auc = vfl_auc_ovr(r->prob, r->v.yte, n, K);
    }
    return FS_OK;
}

/* The rounds row `round` and its party rows from the clock's tallies, in one transaction. */
static fs_err write_row(vrun *r, int round, long steps, double wall, double train_loss, int eval,
                        double *acc_out, double *loss_out, double *auc_out)
{
    met_round_row row;
    memset(&row, 0, sizeof row);
    row.round = round;
    row.vtime_s = r->k.now;
    row.wall_s = wall;
    int data = 0;
    for (int p = 0; p < r->v.n; p++) data += r->v.p[p].role != VFL_COORD;
    row.available = data;
    row.selected = r->v.n;
    row.completed = steps;
    double crypto = 0, flops = 0;
    for (int p = 0; p < r->v.n; p++) {
        const vclk_tally *t = &r->k.tally[p];
        row.dropped += t->dropouts;
        row.late += t->straggles;
        row.bytes_up += t->bytes_sent;
        row.bytes_down += t->bytes_recv;
        crypto += t->crypto_s;
        flops += t->flops;
    }
    row.dropped_random = row.dropped;
    r->dropped += row.dropped;
    r->late += row.late;
    row.flops_wasted = r->k.wasted_flops;
    row.flops_used = flops - r->k.wasted_flops;
    row.train_loss = train_loss;
    row.test_loss = row.test_acc = row.global_train_loss = row.global_train_acc = NAN;
    row.staleness_mean = row.staleness_max = NAN;
    row.epsilon = row.dp_clip = row.dp_clipped = NAN;
    double auc = NAN;
    fs_err e = FS_OK;
    if (eval) e = evaluate(r, &row.test_loss, &row.test_acc, &auc);
    if (acc_out) *acc_out = row.test_acc;
    if (loss_out) *loss_out = row.test_loss;
    if (auc_out) *auc_out = auc;
    if (!e) e = met_begin(&r->store);
    if (!e) e = met_round(&r->store, &row);
    if (!e) e = met_vfl_round(&r->store, round, auc, crypto, r->k.stall_s);
    for (int p = 0; p < r->v.n && !e; p++) {
        const vclk_tally *t = &r->k.tally[p];
        const met_party_row pr = {round,        p,           t->bytes_sent, t->bytes_recv, t->flops,
                                  t->compute_s, t->crypto_s, t->dropouts,   t->straggles};
        e = met_vfl_party_round(&r->store, &pr);
    }
    if (!e) e = met_commit(&r->store);
    vclk_tally_reset(&r->k);
    return e;
}

static const char *role_name(vfl_role r)
{
    return r == VFL_ACTIVE ? "active" : r == VFL_PASSIVE ? "passive" : "coordinator";
}

/* Data, parties, alignment, keys, model: everything before the record. */
static fs_err setup(vrun *r, const cfg *c, const char *file, cfg_diag *d)
{
    r->c = c;
    fs_err e = sim_load_data(c, &r->ds);
    const char *base = strrchr(c->data.path, '/');
    if (e == FS_EINPUT && strcmp(base ? base + 1 : c->data.path, "breast_cancer.h5") == 0) {
        char msg[512]; /* fs_error writes the buffer fs_errmsg returns: copy it first */
        snprintf(msg, sizeof msg, "%s", fs_errmsg());
        return fs_error(FS_EINPUT,
                        "%s (hint: run 'fedsim data import breast-cancer --out %s', or 'make "
                        "datasets/breast_cancer.h5')",
                        msg, c->data.path);
    }
    if (e) return e;
    if ((e = vfl_parties_setup(c, &r->ds, file, &r->v, d))) return e;
    vclk_party dev[VCLK_MAX_PARTIES];
    for (int p = 0; p < r->v.n; p++) vfl_party_device(c, &r->v, p, &dev[p]);
    vclk_init(&r->k, r->v.n, dev, c->vertical.crypto_ref_flops, c->seed);
    if ((e = vfl_align(c, &r->ds, file, &r->v, &r->k, d))) return e;
    if (strcmp(c->vertical.central, "true") == 0) { /* one party with every column */
        vfl_data joined;
        if ((e = vfl_data_join(&r->v, &joined))) return e;
        vfl_party_device(c, &r->v, r->v.active, &dev[0]);
        vfl_data_free(&r->v);
        r->v = joined;
        vclk_free(&r->k);
        vclk_init(&r->k, 1, dev, c->vertical.crypto_ref_flops, c->seed);
    }
    r->K = r->v.n_classes;
    r->prob = malloc((r->v.n_test ? r->v.n_test : 1) * (size_t)r->K * sizeof *r->prob);
    if (!r->prob) return fs_error(FS_ENOMEM, "out of memory");
    const int enc = strcmp(c->vertical.encryption, "paillier") == 0;
    if (strcmp(c->vertical.algorithm, "hetero_lr") == 0) {
        lr_box *b = calloc(1, sizeof *b);
        if (!b) return fs_error(FS_ENOMEM, "out of memory");
        r->m = b;
        r->ops = &lr_ops;
        if (enc) {
            cr_src rnd;
            if ((e = vfl_crand(c, r->v.coord, 2, &rnd))) return e;
            e = he_keygen(c->vertical.key_bits, &rnd, &b->key);
            cr_wipe(&rnd);
            if (e) return e;
        }
        const vfl_lr_opts lo = {.lr = c->train.lr,
                                .l2 = c->train.weight_decay,
                                .intercept = strcmp(c->vertical.intercept, "true") == 0,
                                .frac_bits = c->vertical.frac_bits,
                                .seed = c->seed,
                                .keyed = strcmp(c->vertical.randomness, "keyed") == 0};
        if ((e = vfl_lr_init(&b->m, &r->v, &lo, b->key, &r->k))) return e;
        r->n_params = (long)vfl_lr_theta(&b->m, NULL);
        int data = 0;
        for (int p = 0; p < r->v.n; p++) data += r->v.p[p].role != VFL_COORD;
        snprintf(r->desc, sizeof r->desc, "hetero_lr: %ld weights over %d parties%s", r->n_params,
                 data, enc ? ", Paillier" : "");
    } else {
        vfl_snn *s = calloc(1, sizeof *s);
        if (!s) return fs_error(FS_ENOMEM, "out of memory");
        r->m = s;
        r->ops = &snn_ops;
        if ((e = vfl_snn_init_cfg(s, &r->v, c, &r->k))) return e;
        r->n_params = (long)vfl_snn_params(s);
        vfl_snn_describe(s, r->desc, sizeof r->desc);
    }
    /* the key set-up recorded by the algorithm, replayed after the alignment */
    return vclk_step(&r->k, 0, 0, NULL);
}

fs_err vfl_run(const cfg *c, const sim_opts *o, const char *file, sim_summary *out, cfg_diag *d)
{
    memset(out, 0, sizeof *out);
    memset(d, 0, sizeof *d);
    out->final_acc = out->final_loss = NAN;
    snprintf(out->status, sizeof out->status, "failed");
    const double t_start = time_now();
    int threads = o->threads > 0 ? o->threads : c->threads;
#ifdef _OPENMP
    if (threads <= 0) threads = omp_get_num_procs();
    omp_set_num_threads(threads);
#endif
    openblas_set_num_threads(1);
    vrun *r = calloc(1, sizeof *r);
    if (!r) return fs_error(FS_ENOMEM, "out of memory");
    const int central = strcmp(c->vertical.central, "true") == 0;
    if (central) { /* the baseline: no PSI, no encryption, one party */
        *r->central = *c;
        snprintf(r->central->vertical.psi, sizeof r->central->vertical.psi, "false");
        snprintf(r->central->vertical.encryption, sizeof r->central->vertical.encryption, "none");
        c = r->central;
    }
    fs_err e = setup(r, c, file, d);
    if (e) {
        vrun_free(r);
        free(r);
        return e;
    }
    const int enc = strcmp(c->vertical.encryption, "paillier") == 0;
    char dbbuf[1024];
    const char *db = o->db_path ? o->db_path : c->output.db[0] ? c->output.db : NULL;
    if (!db) {
        snprintf(dbbuf, sizeof dbbuf, "results/%s.db", c->name);
        db = dbbuf;
    }
    snprintf(out->db_path, sizeof out->db_path, "%s", db);
    const size_t B =
        (size_t)c->train.batch_size < r->v.n_train ? (size_t)c->train.batch_size : r->v.n_train;
    const long spe = (long)((r->v.n_train + B - 1) / B);
    const long total = c->train.steps > 0 ? c->train.steps : (long)c->train.epochs * spe;
    const int every_set = c->origin[cfg_key_index("eval.every")].line > 0 ||
                          c->origin[cfg_key_index("eval.every")].set_index > 0;
    const long every = every_set ? c->eval.every : spe;
    if (!o->quiet) {
        log_info("scenario '%s': vertical %s%s on %s, %zu train + %zu test common samples of "
                 "%zu IDs; seed %llu",
                 c->name, c->vertical.algorithm, enc ? " with Paillier" : "", r->ds.name,
                 r->v.n_train, r->v.n_test, r->v.p[r->v.active].n_ids, (unsigned long long)c->seed);
        for (int p = 0; p < r->v.n; p++)
            log_info("  party %d '%s' (%s): %d features, %zu IDs", p, r->v.p[p].name,
                     role_name(r->v.p[p].role), r->v.p[p].n_feat, r->v.p[p].n_ids);
        log_info("%s; %ld steps of %zu (%ld per epoch); alignment %.1f s virtual, %.0f kB", r->desc,
                 total, B, spe, r->v.psi_s, r->v.psi_bytes / 1e3);
    }
    /* the record */
    e = met_open(&r->store, db);
    if (!e) r->store_open = 1;
    char *json = e ? NULL : cfg_to_json(c);
    char run_key[SWEEP_KEY_LEN + 1];
    if (!e) e = sweep_compute_key(c, run_key);
    met_run_info info = {.name = c->name,
                         .scenario_text = o->scenario_text,
                         .params_json = json,
                         .seed = c->seed,
                         .model_desc = r->desc,
                         .n_params = r->n_params,
                         .n_clients = r->v.n,
                         .run_key = run_key,
                         .sweep_id = o->sweep_id,
                         .swept_json = o->swept_json};
    if (!e) e = met_run_begin(&r->store, &info);
    free(json);
    char proto[64];
    snprintf(proto, sizeof proto, "%s%s", c->vertical.algorithm,
             enc       ? "+paillier"
             : central ? "+central"
                       : "");
    if (!e) e = met_vfl_begin(&r->store, proto, enc ? c->vertical.key_bits : 0);
    for (int p = 0; p < r->v.n && !e; p++) {
        const met_party_info pi = {p,
                                   r->v.p[p].name,
                                   role_name(r->v.p[p].role),
                                   r->v.p[p].n_feat,
                                   (long)r->v.p[p].n_ids,
                                   r->v.p[p].role == VFL_COORD ? 0 : (long)r->v.n_common};
        e = met_vfl_party(&r->store, &pi);
    }
    /* row 0: alignment and key set-up */
    if (!e) e = write_row(r, 0, 0, time_now() - t_start, NAN, 0, NULL, NULL, NULL);
    if (e) {
        if (r->store_open && r->store.run_id) met_run_end(&r->store, "failed", 0, fs_errmsg());
        vrun_free(r);
        free(r);
        return e;
    }
    uint32_t *perm = malloc(r->v.n_train * sizeof *perm);
    if (!perm) e = fs_error(FS_ENOMEM, "out of memory");
    int row = 0;
    long in_row = 0;
    double auc = NAN;
    for (long s = 0; s < total && !e; s++) {
        if (o->stop && *o->stop) {
            e = FS_EINTR;
            break;
        }
        const long ep = s / spe, pos = s % spe;
        if (pos == 0) { /* the active party's batch order of the epoch, sent as a seed */
            for (size_t i = 0; i < r->v.n_train; i++) perm[i] = (uint32_t)i;
            rng_t g;
            rng_init(&g, c->seed, RNG_VFL_DATA, 1000, (uint64_t)ep);
            rng_shuffle_u32(&g, perm, r->v.n_train);
            for (int p = 0; p < r->v.n; p++)
                if (p != r->v.active && r->v.p[p].role != VFL_COORD)
                    vclk_send(&r->k, r->v.active, p, 32);
        }
        const size_t off = (size_t)pos * B;
        const int b = (int)(r->v.n_train - off < B ? r->v.n_train - off : B);
        e = r->ops->step(r->m, perm + off, b, &r->k, (uint64_t)s + 1);
        if (!e) e = vclk_step(&r->k, (uint64_t)s + 1, 1, NULL);
        in_row++;
        if (e || ((s + 1) % every != 0 && s + 1 != total)) continue;
        double acc, loss;
        const double tl = r->ops->take_loss(r->m);
        e = write_row(r, ++row, in_row, time_now() - t_start, tl, 1, &acc, &loss, &auc);
        in_row = 0;
        out->rounds_done = row;
        out->final_acc = acc;
        out->final_loss = loss;
        if (!o->quiet)
            log_info("step %ld/%ld (epoch %.2f) virtual %.1f s: train loss %.4f, test loss %.4f, "
                     "acc %.2f%%, AUC %.4f",
                     s + 1, total, (double)(s + 1) / spe, r->k.now, tl, loss, 100 * acc, auc);
    }
    free(perm);
    out->updates = total;
    out->dropped = r->dropped;
    out->late = r->late;
    out->vtime_s = r->k.now;
    out->wall_s = time_now() - t_start;
    out->train_wall_s = out->wall_s;
    const char *status = e == FS_OK ? "completed" : e == FS_EINTR ? "interrupted" : "failed";
    snprintf(out->status, sizeof out->status, "%s", status);
    fs_err e2 =
        met_run_end(&r->store, status, out->wall_s, e && e != FS_EINTR ? fs_errmsg() : NULL);
    if (!e) e = e2;
    if (!e && !o->quiet) log_info("final test AUC %.4f", auc);
    vrun_free(r);
    free(r);
    return e;
}

fs_err vfl_validate_data(const cfg *c, const char *file, cfg_diag *d)
{
    dataset ds;
    memset(&ds, 0, sizeof ds);
    vfl_data v;
    memset(&v, 0, sizeof v);
    fs_err e = sim_load_data(c, &ds);
    if (!e) e = vfl_parties_setup(c, &ds, file, &v, d);
    /* the intersection, computed in the clear (PSI gives the same set) */
    cfg *plain = e ? NULL : malloc(sizeof *plain);
    if (!e && !plain) e = fs_error(FS_ENOMEM, "out of memory");
    if (!e) {
        *plain = *c;
        snprintf(plain->vertical.psi, sizeof plain->vertical.psi, "false");
        vclk k;
        vclk_party dev[VCLK_MAX_PARTIES];
        for (int p = 0; p < v.n; p++) vfl_party_device(c, &v, p, &dev[p]);
        vclk_init(&k, v.n, dev, c->vertical.crypto_ref_flops, c->seed);
        e = vfl_align(plain, &ds, file, &v, &k, d);
        vclk_free(&k);
    }
    free(plain);
    vfl_data_free(&v);
    ds_free(&ds);
    return e;
}
