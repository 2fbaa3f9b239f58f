/* RDP accountant for the Poisson-subsampled Gaussian mechanism; see accountant.h and
 * docs/privacy-accountant.md. Owns nothing but the arrays of a dp_accountant. Everything is
 * computed in log space: A_a can be astronomically large (small z, large a) or within 1e-12 of
 * 1 (large z, small q), and log(A_a) must be right to the last digits in both cases. */
#include "privacy/accountant.h"

#include <math.h>
#include <stdlib.h>

#include <gsl/gsl_sf_erf.h>
#include <gsl/gsl_sf_gamma.h>

/* Default orders (169): the union of the default grids of the libraries users compare with,
 * so that fedsim never reports a looser eps than they do on the same inputs -- dp_accounting's
 * RdpAccountant and TF Privacy's DP-SGD (1.1 ... 10.9 by 0.1, 11 ... 63, 128, 256, 512, 1024),
 * Opacus' DEFAULT_ALPHAS (1.1 ... 10.9, 12 ... 63), TF Privacy's classic list (1.25, 1.75,
 * 2.25, ...) -- plus 2.75 and 64 ... 768 between their sparse high orders. */
static const double default_orders[] = {
    1.1,  1.2, 1.25, 1.3,  1.4, 1.5, 1.6, 1.7, 1.75, 1.8,  1.9,  2,    2.1,  2.2,  2.25, 2.3,  2.4,
    2.5,  2.6, 2.7,  2.75, 2.8, 2.9, 3,   3.1, 3.2,  3.3,  3.4,  3.5,  3.6,  3.7,  3.8,  3.9,  4,
    4.1,  4.2, 4.3,  4.4,  4.5, 4.6, 4.7, 4.8, 4.9,  5,    5.1,  5.2,  5.3,  5.4,  5.5,  5.6,  5.7,
    5.8,  5.9, 6,    6.1,  6.2, 6.3, 6.4, 6.5, 6.6,  6.7,  6.8,  6.9,  7,    7.1,  7.2,  7.3,  7.4,
    7.5,  7.6, 7.7,  7.8,  7.9, 8,   8.1, 8.2, 8.3,  8.4,  8.5,  8.6,  8.7,  8.8,  8.9,  9,    9.1,
    9.2,  9.3, 9.4,  9.5,  9.6, 9.7, 9.8, 9.9, 10,   10.1, 10.2, 10.3, 10.4, 10.5, 10.6, 10.7, 10.8,
    10.9, 11,  12,   13,   14,  15,  16,  17,  18,   19,   20,   21,   22,   23,   24,   25,   26,
    27,   28,  29,   30,   31,  32,  33,  34,  35,   36,   37,   38,   39,   40,   41,   42,   43,
    44,   45,  46,   47,   48,  49,  50,  51,  52,   53,   54,   55,   56,   57,   58,   59,   60,
    61,   62,  63,   64,   72,  80,  96,  112, 128,  160,  192,  256,  384,  512,  768,  1024};
#define N_DEFAULT ((int)(sizeof default_orders / sizeof default_orders[0]))

/* A fractional order's series stops once a term is below exp(-SERIES_LOG_TOL) of the sum. */
#define SERIES_LOG_TOL 37.0
/* Cap on fractional-order series terms (plus 2a); beyond it the alternating-tail bound is used.
 * Only reached when the terms decay polynomially, i.e. z0 = z^2 log(1/q - 1) + 1/2 is O(z)
 * (q near 1/2 with large z). */
#define SERIES_MAX_TERMS 200000L

/* Running log-sum-exp: value = m + log(s). */
typedef struct lse {
    double m, s;
} lse;

static void lse_add(lse *a, double t)
{
    if (t == -INFINITY) return;
    if (t > a->m) {
        a->s = a->s * exp(a->m - t) + 1.0;
        a->m = t;
    } else {
        a->s += exp(t - a->m);
    }
}

static double lse_value(const lse *a)
{
    return a->s > 0 ? a->m + log(a->s) : -INFINITY;
}

static double log_add(double x, double y)
{
    if (x == -INFINITY) return y;
    if (y == -INFINITY) return x;
    return x > y ? x + log1p(exp(y - x)) : y + log1p(exp(x - y));
}

/* log(A_a), integer a >= 2, 0 < q < 1 (Mironov et al. 2019, Sec. 3.3, integer case):
 * A_a = sum_{k=0}^{a} C(a,k) (1-q)^(a-k) q^k exp((k^2 - k) / (2 z^2)), all terms positive. */
static double log_a_int(double q, double inv2z2, unsigned a)
{
    double lq = log(q), l1q = log1p(-q);
    lse acc = {-INFINITY, 0.0};
    for (unsigned k = 0; k <= a; k++) {
        double dk = (double)k;
        lse_add(&acc, gsl_sf_lnchoose(a, k) + dk * lq + (a - dk) * l1q + (dk * dk - dk) * inv2z2);
    }
    return lse_value(&acc);
}

/* log(A_a), fractional a > 1, 0 < q < 1 (Mironov et al. 2019, Sec. 3.3, fractional case).
 * Split the line at z0 = z^2 log(1/q - 1) + 1/2, where q mu1 = (1-q) mu0; on each side expand
 * ((1-q) + q mu1/mu0)^a binomially in the ratio that is < 1 there. With j = a - k:
 *   A = sum_k C(a,k) [ q^k (1-q)^j exp((k^2-k)/(2z^2)) erfc((k - z0)/(sqrt2 z)) / 2
 *                    + q^j (1-q)^k exp((j^2-j)/(2z^2)) erfc((z0 - j)/(sqrt2 z)) / 2 ].
 * C(a,k) > 0 for k <= floor(a) + 1 and alternates in sign after: positive and negative terms
 * are summed apart and subtracted once, which gives A itself (the |C| sum of dp_accounting
 * >= 0.4.4 is only an upper bound: 3% high in log A at q=.01, z=2.5, a=1.5; x100 at q=.5,
 * z=10, a=1.25). log|C(a,k)| is carried by the recurrence |C(a,k+1)| = |C(a,k)| |a-k|/(k+1),
 * which needs no gamma function at negative arguments. */
static double log_a_frac(double q, double z, double inv2z2, double a)
{
    double lq = log(q), l1q = log1p(-q);
    double z0 = z * z * (l1q - lq) + 0.5;
    double inv_s2z = 1.0 / (M_SQRT2 * z);
    double lc = 0.0, sign = 1.0, last = INFINITY, term = -INFINITY;
    long last_pos = (long)floor(a) + 1, kmax = SERIES_MAX_TERMS + 2 * (long)a;
    lse pos = {-INFINITY, 0.0}, neg = {-INFINITY, 0.0};
    int converged = 0, shrinking = 0;
    for (long k = 0; k < kmax; k++) {
        double dk = (double)k, j = a - dk;
        double t0 = lc + dk * lq + j * l1q + (dk * dk - dk) * inv2z2 - M_LN2 +
                    gsl_sf_log_erfc((dk - z0) * inv_s2z);
        double t1 = lc + j * lq + dk * l1q + (j * j - j) * inv2z2 - M_LN2 +
                    gsl_sf_log_erfc((z0 - j) * inv_s2z);
        term = log_add(t0, t1);
        lse_add(sign > 0 ? &pos : &neg, term);
        shrinking = term < last;
        if (k > last_pos && shrinking) {
            double lp = lse_value(&pos), ln = lse_value(&neg);
            double sum = ln < lp ? lp + log1p(-exp(ln - lp)) : -INFINITY;
            if (term < sum - SERIES_LOG_TOL) {
                converged = 1;
                break;
            }
        }
        last = term;
        lc += log(fabs(a - dk)) - log(dk + 1.0);
        if (a - dk < 0) sign = -sign;
    }
    double lp = lse_value(&pos), ln = lse_value(&neg);
    /* Cancellation beyond 1e-9 relative would leave no correct digits: fall back to the sum of
     * magnitudes, an upper bound. Never seen for q < 1; kept so the result stays a bound. */
    if (!(ln < lp + log1p(-1e-9))) return log_add(lp, ln);
    double la = lp + log1p(-exp(ln - lp));
    if (converged) return la;
    /* Not converged within the cap: past floor(a)+1 the terms alternate with decreasing size,
     * so the partial sum is within one term of A; add it to stay an upper bound. If they were
     * still growing there is no bound: +inf drops this order from the minimum. */
    return shrinking ? log_add(la, term) : INFINITY;
}

double dp_rdp_sgm(double q, double z, double order)
{
    if (!(q >= 0 && q <= 1)) {
        fs_error(FS_EINPUT, "sampling rate q = %g is not in [0, 1]", q);
        return NAN;
    }
    if (!(z >= 0) || isinf(z)) {
        fs_error(FS_EINPUT, "noise multiplier z = %g is not finite and >= 0", z);
        return NAN;
    }
    if (!(order > 1) || (isfinite(order) && order > DP_ORDER_MAX)) {
        fs_error(FS_EINPUT, "RDP order %g is not in (1, %g] or +inf", order, DP_ORDER_MAX);
        return NAN;
    }
    if (q == 0) return 0.0;
    if (z == 0 || isinf(order)) return INFINITY;
    if (q == 1) return order / (2.0 * z * z); /* plain Gaussian mechanism */
    double inv2z2 = 1.0 / (2.0 * z * z);
    if (isinf(inv2z2)) return INFINITY;
    double la = order == floor(order) ? log_a_int(q, inv2z2, (unsigned)order)
                                      : log_a_frac(q, z, inv2z2, order);
    double r = la / (order - 1.0);
    if (isnan(r)) return INFINITY; /* only from overflow at absurdly small z: claim nothing */
    return r > 0 ? r : 0.0;        /* A_a >= 1 (Jensen); a negative value is rounding */
}

const double *dp_default_orders(int *n)
{
    if (n) *n = N_DEFAULT;
    return default_orders;
}

int dp_fill_int_orders(double *out, int cap, int lo, int hi)
{
    if (lo < 2 || hi < lo || hi > DP_ORDER_MAX || !out || hi - lo + 1 > cap) {
        fs_error(FS_EINPUT,
                 "integer orders %d..%d: need 2 <= lo <= hi <= %g and room for them (%d)", lo, hi,
                 DP_ORDER_MAX, cap);
        return -1;
    }
    for (int a = lo; a <= hi; a++) out[a - lo] = a;
    return hi - lo + 1;
}

static fs_err check_orders(const double *orders, int n)
{
    if (!orders || n < 1) return fs_error(FS_EINPUT, "need at least one RDP order (got %d)", n);
    for (int i = 0; i < n; i++)
        if (!(orders[i] > 1 && orders[i] <= DP_ORDER_MAX))
            return fs_error(FS_EINPUT, "RDP order %g (index %d) is not in (1, %g]", orders[i], i,
                            DP_ORDER_MAX);
    return FS_OK;
}

static fs_err check_delta_conv(double delta, dp_conversion conv)
{
    if (!(delta > 0 && delta < 1)) return fs_error(FS_EINPUT, "delta = %g is not in (0, 1)", delta);
    if (conv != DP_CONV_IMPROVED && conv != DP_CONV_CLASSIC)
        return fs_error(FS_EINPUT, "unknown RDP conversion %d", (int)conv);
    return FS_OK;
}

static fs_err check_mech(double q, double z, long steps)
{
    if (!(q > 0 && q <= 1)) return fs_error(FS_EINPUT, "sampling rate q = %g is not in (0, 1]", q);
    if (!(z >= 0) || isinf(z))
        return fs_error(FS_EINPUT, "noise multiplier z = %g is not finite and >= 0", z);
    if (steps < 1) return fs_error(FS_EINPUT, "steps = %ld: need at least one step", steps);
    return FS_OK;
}

/* eps of one order: classic (Mironov 2017, Prop. 3) or improved (Balle et al. 2020, Thm. 21;
 * Canonne, Kamath, Steinke 2020, Prop. 12), the latter never larger since log(1 - 1/a) < 0 and
 * log(a)/(a-1) > 0. */
static double eps_of(double a, double r, double log_delta, dp_conversion conv)
{
    if (isinf(r)) return INFINITY;
    if (conv == DP_CONV_CLASSIC) return r - log_delta / (a - 1.0);
    return r + log1p(-1.0 / a) - (log_delta + log(a)) / (a - 1.0);
}

/* Running minimum over orders; ties keep the first. */
typedef struct eps_min {
    double eps, order;
} eps_min;

static void eps_min_add(eps_min *m, double e, double a)
{
    if (e < m->eps) {
        m->eps = e;
        m->order = a;
    }
}

static void eps_min_out(const eps_min *m, double *eps, double *best_order)
{
    *eps = m->eps > 0 ? m->eps : 0.0; /* improved conversion can dip below 0: eps >= 0 */
    if (best_order) *best_order = isinf(m->eps) ? NAN : m->order;
}

fs_err dp_rdp_compose(const double *orders, int n, double q, double z, long steps, double *rdp_out)
{
    fs_err e = check_orders(orders, n);
    if (e) return e;
    if (!(q >= 0 && q <= 1)) return fs_error(FS_EINPUT, "sampling rate q = %g is not in [0, 1]", q);
    if (!(z >= 0) || isinf(z))
        return fs_error(FS_EINPUT, "noise multiplier z = %g is not finite and >= 0", z);
    if (steps < 0) return fs_error(FS_EINPUT, "steps = %ld is negative", steps);
    if (!rdp_out) return fs_error(FS_EINPUT, "rdp_out is NULL");
    for (int i = 0; i < n; i++) {
        double r = dp_rdp_sgm(q, z, orders[i]);
        rdp_out[i] = (steps == 0 || r == 0) ? 0.0 : (double)steps * r;
    }
    return FS_OK;
}

fs_err dp_eps_from_rdp(const double *orders, const double *rdp, int n, double delta,
                       dp_conversion conv, double *eps, double *best_order)
{
    fs_err e = check_orders(orders, n);
    if (!e) e = check_delta_conv(delta, conv);
    if (e) return e;
    if (!rdp || !eps) return fs_error(FS_EINPUT, "rdp or eps is NULL");
    for (int i = 0; i < n; i++)
        if (!(rdp[i] >= 0))
            return fs_error(FS_EINPUT, "RDP %g at order %g is not >= 0", rdp[i], orders[i]);
    double ld = log(delta);
    eps_min m = {INFINITY, NAN};
    for (int i = 0; i < n; i++) eps_min_add(&m, eps_of(orders[i], rdp[i], ld, conv), orders[i]);
    eps_min_out(&m, eps, best_order);
    return FS_OK;
}

/* No validation: callers have checked everything. */
static double eps_at(double q, double z, long steps, double log_delta, dp_conversion conv,
                     const double *orders, int n, double *best_order)
{
    eps_min m = {INFINITY, NAN};
    for (int i = 0; i < n; i++) {
        double r = dp_rdp_sgm(q, z, orders[i]);
        eps_min_add(&m, eps_of(orders[i], r == 0 ? 0.0 : (double)steps * r, log_delta, conv),
                    orders[i]);
    }
    double eps;
    eps_min_out(&m, &eps, best_order);
    return eps;
}

fs_err dp_eps_from(double q, double z, long steps, double delta, dp_conversion conv,
                   const double *orders, int n_orders, double *eps, double *best_order)
{
    if (!orders) orders = dp_default_orders(&n_orders);
    fs_err e = check_mech(q, z, steps);
    if (!e) e = check_delta_conv(delta, conv);
    if (!e) e = check_orders(orders, n_orders);
    if (e) return e;
    if (!eps) return fs_error(FS_EINPUT, "eps is NULL");
    *eps = eps_at(q, z, steps, log(delta), conv, orders, n_orders, best_order);
    return FS_OK;
}

fs_err dp_noise_for_eps(double q, long steps, double delta, double target_eps, dp_conversion conv,
                        const double *orders, int n_orders, double *z)
{
    if (!orders) orders = dp_default_orders(&n_orders);
    fs_err e = check_mech(q, 1.0, steps);
    if (!e) e = check_delta_conv(delta, conv);
    if (!e) e = check_orders(orders, n_orders);
    if (e) return e;
    if (!z) return fs_error(FS_EINPUT, "z is NULL");
    if (!(target_eps > 0) || isinf(target_eps))
        return fs_error(FS_EINPUT, "target eps = %g is not finite and > 0", target_eps);
    double ld = log(delta);
    /* eps(z) is non-increasing in z (more noise, smaller A_a) and tends to its value at zero
     * RDP; a target at or below that floor cannot be met by any noise. */
    eps_min fl = {INFINITY, NAN};
    for (int i = 0; i < n_orders; i++)
        eps_min_add(&fl, eps_of(orders[i], 0.0, ld, conv), orders[i]);
    if (target_eps <= fl.eps)
        return fs_error(FS_EINPUT,
                        "target eps = %g is unreachable: even infinite noise gives eps = %g at "
                        "delta = %g with these orders (largest useful order %g); raise delta or "
                        "add larger orders",
                        target_eps, fl.eps, delta, fl.order);
    /* Bracket lo < z* <= hi with eps(lo) > target >= eps(hi). */
    double lo = 1.0, hi = 1.0;
    if (eps_at(q, hi, steps, ld, conv, orders, n_orders, NULL) > target_eps) {
        do {
            lo = hi;
            hi *= 2.0;
            if (hi > 1e8)
                return fs_error(FS_EINPUT,
                                "target eps = %g needs a noise multiplier above 1e8 (eps floor "
                                "%g at these orders is too close); raise the target or delta",
                                target_eps, fl.eps);
        } while (eps_at(q, hi, steps, ld, conv, orders, n_orders, NULL) > target_eps);
    } else {
        do {
            hi = lo;
            lo *= 0.5;
            if (lo < 1e-8) {
                lo = 0.0; /* eps(0) = +inf > target */
                break;
            }
        } while (eps_at(q, lo, steps, ld, conv, orders, n_orders, NULL) <= target_eps);
    }
    while (hi - lo > 1e-7 * hi) {
        double mid = 0.5 * (lo + hi);
        if (eps_at(q, mid, steps, ld, conv, orders, n_orders, NULL) <= target_eps)
            hi = mid;
        else
            lo = mid;
    }
    *z = hi;
    return FS_OK;
}

fs_err dp_accountant_init(dp_accountant *acc, double q, double z, double delta, dp_conversion conv,
                          const double *orders, int n_orders)
{
    if (!acc) return fs_error(FS_EINPUT, "accountant is NULL");
    if (!orders) orders = dp_default_orders(&n_orders);
    fs_err e = check_mech(q, z, 1);
    if (!e) e = check_delta_conv(delta, conv);
    if (!e) e = check_orders(orders, n_orders);
    if (e) return e;
    double *buf = FS_CALLOC((size_t)3 * (size_t)n_orders, sizeof *buf);
    if (!buf) return FS_ENOMEM;
    *acc = (dp_accountant){.q = q, .z = z, .delta = delta, .conv = conv, .n_orders = n_orders};
    acc->orders = buf;
    acc->rdp_step = buf + n_orders;
    acc->rdp = buf + 2 * n_orders;
    for (int i = 0; i < n_orders; i++) {
        acc->orders[i] = orders[i];
        acc->rdp_step[i] = dp_rdp_sgm(q, z, orders[i]);
    }
    return FS_OK;
}

fs_err dp_accountant_step(dp_accountant *acc, long steps)
{
    if (!acc || !acc->orders) return fs_error(FS_EINPUT, "accountant is not initialised");
    if (steps < 0) return fs_error(FS_EINPUT, "steps = %ld is negative", steps);
    if (steps == 0) return FS_OK;
    for (int i = 0; i < acc->n_orders; i++)
        if (acc->rdp_step[i] != 0) acc->rdp[i] += (double)steps * acc->rdp_step[i];
    acc->steps += steps;
    return FS_OK;
}

double dp_accountant_epsilon(const dp_accountant *acc, double *best_order)
{
    if (best_order) *best_order = NAN;
    if (!acc || !acc->orders || acc->steps == 0) return 0.0;
    double ld = log(acc->delta), eps;
    eps_min m = {INFINITY, NAN};
    for (int i = 0; i < acc->n_orders; i++)
        eps_min_add(&m, eps_of(acc->orders[i], acc->rdp[i], ld, acc->conv), acc->orders[i]);
    eps_min_out(&m, &eps, best_order);
    return eps;
}

void dp_accountant_free(dp_accountant *acc)
{
    if (!acc) return;
    free(acc->orders);
    *acc = (dp_accountant){0};
}
