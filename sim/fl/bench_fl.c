/* `fedsim bench fl` (see bench_fl.h): FedAvg rounds through the engine's own client driver
 * (fl_train_clients) and server step, timed; then the same rounds again with the per-layer
 * clock of the workers on (nn_worker.prof), which splits the time into the layers' kernels
 * (forward and backward of every layer) and the rest; then each piece of the rest timed apart
 * on the same buffers (model copy in, batch gather, gradient zeroing, SGD step, update w_k - w,
 * aggregation, server step), as calls per round x time per call. Selection: K distinct clients
 * per round from the (seed, RNG_SELECT, 0, round) stream, so every run of the same options
 * trains the same clients on the same batches. */
#include "fl/bench_fl.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fl/algorithm.h"
#include "nn/conv_direct.h"
#include "nn/model.h"
#include "nn/zoo.h"
#include "util/rng.h"
#include "util/simd.h"

fl_bench_opts fl_bench_defaults(void)
{
    return (fl_bench_opts){.model = "mlp",
                           .batch = 10,
                           .threads = 1,
                           .clients = 1000,
                           .per_round = 50,
                           .epochs = 1,
                           .alpha = 0.5,
                           .lr = 0.1,
                           .seconds = 3.0,
                           .seed = 1};
}

static double clock_s(clockid_t id)
{
    struct timespec t;
    clock_gettime(id, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* The process's CPU time: with one thread that is the training thread's (the load of other
 * processes does not count); with more, it includes the workers' waits at the chunk's end. */
static double cpu_now(void)
{
    return clock_s(CLOCK_PROCESS_CPUTIME_ID);
}
static double wall_now(void)
{
    return clock_s(CLOCK_MONOTONIC);
}

typedef struct bench {
    const fl_bench_opts *o;
    const dataset *ds;
    const fl_algorithm *algo;
    nn_model m;
    partition part;
    fl_train_cfg tc;
    nn_worker *workers;
    float *global;
    float *upd; /* (K, n_params) the clients' update buffers */
    fl_client_result *res;
    fl_agg agg;
    fl_server srv;
    uint32_t *perm, *sel;
    long steps; /* minibatch steps of the rounds run so far */
} bench;

static void bench_free(bench *b)
{
    if (b->workers)
        for (int t = 0; t < b->o->threads; t++) nn_worker_free(&b->workers[t]);
    free(b->workers);
    free(b->global);
    free(b->upd);
    free(b->res);
    free(b->perm);
    free(b->sel);
    fl_agg_free(&b->agg);
    fl_server_free(&b->srv);
    part_free(&b->part);
}

static fs_err bench_init(bench *b, const fl_bench_opts *o, const dataset *ds)
{
    memset(b, 0, sizeof *b);
    b->o = o;
    b->ds = ds;
    b->algo = fl_find("fedavg");
    const int hidden[2] = {200, 200};
    fs_err e = nn_zoo_build(&b->m, o->model, hidden, 2, ds->shape, ds->n_classes);
    if (e) return e;
    e = part_dirichlet(ds->train.y, ds->train.n, ds->n_classes, o->clients, o->alpha, 10, o->seed,
                       &b->part);
    if (e) return e;
    const size_t n = b->m.n_params, K = (size_t)o->per_round;
    b->tc = (fl_train_cfg){.epochs = o->epochs, .batch = o->batch, .sgd = {.lr = o->lr}};
    b->workers = FS_CALLOC((size_t)o->threads, sizeof *b->workers);
    b->global = FS_ALIGNED(n, sizeof(float));
    b->upd = FS_ALIGNED(K * n, sizeof(float));
    b->res = FS_CALLOC(K, sizeof *b->res);
    b->perm = FS_CALLOC(o->clients, sizeof(uint32_t));
    b->sel = FS_CALLOC(K, sizeof(uint32_t));
    if (!b->workers || !b->global || !b->upd || !b->res || !b->perm || !b->sel) return FS_ENOMEM;
    for (int t = 0; t < o->threads; t++)
        if ((e = nn_worker_init(&b->workers[t], &b->m, o->batch))) return e;
    for (size_t k = 0; k < K; k++) b->res[k].update = b->upd + k * n;
    if ((e = fl_agg_init(&b->agg, n, 0))) return e;
    b->agg.eager = 1; /* as the engine's plain FedAvg rounds */
    if ((e = fl_server_init(&b->srv, b->algo, NULL, n, o->clients))) return e;
    rng_t r;
    rng_init(&r, o->seed, RNG_INIT, 0, 0);
    nn_model_init_params(&b->m, b->global, &r);
    return FS_OK;
}

/* One FedAvg round: K distinct clients, trained, summed in selection order, applied. */
static fs_err bench_round(bench *b, uint32_t round, double *samples)
{
    const fl_bench_opts *o = b->o;
    rng_t r;
    rng_init(&r, o->seed, RNG_SELECT, 0, round);
    for (uint32_t i = 0; i < o->clients; i++) b->perm[i] = i;
    for (int k = 0; k < o->per_round; k++) { /* partial Fisher-Yates */
        const uint32_t j = k + (uint32_t)rng_below(&r, o->clients - (uint64_t)k);
        const uint32_t t = b->perm[k];
        b->perm[k] = b->perm[j];
        b->perm[j] = t;
        b->sel[k] = b->perm[k];
    }
    const fl_round_ctx ctx = {.m = &b->m,
                              .ds = b->ds,
                              .part = &b->part,
                              .global = b->global,
                              .tc = &b->tc,
                              .seed = o->seed,
                              .round = round};
    fl_agg_reset(&b->agg);
    fs_err e = fl_train_clients(b->algo, &ctx, b->sel, o->per_round, b->res, b->workers, o->threads,
                                NULL, NULL, &b->agg);
    if (e) return e;
    for (int k = 0; k < o->per_round; k++) b->steps += b->res[k].steps;
    *samples += b->agg.samples;
    fl_server_step(&b->srv, b->global, &b->agg);
    return FS_OK;
}

typedef struct pass {
    int rounds;
    double samples, cpu, wall;
    long steps;
} pass;

/* Rounds from *round on until `seconds` of CPU time have passed (or exactly `rounds`). */
static fs_err bench_pass(bench *b, uint32_t *round, int rounds, double seconds, pass *p)
{
    memset(p, 0, sizeof *p);
    const long steps0 = b->steps;
    const double c0 = cpu_now(), w0 = wall_now();
    for (;;) {
        fs_err e = bench_round(b, (*round)++, &p->samples);
        if (e) return e;
        p->rounds++;
        if (rounds > 0 ? p->rounds >= rounds : cpu_now() - c0 >= seconds) break;
    }
    p->cpu = cpu_now() - c0;
    p->wall = wall_now() - w0;
    p->steps = b->steps - steps0;
    return FS_OK;
}

/* Seconds per call of each piece outside the layers, timed apart on the benchmark's buffers
 * (one thread; at least 20 ms of calls each). The SGD step runs inside the backward
 * (nn_loss_backward_sgd), layer by layer; here it is timed over the trainable ranges at once. */
enum { P_COPY, P_GATHER, P_STEP, P_UPDATE, P_AGG, P_SERVER, P_N };
static const char *const piece_names[P_N] = {
    "model copy in, gradient zeroed (memcpy, memset)",
    "batch gather (ds_gather)",
    "SGD step + gradient zeroing (fused in the backward)",
    "update w_k - w (FedAvg)",
    "aggregation (fl_agg_add)",
    "server step (fl_server_step)",
};

static void time_pieces(bench *b, double per_call[P_N])
{
    const size_t n = b->m.n_params;
    nn_worker *w = &b->workers[0];
    fl_client_result *res = &b->res[0];
    float *scratch = b->res[1 % b->o->per_round].update;
    const uint32_t c = b->sel[0];
    uint32_t *idx = FS_CALLOC((size_t)b->o->batch, sizeof(uint32_t));
    if (!idx) {
        for (int p = 0; p < P_N; p++) per_call[p] = NAN;
        return;
    }
    for (int i = 0; i < b->o->batch; i++)
        idx[i] = part_samples(&b->part, c)[(uint32_t)i % part_size(&b->part, c)];
    memcpy(scratch, b->global, n * sizeof(float));
    for (int p = 0; p < P_N; p++) {
        long calls = 0;
        const double t0 = cpu_now();
        double t;
        do {
            for (int rep = 0; rep < 8; rep++, calls++) switch (p) {
                case P_COPY:
                    memcpy(res->update, b->global, n * sizeof(float));
                    memset(w->grad, 0, n * sizeof(float));
                    break;
                case P_GATHER:
                    ds_gather(b->ds, &b->ds->train, idx, (size_t)b->o->batch, nn_input(w), w->y);
                    break;
                case P_STEP:
                    for (int r = 0; r < b->m.n_ranges; r++)
                        nn_sgd_step_range_zero(&b->tc.sgd, scratch, w->grad, w->opt,
                                               b->m.ranges[2 * r], b->m.ranges[2 * r + 1], 0);
                    break;
                case P_UPDATE:
                    fl_update_delta(res->update, b->global, n);
                    break;
                case P_AGG:
                    fl_agg_add(&b->agg, res, 1);
                    break;
                default:
                    fl_server_step(&b->srv, scratch, &b->agg);
                    break;
                }
            t = cpu_now() - t0;
        } while (t < 0.02);
        per_call[p] = t / (double)calls;
    }
    free(idx);
}

static void cpu_name(char *buf, size_t cap)
{
    snprintf(buf, cap, "unknown CPU");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f) return;
    char line[256];
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "model name", 10) == 0) {
            const char *v = strchr(line, ':');
            if (v) {
                snprintf(buf, cap, "%s", v + 2);
                buf[strcspn(buf, "\n")] = '\0';
            }
            break;
        }
    fclose(f);
}

fs_err fl_bench_run(const fl_bench_opts *o, const dataset *ds, FILE *out, double *rate)
{
    bench b;
    fs_err e = bench_init(&b, o, ds);
    if (e) {
        bench_free(&b);
        return e;
    }
    char cpu[128], date[32], load[64] = "?";
    cpu_name(cpu, sizeof cpu);
    const time_t now = time(NULL);
    strftime(date, sizeof date, "%Y-%m-%d %H:%M", localtime(&now));
    FILE *lf = fopen("/proc/loadavg", "r");
    if (lf) {
        if (!fgets(load, sizeof load, lf)) snprintf(load, sizeof load, "?");
        load[strcspn(load, " ")] = '\0';
        fclose(lf);
    }
    fprintf(out,
            "fedsim bench fl, %s: %s (%zu parameters), batch %d, %d epoch%s, %d of %u clients per "
            "round (Dirichlet %g over %zu training samples), FedAvg, %d thread%s; %s (%s), "
            "element-wise loops at %s, direct convolutions at %s; load average %s\n\n",
            date, o->model, b.m.n_params, o->batch, o->epochs, o->epochs == 1 ? "" : "s",
            o->per_round, o->clients, o->alpha, ds->train.n, o->threads, o->threads == 1 ? "" : "s",
            cpu, fs_simd_name(fs_simd_cpu()), fs_simd_name(fs_simd_level()),
            !nn_conv2d_direct_cpu()     ? "none (no AVX2+FMA)"
            : nn_conv2d_direct_avx512() ? "AVX-512"
                                        : "AVX2",
            load);
    uint32_t round = 0;
    pass warm, plain, prof;
    double *lt = FS_CALLOC(2 * (size_t)b.m.n_layers * (size_t)o->threads, sizeof(double));
    if (!lt) e = FS_ENOMEM;
    if (!e) e = bench_pass(&b, &round, 1, 0, &warm); /* caches, page faults, lazy allocations */
    if (!e) e = bench_pass(&b, &round, o->rounds, o->seconds, &plain);
    for (int t = 0; t < o->threads && !e; t++)
        b.workers[t].prof = lt + (size_t)t * 2 * (size_t)b.m.n_layers;
    if (!e) e = bench_pass(&b, &round, plain.rounds, 0, &prof);
    for (int t = 0; t < o->threads; t++) b.workers[t].prof = NULL;
    if (e) {
        free(lt);
        bench_free(&b);
        return e;
    }
    double in_layers = 0;
    for (size_t i = 0; i < 2 * (size_t)b.m.n_layers * (size_t)o->threads; i++) in_layers += lt[i];
    free(lt);
    const double sps_cpu = plain.samples * o->threads / plain.cpu;
    const double sps_wall = plain.samples / plain.wall;
    const double share_in = in_layers / (prof.wall * o->threads); /* both on the wall clock */
    if (rate) *rate = o->threads == 1 ? sps_cpu : sps_wall;
    fprintf(out,
            "| rounds | samples | steps | samples/s (CPU) | samples/s (wall) | in the layers | "
            "outside |\n|---:|---:|---:|---:|---:|---:|---:|\n");
    fprintf(out, "| %d | %.0f | %ld | %.0f | %.0f | %.1f%% | %.1f%% |\n\n", plain.rounds,
            plain.samples, plain.steps, sps_cpu, sps_wall, 100 * share_in, 100 * (1 - share_in));

    double per_call[P_N];
    time_pieces(&b, per_call);
    const double R = plain.rounds, per_round = plain.cpu / o->threads / R;
    const double calls[P_N] = {o->per_round, plain.steps / R, plain.steps / R,
                               o->per_round, o->per_round,    1};
    fprintf(out,
            "Outside the layers, per round (each piece timed apart on the same buffers unless "
            "said; a round "
            "takes %.2f ms of CPU per thread):\n\n| piece | calls/round | us/call | share of the "
            "round |\n|---|---:|---:|---:|\n",
            1e3 * per_round);
    double total = 0;
    for (int p = 0; p < P_N; p++) {
        const double s = calls[p] * per_call[p] / o->threads / per_round;
        total += s;
        fprintf(out, "| %s | %.1f | %.2f | %.1f%% |\n", piece_names[p], calls[p], 1e6 * per_call[p],
                100 * s);
    }
    fprintf(out, "| total | | | %.1f%% |\n", 100 * total);
    /* FNV-1a of the global model's bytes after every round run: the same options give the
     * same value whatever the thread count (the engine's guarantee; tests/e2e/systems.sh) */
    uint64_t h = 1469598103934665603ull;
    const unsigned char *gb = (const unsigned char *)b.global;
    for (size_t i = 0; i < b.m.n_params * sizeof(float); i++) h = (h ^ gb[i]) * 1099511628211ull;
    fprintf(out, "\nglobal model after %u rounds: fnv1a64 %016llx\n", round, (unsigned long long)h);
    bench_free(&b);
    return FS_OK;
}
