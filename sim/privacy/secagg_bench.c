/* `fedsim bench secagg` (sa_bench): the protocol's per-operation CPU costs on this host,
 * measured with the same code the protocol runs, a cost model from them and the protocol's
 * exact operation counts, and full real rounds where they fit a CPU budget (docs/secagg.md). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "privacy/secagg_impl.h"

/* Per-operation CPU costs on this host, measured with the same code the protocol runs. */
struct bench_units {
    double keygen, kx, aead;         /* seconds per operation */
    double prg[3], quant[3], add[3]; /* seconds per vector of dim 1e4, 1e5, 1e6 */
};

static double bench_prg(size_t dim)
{
    uint32_t *buf = FS_ALIGNED(dim, sizeof *buf);
    if (!buf) return NAN;
    uint8_t key[KEY] = {7};
    int reps = 0;
    double t0 = sa__cpu_now(), el;
    do {
        sa__prg_add(buf, 0, dim, key, reps & 1);
        reps++;
    } while ((el = sa__cpu_now() - t0) < 0.05);
    free(buf);
    return el / reps;
}

/* Seconds to quantise dim floats (*quant) and to add dim words into a sum (*add). */
static void bench_quant_add(const sa_params *p, size_t dim, double *quant, double *add)
{
    float *x = FS_ALIGNED(dim, sizeof *x);
    uint32_t *q = FS_ALIGNED(dim, sizeof *q), *acc = FS_ALIGNED(dim, sizeof *acc);
    *quant = *add = NAN;
    if (x && q && acc) {
        int reps = 0;
        double t0 = sa__cpu_now(), el;
        do {
            sa_quantize(p, 1, 1, reps, x, dim, q);
            reps++;
        } while ((el = sa__cpu_now() - t0) < 0.05);
        *quant = el / reps;
        reps = 0;
        t0 = sa__cpu_now();
        do {
            for (size_t k = 0; k < dim; k++) acc[k] += q[k];
            reps++;
        } while ((el = sa__cpu_now() - t0) < 0.05);
        *add = el / reps;
    }
    free(x);
    free(q);
    free(acc);
}

static void bench_units(struct bench_units *u)
{
    uint8_t seed[KEY] = {1}, pk[2][KEY], sk[2][KEY], rx[KEY], tx[KEY];
    enum { R = 200 };
    double t0 = sa__cpu_now();
    for (int i = 0; i < R; i++) {
        seed[0] = (uint8_t)i;
        (void)crypto_kx_seed_keypair(pk[i & 1], sk[i & 1], seed);
    }
    u->keygen = (sa__cpu_now() - t0) / R;
    t0 = sa__cpu_now();
    for (int i = 0; i < R; i++)
        (void)sa__kx_keys(i & 1, !(i & 1), pk[i & 1], sk[i & 1], pk[!(i & 1)], rx, tx);
    u->kx = (sa__cpu_now() - t0) / R;
    uint8_t pt[PT_BYTES] = {0}, ct[CT_BYTES], ad[AD_BYTES] = {0};
    static const uint8_t nonce[crypto_aead_chacha20poly1305_ietf_NPUBBYTES];
    t0 = sa__cpu_now();
    for (int i = 0; i < 20 * R; i++)
        (void)crypto_aead_chacha20poly1305_ietf_encrypt(ct, NULL, pt, PT_BYTES, ad, AD_BYTES, NULL,
                                                        nonce, tx);
    u->aead = (sa__cpu_now() - t0) / (20 * R);
}

/* Shamir costs for one configuration: split of (s^SK, b) among h holders with threshold t,
 * Lagrange coefficients for t points, one combine of a 5-element secret. */
static void bench_shamir(int t, int h, double *split, double *lag, double *comb)
{
    uint64_t *xs = FS_CALLOC((size_t)h, sizeof *xs), *sh = FS_CALLOC((size_t)h * SHARE_ELEMS, 8);
    uint64_t *lam = FS_CALLOC((size_t)h, sizeof *lam), sec[SHARE_ELEMS] = {3};
    if (!xs || !sh || !lam) {
        *split = *lag = *comb = NAN;
        free(xs);
        free(sh);
        free(lam);
        return;
    }
    for (int i = 0; i < h; i++) xs[i] = (uint64_t)i + 1;
    rng_t g;
    rng_init(&g, 1, RNG_SECAGG, 0, 0);
    int reps = 0;
    double t0 = sa__cpu_now(), el;
    do {
        sh_split(sec, SHARE_ELEMS, t, h, xs, &g, sh);
        reps++;
    } while ((el = sa__cpu_now() - t0) < 0.02);
    *split = el / reps;
    reps = 0;
    t0 = sa__cpu_now();
    do {
        (void)sh_lagrange0(xs, t, lam);
        reps++;
    } while ((el = sa__cpu_now() - t0) < 0.02);
    *lag = el / reps;
    reps = 0;
    t0 = sa__cpu_now();
    do {
        sh_combine(lam, sh, t, SECRET_ELEMS, sec);
        reps++;
    } while ((el = sa__cpu_now() - t0) < 0.01);
    *comb = el / reps;
    free(xs);
    free(sh);
    free(lam);
}

/* One bench row: the model always; a full real round too when it fits the CPU budget. */
struct bench_row {
    int n, complete, di, drop; /* drop: 10% of clients drop before masking */
};

static const size_t bench_dims[3] = {10000, 100000, 1000000};
#define BENCH_BUDGET 16.0 /* CPU seconds a full real round may take */

/* A full real round; fills mean client CPU (s), server CPU (s) and mean bytes up of the clients
 * that masked. Returns 0 on success. */
static int bench_full(const sa_params *q, int n, size_t dim, int n_drop, double *c_s, double *s_s,
                      double *up)
{
    sa_round *r = NULL;
    float *x = FS_ALIGNED(dim, sizeof *x);
    const float **xs = FS_CALLOC((size_t)n, sizeof *xs);
    sa_status st = SA_OK;
    fs_err e = x && xs ? sa_round_new(q, n, dim, 42, 1, &r) : FS_ENOMEM;
    if (!e) {
        for (size_t k = 0; k < dim; k++) x[k] = (float)((double)(k % 200) * 0.01 - 1.0);
        for (int i = 0; i < n; i++) xs[i] = i < n_drop ? NULL : x; /* graph order is random */
        e = sa_round_run(r, NULL, xs, NULL, NULL, NULL, &st);
    }
    if (!e && st == SA_OK) {
        double cc = 0, ub = 0, sc = 0;
        for (int i = n_drop; i < n; i++)
            for (int ph = 0; ph < SA_NPHASE; ph++) {
                cc += sa_client_cost(r, i)->cpu_s[ph];
                ub += (double)sa_client_cost(r, i)->bytes_up[ph];
            }
        for (int ph = 0; ph < SA_NPHASE; ph++) sc += sa_server_cost(r)->cpu_s[ph];
        *c_s = cc / (n - n_drop);
        *s_s = sc;
        *up = ub / (n - n_drop);
    }
    sa_round_free(r);
    free(x);
    free(xs);
    return e || st != SA_OK;
}

static void bench_print_row(FILE *out, const struct bench_units *u, const sa_params *p,
                            struct bench_row w)
{
    int n = w.n, di = w.di;
    size_t dim = bench_dims[di];
    int deg = w.complete ? n - 1 : sa_plus_degree(n);
    int h = deg + 1, t = w.complete ? (int)ceil(2.0 / 3.0 * h) : h / 2 + 1;
    int n_drop = w.drop ? n / 10 : 0, n_in = n - n_drop;
    double split, lag, comb;
    bench_shamir(t, h, &split, &lag, &comb);
    /* Client: 2 keygens; ShareKeys: deg agreements + deg AEAD + one split; masking: quantise,
     * deg agreements, deg + 1 PRG expansions; Unmasking: deg AEAD decryptions. */
    double m_client = 2 * u->keygen + deg * (2 * u->kx + 2 * u->aead) + split + u->quant[di] +
                      (deg + 1) * u->prg[di];
    /* Server: collect n_in vectors; one reconstruction per U2 owner (Lagrange coefficients once
     * when every owner has the same holder set); remove n_in self masks; per dropped owner a
     * public-key check and the pairwise seeds with its surviving neighbours. */
    double surv_nb = (double)deg * n_in / n;
    double m_server = n_in * u->add[di] + (w.complete && !w.drop ? lag : n * lag) + n * comb +
                      n_in * u->prg[di] + n_drop * (u->keygen + surv_nb * (u->kx + u->prg[di]));
    double up = ADV_WIRE + (double)deg * CT_WIRE + ID_WIRE + 4.0 * (double)dim + ID_WIRE +
                (double)h * USHARE_WIRE;
    double c_s = NAN, s_s = NAN;
    const char *method = "model";
    if (n * m_client + m_server <= BENCH_BUDGET) {
        sa_params q = *p;
        q.neighbours = w.complete ? 0 : deg;
        q.threshold = t;
        method =
            bench_full(&q, n, dim, n_drop, &c_s, &s_s, &up) ? "model (run aborted)" : "measured";
    }
    char cbuf[32] = "-", sbuf[32] = "-";
    if (!isnan(c_s)) snprintf(cbuf, sizeof cbuf, "%.2f", 1e3 * c_s);
    if (!isnan(s_s)) snprintf(sbuf, sizeof sbuf, "%.1f", 1e3 * s_s);
    fprintf(out, "%6d %-9s %5d %4d %8.0e %5d%%  %10s %10.2f  %10s %10.1f  %12.1f  %s\n", n,
            w.complete ? "complete" : "secagg+", deg, t, (double)dim, w.drop ? 10 : 0, cbuf,
            1e3 * m_client, sbuf, 1e3 * m_server, up / 1024.0, method);
    fflush(out);
}

void sa_bench(FILE *out)
{
    if (sodium_init() < 0) {
        fprintf(out, "secagg bench: libsodium failed to initialise\n");
        return;
    }
    struct bench_units u;
    bench_units(&u);
    sa_params p;
    sa_params_default(&p);
    for (int di = 0; di < 3; di++) {
        u.prg[di] = bench_prg(bench_dims[di]);
        bench_quant_add(&p, bench_dims[di], &u.quant[di], &u.add[di]);
    }
    int threads = 1;
#ifdef _OPENMP
    threads = omp_get_max_threads();
#endif
    fprintf(out,
            "secagg bench: Bonawitz et al. 2017 (semi-honest) and SecAgg+ (Bell et al. 2020) "
            "with k = 2 ceil(log2 n);\n"
            "t = ceil(2n/3) for the complete graph, a strict majority of the k+1 holders for "
            "SecAgg+; f = %d, R = %g.\n"
            "Unit costs here: X25519 keygen %.1f us, key agreement %.1f us, share AEAD %.2f us, "
            "mask PRG+add %.2f GB/s (dim 1e6).\n"
            "measured = a full real round (every client, every phase; %d OpenMP threads, CPU "
            "summed over threads), model in brackets;\n"
            "model    = EXTRAPOLATED: the unit costs above x the protocol's exact operation "
            "counts, used when a full round\n"
            "           would exceed %.0f s CPU. Complete graph only for n <= 1000. drop = "
            "clients dropping before masking.\n",
            p.scale_bits, p.clip, 1e6 * u.keygen, 1e6 * u.kx, 1e6 * u.aead,
            4e-9 * (double)bench_dims[2] / u.prg[2], threads, BENCH_BUDGET);
    fprintf(out, "%6s %-9s %5s %4s %8s %6s  %10s %10s  %10s %10s  %12s  %s\n", "n", "graph", "k",
            "t", "dim", "drop", "client ms", "(model)", "server ms", "(model)", "KB up/client",
            "method");
    static const struct bench_row rows[] = {
        {100, 1, 0, 0},   {100, 1, 1, 0},   {100, 1, 1, 1},  {100, 1, 2, 0},  {100, 0, 0, 0},
        {100, 0, 1, 0},   {100, 0, 2, 0},   {1000, 1, 0, 0}, {1000, 1, 1, 0}, {1000, 1, 2, 0},
        {1000, 0, 0, 0},  {1000, 0, 0, 1},  {1000, 0, 1, 0}, {1000, 0, 2, 0}, {10000, 0, 0, 0},
        {10000, 0, 1, 0}, {10000, 0, 2, 0},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) bench_print_row(out, &u, &p, rows[i]);
}
