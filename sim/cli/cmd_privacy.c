/* `fedsim privacy`: the RDP accountant as a calculator (sim/privacy/accountant.h,
 * docs/privacy-accountant.md).
 *
 *   fedsim privacy --q Q --z Z --steps T --delta D [--conversion improved|classic]
 *                  [--orders default|int|LO-HI|a,b,...]
 *       epsilon after T steps of the Poisson-subsampled Gaussian mechanism, and the best order;
 *   fedsim privacy --q Q --steps T --delta D --target-eps E [...]
 *       the smallest noise multiplier z that spends at most E.
 *
 * For DP-FedAvg, q is clients_per_round / clients and a step is a round: the same numbers as
 * the `epsilon` column of a run with privacy.mode = central (docs/privacy.md). Output is
 * `name value` lines, easy to read from a script. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "privacy/accountant.h"

#define MAX_ORDERS 4096

static int num_arg(const char *opt, const char *v, double lo, double hi, double *out)
{
    char *end;
    double x = strtod(v, &end);
    if (end == v || *end || !(x >= lo && x <= hi)) {
        char msg[200];
        snprintf(msg, sizeof msg, "%s takes a number in [%g, %g], got '%s'", opt, lo, hi, v);
        return cli_usage_error(msg);
    }
    *out = x;
    return 0;
}

/* --orders: default (*n = 0: the accountant's list), int (2..256), LO-HI (integers), or a comma
 * list. */
static int parse_orders(const char *v, double *buf, int *n, char *label, size_t cap)
{
    *n = 0;
    if (strcmp(v, "default") == 0) {
        int nd;
        const double *o = dp_default_orders(&nd);
        snprintf(label, cap, "default (%d orders, %g .. %g)", nd, o[0], o[nd - 1]);
        return 0;
    }
    int lo = 0, hi = 0, used = 0;
    if (strcmp(v, "int") == 0) {
        lo = 2, hi = 256;
    } else if (!(sscanf(v, "%d-%d%n", &lo, &hi, &used) == 2 && v[used] == '\0')) {
        const char *p = v;
        while (*p) {
            char *end;
            double x = strtod(p, &end);
            if (end == p || (*end && *end != ',') || *n >= MAX_ORDERS || !(x > 1) ||
                !(x <= DP_ORDER_MAX))
                return cli_usage_error("--orders takes default, int, LO-HI or a list of orders "
                                       "in (1, 1e5] such as 1.5,2,4,8");
            buf[(*n)++] = x;
            p = *end ? end + 1 : end;
        }
        snprintf(label, cap, "%d given", *n);
        return 0;
    }
    *n = dp_fill_int_orders(buf, MAX_ORDERS, lo, hi);
    if (*n < 0)
        return cli_usage_error("--orders LO-HI needs 2 <= LO <= HI <= 100000, at most 4096 orders");
    snprintf(label, cap, "integers %d .. %d (%d orders)", lo, hi, *n);
    return 0;
}

int cmd_privacy(int argc, char **argv)
{
    static const char *usage = "privacy --q Q (--z Z | --target-eps E) --steps T --delta D "
                               "[--conversion improved|classic] [--orders default|int|LO-HI|list]";
    double q = NAN, z = NAN, steps = NAN, delta = NAN, target = NAN;
    const char *conv_s = "improved", *orders_s = "default";
    for (int i = 0; i < argc; i++) {
        const char *s = argv[i];
        if (i + 1 >= argc || s[0] != '-') {
            char msg[400];
            snprintf(msg, sizeof msg, "%s '%s' (%s)",
                     s[0] == '-' ? "missing value for" : "unexpected", s, usage);
            return cli_usage_error(msg);
        }
        const char *v = argv[++i];
        int rc = 0;
        if (strcmp(s, "--q") == 0)
            rc = num_arg(s, v, 0, 1, &q);
        else if (strcmp(s, "--z") == 0)
            rc = num_arg(s, v, 0, 1e9, &z);
        else if (strcmp(s, "--steps") == 0)
            rc = num_arg(s, v, 1, 1e15, &steps);
        else if (strcmp(s, "--delta") == 0)
            rc = num_arg(s, v, 0, 1, &delta);
        else if (strcmp(s, "--target-eps") == 0)
            rc = num_arg(s, v, 0, 1e9, &target);
        else if (strcmp(s, "--conversion") == 0)
            conv_s = v;
        else if (strcmp(s, "--orders") == 0)
            orders_s = v;
        else {
            char msg[400];
            snprintf(msg, sizeof msg, "unknown option '%s' (%s)", s, usage);
            return cli_usage_error(msg);
        }
        if (rc) return rc;
    }
    if (isnan(q) || isnan(steps) || isnan(delta))
        return cli_usage_error("privacy needs --q, --steps and --delta");
    if (isnan(z) == isnan(target)) return cli_usage_error("privacy needs --z or --target-eps");
    if (steps != floor(steps)) return cli_usage_error("--steps takes a whole number");
    dp_conversion conv;
    if (strcmp(conv_s, "improved") == 0)
        conv = DP_CONV_IMPROVED;
    else if (strcmp(conv_s, "classic") == 0)
        conv = DP_CONV_CLASSIC;
    else
        return cli_usage_error("--conversion takes improved or classic");
    static double orders[MAX_ORDERS];
    int n_orders = 0;
    char label[96];
    int rc = parse_orders(orders_s, orders, &n_orders, label, sizeof label);
    if (rc) return rc;
    const double *ord = n_orders ? orders : NULL;
    fs_err e = FS_OK;
    if (!isnan(target) &&
        (e = dp_noise_for_eps(q, (long)steps, delta, target, conv, ord, n_orders, &z)))
        return cli_fail(e);
    if (z == 0 && q > 0) { /* no noise: every step reveals the clipped update */
        fprintf(stderr, "fedsim: error: no privacy: noise multiplier 0 (epsilon is infinite); "
                        "give --z > 0\n");
        return 2;
    }
    double eps, best;
    if ((e = dp_eps_from(q, z, (long)steps, delta, conv, ord, n_orders, &eps, &best)))
        return cli_fail(e);
    if (!isfinite(eps)) {
        fprintf(stderr,
                "fedsim: error: no privacy: epsilon is infinite for noise multiplier %g "
                "(q %g, %.0f steps); give a larger --z\n",
                z, q, steps);
        return 2;
    }
    printf("q %.10g\nsteps %.0f\ndelta %.10g\nconversion %s\norders %s\n", q, steps, delta, conv_s,
           label);
    if (!isnan(target)) printf("target_epsilon %.10g\n", target);
    printf("noise_multiplier %.10g\nepsilon %.10g\nbest_order %.10g\n", z, eps, best);
    return 0;
}
