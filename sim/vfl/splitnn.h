/* Split neural network for vertically partitioned data (Vepakomma et al., "Split learning for
 * health", arXiv:1812.00564, 2018, the vertical configuration; Ceballos et al., "SplitNN-driven
 * vertical partitioning", arXiv:2008.04137, 2020). Every data party p runs a bottom model on
 * its own columns, a_p = f_p(x_p) (B, e): the scenario's model section with
 * vertical.embedding_dim outputs. The active party holds the rest: the interactive layer
 * z = b + sum_p a_p W_p (B, h), h = vertical.top_hidden[0] (or the classes when it is empty),
 * then the top model (ReLU, the other hidden widths, the classes) and the softmax
 * cross-entropy. One step: embeddings forward (passive parties optionally add Gaussian noise
 * N(0, sigma^2) to what they send, vertical.embedding_noise), their gradients
 * dL/da_p = dz W_p^T back; every party updates its own parameters by SGD (train.lr,
 * train.weight_decay).
 *
 * With vertical.encryption = paillier the interactive layer of each passive party p runs on
 * ciphertexts (the interactive layer of FATE's hetero NN; Zhang et al., "Additively
 * homomorphic encryption based deep neural network for asymmetrically collaborative machine
 * learning", 2020). p holds a Paillier key; W_p is held in two additive
 * shares, W' at the active party A and eps at p (W_p = W' + eps):
 *   forward   p -> A: [[a]] (encrypted by p);
 *             A -> p: [[a W' + r]] (r A's random mask, rerandomised);
 *             p -> A: a W' + r + a eps (p decrypts, adds its share's product); A removes r:
 *             z_p = a W_p. A never sees a, p never sees W' or z_p.
 *   backward  A -> p: [[a^T dz + r']] (rerandomised); p decrypts and returns
 *             a^T dz + r' + rho (rho ~ N(0, 1) fresh noise); A removes r' and steps
 *             W' <- W' - lr (a^T dz + rho), p steps eps <- eps + lr rho: W_p moves by
 *             -lr a^T dz. A -> p: dz W'^T and dz in the clear; p forms dL/da = dz (W' + eps)^T.
 * Fixed point 2^f as in hetero_lr.h. What each side learns is in docs/vertical.md. */
#ifndef FEDSIM_VFL_SPLITNN_H
#define FEDSIM_VFL_SPLITNN_H

#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "crypto/paillier.h"
#include "nn/model.h"
#include "util/err.h"
#include "vfl/clock.h"
#include "vfl/party.h"

typedef struct vfl_snn {
    const vfl_data *v;
    int K, emb, h; /* classes, embedding width, interactive width */
    int max_batch;
    double lr, l2, noise;
    uint64_t seed;
    int encrypt, f, keyed;
    nn_model bottom[VCLK_MAX_PARTIES]; /* each data party's bottom model */
    nn_worker bw[VCLK_MAX_PARTIES];
    float *bp[VCLK_MAX_PARTIES];  /* its parameters */
    float *W[VCLK_MAX_PARTIES];   /* (emb, h) interactive weights of party p's embedding;
                                   * encrypted passive p: the active party's share W' */
    float *eps[VCLK_MAX_PARTIES]; /* encrypted passive p: p's share (else NULL) */
    float *gW[VCLK_MAX_PARTIES];  /* (emb, h) their gradients */
    float *bias, *gbias;          /* (h) */
    int has_top;                  /* top model after the interactive layer */
    nn_model top;
    nn_worker tw;
    float *tp;                         /* top parameters */
    he_key *key[VCLK_MAX_PARTIES];     /* encrypted: passive party p's key (owned) */
    he_enc *enc_own[VCLK_MAX_PARTIES]; /* p's key-holder encryptor */
    he_enc *enc_pub[VCLK_MAX_PARTIES]; /* A's encryptor for p's public key */
    cr_src rnd[VCLK_MAX_PARTIES];
    float *A[VCLK_MAX_PARTIES]; /* (max_batch, emb) the embeddings as the active party uses them */
    float *da;                  /* (max_batch, emb) */
    float *z, *dz;              /* (max_batch, h) */
    double *zd;                 /* (max_batch, h) scratch */
    rng_t noise_rng;
    double loss_sum;
    long loss_n;
} vfl_snn;

/* Build from the scenario: bottoms from the model section, the interactive layer and top from
 * vertical.top_hidden, the noise, the optimiser; keys (vertical.key_bits) with encryption.
 * Records the key set-up on k (if not NULL). */
fs_err vfl_snn_init_cfg(vfl_snn *s, const vfl_data *v, const cfg *c, vclk *k);
/* The same with the passive parties' keys given (keys[p] for each passive p with encryption,
 * NULL entries otherwise; s owns them afterwards, also on failure). Tests pass small keys. */
fs_err vfl_snn_init(vfl_snn *s, const vfl_data *v, const cfg *c, he_key **keys, vclk *k);
void vfl_snn_free(vfl_snn *s);

/* One step on training rows rows[0..B) (step keys the noise and dropout layers). */
fs_err vfl_snn_step(vfl_snn *s, const uint32_t *rows, int B, vclk *k, uint64_t step);
double vfl_snn_take_loss(vfl_snn *s);
/* Class probabilities (n, K) of the training (test = 0) or test rows, in the clear. */
fs_err vfl_snn_predict(vfl_snn *s, int test, float *prob);
size_t vfl_snn_params(const vfl_snn *s);
void vfl_snn_describe(const vfl_snn *s, char *buf, size_t cap);

/* Tests (plain, no noise): the mean loss of rows[0..B) and, with grad, every gradient
 * (bottoms in bw[p].grad, gW, gbias, top in tw.grad), computed without updating. */
double vfl_snn_loss_grad(vfl_snn *s, const uint32_t *rows, int B, int grad);
/* The effective interactive weights W_p (W' + eps when shared) into out (emb, h). */
void vfl_snn_weights(const vfl_snn *s, int p, float *out);

#endif
