/* Differential-privacy accountant for the Poisson-subsampled Gaussian mechanism (DP-SGD,
 * DP-FedAvg with Poisson client sampling), by Renyi DP.
 *
 * One step samples every record (client) independently with probability q and adds Gaussian
 * noise of standard deviation z * (L2 sensitivity). Its RDP at order a > 1 is
 * log(A_a) / (a - 1), with A_a computed exactly in log space (Mironov, Talwar, Zhang 2019,
 * "Renyi Differential Privacy of the Sampled Gaussian Mechanism", arXiv:1908.10530, Sec. 3.3):
 * a finite binomial sum for integer a, a two-sided convergent series with erfc weights for
 * fractional a. RDP composes additively over steps. (eps, delta) comes from the minimum over a
 * list of orders of either the classic conversion (Mironov 2017, Prop. 3) or the improved one
 * (Balle et al. 2020, Thm. 21), which is never larger. docs/privacy-accountant.md has the
 * formulas, the default order list and the reference values the tests pin.
 *
 * Guarantees: thread-safe (no global state, no randomness; only dp_accountant_step mutates its
 * argument); bad arguments give FS_EINPUT with a message (fs_errmsg) and leave outputs
 * untouched. Only dp_accountant_init allocates; dp_accountant_free releases it. */
#ifndef FEDSIM_ACCOUNTANT_H
#define FEDSIM_ACCOUNTANT_H

#include <stddef.h> /* util/err.h uses size_t without including it */

#include "util/err.h"

/* RDP -> (eps, delta) conversion. */
typedef enum dp_conversion {
    /* eps = rdp + log((a-1)/a) - (log delta + log a)/(a-1): Balle et al. 2020, Thm. 21, as
     * dp_accounting's compute_epsilon. The default. */
    DP_CONV_IMPROVED = 0,
    /* eps = rdp + log(1/delta)/(a-1): Mironov 2017, Prop. 3, as the original TF Privacy
     * get_privacy_spent. */
    DP_CONV_CLASSIC,
} dp_conversion;

/* Largest finite order accepted (integer orders cost a + 1 terms). */
#define DP_ORDER_MAX 100000.0

/* The default order list (169 orders, 1.1 ... 1024, listed in docs/privacy-accountant.md).
 * Returns the static array; *n gets its length. */
const double *dp_default_orders(int *n);

/* Writes the integer orders lo, lo+1, ..., hi into out (room for cap values). Returns how many
 * were written, or -1 (FS_EINPUT recorded) unless 2 <= lo <= hi <= DP_ORDER_MAX and cap suffices.
 * dp_fill_int_orders(buf, 31, 2, 32) gives TF Privacy's classic list 2..32. */
int dp_fill_int_orders(double *out, int cap, int lo, int hi);

/* RDP at `order` of ONE step of the Poisson-subsampled Gaussian mechanism, sampling rate q in
 * [0, 1], noise multiplier z >= 0, order > 1 (may be +INFINITY, <= DP_ORDER_MAX if finite).
 * q = 0 gives 0; z = 0 or order = +inf gives +INFINITY (when q > 0); q = 1 gives
 * order / (2 z^2) exactly. Bad arguments give NAN and record FS_EINPUT. Result is >= 0. */
double dp_rdp_sgm(double q, double z, double order);

/* rdp_out[i] = steps * dp_rdp_sgm(q, z, orders[i]) for i < n (steps >= 0). */
fs_err dp_rdp_compose(const double *orders, int n, double q, double z, long steps, double *rdp_out);

/* Smallest eps over the orders such that the mechanism with RDP curve rdp[] (any composition)
 * is (eps, delta)-DP, delta in (0, 1). *best_order gets the minimising order (the first on a
 * tie), or NAN when eps is +INFINITY. best_order may be NULL. */
fs_err dp_eps_from_rdp(const double *orders, const double *rdp, int n, double delta,
                       dp_conversion conv, double *eps, double *best_order);

/* eps after `steps` >= 1 steps with sampling rate q in (0, 1] and noise multiplier z >= 0
 * (z = 0 gives +INFINITY). orders == NULL uses the default list (n_orders ignored). Computes
 * each order's RDP on the fly: no allocation. best_order may be NULL. */
fs_err dp_eps_from(double q, double z, long steps, double delta, dp_conversion conv,
                   const double *orders, int n_orders, double *eps, double *best_order);

/* Inverse: the smallest noise multiplier z (to 1e-7 relative, bracketing then bisection) with
 * dp_eps_from(q, z, steps, ...) <= target_eps. The z returned always meets the target.
 * FS_EINPUT when the target is not reachable: eps never falls below the conversion's value at
 * zero RDP, min over orders of log(1/delta)/(a-1) (classic), which the message reports. */
fs_err dp_noise_for_eps(double q, long steps, double delta, double target_eps, dp_conversion conv,
                        const double *orders, int n_orders, double *z);

/* Running accountant for a fixed (q, z): one RDP evaluation per order at init, then each
 * round only adds steps * rdp_step into the running RDP. */
typedef struct dp_accountant {
    double q, z, delta;
    dp_conversion conv;
    int n_orders;
    long steps;       /* steps accounted so far */
    double *orders;   /* (n_orders) */
    double *rdp_step; /* (n_orders) RDP of one step */
    double *rdp;      /* (n_orders) running RDP = steps * rdp_step, summed round by round */
} dp_accountant;

/* orders == NULL uses the default list. Validates like dp_eps_from. */
fs_err dp_accountant_init(dp_accountant *acc, double q, double z, double delta, dp_conversion conv,
                          const double *orders, int n_orders);
/* Account `steps` >= 0 more steps. */
fs_err dp_accountant_step(dp_accountant *acc, long steps);
/* eps spent so far at acc->delta (0 before any step); best_order (may be NULL) as in
 * dp_eps_from_rdp, NAN before any step. */
double dp_accountant_epsilon(const dp_accountant *acc, double *best_order);
void dp_accountant_free(dp_accountant *acc);

#endif
