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
#include <unistd.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "data/dataset.h"
#include "data/partition.h"
#include "data/synthetic.h"
#include "device/device.h"
#include "engine/evq.h"
#include "engine/round.h"
#include "fl/algorithm.h"
#include "nn/model.h"
#include "store/store.h"
#include "util/log.h"
#include "util/rng.h"

/* OpenBLAS: one thread per call; parallelism is across clients. */
void openblas_set_num_threads(int num_threads);

#define EVAL_BATCH 500

fs_err sim_load_data(const cfg *c, dataset *ds)
{
    if (strcmp(c->data.dataset, "synthetic") == 0) {
        synth_cfg s = {c->data.synthetic_clients, c->data.synthetic_alpha,
                       c->data.synthetic_beta,    c->data.synthetic_dim,
                       c->data.synthetic_classes, c->data.synthetic_size_mean,
                       c->data.synthetic_size_sigma, c->data.synthetic_test_fraction,
                       c->seed};
        return synth_generate(&s, ds);
    }
    fs_err e = ds_load(c->data.path, ds);
    if (e == FS_EINPUT && strcmp(c->data.dataset, "fashion-mnist") == 0)
        return fs_error(FS_EINPUT, "%s (hint: run 'fedsim data import fashion-mnist --out %s', "
                                   "or 'make run', which does it)",
                        fs_errmsg(), c->data.path);
    return e;
}

static fs_err make_partition(const cfg *c, const dataset *ds, partition *p)
{
    const char *k = c->partition.kind;
    uint32_t n = (uint32_t)c->partition.clients;
    if (strcmp(k, "iid") == 0) return part_iid(ds->train.n, n, c->seed, p);
    if (strcmp(k, "dirichlet") == 0)
        return part_dirichlet(ds->train.y, ds->train.n, ds->n_classes, n, c->partition.alpha,
                              (uint32_t)c->partition.min_size, c->seed, p);
    if (strcmp(k, "quantity") == 0) {
        int pl = strcmp(c->partition.quantity_dist, "powerlaw") == 0;
        return part_quantity(ds->train.n, n, pl ? PART_Q_POWERLAW : PART_Q_LOGNORMAL,
                             pl ? c->partition.quantity_exponent : c->partition.quantity_sigma,
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
    const fl_algorithm *algo;
    fl_train_cfg tc;
    float *global;
    double *sum;
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
} run_state;

static void state_free(run_state *s)
{
    if (s->workers)
        for (int t = 0; t < s->threads; t++) nn_worker_free(&s->workers[t]);
    free(s->workers);
    nn_worker_free(&s->eval_worker);
    free(s->res);
    free(s->res_buf);
    free(s->global);
    free(s->sum);
    free(s->perm);
    free(s->sr.c);
    free(s->sr.arrival);
    evq_free(&s->q);
    part_free(&s->part);
    ds_free(&s->ds);
    if (s->store_open) met_close(&s->store);
}

/* Select up to m clients uniformly among the available ones (partial Fisher-Yates over the
 * population, checking availability lazily; availability draws are independent of the
 * selection draws, so this is uniform among the available). Returns the count; *available gets
 * the number of available clients in the population. */
static int select_clients(run_state *s, uint32_t round, int m, long *available)
{
    const uint32_t N = s->part.n_clients;
    rng_t r;
    rng_init(&r, s->c->seed, RNG_SELECT, 0, round);
    long avail = 0;
    if (s->dev.avail == DEV_AVAIL_ALWAYS) {
        avail = N;
    } else {
        for (uint32_t i = 0; i < N; i++) avail += dev_available(&s->dev, i, round);
    }
    *available = avail;
    int got = 0;
    for (uint32_t i = 0; i < N && got < m; i++) {
        uint32_t j = i + (uint32_t)rng_below(&r, N - i);
        uint32_t t = s->perm[i];
        s->perm[i] = s->perm[j];
        s->perm[j] = t;
        uint32_t cl = s->perm[i];
        if (part_size(&s->part, cl) == 0 || !dev_available(&s->dev, cl, round)) continue;
        s->sr.c[got++].client = cl;
    }
    return got;
}

static void plan_client(run_state *s, sched_client *sc, uint32_t round)
{
    dev_profile p;
    dev_profile_of(&s->dev, sc->client, &p);
    const double model_bytes = (double)s->model.n_params * sizeof(float);
    long steps, samples;
    fl_local_work(&s->tc, part_size(&s->part, sc->client), &steps, &samples);
    sc->bytes_down = model_bytes;
    sc->bytes_up = model_bytes;
    sc->lat_down = sc->lat_up = p.latency_s;
    sc->d_down = dev_transfer_s(sc->bytes_down, p.down_bps, p.latency_s);
    sc->d_up = dev_transfer_s(sc->bytes_up, p.up_bps, p.latency_s);
    sc->flops = (double)samples * s->model.flops_train;
    sc->d_comp = sc->flops / p.flops;
    rng_t r;
    rng_init(&r, s->c->seed, RNG_DROPOUT, sc->client, round);
    double u = rng_uniform(&r), at = rng_uniform(&r);
    sc->drop_after = u < s->c->dropout.p ? at * (sc->d_down + sc->d_comp + sc->d_up) : INFINITY;
}

static fs_err setup(run_state *s, const cfg *c, const sim_opts *o)
{
    memset(s, 0, sizeof *s);
    s->c = c;
    fs_err e = sim_load_data(c, &s->ds);
    if (e) return e;
    if (s->ds.task != DS_CLASSIFY)
        return fs_error(FS_EINPUT, "dataset '%s' is a sequence task; models for it arrive with "
                                   "char_lstm",
                        s->ds.name);
    e = make_partition(c, &s->ds, &s->part);
    if (e) return e;
    if ((uint32_t)c->rounds.clients_per_round > s->part.n_clients)
        return fs_error(FS_EINPUT, "rounds.clients_per_round = %d exceeds the %u clients",
                        c->rounds.clients_per_round, s->part.n_clients);
    e = nn_zoo_build(&s->model, c->model.name, c->model.hidden.v, c->model.hidden.n, s->ds.shape,
                     s->ds.n_classes);
    if (e) return e;
    s->algo = fl_find(c->algorithm.name);
    if (!s->algo) return fs_error(FS_EINPUT, "unknown algorithm.name '%s'", c->algorithm.name);
    s->tc = (fl_train_cfg){c->train.epochs, c->train.steps, c->train.batch_size,
                           {c->train.lr, c->train.momentum, c->train.weight_decay, 0, 0}};
    s->dev = (dev_model){c->seed,
                         {c->devices.flops.median, c->devices.flops.sigma},
                         {c->network.down_bps.median, c->network.down_bps.sigma},
                         {c->network.up_bps.median, c->network.up_bps.sigma},
                         {c->network.latency_s.median, c->network.latency_s.sigma},
                         strcmp(c->availability.mode, "bernoulli") == 0 ? DEV_AVAIL_BERNOULLI
                                                                        : DEV_AVAIL_ALWAYS,
                         c->availability.p};
    const size_t np = s->model.n_params;
    s->global = FS_ALIGNED(np, sizeof(float));
    s->sum = FS_ALIGNED(np, sizeof(double));
    if (!s->global || !s->sum) return FS_ENOMEM;
    rng_t r;
    rng_init(&r, c->seed, RNG_INIT, 0, 0);
    nn_model_init_params(&s->model, s->global, &r);

    s->threads = o->threads > 0 ? o->threads : c->threads;
#ifdef _OPENMP
    if (s->threads <= 0) s->threads = omp_get_num_procs();
#else
    s->threads = 1;
#endif
    openblas_set_num_threads(1);
    s->workers = FS_CALLOC((size_t)s->threads, sizeof *s->workers);
    if (!s->workers) return FS_ENOMEM;
    int max_batch = c->train.batch_size;
    if (strcmp(c->algorithm.name, "fedsgd") == 0 && max_batch < 256) max_batch = 256;
    for (int t = 0; t < s->threads; t++)
        if ((e = nn_worker_init(&s->workers[t], &s->model, max_batch))) return e;
    if ((e = nn_worker_init(&s->eval_worker, &s->model, EVAL_BATCH))) return e;
    s->chunk = 4 * s->threads < 8 ? 8 : 4 * s->threads;
    s->res = FS_CALLOC((size_t)s->chunk, sizeof *s->res);
    s->res_buf = FS_ALIGNED((size_t)s->chunk * np, sizeof(float));
    if (!s->res || !s->res_buf) return FS_ENOMEM;
    for (int k = 0; k < s->chunk; k++) s->res[k].update = s->res_buf + (size_t)k * np;

    const uint32_t N = s->part.n_clients;
    s->perm = FS_CALLOC(N, sizeof *s->perm);
    if (!s->perm) return FS_ENOMEM;
    for (uint32_t i = 0; i < N; i++) s->perm[i] = i;
    int m = (int)ceil(c->rounds.clients_per_round * (1.0 + c->rounds.overcommit));
    if ((uint32_t)m > N) m = (int)N;
    s->sr.c = FS_CALLOC((size_t)m, sizeof *s->sr.c);
    s->sr.arrival = FS_CALLOC((size_t)m, sizeof *s->sr.arrival);
    if (!s->sr.c || !s->sr.arrival) return FS_ENOMEM;
    return evq_init(&s->q, (size_t)m * 2 + 4);
}

/* Train the arrived clients in chunks, in parallel; sum in arrival order. */
static fs_err train_round(run_state *s, uint32_t round, double *loss_out, double *samples_out,
                          volatile sig_atomic_t *stop)
{
    const size_t np = s->model.n_params;
    fl_round_ctx ctx = {&s->model, &s->ds, &s->part, s->global, &s->tc, s->c->seed, round};
    memset(s->sum, 0, np * sizeof(double));
    double wsum = 0, loss = 0;
    for (int start = 0; start < s->sr.n_completed; start += s->chunk) {
        int n = s->sr.n_completed - start < s->chunk ? s->sr.n_completed - start : s->chunk;
#pragma omp parallel for schedule(dynamic, 1) num_threads(s->threads)
        for (int k = 0; k < n; k++) {
            int t = 0;
#ifdef _OPENMP
            t = omp_get_thread_num();
#endif
            uint32_t cl = s->sr.c[s->sr.arrival[start + k]].client;
            s->algo->client_update(&ctx, cl, &s->workers[t], &s->res[k]);
        }
        for (int k = 0; k < n; k++) {
            FS_CHECK(isfinite(s->res[k].train_loss));
            loss += s->res[k].weight * s->res[k].train_loss;
        }
        fl_weighted_sum_add(s->res, n, np, s->sum, &wsum);
        if (stop && *stop) return FS_EINTR;
    }
    if (wsum > 0) {
        for (size_t i = 0; i < np; i++) s->sum[i] /= wsum;
        fl_server_apply(s->global, s->sum, np, s->c->algorithm.server_lr);
    }
    *loss_out = wsum > 0 ? loss / wsum : NAN;
    *samples_out = wsum;
    return FS_OK;
}

static const char *default_db(const cfg *c, const sim_opts *o, char *buf, size_t cap)
{
    if (o->db_path) return o->db_path;
    if (c->output.db[0]) return c->output.db;
    snprintf(buf, cap, "results/%s.db", c->name);
    return buf;
}

fs_err sim_run(const cfg *c, const sim_opts *o, sim_summary *out)
{
    memset(out, 0, sizeof *out);
    out->final_acc = out->final_loss = NAN;
    snprintf(out->status, sizeof out->status, "failed");
    const double t_start = time_now();
    run_state *s = calloc(1, sizeof *s);
    if (!s) return fs_error(FS_ENOMEM, "out of memory");
    fs_err e = setup(s, c, o);
    if (e) {
        state_free(s);
        free(s);
        return e;
    }
    char dbbuf[1024], desc[256];
    const char *db = default_db(c, o, dbbuf, sizeof dbbuf);
    snprintf(out->db_path, sizeof out->db_path, "%s", db);
    nn_model_describe(&s->model, desc, sizeof desc);
    if (!o->quiet) {
        log_info("scenario '%s': %s, %zu train / %zu test samples, %u clients (%s), seed %llu",
                 c->name, s->ds.name, s->ds.train.n, s->ds.test.n, s->part.n_clients,
                 c->partition.kind, (unsigned long long)c->seed);
        log_info("model %s; %s; %d rounds x %d clients; %d threads", desc, s->algo->name,
                 c->rounds.count, c->rounds.clients_per_round, s->threads);
    }
    e = met_open(&s->store, db);
    if (e) {
        state_free(s);
        free(s);
        return e;
    }
    s->store_open = 1;
    char *json = cfg_to_json(c);
    met_run_info info = {c->name, o->scenario_text, json, c->seed, desc, (long)s->model.n_params,
                         (long)s->part.n_clients};
    e = met_run_begin(&s->store, &info);
    free(json);
    if (e) {
        state_free(s);
        free(s);
        return e;
    }

    const int tty = !o->quiet && isatty(STDERR_FILENO);
    double vtime = 0, last_acc = NAN, train_wall = 0;
    const int K = c->rounds.clients_per_round;
    const int m = (int)ceil(K * (1.0 + c->rounds.overcommit));
    int r;
    for (r = 1; r <= c->rounds.count && !e; r++) {
        if (o->stop && *o->stop) {
            e = FS_EINTR;
            break;
        }
        met_round_row row = {0};
        row.round = r;
        s->sr.t0 = vtime;
        s->sr.n = select_clients(s, (uint32_t)r, m, &row.available);
        for (int i = 0; i < s->sr.n; i++) plan_client(s, &s->sr.c[i], (uint32_t)r);
        if (s->sr.n > 0) e = sched_run_round(&s->q, &s->sr, K, c->rounds.deadline_s);
        else s->sr.t_close = vtime, s->sr.n_completed = s->sr.n_dropped = s->sr.n_late = 0;
        if (e) break;
        for (int i = 0; i < s->sr.n; i++) {
            const sched_client *sc = &s->sr.c[i];
            row.bytes_down += sc->moved_down;
            row.bytes_up += sc->moved_up;
            if (sc->outcome == SCHED_COMPLETED)
                row.flops_used += sc->flops_done;
            else
                row.flops_wasted += sc->flops_done;
        }
        double samples = 0, t_train = time_now();
        row.train_loss = NAN;
        e = train_round(s, (uint32_t)r, &row.train_loss, &samples, o->stop);
        train_wall += time_now() - t_train;
        if (e) break;
        vtime = s->sr.t_close;
        row.vtime_s = vtime;
        row.selected = s->sr.n;
        row.completed = s->sr.n_completed;
        row.dropped = s->sr.n_dropped;
        row.late = s->sr.n_late;
        row.abandoned = s->sr.n_completed == 0;
        row.test_loss = row.test_acc = NAN;
        if (r % c->eval.every == 0 || r == c->rounds.count) {
            fl_evaluate(&s->eval_worker, s->global, &s->ds, &s->ds.test,
                        (size_t)c->eval.test_samples, &row.test_loss, &row.test_acc);
            last_acc = row.test_acc;
            out->final_acc = row.test_acc;
            out->final_loss = row.test_loss;
        }
        row.wall_s = time_now() - t_start;
        e = met_round(&s->store, &row);
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
                         r, c->rounds.count, vt, row.completed, row.selected, row.dropped,
                         row.late, row.train_loss, 100 * row.test_acc);
        }
    }
    if (tty) fputc('\n', stderr);
    out->vtime_s = vtime;
    out->wall_s = time_now() - t_start;
    out->train_wall_s = train_wall;
    const char *status = e == FS_OK ? "completed" : e == FS_EINTR ? "interrupted" : "failed";
    snprintf(out->status, sizeof out->status, "%s", status);
    fs_err e2 = met_run_end(&s->store, status, out->wall_s, e && e != FS_EINTR ? fs_errmsg() : NULL);
    if (!e) e = e2;
    state_free(s);
    free(s);
    return e;
}
