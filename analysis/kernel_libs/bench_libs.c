/* Issue 17: oneDNN and LIBXSMM against fedsim's own kernels on the FedAvg workload's exact
 * shapes (Fashion-MNIST 28x28x1, batch 10 and 32). A standalone benchmark, not part of the
 * fedsim binary or of the tests: `make bench-libs` builds and runs it (it needs Debian's
 * libdnnl-dev and libxsmm-dev, which fedsim itself does not). Results in docs/performance.md
 * ("oneDNN and LIBXSMM on issue 17's shapes"), the decision in docs/dependencies.md.
 *
 * Everything runs on one thread (OMP_NUM_THREADS=1; oneDNN's and OpenBLAS's OpenMP runtimes
 * both read it, and both are also capped here). Each case: warm-up calls (the JIT and
 * oneDNN's primitive creation happen before, outside the timing), then the best of SAMPLES
 * samples of enough calls to take >= 2 ms, on the monotonic clock; µs per call and GFLOP/s.
 *
 * Dense layers (row-major, fedsim's layout: in (N, K), w (M, K), out (N, M)), the three
 * products of sim/nn/dense.c, no bias:
 *   fwd  out  = in w^T          dW   dw += dout^T in          dX   din += dout w
 *   fedsim   nn_dense_forward / nn_dense_backward: one cblas_sgemm each (OpenBLAS)
 *   xsmm     libxsmm_smmdispatch, JIT'd per shape (column-major: dW is NT, dX is NN; 1.17
 *            cannot transpose A, so fwd multiplies a transposed copy of w, made by
 *            libxsmm_otrans at every call since w changes at every SGD step; "fwd k" is the
 *            kernel alone)
 *   sgemm    dnnl_sgemm with the same arguments as the cblas call
 *   ip       oneDNN inner-product primitives on the plain layouts (nc, oi); they overwrite
 *            dW and dX where fedsim accumulates
 * Convolutions (NCHW, OIHW as fedsim), forward with bias, backward-data, backward-weights
 * (with the bias gradient):
 *   fedsim   nn_conv2d_forward / nn_conv2d_backward (direct AVX2 for LeNet, im2col + sgemm
 *            for the cnn)
 *   plain    oneDNN convolution on nchw / oihw (no reorders needed)
 *   blocked  oneDNN with the layouts it prefers (format "any"); "reorders" is what moving the
 *            pass's tensors from and to fedsim's layouts costs on top, each reorder timed alone
 * The agreement table compares every result with fedsim's: elements bit-identical, and the
 * largest difference relative to the largest magnitude of fedsim's result. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cblas.h>
#include <libxsmm.h>
#include <oneapi/dnnl/dnnl.h>
#include <omp.h>

#include "nn/conv.h"
#include "nn/conv_direct.h"
#include "nn/dense.h"
#include "util/rng.h"

void openblas_set_num_threads(int num_threads);
char *openblas_get_corename(void);

#define SAMPLES   9
#define SAMPLE_S  2e-3
#define WARMUP_S  20e-3
#define MAX_PRIMS 8

#define CHK(call)                                                                                  \
    do {                                                                                           \
        dnnl_status_t st_ = (call);                                                                \
        if (st_ != dnnl_success) {                                                                 \
            fprintf(stderr, "bench_libs: %s failed (%d) at line %d\n", #call, (int)st_, __LINE__); \
            exit(1);                                                                               \
        }                                                                                          \
    } while (0)

static dnnl_engine_t eng;
static dnnl_stream_t strm;

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

typedef void (*call_fn)(void *ctx);

/* Best per-call time in µs: warm-up, then SAMPLES samples of `reps` calls each. */
static double best_us(call_fn f, void *ctx)
{
    long reps = 0;
    const double t0 = now_s();
    do {
        f(ctx);
        reps++;
    } while (reps < 5 || now_s() - t0 < WARMUP_S);
    const double per = (now_s() - t0) / (double)reps;
    reps = (long)ceil(SAMPLE_S / per);
    if (reps < 1) reps = 1;
    double best = INFINITY;
    for (int s = 0; s < SAMPLES; s++) {
        const double t = now_s();
        for (long r = 0; r < reps; r++) f(ctx);
        const double dt = (now_s() - t) / (double)reps;
        if (dt < best) best = dt;
    }
    return 1e6 * best;
}

static float *falloc(size_t n)
{
    float *p = aligned_alloc(64, ((n * sizeof(float) + 63) / 64) * 64);
    if (!p) {
        fprintf(stderr, "bench_libs: out of memory\n");
        exit(1);
    }
    memset(p, 0, n * sizeof(float));
    return p;
}

static void fill(float *p, size_t n, rng_t *r)
{
    for (size_t i = 0; i < n; i++) p[i] = (float)(rng_uniform(r) - 0.5);
}

/* ---- agreement with fedsim ---------------------------------------------------------- */

typedef struct agree {
    const char *what;
    long cases, same_cases;
    double max_rel;
} agree;

static agree agreements[16];
static int n_agree;

static void compare(const char *what, const float *ref, const float *x, size_t n)
{
    agree *a = NULL;
    for (int i = 0; i < n_agree; i++)
        if (strcmp(agreements[i].what, what) == 0) a = &agreements[i];
    if (!a) {
        a = &agreements[n_agree++];
        a->what = what;
    }
    double amax = 0, dmax = 0;
    size_t same = 0;
    for (size_t i = 0; i < n; i++) {
        amax = fmax(amax, fabs(ref[i]));
        dmax = fmax(dmax, fabs((double)ref[i] - x[i]));
        same += memcmp(&ref[i], &x[i], sizeof(float)) == 0;
    }
    a->cases++;
    a->same_cases += same == n;
    a->max_rel = fmax(a->max_rel, amax > 0 ? dmax / amax : dmax);
}

/* ---- set-up costs (JIT and primitive creation, once per shape and process) ------------ */

typedef struct setup {
    char what[64];
    double us[2]; /* batch 10, 32 */
} setup;

static setup setups[32];
static int n_setup;

static void note_setup(const char *layer, const char *lib, int B, double us)
{
    char what[64];
    snprintf(what, sizeof what, "%s: %s", layer, lib);
    setup *x = NULL;
    for (int i = 0; i < n_setup; i++)
        if (strcmp(setups[i].what, what) == 0) x = &setups[i];
    if (!x) {
        x = &setups[n_setup++];
        snprintf(x->what, sizeof x->what, "%s", what);
    }
    x->us[B == 32] = us;
}

/* ---- oneDNN helpers ----------------------------------------------------------------- */

typedef struct prim {
    dnnl_primitive_t p;
    int nargs;
    dnnl_exec_arg_t args[MAX_PRIMS];
} prim;

static void prim_run(void *ctx)
{
    prim *p = ctx;
    CHK(dnnl_primitive_execute(p->p, strm, p->nargs, p->args));
    CHK(dnnl_stream_wait(strm));
}

static void prim_arg(prim *p, int arg, dnnl_memory_t m)
{
    p->args[p->nargs].arg = arg;
    p->args[p->nargs].memory = m;
    p->nargs++;
}

static dnnl_memory_t mem_plain(int nd, const dnnl_dims_t dims, dnnl_format_tag_t tag, void *data)
{
    dnnl_memory_desc_t md;
    dnnl_memory_t m;
    CHK(dnnl_memory_desc_init_by_tag(&md, nd, dims, dnnl_f32, tag));
    CHK(dnnl_memory_create(&m, &md, eng, data));
    return m;
}

static dnnl_memory_t mem_md(const dnnl_memory_desc_t *md)
{
    dnnl_memory_t m;
    CHK(dnnl_memory_create(&m, md, eng, DNNL_MEMORY_ALLOCATE));
    return m;
}

static const char *impl_of(const_dnnl_primitive_desc_t pd)
{
    const char *s = "?";
    dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &s);
    return s;
}

static dnnl_primitive_desc_t pd_create(const void *op, const_dnnl_primitive_desc_t hint)
{
    dnnl_primitive_desc_t pd;
    CHK(dnnl_primitive_desc_create(&pd, op, NULL, eng, hint));
    return pd;
}

static dnnl_primitive_t prim_create(const_dnnl_primitive_desc_t pd)
{
    dnnl_primitive_t p;
    CHK(dnnl_primitive_create(&p, pd));
    return p;
}

/* Time of one reorder from memory a to memory b (0 when they have the same layout). */
static double reorder_us(dnnl_memory_t a, dnnl_memory_t b)
{
    const dnnl_memory_desc_t *ma, *mb;
    CHK(dnnl_memory_get_memory_desc(a, &ma));
    CHK(dnnl_memory_get_memory_desc(b, &mb));
    if (dnnl_memory_desc_equal(ma, mb)) return 0;
    dnnl_primitive_desc_t pd;
    CHK(dnnl_reorder_primitive_desc_create(&pd, ma, eng, mb, eng, NULL));
    prim r = {.p = prim_create(pd)};
    prim_arg(&r, DNNL_ARG_FROM, a);
    prim_arg(&r, DNNL_ARG_TO, b);
    const double us = best_us(prim_run, &r);
    dnnl_primitive_destroy(r.p);
    dnnl_primitive_desc_destroy(pd);
    return us;
}

/* One reorder of the data of memory m into memory plain (either may be the blocked one). */
static void reorder_once(dnnl_memory_t m, dnnl_memory_t plain)
{
    const dnnl_memory_desc_t *ma, *mb;
    CHK(dnnl_memory_get_memory_desc(m, &ma));
    CHK(dnnl_memory_get_memory_desc(plain, &mb));
    dnnl_primitive_desc_t pd;
    CHK(dnnl_reorder_primitive_desc_create(&pd, ma, eng, mb, eng, NULL));
    prim r = {.p = prim_create(pd)};
    prim_arg(&r, DNNL_ARG_FROM, m);
    prim_arg(&r, DNNL_ARG_TO, plain);
    prim_run(&r);
    dnnl_primitive_destroy(r.p);
    dnnl_primitive_desc_destroy(pd);
}

/* ---- dense layers ------------------------------------------------------------------- */

typedef struct dense {
    int N, K, M;
    float *in, *w, *wt, *dout, *out, *dw, *din;
    libxsmm_smmfunction xfwd, xdw, xdin;
} dense;

static void fs_fwd(void *c)
{
    dense *d = c;
    nn_dense_forward(d->out, d->in, d->w, NULL, d->N, d->K, d->M, 0);
}
static void fs_dw(void *c)
{
    dense *d = c;
    nn_dense_backward(NULL, d->dw, NULL, d->dout, d->in, d->w, d->N, d->K, d->M);
}
static void fs_din(void *c)
{
    dense *d = c;
    nn_dense_backward(d->din, NULL, NULL, d->dout, d->in, d->w, d->N, d->K, d->M);
}
static void xs_fwd_k(void *c)
{
    dense *d = c;
    d->xfwd(d->wt, d->in, d->out);
}
static void xs_fwd(void *c)
{
    dense *d = c;
    libxsmm_otrans(d->wt, d->w, sizeof(float), d->K, d->M, d->K, d->M);
    d->xfwd(d->wt, d->in, d->out);
}
static void xs_dw(void *c)
{
    dense *d = c;
    d->xdw(d->in, d->dout, d->dw);
}
static void xs_din(void *c)
{
    dense *d = c;
    d->xdin(d->w, d->dout, d->din);
}
static void dg_fwd(void *c)
{
    dense *d = c;
    dnnl_sgemm('N', 'T', d->N, d->M, d->K, 1.0f, d->in, d->K, d->w, d->K, 0.0f, d->out, d->M);
}
static void dg_dw(void *c)
{
    dense *d = c;
    dnnl_sgemm('T', 'N', d->M, d->K, d->N, 1.0f, d->dout, d->M, d->in, d->K, 1.0f, d->dw, d->K);
}
static void dg_din(void *c)
{
    dense *d = c;
    dnnl_sgemm('N', 'N', d->N, d->K, d->M, 1.0f, d->dout, d->M, d->w, d->K, 1.0f, d->din, d->K);
}

static libxsmm_smmfunction xsmm_jit(int m, int n, int k, int lda, int ldb, int ldc, float beta,
                                    int flags)
{
    const float alpha = 1.0f;
    const libxsmm_blasint a = lda, b = ldb, cc = ldc;
    libxsmm_smmfunction f = libxsmm_smmdispatch(m, n, k, &a, &b, &cc, &alpha, &beta, &flags, NULL);
    if (!f) {
        fprintf(stderr, "bench_libs: LIBXSMM could not JIT m=%d n=%d k=%d\n", m, n, k);
        exit(1);
    }
    return f;
}

typedef struct dense_case {
    const char *layer;
    int K, M;
} dense_case;

static double gflops(double flop, double us)
{
    return flop / us / 1e3;
}

static void bench_dense(const dense_case *dc, int N, rng_t *r)
{
    dense d = {.N = N, .K = dc->K, .M = dc->M};
    const int K = d.K, M = d.M;
    const size_t nin = (size_t)N * K, nw = (size_t)M * K, nout = (size_t)N * M;
    d.in = falloc(nin), d.w = falloc(nw), d.wt = falloc(nw), d.dout = falloc(nout);
    d.out = falloc(nout), d.dw = falloc(nw), d.din = falloc(nin);
    float *ref = falloc(nw > nin ? nw : nin);
    fill(d.in, nin, r), fill(d.w, nw, r), fill(d.dout, nout, r);
    /* column-major views of the row-major products (see the file comment) */
    char layer[48];
    snprintf(layer, sizeof layer, "%s %d→%d", dc->layer, K, M);
    double t0 = now_s();
    d.xfwd = xsmm_jit(M, N, K, M, K, M, 0.0f, LIBXSMM_GEMM_FLAG_NONE);
    d.xdw = xsmm_jit(K, M, N, K, M, K, 1.0f, LIBXSMM_GEMM_FLAG_TRANS_B);
    d.xdin = xsmm_jit(K, N, M, K, M, K, 1.0f, LIBXSMM_GEMM_FLAG_NONE);
    note_setup(layer, "LIBXSMM JIT, 3 kernels", N, 1e6 * (now_s() - t0));

    /* oneDNN inner product on the plain layouts */
    const dnnl_dims_t src_dims = {N, K}, w_dims = {M, K}, dst_dims = {N, M};
    t0 = now_s();
    dnnl_memory_desc_t src_md, w_md, dst_md;
    CHK(dnnl_memory_desc_init_by_tag(&src_md, 2, src_dims, dnnl_f32, dnnl_nc));
    CHK(dnnl_memory_desc_init_by_tag(&w_md, 2, w_dims, dnnl_f32, dnnl_oi));
    CHK(dnnl_memory_desc_init_by_tag(&dst_md, 2, dst_dims, dnnl_f32, dnnl_nc));
    dnnl_inner_product_desc_t fd, bdd, bwd;
    CHK(dnnl_inner_product_forward_desc_init(&fd, dnnl_forward_training, &src_md, &w_md, NULL,
                                             &dst_md));
    CHK(dnnl_inner_product_backward_data_desc_init(&bdd, &src_md, &w_md, &dst_md));
    CHK(dnnl_inner_product_backward_weights_desc_init(&bwd, &src_md, &w_md, NULL, &dst_md));
    dnnl_primitive_desc_t fpd = pd_create(&fd, NULL);
    dnnl_primitive_desc_t bdpd = pd_create(&bdd, fpd), bwpd = pd_create(&bwd, fpd);
    dnnl_memory_t m_in = mem_plain(2, src_dims, dnnl_nc, d.in);
    dnnl_memory_t m_w = mem_plain(2, w_dims, dnnl_oi, d.w);
    dnnl_memory_t m_dout = mem_plain(2, dst_dims, dnnl_nc, d.dout);
    dnnl_memory_t m_out = mem_plain(2, dst_dims, dnnl_nc, d.out);
    dnnl_memory_t m_dw = mem_plain(2, w_dims, dnnl_oi, d.dw);
    dnnl_memory_t m_din = mem_plain(2, src_dims, dnnl_nc, d.din);
    prim ipf = {.p = prim_create(fpd)}, ipd = {.p = prim_create(bdpd)};
    prim ipw = {.p = prim_create(bwpd)};
    note_setup(layer, "oneDNN inner product, 3 primitives", N, 1e6 * (now_s() - t0));
    prim_arg(&ipf, DNNL_ARG_SRC, m_in), prim_arg(&ipf, DNNL_ARG_WEIGHTS, m_w);
    prim_arg(&ipf, DNNL_ARG_DST, m_out);
    prim_arg(&ipd, DNNL_ARG_DIFF_DST, m_dout), prim_arg(&ipd, DNNL_ARG_WEIGHTS, m_w);
    prim_arg(&ipd, DNNL_ARG_DIFF_SRC, m_din);
    prim_arg(&ipw, DNNL_ARG_SRC, m_in), prim_arg(&ipw, DNNL_ARG_DIFF_DST, m_dout);
    prim_arg(&ipw, DNNL_ARG_DIFF_WEIGHTS, m_dw);

    /* agreement: every product once from zeroed outputs, against fedsim's */
    struct {
        const char *name;
        float *buf;
        size_t n;
        call_fn fs, xs, dg;
        prim *ip;
    } prods[3] = {
        {"fwd", d.out, nout, fs_fwd, xs_fwd, dg_fwd, &ipf},
        {"dW", d.dw, nw, fs_dw, xs_dw, dg_dw, &ipw},
        {"dX", d.din, nin, fs_din, xs_din, dg_din, &ipd},
    };
    static const char *agree_names[3][3] = {
        {"dense fwd: LIBXSMM", "dense fwd: dnnl_sgemm", "dense fwd: oneDNN inner product"},
        {"dense dW: LIBXSMM", "dense dW: dnnl_sgemm", "dense dW: oneDNN inner product"},
        {"dense dX: LIBXSMM", "dense dX: dnnl_sgemm", "dense dX: oneDNN inner product"}};
    for (int p = 0; p < 3; p++) {
        memset(prods[p].buf, 0, prods[p].n * sizeof(float));
        prods[p].fs(&d);
        memcpy(ref, prods[p].buf, prods[p].n * sizeof(float));
        call_fn others[3] = {prods[p].xs, prods[p].dg, prim_run};
        for (int o = 0; o < 3; o++) {
            memset(prods[p].buf, 0, prods[p].n * sizeof(float));
            others[o](o == 2 ? (void *)prods[p].ip : (void *)&d);
            compare(agree_names[p][o], ref, prods[p].buf, prods[p].n);
        }
    }

    const double flop = 2.0 * N * K * M;
    for (int p = 0; p < 3; p++) {
        const double t_fs = best_us(prods[p].fs, &d);
        const double t_xs = best_us(prods[p].xs, &d);
        const double t_dg = best_us(prods[p].dg, &d);
        const double t_ip = best_us(prim_run, prods[p].ip);
        const double t_best = fmin(fmin(t_fs, t_xs), fmin(t_dg, t_ip));
        printf("| %s %d→%d | %d | %s | %.2f (%.0f) | %.2f (%.0f) | %.2f (%.0f) | %.2f (%.0f) | "
               "%s |",
               dc->layer, K, M, N, prods[p].name, t_fs, gflops(flop, t_fs), t_xs,
               gflops(flop, t_xs), t_dg, gflops(flop, t_dg), t_ip, gflops(flop, t_ip),
               t_best == t_fs   ? "fedsim"
               : t_best == t_xs ? "LIBXSMM"
               : t_best == t_dg ? "dnnl_sgemm"
                                : "oneDNN ip");
        if (p == 0) printf(" fwd k %.2f;", best_us(xs_fwd_k, &d));
        printf(" %.2fx |\n", t_fs / t_best);
        fflush(stdout);
    }
    static int printed;
    if (!printed++)
        fprintf(stderr, "oneDNN inner product on plain layouts: fwd %s, bwd-data %s, bwd-w %s\n",
                impl_of(fpd), impl_of(bdpd), impl_of(bwpd));

    dnnl_primitive_destroy(ipf.p), dnnl_primitive_destroy(ipd.p), dnnl_primitive_destroy(ipw.p);
    dnnl_primitive_desc_destroy(fpd), dnnl_primitive_desc_destroy(bdpd);
    dnnl_primitive_desc_destroy(bwpd);
    dnnl_memory_t ms[6] = {m_in, m_w, m_dout, m_out, m_dw, m_din};
    for (int i = 0; i < 6; i++) dnnl_memory_destroy(ms[i]);
    free(d.in), free(d.w), free(d.wt), free(d.dout), free(d.out), free(d.dw), free(d.din);
    free(ref);
}

/* ---- convolutions ------------------------------------------------------------------- */

typedef struct conv {
    nn_conv2d_dims d;
    float *in, *w, *b, *dout, *out, *dw, *db, *din, *ws;
} conv;

static void fs_cfwd(void *c)
{
    conv *v = c;
    nn_conv2d_forward(v->out, v->in, v->w, v->b, &v->d, v->ws);
}
static void fs_cbd(void *c)
{
    conv *v = c;
    nn_conv2d_backward(v->din, NULL, NULL, v->dout, v->in, v->w, &v->d, v->ws);
}
static void fs_cbw(void *c)
{
    conv *v = c;
    nn_conv2d_backward(NULL, v->dw, v->db, v->dout, v->in, v->w, &v->d, v->ws);
}

/* One oneDNN set-up of the three passes: plain (every format fixed to fedsim's) or blocked
 * (format "any": oneDNN's choice), with the plain tensors wrapped as memories for the
 * reorders and the comparison. */
typedef struct dconv {
    dnnl_primitive_desc_t pd[3];
    prim pr[3];
    dnnl_memory_t own[12]; /* memories in oneDNN's layouts (blocked) or wrapping fedsim's */
    int n_own;
    double reorder[3]; /* µs of the reorders each pass would need from and to plain */
    double create_us;  /* creating the three primitives (descriptors and JIT) */
} dconv;

enum { P_SRC, P_W, P_B, P_DST, P_DSRC, P_DW, P_DB, P_DDST, N_PLAIN };

static dnnl_memory_t own(dconv *c, dnnl_memory_t m)
{
    c->own[c->n_own++] = m;
    return m;
}

static void dconv_init(dconv *c, conv *v, int blocked, dnnl_memory_t plain[N_PLAIN])
{
    const nn_conv2d_dims *d = &v->d;
    const int OH = nn_conv2d_out_h(d), OW = nn_conv2d_out_w(d);
    const dnnl_dims_t sd = {d->B, d->IC, d->H, d->W}, wd = {d->OC, d->IC, d->KH, d->KW};
    const dnnl_dims_t bd = {d->OC}, dd = {d->B, d->OC, OH, OW};
    const dnnl_dims_t strides = {d->stride_h, d->stride_w}, pad = {d->pad_h, d->pad_w};
    dnnl_memory_desc_t smd, wmd, bmd, dmd;
    CHK(dnnl_memory_desc_init_by_tag(&smd, 4, sd, dnnl_f32,
                                     blocked ? dnnl_format_tag_any : dnnl_nchw));
    CHK(dnnl_memory_desc_init_by_tag(&wmd, 4, wd, dnnl_f32,
                                     blocked ? dnnl_format_tag_any : dnnl_oihw));
    CHK(dnnl_memory_desc_init_by_tag(&bmd, 1, bd, dnnl_f32, dnnl_x));
    CHK(dnnl_memory_desc_init_by_tag(&dmd, 4, dd, dnnl_f32,
                                     blocked ? dnnl_format_tag_any : dnnl_nchw));
    dnnl_convolution_desc_t fd, bdd, bwd;
    CHK(dnnl_convolution_forward_desc_init(&fd, dnnl_forward_training, dnnl_convolution_direct,
                                           &smd, &wmd, &bmd, &dmd, strides, pad, pad));
    CHK(dnnl_convolution_backward_data_desc_init(&bdd, dnnl_convolution_direct, &smd, &wmd, &dmd,
                                                 strides, pad, pad));
    CHK(dnnl_convolution_backward_weights_desc_init(&bwd, dnnl_convolution_direct, &smd, &wmd, &bmd,
                                                    &dmd, strides, pad, pad));
    const double t0 = now_s();
    c->pd[0] = pd_create(&fd, NULL);
    c->pd[1] = pd_create(&bdd, c->pd[0]);
    c->pd[2] = pd_create(&bwd, c->pd[0]);
    for (int i = 0; i < 3; i++) c->pr[i] = (prim){.p = prim_create(c->pd[i])};
    c->create_us = 1e6 * (now_s() - t0);
    /* each argument in the layout its primitive chose; plain ones wrap fedsim's buffers */
#define ARG_MEM(pass, query, arg, pl)                                                              \
    do {                                                                                           \
        const dnnl_memory_desc_t *md_ = dnnl_primitive_desc_query_md(c->pd[pass], query, 0);       \
        const dnnl_memory_desc_t *pmd_;                                                            \
        CHK(dnnl_memory_get_memory_desc(plain[pl], &pmd_));                                        \
        dnnl_memory_t m_ = dnnl_memory_desc_equal(md_, pmd_) ? plain[pl] : own(c, mem_md(md_));    \
        prim_arg(&c->pr[pass], arg, m_);                                                           \
        if (m_ != plain[pl]) {                                                                     \
            int into_ =                                                                            \
                (arg) == DNNL_ARG_SRC || (arg) == DNNL_ARG_WEIGHTS || (arg) == DNNL_ARG_DIFF_DST;  \
            c->reorder[pass] += into_ ? reorder_us(plain[pl], m_) : reorder_us(m_, plain[pl]);     \
            if (into_) reorder_once(plain[pl], m_); /* the data itself, for the comparison */      \
        }                                                                                          \
    } while (0)
    ARG_MEM(0, dnnl_query_src_md, DNNL_ARG_SRC, P_SRC);
    ARG_MEM(0, dnnl_query_weights_md, DNNL_ARG_WEIGHTS, P_W);
    prim_arg(&c->pr[0], DNNL_ARG_BIAS, plain[P_B]);
    ARG_MEM(0, dnnl_query_dst_md, DNNL_ARG_DST, P_DST);
    ARG_MEM(1, dnnl_query_diff_dst_md, DNNL_ARG_DIFF_DST, P_DDST);
    ARG_MEM(1, dnnl_query_weights_md, DNNL_ARG_WEIGHTS, P_W);
    ARG_MEM(1, dnnl_query_diff_src_md, DNNL_ARG_DIFF_SRC, P_DSRC);
    ARG_MEM(2, dnnl_query_src_md, DNNL_ARG_SRC, P_SRC);
    ARG_MEM(2, dnnl_query_diff_dst_md, DNNL_ARG_DIFF_DST, P_DDST);
    ARG_MEM(2, dnnl_query_diff_weights_md, DNNL_ARG_DIFF_WEIGHTS, P_DW);
    prim_arg(&c->pr[2], DNNL_ARG_DIFF_BIAS, plain[P_DB]);
#undef ARG_MEM
}

static void dconv_free(dconv *c)
{
    for (int i = 0; i < 3; i++) {
        dnnl_primitive_destroy(c->pr[i].p);
        dnnl_primitive_desc_destroy(c->pd[i]);
    }
    for (int i = 0; i < c->n_own; i++) dnnl_memory_destroy(c->own[i]);
}

/* The output memory of pass p (the argument fedsim's buffer is compared on). */
static dnnl_memory_t dconv_out(const dconv *c, int p)
{
    const int arg = p == 0 ? DNNL_ARG_DST : p == 1 ? DNNL_ARG_DIFF_SRC : DNNL_ARG_DIFF_WEIGHTS;
    for (int i = 0; i < c->pr[p].nargs; i++)
        if (c->pr[p].args[i].arg == arg) return c->pr[p].args[i].memory;
    return NULL;
}

typedef struct conv_case {
    const char *layer;
    int IC, H, OC, K, pad;
} conv_case;

static void bench_conv(const conv_case *cc, int B, rng_t *r)
{
    conv v = {.d = {B, cc->IC, cc->H, cc->H, cc->OC, cc->K, cc->K, 1, 1, cc->pad, cc->pad}};
    const nn_conv2d_dims *d = &v.d;
    const int OH = nn_conv2d_out_h(d), OW = nn_conv2d_out_w(d);
    const size_t nin = (size_t)B * d->IC * d->H * d->W, nw = (size_t)d->OC * d->IC * d->KH * d->KW;
    const size_t nout = (size_t)B * d->OC * OH * OW;
    v.in = falloc(nin), v.w = falloc(nw), v.b = falloc(d->OC), v.dout = falloc(nout);
    v.out = falloc(nout), v.dw = falloc(nw), v.db = falloc(d->OC), v.din = falloc(nin);
    v.ws = falloc(nn_conv2d_workspace_size(d));
    fill(v.in, nin, r), fill(v.w, nw, r), fill(v.b, d->OC, r), fill(v.dout, nout, r);
    float *ref = falloc(nout > nin ? (nout > nw ? nout : nw) : (nin > nw ? nin : nw));
    float *got = falloc(nout > nin ? (nout > nw ? nout : nw) : (nin > nw ? nin : nw));

    const dnnl_dims_t sd = {B, d->IC, d->H, d->W}, wd = {d->OC, d->IC, d->KH, d->KW};
    const dnnl_dims_t bd = {d->OC}, dd = {B, d->OC, OH, OW};
    dnnl_memory_t plain[N_PLAIN] = {
        mem_plain(4, sd, dnnl_nchw, v.in),  mem_plain(4, wd, dnnl_oihw, v.w),
        mem_plain(1, bd, dnnl_x, v.b),      mem_plain(4, dd, dnnl_nchw, v.out),
        mem_plain(4, sd, dnnl_nchw, v.din), mem_plain(4, wd, dnnl_oihw, v.dw),
        mem_plain(1, bd, dnnl_x, v.db),     mem_plain(4, dd, dnnl_nchw, v.dout),
    };
    dconv dc[2];
    memset(dc, 0, sizeof dc);
    dconv_init(&dc[0], &v, 0, plain);
    dconv_init(&dc[1], &v, 1, plain);

    static const char *pass_names[3] = {"fwd", "bwd data", "bwd weights"};
    call_fn fs[3] = {fs_cfwd, fs_cbd, fs_cbw};
    float *outs[3] = {v.out, v.din, v.dw};
    const size_t n_outs[3] = {nout, nin, nw};
    static const char *agree_names[2][3] = {
        {"conv fwd: oneDNN plain", "conv bwd data: oneDNN plain", "conv bwd weights: oneDNN plain"},
        {"conv fwd: oneDNN blocked", "conv bwd data: oneDNN blocked",
         "conv bwd weights: oneDNN blocked"}};
    const double flop = (double)nn_conv2d_flops(d);
    for (int p = 0; p < 3; p++) {
        memset(outs[p], 0, n_outs[p] * sizeof(float));
        memset(v.db, 0, d->OC * sizeof(float));
        fs[p](&v);
        memcpy(ref, outs[p], n_outs[p] * sizeof(float));
        for (int k = 0; k < 2; k++) {
            prim_run(&dc[k].pr[p]);
            dnnl_memory_t m = dconv_out(&dc[k], p);
            if (m != plain[p == 0 ? P_DST : p == 1 ? P_DSRC : P_DW])
                reorder_once(m, plain[p == 0 ? P_DST : p == 1 ? P_DSRC : P_DW]);
            memcpy(got, outs[p], n_outs[p] * sizeof(float));
            compare(agree_names[k][p], ref, got, n_outs[p]);
        }
        const double t_fs = best_us(fs[p], &v);
        const double t_pl = best_us(prim_run, &dc[0].pr[p]);
        const double t_bl = best_us(prim_run, &dc[1].pr[p]);
        printf("| %s %d→%d %dx%d%s | %d | %s | %.1f (%.0f) | %.1f (%.0f) | %.1f (%.0f) | %.1f | "
               "%.2fx |\n",
               cc->layer, d->IC, d->OC, d->H, d->W, cc->pad ? " pad 2" : "", B, pass_names[p], t_fs,
               gflops(flop, t_fs), t_pl, gflops(flop, t_pl), t_bl, gflops(flop, t_bl),
               dc[1].reorder[p], t_fs / fmin(t_pl, t_bl + dc[1].reorder[p]));
        fflush(stdout);
    }
    note_setup(cc->layer, "oneDNN conv plain, 3 primitives", B, dc[0].create_us);
    note_setup(cc->layer, "oneDNN conv blocked, 3 primitives", B, dc[1].create_us);
    if (B == 32)
        for (int k = 0; k < 2; k++)
            fprintf(stderr, "oneDNN %s %s: fwd %s, bwd-data %s, bwd-w %s\n", cc->layer,
                    k ? "blocked" : "plain", impl_of(dc[k].pd[0]), impl_of(dc[k].pd[1]),
                    impl_of(dc[k].pd[2]));
    dconv_free(&dc[0]), dconv_free(&dc[1]);
    for (int i = 0; i < N_PLAIN; i++) dnnl_memory_destroy(plain[i]);
    free(v.in), free(v.w), free(v.b), free(v.dout), free(v.out), free(v.dw), free(v.db);
    free(v.din), free(v.ws), free(ref), free(got);
}

/* ---- main --------------------------------------------------------------------------- */

static void cpu_name(char *buf, size_t cap)
{
    FILE *f = fopen("/proc/cpuinfo", "r");
    char line[256];
    int fam = -1, model = -1;
    snprintf(buf, cap, "unknown CPU");
    if (!f) return;
    while (fgets(line, sizeof line, f)) {
        if (sscanf(line, "cpu family : %d", &fam) == 1) continue;
        if (sscanf(line, "model : %d", &model) == 1) continue;
        if (strncmp(line, "model name", 10) == 0) {
            char *p = strchr(line, ':');
            if (p) snprintf(buf, cap, "%s", p + 2);
            buf[strcspn(buf, "\n")] = '\0';
        }
        if (line[0] == '\n') break; /* the first processor only */
    }
    fclose(f);
    const size_t n = strlen(buf);
    snprintf(buf + n, cap - n, ", family %d model %d", fam, model);
}

int main(void)
{
    omp_set_num_threads(1);
    openblas_set_num_threads(1);
    libxsmm_init();
    CHK(dnnl_engine_create(&eng, dnnl_cpu, 0));
    CHK(dnnl_stream_create(&strm, eng, dnnl_stream_default_flags));
    char cpu[160], date[32];
    cpu_name(cpu, sizeof cpu);
    const time_t t = time(NULL);
    strftime(date, sizeof date, "%Y-%m-%d %H:%M UTC", gmtime(&t));
    const dnnl_version_t *ver = dnnl_version();
    printf("bench_libs, %s; %s; one thread (OMP threads %d)\n", date, cpu, omp_get_max_threads());
    printf("OpenBLAS core %s; LIBXSMM %s target %s; oneDNN %d.%d.%d ISA %d "
           "(dnnl_cpu_isa_t); fedsim convolutions: %s\n\n",
           openblas_get_corename(), LIBXSMM_VERSION, libxsmm_get_target_arch(), ver->major,
           ver->minor, ver->patch, (int)dnnl_get_effective_cpu_isa(),
           nn_conv2d_direct_cpu() ? "direct AVX2+FMA where it applies, else im2col + sgemm"
                                  : "im2col + sgemm");
    rng_t r;
    rng_init(&r, 17, RNG_TEST, 0, 0);

    printf("Dense products, µs per call (GFLOP/s); ratio = fedsim / the fastest\n\n");
    printf("| layer | B | product | fedsim (OpenBLAS) | LIBXSMM | dnnl_sgemm | oneDNN ip | fastest "
           "| notes, ratio |\n|---|---:|---|---:|---:|---:|---:|---|---|\n");
    static const dense_case dense_cases[] = {
        {"logreg", 784, 10}, {"mlp", 784, 200},  {"mlp", 200, 200},
        {"mlp", 200, 10},    {"cnn", 3136, 512}, {"cnn", 512, 10},
    };
    static const int batches[2] = {10, 32};
    for (size_t i = 0; i < sizeof dense_cases / sizeof dense_cases[0]; i++)
        for (int b = 0; b < 2; b++) bench_dense(&dense_cases[i], batches[b], &r);

    printf("\nConvolutions, µs per call (GFLOP/s); reorders = µs to move the pass's tensors from "
           "and to NCHW/OIHW for the blocked primitive; ratio = fedsim / the fastest oneDNN "
           "(blocked counted with its reorders)\n\n");
    printf("| layer | B | pass | fedsim | oneDNN plain | oneDNN blocked | reorders | ratio |\n"
           "|---|---:|---|---:|---:|---:|---:|---:|\n");
    static const conv_case conv_cases[] = {
        {"lenet conv1", 1, 28, 6, 5, 0},
        {"lenet conv2", 6, 12, 16, 5, 0},
        {"cnn conv1", 1, 28, 32, 5, 2},
        {"cnn conv2", 32, 14, 64, 5, 2},
    };
    for (size_t i = 0; i < sizeof conv_cases / sizeof conv_cases[0]; i++)
        for (int b = 0; b < 2; b++) bench_conv(&conv_cases[i], batches[b], &r);

    printf("\nAgreement with fedsim's result (same inputs, outputs zeroed first)\n\n"
           "| product | cases bit-identical | max |diff| / max |fedsim| |\n|---|---:|---:|\n");
    for (int i = 0; i < n_agree; i++)
        printf("| %s | %ld of %ld | %.1e |\n", agreements[i].what, agreements[i].same_cases,
               agreements[i].cases, agreements[i].max_rel);
    printf("\nSet-up before the first call (µs; once per shape and process: LIBXSMM's JIT, "
           "oneDNN's primitive creation with its JIT; a second creation of the same oneDNN "
           "primitive hits its cache)\n\n| layer: what | B = 10 | B = 32 |\n|---|---:|---:|\n");
    for (int i = 0; i < n_setup; i++)
        printf("| %s | %.0f | %.0f |\n", setups[i].what, setups[i].us[0], setups[i].us[1]);
    dnnl_stream_destroy(strm);
    dnnl_engine_destroy(eng);
    libxsmm_finalize();
    return 0;
}
