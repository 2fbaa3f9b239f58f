/* The run driver (see sim.h). Each round has two phases:
 *   schedule (serial): availability, selection, phase durations from device profiles, dropout
 *     draws, the event-driven round (engine/round.c) -> which updates arrive;
 *   work (parallel): only the updates that will be aggregated are computed, over a pool of
 *     OpenMP threads, each with its own model workspace and single-threaded OpenBLAS; the
 *     results are summed in arrival order in double, so the bits do not depend on threads.
 * Randomness comes only from keyed streams, so a seed fixes every number but wall times. */
#include "engine/sim.h"

#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <sys/stat.h>
#include <unistd.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "config/sweep.h"
#include "data/dataset.h"
#include "data/partition.h"
#include "data/synthetic.h"
#include "device/avail.h"
#include "device/device.h"
#include "engine/evq.h"
#include "engine/mpi_dist.h"
#include "engine/priv.h"
#include "engine/robust.h"
#include "engine/round.h"
#include "engine/setup_check.h"
#include "fl/algorithm.h"
#include "fl/client_state.h"
#include "nn/checkpoint.h"
#include "nn/model.h"
#include "store/store.h"
#include "util/log.h"
#include "util/rng.h"

/* OpenBLAS: one thread per call; parallelism is across clients. */
void openblas_set_num_threads(int num_threads);

fs_err sim_load_data(const cfg *c, dataset *ds)
{
    if (strcmp(c->data.dataset, "synthetic") == 0) {
        synth_cfg s = {.clients = c->data.synthetic_clients,
                       .alpha = c->data.synthetic_alpha,
                       .beta = c->data.synthetic_beta,
                       .dim = c->data.synthetic_dim,
                       .classes = c->data.synthetic_classes,
                       .size_mean = c->data.synthetic_size_mean,
                       .size_sigma = c->data.synthetic_size_sigma,
                       .min_size = c->data.synthetic_min_size,
                       .lazy = strcmp(c->data.synthetic_lazy, "true") == 0,
                       .iid = strcmp(c->data.synthetic_iid, "true") == 0,
                       .test_fraction = c->data.synthetic_test_fraction,
                       .seed = c->seed};
        return synth_generate(&s, ds);
    }
    fs_err e = ds_check_kind(c->data.path, c->data.dataset);
    if (e) return e;
    e = ds_load(c->data.path, ds);
    const int fm = strcmp(c->data.dataset, "fashion-mnist") == 0;
    if (e == FS_EINPUT && (fm || strcmp(c->data.dataset, "kjv") == 0)) {
        char msg[512]; /* fs_error writes the buffer fs_errmsg returns: copy it first */
        snprintf(msg, sizeof msg, "%s", fs_errmsg());
        return fs_error(FS_EINPUT, "%s (hint: run 'fedsim data import %s --out %s'%s)", msg,
                        c->data.dataset, c->data.path, fm ? ", or 'make run', which does it" : "");
    }
    return e;
}

static fs_err make_partition(const cfg *c, const dataset *ds, partition *p)
{
    const char *k = c->partition.kind;
    uint32_t n = (uint32_t)c->partition.clients;
    const uint32_t kpc = (uint32_t)c->partition.labels_per_client;
    if (ds->lazy) { /* generated on demand: only its natural clients exist */
        if (strcmp(k, "natural") != 0)
            return fs_error(FS_EINPUT,
                            "partition.kind %s: data.synthetic_lazy data can only be "
                            "partitioned naturally (partition.kind: natural)",
                            k);
        memset(p, 0, sizeof *p);
        p->n_clients = ds->lazy->n_clients;
        p->n_samples = ds->train.n;
        p->idx = FS_CALLOC(ds->train.n ? ds->train.n : 1, sizeof *p->idx);
        p->off = FS_CALLOC((size_t)p->n_clients + 1, sizeof *p->off);
        if (!p->idx || !p->off) {
            part_free(p);
            return FS_ENOMEM;
        }
        for (size_t i = 0; i < ds->train.n; i++) p->idx[i] = (uint32_t)i;
        memcpy(p->off, ds->lazy->off, ((size_t)p->n_clients + 1) * sizeof *p->off);
        return FS_OK;
    }
    if (ds->task != DS_CLASSIFY &&
        (strcmp(k, "dirichlet") == 0 || strcmp(k, "shards") == 0 || strcmp(k, "labels") == 0))
        return fs_error(FS_EINPUT,
                        "partition.kind %s needs one label per sample; '%s' is a "
                        "sequence dataset (use natural, iid or quantity)",
                        k, ds->name);
    if (strcmp(k, "iid") == 0) return part_iid(ds->train.n, n, c->seed, p);
    if (strcmp(k, "dirichlet") == 0)
        return part_dirichlet(ds->train.y, ds->train.n, ds->n_classes, n, c->partition.alpha,
                              (uint32_t)c->partition.min_size, c->seed, p);
    if (strcmp(k, "shards") == 0)
        return part_shards(ds->train.y, ds->train.n, ds->n_classes, n, kpc,
                           strcmp(c->partition.shard_assign, "distinct") == 0, c->seed, p);
    if (strcmp(k, "labels") == 0)
        return part_labels(ds->train.y, ds->train.n, ds->n_classes, n, kpc, c->seed, p);
    if (strcmp(k, "quantity") == 0) {
        const char *qd = c->partition.quantity_dist;
        part_qdist d = strcmp(qd, "powerlaw") == 0    ? PART_Q_POWERLAW
                       : strcmp(qd, "dirichlet") == 0 ? PART_Q_DIRICHLET
                                                      : PART_Q_LOGNORMAL;
        double param = d == PART_Q_POWERLAW    ? c->partition.quantity_exponent
                       : d == PART_Q_DIRICHLET ? c->partition.quantity_alpha
                                               : c->partition.quantity_sigma;
        return part_quantity(ds->train.n, n, d, param,
                             (uint32_t)(c->partition.min_size > 0 ? c->partition.min_size : 1),
                             c->seed, p);
    }
    if (strcmp(k, "natural") == 0) {
        if (!ds->train.client || ds->n_natural < 1)
            return fs_error(FS_EINPUT, "partition.kind natural: dataset '%s' has no client ids",
                            ds->name);
        return part_natural(ds->train.client, ds->train.n, (uint32_t)ds->n_natural, p);
    }
    return fs_error(FS_EINPUT, "unknown partition.kind '%s'", k);
}

fs_err sim_make_partition(const cfg *c, const dataset *ds, partition *p)
{
    fs_err e = make_partition(c, ds, p);
    if (e) return e;
    const char *fk = c->partition.feature_skew;
    part_feature_kind kind = strcmp(fk, "noise") == 0      ? PART_FEAT_NOISE
                             : strcmp(fk, "rotation") == 0 ? PART_FEAT_ROTATE
                                                           : PART_FEAT_NONE;
    e = part_set_feature(
        p, ds, kind, kind == PART_FEAT_NOISE ? c->partition.noise_sigma : c->partition.rotation_deg,
        c->seed);
    if (!e && c->partition.local_test_fraction > 0)
        e = part_split_local(p, c->partition.local_test_fraction, c->seed);
    if (e) part_free(p);
    return e;
}

static void fmt_duration(double s, char *buf, size_t cap)
{
    if (!isfinite(s) || s < 0) {
        snprintf(buf, cap, "?");
    } else if (s < 60) {
        snprintf(buf, cap, "%.1fs", s);
    } else if (s < 3600) {
        snprintf(buf, cap, "%dm%02ds", (int)(s / 60), (int)fmod(s, 60));
    } else if (s < 86400) {
        snprintf(buf, cap, "%dh%02dm", (int)(s / 3600), (int)fmod(s / 60, 60));
    } else {
        snprintf(buf, cap, "%dd%02dh", (int)(s / 86400), (int)fmod(s / 3600, 24));
    }
}

typedef struct run_state {
    const cfg *c;
    dataset ds;
    partition part;
    nn_model model;
    dev_model dev;
    av_model av;
    const fl_algorithm *algo;
    fl_train_cfg tc;
    float *global;
    fl_agg agg;             /* the round's weighted sums */
    fl_server srv;          /* the algorithm's server state */
    fl_cstate *cs;          /* per-client state (SCAFFOLD, FedDyn), else NULL */
    float *res_buf2;        /* (chunk, np) second uploads (SCAFFOLD) */
    float *res_state;       /* (chunk, np) client states of the chunk being trained */
    fl_cstate *ocs;         /* per-client SGD momentum (train.optimizer_state: per_client) */
    float *res_opt;         /* (chunk, np) their momentum buffers while the chunk trains */
    uint32_t *chunk_cl;     /* (chunk) clients of the chunk being trained */
    uint32_t *chunk_cl_sel; /* (selected per round) scratch for selection */
    int threads;
    nn_worker *workers;
    nn_worker eval_worker;
    fl_client_result *res;
    float *res_buf;
    int chunk;
    uint32_t *perm; /* selection permutation over the population */
    evq q;
    sched_round sr;
    met_store store;
    int store_open;
    int client_events;
    met_client_event *ev; /* the step's client events, flushed with its row */
    size_t n_ev, ev_cap;
    struct async_state *as; /* protocol: async */
    uint32_t *eval_cl;      /* eval.clients: the clients evaluated each time, fixed */
    int n_eval_cl;
    met_client_eval *cev; /* their results of this round, written with its row */
    int n_cev;
    long *conf;   /* eval.confusion: (K, K) test-set confusion of this round's evaluation */
    int conf_now; /* 1 when conf holds this round's matrix, written with its row */
    /* eval.train_samples: a fixed sample of the clients' pooled training samples, grouped by
     * client (group g: client tev_cl[g], samples tev_idx[tev_off[g] .. tev_off[g + 1])) */
    uint32_t *tev_idx, *tev_cl;
    size_t *tev_off, n_tev_groups;
    double *tev_lsum; /* (n_tev_groups) per-group sums of the evaluation in progress */
    long *tev_hits;
    priv_state *pv;   /* privacy.mode / privacy.secagg (engine/priv.h), else NULL */
    priv_stats pst;   /* the round's privacy metrics */
    int sel_cap;      /* capacity of sr.c, sr.arrival, chunk_cl_sel */
    int dist;         /* rank 0 of a run over MPI ranks: chunks go to dist_train_chunk */
    dist_env denv;    /* what the ranks train with (engine/mpi_dist.h) */
    robust_state *rb; /* adversary.* / aggregation.* (engine/robust.h), else NULL */
} run_state;

static void async_free(run_state *s);

static void state_free(run_state *s)
{
    if (s->dist) dist_stop(); /* the other ranks leave dist_serve */
    async_free(s);
    priv_free(s->pv);
    robust_free(s->rb);
    if (s->workers)
        for (int t = 0; t < s->threads; t++) nn_worker_free(&s->workers[t]);
    free(s->workers);
    nn_worker_free(&s->eval_worker);
    free(s->conf);
    free(s->res);
    free(s->res_buf);
    free(s->global);
    fl_agg_free(&s->agg);
    fl_server_free(&s->srv);
    fl_cstate_free(s->cs);
    free(s->res_buf2);
    free(s->res_state);
    fl_cstate_free(s->ocs);
    free(s->res_opt);
    free(s->chunk_cl);
    free(s->chunk_cl_sel);
    free(s->eval_cl);
    free(s->cev);
    free(s->tev_idx);
    free(s->tev_cl);
    free(s->tev_off);
    free(s->tev_lsum);
    free(s->tev_hits);
    free(s->ev);
    free(s->perm);
    free(s->sr.c);
    free(s->sr.arrival);
    evq_free(&s->q);
    dev_free(&s->dev);
    av_free(&s->av);
    part_free(&s->part);
    ds_free(&s->ds);
    if (s->store_open) met_close(&s->store);
}

/* Online clients at t: counted exactly up to 100,000 clients; above that estimated from the
 * candidates the last selection examined (docs/metrics.md). */
static long count_available(run_state *s, uint32_t round, double t, uint32_t scanned,
                            uint32_t online, int exhausted)
{
    const uint32_t N = s->part.n_clients;
    if (s->av.mode == AV_ALWAYS) return N;
    if (N <= 100000) {
        long n = 0;
        for (uint32_t i = 0; i < N; i++) n += av_is_online(&s->av, i, round, t);
        return n;
    }
    if (!scanned) { /* no selection to go by: a fixed systematic sample of 4096 clients */
        uint32_t stride = N / 4096;
        for (uint32_t i = 0; i < 4096; i++) online += av_is_online(&s->av, i * stride, round, t);
        return lround((double)online / 4096 * N);
    }
    return exhausted ? (long)online : lround((double)online / scanned * N);
}

/* Select up to m clients uniformly among those online at t and not busy (partial
 * Fisher-Yates over the population, checking availability lazily; availability does not depend
 * on the selection draws, so this is uniform among the available). The draws come from the
 * (RNG_SELECT, key) stream. Selected clients go to out[]. */
static int select_clients(run_state *s, uint32_t key, uint32_t round, double t, int m,
                          const uint8_t *busy, uint32_t *out, long *available)
{
    const uint32_t N = s->part.n_clients;
    rng_t r;
    rng_init(&r, s->c->seed, RNG_SELECT, 0, key);
    int got = 0;
    uint32_t scanned = 0, online = 0;
    for (uint32_t i = 0; i < N && got < m; i++) {
        uint32_t j = i + (uint32_t)rng_below(&r, N - i);
        uint32_t tmp = s->perm[i];
        s->perm[i] = s->perm[j];
        s->perm[j] = tmp;
        uint32_t cl = s->perm[i];
        scanned++;
        if (!av_is_online(&s->av, cl, round, t)) continue;
        online++;
        if (part_size(&s->part, cl) == 0 || (busy && busy[cl])) continue;
        out[got++] = cl;
    }
    if (available) *available = count_available(s, round, t, scanned, online, got < m);
    return got;
}

static int select_round(run_state *s, uint32_t round, double t, int m, long *available)
{
    int n = select_clients(s, round, round, t, m, NULL, s->chunk_cl_sel, available);
    for (int i = 0; i < n; i++) s->sr.c[i].client = s->chunk_cl_sel[i];
    return n;
}

/* Grow the per-round arrays to n selected clients (Poisson rounds vary in size). */
static fs_err grow_round(run_state *s, int n)
{
    if (n <= s->sel_cap) return FS_OK;
    const int cap = 2 * s->sel_cap > n ? 2 * s->sel_cap : n;
    sched_client *c = realloc(s->sr.c, (size_t)cap * sizeof *c);
    if (c) s->sr.c = c;
    int *a = realloc(s->sr.arrival, (size_t)cap * sizeof *a);
    if (a) s->sr.arrival = a;
    uint32_t *sel = realloc(s->chunk_cl_sel, (size_t)cap * sizeof *sel);
    if (sel) s->chunk_cl_sel = sel;
    if (!c || !a || !sel) return fs_error(FS_ENOMEM, "out of memory for a round of %d clients", n);
    s->sel_cap = cap;
    return FS_OK;
}

/* Poisson sampling (privacy.sampling; McMahan et al. 2018): every client joins the round
 * independently with probability q = clients_per_round / N, the sampling the DP accountant
 * assumes. Sampled clients offline at t or without data take no part (dropping clients
 * independently of the data keeps the guarantee). Geometric gaps drawn from the
 * (RNG_SELECT, 1, round) stream: about qN draws. */
static fs_err select_poisson(run_state *s, uint32_t round, double t, long *available)
{
    const uint32_t N = s->part.n_clients;
    const double q = priv_rate(s->pv), lq = log1p(-q);
    rng_t r;
    rng_init(&r, s->c->seed, RNG_SELECT, 1, round);
    int n = 0;
    for (double i = -1;;) {
        i += q >= 1 ? 1 : 1 + floor(log(rng_uniform_pos(&r)) / lq);
        if (i >= N) break;
        const uint32_t cl = (uint32_t)i;
        if (!av_is_online(&s->av, cl, round, t) || part_size(&s->part, cl) == 0) continue;
        fs_err e = grow_round(s, n + 1);
        if (e) return e;
        s->sr.c[n++].client = cl;
    }
    s->sr.n = n;
    *available = count_available(s, round, t, 0, 0, 0);
    return FS_OK;
}

static void plan_client(run_state *s, sched_client *sc, uint32_t round, double t0)
{
    dev_profile p;
    dev_profile_of(&s->dev, sc->client, &p);
    const double model_bytes = (double)s->model.n_params * sizeof(float);
    long steps, samples;
    fl_algo_work(s->algo, &s->tc, part_size(&s->part, sc->client), &steps, &samples);
    /* vectors on the wire: the model (+ SCAFFOLD's c) down, the update (+ its Delta c) up */
    sc->bytes_down = model_bytes * (1 + s->algo->bcast);
    /* frozen layers (model.freeze) are not uploaded: their update is exactly zero */
    const double upd_bytes = (double)nn_model_trainable_params(&s->model) * sizeof(float);
    sc->bytes_up = upd_bytes * (1 + s->algo->two_uploads) * s->c->network.upload_compression;
    if (s->pv) /* secure aggregation uploads the masked vector instead (incompressible) */
        sc->bytes_up = priv_upload_bytes(s->pv, sc->bytes_up);
    sc->lat_down = sc->lat_up = p.latency_s;
    sc->d_down = dev_transfer_s(sc->bytes_down, p.down_bps, p.latency_s);
    sc->d_up = dev_transfer_s(sc->bytes_up, p.up_bps, p.latency_s);
    sc->flops = (double)samples * s->model.flops_train;
    sc->d_comp = sc->flops / p.flops;
    const double work = sc->d_down + sc->d_comp + sc->d_up;
    /* three ways to drop, the earliest wins: a per-round coin (at a uniform point of the
     * work), going offline, and a failure hazard while working (exponential) */
    rng_t r;
    rng_init(&r, s->c->seed, RNG_DROPOUT, sc->client, round);
    double u = rng_uniform(&r), at = rng_uniform(&r), hz = rng_uniform_pos(&r);
    sc->drop_after = u < s->c->dropout.p ? at * work : INFINITY;
    sc->drop_cause = DROP_RANDOM;
    double off = av_next_offline(&s->av, sc->client, round, t0) - t0;
    if (off < sc->drop_after && off < work) {
        sc->drop_after = off;
        sc->drop_cause = DROP_OFFLINE;
    }
    if (s->c->dropout.hazard_per_s > 0) {
        double fail = -log(hz) / s->c->dropout.hazard_per_s;
        if (fail < sc->drop_after && fail < work) {
            sc->drop_after = fail;
            sc->drop_cause = DROP_FAILURE;
        }
    }
}

fs_err sim_make_devices(const cfg *c, uint32_t n_clients, dev_model *dev, av_model *av)
{
    dev->seed = c->seed;
    dev->flops = (dev_lognormal){c->devices.flops.median, c->devices.flops.sigma};
    dev->down_bps = (dev_lognormal){c->network.down_bps.median, c->network.down_bps.sigma};
    dev->up_bps = (dev_lognormal){c->network.up_bps.median, c->network.up_bps.sigma};
    dev->latency_s = (dev_lognormal){c->network.latency_s.median, c->network.latency_s.sigma};
    fs_err e = FS_OK;
    if (strcmp(c->devices.model, "tiers") == 0) {
        dev->mode = DEV_TIERS;
        e = dev_load_tiers(dev, c->devices.tiers_file);
    } else if (strcmp(c->devices.model, "trace") == 0) {
        dev->mode = DEV_TRACE;
        if (!c->devices.trace[0])
            return fs_error(FS_EINPUT, "devices.model = trace needs devices.trace (a CSV file)");
        e = dev_load_trace(dev, c->devices.trace);
    }
    if (e) return e;
    static const char *const modes[] = {"always", "bernoulli", "markov", "diurnal", "trace"};
    av_mode am = AV_ALWAYS;
    for (int i = 0; i < 5; i++)
        if (strcmp(c->availability.mode, modes[i]) == 0) am = (av_mode)i;
    e = av_init(av, am, c->seed, n_clients);
    if (e) return e;
    av->p = c->availability.p;
    av->mean_on_s = c->availability.mean_on_s;
    av->mean_off_s = c->availability.mean_off_s;
    av->p_min = c->availability.diurnal_p_min;
    av->p_max = c->availability.diurnal_p_max;
    av->peak_hour = c->availability.diurnal_peak_hour;
    av->slot_s = c->availability.diurnal_slot_s;
    if (am == AV_TRACE) {
        if (!c->availability.trace[0])
            return fs_error(FS_EINPUT, "availability.mode = trace needs availability.trace (a CSV "
                                       "file)");
        e = av_load_trace(av, c->availability.trace, c->availability.trace_period_s);
    }
    return e;
}

static fs_err make_devices(run_state *s, const cfg *c)
{
    return sim_make_devices(c, s->part.n_clients, &s->dev, &s->av);
}

static const char *default_db(const cfg *c, const sim_opts *o, char *buf, size_t cap);

static fs_err setup(run_state *s, const cfg *c, const sim_opts *o)
{
    memset(s, 0, sizeof *s);
    s->c = c;
    fs_err e = sim_load_data(c, &s->ds);
    if (!e) e = fs_stopped();
    if (!e) e = sim_make_partition(c, &s->ds, &s->part);
    if (!e) e = fs_stopped();
    if (e) return e;
    if ((uint32_t)c->rounds.clients_per_round > s->part.n_clients)
        return fs_error(FS_EINPUT, "rounds.clients_per_round = %d exceeds the %u clients",
                        c->rounds.clients_per_round, s->part.n_clients);
    e = nn_zoo_from_cfg(&s->model, c, s->ds.shape, s->ds.n_classes);
    if (e) return e;
    if (s->model.y_len != s->ds.y_len)
        return fs_error(FS_EINPUT, "dataset '%s' is %s but model '%s' %s", s->ds.name,
                        s->ds.task == DS_SEQUENCE ? "a next-symbol task over sequences"
                                                  : "a classification task",
                        c->model.name,
                        s->model.seq_len ? "predicts one symbol per step (use a classifier)"
                                         : "is a classifier (use char_lstm, or a custom model "
                                           "starting with an embedding)");
    s->algo = fl_find(c->algorithm.name);
    if (!s->algo) return fs_error(FS_EINPUT, "unknown algorithm.name '%s'", c->algorithm.name);
    if (s->algo->one_pass && !o->quiet) {
        const cfg_origin *oe = &c->origin[cfg_key_index("train.epochs")],
                         *os = &c->origin[cfg_key_index("train.steps")];
        if ((oe->line > 0 || oe->set_index > 0) && c->train.epochs != 1)
            log_warn("train.epochs = %d does not apply to %s: a client computes one full-batch "
                     "gradient per round, charged as one pass over its data (ignored)",
                     c->train.epochs, c->algorithm.name);
        if ((os->line > 0 || os->set_index > 0) && c->train.steps != 0)
            log_warn("train.steps = %d does not apply to %s: one full-batch gradient per round "
                     "(ignored)",
                     c->train.steps, c->algorithm.name);
    }
    s->tc = (fl_train_cfg){c->train.epochs,
                           c->train.steps,
                           c->train.batch_size,
                           {c->train.lr, c->train.momentum, c->train.weight_decay,
                            strcmp(c->train.nesterov, "true") == 0, c->train.clip_norm}};
    e = make_devices(s, c);
    if (!e) e = fs_stopped();
    if (e) return e;
    const size_t np = s->model.n_params;
    s->global = FS_ALIGNED(np, sizeof(float));
    if (!s->global) return FS_ENOMEM;
    const fl_params fp = {.server_lr = c->algorithm.server_lr,
                          .mu = c->algorithm.mu,
                          .alpha = c->algorithm.alpha,
                          .server_momentum = c->algorithm.server_momentum,
                          .beta1 = c->algorithm.beta1,
                          .beta2 = c->algorithm.beta2,
                          .tau = c->algorithm.tau,
                          .weighting = fl_weighting_parse(c->algorithm.weighting)};
    if ((e = fl_agg_init(&s->agg, np, s->algo->two_uploads)) ||
        (e = fl_server_init(&s->srv, s->algo, &fp, np, s->part.n_clients)))
        return e;
    /* kept momentum only matters with momentum (else SGD has no state) */
    const int keep_opt =
        strcmp(c->train.optimizer_state, "per_client") == 0 && c->train.momentum != 0;
    if (s->algo->state_vecs || keep_opt) {
        /* the spill files go to algorithm.state_dir, else next to the database; the momentum
         * store has its own algorithm.state_memory_mb */
        char dir[CFG_STR + 16], dbbuf[1024];
        const char *db = default_db(c, o, dbbuf, sizeof dbbuf), *slash = strrchr(db, '/');
        if (c->algorithm.state_dir[0])
            snprintf(dir, sizeof dir, "%s", c->algorithm.state_dir);
        else
            snprintf(dir, sizeof dir, "%.*s", slash ? (int)(slash - db) + (slash == db) : 1,
                     slash ? db : ".");
        const size_t cap = (size_t)(c->algorithm.state_memory_mb * 1048576.0);
        if (s->algo->state_vecs && (e = fl_cstate_new(&s->cs, np, cap, dir))) return e;
        if (keep_opt && (e = fl_cstate_new(&s->ocs, np, cap, dir))) return e;
    }
    rng_t r;
    rng_init(&r, c->seed, RNG_INIT, 0, 0);
    nn_model_init_params(&s->model, s->global, &r);
    if ((e = fs_stopped())) return e;
    if (c->model.init_from[0]) {
        nn_ckpt_meta meta;
        if ((e = nn_ckpt_load_params(c->model.init_from, &s->model, s->global, &meta))) {
            char msg[1024];
            snprintf(msg, sizeof msg, "%s", fs_errmsg());
            return fs_error(e == FS_EDATA ? FS_EDATA : FS_EINPUT, "model.init_from: %s", msg);
        }
        if (meta.vocab[0] && s->ds.vocab && strcmp(meta.vocab, s->ds.vocab) != 0)
            return fs_error(FS_EINPUT,
                            "model.init_from: %s was trained on the symbols \"%s\", dataset "
                            "'%s' has \"%s\" (token ids would mean other characters)",
                            c->model.init_from, meta.vocab, s->ds.name, s->ds.vocab);
    }

    s->threads = sim_thread_count(c, o->threads);
    openblas_set_num_threads(1);
    s->workers = FS_CALLOC((size_t)s->threads, sizeof *s->workers);
    if (!s->workers) return FS_ENOMEM;
    int max_batch = c->train.batch_size;
    if (s->algo->one_pass && max_batch < 256) max_batch = 256; /* batches only bound memory */
    for (int t = 0; t < s->threads; t++)
        if ((e = nn_worker_init(&s->workers[t], &s->model, max_batch))) return e;
    /* sequence models cache every step of every sample: evaluate in smaller batches */
    if ((e = nn_worker_init(&s->eval_worker, &s->model, s->model.seq_len ? 32 : SIM_EVAL_BATCH)))
        return e;
    /* clients trained between two ordered summations: larger chunks balance the threads
     * better (client sizes vary), at chunk x model-size of memory; up to 64 clients or 256 MB */
    const double per_client =
        (double)np * sizeof(float) *
        (1 + s->algo->two_uploads + (s->algo->state_vecs ? 1 : 0) + (s->ocs ? 1 : 0));
    s->chunk = sim_chunk_clients(s->threads, per_client, c->rounds.clients_per_round);
    s->res = FS_CALLOC((size_t)s->chunk, sizeof *s->res);
    s->res_buf = FS_ALIGNED((size_t)s->chunk * np, sizeof(float));
    s->chunk_cl = FS_CALLOC((size_t)s->chunk, sizeof *s->chunk_cl);
    if (!s->res || !s->res_buf || !s->chunk_cl) return FS_ENOMEM;
    for (int k = 0; k < s->chunk; k++) s->res[k].update = s->res_buf + (size_t)k * np;
    if (s->algo->two_uploads) {
        if (!(s->res_buf2 = FS_ALIGNED((size_t)s->chunk * np, sizeof(float)))) return FS_ENOMEM;
        for (int k = 0; k < s->chunk; k++) s->res[k].update2 = s->res_buf2 + (size_t)k * np;
    }
    if (s->algo->state_vecs) {
        if (!(s->res_state = FS_ALIGNED((size_t)s->chunk * np, sizeof(float)))) return FS_ENOMEM;
        for (int k = 0; k < s->chunk; k++) s->res[k].state = s->res_state + (size_t)k * np;
    }
    if (s->ocs) {
        if (!(s->res_opt = FS_ALIGNED((size_t)s->chunk * np, sizeof(float)))) return FS_ENOMEM;
        for (int k = 0; k < s->chunk; k++) s->res[k].opt = s->res_opt + (size_t)k * np;
    }

    const uint32_t N = s->part.n_clients;
    s->perm = FS_CALLOC(N, sizeof *s->perm);
    if (!s->perm) return FS_ENOMEM;
    for (uint32_t i = 0; i < N; i++) s->perm[i] = i;
    int m = (int)ceil(c->rounds.clients_per_round * (1.0 + c->rounds.overcommit));
    if ((uint32_t)m > N) m = (int)N;
    s->sr.c = FS_CALLOC((size_t)m, sizeof *s->sr.c);
    s->chunk_cl_sel = FS_CALLOC((size_t)m, sizeof *s->chunk_cl_sel);
    if (!s->chunk_cl_sel) return FS_ENOMEM;
    s->sr.arrival = FS_CALLOC((size_t)m, sizeof *s->sr.arrival);
    if (!s->sr.c || !s->sr.arrival) return FS_ENOMEM;
    s->sel_cap = m;
    if ((e = fs_stopped())) return e;
    if (priv_wanted(c)) { /* differential privacy, secure aggregation: docs/privacy.md */
        if (strcmp(c->protocol, "sync") != 0)
            return fs_error(FS_EINPUT, "privacy.mode and privacy.secagg need protocol: sync");
        if ((e = priv_new(c, &s->part, np, s->algo, s->chunk, s->threads, &s->pv))) return e;
        s->pst.epsilon = s->pst.clip = s->pst.clipped_frac = NAN;
    }
    if (cfg_robust_wanted(c) && /* adversaries, robust rules: docs/robustness.md */
        (e = robust_new(c, &s->ds, &s->part, &s->model, c->rounds.clients_per_round, s->threads,
                        &s->rb)))
        return e;
    return evq_init(&s->q, (size_t)m * 2 + 4);
}

/* Train the arrived clients in chunks, in parallel (fl_train_clients); sum in arrival order;
 * then the algorithm's server step. */
static fs_err train_round(run_state *s, uint32_t round, double *loss_out, double *samples_out,
                          volatile sig_atomic_t *stop)
{
    fl_round_ctx ctx = {
        &s->model,  &s->ds, &s->part,  s->global,    &s->tc,
        s->c->seed, round,  &s->srv.p, s->srv.bcast, s->rb ? robust_poison(s->rb) : NULL};
    fl_agg_reset(&s->agg);
    /* privacy (engine/priv.h): fl_train_clients only counts into `trained` (it has no vectors);
     * priv clips, noises or masks the updates and builds the aggregate */
    fl_agg trained = {0};
    fs_err e = s->pv ? priv_round_begin(s->pv, round, &s->sr) : FS_OK;
    if (e) return e;
    if (s->rb) robust_round_begin(s->rb, round); /* keeps every update: engine/robust.h */
    for (int start = 0; start < s->sr.n_completed; start += s->chunk) {
        int n = s->sr.n_completed - start < s->chunk ? s->sr.n_completed - start : s->chunk;
        for (int k = 0; k < n; k++) s->chunk_cl[k] = s->sr.c[s->sr.arrival[start + k]].client;
        fl_agg *to = s->pv || s->rb ? &trained : &s->agg;
        e = s->dist ? dist_train_chunk(&s->denv, round, s->chunk_cl, n, s->res, s->cs, s->ocs, to)
                    : fl_train_clients(s->algo, &ctx, s->chunk_cl, n, s->res, s->workers,
                                       s->threads, s->cs, s->ocs, to);
        if (!e && s->pv) e = priv_round_add(s->pv, s->res, n, start, &s->agg);
        if (!e && s->rb) e = robust_round_add(s->rb, s->res, n);
        if (e) return e;
        if (stop && *stop) return FS_EINTR;
    }
    if (s->pv && (e = priv_round_end(s->pv, &s->dev, &s->agg, &s->pst))) return e;
    if (s->rb && (e = robust_round_end(s->rb, &ctx, &s->workers[0], &trained, &s->agg))) return e;
    fl_server_step(&s->srv, s->global, &s->agg);
    *loss_out = s->agg.samples > 0 ? s->agg.loss / s->agg.samples : NAN;
    *samples_out = s->agg.samples;
    return FS_OK;
}

/* Bytes of algorithm state in memory (client states with their index, kept client momentum,
 * server vectors) and of client states and momentum spilled to disk. */
static void state_bytes(const run_state *s, double *mem, double *disk)
{
    fl_cstate_stats st = {0}, so = {0};
    if (s->cs) fl_cstate_stats_get(s->cs, &st);
    if (s->ocs) fl_cstate_stats_get(s->ocs, &so);
    *mem = (double)st.mem_bytes + (double)so.mem_bytes + (double)fl_server_bytes(&s->srv);
    *disk = (double)st.disk_bytes + (double)so.disk_bytes;
}

static const char *outcome_name(const sched_client *sc, int accepted)
{
    switch (sc->outcome) {
    case SCHED_COMPLETED:
        return accepted ? "completed" : "abandoned";
    case SCHED_LATE:
        return "late";
    case SCHED_DROPPED:
        return sc->drop_cause == DROP_OFFLINE   ? "dropped_offline"
               : sc->drop_cause == DROP_FAILURE ? "dropped_failure"
                                                : "dropped_random";
    }
    return "?";
}

static fs_err ev_push(run_state *s, const met_client_event *ev)
{
    if (s->n_ev == s->ev_cap) {
        size_t nc = s->ev_cap ? 2 * s->ev_cap : 256;
        met_client_event *n = realloc(s->ev, nc * sizeof *n);
        if (!n) return fs_error(FS_ENOMEM, "out of memory for client events");
        s->ev = n;
        s->ev_cap = nc;
    }
    s->ev[s->n_ev++] = *ev;
    return FS_OK;
}

/* The phases of one client's work from t0, cut where its work ended (t_end). */
static fs_err ev_client(run_state *s, const sched_client *sc, double t0, int round,
                        const char *outcome)
{
    if (!s->client_events) return FS_OK;
    long steps, samples;
    fl_algo_work(s->algo, &s->tc, part_size(&s->part, sc->client), &steps, &samples);
    const double b[4] = {t0, t0 + sc->d_down, t0 + sc->d_down + sc->d_comp,
                         t0 + sc->d_down + sc->d_comp + sc->d_up};
    static const char *const phase[3] = {"download", "compute", "upload"};
    fs_err e = FS_OK;
    for (int ph = 0; ph < 3 && !e; ph++) {
        if (b[ph] >= sc->t_end && ph > 0) break;
        double end = b[ph + 1] < sc->t_end ? b[ph + 1] : sc->t_end;
        int done = b[ph + 1] <= sc->t_end;
        met_client_event ev = {sc->client,
                               round,
                               phase[ph],
                               b[ph],
                               end,
                               done && ph < 2 ? "completed" : outcome,
                               ph == 1 ? samples : 0,
                               ph == 0   ? sc->moved_down
                               : ph == 2 ? sc->moved_up
                                         : 0,
                               0,
                               NAN};
        e = ev_push(s, &ev);
    }
    return e;
}

/* The round's row and, with output.client_events, its client events, in one transaction. */
static fs_err write_round(run_state *s, const met_round_row *row)
{
    if (!s->client_events && !s->n_cev && !s->conf_now) return met_round(&s->store, row);
    fs_err e = met_begin(&s->store);
    if (s->conf_now) e = met_confusion_add(&s->store, row->round, s->model.n_classes, s->conf);
    s->conf_now = 0;
    for (size_t i = 0; i < s->n_ev && !e; i++) e = met_client_event_add(&s->store, &s->ev[i]);
    for (int i = 0; i < s->n_cev && !e; i++) e = met_client_eval_add(&s->store, &s->cev[i]);
    s->n_ev = 0;
    s->n_cev = 0;
    if (!e) e = met_round(&s->store, row);
    if (!e) e = met_commit(&s->store);
    return e ? met_rollback(&s->store, e) : FS_OK;
}

#include "engine/async.inc"

/* eval.clients: a fixed sample of clients (the first of a permutation from (RNG_EVAL, 0, 0)),
 * chosen once so that every evaluation sees the same clients. */
static fs_err eval_clients_setup(run_state *s)
{
    const uint32_t N = s->part.n_clients;
    const int want = s->c->eval.clients;
    if (want <= 0) return FS_OK;
    uint32_t *perm = FS_CALLOC(N, sizeof *perm);
    if (!perm) return FS_ENOMEM;
    for (uint32_t i = 0; i < N; i++) perm[i] = i;
    rng_t r;
    rng_init(&r, s->c->seed, RNG_EVAL, 0, 0);
    const uint32_t n = (uint32_t)want < N ? (uint32_t)want : N;
    for (uint32_t i = 0; i < n; i++) { /* partial Fisher-Yates */
        uint32_t j = i + (uint32_t)rng_below(&r, N - i);
        uint32_t t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
    s->eval_cl = perm; /* the first n entries are used */
    s->n_eval_cl = (int)n;
    s->cev = FS_CALLOC(n, sizeof *s->cev);
    return s->cev ? FS_OK : FS_ENOMEM;
}

/* eval.train_samples: min(N, pool) of the pool of all clients' training samples, by selection
 * sampling (Knuth's algorithm S) over the pool in client order from (RNG_EVAL, 1, 0), so the
 * sample is uniform, drawn once, and comes out grouped by client. */
static fs_err eval_train_setup(run_state *s)
{
    const partition *p = &s->part;
    const int want = s->c->eval.train_samples;
    if (want <= 0) return FS_OK;
    size_t pool = 0;
    uint32_t holders = 0;
    for (uint32_t c = 0; c < p->n_clients; c++) {
        pool += part_size(p, c);
        holders += part_size(p, c) > 0;
    }
    size_t need = (size_t)want < pool ? (size_t)want : pool;
    s->tev_idx = FS_CALLOC(need ? need : 1, sizeof *s->tev_idx);
    s->tev_cl = FS_CALLOC(holders ? holders : 1, sizeof *s->tev_cl);
    s->tev_off = FS_CALLOC((size_t)holders + 1, sizeof *s->tev_off);
    if (!s->tev_idx || !s->tev_cl || !s->tev_off) return FS_ENOMEM;
    rng_t r;
    rng_init(&r, s->c->seed, RNG_EVAL, 1, 0);
    size_t left = pool, n = 0, g = 0;
    for (uint32_t c = 0; c < p->n_clients && need > 0; c++) {
        const uint32_t *idx = part_samples(p, c);
        const size_t before = n;
        for (uint32_t i = 0; i < part_size(p, c); i++, left--)
            if (need == left || (double)left * rng_uniform(&r) < (double)need) {
                s->tev_idx[n++] = idx[i];
                need--;
            }
        if (n > before) {
            s->tev_cl[g] = c;
            s->tev_off[++g] = n;
        }
    }
    s->n_tev_groups = g;
    s->tev_lsum = FS_CALLOC(g ? g : 1, sizeof *s->tev_lsum);
    s->tev_hits = FS_CALLOC(g ? g : 1, sizeof *s->tev_hits);
    return s->tev_lsum && s->tev_hits ? FS_OK : FS_ENOMEM;
}

/* The global model's loss and accuracy on the eval.train_samples sample, each client's samples
 * as that client sees them; in parallel by client, summed in client order (the same bits for
 * any thread count). */
static void eval_train(run_state *s, double *loss, double *acc)
{
    const size_t G = s->n_tev_groups;
#pragma omp parallel for schedule(dynamic, 1) num_threads(s->threads)
    for (size_t g = 0; g < G; g++) {
        int t = 0;
#ifdef _OPENMP
        t = omp_get_thread_num();
#endif
        s->tev_lsum[g] = 0;
        s->tev_hits[g] = 0;
        fl_evaluate_client(&s->workers[t], s->global, &s->ds, &s->ds.train, &s->part, s->tev_cl[g],
                           s->tev_idx + s->tev_off[g], s->tev_off[g + 1] - s->tev_off[g],
                           &s->tev_lsum[g], &s->tev_hits[g]);
    }
    double lsum = 0, hits = 0;
    for (size_t g = 0; g < G; g++) {
        lsum += s->tev_lsum[g];
        hits += (double)s->tev_hits[g];
    }
    const double n = G ? (double)s->tev_off[G] : 0;
    *loss = n > 0 ? lsum / n : NAN;
    *acc = n > 0 ? hits / (n * s->model.y_len) : NAN;
}

/* Evaluate the global model on each sampled client's own data (its local test split when the
 * partition has one, else its training samples) as the client sees it (with its feature
 * transform), in parallel; results in client order. */
static void eval_clients(run_state *s, int round)
{
#pragma omp parallel for schedule(dynamic, 4) num_threads(s->threads)
    for (int i = 0; i < s->n_eval_cl; i++) {
        int t = 0;
#ifdef _OPENMP
        t = omp_get_thread_num();
#endif
        const uint32_t cl = s->eval_cl[i];
        const int local = s->part.split != NULL;
        const uint32_t n = local ? part_test_size(&s->part, cl) : part_size(&s->part, cl);
        const uint32_t *idx = local ? part_test_samples(&s->part, cl) : part_samples(&s->part, cl);
        met_client_eval *ev = &s->cev[i];
        ev->client = cl;
        ev->round = round;
        ev->n = n;
        double lsum = 0;
        long hits = 0;
        fl_evaluate_client(&s->workers[t], s->global, &s->ds, &s->ds.train, &s->part, cl, idx, n,
                           &lsum, &hits);
        ev->loss = n ? lsum / n : 0;
        ev->acc = n ? (double)hits / ((double)n * s->model.y_len) : 0;
    }
    s->n_cev = s->n_eval_cl;
}

/* The round's privacy metrics (docs/privacy.md): epsilon and clip; secure aggregation's bytes
 * and time, which the round also pays; an aborted protocol leaves the model unchanged. */
static void privacy_row(run_state *s, met_round_row *row, double *vtime)
{
    const priv_stats *p = &s->pst;
    row->epsilon = p->epsilon;
    row->dp_clip = p->clip;
    row->dp_clipped = p->clipped_frac;
    row->bytes_up += p->sa_bytes_up;
    row->bytes_down += p->sa_bytes_down;
    row->secagg_bytes = p->sa_bytes_up + p->sa_bytes_down;
    row->secagg_time_s = p->sa_time_s;
    *vtime += p->sa_time_s;
    row->vtime_s = *vtime;
    if (p->sa_abort[0]) {
        row->secagg_abort = p->sa_abort;
        row->completed = 0;
        row->abandoned = 1;
        row->flops_wasted += row->flops_used;
        row->flops_used = 0;
    }
}

static const char *default_db(const cfg *c, const sim_opts *o, char *buf, size_t cap)
{
    if (o->db_path) return o->db_path;
    if (c->output.db[0]) return c->output.db;
    snprintf(buf, cap, "results/%s.db", c->name);
    return buf;
}

/* Write the global model to <checkpoint dir>/<name>[-<run key>]-<label>.h5 (the run key only
 * in a sweep, whose runs share one directory); the directory is created when missing. */
static fs_err save_checkpoint(const run_state *s, const sim_opts *o, const char *db,
                              const char *run_key, const char *label, int round, char *path,
                              size_t cap)
{
    const cfg *c = s->c;
    char dir[1024];
    if (o->ckpt_db) db = o->ckpt_db;
    if (c->checkpoint.dir[0]) {
        snprintf(dir, sizeof dir, "%s", c->checkpoint.dir);
    } else {
        size_t n = strlen(db);
        if (n > 3 && strcmp(db + n - 3, ".db") == 0) n -= 3;
        snprintf(dir, sizeof dir, "%.*s-ckpt", (int)n, db);
    }
    for (char *p = dir + 1; *p; p++) { /* mkdir -p */
        if (*p != '/') continue;
        *p = '\0';
        mkdir(dir, 0777);
        *p = '/';
    }
    if (mkdir(dir, 0777) != 0 && errno != EEXIST)
        return fs_error(FS_EIO, "cannot create the checkpoint directory %s: %s", dir,
                        strerror(errno));
    snprintf(path, cap, "%s/%s%s%s-%s.h5", dir, c->name, o->sweep_id ? "-" : "",
             o->sweep_id ? run_key : "", label);
    nn_ckpt_meta meta = {.round = round};
    snprintf(meta.dataset, sizeof meta.dataset, "%s", s->ds.name);
    snprintf(meta.scenario, sizeof meta.scenario, "%s", c->name);
    if (s->ds.vocab) snprintf(meta.vocab, sizeof meta.vocab, "%s", s->ds.vocab);
    return nn_ckpt_save(path, &s->model, s->global, &meta);
}

fs_err sim_run(const cfg *c, const sim_opts *o, sim_summary *out)
{
    memset(out, 0, sizeof *out);
    out->final_acc = out->final_loss = NAN;
    snprintf(out->status, sizeof out->status, "failed");
    const double t_start = time_now();
    run_state *s = calloc(1, sizeof *s);
    if (!s) return fs_error(FS_ENOMEM, "out of memory");
    /* set-up writes nothing, so a signal during it (polled by every long set-up loop) ends the
     * run with FS_EINTR and no database */
    fs_err e = setup(s, c, o);
    if (!e) e = eval_clients_setup(s);
    if (!e && strcmp(c->eval.confusion, "true") == 0 &&
        !(s->conf = FS_CALLOC((size_t)s->model.n_classes * s->model.n_classes, sizeof *s->conf)))
        e = FS_ENOMEM;
    if (!e) e = eval_train_setup(s);
    if (!e) e = fs_stopped();
    char dbbuf[1024], desc[256];
    const char *db = default_db(c, o, dbbuf, sizeof dbbuf);
    snprintf(out->db_path, sizeof out->db_path, "%s", db);
    /* mpirun: every rank has set up, rank 0 opens the record; the first failure is everyone's,
     * then the other ranks train what rank 0 sends them until it is done */
    const int worker = o->distribute && dist_rank() != 0;
    if (!e && o->distribute && dist_size() > c->rounds.clients_per_round)
        e = fs_error(FS_EINPUT,
                     "mpirun -n %d: more ranks than rounds.clients_per_round = %d, so some "
                     "would never train (use -n %d or fewer)",
                     dist_size(), c->rounds.clients_per_round, c->rounds.clients_per_round);
    if (!e && o->distribute && dist_size() > 1 && s->rb)
        e = fs_error(FS_EINPUT, "adversary.* and aggregation.* do not run under mpirun yet: the "
                                "poisoned training and the kept updates live on one process "
                                "(run without mpirun)");
    if (o->distribute) e = dist_agree(e); /* every rank's set-up */
    if (!e && !worker) {
        if ((e = met_open(&s->store, db)) == FS_OK) {
            s->store_open = 1;
        } else if (e == FS_EIO) { /* a path the user can fix */
            char msg[1024];
            snprintf(msg, sizeof msg, "%s", fs_errmsg());
            e = fs_error(FS_EINPUT, "%s (hint: --db PATH or output.db: a writable place)", msg);
        }
    }
    if (o->distribute) {
        e = dist_agree(e); /* rank 0's record */
        s->denv = (dist_env){s->algo,
                             {&s->model, &s->ds, &s->part, s->global, &s->tc, c->seed, 0, &s->srv.p,
                              s->srv.bcast, NULL},
                             s->global,
                             s->srv.bcast,
                             s->model.n_params,
                             s->workers,
                             s->threads,
                             s->ocs != NULL};
        if (!e && worker) e = dist_serve(&s->denv);
        if (!e && !worker) {
            s->dist = 1;
            dist_run_begin();
        }
    }
    if (e || worker) {
        state_free(s);
        free(s);
        return e;
    }
    nn_model_describe(&s->model, desc, sizeof desc);
    if (!o->quiet) {
        log_info("scenario '%s': %s, %zu train / %zu test samples, %u clients (%s), seed %llu",
                 c->name, s->ds.name, s->ds.train.n, s->ds.test.n, s->part.n_clients,
                 c->partition.kind, (unsigned long long)c->seed);
        log_info("model %s; %s; %d rounds x %d clients; %d threads", desc, s->algo->name,
                 c->rounds.count, c->rounds.clients_per_round, s->threads);
        if (s->pv) log_info("%s", priv_describe(s->pv));
        if (s->dist)
            log_info("MPI: %d ranks, each client chunk split over them (docs/cluster.md)",
                     dist_size());
        if (s->rb) log_info("%s", robust_describe(s->rb));
    }
    s->client_events = strcmp(c->output.client_events, "true") == 0;
    char *json = cfg_to_json(c);
    met_run_info info = {.name = c->name,
                         .scenario_text = o->scenario_text,
                         .params_json = json,
                         .seed = c->seed,
                         .model_desc = desc,
                         .n_params = (long)s->model.n_params,
                         .n_clients = (long)s->part.n_clients};
    char run_key[SWEEP_KEY_LEN + 1];
    e = sweep_compute_key(c, run_key);
    info.run_key = run_key;
    info.sweep_id = o->sweep_id;
    info.swept_json = o->swept_json;
    if (!e) e = met_run_begin(&s->store, &info);
    free(json);
    if (e) {
        state_free(s);
        free(s);
        return e;
    }
    out->recorded = 1;

    const int tty = !o->quiet && isatty(STDERR_FILENO);
    double vtime = 0, last_acc = NAN, train_wall = 0;
    const int K = c->rounds.clients_per_round;
    const int m = (int)ceil(K * (1.0 + c->rounds.overcommit));
    int r;
    const int async = strcmp(c->protocol, "async") == 0;
    if (async) e = async_init(s);
    if (async && s->dist && !o->quiet)
        log_warn("protocol: async trains on rank 0 only (the other %d ranks wait)",
                 dist_size() - 1);
    for (r = 1; r <= c->rounds.count && !e; r++) {
        if (o->stop && *o->stop) {
            e = FS_EINTR;
            break;
        }
        met_round_row row = {0};
        row.epsilon = row.dp_clip = row.dp_clipped = NAN;
        row.backdoor_asr = row.malicious_kept = row.benign_kept = NAN;
        if (async) {
            e = async_step(s, r, &vtime, &row, &train_wall, o->stop);
            if (e) break;
            goto finish;
        }
        row.round = r;
        row.staleness_mean = row.staleness_max = NAN;
        double t0 = vtime;
        const int poisson = s->pv && priv_poisson(s->pv); /* round size varies: wait for all */
        if (poisson && (e = select_poisson(s, (uint32_t)r, t0, &row.available))) break;
        if (!poisson) s->sr.n = select_round(s, (uint32_t)r, t0, m, &row.available);
        /* too few online: wait (re-checking every retry_s) up to rounds.wait_s */
        while (!poisson && s->sr.n < K && t0 + c->rounds.retry_s <= vtime + c->rounds.wait_s) {
            t0 += c->rounds.retry_s;
            s->sr.n = select_round(s, (uint32_t)r, t0, m, &row.available);
        }
        row.wait_s = t0 - vtime;
        s->q.now = t0 > s->q.now ? t0 : s->q.now;
        s->sr.t0 = t0;
        for (int i = 0; i < s->sr.n; i++) plan_client(s, &s->sr.c[i], (uint32_t)r, t0);
        if (s->sr.n > 0)
            e = sched_run_round(&s->q, &s->sr, poisson ? s->sr.n : K, c->rounds.deadline_s);
        else
            s->sr.t_close = t0, s->sr.n_completed = s->sr.n_dropped = s->sr.n_late = 0;
        if (e) break;
        /* too few updates arrived: the round is abandoned, its work wasted */
        const int accepted = s->sr.n_completed >= c->rounds.min_updates;
        for (int i = 0; i < s->sr.n; i++) {
            const sched_client *sc = &s->sr.c[i];
            row.bytes_down += sc->moved_down;
            row.bytes_up += sc->moved_up;
            if (sc->outcome == SCHED_COMPLETED && accepted)
                row.flops_used += sc->flops_done;
            else
                row.flops_wasted += sc->flops_done;
            if (sc->outcome == SCHED_DROPPED) {
                row.dropped_random += sc->drop_cause == DROP_RANDOM;
                row.dropped_offline += sc->drop_cause == DROP_OFFLINE;
                row.dropped_failure += sc->drop_cause == DROP_FAILURE;
            }
        }
        for (int i = 0; i < s->sr.n && !e; i++)
            e = ev_client(s, &s->sr.c[i], t0, r, outcome_name(&s->sr.c[i], accepted));
        if (e) break;
        if (!accepted) s->sr.n_completed = 0;
        double samples = 0, t_train = time_now();
        row.train_loss = NAN;
        if (!o->schedule_only) e = train_round(s, (uint32_t)r, &row.train_loss, &samples, o->stop);
        train_wall += time_now() - t_train;
        if (e) break;
        if (s->rb && !o->schedule_only) {
            robust_row(s->rb, &row);
            robust_events(s->rb, s->ev, s->n_ev);
        }
        state_bytes(s, &row.state_bytes, &row.state_disk_bytes);
        vtime = s->sr.t_close;
        row.vtime_s = vtime;
        row.selected = s->sr.n;
        row.completed = s->sr.n_completed;
        row.dropped = s->sr.n_dropped;
        row.late = s->sr.n_late;
        row.abandoned = s->sr.n_completed == 0;
        if (s->pv && !o->schedule_only) privacy_row(s, &row, &vtime);
    finish:
        if (!isfinite(vtime)) { /* devices or links so slow (tiers, traces) that time overflows */
            e = fs_error(FS_EINPUT,
                         "round %d: virtual time overflowed (%g s): device FLOP/s or bandwidths "
                         "too small (devices.*, network.*, tier or trace files)",
                         r, vtime);
            break;
        }
        row.test_loss = row.test_acc = row.global_train_loss = row.global_train_acc = NAN;
        if (!o->schedule_only && (r % c->eval.every == 0 || r == c->rounds.count)) {
            if (s->conf) {
                memset(s->conf, 0, (size_t)s->model.n_classes * s->model.n_classes * sizeof(long));
                s->conf_now = 1;
            }
            fl_evaluate(&s->eval_worker, s->global, &s->ds, &s->ds.test,
                        (size_t)c->eval.test_samples, &row.test_loss, &row.test_acc, s->conf);
            eval_clients(s, r);
            if (s->tev_idx) eval_train(s, &row.global_train_loss, &row.global_train_acc);
            if (s->rb) row.backdoor_asr = robust_asr(s->rb, &s->eval_worker, s->global);
            last_acc = row.test_acc;
            out->final_acc = row.test_acc;
            out->final_loss = row.test_loss;
        }
        row.wall_s = time_now() - t_start;
        e = write_round(s, &row);
        if (!e && !o->schedule_only && c->checkpoint.every > 0 && r % c->checkpoint.every == 0) {
            char label[32], ck[2048];
            snprintf(label, sizeof label, "round-%d", r);
            e = save_checkpoint(s, o, db, run_key, label, r, ck, sizeof ck);
        }
        out->rounds_done = r;
        out->updates += row.completed;
        out->dropped += row.dropped;
        out->late += row.late;
        if (!o->quiet) {
            char vt[32], eta[32];
            fmt_duration(vtime, vt, sizeof vt);
            fmt_duration(row.wall_s / r * (c->rounds.count - r), eta, sizeof eta);
            if (tty)
                fprintf(stderr,
                        "\r  round %d/%d | virtual %s | updates %ld/%ld (drop %ld, late %ld) | "
                        "loss %.4f | test acc %5.2f%% | ETA %s   ",
                        r, c->rounds.count, vt, row.completed, row.selected, row.dropped, row.late,
                        row.train_loss, 100 * last_acc, eta);
            else if (!isnan(row.test_acc))
                log_info("round %d/%d virtual %s updates %ld/%ld dropped %ld late %ld train loss "
                         "%.4f test acc %.2f%%",
                         r, c->rounds.count, vt, row.completed, row.selected, row.dropped, row.late,
                         row.train_loss, 100 * row.test_acc);
        }
    }
    if (tty) fputc('\n', stderr);
    out->vtime_s = vtime;
    out->wall_s = time_now() - t_start;
    out->train_wall_s = train_wall;
    /* the final model, also of a run interrupted before its first round ended (the model as
     * initialised, round 0) */
    if ((e == FS_OK || e == FS_EINTR) && !o->schedule_only) {
        char ck[2048];
        fs_err ec = save_checkpoint(s, o, db, run_key, "final", out->rounds_done, ck, sizeof ck);
        if (ec && !e) e = ec;
        if (!ec && !o->quiet) log_info("final checkpoint: %s", ck);
    }
    if (s->dist && !o->quiet) {
        dist_stats ds;
        dist_stats_get(&ds);
        log_info("MPI: %.2f s of %.2f s in MPI calls at rank 0 (waiting included), %ld chunks, "
                 "%.1f MB sent, %.1f MB received",
                 ds.mpi_s, out->wall_s, ds.chunks, ds.bytes_sent / 1e6, ds.bytes_recv / 1e6);
    }
    const char *status = e == FS_OK ? "completed" : e == FS_EINTR ? "interrupted" : "failed";
    snprintf(out->status, sizeof out->status, "%s", status);
    fs_err e2 =
        met_run_end(&s->store, status, out->wall_s, e && e != FS_EINTR ? fs_errmsg() : NULL);
    if (!e) e = e2;
    state_free(s);
    free(s);
    return e;
}
