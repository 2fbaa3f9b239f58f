/* Byzantine-robust aggregation rules (aggregation.rule; docs/robustness.md). A rule sees all of
 * a round's updates at once, in arrival order, and returns the aggregate as a weighted sum and its
 * weight (sum / wsum is the robust estimate of the mean update the server applies) plus, per
 * update, how much of it entered the aggregate (`kept`, in [0, 1]: 1/0 for rules that select
 * whole updates, the fraction of coordinates used for coordinate-wise rules, the scale applied
 * for clipping rules, the trust score for FLTrust).
 *
 * Conventions that make the rules comparable and testable:
 *   - Rules that average a subset of the updates (mean, trimmed mean, Krum, Multi-Krum) write
 *     exactly sum_{k in subset} w_k u_k in arrival order in double and its weight: with nothing
 *     removed that is FedAvg's aggregate bit for bit. The other rules write estimate x W and W,
 *     W the round's total weight, so the algorithm's server step sees the usual denominator.
 *   - Rules are deterministic functions of (updates in order, weights, parameters); coordinate-
 *     wise work may run on several threads without changing a bit.
 * One file per rule; this table (registry.c) lists them. */
#ifndef FEDSIM_ROBUST_H
#define FEDSIM_ROBUST_H

#include <stddef.h>
#include <stdint.h>

#include "util/err.h"
#include "util/rng.h"

typedef struct fl_robust_params {
    int f;          /* Byzantine updates the rule tolerates (trimmed per side, Krum's f) */
    int m;          /* Multi-Krum: updates averaged; 0: n - f */
    int iters;      /* geometric median: Weiszfeld iterations; centered clipping: L; 0: default */
    double tol;     /* geometric median: stop when the objective changes by less (relative) */
    double nu;      /* geometric median: smoothing nu of Weiszfeld's weights */
    double clip;    /* centered clipping: tau; norm bounding: M */
    double noise;   /* norm bounding: sigma of the weak-DP Gaussian noise added to the mean */
    uint64_t seed;  /* norm bounding noise: stream (seed, RNG_ROBUST, 1, round) */
    uint32_t round; /* */
    int threads;    /* OpenMP threads for coordinate-wise work (results do not depend on it) */
} fl_robust_params;

typedef struct fl_robust_in {
    int n;                /* updates */
    size_t d;             /* their length */
    const float *u;       /* (n, d) updates, row k = the k-th arrival */
    const double *w;      /* (n) weights (the algorithm's: n_k or 1) */
    const double *center; /* (d) centered clipping's centre (the previous aggregate) or NULL: 0 */
    const float *ref;     /* (d) FLTrust: the server's update on its root data */
    const fl_robust_params *p;
} fl_robust_in;

typedef struct fl_robust_out {
    double *sum;  /* (d) out */
    double wsum;  /* out */
    double *kept; /* (n) out */
} fl_robust_out;

typedef struct fl_robust_rule {
    const char *name;
    const char *cite;
    /* Largest f the rule tolerates with n updates (e.g. Krum: n > 2f + 2); NULL: f unused. */
    int (*max_f)(int n);
    int needs_ref; /* 1: in->ref must be given (FLTrust's server update) */
    fs_err (*aggregate)(const fl_robust_in *in, fl_robust_out *out);
    /* Bytes aggregate allocates at most for in->n updates of in->d (in->u, w, center and ref
     * are not read), for the memory estimate; NULL: none. */
    double (*scratch_bytes)(const fl_robust_in *in);
} fl_robust_rule;

/* NULL if unknown. */
const fl_robust_rule *fl_robust_find(const char *name);
const fl_robust_rule *const *fl_robust_all(int *n);
/* f clamped to what the rule tolerates with n updates (never below 0). */
int fl_robust_f(const fl_robust_rule *r, int f, int n);

/* Bucketing (Karimireddy, He and Jaggi, "Byzantine-Robust Learning on Heterogeneous Datasets
 * via Bucketing", ICLR 2022, Algorithm 1): the updates are permuted with r, grouped into
 * ceil(n / s) buckets of s consecutive ones, each bucket replaced by its weighted mean (weight:
 * the bucket's total), and `rule` aggregates the bucket means. An update's kept value is its
 * bucket's. s <= 1 is the rule alone. */
fs_err fl_robust_bucketed(const fl_robust_rule *rule, const fl_robust_in *in, int s, rng_t *r,
                          fl_robust_out *out);
/* Bytes fl_robust_bucketed allocates at most (its buckets, then the rule's scratch on the
 * ceil(n / s) bucket means; in->p->f as the caller clamps it for that many). */
double fl_robust_bucketed_bytes(const fl_robust_rule *rule, const fl_robust_in *in, int s);

/* ---- helpers shared by the rules (robust/util.c) ---- */

/* Squared L2 distances D (n, n) between the rows of u (n, d), in double. */
void fl_robust_sqdist(const float *u, int n, size_t d, double *D, int threads);
/* Bytes of fl_robust_sqdist's D and fl_krum_scores' row for n updates. */
double fl_krum_bytes(int n);
/* Krum scores (Blanchard et al. 2017): score[i] = sum of the n - f - 2 smallest D[i][j], j != i
 * (at least 0 of them), among the rows `active` (NULL: all); inactive rows get +inf. */
void fl_krum_scores(const double *D, int n, int f, const uint8_t *active, double *score);
/* A value of column i and the row it comes from. */
typedef struct fl_vi {
    float v;
    int k;
} fl_vi;
/* col[0..n) = column i of u (n, d) sorted by value, ties by row. */
void fl_robust_sort_col(const float *u, int n, size_t d, size_t i, fl_vi *col);
/* Sum of weights. */
double fl_robust_wsum(const double *w, int n);

#endif
