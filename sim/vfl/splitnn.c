/* Split neural network (see splitnn.h). Bottom and top models are fedsim's own layers
 * (nn/model.h) with single-threaded BLAS; the interactive layer is here, in float parameters
 * with double sums; its encrypted form uses crypto/paillier.h over OpenMP threads (element-wise
 * work: results independent of the thread count). */
#include "vfl/splitnn.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/model.h"
#include "nn/loss.h"
#include "util/rng.h"

static int is_data(const vfl_data *v, int p)
{
    return v->p[p].role != VFL_COORD;
}

static int encrypted_party(const vfl_snn *s, int p)
{
    return s->encrypt && is_data(s->v, p) && p != s->v->active;
}

static void init_uniform(float *w, size_t n, double bound, uint64_t seed, uint64_t entity)
{
    rng_t r;
    rng_init(&r, seed, RNG_VFL_DATA, entity, 0);
    for (size_t i = 0; i < n; i++) w[i] = (float)(bound * (2.0 * rng_uniform(&r) - 1.0));
}

void vfl_snn_free(vfl_snn *s)
{
    for (int p = 0; p < VCLK_MAX_PARTIES; p++) {
        nn_worker_free(&s->bw[p]);
        free(s->bp[p]);
        free(s->W[p]);
        free(s->eps[p]);
        free(s->gW[p]);
        free(s->A[p]);
        he_enc_free(s->enc_own[p]);
        he_enc_free(s->enc_pub[p]);
        he_key_free(s->key[p]);
        cr_wipe(&s->rnd[p]);
    }
    nn_worker_free(&s->tw);
    free(s->tp);
    free(s->bias);
    free(s->gbias);
    free(s->da);
    free(s->z);
    free(s->dz);
    free(s->zd);
    memset(s, 0, sizeof *s);
}

fs_err vfl_snn_init(vfl_snn *s, const vfl_data *v, const cfg *c, he_key **keys, vclk *k)
{
    memset(s, 0, sizeof *s);
    s->v = v;
    s->K = v->n_classes;
    s->emb = c->vertical.embedding_dim;
    s->has_top = c->vertical.top_hidden.n > 0;
    s->h = s->has_top ? c->vertical.top_hidden.v[0] : s->K;
    s->max_batch = c->train.batch_size > 256 ? c->train.batch_size : 256;
    s->lr = c->train.lr;
    s->l2 = c->train.weight_decay;
    s->noise = c->vertical.embedding_noise;
    s->seed = c->seed;
    s->encrypt = strcmp(c->vertical.encryption, "paillier") == 0;
    s->f = c->vertical.frac_bits;
    s->keyed = strcmp(c->vertical.randomness, "keyed") == 0;
    fs_err e = FS_OK;
    for (int p = 0; p < v->n; p++) { /* take the keys first: s frees them on any failure */
        s->key[p] = keys ? keys[p] : NULL;
        if (keys) keys[p] = NULL;
    }
    int n_data = 0;
    for (int p = 0; p < v->n; p++) n_data += is_data(v, p);
    const size_t EH = (size_t)s->emb * (size_t)s->h, MB = (size_t)s->max_batch;
    const double bound = 1.0 / sqrt((double)s->emb * n_data);
    for (int p = 0; p < v->n && !e; p++) {
        if (!is_data(v, p)) continue;
        e = cfg_build_model(&s->bottom[p], c, v->p[p].in, s->emb);
        if (e) {
            char msg[512];
            snprintf(msg, sizeof msg, "%s", fs_errmsg());
            return fs_error(e, "splitnn: the bottom model of party '%s' (input %d x %d x %d): %s",
                            v->p[p].name, v->p[p].in[0], v->p[p].in[1], v->p[p].in[2], msg);
        }
        if (s->bottom[p].seq_len)
            return fs_error(FS_EINPUT, "splitnn: bottom models cannot be sequence models");
        s->bp[p] = FS_ALIGNED(s->bottom[p].n_params, sizeof(float));
        s->W[p] = FS_ALIGNED(EH, sizeof(float));
        s->gW[p] = FS_ALIGNED(EH, sizeof(float));
        s->A[p] = FS_ALIGNED(MB * (size_t)s->emb, sizeof(float));
        if (!s->bp[p] || !s->W[p] || !s->gW[p] || !s->A[p]) return FS_ENOMEM;
        rng_t r;
        rng_init(&r, s->seed, RNG_VFL_DATA, 2000 + (uint64_t)p, 0);
        nn_model_init_params(&s->bottom[p], s->bp[p], &r);
        if ((e = nn_worker_init(&s->bw[p], &s->bottom[p], s->max_batch))) return e;
        init_uniform(s->W[p], EH, bound, s->seed, 3000 + (uint64_t)p);
        e = s->keyed ? cr_init_keyed(&s->rnd[p], s->seed, (uint64_t)p, 3)
                     : cr_init_system(&s->rnd[p]);
    }
    if (e) return e;
    s->bias = FS_ALIGNED((size_t)s->h, sizeof(float));
    s->gbias = FS_ALIGNED((size_t)s->h, sizeof(float));
    s->da = FS_ALIGNED(MB * (size_t)s->emb, sizeof(float));
    s->z = FS_ALIGNED(MB * (size_t)s->h, sizeof(float));
    s->dz = FS_ALIGNED(MB * (size_t)s->h, sizeof(float));
    s->zd = FS_ALIGNED(MB * (size_t)(s->h > s->K ? s->h : s->K), sizeof(double));
    if (!s->bias || !s->gbias || !s->da || !s->z || !s->dz || !s->zd) return FS_ENOMEM;
    init_uniform(s->bias, (size_t)s->h, bound, s->seed, 3999);
    if (s->has_top) {
        nn_layer_spec specs[2 * CFG_LIST_MAX + 2];
        int n = 0;
        const cfg_int_list *th = &c->vertical.top_hidden;
        memset(specs, 0, sizeof specs);
        specs[n++].kind = NN_RELU;
        for (int i = 1; i < th->n; i++) {
            specs[n].kind = NN_DENSE;
            specs[n++].units = th->v[i];
            specs[n++].kind = NN_RELU;
        }
        specs[n].kind = NN_DENSE;
        specs[n++].units = s->K;
        const int in[3] = {s->h, 1, 1};
        if ((e = nn_model_build(&s->top, "top", specs, n, in, s->K))) return e;
        s->tp = FS_ALIGNED(s->top.n_params, sizeof(float));
        if (!s->tp) return FS_ENOMEM;
        rng_t r;
        rng_init(&r, s->seed, RNG_VFL_DATA, 4000, 0);
        nn_model_init_params(&s->top, s->tp, &r);
        if ((e = nn_worker_init(&s->tw, &s->top, s->max_batch))) return e;
    }
    if (!s->encrypt) return FS_OK;
    /* each passive party: its key, its encryptor, the active party's public encryptor; W_p in
     * two shares (eps drawn by p, W' = W - eps at the active party) */
    const int A = v->active;
    for (int p = 0; p < v->n && !e; p++) {
        if (!encrypted_party(s, p)) continue;
        if (!s->key[p])
            return fs_error(FS_EINTERNAL, "splitnn: no key for passive party '%s'", v->p[p].name);
        const he_pub *pk = he_key_pub(s->key[p]);
        if ((e = he_enc_new_key(s->key[p], &s->enc_own[p])) || (e = he_enc_new(pk, &s->enc_pub[p])))
            return e;
        s->eps[p] = FS_ALIGNED(EH, sizeof(float));
        if (!s->eps[p]) return FS_ENOMEM;
        init_uniform(s->eps[p], EH, bound, s->seed, 5000 + (uint64_t)p);
        for (size_t i = 0; i < EH; i++) s->W[p][i] -= s->eps[p][i];
        if (k) {
            vclk_crypto(k, p,
                        vfl_he_cost(VFL_HE_KEYGEN, pk->bits, 1) +
                            vfl_he_cost(VFL_HE_TABLE_KEY, pk->bits, 1));
            vclk_send(k, p, A, (double)he_pub_bytes(pk));
            vclk_crypto(k, A, vfl_he_cost(VFL_HE_TABLE_PUB, pk->bits, 1));
        }
    }
    return e;
}

fs_err vfl_snn_init_cfg(vfl_snn *s, const vfl_data *v, const cfg *c, vclk *k)
{
    he_key *keys[VCLK_MAX_PARTIES] = {0};
    fs_err e = FS_OK;
    if (strcmp(c->vertical.encryption, "paillier") == 0)
        for (int p = 0; p < v->n && !e; p++) {
            if (!is_data(v, p) || p == v->active) continue;
            cr_src r;
            if (!(e = vfl_crand(c, p, 2, &r))) e = he_keygen(c->vertical.key_bits, &r, &keys[p]);
            cr_wipe(&r);
        }
    if (e) {
        for (int p = 0; p < v->n; p++) he_key_free(keys[p]);
        memset(s, 0, sizeof *s);
        return e;
    }
    return vfl_snn_init(s, v, c, keys, k);
}

/* ---- forward pieces -------------------------------------------------------------------------- */

/* Bottom models on B rows (rows[i], or base + i when rows is NULL) of the split; A[p] gets
 * each output, with the passive parties' noise when training. */
static void bottoms(vfl_snn *s, const uint32_t *rows, size_t base, int B, int test, int train,
                    uint64_t step, vclk *k)
{
    const vfl_data *v = s->v;
    for (int p = 0; p < v->n; p++) {
        if (!is_data(v, p)) continue;
        const int F = v->p[p].n_feat;
        const float *x = test ? v->p[p].xte : v->p[p].xtr;
        float *in = nn_input(&s->bw[p]);
        for (int i = 0; i < B; i++)
            memcpy(in + (size_t)i * F, x + (size_t)(rows ? rows[i] : base + (size_t)i) * F,
                   (size_t)F * sizeof *in);
        nn_worker_seed(&s->bw[p], s->seed, (uint64_t)p, step);
        const float *a =
            train ? nn_forward(&s->bw[p], s->bp[p], B) : nn_infer(&s->bw[p], s->bp[p], B);
        memcpy(s->A[p], a, (size_t)B * s->emb * sizeof *a);
        if (train && s->noise > 0 && p != v->active) {
            rng_t r;
            rng_init(&r, s->seed, RNG_VFL_DATA, 6000 + (uint64_t)p, step);
            for (size_t i = 0; i < (size_t)B * s->emb; i++)
                s->A[p][i] += (float)(s->noise * rng_normal(&r));
        }
        if (k) vclk_compute(k, p, (double)B * s->bottom[p].flops_fwd);
    }
}

/* zd (B, h) += A_p W (A_p (B, emb), W (emb, h)). */
static void add_product(double *zd, const float *Ap, const float *W, int B, int emb, int h)
{
    for (int i = 0; i < B; i++)
        for (int kk = 0; kk < emb; kk++) {
            const double a = Ap[(size_t)i * emb + kk];
            if (a == 0) continue;
            const float *w = W + (size_t)kk * h;
            double *z = zd + (size_t)i * h;
            for (int j = 0; j < h; j++) z[j] += a * w[j];
        }
}

/* Bits of the largest |round(x 2^f)| among n values. */
static int scalar_bits(const int64_t *a, size_t n)
{
    uint64_t mx = 1;
    for (size_t i = 0; i < n; i++) {
        const uint64_t m = a[i] < 0 ? (uint64_t)0 - (uint64_t)a[i] : (uint64_t)a[i];
        mx = m > mx ? m : mx;
    }
    int b = 0;
    for (; mx; mx >>= 1) b++;
    return b;
}

static void draw_mask(cr_src *r, int bits, mpz_t out)
{
    uint8_t buf[HE_MAX_BITS / 8];
    const size_t n = (size_t)(bits + 7) / 8;
    cr_bytes(r, buf, n);
    if (bits % 8) buf[0] &= (uint8_t)((1u << (bits % 8)) - 1);
    mpz_import(out, n, 1, 1, 0, 0, buf);
}

/* n ciphertexts c[i] * 2^(...)-masked by masks, rerandomised with enc: c[i] += masks[i], then
 * times a fresh encryption of 0 (drawn serially, multiplied in parallel). */
static fs_err mask_rerand(const he_enc *enc, cr_src *rnd, he_ct *c, mpz_t *masks, size_t n)
{
    const he_pub *pk = he_enc_pub(enc);
    int64_t *zero = calloc(n ? n : 1, sizeof *zero);
    he_ct *t = he_ct_array_new(n ? n : 1);
    fs_err e = zero && t ? FS_OK : fs_error(FS_ENOMEM, "out of memory");
    if (!e) e = he_encrypt_i64_batch(enc, rnd, zero, n, t);
    int ej = FS_OK;
    if (!e) {
#pragma omp parallel for schedule(static) reduction(max : ej)
        for (size_t i = 0; i < n; i++) {
            const int r = (int)he_add_plain(pk, &c[i], masks[i], &c[i]);
            if (r > ej) ej = r;
            he_add(pk, &c[i], &t[i], &c[i]);
        }
        if (ej) e = fs_error((fs_err)ej, "splitnn: masking failed");
    }
    free(zero);
    he_ct_array_free(t, n ? n : 1);
    return e;
}

static mpz_t *mpz_array(size_t n)
{
    mpz_t *a = malloc((n ? n : 1) * sizeof *a);
    if (a)
        for (size_t i = 0; i < n; i++) mpz_init(a[i]);
    return a;
}

static void mpz_array_free(mpz_t *a, size_t n)
{
    if (!a) return;
    for (size_t i = 0; i < n; i++) mpz_clear(a[i]);
    free(a);
}

/* Decrypt n ciphertexts (in parallel) into out. */
static fs_err decrypt_all(const he_key *key, const he_ct *c, mpz_t *out, size_t n)
{
    int ej = FS_OK;
#pragma omp parallel for schedule(dynamic, 8) reduction(max : ej)
    for (size_t i = 0; i < n; i++) {
        const int r = (int)he_decrypt(key, &c[i], out[i]);
        if (r > ej) ej = r;
    }
    return ej ? fs_error((fs_err)ej, "splitnn: decryption failed") : FS_OK;
}

/* The encrypted interactive layer of passive party p, forward and backward in one exchange
 * per direction (splitnn.h). Forward adds z_p = A_p W_p into zd; backward (dz given) sets gW[p]
 * to the noisy gradient the active party applies, steps eps[p] and writes dL/dA_p into da. */
typedef struct enc_state {
    he_ct *cA; /* (B, emb) [[A_p]] */
    size_t nA;
} enc_state;

static fs_err enc_forward(vfl_snn *s, int p, int B, double *zd, enc_state *st, vclk *k)
{
    const vfl_data *v = s->v;
    const int A = v->active, emb = s->emb, h = s->h, f = s->f;
    const he_pub *pk = he_key_pub(s->key[p]);
    const int bits = pk->bits, mbits = bits / 2;
    const size_t nE = (size_t)B * emb, nZ = (size_t)B * h, EH = (size_t)emb * h;
    const double ctb = (double)he_ct_bytes(pk), mb = (double)((mbits + 8) / 8 + 1);
    double *ad = malloc(nE * sizeof *ad);
    int64_t *kw = malloc(EH * sizeof *kw);
    he_ct *cz = he_ct_array_new(nZ);
    mpz_t *mask = mpz_array(nZ), *plain = mpz_array(nZ);
    st->cA = he_ct_array_new(nE);
    st->nA = nE;
    fs_err e =
        ad && kw && cz && mask && plain && st->cA ? FS_OK : fs_error(FS_ENOMEM, "out of memory");
    double amax = 0, wmax = 0;
    for (size_t i = 0; ad && i < nE; i++) {
        ad[i] = s->A[p][i];
        amax = fmax(amax, fabs(ad[i]));
    }
    for (size_t i = 0; i < EH; i++) wmax = fmax(wmax, fabs((double)s->W[p][i]));
    if (!e &&
        (ldexp(wmax, f) >= 0x1p62 || log2((amax + 1) * (wmax + 1) * emb) + 2.0 * f + 4 > mbits - 2))
        e = fs_error(FS_EINPUT,
                     "splitnn: the interactive layer of party '%s' is too large for "
                     "%d-bit fixed point in %d-bit plaintexts (lower "
                     "vertical.frac_bits)",
                     v->p[p].name, f, bits);
    /* p -> A: [[A_p]] */
    if (!e) e = he_encrypt_f64_batch(s->enc_own[p], &s->rnd[p], ad, nE, f, st->cA);
    /* A: [[A_p W' + r]], rerandomised -> p; W' transposed to (h, emb) scalars */
    for (int j = 0; j < h && !e; j++)
        for (int kk = 0; kk < emb; kk++)
            kw[(size_t)j * emb + kk] = llround(ldexp(s->W[p][(size_t)kk * h + j], f));
    int ej = FS_OK;
    if (!e) {
#pragma omp parallel for schedule(dynamic, 16) reduction(max : ej)
        for (size_t q = 0; q < nZ; q++) {
            const size_t i = q / (size_t)h, j = q % (size_t)h;
            const int r = (int)he_dot_i64(pk, st->cA + i * emb, kw + j * emb, (size_t)emb, &cz[q]);
            if (r > ej) ej = r;
        }
        if (ej) e = fs_error((fs_err)ej, "splitnn: encrypted forward of party '%s'", v->p[p].name);
    }
    for (size_t q = 0; q < nZ && !e; q++) draw_mask(&s->rnd[A], mbits, mask[q]);
    if (!e) e = mask_rerand(s->enc_pub[p], &s->rnd[A], cz, mask, nZ);
    /* p decrypts, adds round(A_p eps 2^2f) -> A; A removes r: z_p = A_p W_p */
    if (!e) e = decrypt_all(s->key[p], cz, plain, nZ);
    mpz_t t;
    mpz_init(t);
    for (size_t q = 0; q < nZ && !e; q++) {
        const size_t i = q / (size_t)h, j = q % (size_t)h;
        double ae = 0;
        for (int kk = 0; kk < emb; kk++)
            ae += ad[i * emb + (size_t)kk] * (double)s->eps[p][(size_t)kk * h + j];
        if ((e = he_encode_f64(pk, ae, 2 * f, t))) break;
        mpz_add(t, t, plain[q]);
        mpz_sub(t, t, mask[q]);
        double zq;
        if ((e = he_decode_f64(pk, t, 2 * f, &zq))) break;
        zd[q] += zq;
    }
    mpz_clear(t);
    if (k) {
        vclk_crypto(k, p, vfl_he_cost(VFL_HE_ENC_KEY, bits, (double)nE));
        vclk_send(k, p, A, (double)nE * ctb);
        vclk_crypto(k, A,
                    vfl_he_cost(VFL_HE_DOT_TERM_BIT, bits, (double)nZ * emb * scalar_bits(kw, EH)) +
                        vfl_he_cost(VFL_HE_ADD_PLAIN, bits, (double)nZ) +
                        vfl_he_cost(VFL_HE_RERAND, bits, (double)nZ));
        vclk_send(k, A, p, (double)nZ * ctb);
        vclk_crypto(k, p, vfl_he_cost(VFL_HE_DEC, bits, (double)nZ));
        vclk_compute(k, p, 2.0 * (double)nZ * emb);
        vclk_send(k, p, A, (double)nZ * mb);
    }
    free(ad);
    free(kw);
    he_ct_array_free(cz, nZ);
    mpz_array_free(mask, nZ);
    mpz_array_free(plain, nZ);
    return e;
}

static fs_err enc_backward(vfl_snn *s, int p, int B, const float *dz, enc_state *st, uint64_t step,
                           vclk *k)
{
    const vfl_data *v = s->v;
    const int A = v->active, emb = s->emb, h = s->h, f = s->f;
    const he_pub *pk = he_key_pub(s->key[p]);
    const int bits = pk->bits, mbits = bits / 2;
    const size_t EH = (size_t)emb * h, nB = (size_t)B;
    const double ctb = (double)he_ct_bytes(pk), mb = (double)((mbits + 8) / 8 + 1);
    int64_t *kd = malloc((size_t)h * nB * sizeof *kd);
    he_ct *cAT = he_ct_array_new((size_t)emb * nB), *cg = he_ct_array_new(EH);
    mpz_t *mask = mpz_array(EH), *plain = mpz_array(EH);
    fs_err e = kd && cAT && cg && mask && plain ? FS_OK : fs_error(FS_ENOMEM, "out of memory");
    double dmax = 0;
    for (size_t i = 0; i < (size_t)B * h; i++) dmax = fmax(dmax, fabs((double)dz[i]));
    if (!e && ldexp(dmax, f) >= 0x1p62)
        e = fs_error(FS_EINPUT, "splitnn: gradients too large for %d-bit fixed point", f);
    /* A: [[A_p^T dz + r']], rerandomised -> p */
    for (int j = 0; j < h && !e; j++)
        for (int i = 0; i < B; i++)
            kd[(size_t)j * nB + i] = llround(ldexp(dz[(size_t)i * h + j], f));
    for (int kk = 0; kk < emb && !e; kk++)
        for (int i = 0; i < B; i++)
            mpz_set(cAT[(size_t)kk * nB + i].v, st->cA[(size_t)i * emb + kk].v);
    int ej = FS_OK;
    if (!e) {
#pragma omp parallel for schedule(dynamic, 16) reduction(max : ej)
        for (size_t q = 0; q < EH; q++) {
            const size_t kk = q / (size_t)h, j = q % (size_t)h;
            const int r = (int)he_dot_i64(pk, cAT + kk * nB, kd + j * nB, nB, &cg[q]);
            if (r > ej) ej = r;
        }
        if (ej) e = fs_error((fs_err)ej, "splitnn: encrypted backward of party '%s'", v->p[p].name);
    }
    for (size_t q = 0; q < EH && !e; q++) draw_mask(&s->rnd[A], mbits, mask[q]);
    if (!e) e = mask_rerand(s->enc_pub[p], &s->rnd[A], cg, mask, EH);
    /* dL/dA_p = dz W'^T (A, sent with dz) + dz eps^T (p), with the
     * shares before this step's update */
    for (int i = 0; i < B && !e; i++)
        for (int kk = 0; kk < emb; kk++) {
            double a = 0;
            const float *w = s->W[p] + (size_t)kk * h, *ep = s->eps[p] + (size_t)kk * h;
            const float *d = dz + (size_t)i * h;
            for (int j = 0; j < h; j++) a += (double)d[j] * ((double)w[j] + (double)ep[j]);
            s->da[(size_t)i * emb + kk] = (float)a;
        }
    /* p decrypts, adds its noise rho -> A; A removes r': gW = A_p^T dz + rho; p: eps += lr rho
     * (the weight decay of each share by its holder) */
    if (!e) e = decrypt_all(s->key[p], cg, plain, EH);
    rng_t r;
    rng_init(&r, s->seed, RNG_VFL_DATA, 7000 + (uint64_t)p, step);
    mpz_t t;
    mpz_init(t);
    for (size_t q = 0; q < EH && !e; q++) {
        const double rho = rng_normal(&r);
        if ((e = he_encode_f64(pk, rho, 2 * f, t))) break;
        mpz_add(t, t, plain[q]);
        mpz_sub(t, t, mask[q]);
        double g;
        if ((e = he_decode_f64(pk, t, 2 * f, &g))) break;
        s->gW[p][q] = (float)g;
        s->eps[p][q] += (float)(s->lr * rho - s->lr * s->l2 * s->eps[p][q]);
    }
    mpz_clear(t);
    if (k) {
        vclk_crypto(k, A,
                    vfl_he_cost(VFL_HE_DOT_TERM_BIT, bits,
                                (double)EH * (double)B * scalar_bits(kd, (size_t)h * nB)) +
                        vfl_he_cost(VFL_HE_ADD_PLAIN, bits, (double)EH) +
                        vfl_he_cost(VFL_HE_RERAND, bits, (double)EH));
        vclk_send(k, A, p, (double)EH * ctb);
        vclk_crypto(k, p, vfl_he_cost(VFL_HE_DEC, bits, (double)EH));
        vclk_send(k, p, A, (double)EH * mb);
        vclk_compute(k, A, 2.0 * B * emb * h);
        vclk_send(k, A, p, 4.0 * B * ((double)emb + h));
        vclk_compute(k, p, 2.0 * B * emb * h);
    }
    free(kd);
    he_ct_array_free(cAT, (size_t)emb * nB);
    he_ct_array_free(cg, EH);
    mpz_array_free(mask, EH);
    mpz_array_free(plain, EH);
    return e;
}

/* Softmax cross-entropy of the logits against rows' labels: the mean loss; with dl, its
 * gradient (of the mean) there. */
static double xent(const vfl_snn *s, const float *logits, const uint32_t *rows, int B, float *dl)
{
    int32_t y[1024];
    double total = 0;
    for (int a = 0; a < B; a += 1024) {
        const int n = B - a < 1024 ? B - a : 1024;
        for (int i = 0; i < n; i++) y[i] = s->v->ytr[rows[a + i]];
        float *d = dl ? dl + (size_t)a * s->K : NULL;
        total += n * nn_loss_softmax_xent(d, logits + (size_t)a * s->K, y, n, s->K);
        if (d)
            for (size_t i = 0; i < (size_t)n * s->K; i++) d[i] *= (float)n / (float)B;
    }
    return total / B;
}

/* Forward and backward of one batch; gradients left in the buffers. enc: the encrypted path
 * (its backward also moves eps and sets the noisy gW). */
static fs_err forward_backward(vfl_snn *s, const uint32_t *rows, int B, uint64_t step, int grad,
                               vclk *k, double *loss)
{
    const vfl_data *v = s->v;
    const int A = v->active, emb = s->emb, h = s->h;
    const size_t nZ = (size_t)B * h;
    fs_err e = FS_OK;
    enc_state st[VCLK_MAX_PARTIES];
    memset(st, 0, sizeof st);
    bottoms(s, rows, 0, B, 0, 1, step, k);
    /* the interactive layer */
    double *zd = s->zd;
    for (int i = 0; i < B; i++)
        for (int j = 0; j < h; j++) zd[(size_t)i * h + j] = s->bias[j];
    for (int p = 0; p < v->n && !e; p++) {
        if (!is_data(v, p)) continue;
        if (encrypted_party(s, p)) {
            e = enc_forward(s, p, B, zd, &st[p], k);
            continue;
        }
        add_product(zd, s->A[p], s->W[p], B, emb, h);
        if (k && p != A) vclk_send(k, p, A, 4.0 * B * emb);
        if (k) vclk_compute(k, A, 2.0 * B * emb * h);
    }
    for (size_t q = 0; q < nZ; q++) s->z[q] = (float)zd[q];
    /* the top model and the loss */
    float *dz = s->dz;
    if (!e && s->has_top) {
        memcpy(nn_input(&s->tw), s->z, nZ * sizeof *s->z);
        nn_worker_seed(&s->tw, s->seed, 1000, step);
        const float *logits = nn_forward(&s->tw, s->tp, B);
        *loss = xent(s, logits, rows, B, grad ? nn_output_grad(&s->tw, B) : NULL);
        if (grad) {
            memset(s->tw.grad, 0, s->top.n_params * sizeof *s->tw.grad);
            nn_backward(&s->tw, s->tp, B, dz);
        }
        if (k) {
            const nn_layer *first = &s->top.layers[s->top.bwd_stop];
            vclk_compute(k, A, B * (s->top.flops_train + first->flops));
        }
    } else if (!e) {
        *loss = xent(s, s->z, rows, B, grad ? dz : NULL);
    }
    if (!e && grad) {
        for (int j = 0; j < h; j++) {
            double g = 0;
            for (int i = 0; i < B; i++) g += dz[(size_t)i * h + j];
            s->gbias[j] = (float)g;
        }
        for (int p = 0; p < v->n && !e; p++) {
            if (!is_data(v, p)) continue;
            if (encrypted_party(s, p)) {
                e = enc_backward(s, p, B, dz, &st[p], step, k);
            } else {
                for (int kk = 0; kk < emb; kk++)
                    for (int j = 0; j < h; j++) {
                        double g = 0;
                        for (int i = 0; i < B; i++)
                            g += (double)s->A[p][(size_t)i * emb + kk] * dz[(size_t)i * h + j];
                        s->gW[p][(size_t)kk * h + j] = (float)g;
                    }
                for (int i = 0; i < B; i++)
                    for (int kk = 0; kk < emb; kk++) {
                        double a = 0;
                        const float *w = s->W[p] + (size_t)kk * h, *d = dz + (size_t)i * h;
                        for (int j = 0; j < h; j++) a += (double)d[j] * w[j];
                        s->da[(size_t)i * emb + kk] = (float)a;
                    }
                if (k) {
                    vclk_compute(k, A, 4.0 * B * emb * h);
                    if (p != A) vclk_send(k, A, p, 4.0 * B * emb);
                }
            }
            if (e) break;
            /* the party's bottom backward from dL/dA_p */
            memcpy(nn_output_grad(&s->bw[p], B), s->da, (size_t)B * emb * sizeof *s->da);
            memset(s->bw[p].grad, 0, s->bottom[p].n_params * sizeof *s->bw[p].grad);
            nn_backward(&s->bw[p], s->bp[p], B, NULL);
            if (k) vclk_compute(k, p, B * (s->bottom[p].flops_train - s->bottom[p].flops_fwd));
        }
    }
    for (int p = 0; p < v->n; p++) he_ct_array_free(st[p].cA, st[p].nA);
    return e;
}

static void sgd(float *w, const float *g, size_t n, double lr, double l2)
{
    for (size_t i = 0; i < n; i++) w[i] -= (float)(lr * ((double)g[i] + l2 * (double)w[i]));
}

fs_err vfl_snn_step(vfl_snn *s, const uint32_t *rows, int B, vclk *k, uint64_t step)
{
    double loss = NAN;
    fs_err e = forward_backward(s, rows, B, step, 1, k, &loss);
    if (e) return e;
    if (!isfinite(loss))
        return fs_error(FS_EINPUT, "splitnn: the loss diverged at step %llu (lower train.lr)",
                        (unsigned long long)step);
    s->loss_sum += loss;
    s->loss_n++;
    const vfl_data *v = s->v;
    const size_t EH = (size_t)s->emb * s->h;
    for (int p = 0; p < v->n; p++) {
        if (!is_data(v, p)) continue;
        sgd(s->bp[p], s->bw[p].grad, s->bottom[p].n_params, s->lr, s->l2);
        sgd(s->W[p], s->gW[p], EH, s->lr, s->l2);
        if (k) {
            vclk_compute(k, p, 3.0 * s->bottom[p].n_params);
            vclk_compute(k, v->active, 3.0 * EH);
        }
    }
    sgd(s->bias, s->gbias, (size_t)s->h, s->lr, 0);
    if (s->has_top) sgd(s->tp, s->tw.grad, s->top.n_params, s->lr, s->l2);
    if (k) vclk_compute(k, v->active, 3.0 * (s->h + (s->has_top ? s->top.n_params : 0)));
    return FS_OK;
}

double vfl_snn_take_loss(vfl_snn *s)
{
    const double l = s->loss_n ? s->loss_sum / s->loss_n : NAN;
    s->loss_sum = 0;
    s->loss_n = 0;
    return l;
}

void vfl_snn_weights(const vfl_snn *s, int p, float *out)
{
    const size_t EH = (size_t)s->emb * s->h;
    for (size_t i = 0; i < EH; i++) out[i] = s->W[p][i] + (s->eps[p] ? s->eps[p][i] : 0.0f);
}

fs_err vfl_snn_predict(vfl_snn *s, int test, float *prob)
{
    const vfl_data *v = s->v;
    const size_t n = test ? v->n_test : v->n_train, EH = (size_t)s->emb * s->h;
    const int h = s->h, K = s->K;
    float *w = malloc(EH * sizeof *w);
    if (!w) return fs_error(FS_ENOMEM, "out of memory");
    for (size_t a = 0; a < n; a += (size_t)s->max_batch) {
        const int B = (int)(n - a < (size_t)s->max_batch ? n - a : (size_t)s->max_batch);
        bottoms(s, NULL, a, B, test, 0, 0, NULL);
        double *zd = s->zd;
        for (int i = 0; i < B; i++)
            for (int j = 0; j < h; j++) zd[(size_t)i * h + j] = s->bias[j];
        for (int p = 0; p < v->n; p++) {
            if (!is_data(v, p)) continue;
            vfl_snn_weights(s, p, w);
            add_product(zd, s->A[p], w, B, s->emb, h);
        }
        for (size_t q = 0; q < (size_t)B * h; q++) s->z[q] = (float)zd[q];
        const float *logits = s->z;
        if (s->has_top) {
            memcpy(nn_input(&s->tw), s->z, (size_t)B * h * sizeof *s->z);
            logits = nn_infer(&s->tw, s->tp, B);
        }
        for (int i = 0; i < B; i++) {
            const float *l = logits + (size_t)i * K;
            float mx = l[0];
            for (int c = 1; c < K; c++) mx = l[c] > mx ? l[c] : mx;
            double sum = 0;
            for (int c = 0; c < K; c++) sum += exp((double)l[c] - mx);
            for (int c = 0; c < K; c++)
                prob[(a + (size_t)i) * K + (size_t)c] = (float)(exp((double)l[c] - mx) / sum);
        }
    }
    free(w);
    return FS_OK;
}

size_t vfl_snn_params(const vfl_snn *s)
{
    size_t n = (size_t)s->h + (s->has_top ? s->top.n_params : 0);
    for (int p = 0; p < s->v->n; p++)
        if (is_data(s->v, p)) n += s->bottom[p].n_params + (size_t)s->emb * s->h;
    return n;
}

void vfl_snn_describe(const vfl_snn *s, char *buf, size_t cap)
{
    int data = 0;
    for (int p = 0; p < s->v->n; p++) data += is_data(s->v, p);
    snprintf(buf, cap,
             "splitnn: %d bottom models (%s, %d outputs), interactive %d, top %s; %zu "
             "parameters%s%s",
             data, s->bottom[s->v->active].name, s->emb, s->h, s->has_top ? s->top.name : "none",
             vfl_snn_params(s), s->encrypt ? ", Paillier" : "",
             s->noise > 0 ? ", noisy embeddings" : "");
}

double vfl_snn_loss_grad(vfl_snn *s, const uint32_t *rows, int B, int grad)
{
    double loss = NAN;
    if (forward_backward(s, rows, B, 0, grad, NULL, &loss)) return NAN;
    return loss;
}
