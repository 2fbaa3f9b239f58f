/* Hetero logistic regression on vertically partitioned data (Hardy et al., "Private federated
 * learning on vertically partitioned data via entity resolution and additively homomorphic
 * encryption", arXiv:1711.10677, 2017; the scheme FATE ships as hetero LR with an arbiter).
 * Labels y in {0, 1} are used as t = 2y - 1 in {-1, +1}; with u = theta . x (the joined
 * features, the active party's intercept included), the logistic loss log(1 + e^(-t u)) is
 * replaced by its second-order Taylor expansion at u = 0 (Hardy et al., Sec. 3.2):
 *
 *     l(u, t) = log 2 - t u / 2 + u^2 / 8,      dl/du = u / 4 - t / 2 = d,
 *
 * and the minibatch gradient is g = (1/B) sum_i d_i x_i (+ l2 theta, not on the intercept).
 * Each party updates its own block of theta: theta_p <- theta_p - lr g_p.
 *
 * One minibatch (docs/vertical.md has the message table), with the Paillier key held by the
 * coordinator C, the active party G (labels) and passive parties H:
 *   1. every H: u_H = X_H theta_H; encrypts [[u_H]] (and [[u_H^2]] when there is one H, for the
 *      loss) under C's key -> G;
 *   2. G: [[4d]] = sum_H [[u_H]] + (u_G - 2t) (plaintext added), rerandomised -> every H;
 *      with one H also [[T]] = sum_i [[u_H^2]] + sum_i (2 u_G - 4t)_i [[u_H]]_i
 *      + sum_i (u_G^2 - 4 t u_G), T = sum_i (u_i^2 - 4 t_i u_i) -> C;
 *   3. every party: [[G_j + R_j]] = sum_i x_ij [[4d_i]] + R_j for its features j (R_j a
 *      uniform mask of |n|/2 bits) -> C;
 *   4. C decrypts and returns each party its G_j + R_j; the party removes R_j:
 *      g_j = G_j / (4B). C also learns the batch's Taylor loss log 2 + T / (8B).
 * Fixed point: u at 2^f (vertical.frac_bits), x at 2^f, so G at 2^(2f); every sum is exact in
 * Z_n and the sizes are checked (he_check_sum) before a sum is formed.
 *
 * With encryption off the same parties exchange u_H and d in the clear and each computes its
 * own gradient: the arithmetic of centralised Taylor-loss logistic regression on the joined
 * features, which vfl_lr_central computes for the tests. */
#ifndef FEDSIM_VFL_HETERO_LR_H
#define FEDSIM_VFL_HETERO_LR_H

#include <stddef.h>
#include <stdint.h>

#include "crypto/paillier.h"
#include "util/err.h"
#include "vfl/clock.h"
#include "vfl/party.h"

typedef struct vfl_lr_opts {
    double lr;     /* step size */
    double l2;     /* L2 coefficient on the weights (not the intercept) */
    int intercept; /* the active party fits an intercept */
    int frac_bits; /* fixed point 2^f of encrypted values */
    uint64_t seed; /* keyed randomness (keyed = 1) */
    int keyed;     /* 1: masks and ciphertext randomness from the seed (simulation only) */
} vfl_lr_opts;

typedef struct vfl_lr {
    const vfl_data *v;
    vfl_lr_opts o;
    int dim[VCLK_MAX_PARTIES];       /* parameters of each party (0 for the coordinator) */
    double *theta[VCLK_MAX_PARTIES]; /* each party's weights (active: intercept last) */
    int n_hosts;                     /* passive parties */
    const he_key *key;               /* the coordinator's key pair; NULL: no encryption */
    he_enc *enc;                     /* encryptor for the coordinator's public key (H and G) */
    int bits;                        /* |n| */
    cr_src rnd[VCLK_MAX_PARTIES];    /* each party's randomness */
    double loss_sum;                 /* Taylor loss of the steps since vfl_lr_take_loss */
    long loss_n;
} vfl_lr;

/* key: the coordinator's key (the caller keeps it; NULL: encryption off). k: the clock the
 * steps are recorded on (NULL: not recorded). With a key, the key's public part is sent to the
 * parties and an encryptor built for it: recorded as a set-up step. Weights start at 0. */
fs_err vfl_lr_init(vfl_lr *m, const vfl_data *v, const vfl_lr_opts *o, const he_key *key, vclk *k);
void vfl_lr_free(vfl_lr *m);

/* One minibatch over the training rows rows[0..B), recorded on k (if not NULL). */
fs_err vfl_lr_step(vfl_lr *m, const uint32_t *rows, int B, vclk *k);

/* Mean Taylor loss of the steps since the last call (NaN: the protocol computed none, as with
 * encryption and several passive parties); resets it. */
double vfl_lr_take_loss(vfl_lr *m);

/* u = theta . x for every row of the training (test = 0) or test split into u (as at
 * prediction: the passive parties send u_H in the clear to the active party). */
void vfl_lr_scores(const vfl_lr *m, int test, double *u);

/* The centralised reference: Taylor-loss logistic regression on the joined features of v's
 * training rows (the parties' columns side by side in party order, the intercept after the
 * active party's columns), the
 * same minibatches (n_steps batches of B rows, rows[s * B ..]) and options, from theta = 0.
 * theta gets the result in the layout of vfl_lr_theta. */
fs_err vfl_lr_central(const vfl_data *v, const vfl_lr_opts *o, const uint32_t *rows, int B,
                      long n_steps, double *theta);

/* The federated weights: every data party's block in party order (the active party's intercept
 * last in its block); returns their count (theta NULL: only that). */
size_t vfl_lr_theta(const vfl_lr *m, double *theta);

#endif
