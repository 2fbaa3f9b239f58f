/* PowerSGD low-rank compression (compression.kind: powersgd; Vogels, Karimireddy and Jaggi,
 * "PowerSGD: Practical Low-Rank Gradient Compression for Distributed Optimization", NeurIPS
 * 2019): each weight matrix M (n x m, a layer's weights as stored: dense (out, in), conv
 * (OC, IC KH KW)) is approximated by one step of subspace iteration, P = orth(M Q), Q' = M^T P,
 * M ~ P Q'^T, with rank r' = min(r, n, m). Q starts from a Gaussian drawn from the client's keyed
 * stream each round (PowerSGD warm-starts Q from the previous step; a client in federated
 * learning rarely takes part twice in a row, so the warm start is not kept). Error feedback
 * (engine/comm.c) carries M - P Q'^T to the client's next update, as in the paper. A matrix whose
 * factors would not be smaller than itself, and every coordinate outside the matrices (biases,
 * other layers), is sent as float32.
 * Encoding, per matrix in order: P (n x r') then Q' (m x r') as float32, row-major; then the
 * other coordinates in index order as float32. Arithmetic in double (Gram-Schmidt). */
#include "fl/compress/compress.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util/err.h"

static size_t rank_of(const fl_cmp *c, const fl_cmp_block *b)
{
    size_t r = (size_t)c->rank;
    if (r > b->rows) r = b->rows;
    if (r > b->cols) r = b->cols;
    return (b->rows + b->cols) * r < b->rows * b->cols ? r : 0; /* 0: sent as it is */
}

static size_t bytes(const fl_cmp *c)
{
    size_t n = 0, covered = 0;
    for (int j = 0; j < c->n_blocks; j++) {
        const fl_cmp_block *b = &c->blocks[j];
        const size_t r = rank_of(c, b);
        if (!r) continue;
        n += 4 * (b->rows + b->cols) * r;
        covered += b->rows * b->cols;
    }
    return n + 4 * (c->d - covered);
}

/* is coordinate i inside a compressed block? blocks are sorted and disjoint */
static int covered(const fl_cmp *c, size_t i)
{
    for (int j = 0; j < c->n_blocks; j++) {
        const fl_cmp_block *b = &c->blocks[j];
        if (i >= b->off && i < b->off + b->rows * b->cols) return rank_of(c, b) > 0;
    }
    return 0;
}

static size_t encode(const fl_cmp *c, const float *x, rng_t *r, uint8_t *buf)
{
    uint8_t *o = buf;
    for (int j = 0; j < c->n_blocks; j++) {
        const fl_cmp_block *b = &c->blocks[j];
        const size_t R = rank_of(c, b), n = b->rows, m = b->cols;
        if (!R) continue;
        const float *M = x + b->off;
        double *Q = malloc(m * R * sizeof *Q), *P = calloc(n * R, sizeof *P);
        float *Pf = malloc(n * R * sizeof *Pf);
        FS_CHECK(Q && P && Pf);
        for (size_t i = 0; i < m * R; i++) Q[i] = rng_normal(r);
        for (size_t i = 0; i < n; i++) /* P = M Q */
            for (size_t k = 0; k < m; k++) {
                const double v = M[i * m + k];
                for (size_t q = 0; q < R; q++) P[i * R + q] += v * Q[k * R + q];
            }
        for (size_t q = 0; q < R; q++) { /* Gram-Schmidt over the columns of P */
            for (size_t p = 0; p < q; p++) {
                double dot = 0;
                for (size_t i = 0; i < n; i++) dot += P[i * R + p] * P[i * R + q];
                for (size_t i = 0; i < n; i++) P[i * R + q] -= dot * P[i * R + p];
            }
            double nrm = 0;
            for (size_t i = 0; i < n; i++) nrm += P[i * R + q] * P[i * R + q];
            nrm = sqrt(nrm);
            for (size_t i = 0; i < n; i++) P[i * R + q] = nrm > 1e-30 ? P[i * R + q] / nrm : 0;
        }
        for (size_t i = 0; i < n * R; i++) Pf[i] = (float)P[i];
        memcpy(o, Pf, 4 * n * R);
        o += 4 * n * R;
        for (size_t k = 0; k < m; k++) { /* Q' = M^T P (with the P that is sent) */
            float row[64];
            double acc[64] = {0};
            FS_CHECK(R <= 64);
            for (size_t i = 0; i < n; i++) {
                const double v = M[i * m + k];
                for (size_t q = 0; q < R; q++) acc[q] += v * Pf[i * R + q];
            }
            for (size_t q = 0; q < R; q++) row[q] = (float)acc[q];
            memcpy(o, row, 4 * R);
            o += 4 * R;
        }
        free(Q);
        free(P);
        free(Pf);
    }
    for (size_t i = 0; i < c->d; i++)
        if (!covered(c, i)) {
            memcpy(o, &x[i], 4);
            o += 4;
        }
    FS_CHECK((size_t)(o - buf) == bytes(c));
    return (size_t)(o - buf);
}

static void decode(const fl_cmp *c, const uint8_t *buf, float *out)
{
    const uint8_t *o = buf;
    for (int j = 0; j < c->n_blocks; j++) {
        const fl_cmp_block *b = &c->blocks[j];
        const size_t R = rank_of(c, b), n = b->rows, m = b->cols;
        if (!R) continue;
        const uint8_t *Pb = o, *Qb = o + 4 * n * R;
        o += 4 * (n + m) * R;
        for (size_t i = 0; i < n; i++) {
            float p[64];
            memcpy(p, Pb + 4 * i * R, 4 * R);
            for (size_t k = 0; k < m; k++) {
                float q[64];
                memcpy(q, Qb + 4 * k * R, 4 * R);
                double v = 0;
                for (size_t t = 0; t < R; t++) v += (double)p[t] * q[t];
                out[b->off + i * m + k] = (float)v;
            }
        }
    }
    for (size_t i = 0; i < c->d; i++)
        if (!covered(c, i)) {
            memcpy(&out[i], o, 4);
            o += 4;
        }
}

/* encode's factors of its largest matrix, as it allocates them: Q (cols x r) and P (rows x r)
 * in double, P again in float; freed before the next matrix */
static size_t scratch(const fl_cmp *c)
{
    size_t most = 0;
    for (int j = 0; j < c->n_blocks; j++) {
        const fl_cmp_block *b = &c->blocks[j];
        const size_t R = rank_of(c, b);
        const size_t n =
            R * (b->cols * sizeof(double) + b->rows * (sizeof(double) + sizeof(float)));
        if (n > most) most = n;
    }
    return most;
}

const fl_compressor fl_cmp_powersgd = {"powersgd", "Vogels et al. 2019", 0, bytes, encode, decode,
                                       scratch};
