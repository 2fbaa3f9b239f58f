/* Secure aggregation (Bonawitz et al., CCS 2017) and SecAgg+ (Bell et al., CCS 2020), run
 * in-process with real libsodium cryptography. See secagg.h for the contract, secagg_impl.h for
 * how the state is split and which file holds which round, and docs/secagg.md for message
 * layouts, quantisation and the threat model. This file: parameters, the round object and its
 * state checks, and the driver that runs a whole round. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "privacy/secagg_impl.h"

void sa_params_default(sa_params *p)
{
    p->threshold = 2.0 / 3.0;
    p->neighbours = 0;
    p->clip = 1.0;
    p->scale_bits = 16;
    p->rounding = SA_ROUND_STOCHASTIC;
    p->system_random = 0;
}

const char *sa_status_name(sa_status s)
{
    switch (s) {
    case SA_OK:
        return "ok";
    case SA_ABORT_FEW_SHARED:
        return "fewer than t clients shared keys";
    case SA_ABORT_FEW_HOLDERS:
        return "a client has fewer than t online share holders";
    case SA_ABORT_FEW_MASKED:
        return "fewer than t masked inputs";
    case SA_ABORT_FEW_RESPONSES:
        return "fewer than t clients sent unmasking shares";
    case SA_ABORT_FEW_SHARES:
        return "a needed secret has fewer than t shares";
    case SA_ABORT_BAD_KEY:
        return "reconstructed key does not match its public key";
    }
    return "unknown";
}

int sa_round_threshold(const sa_round *r)
{
    return r->t;
}

int sa_round_degree(const sa_round *r)
{
    return r->deg;
}

int sa_round_neighbours(const sa_round *r, int client, int *out)
{
    if (client < 0 || client >= r->n) return 0;
    for (int s = 0; s < r->deg; s++) out[s] = sa__nb(r, client, s);
    return r->deg;
}

const char *sa_round_reason(const sa_round *r)
{
    return r->reason;
}

int sa_round_n_summed(const sa_round *r)
{
    return r->n_masked;
}

const sa_cost *sa_client_cost(const sa_round *r, int client)
{
    return client >= 0 && client < r->n ? &r->cost[client] : NULL;
}

const sa_cost *sa_server_cost(const sa_round *r)
{
    return &r->srv;
}

/* ---- round object ------------------------------------------------------------------------- */

/* The graph of n clients asked for `neighbours` (odd: one more): *complete, and the degree. */
static int graph_degree(int neighbours, int n, int *complete)
{
    const int k = neighbours + (neighbours & 1);
    *complete = k == 0 || k >= n - 1;
    return *complete ? n - 1 : k;
}

double sa_round_bytes(int n_clients, int neighbours, size_t dim, int threads, int live_inputs)
{
    int complete;
    const double n = n_clients, d = graph_degree(neighbours, n_clients, &complete);
    /* sa_round_new's arrays: secrets, receive keys, the board, the server state */
    double b = n * sizeof(struct sa_client) + (n * d + 1) * KEY + 2 * n * KEY + 4 * n +
               (n * d + 1) * (CT_BYTES + 1.0) + (double)dim * sizeof(uint32_t) +
               n * (d + 1) * (8.0 * SECRET_ELEMS + 1) + n * sizeof(sa_cost) +
               (complete ? 0 : 2 * n * sizeof(int));
    /* round 2's masked inputs alive at once, and the small scratch of rounds 1 and 3 (counted
     * with them although the three never coexist) */
    b += (double)live_inputs * (sizeof(sa_masked_input) + (double)dim * sizeof(uint32_t));
    return b + sa__share_bytes((int)d, threads) + sa__unmask_bytes(n_clients, (int)d);
}

fs_err sa_round_new(const sa_params *p, int n_clients, size_t dim, uint64_t seed, uint64_t round,
                    sa_round **out)
{
    *out = NULL;
    if (sodium_init() < 0) return fs_error(FS_EINTERNAL, "secagg: libsodium failed to initialise");
    if (n_clients < 1 || dim < 1)
        return fs_error(FS_EINPUT, "secagg: need at least one client and one coordinate");
    if (!(p->clip > 0) || !isfinite(p->clip) || p->scale_bits < 0 || p->scale_bits > 30)
        return fs_error(FS_EINPUT, "secagg: clip must be > 0 and scale_bits in [0, 30]");
    if (p->neighbours < 0) return fs_error(FS_EINPUT, "secagg: neighbours must be >= 0");
    if ((uint64_t)dim > (uint64_t)UINT32_MAX * 16)
        return fs_error(FS_EINPUT, "secagg: dim %zu exceeds the ChaCha20 counter range", dim);

    /* The true integer sum must fit int32 so the modular sum decodes exactly:
     * n * ceil(R * 2^f) <= 2^31 - 1 (each rounded coordinate is at most ceil(R * 2^f)). */
    double qmax = ceil(ldexp(p->clip, p->scale_bits));
    if ((double)n_clients * qmax > 2147483647.0)
        return fs_error(FS_EINPUT,
                        "secagg: n * R * 2^f = %d * %g > 2^31 - 1, the sum could wrap "
                        "(lower clip or scale_bits)",
                        n_clients, qmax);

    int complete;
    int deg = graph_degree(p->neighbours, n_clients, &complete);
    if (complete && n_clients > SA_MAX_COMPLETE)
        return fs_error(FS_EINPUT,
                        "secagg: complete graph limited to %d clients, got %d "
                        "(hint: set neighbours > 0 for SecAgg+)",
                        SA_MAX_COMPLETE, n_clients);
    int holders = deg + 1;
    int t;
    if (!(p->threshold > 0) || !isfinite(p->threshold))
        return fs_error(FS_EINPUT, "secagg: threshold must be > 0");
    if (p->threshold < 1)
        t = (int)ceil(p->threshold * holders);
    else
        t = (int)p->threshold;
    if (t < 1 || t > holders)
        return fs_error(FS_EINPUT, "secagg: threshold %d outside [1, %d] (holders per client)", t,
                        holders);

    sa_round *r = FS_CALLOC(1, sizeof *r);
    if (!r) return FS_ENOMEM;
    r->p = *p;
    r->n = n_clients;
    r->deg = deg;
    r->half = deg / 2;
    r->t = t;
    r->complete = complete;
    r->dim = dim;
    r->seed = seed;
    r->round = round;
    size_t n = (size_t)n_clients, d = (size_t)deg;
    r->cl = FS_CALLOC(n, sizeof *r->cl);
    r->rx = FS_CALLOC(n * d + 1, KEY);
    r->c_pk = FS_CALLOC(n, KEY);
    r->s_pk = FS_CALLOC(n, KEY);
    r->adv = FS_CALLOC(n, 1);
    r->shared = FS_CALLOC(n, 1);
    r->ct = FS_CALLOC(n * d + 1, CT_BYTES);
    r->ct_ok = FS_CALLOC(n * d + 1, 1);
    r->masked = FS_CALLOC(n, 1);
    r->responded = FS_CALLOC(n, 1);
    r->acc = FS_ALIGNED(dim, sizeof *r->acc);
    r->ushare = FS_CALLOC(n * (d + 1), 8 * SECRET_ELEMS);
    r->uhave = FS_CALLOC(n * (d + 1), 1);
    r->cost = FS_CALLOC(n, sizeof *r->cost);
    if (!r->cl || !r->rx || !r->c_pk || !r->s_pk || !r->adv || !r->shared || !r->ct || !r->ct_ok ||
        !r->masked || !r->responded || !r->acc || !r->ushare || !r->uhave || !r->cost) {
        sa_round_free(r);
        return FS_ENOMEM;
    }
    if (!complete) {
        r->perm = FS_CALLOC(n, sizeof *r->perm);
        r->pos = FS_CALLOC(n, sizeof *r->pos);
        if (!r->perm || !r->pos) {
            sa_round_free(r);
            return FS_ENOMEM;
        }
        rng_t g;
        rng_init(&g, seed, RNG_SECAGG, SA_ENTITY_GRAPH, round);
        for (int i = 0; i < n_clients; i++) r->perm[i] = i;
        rng_shuffle_u32(&g, (uint32_t *)r->perm, n);
        for (int q = 0; q < n_clients; q++) r->pos[r->perm[q]] = q;
    }
    *out = r;
    return FS_OK;
}

void sa_round_free(sa_round *r)
{
    if (!r) return;
    if (r->cl) sodium_memzero(r->cl, sizeof *r->cl * (size_t)r->n);
    if (r->rx) sodium_memzero(r->rx, KEY * ((size_t)r->n * (size_t)r->deg + 1));
    free(r->perm);
    free(r->pos);
    free(r->cl);
    free(r->rx);
    free(r->c_pk);
    free(r->s_pk);
    free(r->adv);
    free(r->shared);
    free(r->ct);
    free(r->ct_ok);
    free(r->masked);
    free(r->responded);
    free(r->acc);
    free(r->ushare);
    free(r->uhave);
    free(r->cost);
    free(r);
}

void sa__abort(sa_round *r, sa_status st, sa_status *status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->reason, sizeof r->reason, fmt, ap);
    va_end(ap);
    r->status = st;
    r->state = RD_ABORTED;
    *status = st;
}

fs_err sa__check_state(const sa_round *r, int want, const char *fn)
{
    if (r->state == RD_ABORTED)
        return fs_error(FS_EINPUT, "secagg: %s on an aborted round (%s)", fn, r->reason);
    if (r->state != want) return fs_error(FS_EINPUT, "secagg: %s called out of order", fn);
    return FS_OK;
}

/* ---- driver ------------------------------------------------------------------------------- */

fs_err sa_round_run(sa_round *r, const uint8_t *present, const float *const *x,
                    const uint8_t *responds, float *sum, uint32_t *qsum, sa_status *status)
{
    fs_err e = sa_round_setup(r, present, status);
    if (e || *status != SA_OK) return e;
    int n = r->n;
    fs_err first = FS_OK;
    char msg[256] = "";
    SA_OMP("omp parallel for schedule(dynamic, 1)")
    for (int i = 0; i < n; i++) {
        if (!x[i] || !r->shared[i]) continue;
        sa_masked_input *m;
        fs_err ei = sa_client_mask(r, i, x[i], &m);
        SA_OMP("omp critical(sa_server)")
        {
            if (!ei) ei = sa_server_collect(r, m);
            if (ei && !first) {
                first = ei;
                snprintf(msg, sizeof msg, "%s", fs_errmsg());
            }
        }
    }
    if (first) return fs_error(first, "%s", msg);
    e = sa_server_close(r, status);
    if (e || *status != SA_OK) return e;
    SA_OMP("omp parallel for schedule(dynamic, 4)")
    for (int i = 0; i < n; i++) {
        if (!r->masked[i] || (responds && !responds[i])) continue;
        sa_unmask_msg *m;
        fs_err ei = sa_client_unmask(r, i, &m);
        SA_OMP("omp critical(sa_server)")
        {
            if (!ei) ei = sa_server_receive(r, m);
            if (ei && !first) {
                first = ei;
                snprintf(msg, sizeof msg, "%s", fs_errmsg());
            }
        }
    }
    if (first) return fs_error(first, "%s", msg);
    return sa_server_unmask(r, sum, qsum, status);
}
