/* The set-up checks of a run that need no training, shared by `fedsim validate` and `fedsim run`
 * (before sim_run allocates anything): the dataset file's header, array shapes and labels (not
 * its samples), the partition sizes, the device and availability models (their trace and tiers
 * files), the model's shapes and frozen layers, the peak memory
 * estimate against the machine's limit, and model.init_from. Each failure names the scenario key
 * it comes from (file:line:col). The estimate counts what set-up (setup.c) allocates, by the same
 * formulas (sim_chunk_clients, nn_worker_bytes, comm_estimate_bytes, pers_estimate_bytes,
 * priv_estimate_bytes, robust_estimate_bytes). */
#include "engine/setup_check.h"
#include "engine/comm.h"
#include "engine/personal.h"
#include "engine/priv.h"
#include "engine/robust.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "config/model.h"
#include "config/personal.h"
#include "data/dataset.h"
#include "data/partition.h"
#include "device/avail.h"
#include "device/device.h"
#include "fl/algorithm.h"
#include "nn/checkpoint.h"
#include "nn/model.h"
#include "nn/zoo.h"

#define MIB 1048576.0

int sim_chunk_clients(int threads, double per_client, int clients_per_round)
{
    int chunk = 4 * threads < 8 ? 8 : 4 * threads;
    while (chunk < 64 && (chunk * 2) * per_client <= 256.0 * MIB && chunk < clients_per_round)
        chunk *= 2;
    return chunk;
}

int sim_selection_cap(const cfg *c, uint32_t n_clients)
{
    int m = (int)ceil(c->rounds.clients_per_round * (1.0 + c->rounds.overcommit));
    if ((uint32_t)m > n_clients) m = (int)n_clients;
    return m;
}

int sim_thread_count(const cfg *c, int override)
{
    int t = override > 0 ? override : c->threads;
#ifdef _OPENMP
    if (t <= 0) t = omp_get_num_procs();
#else
    t = 1;
#endif
    return t;
}

/* A number from a one-line file, or -1 ("max" or unreadable). */
static double read_number(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    double v = -1;
    if (fscanf(f, "%lf", &v) != 1) v = -1;
    fclose(f);
    return v;
}

double sim_mem_limit(char *src, size_t cap)
{
    double lim = INFINITY;
    snprintf(src, cap, "no known limit");
    FILE *f = fopen("/proc/meminfo", "r");
    if (f) {
        char line[256];
        double kb;
        while (fgets(line, sizeof line, f))
            if (sscanf(line, "MemAvailable: %lf kB", &kb) == 1) {
                lim = kb * 1024.0;
                snprintf(src, cap, "MemAvailable in /proc/meminfo");
            }
        fclose(f);
    }
    const double max = read_number("/sys/fs/cgroup/memory.max");
    const double cur = read_number("/sys/fs/cgroup/memory.current");
    if (max > 0 && cur >= 0 && max - cur < lim) {
        lim = max - cur;
        snprintf(src, cap, "the cgroup's memory.max less memory.current");
    }
    struct rlimit rl;
    if (getrlimit(RLIMIT_AS, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
        (double)rl.rlim_cur < lim) {
        lim = (double)rl.rlim_cur;
        snprintf(src, cap, "the address-space limit (ulimit -v)");
    }
    return lim;
}

/* A store of n_clients vectors of vb bytes under the cap capb (0: none): fl_cstate_new keeps
 * at least one vector in memory. */
static double store_bytes(uint32_t n_clients, double vb, double capb)
{
    const double all = (double)n_clients * vb;
    return capb > 0 && capb < all ? (capb > vb ? capb : vb) : all;
}

void sim_estimate_memory(const cfg *c, const dataset *ds, size_t n_train, size_t n_test,
                         uint32_t n_clients, const nn_model *m, int threads, sim_estimate *est)
{
    memset(est, 0, sizeof *est);
    const fl_algorithm *a = fl_find(c->algorithm.name);
    const double np = (double)m->n_params, f = sizeof(float);
    const double xb = (double)ds->feat * (ds->dtype == DS_F32 ? 4.0 : 1.0);
    const double yb = 4.0 * ds->y_len + (ds->n_natural > 0 ? 4.0 : 0.0);
    est->data = (double)(n_train + n_test) * (xb + yb);
    est->partition = 4.0 * (double)n_train * (c->partition.local_test_fraction > 0 ? 2 : 1) +
                     8.0 * (n_clients + 1.0) + 4.0 * n_clients; /* idx, offsets, selection perm */
    const int two = a ? a->two_uploads : 0, sv = a ? a->state_vecs : 0;
    const int keep_opt =
        strcmp(c->train.optimizer_state, "per_client") == 0 && c->train.momentum != 0;
    /* global model, the double aggregate(s), the server's vectors (double) */
    est->model = np * f + np * 8.0 * (1 + two) + np * 8.0 * (a ? a->server_vecs : 0);
    int max_batch = c->train.batch_size;
    if (a && a->one_pass && max_batch < 256) max_batch = 256; /* as setup.c sizes it */
    est->workers = threads * nn_worker_bytes(m, max_batch) +
                   nn_worker_bytes(m, m->seq_len ? 32 : SIM_EVAL_BATCH);
    /* a client state vector: FedPer's and FedRep's hold only the personal layers (packed) */
    double sd = sv ? np : 0;
    if (sv && a->packed_state) {
        fl_params p = fl_params_default();
        if (pers_layers(c, m, &p) == FS_OK) sd = (double)fl_state_dim(a, &p, m->n_params);
    }
    const double per_client = np * f * (1 + two + keep_opt) + sd * f;
    const int chunk = sim_chunk_clients(threads, per_client, c->rounds.clients_per_round);
    est->chunk = chunk * per_client;
    /* client state stores: all participants' vectors up to algorithm.state_memory_mb each */
    const double capb = c->algorithm.state_memory_mb * MIB;
    est->state =
        store_bytes(n_clients, sd * f, capb) + keep_opt * store_bytes(n_clients, np * f, capb);
    /* compression (setup_schedule: comm_new) and personalized evaluation (pers_new) */
    comm_estimate_bytes(c, m, chunk, threads, (size_t)capb, n_clients, &est->comm, &est->residuals);
    est->pers = pers_estimate_bytes(c, a, m->n_params, n_clients, chunk, threads);
    /* privacy (priv_new, a secure-aggregation round) and robustness (robust_new, a round) */
    est->priv = priv_estimate_bytes(c, a, m->n_params, n_clients, sim_selection_cap(c, n_clients),
                                    chunk, threads);
    est->robust = robust_estimate_bytes(c, m->n_params, n_clients, n_train, n_test,
                                        c->rounds.clients_per_round, threads);
    est->total = est->data + est->partition + est->model + est->workers + est->chunk + est->state +
                 est->comm + est->residuals + est->pers + est->priv + est->robust;
}

static void fmt_bytes(double b, char *buf, size_t cap)
{
    if (b >= 1e9)
        snprintf(buf, cap, "%.1f GB", b / 1e9);
    else
        snprintf(buf, cap, "%.0f MB", ceil(b / 1e6));
}

/* Fill d at key path with the message of the error just recorded. */
static fs_err at(cfg_diag *d, const cfg *c, const char *file, const char *path, fs_err e,
                 const char *hint)
{
    char msg[sizeof d->msg];
    snprintf(msg, sizeof msg, "%s", fs_errmsg());
    cfg_diag_key(d, c, file, path);
    snprintf(d->msg, sizeof d->msg, "%s", msg);
    snprintf(d->hint, sizeof d->hint, "%s", hint);
    return e;
}

/* Why fedsim could not create or write path (a directory when dir, else a file), or NULL: the
 * path itself, if it exists, must be of that kind and writable; else its nearest existing
 * ancestor must be a writable directory (run creates the missing ones). Nothing is created. */
static const char *not_writable(const char *path, int dir, char *why, size_t cap)
{
    char p[1024];
    snprintf(p, sizeof p, "%s", path);
    struct stat sb;
    if (stat(p, &sb) == 0) {
        if (dir && !S_ISDIR(sb.st_mode))
            return snprintf(why, cap, "exists and is not a directory"), why;
        if (!dir && S_ISDIR(sb.st_mode)) return snprintf(why, cap, "is a directory"), why;
        if (access(p, W_OK | (dir ? X_OK : 0)) != 0)
            return snprintf(why, cap, "is not writable: %s", strerror(errno)), why;
        return NULL;
    }
    for (;;) {
        char *slash = strrchr(p, '/');
        while (slash && slash > p && slash[1] == '\0') { /* trailing slashes */
            *slash = '\0';
            slash = strrchr(p, '/');
        }
        if (!slash) {
            snprintf(p, sizeof p, ".");
        } else if (slash == p) {
            p[1] = '\0';
        } else {
            *slash = '\0';
        }
        if (stat(p, &sb) == 0) {
            if (!S_ISDIR(sb.st_mode))
                return snprintf(why, cap, "cannot be created: %.200s is not a directory", p), why;
            if (access(p, W_OK | X_OK) != 0)
                return snprintf(why, cap, "cannot be created in %.200s: %s", p, strerror(errno)),
                       why;
            return NULL;
        }
        if (strcmp(p, ".") == 0 || strcmp(p, "/") == 0)
            return snprintf(why, cap, "cannot be created: %s", strerror(errno)), why;
    }
}

/* The key a model error comes from. */
static const char *model_key(const cfg *c, const char *msg)
{
    if (c->model.n_freeze > 0 && strstr(msg, "freeze")) return "model.freeze";
    return strcmp(c->model.name, "custom") == 0 ? "model.layers" : "model.name";
}

/* The data's sizes (synthetic: expected values from the generator's parameters; a file: its
 * header and labels, its kind, and the partition). */
static fs_err check_data(const cfg *c, const char *file, cfg_diag *d, dataset *ds, partition *p,
                         size_t *n_train, size_t *n_test, uint32_t *n_clients)
{
    const int synthetic = strcmp(c->data.dataset, "synthetic") == 0;
    fs_err e = FS_OK;
    if (synthetic) { /* generated: sizes from the generator's parameters (expected values) */
        ds->dtype = DS_F32;
        ds->shape[0] = ds->shape[1] = 1;
        ds->shape[2] = c->data.synthetic_dim;
        ds->feat = (size_t)c->data.synthetic_dim;
        ds->y_len = 1;
        ds->n_classes = c->data.synthetic_classes;
        ds->n_natural = c->data.synthetic_clients;
        const double s = c->data.synthetic_size_sigma;
        const double per =
            exp(log(c->data.synthetic_size_mean > 0 ? c->data.synthetic_size_mean : 1) +
                s * s / 2) +
            c->data.synthetic_min_size;
        const double n =
            strcmp(c->data.synthetic_lazy, "true") == 0 ? 0 : c->data.synthetic_clients * per;
        *n_train = (size_t)n;
        *n_test = (size_t)(n * c->data.synthetic_test_fraction);
        *n_clients = (uint32_t)c->data.synthetic_clients;
    } else {
        if ((e = ds_load_labels(c->data.path, ds))) {
            at(d, c, file, "data.path", e,
               "data.path must name a fedsim HDF5 dataset (fedsim data import ...; "
               "docs/datasets.md)");
            return e;
        }
        if ((e = ds_check_kind(c->data.path, c->data.dataset))) { /* kjv on an FMNIST file */
            at(d, c, file, "data.dataset", e,
               "data.dataset names the kind of data the file must hold (docs/datasets.md)");
            return e;
        }
        if ((e = sim_make_partition(c, ds, p))) {
            const char *msg = fs_errmsg();
            at(d, c, file,
               strstr(msg, "min_size")  ? "partition.min_size"
               : strstr(msg, "shards")  ? "partition.labels_per_client"
               : strstr(msg, "clients") ? "partition.clients"
               : strstr(msg, "feature") ? "partition.feature_skew"
               : strstr(msg, "local")   ? "partition.local_test_fraction"
                                        : "partition.kind",
               e,
               "fewer clients, a smaller partition.min_size, or another partition.kind "
               "(docs/datasets.md)");
            return e;
        }
        if ((uint32_t)c->rounds.clients_per_round > p->n_clients) {
            e = fs_error(FS_EINPUT, "rounds.clients_per_round = %d exceeds the %u clients",
                         c->rounds.clients_per_round, p->n_clients);
            at(d, c, file, "rounds.clients_per_round", e, "lower rounds.clients_per_round");
            return e;
        }
        *n_train = ds->train.n;
        *n_test = ds->test.n;
        *n_clients = p->n_clients;
    }
    return e;
}

/* The device and availability models (their trace and tiers files). */
static fs_err check_devices(const cfg *c, const char *file, cfg_diag *d, uint32_t n_clients)
{
    dev_model dev;
    av_model av;
    memset(&dev, 0, sizeof dev);
    memset(&av, 0, sizeof av);
    fs_err e = sim_make_devices(c, n_clients, &dev, &av);
    dev_free(&dev);
    av_free(&av);
    if (e) {
        const char *msg = fs_errmsg();
        at(d, c, file,
           strstr(msg, "device trace")   ? "devices.trace"
           : strstr(msg, "device tiers") ? "devices.tiers_file"
           : strstr(msg, "availability.trace") || strstr(msg, "availability trace")
               ? "availability.trace"
               : "devices.model",
           e, "a CSV file as docs/systems.md describes");
    }
    return e;
}

/* The model's shapes and frozen layers, and its fit to the task. */
static fs_err check_model(const cfg *c, const char *file, cfg_diag *d, const dataset *ds,
                          nn_model *m)
{
    fs_err e;
    if ((e = cfg_build_model(m, c, ds->shape, ds->n_classes))) {
        const char *key = model_key(c, fs_errmsg());
        at(d, c, file, key, e,
           strcmp(key, "model.freeze") == 0
               ? "model.freeze lists layers with parameters by name (docs/models.md)"
               : "each layer's output must fit the next layer's input, from the data's sample "
                 "shape (docs/models.md)");
        return e;
    }
    if (m->y_len != ds->y_len) {
        e = fs_error(FS_EINPUT, "dataset '%s' is %s but model '%s' %s", ds->name,
                     ds->task == DS_SEQUENCE ? "a next-symbol task over sequences"
                                             : "a classification task",
                     c->model.name,
                     m->seq_len ? "predicts one symbol per step (use a classifier)"
                                : "is a classifier (use char_lstm, or a custom model starting "
                                  "with an embedding)");
        at(d, c, file, "model.name", e, "docs/models.md lists which model fits which data");
        return e;
    }
    return FS_OK;
}

/* The peak memory estimate against the machine's limit, naming the largest part's key. */
static fs_err check_memory(const cfg *c, const char *file, cfg_diag *d, const dataset *ds,
                           size_t n_train, size_t n_test, uint32_t n_clients, const nn_model *m,
                           int threads_override, sim_estimate *out)
{
    const int threads = sim_thread_count(c, threads_override);
    sim_estimate est;
    sim_estimate_memory(c, ds, n_train, n_test, n_clients, m, threads, &est);
    est.limit = sim_mem_limit(est.limit_src, sizeof est.limit_src);
    if (out) *out = est;
    if (est.total > est.limit) {
        char tot[32], lim[32], part[32];
        fmt_bytes(est.total, tot, sizeof tot);
        fmt_bytes(est.limit, lim, sizeof lim);
        const struct {
            double b;
            const char *key, *what;
        } parts[] = {
            {est.data, "data.path", "the dataset in memory"},
            {est.partition, "partition.clients", "the partition"},
            {est.model, "model.name", "the global model, aggregate and server state"},
            {est.workers, "train.batch_size", "the training workers' buffers"},
            {est.chunk, "model.name", "the updates of the clients trained at once"},
            {est.state, "algorithm.state_memory_mb", "the per-client state stores"},
            {est.comm, "compression.kind", "the compression buffers"},
            {est.residuals, "algorithm.state_memory_mb", "the error-feedback residual store"},
            {est.pers,
             cfg_personal_finetune(c) ? c->eval.personalize_steps > 0 ? "eval.personalize_steps"
                                                                      : "eval.personalize_epochs"
                                      : "eval.clients",
             "the personalized evaluation's models"},
            {est.priv, strcmp(c->privacy.secagg, "none") != 0 ? "privacy.secagg" : "privacy.mode",
             "the privacy buffers (secure aggregation's keys, shares and masked vectors)"},
            {est.robust,
             strcmp(c->aggregation.rule, "mean") != 0 ? "aggregation.rule" : "adversary.attack",
             "the robust aggregation's kept updates and scratch"},
        };
        int big = 0;
        for (int i = 1; i < (int)(sizeof parts / sizeof *parts); i++)
            if (parts[i].b > parts[big].b) big = i;
        const char *model = strcmp(c->model.name, "custom") == 0 ? "model.layers"
                            : c->model.hidden.n > 0              ? "model.hidden"
                                                                 : "model.name";
        const char *key = parts[big].key;
        if (big == 2 || big == 4 ||
            (big == 3 && 2.0 * threads * (double)m->n_params * 4.0 > est.workers / 2))
            key = model; /* the parameters dominate, not the batch's activations */
        fmt_bytes(parts[big].b, part, sizeof part);
        fs_err e = fs_error(FS_EINPUT,
                            "this run needs an estimated %s of memory, more than the %s available "
                            "(%s); the largest part is %s: %s",
                            tot, lim, est.limit_src, parts[big].what, part);
        at(d, c, file, key, e,
           "a smaller model, batch, population, clients per round, thread count or "
           "algorithm.state_memory_mb (README.md, 'What validate checks')");
        return e;
    }
    return FS_OK;
}

/* Where the run writes: the database, the checkpoints, the client state spill files. */
static fs_err check_outputs(const cfg *c, const char *file, cfg_diag *d, const char *db)
{
    char dbbuf[CFG_STR + 16], ckpt[CFG_STR + 32], why[512];
    const char *dbp = db ? db : c->output.db[0] ? c->output.db : dbbuf;
    snprintf(dbbuf, sizeof dbbuf, "results/%s.db", c->name);
    if (c->checkpoint.dir[0]) {
        snprintf(ckpt, sizeof ckpt, "%s", c->checkpoint.dir);
    } else {
        size_t n = strlen(dbp);
        if (n > 3 && strcmp(dbp + n - 3, ".db") == 0) n -= 3;
        snprintf(ckpt, sizeof ckpt, "%.*s-ckpt", (int)n, dbp);
    }
    const struct {
        const char *path, *key, *what;
        int dir;
    } outs[] = {
        {dbp, "output.db", db ? "the database (--db)" : "the database", 0},
        {ckpt, "checkpoint.dir", "the checkpoint directory", 1},
        {c->algorithm.state_dir, "algorithm.state_dir", "the client state directory", 1},
    };
    for (int i = 0; i < 3; i++) {
        if (!outs[i].path[0] || !not_writable(outs[i].path, outs[i].dir, why, sizeof why)) continue;
        fs_err e = fs_error(FS_EINPUT, "%s %s %s", outs[i].what, outs[i].path, why);
        at(d, c, file, i == 1 && !c->checkpoint.dir[0] ? "output.db" : outs[i].key, e,
           "choose a path fedsim can create and write (checked by validate, so a run never "
           "fails at its end)");
        return e;
    }
    return FS_OK;
}

/* model.init_from: a checkpoint of the same architecture and symbols. */
static fs_err check_init_from(const cfg *c, const char *file, cfg_diag *d, const dataset *ds,
                              nn_model *m)
{
    if (c->model.init_from[0]) {
        float *params = FS_ALIGNED(m->n_params ? m->n_params : 1, sizeof(float));
        nn_ckpt_meta meta;
        if (!params) return FS_ENOMEM;
        fs_err e = nn_ckpt_load_params(c->model.init_from, m, params, &meta);
        free(params);
        if (e) {
            at(d, c, file, "model.init_from", e == FS_EDATA ? FS_EDATA : FS_EINPUT,
               "a checkpoint of the same architecture (fedsim train-central, or a run's "
               "<name>-final.h5)");
            return e == FS_EDATA ? FS_EDATA : FS_EINPUT;
        }
        if (meta.vocab[0] && ds->vocab && strcmp(meta.vocab, ds->vocab) != 0) {
            e = fs_error(FS_EINPUT,
                         "model.init_from: %s was trained on the symbols \"%s\", dataset "
                         "'%s' has \"%s\" (token ids would mean other characters)",
                         c->model.init_from, meta.vocab, ds->name, ds->vocab);
            at(d, c, file, "model.init_from", e, "a checkpoint trained on the same dataset");
            return e;
        }
    }
    return FS_OK;
}

fs_err sim_check_setup(const cfg *c, int threads_override, const char *db, const char *file,
                       cfg_diag *d, sim_estimate *out)
{
    memset(d, 0, sizeof *d);
    if (strcmp(c->federation, "vertical") == 0) { /* its own checks: vfl_validate_data */
        if (out) {
            memset(out, 0, sizeof *out);
            out->total = out->limit = NAN;
        }
        return FS_OK;
    }
    dataset ds;
    partition p;
    memset(&ds, 0, sizeof ds);
    memset(&p, 0, sizeof p);
    nn_model m;
    size_t n_train = 0, n_test = 0;
    uint32_t n_clients = 0;
    fs_err e = check_data(c, file, d, &ds, &p, &n_train, &n_test, &n_clients);
    if (!e) e = check_devices(c, file, d, n_clients);
    if (!e) e = check_model(c, file, d, &ds, &m);
    if (!e) /* personal layers by name, local test splits (synthetic: known at run time) */
        e = pers_check_setup(c, &m, strcmp(c->data.dataset, "synthetic") == 0 ? NULL : &p, file, d);
    if (!e && (e = robust_check_memory(c, m.n_params, c->rounds.clients_per_round)))
        at(d, c, file, "aggregation.memory_mb", e, "docs/robustness.md, 'Memory'");
    if (!e)
        e = check_memory(c, file, d, &ds, n_train, n_test, n_clients, &m, threads_override, out);
    if (!e) e = check_outputs(c, file, d, db);
    if (!e) e = check_init_from(c, file, d, &ds, &m);
    part_free(&p);
    ds_free(&ds);
    return e;
}
