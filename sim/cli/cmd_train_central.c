/* `fedsim train-central SCENARIO [--epochs N] [--out FILE.h5] [--set ...] [--db PATH] [-j N]
 * [--quiet]`: train the scenario's model on the pooled training data of its dataset, the
 * usual upper bound of a federated study and the way to make a pretrained checkpoint. Uses
 * the scenario's model (and model.init_from, model.freeze), train.batch_size, lr, momentum,
 * weight_decay, nesterov, clip_norm; epochs from --epochs, else train.epochs. Prints one line
 * per epoch, records the run in SQLite (default results/<name>-central.db: one `rounds` row
 * per epoch, round = epoch, vtime 0) and writes the final model to --out (default
 * results/<name>-central.h5), plus <out without .h5>-epoch-N.h5 every checkpoint.every
 * epochs. --epochs 0 only evaluates the initial (or init_from) model on the test split. The
 * run is recorded with rounds.count = the epochs. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "config/model.h"
#include "config/sweep.h"
#include "data/dataset.h"
#include "engine/sim.h"
#include "nn/checkpoint.h"
#include "nn/train.h"
#include "store/store.h"
#include "util/log.h"

void openblas_set_num_threads(int num_threads);

static double wall_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

typedef struct central_run {
    const cfg *c;
    dataset ds;
    nn_model m;
    nn_worker w, ev;
    float *p;
    met_store st;
    int store_open;
} central_run;

static void central_free(central_run *r)
{
    nn_worker_free(&r->w);
    nn_worker_free(&r->ev);
    free(r->p);
    ds_free(&r->ds);
    if (r->store_open) met_close(&r->st);
}

static fs_err central_setup(central_run *r, const cfg *c)
{
    memset(r, 0, sizeof *r);
    r->c = c;
    fs_err e = sim_load_data(c, &r->ds);
    if (!e) e = cfg_build_model(&r->m, c, r->ds.shape, r->ds.n_classes);
    if (e) return e;
    if (r->m.y_len != r->ds.y_len)
        return fs_error(FS_EINPUT, "model '%s' does not fit dataset '%s' (%s)", c->model.name,
                        r->ds.name,
                        r->ds.task == DS_SEQUENCE ? "a next-symbol task: use char_lstm"
                                                  : "a classification task");
    r->p = FS_ALIGNED(r->m.n_params, sizeof(float));
    if (!r->p) return FS_ENOMEM;
    rng_t rr;
    rng_init(&rr, c->seed, RNG_INIT, 0, 0);
    nn_model_init_params(&r->m, r->p, &rr);
    if (c->model.init_from[0]) {
        nn_ckpt_meta meta;
        if ((e = nn_ckpt_load_params(c->model.init_from, &r->m, r->p, &meta))) {
            char msg[1024];
            snprintf(msg, sizeof msg, "%s", fs_errmsg());
            return fs_error(e, "model.init_from: %s", msg);
        }
        if (meta.vocab[0] && r->ds.vocab && strcmp(meta.vocab, r->ds.vocab) != 0)
            return fs_error(FS_EINPUT,
                            "model.init_from: %s was trained on the symbols \"%s\", dataset "
                            "'%s' has \"%s\"",
                            c->model.init_from, meta.vocab, r->ds.name, r->ds.vocab);
    }
    if ((e = nn_worker_init(&r->w, &r->m, c->train.batch_size))) return e;
    return nn_worker_init(&r->ev, &r->m, r->m.seq_len ? 32 : 500);
}

static fs_err save_ckpt(const central_run *r, const char *path, int epoch)
{
    nn_ckpt_meta meta = {.round = epoch};
    snprintf(meta.dataset, sizeof meta.dataset, "%s", r->ds.name);
    snprintf(meta.scenario, sizeof meta.scenario, "%.200s-central", r->c->name);
    if (r->ds.vocab) snprintf(meta.vocab, sizeof meta.vocab, "%s", r->ds.vocab);
    return nn_ckpt_save(path, &r->m, r->p, &meta);
}

static fs_err open_record(central_run *r, const char *db, const char *text)
{
    char desc[256], name[CFG_STR + 16], key[SWEEP_KEY_LEN + 1];
    nn_model_describe(&r->m, desc, sizeof desc);
    snprintf(name, sizeof name, "%s-central", r->c->name);
    fs_err e = met_open(&r->st, db);
    if (e) return e;
    r->store_open = 1;
    char *json = cfg_to_json(r->c);
    e = sweep_compute_key(r->c, key);
    met_run_info info = {.name = name,
                         .scenario_text = text,
                         .params_json = json,
                         .seed = r->c->seed,
                         .model_desc = desc,
                         .n_params = (long)r->m.n_params,
                         .n_clients = 1,
                         .run_key = e ? NULL : key};
    e = met_run_begin(&r->st, &info);
    free(json);
    return e;
}

/* --epochs N and --out FILE out of argv; the other arguments go to rest[] (*nrest). Returns
 * 0, or the exit code of a usage error. */
static int central_args(int argc, char **argv, char **rest, int *nrest, int *epochs,
                        const char **out)
{
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--epochs") == 0 || strcmp(argv[i], "--out") == 0) {
            if (i + 1 >= argc) return cli_usage_error("--epochs and --out need a value");
            if (strcmp(argv[i], "--out") == 0) {
                *out = argv[++i];
                continue;
            }
            char *end;
            long v = strtol(argv[++i], &end, 10);
            if (*end || v < 0 || v > 100000)
                return cli_usage_error("--epochs takes a number of epochs 0..100000");
            *epochs = (int)v;
        } else {
            rest[(*nrest)++] = argv[i];
        }
    }
    return 0;
}

/* The training loop's outcome. */
typedef struct central_result {
    int done;          /* epochs completed */
    double acc, tloss; /* test accuracy and loss after the last one */
} central_result;

/* Train epochs 1..epochs: one rounds row per epoch, a checkpoint every checkpoint.every epochs
 * (but the last), the stop flag checked after each. */
static fs_err central_train(central_run *r, const cfg *c, int epochs, const char *out, int quiet,
                            double t0, nn_central *t, central_result *res)
{
    fs_err e = FS_OK;
    if (!quiet)
        printf("%6s %12s %12s %10s %12s\n", "epoch", "train loss", "test loss",
               r->m.seq_len ? "char acc" : "test acc", "samples/s");
    for (int ep = 1; !e && ep <= epochs; ep++) {
        double loss, t1 = wall_now();
        e = nn_central_epoch(t, &r->w, r->p, &r->ds, &r->ds.train, ep, &loss, NULL);
        if (e) break;
        const double dt = wall_now() - t1;
        nn_central_evaluate(&r->ev, r->p, &r->ds, &r->ds.test, (size_t)c->eval.test_samples,
                            &res->tloss, &res->acc);
        met_round_row row = {.round = ep,
                             .wall_s = wall_now() - t0,
                             .available = 1,
                             .selected = 1,
                             .completed = 1,
                             .flops_used = (double)r->ds.train.n * r->m.flops_train,
                             .train_loss = loss,
                             .test_loss = res->tloss,
                             .test_acc = res->acc,
                             .staleness_mean = NAN,
                             .staleness_max = NAN,
                             .epsilon = NAN,
                             .dp_clip = NAN,
                             .dp_clipped = NAN,
                             .global_train_loss = NAN,
                             .global_train_acc = NAN};
        e = met_round(&r->st, &row);
        res->done = ep;
        if (!quiet) {
            printf("%6d %12.4f %12.4f %9.2f%% %12.0f\n", ep, loss, res->tloss, 100 * res->acc,
                   (double)r->ds.train.n / dt);
            fflush(stdout);
        }
        if (!e && c->checkpoint.every > 0 && ep % c->checkpoint.every == 0 && ep < epochs) {
            char path[1100];
            size_t n = strlen(out);
            if (n > 3 && strcmp(out + n - 3, ".h5") == 0) n -= 3;
            snprintf(path, sizeof path, "%.*s-epoch-%d.h5", (int)n, out, ep);
            e = save_ckpt(r, path, ep);
        }
        if (!e) e = fs_stopped();
    }
    return e;
}

int cmd_train_central(int argc, char **argv)
{
    char **rest = calloc((size_t)argc + 1, sizeof *rest);
    if (!rest) return cli_fail(fs_error(FS_ENOMEM, "out of memory"));
    int nrest = 0, epochs = -1;
    const char *out = NULL;
    int rc = central_args(argc, argv, rest, &nrest, &epochs, &out);
    run_args a;
    if (!rc) rc = cli_parse_run_args(nrest, rest, &a);
    cfg c;
    char *text = NULL;
    if (!rc) rc = cli_load_scenario(&a, &c, &text);
    if (rc) {
        free(rest);
        return rc;
    }
    if (a.quiet) log_set_level(LOG_WARN);
    if (epochs < 0) epochs = c.train.epochs > 0 ? c.train.epochs : 1;
    char out_buf[1024], db_buf[1024];
    if (!out) {
        snprintf(out_buf, sizeof out_buf, "results/%s-central.h5", c.name);
        out = out_buf;
    }
    const char *db = a.db;
    if (!db) {
        snprintf(db_buf, sizeof db_buf, "results/%s-central.db", c.name);
        db = db_buf;
    }
    const int threads = a.threads > 0 ? a.threads : c.threads > 0 ? c.threads : 1;
    openblas_set_num_threads(threads);
    cli_catch_signals();

    central_run *r = calloc(1, sizeof *r);
    fs_err e = r ? central_setup(r, &c) : fs_error(FS_ENOMEM, "out of memory");
    char desc[256];
    if (!e && epochs == 0) { /* evaluation only: the initial (or init_from) model */
        double l0, a0;
        nn_central_evaluate(&r->ev, r->p, &r->ds, &r->ds.test, (size_t)c.eval.test_samples, &l0,
                            &a0);
        printf("%s: test %s %.2f%% (loss %.4f) of the %s model, no training\n", c.name,
               r->m.seq_len ? "per-character accuracy" : "accuracy", 100 * a0, l0,
               c.model.init_from[0] ? c.model.init_from : "initial");
        central_free(r);
        free(r);
        free(text);
        free(rest);
        return 0;
    }
    if (!e) {
        nn_model_describe(&r->m, desc, sizeof desc);
        log_info("central training of %s on %s: %zu train / %zu test samples, %d epochs of "
                 "batch %d, %d BLAS thread%s",
                 desc, r->ds.name, r->ds.train.n, r->ds.test.n, epochs, c.train.batch_size, threads,
                 threads == 1 ? "" : "s");
        c.rounds.count = epochs; /* `fedsim info` shows epochs done / planned */
        e = open_record(r, db, text);
    }
    const double t0 = wall_now();
    nn_central t = {.sgd = {c.train.lr, c.train.momentum, c.train.weight_decay,
                            strcmp(c.train.nesterov, "true") == 0, c.train.clip_norm},
                    .batch = c.train.batch_size,
                    .seed = c.seed,
                    .first = 1};
    central_result res = {0, NAN, NAN};
    if (!e) e = central_train(r, &c, epochs, out, a.quiet, t0, &t, &res);
    if ((!e || e == FS_EINTR) && res.done > 0) {
        fs_err es = save_ckpt(r, out, res.done);
        if (es && !e) e = es;
        if (!es && !a.quiet) printf("checkpoint: %s (after %d epochs)\n", out, res.done);
    }
    if (r && r->store_open) {
        const char *status = !e ? "completed" : e == FS_EINTR ? "interrupted" : "failed";
        fs_err e2 =
            met_run_end(&r->st, status, wall_now() - t0, e && e != FS_EINTR ? fs_errmsg() : NULL);
        if (!e) e = e2;
    }
    if (!e && !a.quiet)
        printf("%s-central: test %s %.2f%% (loss %.4f) after %d epochs; recorded in %s\n", c.name,
               r->m.seq_len ? "per-character accuracy" : "accuracy", 100 * res.acc, res.tloss,
               res.done, db);
    nn_central_free(&t);
    if (r) central_free(r);
    free(r);
    free(text);
    free(rest);
    if (e == FS_EINTR) return 130;
    return e ? cli_fail(e) : 0;
}
