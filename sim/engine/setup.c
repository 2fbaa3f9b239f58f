/* Set-up of a run (see run.h): everything before the record opens, in the order a failure
 * should be reported (inputs, model and state, workers, schedule), polling the stop flag
 * between long steps. Nothing here writes to the database. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/model.h"
#include "engine/run.h"
#include "engine/setup_check.h"
#include "nn/checkpoint.h"
#include "util/log.h"
#include "util/rng.h"

/* OpenBLAS: one thread per call; parallelism is across clients. */
void openblas_set_num_threads(int num_threads);

const char *sim_default_db(const cfg *c, const sim_opts *o, char *buf, size_t cap)
{
    if (o->db_path) return o->db_path;
    if (c->output.db[0]) return c->output.db;
    snprintf(buf, cap, "results/%s.db", c->name);
    return buf;
}

/* Data, partition, model, algorithm and devices; nothing is written. */
/* Where spilled per-client vectors go: algorithm.state_dir, else the database's folder. */
static void state_dir(const cfg *c, const sim_opts *o, char *dir, size_t cap)
{
    char dbbuf[1024];
    const char *db = sim_default_db(c, o, dbbuf, sizeof dbbuf), *slash = strrchr(db, '/');
    if (c->algorithm.state_dir[0])
        snprintf(dir, cap, "%s", c->algorithm.state_dir);
    else
        snprintf(dir, cap, "%.*s", slash ? (int)(slash - db) + (slash == db) : 1, slash ? db : ".");
}

static fs_err setup_inputs(run_state *s, const cfg *c, const sim_opts *o)
{
    fs_err e = sim_load_data(c, &s->ds);
    if (!e) e = fs_stopped();
    if (!e) e = sim_make_partition(c, &s->ds, &s->part);
    if (!e) e = fs_stopped();
    if (e) return e;
    if ((uint32_t)c->rounds.clients_per_round > s->part.n_clients)
        return fs_error(FS_EINPUT, "rounds.clients_per_round = %d exceeds the %u clients",
                        c->rounds.clients_per_round, s->part.n_clients);
    e = cfg_build_model(&s->model, c, s->ds.shape, s->ds.n_classes);
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
    e = sim_make_devices(c, s->part.n_clients, &s->dev, &s->av);
    if (!e) e = fs_stopped();
    return e;
}

/* The global model (initialised or model.init_from), the server's state and the clients'
 * state stores. */
static fs_err setup_model_state(run_state *s, const cfg *c, const sim_opts *o)
{
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
    fl_params fpp = fp; /* q-FFL, Ditto, FedRep, FedPer (engine/personal.h) */
    fs_err e;
    if ((e = pers_params(c, &s->model, &fpp))) return e;
    if ((e = fl_agg_init(&s->agg, np, s->algo->two_uploads)) ||
        (e = fl_server_init(&s->srv, s->algo, &fpp, np, s->part.n_clients)))
        return e;
    /* kept momentum only matters with momentum (else SGD has no state) */
    const int keep_opt =
        strcmp(c->train.optimizer_state, "per_client") == 0 && c->train.momentum != 0;
    if (s->algo->state_vecs || keep_opt) {
        /* the spill files go to algorithm.state_dir, else next to the database; the momentum
         * store has its own algorithm.state_memory_mb */
        char dir[CFG_STR + 16];
        state_dir(c, o, dir, sizeof dir);
        const size_t cap = (size_t)(c->algorithm.state_memory_mb * 1048576.0);
        if (s->algo->state_vecs &&
            (e = fl_cstate_new(&s->cs, fl_state_dim(s->algo, &fpp, np), cap, dir)))
            return e;
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
    return FS_OK;
}

/* One nn_worker per thread, the evaluation worker, and the buffers of a training chunk. */
static fs_err setup_workers(run_state *s, const cfg *c, const sim_opts *o)
{
    const size_t np = s->model.n_params;
    fs_err e;
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
     * better (client sizes vary), at chunk x model-size of memory (sim_chunk_clients) */
    const size_t sd = fl_state_dim(s->algo, &s->srv.p, np); /* packed for FedPer, FedRep */
    const double per_client =
        (double)np * sizeof(float) * (1 + s->algo->two_uploads + (s->ocs ? 1 : 0)) +
        (double)sd * sizeof(float);
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
        if (!(s->res_state = FS_ALIGNED((size_t)s->chunk * sd, sizeof(float)))) return FS_ENOMEM;
        for (int k = 0; k < s->chunk; k++) s->res[k].state = s->res_state + (size_t)k * sd;
    }
    if (s->ocs) {
        if (!(s->res_opt = FS_ALIGNED((size_t)s->chunk * np, sizeof(float)))) return FS_ENOMEM;
        for (int k = 0; k < s->chunk; k++) s->res[k].opt = s->res_opt + (size_t)k * np;
    }
    return FS_OK;
}

/* The selection permutation, the round's arrays, privacy, robustness and the event queue. */
static fs_err setup_schedule(run_state *s, const cfg *c, const sim_opts *o)
{
    fs_err e;
    const uint32_t N = s->part.n_clients;
    s->perm = FS_CALLOC(N, sizeof *s->perm);
    if (!s->perm) return FS_ENOMEM;
    for (uint32_t i = 0; i < N; i++) s->perm[i] = i;
    const int m = sim_selection_cap(c, N);
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
        if ((e = priv_new(c, &s->part, s->model.n_params, s->algo, s->chunk, s->threads, &s->pv)))
            return e;
        s->pst.epsilon = s->pst.clip = s->pst.clipped_frac = NAN;
    }
    if (cfg_robust_wanted(c) && /* adversaries, robust rules: docs/robustness.md */
        (e = robust_new(c, &s->ds, &s->part, &s->model, c->rounds.clients_per_round, s->threads,
                        &s->rb)))
        return e;
    if (comm_wanted(c)) { /* compression residuals spill where client states do */
        char dir[CFG_STR + 16];
        state_dir(c, o, dir, sizeof dir);
        if ((e = comm_new(c, &s->model, s->chunk, dir,
                          (size_t)(c->algorithm.state_memory_mb * 1048576.0), &s->cm)))
            return e;
    }
    if (guided_wanted(c) && (e = guided_new(c, s->part.n_clients, &s->gd))) return e;
    return evq_init(&s->q, (size_t)m * 2 + 4);
}

/* Everything a run needs before it writes anything; a signal during it (polled by every long
 * set-up loop) ends the run with FS_EINTR and no database. */
fs_err run_state_setup(run_state *s, const cfg *c, const sim_opts *o)
{
    s->c = c;
    fs_err e = setup_inputs(s, c, o);
    if (!e) e = setup_model_state(s, c, o);
    if (!e) e = setup_workers(s, c, o);
    if (!e) e = setup_schedule(s, c, o);
    if (e) return e;
    s->pop = (sim_pop){c,         &s->part, &s->dev, &s->av, &s->model, s->algo,
                       &s->srv.p, &s->tc,   s->pv,   s->cm,  s->perm};
    s->evs.on = strcmp(c->output.client_events, "true") == 0;
    e = sim_eval_init(&s->eval, c, &s->ds, &s->part, &s->model);
    if (!e) {
        const pers_env pe = {s->algo,   &s->model, &s->ds,     &s->part,   &s->tc,
                             &s->srv.p, c->seed,   s->workers, s->threads, s->chunk};
        e = pers_new(c, &pe, &s->ps);
    }
    if (!e) e = fs_stopped();
    return e;
}

void run_state_free(run_state *s)
{
    if (s->dist) dist_stop(); /* the other ranks leave dist_serve */
    async_free(s->as);
    priv_free(s->pv);
    robust_free(s->rb);
    comm_free(s->cm);
    guided_free(s->gd);
    pers_free(s->ps);
    if (s->workers)
        for (int t = 0; t < s->threads; t++) nn_worker_free(&s->workers[t]);
    free(s->workers);
    nn_worker_free(&s->eval_worker);
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
    sim_eval_free(&s->eval);
    sim_events_free(&s->evs);
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
