/* `fedsim bench SUB [options]` and `fedsim bench all`: benchmarks as a table of sub-commands
 * (kernels here; engine from sim/engine/bench.c; others add rows). Benchmarks print numbers
 * and never assert a time; docs/performance.md keeps the tables with the date and machine.
 *
 * bench kernels [--seconds S] [--models a,b,...] [--batches 10,32,64] [--profile]
 *               [--conv direct|im2col] [--simd base|avx2|avx512]
 *   For each zoo model on its usual input (28x28x1 images, 10 classes; char_lstm on LEAF's
 *   80-character windows over an 80-symbol vocabulary): parameters, training MFLOP per
 *   sample (forward + the backward actually computed, the figure the engine's compute-time
 *   model uses), training samples/s (forward, loss, backward, SGD step; the batch already in
 *   memory) at each batch size on ONE thread (per second of the thread's CPU time), the
 *   achieved GFLOP/s and that as a percentage of the single-thread sgemm peak measured first
 *   (best of 1024^3 and 2048^3 products).
 *   --profile adds, per model at batch 32 (else the first batch listed), the share of time of every
 * layer's forward and backward. --conv im2col switches the direct few-channel convolution off
 * (sim/nn/ conv_direct.h), to compare it with the im2col + sgemm path it replaces. --simd caps
 * the vector width of the dispatched loops and of the direct convolution's kernels (AVX-512 or
 * AVX2; same bits), to compare the paths.
 *
 * bench he [--seconds S] [--bits 2048,3072] [--keygens K] [--psi-ids N]
 *   Paillier and PSI on one thread (sim/crypto/bench.c; docs/performance.md).
 *
 * bench fl [--model M] [--batch B] [--threads T] [--clients N] [--per-round K] [--epochs E]
 *          [--seconds S] [--rounds R] [--seed S] [--alpha A] [--lr LR] [--data PATH]
 *          [--simd base|avx2|avx512] [--no-kernels]
 *   The end-to-end FedAvg client loop (sim/fl/bench_fl.h) on Fashion-MNIST (PATH, default
 *   datasets/fashion-mnist.h5, else imported in memory from Debian's dataset-fashion-mnist),
 *   then the `bench kernels` loop of the same model and batch for comparison. --simd caps the
 *   vector width of the dispatched element-wise loops (util/simd.h) and of the direct
 *   convolution, to compare the paths. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cblas.h>

#include "cli/cli.h"
#include "crypto/bench.h"
#include "data/importers.h"
#include "engine/bench.h"
#include "fl/bench_fl.h"
#include "nn/conv.h"
#include "nn/conv_direct.h"
#include "nn/model.h"
#include "nn/optim.h"
#include "privacy/secagg.h"
#include "util/simd.h"

void openblas_set_num_threads(int num_threads);

/* The calling thread's CPU time: with OpenBLAS on one thread all the work runs here, and time
 * the thread spends preempted by other processes on a shared machine does not count (they
 * still share the caches and the memory bandwidth: the load average is printed). */
static double bench_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static void load_average(char *buf, size_t cap)
{
    FILE *f = fopen("/proc/loadavg", "r");
    buf[0] = '\0';
    if (f) {
        if (!fgets(buf, (int)cap, f)) buf[0] = '\0';
        fclose(f);
    }
    buf[strcspn(buf, " ")] = '\0'; /* the 1-minute figure */
}

/* Best single-thread sgemm rate (GFLOP/s) over square products of n = 1024 and 2048. */
static double sgemm_peak(double seconds)
{
    double best = 0;
    const int sizes[2] = {1024, 2048};
    for (int k = 0; k < 2; k++) {
        const int n = sizes[k];
        const size_t nn = (size_t)n * n;
        float *a = FS_ALIGNED(nn, sizeof(float)), *b = FS_ALIGNED(nn, sizeof(float));
        float *c = FS_ALIGNED(nn, sizeof(float));
        if (!a || !b || !c) {
            free(a);
            free(b);
            free(c);
            return NAN;
        }
        for (size_t i = 0; i < nn; i++) {
            a[i] = (float)(i % 7) * 0.01f;
            b[i] = (float)(i % 5) * 0.01f;
        }
        const double t_end = bench_now() + seconds;
        for (int rep = 0; rep < 3 || bench_now() < t_end; rep++) {
            double t = bench_now();
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a, n, b, n, 0.0f,
                        c, n);
            t = bench_now() - t;
            const double g = 2.0 * n * (double)n * n / t / 1e9;
            if (g > best) best = g;
        }
        free(a);
        free(b);
        free(c);
    }
    return best;
}

typedef struct zoo_case {
    const char *name;
    int in[3];
    int classes;
} zoo_case;

static const zoo_case zoo_cases[] = {
    {"logreg", {1, 28, 28}, 10}, {"mlp", {1, 28, 28}, 10},      {"lenet", {1, 28, 28}, 10},
    {"cnn", {1, 28, 28}, 10},    {"char_lstm", {1, 1, 80}, 80},
};

typedef struct kernel_opts {
    double seconds;
    const char *models; /* comma list or NULL: all */
    int batches[8], n_batches;
    int profile;
    int direct; /* nn_conv2d_set_direct */
} kernel_opts;

/* Training steps of batch B for at least `seconds`; returns samples/s. With prof (2 *
 * n_layers), the per-layer times of the timed steps are accumulated into it. */
static double time_training(const nn_model *m, int B, double seconds, double *prof, double *samples,
                            fs_err *err)
{
    nn_worker w;
    *err = nn_worker_init(&w, m, B);
    if (*err) return NAN;
    float *p = FS_ALIGNED(m->n_params, sizeof(float));
    float *x = FS_ALIGNED((size_t)B * m->in_size, sizeof(float));
    int32_t *y = FS_CALLOC((size_t)B * m->y_len, sizeof(int32_t));
    if (!p || !x || !y) {
        *err = FS_ENOMEM;
        free(p);
        free(x);
        free(y);
        nn_worker_free(&w);
        return NAN;
    }
    rng_t r;
    rng_init(&r, 1, RNG_INIT, 0, 0);
    nn_model_init_params(m, p, &r);
    for (size_t i = 0; i < (size_t)B * m->in_size; i++)
        x[i] = m->seq_len ? (float)rng_below(&r, (uint64_t)m->n_classes) : (float)rng_uniform(&r);
    for (size_t i = 0; i < (size_t)B * m->y_len; i++)
        y[i] = (int32_t)rng_below(&r, (uint64_t)m->n_classes);
    const nn_sgd o = {0.01, 0.0, 0.0, 0, 0};
    int first = 1;
    long steps = 0;
    double t0 = 0;
    for (long s = 0;; s++) {
        if (s == 3) { /* warm-up done */
            t0 = bench_now();
            w.prof = prof;
        }
        memcpy(nn_input(&w), x, (size_t)B * m->in_size * sizeof(float));
        memcpy(w.y, y, (size_t)B * m->y_len * sizeof(int32_t));
        nn_forward(&w, p, B);
        memset(w.grad, 0, m->n_params * sizeof(float));
        nn_loss_backward(&w, p, w.y, B, 1.0 / B, NULL);
        nn_sgd_step_ranges(&o, p, w.grad, w.opt, m->ranges, m->n_ranges, &first);
        if (s >= 3) {
            steps++;
            if (steps >= 3 && bench_now() - t0 >= seconds) break;
        }
    }
    const double dt = bench_now() - t0;
    w.prof = NULL;
    *samples = (double)steps * B;
    free(p);
    free(x);
    free(y);
    nn_worker_free(&w);
    return (double)steps * B / dt;
}

static int wanted(const char *list, const char *name)
{
    if (!list) return 1;
    size_t n = strlen(name);
    for (const char *p = list; *p;) {
        size_t len = strcspn(p, ",");
        if (len == n && strncmp(p, name, n) == 0) return 1;
        p += len + (p[len] == ',');
    }
    return 0;
}

static void profile_table(const nn_model *m, const double *prof, double samples, int batch)
{
    double total = 0;
    for (int i = 0; i < 2 * m->n_layers; i++) total += prof[i];
    if (!(total > 0)) { /* nothing timed (cannot happen with a measured batch): say so */
        printf("\n%s, batch %d: no layer time measured\n", m->name, batch);
        return;
    }
    printf("\n%s, batch %d: share of the time per layer (forward | backward)\n\n", m->name, batch);
    printf("| layer | output | forward | backward | GFLOP/s fwd+bwd |\n|---|---|---|---|---|\n");
    for (int i = 0; i < m->n_layers; i++) {
        const nn_layer *L = &m->layers[i];
        const double t = prof[i] + prof[m->n_layers + i];
        char shape[48];
        snprintf(shape, sizeof shape, "%s(%d, %d, %d)", L->seq_out ? "seq " : "", L->out[0],
                 L->out[1], L->out[2]);
        printf("| %s | %s | %.1f%% | %.1f%% |", L->s.name, shape, 100 * prof[i] / total,
               100 * prof[m->n_layers + i] / total);
        if (L->flops + L->flops_bwd > 0 && t > 0)
            printf(" %.1f |\n", (L->flops + L->flops_bwd) * samples / t / 1e9);
        else
            printf(" |\n");
    }
}

static int bench_kernels_run(const kernel_opts *k)
{
    openblas_set_num_threads(1);
    time_t now = time(NULL);
    char date[32];
    strftime(date, sizeof date, "%Y-%m-%d %H:%M", localtime(&now));
    char load[64];
    load_average(load, sizeof load);
    const double peak = sgemm_peak(k->seconds);
    const char *conv = !k->direct                  ? "im2col + sgemm (--conv im2col)"
                       : nn_conv2d_direct_avx512() ? "direct AVX-512 for few channels, else im2col"
                       : nn_conv2d_direct_cpu()    ? "direct AVX2+FMA for few channels, else im2col"
                                                   : "im2col + sgemm (no AVX2+FMA on this CPU)";
    nn_conv2d_set_direct(k->direct);
    printf("fedsim bench kernels, %s; one thread, times in thread CPU seconds; load average "
           "%s; sgemm peak %.1f GFLOP/s (measured); convolutions: %s\n\n",
           date, load, peak, conv);
    printf("| model | params | MFLOP/sample | ");
    for (int b = 0; b < k->n_batches; b++) printf("samples/s B=%d | ", k->batches[b]);
    printf("GFLOP/s (best B) | %% of peak |\n|---|---:|---:|");
    for (int b = 0; b < k->n_batches; b++) printf("---:|");
    printf("---:|---:|\n");
    for (size_t z = 0; z < sizeof zoo_cases / sizeof zoo_cases[0]; z++) {
        const zoo_case *zc = &zoo_cases[z];
        if (!wanted(k->models, zc->name)) continue;
        nn_model m;
        fs_err e = nn_zoo_build(&m, zc->name, (const int[]){200, 200}, 2, zc->in, zc->classes);
        if (e) return cli_fail(e);
        printf("| %s | %zu | %.3f | ", zc->name, m.n_params, m.flops_train / 1e6);
        double best = 0, prof_samples = 0;
        double *prof = k->profile ? calloc(2 * (size_t)m.n_layers, sizeof(double)) : NULL;
        /* the profile is taken at batch 32 when it is measured, else at the first batch asked
         * for (it printed -nan% at --batches 10: nothing had been timed) */
        int prof_batch = k->batches[0];
        for (int b = 0; b < k->n_batches; b++)
            if (k->batches[b] == 32) prof_batch = 32;
        for (int b = 0; b < k->n_batches; b++) {
            const int B = k->batches[b];
            double done = 0;
            double sps = time_training(&m, B, k->seconds, B == prof_batch ? prof : NULL, &done, &e);
            if (B == prof_batch) prof_samples = done;
            if (e) {
                free(prof);
                return cli_fail(e);
            }
            printf("%.0f | ", sps);
            fflush(stdout);
            if (sps * m.flops_train > best) best = sps * m.flops_train;
        }
        printf("%.2f | %.0f%% |\n", best / 1e9, 100 * best / 1e9 / peak);
        if (prof) {
            profile_table(&m, prof, prof_samples, prof_batch);
            printf("\n");
        }
        free(prof);
    }
    return 0;
}

static int parse_batches(const char *v, kernel_opts *k)
{
    k->n_batches = 0;
    for (const char *p = v; *p && k->n_batches < 8;) {
        char *end;
        long b = strtol(p, &end, 10);
        if (end == p || b < 1 || b > 4096 || (*end && *end != ','))
            return cli_usage_error("--batches takes sizes like 10,32,64");
        k->batches[k->n_batches++] = (int)b;
        p = *end ? end + 1 : end;
    }
    return k->n_batches ? 0 : cli_usage_error("--batches takes sizes like 10,32,64");
}

/* --simd base|avx2|avx512: cap the vector width (util/simd.h) */
static int parse_simd(const char *cmd, const char *v)
{
    static const char *const simd_opt[] = {"base", "avx2", "avx512"};
    int lv = FS_SIMD_BASE;
    while (lv <= FS_SIMD_AVX512 && strcmp(v, simd_opt[lv])) lv++;
    if (lv > FS_SIMD_AVX512) {
        char msg[100];
        snprintf(msg, sizeof msg, "bench %s: --simd takes base, avx2 or avx512", cmd);
        return cli_usage_error(msg);
    }
    fs_simd_set_max(lv);
    return 0;
}

static int bench_kernels(int argc, char **argv)
{
    kernel_opts k = {.seconds = 1.0, .batches = {10, 32, 64}, .n_batches = 3, .direct = 1};
    for (int i = 0; i < argc; i++) {
        const char *s = argv[i];
        if (strcmp(s, "--profile") == 0) {
            k.profile = 1;
            continue;
        }
        if (i + 1 >= argc ||
            (strcmp(s, "--seconds") && strcmp(s, "--models") && strcmp(s, "--batches") &&
             strcmp(s, "--conv") && strcmp(s, "--simd"))) {
            char msg[300];
            snprintf(msg, sizeof msg,
                     "bench kernels: unknown option or missing value '%s' "
                     "(--seconds S --models a,b --batches 10,32,64 --profile "
                     "--conv direct|im2col --simd base|avx2|avx512)",
                     s);
            return cli_usage_error(msg);
        }
        const char *v = argv[++i];
        if (strcmp(s, "--seconds") == 0) {
            char *end;
            k.seconds = strtod(v, &end);
            if (*end || !(k.seconds > 0 && k.seconds <= 3600))
                return cli_usage_error("--seconds takes a time per measurement in (0, 3600]");
        } else if (strcmp(s, "--models") == 0) {
            k.models = v;
        } else if (strcmp(s, "--conv") == 0) {
            if (strcmp(v, "direct") && strcmp(v, "im2col"))
                return cli_usage_error("--conv takes direct or im2col");
            k.direct = strcmp(v, "direct") == 0;
        } else if (strcmp(s, "--simd") == 0) {
            int rc = parse_simd("kernels", v);
            if (rc) return rc;
        } else {
            int rc = parse_batches(v, &k);
            if (rc) return rc;
        }
    }
    return bench_kernels_run(&k);
}

static int bench_secagg_cmd(int argc, char **argv)
{
    if (argc > 0) return cli_usage_error("bench secagg takes no options");
    sa_bench(stdout);
    return 0;
}

/* bench he [--seconds S] [--bits 2048,3072] [--keygens K] [--psi-ids N] */
static int bench_he_cmd(int argc, char **argv)
{
    double seconds = 1.0;
    int bits[4] = {2048, 3072}, nbits = 2, keygens = 3;
    long psi_ids = 20000;
    for (int i = 0; i < argc; i++) {
        const char *s = argv[i];
        if (i + 1 >= argc || (strcmp(s, "--seconds") && strcmp(s, "--bits") &&
                              strcmp(s, "--keygens") && strcmp(s, "--psi-ids")))
            return cli_usage_error("bench he: unknown option or missing value (--seconds S "
                                   "--bits 2048,3072 --keygens K --psi-ids N)");
        const char *v = argv[++i];
        char *end;
        if (strcmp(s, "--seconds") == 0) {
            seconds = strtod(v, &end);
            if (*end || !(seconds > 0 && seconds <= 3600))
                return cli_usage_error("--seconds takes a time per measurement in (0, 3600]");
        } else if (strcmp(s, "--keygens") == 0) {
            keygens = (int)strtol(v, &end, 10);
            if (*end || keygens < 1 || keygens > 100)
                return cli_usage_error("--keygens takes a number of keys in [1, 100]");
        } else if (strcmp(s, "--psi-ids") == 0) {
            psi_ids = strtol(v, &end, 10);
            if (*end || psi_ids < 2 || psi_ids > 10000000)
                return cli_usage_error("--psi-ids takes a list size in [2, 10^7]");
        } else {
            nbits = 0;
            for (const char *p = v; *p && nbits < 4;) {
                long b = strtol(p, &end, 10);
                if (end == p || (*end && *end != ','))
                    return cli_usage_error("--bits takes key sizes like 2048,3072");
                bits[nbits++] = (int)b;
                p = *end ? end + 1 : end;
            }
            if (!nbits) return cli_usage_error("--bits takes key sizes like 2048,3072");
        }
    }
    fs_err e = he_bench(stdout, bits, nbits, keygens, seconds, (size_t)psi_ids);
    return e ? cli_fail(e) : 0;
}

static int bench_engine_cmd(int argc, char **argv)
{
    if (argc > 0) return cli_usage_error("bench engine takes no options");
    fs_err e = bench_engine(stdout);
    return e ? cli_fail(e) : 0;
}

static int parse_num(const char *opt, const char *v, double lo, double hi, double *out)
{
    char *end;
    const double x = strtod(v, &end);
    if (end == v || *end || !(x >= lo && x <= hi)) {
        char msg[200];
        snprintf(msg, sizeof msg, "bench fl: %s takes a number in [%g, %g], not '%s'", opt, lo, hi,
                 v);
        return cli_usage_error(msg);
    }
    *out = x;
    return 0;
}

/* bench fl: see the comment at the top and sim/fl/bench_fl.h. */
static int bench_fl_cmd(int argc, char **argv)
{
    fl_bench_opts o = fl_bench_defaults();
    const char *data = NULL;
    int kernels = 1;
    static const struct {
        const char *opt;
        double lo, hi;
    } nums[] = {{"--batch", 1, 4096},    {"--threads", 1, 256}, {"--clients", 1, 1e6},
                {"--per-round", 1, 1e5}, {"--epochs", 1, 1000}, {"--seconds", 0.001, 3600},
                {"--rounds", 1, 1e6},    {"--seed", 0, 1e15},   {"--alpha", 1e-3, 1e3},
                {"--lr", 0, 100}};
    for (int i = 0; i < argc; i++) {
        const char *s = argv[i];
        if (strcmp(s, "--no-kernels") == 0) {
            kernels = 0;
            continue;
        }
        size_t q = 0;
        while (q < sizeof nums / sizeof nums[0] && strcmp(s, nums[q].opt)) q++;
        if (i + 1 >= argc || (q == sizeof nums / sizeof nums[0] && strcmp(s, "--model") &&
                              strcmp(s, "--data") && strcmp(s, "--simd"))) {
            char msg[400];
            snprintf(msg, sizeof msg,
                     "bench fl: unknown option or missing value '%s' (--model M --batch B "
                     "--threads T --clients N --per-round K --epochs E --seconds S --rounds R "
                     "--seed S --alpha A --lr LR --data PATH --simd base|avx2|avx512 --no-kernels)",
                     s);
            return cli_usage_error(msg);
        }
        const char *v = argv[++i];
        if (strcmp(s, "--model") == 0) {
            o.model = v;
            continue;
        }
        if (strcmp(s, "--data") == 0) {
            data = v;
            continue;
        }
        if (strcmp(s, "--simd") == 0) { /* cap the vector width: compare paths */
            int rc = parse_simd("fl", v);
            if (rc) return rc;
            continue;
        }
        double x = 0;
        int rc = parse_num(s, v, nums[q].lo, nums[q].hi, &x);
        if (rc) return rc;
        switch (q) {
        case 0:
            o.batch = (int)x;
            break;
        case 1:
            o.threads = (int)x;
            break;
        case 2:
            o.clients = (uint32_t)x;
            break;
        case 3:
            o.per_round = (int)x;
            break;
        case 4:
            o.epochs = (int)x;
            break;
        case 5:
            o.seconds = x;
            break;
        case 6:
            o.rounds = (int)x;
            break;
        case 7:
            o.seed = (uint64_t)x;
            break;
        case 8:
            o.alpha = x;
            break;
        default:
            o.lr = x;
            break;
        }
    }
    if ((uint32_t)o.per_round > o.clients)
        return cli_usage_error("bench fl: --per-round must not exceed --clients");
    if (!wanted("logreg,mlp,lenet,cnn", o.model))
        return cli_usage_error("bench fl: --model takes logreg, mlp, lenet or cnn");
    openblas_set_num_threads(1);
    dataset ds;
    memset(&ds, 0, sizeof ds);
    const char *def = "datasets/fashion-mnist.h5", *deb = FMNIST_DEFAULT_DIR;
    FILE *f = data ? NULL : fopen(def, "rb");
    if (f) fclose(f);
    fs_err e = data || f ? ds_load(data ? data : def, &ds) : imp_fashion_mnist(deb, &ds);
    if (!e && (ds.task != DS_CLASSIFY || ds.lazy || ds.shape[0] != 1 || ds.shape[1] != 28 ||
               ds.shape[2] != 28))
        e = fs_error(FS_EINPUT, "bench fl: %s is not a dataset of 28x28 images", data ? data : def);
    double rate = 0;
    if (!e) e = fl_bench_run(&o, &ds, stdout, &rate);
    ds_free(&ds);
    if (e) return cli_fail(e);
    if (!kernels) return 0;
    nn_model m;
    e = nn_zoo_build(&m, o.model, (const int[]){200, 200}, 2, (const int[]){1, 28, 28}, 10);
    double done = 0;
    const double k =
        e ? NAN : time_training(&m, o.batch, o.seconds < 1 ? o.seconds : 1, NULL, &done, &e);
    if (e) return cli_fail(e);
    printf("\n`bench kernels` loop, same model and batch (one thread, thread CPU time): %.0f "
           "samples/s; end to end%s: %.1f%% of it\n",
           k, o.threads == 1 ? "" : " (wall, all threads)", 100 * rate / k);
    return 0;
}

/* The sub-benchmarks; `fedsim bench all` runs each with its default options. */
static const struct {
    const char *name;
    const char *help;
    int (*run)(int argc, char **argv);
} benches[] = {
    {"kernels", "training kernels: samples/s, GFLOP/s and % of the sgemm peak per zoo model",
     bench_kernels},
    {"engine", "event queue and engine cost per client-round", bench_engine_cmd},
    {"secagg", "secure aggregation: crypto CPU per client and server, bytes (sa_bench)",
     bench_secagg_cmd},
    {"he", "Paillier (2048/3072 bits) and PSI operations per second on one core", bench_he_cmd},
    {"fl", "end-to-end FedAvg client loop: samples/s and the time outside the kernels",
     bench_fl_cmd},
};

int cmd_bench(int argc, char **argv)
{
    const size_t n = sizeof benches / sizeof benches[0];
    if (argc < 1) {
        fprintf(stderr, "usage: fedsim bench SUB [options] | fedsim bench all\n");
        for (size_t i = 0; i < n; i++)
            fprintf(stderr, "  %-10s %s\n", benches[i].name, benches[i].help);
        return 2;
    }
    if (strcmp(argv[0], "all") == 0) {
        if (argc > 1) return cli_usage_error("bench all takes no options");
        for (size_t i = 0; i < n; i++) {
            printf("== bench %s\n", benches[i].name);
            fflush(stdout);
            int rc = benches[i].run(0, NULL);
            if (rc) return rc;
            printf("\n");
        }
        return 0;
    }
    for (size_t i = 0; i < n; i++)
        if (strcmp(argv[0], benches[i].name) == 0) return benches[i].run(argc - 1, argv + 1);
    char msg[300];
    snprintf(msg, sizeof msg, "unknown benchmark '%s' (kernels, engine, secagg, he, fl, all)",
             argv[0]);
    return cli_usage_error(msg);
}
