/* Availability models (see avail.h). */
#include "device/avail.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/rng.h"

#define DIURNAL_SCAN_SLOTS 20000 /* ~200 days of 15-minute slots */

fs_err av_init(av_model *m, av_mode mode, uint64_t seed, uint32_t n_clients)
{
    memset(m, 0, sizeof *m);
    m->mode = mode;
    m->seed = seed;
    m->n_clients = n_clients;
    m->p = 1;
    m->slot_s = 900;
    if (mode == AV_MARKOV) {
        m->seg_end = FS_CALLOC(n_clients, sizeof *m->seg_end);
        m->seg_rng = FS_CALLOC(n_clients, sizeof *m->seg_rng);
        m->seg_on = FS_CALLOC(n_clients, 1);
        if (!m->seg_end || !m->seg_rng || !m->seg_on) {
            av_free(m);
            return FS_ENOMEM;
        }
        memset(m->seg_on, 2, n_clients);
    }
    return FS_OK;
}

void av_free(av_model *m)
{
    free(m->seg_end);
    free(m->seg_rng);
    free(m->seg_on);
    free(m->iv);
    free(m->iv_off);
    memset(m, 0, sizeof *m);
}

double av_bytes_per_client(const av_model *m)
{
    switch (m->mode) {
    case AV_MARKOV:
        return sizeof(double) + 4 * sizeof(uint64_t) + 1;
    case AV_TRACE:
        return m->n_clients ? (double)(m->iv_off[m->n_trace] * sizeof(av_interval) +
                                       (m->n_trace + 1) * sizeof(uint32_t)) /
                                  m->n_clients
                            : 0;
    default:
        return 0;
    }
}

/* ---- markov ---- */

static double exp_draw(rng_t *r, double mean)
{
    return -mean * log(rng_uniform_pos(r));
}

static void markov_advance(av_model *m, uint32_t c, double t)
{
    rng_t r;
    if (m->seg_on[c] == 2) {
        rng_init(&r, m->seed, RNG_AVAIL_TRACE, c, 0);
        double pi_on = m->mean_on_s / (m->mean_on_s + m->mean_off_s);
        m->seg_on[c] = rng_uniform(&r) < pi_on;
        /* exponential durations are memoryless: the residual at time 0 has the same law */
        m->seg_end[c] = exp_draw(&r, m->seg_on[c] ? m->mean_on_s : m->mean_off_s);
    } else {
        memcpy(r.s, m->seg_rng[c], sizeof r.s);
    }
    while (m->seg_end[c] <= t) {
        m->seg_on[c] ^= 1;
        m->seg_end[c] += exp_draw(&r, m->seg_on[c] ? m->mean_on_s : m->mean_off_s);
    }
    memcpy(m->seg_rng[c], r.s, sizeof r.s);
}

/* ---- diurnal ---- */

static int diurnal_tz(const av_model *m, uint32_t c)
{
    rng_t r;
    rng_init(&r, m->seed, RNG_AVAIL_TRACE, c, UINT64_MAX);
    return (int)rng_below(&r, 24);
}

static int diurnal_slot_on(const av_model *m, uint32_t c, int tz, int64_t slot)
{
    double mid_h = ((double)slot + 0.5) * m->slot_s / 3600.0 + tz;
    double h = fmod(mid_h, 24.0);
    double p =
        m->p_min + (m->p_max - m->p_min) * 0.5 * (1 + cos(2 * M_PI * (h - m->peak_hour) / 24));
    rng_t r;
    rng_init(&r, m->seed, RNG_AVAIL_TRACE, c, (uint64_t)slot + 1);
    return rng_uniform(&r) < p;
}

/* ---- trace ---- */

static const av_interval *trace_of(const av_model *m, uint32_t c, uint32_t *n)
{
    uint32_t k = c % m->n_trace;
    *n = m->iv_off[k + 1] - m->iv_off[k];
    return m->iv + m->iv_off[k];
}

/* First interval with end > t (binary search), or n. */
static uint32_t trace_find(const av_interval *iv, uint32_t n, double t)
{
    uint32_t lo = 0, hi = n;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (iv[mid].end <= t)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

typedef struct raw_iv {
    long client;
    double start, end;
} raw_iv;

static int by_client_start(const void *a, const void *b)
{
    const raw_iv *x = a, *y = b;
    if (x->client != y->client) return x->client < y->client ? -1 : 1;
    return (x->start > y->start) - (x->start < y->start);
}

fs_err av_load_trace(av_model *m, const char *path, double period_s)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return fs_error(FS_EINPUT, "%s: cannot open availability trace: %s", path, strerror(errno));
    raw_iv *raw = NULL;
    size_t n = 0, cap = 0;
    char line[512];
    int lineno = 0;
    fs_err e = FS_OK;
    while (!e && fgets(line, sizeof line, f)) {
        lineno++;
        if (line[0] == '#' || line[0] == '\n' || line[0] == '\r') continue;
        raw_iv v;
        char extra;
        if (sscanf(line, "%ld , %lf , %lf %c", &v.client, &v.start, &v.end, &extra) != 3) {
            if (lineno == 1 && strstr(line, "client")) continue; /* header */
            e = fs_error(FS_EINPUT, "%s:%d: expected 'client,start_s,end_s' (numbers)", path,
                         lineno);
            break;
        }
        if (!(v.start >= 0) || !(v.end > v.start) || !isfinite(v.end) || v.client < 0) {
            e = fs_error(FS_EINPUT, "%s:%d: need client >= 0 and 0 <= start_s < end_s < inf", path,
                         lineno);
            break;
        }
        if (period_s > 0 && v.end > period_s) {
            e = fs_error(FS_EINPUT, "%s:%d: interval ends at %g, after the period %g", path, lineno,
                         v.end, period_s);
            break;
        }
        if (n == cap) {
            cap = cap ? 2 * cap : 1024;
            raw_iv *nr = realloc(raw, cap * sizeof *raw);
            if (!nr) {
                e = fs_error(FS_ENOMEM, "out of memory reading %s", path);
                break;
            }
            raw = nr;
        }
        raw[n++] = v;
    }
    fclose(f);
    if (!e && n == 0) e = fs_error(FS_EINPUT, "%s: the availability trace has no intervals", path);
    if (e) {
        free(raw);
        return e;
    }
    qsort(raw, n, sizeof *raw, by_client_start);
    uint32_t clients = 1;
    for (size_t i = 1; i < n; i++) clients += raw[i].client != raw[i - 1].client;
    m->iv = FS_CALLOC(n, sizeof *m->iv);
    m->iv_off = FS_CALLOC((size_t)clients + 1, sizeof *m->iv_off);
    if (!m->iv || !m->iv_off) {
        free(raw);
        return FS_ENOMEM;
    }
    /* group by client, merging overlapping or touching intervals */
    uint32_t k = 0, out = 0;
    for (size_t i = 0; i < n; i++) {
        if (i > 0 && raw[i].client != raw[i - 1].client) m->iv_off[++k] = out;
        if (out > m->iv_off[k] && raw[i].start <= m->iv[out - 1].end) {
            if (raw[i].end > m->iv[out - 1].end) m->iv[out - 1].end = raw[i].end;
        } else {
            m->iv[out++] = (av_interval){raw[i].start, raw[i].end};
        }
    }
    m->iv_off[clients] = out;
    m->n_trace = clients;
    m->period_s = period_s;
    free(raw);
    return FS_OK;
}

/* ---- queries ---- */

int av_is_online(av_model *m, uint32_t c, uint32_t round, double t)
{
    switch (m->mode) {
    case AV_ALWAYS:
        return 1;
    case AV_BERNOULLI: {
        rng_t r;
        rng_init(&r, m->seed, RNG_AVAIL, c, round);
        return rng_uniform(&r) < m->p;
    }
    case AV_MARKOV:
        markov_advance(m, c, t);
        return m->seg_on[c];
    case AV_DIURNAL:
        return diurnal_slot_on(m, c, diurnal_tz(m, c), (int64_t)floor(t / m->slot_s));
    case AV_TRACE: {
        uint32_t n;
        const av_interval *iv = trace_of(m, c, &n);
        double tt = m->period_s > 0 ? fmod(t, m->period_s) : t;
        uint32_t i = trace_find(iv, n, tt);
        return i < n && iv[i].start <= tt;
    }
    }
    return 0;
}

double av_next_offline(av_model *m, uint32_t c, uint32_t round, double t)
{
    switch (m->mode) {
    case AV_ALWAYS:
    case AV_BERNOULLI:
        return INFINITY;
    case AV_MARKOV:
        markov_advance(m, c, t);
        return m->seg_on[c] ? m->seg_end[c] : t;
    case AV_DIURNAL: {
        int tz = diurnal_tz(m, c);
        int64_t s0 = (int64_t)floor(t / m->slot_s);
        for (int64_t s = s0; s < s0 + DIURNAL_SCAN_SLOTS; s++)
            if (!diurnal_slot_on(m, c, tz, s)) return s == s0 ? t : (double)s * m->slot_s;
        return INFINITY;
    }
    case AV_TRACE: {
        uint32_t n;
        const av_interval *iv = trace_of(m, c, &n);
        double base = m->period_s > 0 ? floor(t / m->period_s) * m->period_s : 0;
        double tt = t - base;
        uint32_t i = trace_find(iv, n, tt);
        if (i >= n || iv[i].start > tt) return t;
        double end = base + iv[i].end;
        /* an interval reaching the period's end continues into the next repetition */
        if (m->period_s > 0 && iv[i].end >= m->period_s && iv[0].start <= 0)
            end = base + m->period_s + iv[0].end;
        return end;
    }
    }
    return t;
}

double av_next_online(av_model *m, uint32_t c, uint32_t round, double t)
{
    switch (m->mode) {
    case AV_ALWAYS:
        return t;
    case AV_BERNOULLI:
        return av_is_online(m, c, round, t) ? t : INFINITY;
    case AV_MARKOV:
        markov_advance(m, c, t);
        return m->seg_on[c] ? t : m->seg_end[c];
    case AV_DIURNAL: {
        int tz = diurnal_tz(m, c);
        int64_t s0 = (int64_t)floor(t / m->slot_s);
        for (int64_t s = s0; s < s0 + DIURNAL_SCAN_SLOTS; s++)
            if (diurnal_slot_on(m, c, tz, s)) return s == s0 ? t : (double)s * m->slot_s;
        return INFINITY;
    }
    case AV_TRACE: {
        uint32_t n;
        const av_interval *iv = trace_of(m, c, &n);
        double base = m->period_s > 0 ? floor(t / m->period_s) * m->period_s : 0;
        double tt = t - base;
        uint32_t i = trace_find(iv, n, tt);
        if (i < n) return iv[i].start <= tt ? t : base + iv[i].start;
        if (m->period_s > 0 && n > 0) return base + m->period_s + iv[0].start;
        return INFINITY;
    }
    }
    return INFINITY;
}
