/* Device profiles: lognormal, tiers and traces (see device.h). */
#include "device/device.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/rng.h"

/* Order-of-magnitude defaults; docs/systems.md gives the sources. Sustained training FLOP/s,
 * not peak. Bandwidths in bit/s. */
static const dev_tier builtin[] = {
    {"phone-low", 0.30, {0.5e9, 0.5}, {10e6, 0.7}, {2e6, 0.8}, {0.08, 0.5}},
    {"phone-mid", 0.40, {2e9, 0.5}, {25e6, 0.7}, {6e6, 0.8}, {0.05, 0.5}},
    {"phone-high", 0.20, {8e9, 0.5}, {60e6, 0.6}, {15e6, 0.7}, {0.03, 0.5}},
    {"laptop", 0.09, {30e9, 0.5}, {80e6, 0.6}, {30e6, 0.6}, {0.02, 0.4}},
    {"server", 0.01, {300e9, 0.3}, {1e9, 0.2}, {1e9, 0.2}, {0.005, 0.3}},
};

const dev_tier *dev_builtin_tiers(int *n)
{
    *n = (int)(sizeof builtin / sizeof builtin[0]);
    return builtin;
}

void dev_free(dev_model *d)
{
    free(d->tiers);
    free(d->trace);
    d->tiers = NULL;
    d->trace = NULL;
    d->n_tiers = 0;
    d->n_trace = 0;
}

static int csv_doubles(const char *line, double *v, int n)
{
    const char *p = line;
    for (int i = 0; i < n; i++) {
        char *end;
        errno = 0;
        v[i] = strtod(p, &end);
        if (end == p || errno) return 0;
        p = end;
        while (*p == ' ' || *p == '\t') p++;
        if (i + 1 < n) {
            if (*p != ',') return 0;
            p++;
        }
    }
    while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n') p++;
    return *p == '\0';
}

fs_err dev_load_tiers(dev_model *d, const char *path)
{
    if (!path || !path[0]) {
        int n;
        const dev_tier *b = dev_builtin_tiers(&n);
        d->tiers = FS_CALLOC((size_t)n, sizeof *d->tiers);
        if (!d->tiers) return FS_ENOMEM;
        memcpy(d->tiers, b, (size_t)n * sizeof *b);
        d->n_tiers = n;
        return FS_OK;
    }
    FILE *f = fopen(path, "r");
    if (!f) return fs_error(FS_EINPUT, "%s: cannot open device tiers: %s", path, strerror(errno));
    char line[1024];
    int lineno = 0, cap = 0;
    fs_err e = FS_OK;
    double wsum = 0;
    while (!e && fgets(line, sizeof line, f)) {
        lineno++;
        if (line[0] == '#' || line[0] == '\n' || line[0] == '\r') continue;
        char *comma = strchr(line, ',');
        if (!comma) {
            e = fs_error(FS_EINPUT,
                         "%s:%d: expected name,weight,flops,flops_sigma,down_bps,"
                         "down_sigma,up_bps,up_sigma,latency_s,latency_sigma",
                         path, lineno);
            break;
        }
        double v[9];
        if (!csv_doubles(comma + 1, v, 9)) {
            if (lineno == 1 && strncmp(line, "name", 4) == 0) continue; /* header */
            e = fs_error(FS_EINPUT,
                         "%s:%d: expected name and 9 numbers: weight,flops,flops_sigma,"
                         "down_bps,down_sigma,up_bps,up_sigma,latency_s,latency_sigma",
                         path, lineno);
            break;
        }
        if (!(v[0] >= 0) || !(v[1] > 0) || !(v[3] > 0) || !(v[5] > 0) || !(v[7] >= 0) || v[2] < 0 ||
            v[4] < 0 || v[6] < 0 || v[8] < 0) {
            e = fs_error(FS_EINPUT,
                         "%s:%d: weights and latency must be >= 0, rates > 0, sigmas "
                         ">= 0",
                         path, lineno);
            break;
        }
        if (d->n_tiers == cap) {
            cap = cap ? 2 * cap : 8;
            dev_tier *t = realloc(d->tiers, (size_t)cap * sizeof *t);
            if (!t) {
                e = fs_error(FS_ENOMEM, "out of memory reading %s", path);
                break;
            }
            d->tiers = t;
        }
        dev_tier *t = &d->tiers[d->n_tiers++];
        memset(t, 0, sizeof *t);
        size_t nl =
            (size_t)(comma - line) < sizeof t->name ? (size_t)(comma - line) : sizeof t->name - 1;
        memcpy(t->name, line, nl);
        t->weight = v[0];
        t->flops = (dev_lognormal){v[1], v[2]};
        t->down_bps = (dev_lognormal){v[3], v[4]};
        t->up_bps = (dev_lognormal){v[5], v[6]};
        t->latency_s = (dev_lognormal){v[7], v[8]};
        wsum += v[0];
    }
    fclose(f);
    if (!e && (d->n_tiers == 0 || !(wsum > 0)))
        e = fs_error(FS_EINPUT, "%s: no tiers with positive total weight", path);
    if (e) dev_free(d);
    return e;
}

fs_err dev_load_trace(dev_model *d, const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) return fs_error(FS_EINPUT, "%s: cannot open device trace: %s", path, strerror(errno));
    char line[1024];
    int lineno = 0;
    uint32_t cap = 0;
    fs_err e = FS_OK;
    while (!e && fgets(line, sizeof line, f)) {
        lineno++;
        if (line[0] == '#' || line[0] == '\n' || line[0] == '\r') continue;
        double v[5];
        if (!csv_doubles(line, v, 5)) {
            if (lineno == 1 && strstr(line, "client")) continue; /* header */
            e = fs_error(FS_EINPUT, "%s:%d: expected client,flops,down_bps,up_bps,latency_s", path,
                         lineno);
            break;
        }
        if (!(v[1] > 0 && v[2] > 0 && v[3] > 0 && v[4] >= 0 &&
              isfinite(v[1] + v[2] + v[3] + v[4]))) {
            e = fs_error(FS_EINPUT, "%s:%d: flops and bandwidths must be > 0, latency >= 0", path,
                         lineno);
            break;
        }
        if (d->n_trace == cap) {
            cap = cap ? 2 * cap : 1024;
            dev_profile *t = realloc(d->trace, (size_t)cap * sizeof *t);
            if (!t) {
                e = fs_error(FS_ENOMEM, "out of memory reading %s", path);
                break;
            }
            d->trace = t;
        }
        d->trace[d->n_trace++] = (dev_profile){v[1], v[2], v[3], v[4], -1};
    }
    fclose(f);
    if (!e && d->n_trace == 0) e = fs_error(FS_EINPUT, "%s: the device trace has no rows", path);
    if (e) dev_free(d);
    return e;
}

static double draw(rng_t *r, const dev_lognormal *l)
{
    return l->median * exp(l->sigma * rng_normal(r));
}

void dev_profile_of(const dev_model *d, uint32_t client, dev_profile *p)
{
    if (d->mode == DEV_TRACE) {
        *p = d->trace[client % d->n_trace];
        return;
    }
    const dev_lognormal *fl = &d->flops, *dn = &d->down_bps, *up = &d->up_bps, *la = &d->latency_s;
    p->tier = -1;
    if (d->mode == DEV_TIERS) {
        rng_t t;
        rng_init(&t, d->seed, RNG_TIER, client, 0);
        double wsum = 0;
        for (int i = 0; i < d->n_tiers; i++) wsum += d->tiers[i].weight;
        double u = rng_uniform(&t) * wsum;
        int k = 0;
        while (k < d->n_tiers - 1 && u >= d->tiers[k].weight) u -= d->tiers[k++].weight;
        const dev_tier *tr = &d->tiers[k];
        fl = &tr->flops, dn = &tr->down_bps, up = &tr->up_bps, la = &tr->latency_s;
        p->tier = k;
    }
    rng_t r;
    rng_init(&r, d->seed, RNG_DEVICE, client, 0);
    p->flops = draw(&r, fl);
    p->down_bps = draw(&r, dn);
    p->up_bps = draw(&r, up);
    p->latency_s = draw(&r, la);
}
