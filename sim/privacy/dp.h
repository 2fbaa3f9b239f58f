/* Differential-privacy mechanisms for federated updates: L2 clipping, Gaussian noise from keyed
 * streams, and the adaptive clipping norm of Andrew et al. (NeurIPS 2021). The accountant that
 * turns a noise multiplier into (eps, delta) is accountant.h; the engine glue that applies these
 * to a round (DP-FedAvg, local DP, secure aggregation) is engine/priv.h; docs/privacy.md has
 * the whole picture.
 *
 * Guarantees: no allocation, no global state; every noise draw comes from the stream
 * (seed, RNG_DP_NOISE, entity, round), drawn in coordinate order, so the same key gives the same
 * noise on any thread. After dp_clip the vector's L2 norm, computed in double in coordinate
 * order, is at most the clip norm (exactly, not up to rounding). */
#ifndef FEDSIM_DP_H
#define FEDSIM_DP_H

#include <stddef.h>
#include <stdint.h>

/* Stream entity of the central noise (the brief and docs/privacy.md: (RNG_DP_NOISE, 0, round)). */
#define DP_ENTITY_CENTRAL 0
/* Stream entity of the noise on the adaptive-clipping count (never a client id). */
#define DP_ENTITY_COUNT ((uint64_t)1 << 62)

/* L2 norm of u (n), accumulated in double in index order. */
double dp_l2_norm(const float *u, size_t n);

/* Clip u (n) in place to L2 norm <= clip (> 0): u <- u * min(1, clip / ||u||). A vector already
 * within the ball is left untouched (bit for bit). Returns the norm before clipping. */
double dp_clip(float *u, size_t n, double clip);

/* v[i] += std * N(0, 1) for i < n, the normals drawn in index order from
 * (seed, RNG_DP_NOISE, entity, round). std == 0 leaves v untouched. */
void dp_noise_add(double *v, size_t n, double std, uint64_t seed, uint64_t entity, uint64_t round);
/* The same draws added to a float vector (local DP: a client noises its own update). */
void dp_noise_add_f(float *v, size_t n, double std, uint64_t seed, uint64_t entity, uint64_t round);

/* Andrew et al. 2021, Thm. 1: with the clipped-count query noised at std sigma_b (its
 * sensitivity is 1/2 after centring), the update sum must be noised with multiplier
 * z_delta = (z^-2 - (2 sigma_b)^-2)^(-1/2) for the pair to be a Gaussian mechanism of multiplier
 * z. Returns z_delta; 0 when z == 0; NAN when 2 sigma_b <= z (the count alone would need more
 * noise than the budget allows). */
double dp_update_noise_multiplier(double z, double sigma_b);

/* Adaptive clipping (Andrew et al. 2021, Algorithm 1, geometric update): the server estimates
 * the fraction of unclipped updates b = (unclipped + N(0, sigma_b^2)) / expected, with the noise
 * from (seed, RNG_DP_NOISE, DP_ENTITY_COUNT, round), and returns
 * clip * exp(-lr * (b - quantile)). *b_out (may be NULL) receives the noisy fraction. */
double dp_adaptive_clip_next(double clip, double unclipped, double expected, double quantile,
                             double lr, double sigma_b, uint64_t seed, uint64_t round,
                             double *b_out);

#endif
