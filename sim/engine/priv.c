/* Privacy in the run (see priv.h and docs/privacy.md). Owns the accountant, the adaptive clip
 * norm, the per-client participation counts of local DP, and one secure-aggregation round at a
 * time with its scratch buffers and cost snapshots.
 *
 * Estimators (McMahan et al., "Learning Differentially Private Recurrent Language Models",
 * ICLR 2018, Sec. 2, "DP-FedAvg"): each update is clipped to L2 norm C; with
 * privacy.weighting = uniform the server releases (sum_k clip(u_k) + N(0, (z C)^2 I)) / (q N),
 * the fixed-denominator estimator f~_f with w_k = 1, whose sensitivity is C; with samples it
 * keeps the algorithm's weights n_k and their sum as denominator, with noise z C n_max (n_max the
 * largest client), so that z = 0 and a clip nobody reaches is plain FedAvg bit for bit. */
#include "engine/priv.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "privacy/accountant.h"
#include "vfl/clock.h"
#include "privacy/dp.h"
#include "util/log.h"

/* Measured on the development host (AMD EPYC, 2 cores under KVM, libsodium 1.0.18, 2026-11-27;
 * median of three runs of the calibration in docs/privacy.md). That core trains the zoo models
 * at 12-29 GFLOP/s, hence privacy.secagg_ref_flops = 2e10. */
const priv_sa_units priv_sa_default_units = {
    .keygen = 58.96e-6,
    .kx = 64.58e-6,
    .aead = 0.78e-6,
    .prg_byte = 1.128e-9,
    .quant = 9.67e-9,
    .add = 0.79e-9,
    .split = 8.81e-9,
    .combine = 4.22e-9,
    .lagrange = 9.2e-9,
};

enum { MODE_NONE = 0, MODE_CENTRAL, MODE_LOCAL };
enum { SA_NONE = 0, SA_SECAGG, SA_PLUS, SA_PAILLIER }; /* privacy.secagg */

/* The keyed crypto stream (seed, RNG_CRYPTO, entity, round) of the key holder's key; a client's
 * encryption randomness uses entity = its id and the round (docs/privacy.md). */
#define PRIV_HE_KEY_ENTITY UINT64_C(0xFFFFFFFF)

struct priv_state {
    int mode;
    int uniform;  /* privacy.weighting = uniform */
    int adaptive; /* adaptive clipping */
    int poisson;
    int secagg;      /* SA_NONE, SA_SECAGG (complete graph), SA_PLUS, SA_PAILLIER */
    double q;        /* sampling rate */
    double z;        /* noise multiplier (effective, for the accountant) */
    double z_upd;    /* multiplier of the noise on the update sum (Andrew et al. Thm. 1) */
    double clip;     /* current C */
    double R;        /* secure aggregation: coordinate bound of the encoding */
    long sa_clipped; /* coordinates the encoding clipped, this round */
    int warned;
    int warned_t1; /* a threshold of t = 1 was warned about */
    double w_max;  /* largest weight a client can have (sensitivity factor, secagg scale) */
    double expect; /* expected updates per round: q N */
    double sigma_b, quantile, lr;
    const cfg *c;
    size_t np, dim; /* model size; secure-aggregation vector length */
    int two;        /* the algorithm uploads two vectors */
    int chunk, threads;
    dp_accountant acc;
    int acc_on;
    uint32_t *part_count; /* local DP: rounds each client took part in */
    uint32_t max_part;
    char desc[512];

    /* the current round */
    uint32_t round;
    const sched_round *sr;
    double unclipped, clipped; /* updates within / beyond the clip norm */
    long added;
    fl_agg metrics; /* training-loss metrics (no vectors), kept outside the protocol */
    sa_round *sa;
    sa_status sa_st;
    int sa_t, sa_n, sa_ran, n_masked, sa_f;
    sa_cost *snap[2];         /* (sa_n each) client costs after setup and after masking */
    float *x;                 /* (chunk, dim) encoded inputs */
    double *norms;            /* (chunk) */
    long *nclip;              /* (chunk) coordinates clipped by the encoding */
    sa_masked_input **masked; /* (chunk) */
    uint32_t *qsum;           /* (dim) */

    /* privacy.secagg = paillier */
    he_key *hk;           /* the key holder's key (one per run) */
    he_enc *he;           /* the clients' public-key encryptor */
    he_pack hl;           /* packing layout */
    size_t nct;           /* ciphertexts per client vector */
    he_ct *hct;           /* (chunk, nct) the chunk's ciphertexts */
    he_ct *hsum;          /* (nct) the server's running product */
    int64_t *hval;        /* (dim) the decrypted slot sums */
    uint8_t *he_seen;     /* (N) the client has the public key and its encryptor table */
    uint32_t n_clients;   /* N */
    long h_n;             /* ciphertext vectors in hsum this round */
    int he_ran, he_keyed; /* a Paillier round is open; key generation not yet charged */
};

int priv_wanted(const cfg *c)
{
    return strcmp(c->privacy.mode, "none") != 0 || strcmp(c->privacy.secagg, "none") != 0;
}

/* The scenario's privacy.mode, privacy.secagg and adaptive clipping, as the run reads them. */
static int mode_of(const cfg *c)
{
    const char *m = c->privacy.mode;
    return strcmp(m, "central") == 0 ? MODE_CENTRAL
           : strcmp(m, "local") == 0 ? MODE_LOCAL
                                     : MODE_NONE;
}

static int secagg_of(const cfg *c)
{
    return strcmp(c->privacy.secagg, "secagg") == 0        ? SA_SECAGG
           : strcmp(c->privacy.secagg, "secagg_plus") == 0 ? SA_PLUS
           : strcmp(c->privacy.secagg, "paillier") == 0    ? SA_PAILLIER
                                                           : SA_NONE;
}

static int adaptive_of(const cfg *c, int mode)
{
    return strcmp(c->privacy.adaptive_clip, "true") == 0 && mode == MODE_CENTRAL;
}

/* Length of the encoded vector [u | u2 | weight | unclipped] (encode()). */
static size_t sa_dim_of(size_t np, int two, int adaptive)
{
    return np * (size_t)(1 + two) + 1 + (size_t)adaptive;
}

/* SecAgg+'s degree k for a round of n selected clients; 0: the complete graph (SecAgg). */
static int sa_neighbours_of(const cfg *c, int secagg, int n)
{
    return secagg == SA_PLUS ? sa_plus_neighbours(c->privacy.secagg_neighbours, n) : 0;
}

static int unit_weights(const fl_algorithm *a, const cfg *c)
{
    /* SCAFFOLD (with algorithm.weighting uniform) and FedDyn weigh every client 1 (their
     * papers); every other algorithm n_k */
    return a->unit_weights &&
           !(a->two_uploads && fl_weighting_parse(c->algorithm.weighting) != FL_WEIGHT_UNIFORM);
}

/* The options of the run, read once from the scenario. */
static void read_options(priv_state *p, const cfg *c, const partition *part, size_t n_params,
                         const fl_algorithm *a, int chunk, int threads)
{
    p->c = c;
    p->mode = mode_of(c);
    p->uniform = strcmp(c->privacy.weighting, "uniform") == 0;
    p->adaptive = adaptive_of(c, p->mode);
    const char *smp = c->privacy.sampling;
    p->poisson =
        strcmp(smp, "poisson") == 0 || (strcmp(smp, "auto") == 0 && p->mode == MODE_CENTRAL);
    p->secagg = secagg_of(c);
    p->np = n_params;
    p->two = a->two_uploads;
    p->chunk = chunk;
    p->threads = threads > 0 ? threads : 1;
    const uint32_t N = part->n_clients;
    const double K = c->rounds.clients_per_round;
    p->q = K / N;
    p->expect = K;
    p->clip = c->privacy.clip;
    p->quantile = c->privacy.adaptive_quantile;
    p->lr = c->privacy.adaptive_lr;
    p->sigma_b = c->privacy.adaptive_count_noise > 0 ? c->privacy.adaptive_count_noise : K / 20.0;
    uint32_t n_max = 1;
    for (uint32_t i = 0; i < N; i++)
        if (part_size(part, i) > n_max) n_max = part_size(part, i);
    const int unit = p->mode != MODE_NONE ? p->uniform : unit_weights(a, c);
    p->w_max = unit ? 1.0 : (double)n_max;
}

static dp_conversion conversion(const cfg *c)
{
    return strcmp(c->privacy.conversion, "classic") == 0 ? DP_CONV_CLASSIC : DP_CONV_IMPROVED;
}

/* DP: the noise multiplier (given, or solved for the target epsilon), the update noise of
 * adaptive clipping, the accountant and local DP's participation counts. */
static fs_err dp_setup(priv_state *p, const cfg *c, uint32_t N)
{
    const dp_conversion conv = conversion(c);
    const double delta = c->privacy.delta;
    /* local DP: one client's report is a Gaussian mechanism of sensitivity 2C (any two
     * clipped vectors differ by at most 2C), i.e. multiplier z/2, once per participation */
    const double q_acc = p->mode == MODE_LOCAL ? 1.0 : p->q;
    const double scale = p->mode == MODE_LOCAL ? 2.0 : 1.0;
    p->z = c->privacy.noise_multiplier;
    if (c->privacy.target_epsilon > 0) {
        double zz;
        fs_err e = dp_noise_for_eps(q_acc, c->rounds.count, delta, c->privacy.target_epsilon, conv,
                                    NULL, 0, &zz);
        if (e) {
            char msg[512];
            snprintf(msg, sizeof msg, "%s", fs_errmsg());
            return fs_error(FS_EINPUT, "privacy.target_epsilon: %s", msg);
        }
        p->z = zz * scale;
    }
    p->z_upd = p->z;
    if (p->adaptive) {
        p->z_upd = dp_update_noise_multiplier(p->z, p->sigma_b);
        if (isnan(p->z_upd))
            return fs_error(FS_EINPUT,
                            "privacy.adaptive_clip: the count noise sigma_b = %g is too small "
                            "for noise multiplier z = %g (Andrew et al. 2021 need 2 sigma_b > "
                            "z; hint: raise privacy.adaptive_count_noise or "
                            "rounds.clients_per_round)",
                            p->sigma_b, p->z);
    }
    fs_err e = dp_accountant_init(&p->acc, q_acc, p->z / scale, delta, conv, NULL, 0);
    if (e) return e;
    p->acc_on = 1;
    if (p->mode == MODE_LOCAL && !(p->part_count = FS_CALLOC(N, sizeof *p->part_count)))
        return FS_ENOMEM;
    return FS_OK;
}

/* Secure aggregation: the encoded inputs and the masked sum of one chunk of clients. */
static fs_err sa_setup(priv_state *p, int chunk)
{
    p->dim = sa_dim_of(p->np, p->two, p->adaptive);
    p->x = FS_ALIGNED((size_t)chunk * p->dim, sizeof *p->x);
    p->masked = FS_CALLOC((size_t)chunk, sizeof *p->masked);
    p->nclip = FS_CALLOC((size_t)chunk, sizeof *p->nclip);
    p->qsum = FS_ALIGNED(p->dim, sizeof *p->qsum);
    return !p->x || !p->masked || !p->nclip || !p->qsum ? FS_ENOMEM : FS_OK;
}

/* Paillier: the key holder's key, the clients' encryptor, the packing layout and the
 * ciphertext buffers. */
static fs_err he_setup(priv_state *p, const cfg *c, uint32_t N, int chunk)
{
    /* the key holder's key, once per run (keyed stream of the seed: simulation only) */
    const int sys = strcmp(c->privacy.secagg_randomness, "system") == 0;
    cr_src r;
    fs_err e = sys ? cr_init_system(&r) : cr_init_keyed(&r, c->seed, PRIV_HE_KEY_ENTITY, 0);
    if (!e) e = he_keygen(c->privacy.paillier_bits, &r, &p->hk);
    cr_wipe(&r);
    if (!e) e = he_enc_new(he_key_pub(p->hk), &p->he);
    /* headroom for every client of the partition: the layout (and so the upload size)
     * does not depend on the round */
    if (!e) e = priv_he_layout(he_key_pub(p->hk), N, &p->hl);
    if (e) return e;
    p->nct = priv_he_cts(&p->hl, p->dim);
    p->n_clients = N;
    p->he_keyed = 1;
    p->hct = he_ct_array_new((size_t)chunk * p->nct);
    p->hsum = he_ct_array_new(p->nct);
    p->hval = FS_CALLOC(p->dim, sizeof *p->hval);
    p->he_seen = FS_CALLOC(N, sizeof *p->he_seen);
    return !p->hct || !p->hsum || !p->hval || !p->he_seen ? FS_ENOMEM : FS_OK;
}

/* The one-line description priv_describe returns. */
static void describe(priv_state *p, const cfg *c)
{
    int len = 0;
    if (p->mode != MODE_NONE)
        len = snprintf(p->desc, sizeof p->desc,
                       "privacy: %s, %s sampling q = %.4g, noise multiplier z = %.6g%s, clip "
                       "%g%s, %s weights, delta %g",
                       p->mode == MODE_CENTRAL ? "central DP (DP-FedAvg)" : "local DP",
                       p->poisson ? "Poisson" : "fixed-size", p->q, p->z,
                       c->privacy.target_epsilon > 0 ? " (solved for the target epsilon)" : "",
                       p->clip, p->adaptive ? " (adaptive)" : "", p->uniform ? "uniform" : "sample",
                       c->privacy.delta);
    else
        len = snprintf(p->desc, sizeof p->desc, "privacy: no DP");
    if (p->secagg && len > 0 && (size_t)len < sizeof p->desc)
        snprintf(p->desc + len, sizeof p->desc - (size_t)len, "; secure aggregation %s%s",
                 p->secagg == SA_SECAGG ? "(SecAgg)"
                 : p->secagg == SA_PLUS ? "(SecAgg+)"
                                        : "(Paillier, a key holder decrypts the sum)",
                 strcmp(c->privacy.secagg_randomness, "system") == 0
                     ? ", secrets from the system's randomness (not reproducible)"
                     : "");
}

fs_err priv_new(const cfg *c, const partition *part, size_t n_params, const fl_algorithm *a,
                int chunk, int threads, priv_state **out)
{
    *out = NULL;
    priv_state *p = FS_CALLOC(1, sizeof *p);
    if (!p) return FS_ENOMEM;
    read_options(p, c, part, n_params, a, chunk, threads);
    const uint32_t N = part->n_clients;
    fs_err e = FS_OK;
    if (p->mode != MODE_NONE) e = dp_setup(p, c, N);
    if (!e && p->secagg) e = sa_setup(p, chunk);
    if (!e && p->secagg == SA_PAILLIER) e = he_setup(p, c, N, chunk);
    if (!e && !(p->norms = FS_CALLOC((size_t)chunk, sizeof *p->norms))) e = FS_ENOMEM;
    if (e) {
        priv_free(p); /* leaves the message of fs_error alone */
        return e;
    }
    describe(p, c);
    *out = p;
    return FS_OK;
}

double priv_estimate_bytes(const cfg *c, const fl_algorithm *a, size_t n_params, uint32_t n_clients,
                           int max_selected, int chunk, int threads)
{
    if (!priv_wanted(c)) return 0;
    const int mode = mode_of(c), sa = secagg_of(c);
    double b = chunk * (double)sizeof(double); /* the chunk's norms */
    if (mode != MODE_NONE) {
        int n_orders;
        dp_default_orders(&n_orders);
        b += 3.0 * n_orders * sizeof(double);                              /* dp_accountant_init */
        if (mode == MODE_LOCAL) b += (double)n_clients * sizeof(uint32_t); /* part_count */
    }
    if (sa == SA_NONE) return b;
    const size_t dim = sa_dim_of(n_params, a ? a->two_uploads : 0, adaptive_of(c, mode));
    /* sa_setup: the chunk's encoded inputs, their masked handles and clip counts; the sum */
    b += chunk * ((double)dim * sizeof(float) + sizeof(sa_masked_input *) + sizeof(long)) +
         (double)dim * sizeof(uint32_t);
    if (sa == SA_PAILLIER) { /* he_setup, and priv_he_encrypt's slot values per thread */
        const int bits = c->privacy.paillier_bits;
        he_pub pk = {.bits = bits}; /* the layout depends on the key's size only */
        he_pack L;
        if (priv_he_layout(&pk, n_clients, &L)) {
            fs_error_clear();
            return b;
        }
        const double nct = (double)priv_he_cts(&L, dim);
        return b + (double)he_enc_table_bytes_for(bits) +
               (chunk + 1.0) * nct * (double)he_ct_mem_bytes(bits) + /* hct, hsum */
               (double)dim * sizeof(int64_t) + n_clients +           /* hval, he_seen */
               (threads > 0 ? threads : 1) * (double)L.slots * sizeof(int64_t);
    }
    /* a round of the selected clients: its protocol state and our two cost snapshots; the
     * chunk's masked inputs are alive at once (priv_round_add); sa_round_setup's parallel
     * region names no thread count: OpenMP's default, which set-up's
     * openblas_set_num_threads(1) lowers to 1 (Debian's OpenMP OpenBLAS sets both), so
     * counting the default here is an upper bound */
    int omp = 1;
#ifdef _OPENMP
    omp = omp_get_max_threads();
#endif
    const int n = max_selected > 0 ? max_selected : 1;
    return b + 2.0 * n * sizeof(sa_cost) +
           sa_round_bytes(n, sa_neighbours_of(c, sa, n), dim, omp, chunk);
}

static void sa_round_drop(priv_state *p)
{
    sa_round_free(p->sa);
    p->sa = NULL;
    free(p->snap[0]);
    free(p->snap[1]);
    p->snap[0] = p->snap[1] = NULL;
}

void priv_free(priv_state *p)
{
    if (!p) return;
    sa_round_drop(p);
    if (p->acc_on) dp_accountant_free(&p->acc);
    free(p->part_count);
    free(p->x);
    free(p->norms);
    free(p->masked);
    free(p->nclip);
    free(p->qsum);
    if (p->hct) he_ct_array_free(p->hct, (size_t)p->chunk * p->nct);
    if (p->hsum) he_ct_array_free(p->hsum, p->nct);
    free(p->hval);
    free(p->he_seen);
    he_enc_free(p->he);
    he_key_free(p->hk);
    free(p);
}

const char *priv_describe(const priv_state *p)
{
    return p->desc;
}

int priv_poisson(const priv_state *p)
{
    return p->poisson;
}

double priv_rate(const priv_state *p)
{
    return p->q;
}

double priv_noise_multiplier(const priv_state *p)
{
    return p->z;
}

double priv_upload_bytes(const priv_state *p, double plain_bytes)
{
    /* the masked vector: a 4-byte id and one 32-bit word per coordinate (docs/secagg.md);
     * with Paillier a 4-byte id and the ciphertexts */
    if (p->secagg == SA_PAILLIER)
        return 4.0 + (double)p->nct * (double)he_ct_bytes(he_key_pub(p->hk));
    return p->secagg ? 4.0 + 4.0 * (double)p->dim : plain_bytes;
}

double priv_sa_seconds(const priv_sa_units *u, const sa_cost *ops, int phase, int server, int t,
                       size_t dim, int n_masked, int lagranges)
{
    double s = (double)ops->keygens * u->keygen + (double)ops->key_agreements * u->kx +
               (double)ops->aead_ops * u->aead + (double)ops->prg_bytes * u->prg_byte;
    if (!server) {
        if (phase == SA_PHASE_SHARE) s += (double)ops->shamir_elems * t * u->split;
        if (phase == SA_PHASE_MASK && ops->prg_bytes) s += (double)dim * u->quant;
        return s;
    }
    if (phase == SA_PHASE_MASK) s += (double)n_masked * (double)dim * u->add;
    if (phase == SA_PHASE_UNMASK)
        s += (double)ops->shamir_elems * u->combine + (double)lagranges * t * t * u->lagrange +
             (double)dim * u->add;
    return s;
}

/* R and f of a round of n clients (p->R, p->sa_f). */
static void choose_rf(priv_state *p, int n)
{
    /* R: as given, or a bound the updates respect: C with central DP (clipped updates, weights
     * <= 1), C + 6 sd of the noise with local DP, else 10 (FedAvg updates of the zoo models) */
    const double Rc = p->c->privacy.secagg_clip;
    p->R = Rc > 0                    ? Rc
           : p->mode == MODE_CENTRAL ? p->clip
           : p->mode == MODE_LOCAL   ? (1 + 6 * p->z) * p->clip
                                     : 10.0;
    /* f: as given, or the finest scale at which n clients' sum cannot wrap (docs/secagg.md:
     * n * ceil(R 2^f) <= 2^31 - 1); the round size is public, so f may follow it */
    int f = p->c->privacy.secagg_scale_bits;
    if (f == 0)
        for (f = 30; f > 1 && (double)n * ceil(p->R * ldexp(1.0, f)) > 2147483647.0;) f--;
    p->sa_f = f;
}

/* A Paillier round: the same R and f as SecAgg, so the two aggregates agree within one
 * rounding per client and coordinate; the slots hold |v| < 2^31 with headroom for N clients. */
static fs_err he_round_begin(priv_state *p, int n)
{
    choose_rf(p, n);
    if (ceil(p->R * ldexp(1.0, p->sa_f)) > 2147483647.0)
        return fs_error(FS_EINPUT,
                        "round %u: privacy.secagg_clip %g x 2^%d reaches 2^31, the Paillier "
                        "slot's value bound (hint: lower privacy.secagg_scale_bits)",
                        p->round, p->R, p->sa_f);
    p->h_n = 0;
    p->he_ran = 1;
    return FS_OK;
}

fs_err priv_he_layout(const he_pub *pk, uint64_t max_terms, he_pack *L)
{
    return he_pack_layout(pk, 31, max_terms > 0 ? max_terms : 1, L);
}

size_t priv_he_cts(const he_pack *L, size_t dim)
{
    return (dim + (size_t)L->slots - 1) / (size_t)L->slots;
}

fs_err priv_he_encrypt(const he_enc *e, cr_src *rnd, const he_pack *L, const float *x, size_t dim,
                       double R, int f, he_ct *out, long *clipped)
{
    const double s = ldexp(1.0, f);
    if (!(ceil(R * s) <= 2147483647.0))
        return fs_error(FS_EINPUT, "paillier: R 2^f = %g reaches 2^31", R * s);
    int64_t *v = FS_CALLOC((size_t)L->slots, sizeof *v);
    if (!v) return FS_ENOMEM;
    mpz_t m;
    mpz_init(m);
    long nclip = 0;
    fs_err err = FS_OK;
    for (size_t j = 0, at = 0; at < dim && !err; j++) {
        const int cnt = dim - at < (size_t)L->slots ? (int)(dim - at) : L->slots;
        for (int i = 0; i < cnt && !err; i++) {
            double y = x[at + (size_t)i];
            if (y != y) {
                err = fs_error(FS_EINPUT, "paillier: coordinate %zu is NaN", at + (size_t)i);
                break;
            }
            if (y > R || y < -R) {
                y = y > R ? R : -R;
                nclip++;
            }
            v[i] = llround(y * s);
        }
        at += (size_t)cnt;
        if (!err) err = he_pack_encode(L, v, cnt, m);
        if (!err) err = he_encrypt(e, rnd, m, &out[j]);
    }
    mpz_clear(m);
    free(v);
    if (clipped) *clipped = nclip;
    return err;
}

fs_err priv_he_decrypt(const he_key *k, const he_pack *L, const he_ct *sum, size_t dim,
                       int64_t *out)
{
    mpz_t m;
    mpz_init(m);
    fs_err e = FS_OK;
    for (size_t j = 0, at = 0; at < dim && !e; j++) {
        const int cnt = dim - at < (size_t)L->slots ? (int)(dim - at) : L->slots;
        e = he_decrypt(k, &sum[j], m);
        if (!e) e = he_pack_decode(L, m, cnt, out + at);
        at += (size_t)cnt;
    }
    mpz_clear(m);
    return e;
}

fs_err priv_round_begin(priv_state *p, uint32_t round, const sched_round *sr)
{
    p->round = round;
    p->sr = sr;
    p->unclipped = p->clipped = 0;
    p->added = 0;
    memset(&p->metrics, 0, sizeof p->metrics);
    p->sa_st = SA_OK;
    p->sa_ran = p->n_masked = 0;
    p->sa_clipped = 0;
    p->he_ran = 0;
    sa_round_drop(p);
    if (!p->secagg || sr->n_completed == 0) return FS_OK;
    /* every selected client is online at the round start and takes part in the key rounds */
    const int n = sr->n;
    if (p->secagg == SA_PAILLIER) return he_round_begin(p, n);
    sa_params sp;
    sa_params_default(&sp);
    /* R: as given, or a bound the updates respect: C with central DP (clipped updates, weights
     * <= 1), C + 6 sd of the noise with local DP, else 10 (FedAvg updates of the zoo models) */
    choose_rf(p, n);
    sp.clip = p->R;
    sp.scale_bits = p->sa_f;
    const int k = sa_neighbours_of(p->c, p->secagg, n);
    sp.neighbours = k;
    sp.threshold = p->c->privacy.secagg_threshold;
    if (sp.threshold == 0) /* Bonawitz et al.: 2/3; SecAgg+: a strict majority of k+1 holders */
        sp.threshold = k ? (double)((k + 1) / 2 + 1) : 2.0 / 3.0;
    sp.system_random = strcmp(p->c->privacy.secagg_randomness, "system") == 0;
    fs_err e = sa_round_new(&sp, n, p->dim, p->c->seed, round, &p->sa);
    if (e) {
        char msg[512];
        snprintf(msg, sizeof msg, "%s", fs_errmsg());
        return fs_error(FS_EINPUT, "round %u, %d clients: %s", round, n, msg);
    }
    p->sa_n = n;
    p->sa_t = sa_round_threshold(p->sa);
    if (p->sa_t == 1 && !p->warned_t1) { /* Bonawitz et al.: t must exceed what one party holds */
        log_warn("secure aggregation: round %u has threshold t = 1: any single share holder can "
                 "reconstruct a client's secrets and unmask its update (raise "
                 "privacy.secagg_threshold; warned once)",
                 round);
        p->warned_t1 = 1;
    }
    p->sa_ran = 1;
    p->snap[0] = FS_CALLOC((size_t)n, sizeof *p->snap[0]);
    p->snap[1] = FS_CALLOC((size_t)n, sizeof *p->snap[1]);
    if (!p->snap[0] || !p->snap[1]) return FS_ENOMEM;
    e = sa_round_setup(p->sa, NULL, &p->sa_st);
    for (int i = 0; i < n && !e; i++) p->snap[0][i] = *sa_client_cost(p->sa, i);
    return e;
}

/* Client-side encoding for secure aggregation: x = [w/w_max u | w/w_max u2 | R w/w_max | R b]. */
static long encode(const priv_state *p, const fl_client_result *r, double w, int unclipped,
                   float *x)
{
    const double f = w / p->w_max, R = p->R;
    for (size_t i = 0; i < p->np; i++) x[i] = (float)(f * (double)r->update[i]);
    size_t at = p->np;
    if (p->two)
        for (size_t i = 0; i < p->np; i++) /* update2 carries its own weight (SCAFFOLD's dc) */
            x[at++] = (float)(r->weight2 / p->w_max * (double)r->update2[i]);
    long out = 0; /* coordinates the fixed-point encoding will clip */
    for (size_t i = 0; i < at; i++) out += fabsf(x[i]) > (float)R;
    x[at++] = (float)(R * f);
    if (p->adaptive) x[at] = (float)(R * unclipped);
    return out;
}

/* Paillier: every client encrypts its encoded vector (keyed stream (seed, RNG_CRYPTO, client,
 * round), so the ciphertexts do not depend on the thread count); the server multiplies them
 * into hsum in arrival order. */
static fs_err he_round_add(priv_state *p, fl_client_result *res, int n, double C)
{
    if (!p->he_ran) return FS_OK;
    const int sys = strcmp(p->c->privacy.secagg_randomness, "system") == 0;
    fs_err e = FS_OK;
    char msg[512] = "";
#ifdef _OPENMP
#pragma omp parallel for schedule(dynamic, 1) num_threads(p->threads)
#endif
    for (int k = 0; k < n; k++) {
        float *x = p->x + (size_t)k * p->dim;
        p->nclip[k] = encode(p, &res[k], res[k].weight, p->norms[k] <= C, x);
        cr_src r;
        fs_err ek =
            sys ? cr_init_system(&r) : cr_init_keyed(&r, p->c->seed, res[k].client, p->round);
        if (!ek)
            ek = priv_he_encrypt(p->he, &r, &p->hl, x, p->dim, p->R, p->sa_f,
                                 p->hct + (size_t)k * p->nct, NULL);
        cr_wipe(&r);
        if (ek) {
#ifdef _OPENMP
#pragma omp critical(priv_err)
#endif
            if (!e) {
                e = ek;
                snprintf(msg, sizeof msg, "%s", fs_errmsg());
            }
        }
    }
    if (e) return msg[0] ? fs_error(e, "%s", msg) : e;
    const he_pub *pk = he_key_pub(p->hk);
    for (int k = 0; k < n; k++) {
        p->sa_clipped += p->nclip[k];
        const he_ct *c = p->hct + (size_t)k * p->nct;
        for (size_t j = 0; j < p->nct; j++) {
            if (p->h_n == 0)
                mpz_set(p->hsum[j].v, c[j].v);
            else
                he_add(pk, &p->hsum[j], &c[j], &p->hsum[j]);
        }
        p->h_n++;
    }
    return FS_OK;
}

fs_err priv_round_add(priv_state *p, fl_client_result *res, int n, int first, fl_agg *agg)
{
    const int dp = p->mode != MODE_NONE;
    const double C = p->clip, std_local = p->z * p->clip;
    const uint64_t seed = p->c->seed;
    const uint32_t round = p->round;
#ifdef _OPENMP
#pragma omp parallel for schedule(dynamic, 1) num_threads(p->threads)
#endif
    for (int k = 0; k < n; k++) {
        if (!dp) continue;
        p->norms[k] = dp_clip(res[k].update, p->np, C);
        if (p->mode == MODE_LOCAL) /* the client noises its own clipped update */
            dp_noise_add_f(res[k].update, p->np, std_local, seed, res[k].client, round);
    }
    for (int k = 0; k < n; k++) {
        if (dp && p->uniform) res[k].weight = 1;
        if (dp) {
            p->unclipped += p->norms[k] <= C;
            p->clipped += !(p->norms[k] <= C);
        }
        if (p->part_count) {
            uint32_t v = ++p->part_count[res[k].client];
            if (v > p->max_part) p->max_part = v;
        }
    }
    p->added += n;
    if (!p->secagg) {
        fl_agg_add(agg, res, n);
        return FS_OK;
    }
    /* training-loss metrics are instrumentation, not part of the protocol */
    fl_agg_add(&p->metrics, res, n);
    if (p->secagg == SA_PAILLIER) return he_round_add(p, res, n, dp ? C : INFINITY);
    if (!p->sa || p->sa_st != SA_OK) return FS_OK;
    fs_err e = FS_OK;
    char msg[512] = "";
#ifdef _OPENMP
#pragma omp parallel for schedule(dynamic, 1) num_threads(p->threads)
#endif
    for (int k = 0; k < n; k++) {
        float *x = p->x + (size_t)k * p->dim;
        p->nclip[k] = encode(p, &res[k], res[k].weight, dp ? p->norms[k] <= C : 1, x);
        fs_err ek = sa_client_mask(p->sa, p->sr->arrival[first + k], x, &p->masked[k]);
        if (ek) {
#ifdef _OPENMP
#pragma omp critical(priv_err)
#endif
            if (!e) {
                e = ek;
                snprintf(msg, sizeof msg, "%s", fs_errmsg());
            }
        }
    }
    for (int k = 0; k < n; k++) p->sa_clipped += p->nclip[k];
    /* the server side: only masked vectors cross over */
    for (int k = 0; k < n; k++) {
        if (!e && p->masked[k]) {
            e = sa_server_collect(p->sa, p->masked[k]);
            p->n_masked += !e;
        } else if (p->masked[k]) {
            sa_masked_input_free(p->masked[k]);
        }
        p->masked[k] = NULL;
    }
    return e && msg[0] ? fs_error(e, "%s", msg) : e;
}

/* Network seconds of one phase's traffic on a client's link (one latency per direction used). */
static double net_s(const dev_profile *d, double up, double down)
{
    return (up > 0 ? dev_transfer_s(up, d->up_bps, d->latency_s) : 0) +
           (down > 0 ? dev_transfer_s(down, d->down_bps, d->latency_s) : 0);
}

static void cost_diff(const sa_cost *a, const sa_cost *b, sa_cost *d)
{
    memset(d, 0, sizeof *d);
    d->keygens = a->keygens - b->keygens;
    d->key_agreements = a->key_agreements - b->key_agreements;
    d->aead_ops = a->aead_ops - b->aead_ops;
    d->prg_bytes = a->prg_bytes - b->prg_bytes;
    d->shamir_elems = a->shamir_elems - b->shamir_elems;
}

/* Price the protocol (docs/privacy.md, "Cost model"): phases are sequential round trips; a
 * phase lasts as long as its slowest client (CPU scaled to the device plus its transfers)
 * plus the server's CPU. */
static void price(priv_state *p, const dev_model *dev, priv_stats *st)
{
    const priv_sa_units *u = &priv_sa_default_units;
    const double ref = p->c->privacy.secagg_ref_flops;
    double slow[SA_NPHASE] = {0};
    sa_cost zero = {0};
    for (int i = 0; i < p->sa_n; i++) {
        const sa_cost *fin = sa_client_cost(p->sa, i);
        dev_profile d;
        dev_profile_of(dev, p->sr->c[i].client, &d);
        const double ratio = ref / d.flops;
        sa_cost ph[SA_NPHASE];
        cost_diff(&p->snap[0][i], &zero, &ph[SA_PHASE_SHARE]);
        ph[SA_PHASE_ADVERTISE] = zero;
        ph[SA_PHASE_ADVERTISE].keygens = ph[SA_PHASE_SHARE].keygens;
        ph[SA_PHASE_SHARE].keygens = 0;
        cost_diff(&p->snap[1][i], &p->snap[0][i], &ph[SA_PHASE_MASK]);
        cost_diff(fin, &p->snap[1][i], &ph[SA_PHASE_UNMASK]);
        for (int f = 0; f < SA_NPHASE; f++) {
            /* the masked upload itself is the round's upload, already in the schedule */
            const double up = f == SA_PHASE_MASK ? 0 : (double)fin->bytes_up[f];
            const double down = (double)fin->bytes_down[f];
            st->sa_bytes_up += up;
            st->sa_bytes_down += down;
            const double cpu = priv_sa_seconds(u, &ph[f], f, 0, p->sa_t, p->dim, 0, 0);
            const double t = cpu * ratio + net_s(&d, up, down);
            if (t > slow[f]) slow[f] = t;
        }
    }
    /* the server runs on the reference machine; Lagrange coefficients are computed once when
     * every owner has the same holders (complete graph, nobody dropped), else per secret */
    const sa_cost *srv = sa_server_cost(p->sa);
    const int n_masked = p->n_masked;
    const int recon = p->sa_t > 0 ? (int)(srv->shamir_elems / (5u * (unsigned)p->sa_t)) : 0;
    const int same = sa_round_degree(p->sa) == p->sa_n - 1 && n_masked == p->sa_n;
    const int lag = same && recon ? 1 : recon;
    double total = 0;
    for (int f = 0; f < SA_NPHASE; f++) {
        sa_cost ops = f == SA_PHASE_UNMASK ? *srv : zero;
        total += slow[f] + priv_sa_seconds(u, &ops, f, 1, p->sa_t, p->dim, n_masked, lag);
    }
    st->sa_time_s = total;
}

/* Price a Paillier round (docs/privacy.md, "Homomorphic aggregation"): a client taking part for
 * the first time downloads the public key and builds its fixed-base encryptor table; every
 * arrived client encodes and encrypts its vector (unit costs of fedsim bench he, scaled to the
 * key size and to the device); the server adds the ciphertexts and the key holder decrypts the
 * sums, both on the reference machine; the key holder's key generation is charged once, to the
 * first round that ran the protocol. The clients work in parallel: the slowest one counts. */
static void price_he(priv_state *p, const dev_model *dev, priv_stats *st)
{
    const priv_sa_units *u = &priv_sa_default_units;
    const double ref = p->c->privacy.secagg_ref_flops;
    const he_pub *pk = he_key_pub(p->hk);
    const int bits = pk->bits;
    const double keyb = (double)he_pub_bytes(pk), nct = (double)p->nct, dim = (double)p->dim;
    double slow = 0;
    for (int a = 0; a < p->sr->n_completed; a++) {
        const uint32_t client = p->sr->c[p->sr->arrival[a]].client;
        dev_profile d;
        dev_profile_of(dev, client, &d);
        double cpu = vfl_he_cost(VFL_HE_ENC_PUB, bits, nct) + dim * u->quant, down = 0;
        if (!p->he_seen[client]) {
            p->he_seen[client] = 1;
            down = keyb;
            cpu += vfl_he_cost(VFL_HE_TABLE_PUB, bits, 1);
        }
        st->sa_bytes_down += down;
        const double t = cpu * ref / d.flops + net_s(&d, 0, down);
        if (t > slow) slow = t;
    }
    double srv = p->h_n > 1 ? vfl_he_cost(VFL_HE_ADD, bits, nct * (double)(p->h_n - 1)) : 0;
    if (p->h_n > 0) srv += vfl_he_cost(VFL_HE_DEC, bits, nct) + dim * u->add;
    if (p->he_keyed) {
        srv += vfl_he_cost(VFL_HE_KEYGEN, bits, 1);
        p->he_keyed = 0;
    }
    st->sa_time_s = slow + srv;
}

/* Decode a modular sum word as a signed integer times 2^-f (exact in double). */
static double decode(uint32_t w, double inv)
{
    return (double)(w >= 0x80000000u ? (int64_t)w - 0x100000000LL : (int64_t)w) * inv;
}

/* Slot i of the round's fixed-point sum: Paillier's decrypted value, or SecAgg's unmasked word
 * read as two's complement. */
static double slot(const priv_state *p, int he, size_t i, double inv)
{
    return he ? (double)p->hval[i] * inv : decode(p->qsum[i], inv);
}

/* Both protocols sum the same encoding, x = [w/w_max u | w/w_max u2 | R w/w_max | R b]
 * (encode()): back into the aggregate, and the adaptive clip's unclipped count. */
static void decode_sum(priv_state *p, int he, fl_agg *agg)
{
    const double inv = ldexp(1.0, -p->sa_f);
    const double R = p->R;
    size_t at = 0;
    for (size_t i = 0; i < p->np; i++) agg->sum[i] = p->w_max * slot(p, he, at++, inv);
    if (p->two)
        for (size_t i = 0; i < p->np; i++) agg->sum2[i] = p->w_max * slot(p, he, at++, inv);
    agg->wsum = p->w_max * slot(p, he, at++, inv) / R;
    if (p->adaptive) p->unclipped = (double)llround(slot(p, he, at, inv) / R);
}

/* Once per run: coordinates clipped by the fixed-point encoding bias the sum. Then the
 * aggregate starts from the training metrics only (the protocol's sum is added by the caller). */
static void protocol_agg_begin(priv_state *p, fl_agg *agg)
{
    if (p->sa_clipped && !p->warned) {
        log_warn("secure aggregation: round %u clipped %ld coordinates to [-%g, %g]: the sum "
                 "is biased (raise privacy.secagg_clip; warned once)",
                 p->round, p->sa_clipped, p->R, p->R);
        p->warned = 1;
    }
    agg->loss = p->metrics.loss;
    agg->samples = p->metrics.samples;
    agg->count = 0;
    agg->wsum = 0;
}

fs_err priv_round_end(priv_state *p, const dev_model *dev, fl_agg *agg, priv_stats *st)
{
    memset(st, 0, sizeof *st);
    st->epsilon = st->clip = st->clipped_frac = NAN;
    fs_err e = FS_OK;
    if (p->he_ran) {
        price_he(p, dev, st);
        protocol_agg_begin(p, agg);
        if (p->h_n > 0) {
            /* the key holder decrypts the sums only; the rest is SecAgg's decoding */
            e = priv_he_decrypt(p->hk, &p->hl, p->hsum, p->dim, p->hval);
            if (e) return e;
            decode_sum(p, 1, agg);
            agg->count = p->h_n;
        }
        p->he_ran = 0;
    } else if (p->sa_ran) {
        if (p->sa_st == SA_OK) {
            for (int i = 0; i < p->sa_n; i++) p->snap[1][i] = *sa_client_cost(p->sa, i);
            e = sa_server_close(p->sa, &p->sa_st);
        }
        /* Unmasking: every client whose masked input arrived (U3) answers (docs/privacy.md). */
        for (int a = 0; a < p->sr->n_completed && !e && p->sa_st == SA_OK; a++) {
            sa_unmask_msg *m = NULL;
            e = sa_client_unmask(p->sa, p->sr->arrival[a], &m);
            if (!e) e = sa_server_receive(p->sa, m);
        }
        if (!e && p->sa_st == SA_OK) e = sa_server_unmask(p->sa, NULL, p->qsum, &p->sa_st);
        if (e) return e;
        if (p->sa_st != SA_OK) {
            /* snap[1] is only set once masking is over; earlier aborts priced as of setup */
            if (p->sa_st <= SA_ABORT_FEW_HOLDERS)
                for (int i = 0; i < p->sa_n; i++) p->snap[1][i] = p->snap[0][i];
            snprintf(st->sa_abort, sizeof st->sa_abort, "%s: %s", sa_status_name(p->sa_st),
                     sa_round_reason(p->sa));
        }
        price(p, dev, st);
        protocol_agg_begin(p, agg);
        if (p->sa_st == SA_OK) {
            decode_sum(p, 0, agg);
            agg->count = sa_round_n_summed(p->sa);
        }
        sa_round_drop(p);
    } else if (p->secagg) {
        agg->loss = p->metrics.loss;
        agg->samples = p->metrics.samples;
    }
    st->summed = agg->count;
    if (p->mode != MODE_NONE) {
        st->clip = p->clip;
        if (p->added > 0) st->clipped_frac = p->clipped / (double)p->added;
        if (p->mode == MODE_CENTRAL && agg->count > 0) {
            /* the server adds N(0, (z C w_max)^2) to the (unmasked) sum, after unmasking */
            dp_noise_add(agg->sum, p->np, p->z_upd * p->clip * p->w_max, p->c->seed,
                         DP_ENTITY_CENTRAL, p->round);
            if (p->uniform) agg->wsum = p->expect; /* f~_f: divide by q N, not by the count */
            if (p->adaptive)
                p->clip = dp_adaptive_clip_next(p->clip, p->unclipped, p->expect, p->quantile,
                                                p->lr, p->sigma_b, p->c->seed, p->round, NULL);
        }
        /* central: every round is one step of the sampled Gaussian mechanism (conservatively,
         * also rounds that released nothing); local: the most rounds any client took part in */
        if (p->mode == MODE_CENTRAL)
            e = dp_accountant_step(&p->acc, 1);
        else if ((long)p->max_part > p->acc.steps)
            e = dp_accountant_step(&p->acc, (long)p->max_part - p->acc.steps);
        if (e) return e;
        st->epsilon = dp_accountant_epsilon(&p->acc, NULL);
    }
    return FS_OK;
}
