/* Hetero logistic regression (see hetero_lr.h). The parties' arithmetic is computed for real:
 * in double in the clear, or on Paillier ciphertexts (crypto/paillier.h) with exact fixed-point
 * integers; the clock records who computed, encrypted and sent what. Batch crypto runs over
 * OpenMP threads (element-wise work, results independent of the thread count). */
#include "vfl/hetero_lr.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define LOG2 0.69314718055994530942

static int is_data(const vfl_data *v, int p)
{
    return v->p[p].role != VFL_COORD;
}

fs_err vfl_lr_init(vfl_lr *m, const vfl_data *v, const vfl_lr_opts *o, const he_key *key, vclk *k)
{
    memset(m, 0, sizeof *m);
    m->v = v;
    m->o = *o;
    m->key = key;
    for (int p = 0; p < v->n; p++) {
        if (!is_data(v, p)) continue;
        m->dim[p] = v->p[p].n_feat + (p == v->active && o->intercept);
        m->theta[p] = calloc((size_t)m->dim[p] + 1, sizeof **m->theta);
        if (!m->theta[p]) return fs_error(FS_ENOMEM, "out of memory");
        m->n_hosts += p != v->active;
    }
    fs_err e = FS_OK;
    for (int p = 0; p < v->n && !e; p++)
        e = o->keyed ? cr_init_keyed(&m->rnd[p], o->seed, (uint64_t)p, 3)
                     : cr_init_system(&m->rnd[p]);
    if (e) return e;
    if (!key) return FS_OK;
    if (v->coord < 0) return fs_error(FS_EINTERNAL, "encrypted hetero LR without a coordinator");
    const he_pub *pk = he_key_pub(key);
    m->bits = pk->bits;
    if ((e = he_enc_new(pk, &m->enc))) return e;
    if (k) { /* C makes the key, sends its public part; G and every H build an encryptor */
        vclk_crypto(k, v->coord, vfl_he_cost(VFL_HE_KEYGEN, m->bits, 1));
        for (int p = 0; p < v->n; p++) {
            if (!is_data(v, p)) continue;
            vclk_send(k, v->coord, p, (double)he_pub_bytes(pk));
            vclk_crypto(k, p, vfl_he_cost(VFL_HE_TABLE_PUB, m->bits, 1));
        }
    }
    return FS_OK;
}

void vfl_lr_free(vfl_lr *m)
{
    for (int p = 0; p < VCLK_MAX_PARTIES; p++) {
        free(m->theta[p]);
        cr_wipe(&m->rnd[p]);
    }
    he_enc_free(m->enc);
    memset(m, 0, sizeof *m);
}

/* u_p (B) = X_p theta_p over the batch (the intercept for the active party). */
static void partial(const vfl_lr *m, int p, const float *x, const uint32_t *rows, int B, double *u)
{
    const int F = m->v->p[p].n_feat;
    const double *th = m->theta[p];
    const int icpt = m->dim[p] > F;
    for (int i = 0; i < B; i++) {
        const float *xi = x + (size_t)(rows ? rows[i] : (uint32_t)i) * (size_t)F;
        double s = icpt ? th[F] : 0.0;
        for (int j = 0; j < F; j++) s += (double)xi[j] * th[j];
        u[i] = s;
    }
}

static double label_t(const vfl_data *v, uint32_t row)
{
    return v->ytr[row] ? 1.0 : -1.0;
}

/* theta_p -= lr (grad + l2 theta), no l2 on the intercept. */
static void update(vfl_lr *m, int p, const double *grad)
{
    const int F = m->v->p[p].n_feat;
    for (int j = 0; j < m->dim[p]; j++) {
        const double g = grad[j] + (j < F ? m->o.l2 * m->theta[p][j] : 0.0);
        m->theta[p][j] -= m->o.lr * g;
    }
}

static fs_err step_plain(vfl_lr *m, const uint32_t *rows, int B, vclk *k)
{
    const vfl_data *v = m->v;
    const int G = v->active;
    double *u = calloc((size_t)B, sizeof *u), *uh = malloc((size_t)B * sizeof *uh);
    double *d = malloc((size_t)B * sizeof *d);
    if (!u || !uh || !d) {
        free(u);
        free(uh);
        free(d);
        return fs_error(FS_ENOMEM, "out of memory");
    }
    for (int p = 0; p < v->n; p++) {
        if (!is_data(v, p) || p == G) continue;
        partial(m, p, v->p[p].xtr, rows, B, uh);
        for (int i = 0; i < B; i++) u[i] += uh[i];
        if (k) {
            vclk_compute(k, p, 2.0 * B * m->dim[p]);
            vclk_send(k, p, G, 8.0 * B);
        }
    }
    partial(m, G, v->p[G].xtr, rows, B, uh);
    double loss = 0;
    for (int i = 0; i < B; i++) {
        const double t = label_t(v, rows[i]), ui = uh[i] + u[i];
        d[i] = 0.25 * ui - 0.5 * t;
        loss += LOG2 - 0.5 * t * ui + 0.125 * ui * ui;
    }
    m->loss_sum += loss / B;
    m->loss_n++;
    if (k) vclk_compute(k, G, 2.0 * B * m->dim[G] + 8.0 * B);
    for (int p = 0; p < v->n; p++) {
        if (!is_data(v, p)) continue;
        if (k && p != G) vclk_send(k, G, p, 8.0 * B);
        const int F = v->p[p].n_feat;
        double *g = calloc((size_t)m->dim[p], sizeof *g);
        if (!g) {
            free(u);
            free(uh);
            free(d);
            return fs_error(FS_ENOMEM, "out of memory");
        }
        for (int i = 0; i < B; i++) {
            const float *xi = v->p[p].xtr + (size_t)rows[i] * (size_t)F;
            for (int j = 0; j < F; j++) g[j] += d[i] * xi[j];
            if (m->dim[p] > F) g[F] += d[i];
        }
        for (int j = 0; j < m->dim[p]; j++) g[j] /= B;
        update(m, p, g);
        free(g);
        if (k) vclk_compute(k, p, 2.0 * B * m->dim[p] + 3.0 * m->dim[p]);
    }
    free(u);
    free(uh);
    free(d);
    return FS_OK;
}

/* Bits of the largest magnitude among n int64 values (at least 1). */
static int max_bits(const int64_t *a, size_t n)
{
    uint64_t mx = 1;
    for (size_t i = 0; i < n; i++) {
        const uint64_t v = a[i] < 0 ? (uint64_t)0 - (uint64_t)a[i] : (uint64_t)a[i];
        if (v > mx) mx = v;
    }
    int b = 0;
    while (mx) {
        b++;
        mx >>= 1;
    }
    return b;
}

/* A uniform mask of `bits` bits from the party's randomness. */
static void draw_mask(cr_src *r, int bits, mpz_t out)
{
    uint8_t buf[HE_MAX_BITS / 8];
    const size_t n = (size_t)(bits + 7) / 8;
    cr_bytes(r, buf, n);
    if (bits % 8) buf[0] &= (uint8_t)((1u << (bits % 8)) - 1);
    mpz_import(out, n, 1, 1, 0, 0, buf);
}

typedef struct enc_scratch {
    he_ct *sum, *tmp, *sq, *d4;
    he_ct *grad;         /* (total dims) masked gradient ciphertexts */
    int64_t *ks;         /* (max dim, B) scalars */
    mpz_t *mask, *plain; /* (total dims + 1) masks and decrypted values */
    int n_mask;
} enc_scratch;

static void scratch_free(enc_scratch *s, int B, int tot)
{
    he_ct_array_free(s->sum, (size_t)B);
    he_ct_array_free(s->tmp, (size_t)B);
    he_ct_array_free(s->sq, (size_t)B);
    he_ct_array_free(s->d4, (size_t)B);
    he_ct_array_free(s->grad, (size_t)tot + 1);
    if (s->mask)
        for (int i = 0; i < s->n_mask; i++) mpz_clear(s->mask[i]);
    if (s->plain)
        for (int i = 0; i < s->n_mask; i++) mpz_clear(s->plain[i]);
    free(s->mask);
    free(s->plain);
    free(s->ks);
}

static fs_err step_enc(vfl_lr *m, const uint32_t *rows, int B, vclk *k)
{
    const vfl_data *v = m->v;
    const he_pub *pk = he_enc_pub(m->enc);
    const int f = m->o.frac_bits, G = v->active, C = v->coord, bits = m->bits;
    const double ctb = (double)he_ct_bytes(pk);
    const int with_loss = m->n_hosts == 1;
    int tot = 0, maxdim = 1;
    for (int p = 0; p < v->n; p++) {
        tot += m->dim[p];
        if (m->dim[p] > maxdim) maxdim = m->dim[p];
    }
    enc_scratch s;
    memset(&s, 0, sizeof s);
    s.sum = he_ct_array_new((size_t)B);
    s.tmp = he_ct_array_new((size_t)B);
    s.d4 = he_ct_array_new((size_t)B);
    s.sq = with_loss ? he_ct_array_new((size_t)B) : NULL;
    s.grad = he_ct_array_new((size_t)tot + 1);
    s.ks = malloc((size_t)maxdim * (size_t)B * sizeof *s.ks);
    s.mask = malloc(((size_t)tot + 1) * sizeof *s.mask);
    s.plain = malloc(((size_t)tot + 1) * sizeof *s.plain);
    double *u = malloc((size_t)B * sizeof *u), *w = malloc((size_t)B * sizeof *w);
    int64_t *zero = calloc((size_t)B, sizeof *zero);
    fs_err e = FS_OK;
    if (!s.sum || !s.tmp || !s.d4 || (with_loss && !s.sq) || !s.grad || !s.ks || !s.mask ||
        !s.plain || !u || !w || !zero)
        e = fs_error(FS_ENOMEM, "out of memory for an encrypted step");
    if (!e) {
        for (int i = 0; i <= tot; i++) {
            mpz_init(s.mask[i]);
            mpz_init(s.plain[i]);
        }
        s.n_mask = tot + 1;
    }
    mpz_t a, b;
    mpz_inits(a, b, NULL);
    /* 1. every passive party: [[u_H]] (and [[u_H^2]]) under C's key -> G */
    int first = 1;
    for (int p = 0; p < v->n && !e; p++) {
        if (!is_data(v, p) || p == G) continue;
        partial(m, p, v->p[p].xtr, rows, B, u);
        e = he_encrypt_f64_batch(m->enc, &m->rnd[p], u, (size_t)B, f, first ? s.sum : s.tmp);
        if (!e && !first) he_add_batch(pk, s.sum, s.tmp, (size_t)B, s.sum);
        if (!e && with_loss) {
            for (int i = 0; i < B; i++) w[i] = u[i] * u[i];
            e = he_encrypt_f64_batch(m->enc, &m->rnd[p], w, (size_t)B, 2 * f, s.sq);
        }
        if (k) {
            vclk_compute(k, p, 2.0 * B * m->dim[p] + B);
            vclk_crypto(k, p, vfl_he_cost(VFL_HE_ENC_PUB, bits, (1.0 + with_loss) * B));
            vclk_send(k, p, G, (1.0 + with_loss) * B * ctb);
        }
        first = 0;
    }
    /* 2. G: [[4d]] = sum_H [[u_H]] + (u_G - 2t), rerandomised -> every H */
    if (!e) partial(m, G, v->p[G].xtr, rows, B, u);
    for (int i = 0; i < B && !e; i++) {
        e = he_encode_f64(pk, u[i] - 2.0 * label_t(v, rows[i]), f, a);
        if (!e) e = he_add_plain(pk, &s.sum[i], a, &s.d4[i]);
    }
    if (!e) e = he_encrypt_i64_batch(m->enc, &m->rnd[G], zero, (size_t)B, s.tmp);
    if (!e) he_add_batch(pk, s.d4, s.tmp, (size_t)B, s.d4);
    if (k) {
        vclk_compute(k, G, 2.0 * B * m->dim[G]);
        vclk_crypto(k, G,
                    vfl_he_cost(VFL_HE_ADD, bits, (double)(m->n_hosts - 1) * B) +
                        vfl_he_cost(VFL_HE_ADD_PLAIN, bits, B) +
                        vfl_he_cost(VFL_HE_RERAND, bits, B));
        for (int p = 0; p < v->n; p++)
            if (is_data(v, p) && p != G) vclk_send(k, G, p, B * ctb);
    }
    /* with one H, G also forms [[T]], T = sum_i (u_i^2 - 4 t_i u_i) at scale 2^(2f) -> C */
    he_ct T;
    he_ct_init(&T);
    if (!e && with_loss) {
        double plain = 0, kmax = 0;
        for (int i = 0; i < B; i++) {
            const double t = label_t(v, rows[i]);
            const double kk = ldexp(2.0 * u[i] - 4.0 * t, f);
            kmax = fabs(kk) > kmax ? fabs(kk) : kmax;
            plain += u[i] * u[i] - 4.0 * t * u[i];
        }
        if (kmax >= 0x1p62)
            e = fs_error(FS_EINPUT, "hetero_lr: |u| too large for the fixed point "
                                    "(lower vertical.frac_bits)");
        for (int i = 0; i < B && !e; i++)
            s.ks[i] = llround(ldexp(2.0 * u[i] - 4.0 * label_t(v, rows[i]), f));
        if (!e) {
            he_ct t1;
            he_ct_init(&t1);
            he_sum(pk, s.sq, (size_t)B, &t1);
            e = he_dot_i64(pk, s.sum, s.ks, (size_t)B, &T);
            if (!e) he_add(pk, &T, &t1, &T);
            if (!e) e = he_encode_f64(pk, plain, 2 * f, a);
            if (!e) e = he_add_plain(pk, &T, a, &T);
            he_ct_clear(&t1);
            if (k) {
                vclk_crypto(k, G,
                            vfl_he_cost(VFL_HE_ADD, bits, 2.0 * B) +
                                vfl_he_cost(VFL_HE_DOT_TERM_BIT, bits,
                                            (double)B * max_bits(s.ks, (size_t)B)) +
                                vfl_he_cost(VFL_HE_ADD_PLAIN, bits, 1));
                vclk_send(k, G, C, ctb);
            }
        }
    }
    /* 3. every party: [[G_j + R_j]] = sum_i x_ij [[4d_i]] + R_j -> C. The simulation checks
     * the plaintext sizes with what it knows of all parties (|4d| from every u). */
    const int mbits = bits / 2;
    double dmax = 0;
    for (int i = 0; i < B && !e; i++) {
        double ui = 0, uq;
        for (int q = 0; q < v->n; q++)
            if (is_data(v, q)) {
                partial(m, q, v->p[q].xtr, rows + i, 1, &uq);
                ui += uq;
            }
        dmax = fmax(dmax, fabs(ui - 2.0 * label_t(v, rows[i])));
    }
    int off = 0;
    for (int p = 0; p < v->n && !e; p++) {
        if (!is_data(v, p)) continue;
        const int F = v->p[p].n_feat, D = m->dim[p];
        double xmax = 0;
        for (int i = 0; i < B; i++)
            for (int j = 0; j < F; j++) {
                const double x = fabs(v->p[p].xtr[(size_t)rows[i] * (size_t)F + (size_t)j]);
                xmax = x > xmax ? x : xmax;
            }
        if (ldexp(xmax > 1 ? xmax : 1, f) >= 0x1p62) {
            e = fs_error(FS_EINPUT,
                         "hetero_lr: a feature of party '%s' is too large for 2^%d "
                         "fixed point (lower vertical.frac_bits)",
                         v->p[p].name, f);
            break;
        }
        /* the sum of B terms |4d_i| |x_ij| 2^(2f) plus a mask of |n|/2 bits stays below n/2 */
        if (log2((dmax + 1) * (xmax > 1 ? xmax : 1) * B) + 2.0 * f + 4 > mbits - 2) {
            e = fs_error(FS_EINPUT,
                         "hetero_lr: the encrypted gradient of party '%s' could "
                         "overflow %d-bit plaintexts (lower vertical.frac_bits)",
                         v->p[p].name, bits);
            break;
        }
        for (int j = 0; j < D; j++)
            for (int i = 0; i < B; i++)
                s.ks[(size_t)j * B + i] =
                    j < F ? llround(ldexp(v->p[p].xtr[(size_t)rows[i] * (size_t)F + (size_t)j], f))
                          : (int64_t)1 << f;
        for (int j = 0; j < D; j++) draw_mask(&m->rnd[p], mbits, s.mask[off + j]);
        int ej = FS_OK;
#pragma omp parallel for schedule(dynamic, 1) reduction(max : ej)
        for (int j = 0; j < D; j++) {
            int r = (int)he_dot_i64(pk, s.d4, s.ks + (size_t)j * B, (size_t)B, &s.grad[off + j]);
            if (!r) r = (int)he_add_plain(pk, &s.grad[off + j], s.mask[off + j], &s.grad[off + j]);
            if (r > ej) ej = r;
        }
        if (ej)
            e = fs_error((fs_err)ej, "hetero_lr: encrypted gradient of party '%s'", v->p[p].name);
        if (k) {
            vclk_crypto(k, p,
                        vfl_he_cost(VFL_HE_DOT_TERM_BIT, bits,
                                    (double)B * D * max_bits(s.ks, (size_t)D * B)) +
                            vfl_he_cost(VFL_HE_ADD_PLAIN, bits, D));
            vclk_send(k, p, C, D * ctb);
        }
        off += D;
    }
    /* 4. C decrypts, returns G_j + R_j; each party removes its mask and updates */
    if (!e) {
        int ej = FS_OK;
#pragma omp parallel for schedule(dynamic, 4) reduction(max : ej)
        for (int j = 0; j < tot; j++) {
            int r = (int)he_decrypt(m->key, &s.grad[j], s.plain[j]);
            if (r > ej) ej = r;
        }
        if (ej) e = fs_error((fs_err)ej, "hetero_lr: decryption failed");
    }
    if (!e && with_loss) {
        double tl;
        e = he_decrypt(m->key, &T, a);
        if (!e) e = he_decode_f64(pk, a, 2 * f, &tl);
        if (!e) {
            m->loss_sum += LOG2 + tl / (8.0 * B);
            m->loss_n++;
        }
    }
    if (k) vclk_crypto(k, C, vfl_he_cost(VFL_HE_DEC, bits, tot + with_loss));
    off = 0;
    double *g = malloc((size_t)maxdim * sizeof *g);
    if (!g && !e) e = fs_error(FS_ENOMEM, "out of memory");
    for (int p = 0; p < v->n && !e; p++) {
        if (!is_data(v, p)) continue;
        const int D = m->dim[p];
        if (k) {
            vclk_send(k, C, p, D * (double)((mbits + 8) / 8 + 1));
            vclk_compute(k, p, 4.0 * D);
        }
        for (int j = 0; j < D && !e; j++) {
            mpz_sub(b, s.plain[off + j], s.mask[off + j]);
            e = he_decode_f64(pk, b, 2 * f, &g[j]);
            g[j] /= 4.0 * B;
        }
        if (!e) update(m, p, g);
        off += D;
    }
    free(g);
    he_ct_clear(&T);
    mpz_clears(a, b, NULL);
    scratch_free(&s, B, tot);
    free(u);
    free(w);
    free(zero);
    return e;
}

fs_err vfl_lr_step(vfl_lr *m, const uint32_t *rows, int B, vclk *k)
{
    return m->key ? step_enc(m, rows, B, k) : step_plain(m, rows, B, k);
}

double vfl_lr_take_loss(vfl_lr *m)
{
    const double l = m->loss_n ? m->loss_sum / m->loss_n : NAN;
    m->loss_sum = 0;
    m->loss_n = 0;
    return l;
}

void vfl_lr_scores(const vfl_lr *m, int test, double *u)
{
    const vfl_data *v = m->v;
    const size_t n = test ? v->n_test : v->n_train;
    for (size_t i = 0; i < n; i++) u[i] = 0;
    double one;
    for (int p = 0; p < v->n; p++) {
        if (!is_data(v, p)) continue;
        const float *x = test ? v->p[p].xte : v->p[p].xtr;
        for (size_t i = 0; i < n; i++) {
            const uint32_t r = (uint32_t)i;
            partial(m, p, x, &r, 1, &one);
            u[i] += one;
        }
    }
}

size_t vfl_lr_theta(const vfl_lr *m, double *theta)
{
    size_t n = 0;
    for (int p = 0; p < m->v->n; p++) {
        if (theta && m->dim[p]) memcpy(theta + n, m->theta[p], (size_t)m->dim[p] * sizeof *theta);
        n += (size_t)m->dim[p];
    }
    return n;
}

fs_err vfl_lr_central(const vfl_data *v, const vfl_lr_opts *o, const uint32_t *rows, int B,
                      long n_steps, double *theta)
{
    /* the joined design matrix, party blocks side by side; an all-ones column at the active
     * party's intercept position */
    int D = 0, off[VCLK_MAX_PARTIES], icpt = -1;
    for (int p = 0; p < v->n; p++) {
        off[p] = D;
        if (!is_data(v, p)) continue;
        D += v->p[p].n_feat;
        if (p == v->active && o->intercept) icpt = D++;
    }
    const size_t N = v->n_train;
    double *X = malloc(N * (size_t)D * sizeof *X), *g = malloc((size_t)D * sizeof *g);
    if (!X || !g) {
        free(X);
        free(g);
        return fs_error(FS_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < N; i++)
        for (int p = 0; p < v->n; p++) {
            if (!is_data(v, p)) continue;
            const int F = v->p[p].n_feat;
            for (int j = 0; j < F; j++) X[i * D + off[p] + j] = v->p[p].xtr[i * (size_t)F + j];
            if (icpt >= 0) X[i * D + icpt] = 1.0;
        }
    memset(theta, 0, (size_t)D * sizeof *theta);
    for (long s = 0; s < n_steps; s++) {
        const uint32_t *r = rows + (size_t)s * (size_t)B;
        memset(g, 0, (size_t)D * sizeof *g);
        for (int i = 0; i < B; i++) {
            const double *xi = X + (size_t)r[i] * D;
            double u = 0;
            for (int j = 0; j < D; j++) u += xi[j] * theta[j];
            const double d = 0.25 * u - 0.5 * (v->ytr[r[i]] ? 1.0 : -1.0);
            for (int j = 0; j < D; j++) g[j] += d * xi[j];
        }
        for (int j = 0; j < D; j++)
            theta[j] -= o->lr * (g[j] / B + (j == icpt ? 0.0 : o->l2 * theta[j]));
    }
    free(X);
    free(g);
    return FS_OK;
}
