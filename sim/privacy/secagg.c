/* Secure aggregation (Bonawitz et al., CCS 2017) and SecAgg+ (Bell et al., CCS 2020), run
 * in-process with real libsodium cryptography. See secagg.h for the contract and
 * docs/secagg.md for message layouts, quantisation and the threat model.
 *
 * One sa_round owns three kinds of state, kept apart by who may read them:
 *   - struct sa_client (and rx): a client's secrets; read only by client_* functions and the
 *     sa_client_* entry points for that client;
 *   - the board (public keys, encrypted shares, U1/U2/U3 lists): what the server stores and
 *     forwards; clients read the parts the server would send them;
 *   - the server state (running masked sum, received unmasking shares): written only by
 *     sa_server_* functions, which receive nothing but masked vectors and shares. */
#include "privacy/secagg.h"

#include <math.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "privacy/shamir.h"
#include "util/rng.h"

#ifdef _OPENMP
#include <omp.h>
#define SA_OMP(x) _Pragma(x)
#else
#define SA_OMP(x)
#endif

#define KEY          32                    /* X25519 keys, session keys, PRG seeds */
#define SECRET_ELEMS SH_ELEMS(KEY)         /* 5 field elements per 32-byte secret */
#define SHARE_ELEMS  (2 * SECRET_ELEMS)    /* share of s_i^SK then share of b_i */
#define PT_BYTES     (8 + 8 * SHARE_ELEMS) /* sender u32, recipient u32, shares */
#define CT_BYTES     (PT_BYTES + crypto_aead_chacha20poly1305_ietf_ABYTES)
#define AD_BYTES     16                           /* round u64, sender u32, recipient u32 */
#define ID_WIRE      4                            /* a client id on the wire */
#define ADV_WIRE     (ID_WIRE + 2 * KEY)          /* id, c_i^PK, s_i^PK */
#define CT_WIRE      (2 * ID_WIRE + CT_BYTES)     /* routing header + ciphertext */
#define USHARE_WIRE  (ID_WIRE + 8 * SECRET_ELEMS) /* owner id + one secret's share */
#define PRG_WORDS    1024                         /* keystream chunk: 4 KiB, 64 ChaCha blocks */

enum cl_phase { CL_ABSENT = 0, CL_SHARED, CL_MASKED, CL_RESPONDED };
enum rd_state { RD_NEW = 0, RD_KEYED, RD_CLOSED, RD_DONE, RD_ABORTED };

struct sa_client {
    uint8_t c_sk[KEY]; /* c_i^SK: channel key for share encryption */
    uint8_t s_sk[KEY]; /* s_i^SK: mask agreement key */
    uint8_t b[KEY];    /* self-mask seed b_i */
    uint64_t own_share[SHARE_ELEMS];
    rng_t rng; /* (seed, RNG_SECAGG, client, round) */
    int phase;
};

struct sa_round {
    sa_params p;
    int n, deg, half, t, complete;
    size_t dim;
    uint64_t seed, round;
    int *perm, *pos; /* SecAgg+: client at ring position q, position of client i */

    /* clients' private state */
    struct sa_client *cl;
    uint8_t *rx; /* (n, deg, KEY): client i's receive key on the channel with neighbour s */

    /* board: stored and forwarded by the server */
    uint8_t *c_pk, *s_pk; /* (n, KEY) */
    uint8_t *adv;         /* U1 */
    uint8_t *shared;      /* U2 */
    uint8_t *ct;          /* (n, deg, CT_BYTES): share ciphertext from i to its slot-s neighbour */
    uint8_t *ct_ok;       /* (n, deg) */
    uint8_t *masked;      /* U3 */
    uint8_t *responded;   /* U5 */

    /* server state */
    uint32_t *acc; /* (dim) running sum of masked inputs mod 2^32 */
    /* (n, deg + 1, SECRET_ELEMS): unmasking share of owner i from holder slot h */
    uint64_t *ushare;
    uint8_t *uhave; /* (n, deg + 1) */
    int n_adv, n_shared, n_masked, n_responded;

    int state;
    sa_status status;
    char reason[256];
    sa_cost *cost; /* (n) */
    sa_cost srv;
};

struct sa_masked_input {
    const sa_round *from;
    int client;
    size_t dim;
    uint32_t w[]; /* (dim) */
};

struct sa_unmask_entry {
    int owner;
    uint64_t e[SECRET_ELEMS];
};

struct sa_unmask_msg {
    const sa_round *from;
    int client;
    int count;
    struct sa_unmask_entry ent[];
};

static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void sa_params_default(sa_params *p)
{
    p->threshold = 2.0 / 3.0;
    p->neighbours = 0;
    p->clip = 1.0;
    p->scale_bits = 16;
    p->rounding = SA_ROUND_STOCHASTIC;
    p->system_random = 0;
}

int sa_plus_degree(int n)
{
    int lg = 0;
    while (lg < 31 && (1L << lg) < (long)n) lg++;
    return 2 * lg;
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

/* ---- graph -------------------------------------------------------------------------------- */

/* Neighbour in slot s of client i. SecAgg+: slots 0..half-1 are ring offsets +1..+half, slots
 * half..deg-1 offsets -1..-half (Harary graph H_{k,n} over a random ring order, Bell et al.
 * 2020). Complete graph: everyone else in index order. */
static int nb(const sa_round *r, int i, int s)
{
    if (r->complete) return s < i ? s : s + 1;
    int off = s < r->half ? s + 1 : -(s - r->half + 1);
    return r->perm[((r->pos[i] + off) % r->n + r->n) % r->n];
}

/* Slot of client i in the list of its slot-s neighbour. */
static int rev_slot(const sa_round *r, int i, int s)
{
    if (r->complete) {
        int j = s < i ? s : s + 1;
        return i < j ? i : i - 1;
    }
    return s < r->half ? s + r->half : s - r->half;
}

/* Holder slot of client h for owner o's shares: deg for o itself, -1 if not a neighbour. */
static int holder_slot(const sa_round *r, int o, int h)
{
    if (h == o) return r->deg;
    if (r->complete) return h < o ? h : h - 1;
    int off = ((r->pos[h] - r->pos[o]) % r->n + r->n) % r->n;
    if (off >= 1 && off <= r->half) return off - 1;
    if (off >= r->n - r->half) return r->half + (r->n - off) - 1;
    return -1;
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
    for (int s = 0; s < r->deg; s++) out[s] = nb(r, client, s);
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

    int k = p->neighbours + (p->neighbours & 1);
    int complete = k == 0 || k >= n_clients - 1;
    int deg = complete ? n_clients - 1 : k;
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

static void round_abort(sa_round *r, sa_status st, sa_status *status, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void round_abort(sa_round *r, sa_status st, sa_status *status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->reason, sizeof r->reason, fmt, ap);
    va_end(ap);
    r->status = st;
    r->state = RD_ABORTED;
    *status = st;
}

static fs_err check_state(const sa_round *r, int want, const char *fn)
{
    if (r->state == RD_ABORTED)
        return fs_error(FS_EINPUT, "secagg: %s on an aborted round (%s)", fn, r->reason);
    if (r->state != want) return fs_error(FS_EINPUT, "secagg: %s called out of order", fn);
    return FS_OK;
}

/* ---- crypto building blocks ---------------------------------------------------------------- */

static void draw_bytes(rng_t *g, uint8_t *out, size_t len)
{
    for (size_t i = 0; i < len; i += 8) {
        uint64_t v = rng_u64(g);
        for (size_t b = 0; b < 8 && i + b < len; b++) out[i + b] = (uint8_t)(v >> (8 * b));
    }
}

/* X25519 agreement between me and other with crypto_kx roles fixed by index order (the lower
 * index plays "client"), so that my tx key is the other's rx key and vice versa. */
static int kx_keys(int me, int other, const uint8_t *me_pk, const uint8_t *me_sk,
                   const uint8_t *other_pk, uint8_t rx[KEY], uint8_t tx[KEY])
{
    if (me < other) return crypto_kx_client_session_keys(rx, tx, me_pk, me_sk, other_pk);
    return crypto_kx_server_session_keys(rx, tx, me_pk, me_sk, other_pk);
}

/* Pairwise mask seed s_{me,other}: the lower index's tx key (= the higher index's rx key). */
static int pair_seed(int me, int other, const uint8_t *me_pk, const uint8_t *me_sk,
                     const uint8_t *other_pk, uint8_t seed[KEY])
{
    uint8_t rx[KEY], tx[KEY];
    if (kx_keys(me, other, me_pk, me_sk, other_pk, rx, tx) != 0) return -1;
    memcpy(seed, me < other ? tx : rx, KEY);
    sodium_memzero(rx, KEY);
    sodium_memzero(tx, KEY);
    return 0;
}

static void put32(uint8_t *p, uint32_t v)
{
    for (int b = 0; b < 4; b++) p[b] = (uint8_t)(v >> (8 * b));
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void make_ad(uint8_t ad[AD_BYTES], uint64_t round, int from, int to)
{
    put32(ad, (uint32_t)round);
    put32(ad + 4, (uint32_t)(round >> 32));
    put32(ad + 8, (uint32_t)from);
    put32(ad + 12, (uint32_t)to);
}

/* The mask kernel: acc[lo..hi) += (or -=) words lo..hi-1 of the ChaCha20 (IETF, zero nonce)
 * keystream of key, read as little-endian uint32. lo must be a multiple of PRG_WORDS. Each
 * seed keys exactly one stream, so the fixed nonce is never reused under a key. */
static void prg_add(uint32_t *acc, size_t lo, size_t hi, const uint8_t key[KEY], int negate)
{
    static const uint8_t zeros[4 * PRG_WORDS];
    static const uint8_t nonce[crypto_stream_chacha20_ietf_NONCEBYTES];
    uint8_t buf[4 * PRG_WORDS];
    for (size_t w0 = lo; w0 < hi; w0 += PRG_WORDS) {
        size_t nw = hi - w0 < PRG_WORDS ? hi - w0 : PRG_WORDS;
        crypto_stream_chacha20_ietf_xor_ic(buf, zeros, 4 * nw, nonce, (uint32_t)(w0 / 16), key);
        uint32_t *a = acc + w0;
        if (negate)
            for (size_t j = 0; j < nw; j++) a[j] -= get32(buf + 4 * j);
        else
            for (size_t j = 0; j < nw; j++) a[j] += get32(buf + 4 * j);
    }
}

/* ---- quantisation ------------------------------------------------------------------------- */

void sa_quantize(const sa_params *p, uint64_t seed, uint64_t round, int client, const float *x,
                 size_t dim, uint32_t *q)
{
    rng_t g;
    rng_init(&g, seed, RNG_SECAGG, SA_ENTITY_QUANT + (uint64_t)client, round);
    double scale = ldexp(1.0, p->scale_bits), lim = p->clip;
    for (size_t k = 0; k < dim; k++) {
        double v = x[k];
        if (isnan(v)) v = 0;
        v = (v < -lim ? -lim : v > lim ? lim : v) * scale;
        int64_t iv;
        if (p->rounding == SA_ROUND_STOCHASTIC) {
            double fl = floor(v), u = rng_uniform(&g);
            iv = (int64_t)fl + (u < v - fl);
        } else {
            iv = (int64_t)llround(v);
        }
        q[k] = (uint32_t)(uint64_t)iv; /* two's complement wrap mod 2^32 */
    }
}

/* ---- rounds 0 and 1 ------------------------------------------------------------------------ */

/* KEY secret bytes for client c: from its keyed stream, or from the system's CSPRNG with
 * privacy.secagg_randomness: system. */
static void secret_bytes(const sa_round *r, struct sa_client *c, uint8_t *out)
{
    if (r->p.system_random)
        randombytes_buf(out, KEY);
    else
        draw_bytes(&c->rng, out, KEY);
}

/* Round 0 for client i: two X25519 key pairs from 32-byte seeds drawn from its stream. */
static int client_advertise(sa_round *r, int i)
{
    double t0 = cpu_now();
    struct sa_client *c = &r->cl[i];
    rng_init(&c->rng, r->seed, RNG_SECAGG, (uint64_t)i, r->round);
    uint8_t ks[KEY];
    secret_bytes(r, c, ks);
    int rc = crypto_kx_seed_keypair(r->c_pk + (size_t)i * KEY, c->c_sk, ks);
    secret_bytes(r, c, ks);
    rc |= crypto_kx_seed_keypair(r->s_pk + (size_t)i * KEY, c->s_sk, ks);
    sodium_memzero(ks, KEY);
    sa_cost *cs = &r->cost[i];
    cs->keygens += 2;
    cs->bytes_up[SA_PHASE_ADVERTISE] += ADV_WIRE;
    cs->cpu_s[SA_PHASE_ADVERTISE] += cpu_now() - t0;
    return rc;
}

/* Round 1 for client i: draw b_i, Shamir-share (s_i^SK, b_i) t-of-(deg+1) among its
 * neighbours and itself (x = client id + 1), encrypt each neighbour's share under the
 * crypto_kx channel key from the c-keys (Bonawitz et al. Fig. 4, ShareKeys). */
static int client_share(sa_round *r, int i, uint64_t *xs, uint64_t *shares)
{
    double t0 = cpu_now();
    struct sa_client *c = &r->cl[i];
    sa_cost *cs = &r->cost[i];
    int d = r->deg, rc = 0;
    secret_bytes(r, c, c->b);
    uint64_t secret[SHARE_ELEMS];
    sh_pack_bytes(c->s_sk, KEY, secret);
    sh_pack_bytes(c->b, KEY, secret + SECRET_ELEMS);
    for (int s = 0; s < d; s++) xs[s] = (uint64_t)nb(r, i, s) + 1;
    xs[d] = (uint64_t)i + 1;
    if (r->p.system_random)
        rc |= sh_split_system(secret, SHARE_ELEMS, r->t, d + 1, xs, shares);
    else
        sh_split(secret, SHARE_ELEMS, r->t, d + 1, xs, &c->rng, shares);
    cs->shamir_elems += (uint64_t)SHARE_ELEMS * (uint64_t)(d + 1);
    memcpy(c->own_share, shares + (size_t)d * SHARE_ELEMS, sizeof c->own_share);
    const uint8_t *my_pk = r->c_pk + (size_t)i * KEY;
    for (int s = 0; s < d; s++) {
        int j = nb(r, i, s);
        if (!r->adv[j]) continue;
        size_t slot = (size_t)i * d + (size_t)s;
        uint8_t tx[KEY], pt[PT_BYTES], ad[AD_BYTES];
        rc |= kx_keys(i, j, my_pk, c->c_sk, r->c_pk + (size_t)j * KEY, r->rx + slot * KEY, tx);
        cs->key_agreements++;
        put32(pt, (uint32_t)i);
        put32(pt + 4, (uint32_t)j);
        for (int e = 0; e < SHARE_ELEMS; e++) {
            uint64_t v = shares[(size_t)s * SHARE_ELEMS + e];
            put32(pt + 8 + 8 * e, (uint32_t)v);
            put32(pt + 12 + 8 * e, (uint32_t)(v >> 32));
        }
        make_ad(ad, r->round, i, j);
        static const uint8_t nonce[crypto_aead_chacha20poly1305_ietf_NPUBBYTES];
        rc |= crypto_aead_chacha20poly1305_ietf_encrypt(r->ct + slot * CT_BYTES, NULL, pt, PT_BYTES,
                                                        ad, AD_BYTES, NULL, nonce, tx);
        sodium_memzero(tx, KEY);
        sodium_memzero(pt, PT_BYTES);
        r->ct_ok[slot] = 1;
        cs->aead_ops++;
        cs->bytes_up[SA_PHASE_SHARE] += CT_WIRE;
    }
    sodium_memzero(secret, sizeof secret);
    cs->cpu_s[SA_PHASE_SHARE] += cpu_now() - t0;
    return rc;
}

fs_err sa_round_setup(sa_round *r, const uint8_t *present, sa_status *status)
{
    *status = SA_OK;
    fs_err e = check_state(r, RD_NEW, "sa_round_setup");
    if (e) return e;
    int n = r->n, d = r->deg, bad = -1;
    for (int i = 0; i < n; i++) r->adv[i] = present ? present[i] != 0 : 1;

    /* Round 0: AdvertiseKeys. */
    SA_OMP("omp parallel for schedule(dynamic, 16)")
    for (int i = 0; i < n; i++)
        if (r->adv[i] && client_advertise(r, i) != 0) {
            SA_OMP("omp critical(sa_bad)")
            bad = i;
        }
    if (bad >= 0) return fs_error(FS_EINTERNAL, "secagg: key generation failed (client %d)", bad);

    /* Server: collect public keys, send each client its online neighbours' keys. */
    double t0 = cpu_now();
    r->n_adv = 0;
    int worst = -1, worst_h = d + 1;
    for (int i = 0; i < n; i++) {
        if (!r->adv[i]) continue;
        r->n_adv++;
        int on = 0;
        for (int s = 0; s < d; s++) on += r->adv[nb(r, i, s)];
        r->cost[i].bytes_down[SA_PHASE_ADVERTISE] += (uint64_t)on * ADV_WIRE;
        r->srv.bytes_down[SA_PHASE_ADVERTISE] += ADV_WIRE;
        r->srv.bytes_up[SA_PHASE_ADVERTISE] += (uint64_t)on * ADV_WIRE;
        if (on + 1 < worst_h) worst_h = on + 1, worst = i;
    }
    r->srv.cpu_s[SA_PHASE_ADVERTISE] += cpu_now() - t0;
    if (r->n_adv < r->t) {
        round_abort(r, SA_ABORT_FEW_SHARED, status, "%d clients advertised keys, threshold t = %d",
                    r->n_adv, r->t);
        return FS_OK;
    }
    if (worst >= 0 && worst_h < r->t) {
        round_abort(r, SA_ABORT_FEW_HOLDERS, status,
                    "client %d has %d online share holders (itself included), threshold t = %d",
                    worst, worst_h, r->t);
        return FS_OK;
    }

    /* Round 1: ShareKeys. Scratch per thread: holder x's and shares. */
    fs_err alloc_err = FS_OK;
    SA_OMP("omp parallel")
    {
        uint64_t *xs = malloc(sizeof *xs * (size_t)(d + 1));
        uint64_t *sh = malloc(sizeof *sh * (size_t)(d + 1) * SHARE_ELEMS);
        if (!xs || !sh) {
            SA_OMP("omp critical(sa_bad)")
            alloc_err = FS_ENOMEM;
        }
        SA_OMP("omp for schedule(dynamic, 4)")
        for (int i = 0; i < n; i++) {
            if (!r->adv[i] || !xs || !sh) continue;
            if (client_share(r, i, xs, sh) != 0) {
                SA_OMP("omp critical(sa_bad)")
                bad = i;
            }
        }
        if (sh) sodium_memzero(sh, sizeof *sh * (size_t)(d + 1) * SHARE_ELEMS);
        free(xs);
        free(sh);
    }
    if (alloc_err) return fs_error(FS_ENOMEM, "secagg: out of memory for share scratch");
    if (bad >= 0) return fs_error(FS_EINTERNAL, "secagg: share encryption failed (client %d)", bad);

    /* Server: U2 = clients whose ciphertexts arrived; forward each holder its ciphertexts. */
    t0 = cpu_now();
    r->n_shared = 0;
    for (int i = 0; i < n; i++) {
        if (!r->adv[i]) continue;
        r->shared[i] = 1;
        r->cl[i].phase = CL_SHARED;
        r->n_shared++;
        uint64_t in = 0;
        for (int s = 0; s < d; s++) in += r->ct_ok[(size_t)nb(r, i, s) * d + rev_slot(r, i, s)];
        r->cost[i].bytes_down[SA_PHASE_SHARE] += in * CT_WIRE;
        r->srv.bytes_down[SA_PHASE_SHARE] += r->cost[i].bytes_up[SA_PHASE_SHARE];
        r->srv.bytes_up[SA_PHASE_SHARE] += in * CT_WIRE;
    }
    r->srv.cpu_s[SA_PHASE_SHARE] += cpu_now() - t0;
    r->state = RD_KEYED;
    return FS_OK;
}

/* ---- round 2 ------------------------------------------------------------------------------ */

fs_err sa_client_mask(sa_round *r, int client, const float *x, sa_masked_input **out)
{
    *out = NULL;
    fs_err e = check_state(r, RD_KEYED, "sa_client_mask");
    if (e) return e;
    if (client < 0 || client >= r->n || r->cl[client].phase != CL_SHARED)
        return fs_error(FS_EINPUT, "secagg: client %d cannot mask (not in U2 or already masked)",
                        client);
    sa_masked_input *m = FS_CALLOC(1, sizeof *m + sizeof(uint32_t) * r->dim);
    if (!m) return FS_ENOMEM;
    m->from = r;
    m->client = client;
    m->dim = r->dim;

    double t0 = cpu_now();
    struct sa_client *c = &r->cl[client];
    sa_cost *cs = &r->cost[client];
    /* y_i = x_i + PRG(b_i) + sum_{j in U2, i<j} PRG(s_ij) - sum_{j in U2, i>j} PRG(s_ij)
     * (Bonawitz et al. 2017, Fig. 4, MaskedInputCollection; sum over neighbours for SecAgg+). */
    sa_quantize(&r->p, r->seed, r->round, client, x, r->dim, m->w);
    prg_add(m->w, 0, r->dim, c->b, 0);
    cs->prg_bytes += 4 * (uint64_t)r->dim;
    const uint8_t *my_pk = r->s_pk + (size_t)client * KEY;
    int rc = 0;
    for (int s = 0; s < r->deg; s++) {
        int j = nb(r, client, s);
        if (!r->shared[j]) continue;
        uint8_t seed[KEY];
        rc |= pair_seed(client, j, my_pk, c->s_sk, r->s_pk + (size_t)j * KEY, seed);
        cs->key_agreements++;
        prg_add(m->w, 0, r->dim, seed, client > j);
        cs->prg_bytes += 4 * (uint64_t)r->dim;
        sodium_memzero(seed, KEY);
    }
    c->phase = CL_MASKED;
    cs->bytes_up[SA_PHASE_MASK] += ID_WIRE + 4 * (uint64_t)r->dim;
    cs->cpu_s[SA_PHASE_MASK] += cpu_now() - t0;
    if (rc) {
        free(m);
        return fs_error(FS_EINTERNAL, "secagg: key agreement failed (client %d)", client);
    }
    *out = m;
    return FS_OK;
}

const uint32_t *sa_masked_words(const sa_masked_input *m, size_t *dim)
{
    *dim = m->dim;
    return m->w;
}

void sa_masked_input_free(sa_masked_input *m)
{
    free(m);
}

fs_err sa_server_collect(sa_round *r, sa_masked_input *m)
{
    fs_err e = check_state(r, RD_KEYED, "sa_server_collect");
    if (!e && (m->from != r || r->masked[m->client] || !r->shared[m->client]))
        e = fs_error(FS_EINPUT, "secagg: masked input of client %d not acceptable", m->client);
    if (e) {
        free(m);
        return e;
    }
    double t0 = cpu_now();
    for (size_t k = 0; k < r->dim; k++) r->acc[k] += m->w[k];
    r->masked[m->client] = 1;
    r->n_masked++;
    r->srv.bytes_down[SA_PHASE_MASK] += ID_WIRE + 4 * (uint64_t)r->dim;
    r->srv.cpu_s[SA_PHASE_MASK] += cpu_now() - t0;
    free(m);
    return FS_OK;
}

fs_err sa_server_close(sa_round *r, sa_status *status)
{
    *status = SA_OK;
    fs_err e = check_state(r, RD_KEYED, "sa_server_close");
    if (e) return e;
    if (r->n_masked < r->t) {
        round_abort(r, SA_ABORT_FEW_MASKED, status, "%d masked inputs arrived, threshold t = %d",
                    r->n_masked, r->t);
        return FS_OK;
    }
    /* Send each survivor the ids of its neighbours in U3. */
    for (int i = 0; i < r->n; i++) {
        if (!r->masked[i]) continue;
        uint64_t on = 0;
        for (int s = 0; s < r->deg; s++) on += r->masked[nb(r, i, s)];
        r->cost[i].bytes_down[SA_PHASE_UNMASK] += on * ID_WIRE;
        r->srv.bytes_up[SA_PHASE_UNMASK] += on * ID_WIRE;
    }
    r->state = RD_CLOSED;
    return FS_OK;
}

/* ---- round 3 ------------------------------------------------------------------------------ */

fs_err sa_client_unmask(sa_round *r, int client, sa_unmask_msg **out)
{
    *out = NULL;
    fs_err e = check_state(r, RD_CLOSED, "sa_client_unmask");
    if (e) return e;
    if (client < 0 || client >= r->n || !r->masked[client] || r->cl[client].phase != CL_MASKED)
        return fs_error(FS_EINPUT, "secagg: client %d cannot unmask (not in U3 or answered)",
                        client);
    int d = r->deg, count = 1;
    for (int s = 0; s < d; s++) count += r->shared[nb(r, client, s)];
    sa_unmask_msg *m = FS_CALLOC(1, sizeof *m + sizeof(struct sa_unmask_entry) * (size_t)count);
    if (!m) return FS_ENOMEM;
    m->from = r;
    m->client = client;

    double t0 = cpu_now();
    struct sa_client *c = &r->cl[client];
    sa_cost *cs = &r->cost[client];
    int rc = 0, k = 0;
    for (int s = 0; s < d; s++) {
        int j = nb(r, client, s);
        if (!r->shared[j]) continue;
        size_t slot = (size_t)j * d + (size_t)rev_slot(r, client, s);
        uint8_t pt[PT_BYTES], ad[AD_BYTES];
        static const uint8_t nonce[crypto_aead_chacha20poly1305_ietf_NPUBBYTES];
        make_ad(ad, r->round, j, client);
        if (!r->ct_ok[slot] ||
            crypto_aead_chacha20poly1305_ietf_decrypt(
                pt, NULL, NULL, r->ct + slot * CT_BYTES, CT_BYTES, ad, AD_BYTES, nonce,
                r->rx + ((size_t)client * d + s) * KEY) != 0 ||
            get32(pt) != (uint32_t)j || get32(pt + 4) != (uint32_t)client) {
            rc = -1;
            continue;
        }
        cs->aead_ops++;
        /* Reveal b_j's share if j's masked input arrived, else s_j^SK's: never both. */
        int off = r->masked[j] ? SECRET_ELEMS : 0;
        m->ent[k].owner = j;
        for (int q = 0; q < SECRET_ELEMS; q++) {
            const uint8_t *p = pt + 8 + 8 * (off + q);
            m->ent[k].e[q] = (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32;
        }
        k++;
        sodium_memzero(pt, PT_BYTES);
    }
    m->ent[k].owner = client;
    memcpy(m->ent[k].e, c->own_share + SECRET_ELEMS, sizeof m->ent[k].e);
    k++;
    m->count = k;
    c->phase = CL_RESPONDED;
    cs->bytes_up[SA_PHASE_UNMASK] += ID_WIRE + (uint64_t)k * USHARE_WIRE;
    cs->cpu_s[SA_PHASE_UNMASK] += cpu_now() - t0;
    if (rc) {
        free(m);
        return fs_error(FS_EINTERNAL, "secagg: client %d could not decrypt a share", client);
    }
    *out = m;
    return FS_OK;
}

void sa_unmask_msg_free(sa_unmask_msg *m)
{
    free(m);
}

fs_err sa_server_receive(sa_round *r, sa_unmask_msg *m)
{
    fs_err e = check_state(r, RD_CLOSED, "sa_server_receive");
    if (!e && (m->from != r || r->responded[m->client] || !r->masked[m->client]))
        e = fs_error(FS_EINPUT, "secagg: unmasking shares of client %d not acceptable", m->client);
    if (e) {
        free(m);
        return e;
    }
    double t0 = cpu_now();
    int d = r->deg, sender = m->client;
    for (int k = 0; k < m->count; k++) {
        int o = m->ent[k].owner;
        if (o < 0 || o >= r->n || !r->shared[o] || holder_slot(r, o, sender) < 0) {
            free(m);
            return fs_error(FS_EINPUT, "secagg: client %d sent a share it cannot hold", sender);
        }
    }
    for (int k = 0; k < m->count; k++) {
        int o = m->ent[k].owner;
        size_t at = (size_t)o * (d + 1) + (size_t)holder_slot(r, o, sender);
        memcpy(r->ushare + at * SECRET_ELEMS, m->ent[k].e, sizeof m->ent[k].e);
        r->uhave[at] = 1;
    }
    r->responded[m->client] = 1;
    r->n_responded++;
    r->srv.bytes_down[SA_PHASE_UNMASK] += ID_WIRE + (uint64_t)m->count * USHARE_WIRE;
    r->srv.cpu_s[SA_PHASE_UNMASK] += cpu_now() - t0;
    free(m);
    return FS_OK;
}

/* A mask the server removes: the PRG seed and whether to subtract it. */
struct unmask_key {
    uint8_t key[KEY];
    int negate;
};

/* Reconstruct owner o's secret from its first t shares; caches the Lagrange coefficients for
 * the last holder set (with the complete graph and no dropouts every owner uses the same). */
static int reconstruct(sa_round *r, int o, uint64_t *xs, uint64_t *xs_cache, uint64_t *lambda,
                       int *have_cache, uint64_t *gathered, uint8_t secret[KEY])
{
    int d = r->deg, k = 0;
    for (int h = 0; h <= d && k < r->t; h++) {
        size_t at = (size_t)o * (d + 1) + (size_t)h;
        if (!r->uhave[at]) continue;
        xs[k] = (uint64_t)(h == d ? o : nb(r, o, h)) + 1;
        memcpy(gathered + (size_t)k * SECRET_ELEMS, r->ushare + at * SECRET_ELEMS,
               8 * SECRET_ELEMS);
        k++;
    }
    if (!*have_cache || memcmp(xs, xs_cache, sizeof *xs * (size_t)k) != 0) {
        if (sh_lagrange0(xs, k, lambda) != 0) return -1;
        memcpy(xs_cache, xs, sizeof *xs * (size_t)k);
        *have_cache = 1;
    }
    uint64_t el[SECRET_ELEMS];
    sh_combine(lambda, gathered, k, SECRET_ELEMS, el);
    for (int q = 0; q < SECRET_ELEMS; q++)
        if (el[q] >> (8 * SH_CHUNK)) return -1; /* not a packed byte string: wrong shares */
    sh_unpack_bytes(el, KEY, secret);
    r->srv.shamir_elems += (uint64_t)k * SECRET_ELEMS;
    return 0;
}

fs_err sa_server_unmask(sa_round *r, float *sum, uint32_t *qsum, sa_status *status)
{
    *status = SA_OK;
    fs_err e = check_state(r, RD_CLOSED, "sa_server_unmask");
    if (e) return e;
    if (r->n_responded < r->t) {
        round_abort(r, SA_ABORT_FEW_RESPONSES, status,
                    "%d clients sent unmasking shares, threshold t = %d", r->n_responded, r->t);
        return FS_OK;
    }
    int n = r->n, d = r->deg;
    double t0 = cpu_now();
    size_t n_keys = 0;
    for (int o = 0; o < n; o++) {
        if (!r->shared[o]) continue;
        int have = 0;
        for (int h = 0; h <= d; h++) have += r->uhave[(size_t)o * (d + 1) + (size_t)h];
        if (have < r->t) {
            round_abort(r, SA_ABORT_FEW_SHARES, status,
                        "client %d: %d shares of its %s arrived, threshold t = %d", o, have,
                        r->masked[o] ? "self-mask seed b" : "mask key s^SK", r->t);
            r->srv.cpu_s[SA_PHASE_UNMASK] += cpu_now() - t0;
            return FS_OK;
        }
        if (r->masked[o])
            n_keys++;
        else
            for (int s = 0; s < d; s++) n_keys += r->masked[nb(r, o, s)];
    }

    struct unmask_key *keys = FS_CALLOC(n_keys + 1, sizeof *keys);
    uint64_t *xs = FS_CALLOC((size_t)d + 1, sizeof *xs);
    uint64_t *xs_cache = FS_CALLOC((size_t)d + 1, sizeof *xs_cache);
    uint64_t *lambda = FS_CALLOC((size_t)d + 1, sizeof *lambda);
    uint64_t *gathered = FS_CALLOC((size_t)(d + 1) * SECRET_ELEMS, sizeof *gathered);
    fs_err err = FS_OK;
    if (!keys || !xs || !xs_cache || !lambda || !gathered) err = FS_ENOMEM;

    /* Reconstruct b_o for o in U3 and s_o^SK for o in U2 \ U3; for the latter recompute the
     * pairwise seeds with o's surviving neighbours (Bonawitz et al. 2017, Fig. 4, Unmasking). */
    size_t nk = 0;
    int have_cache = 0;
    for (int o = 0; o < n && !err && *status == SA_OK; o++) {
        if (!r->shared[o]) continue;
        uint8_t secret[KEY];
        if (reconstruct(r, o, xs, xs_cache, lambda, &have_cache, gathered, secret) != 0) {
            round_abort(r, SA_ABORT_BAD_KEY, status, "client %d: shares do not interpolate", o);
            break;
        }
        if (r->masked[o]) {
            memcpy(keys[nk].key, secret, KEY);
            keys[nk++].negate = 1;
        } else {
            uint8_t pk[KEY];
            const uint8_t *spk = r->s_pk + (size_t)o * KEY;
            if (crypto_scalarmult_base(pk, secret) != 0 || sodium_memcmp(pk, spk, KEY) != 0) {
                round_abort(r, SA_ABORT_BAD_KEY, status,
                            "client %d: reconstructed s^SK does not match s^PK", o);
                break;
            }
            r->srv.keygens++;
            for (int s = 0; s < d; s++) {
                int j = nb(r, o, s);
                if (!r->masked[j]) continue;
                if (pair_seed(o, j, spk, secret, r->s_pk + (size_t)j * KEY, keys[nk].key) != 0)
                    err = fs_error(FS_EINTERNAL, "secagg: key agreement failed (client %d)", o);
                r->srv.key_agreements++;
                keys[nk++].negate = j < o; /* j added +PRG(s_jo) iff j < o */
            }
        }
        sodium_memzero(secret, KEY);
    }
    r->srv.cpu_s[SA_PHASE_UNMASK] += cpu_now() - t0;

    if (!err && *status == SA_OK) {
        /* Remove the masks: static split of the vector into PRG chunks across threads; the
         * modular sum does not depend on the split. CPU is summed over threads. */
        size_t n_chunks = (r->dim + PRG_WORDS - 1) / PRG_WORDS;
        double cpu = 0;
        SA_OMP("omp parallel reduction(+ : cpu)")
        {
            double c0 = cpu_now();
            SA_OMP("omp for schedule(static) nowait")
            for (size_t ch = 0; ch < n_chunks; ch++) {
                size_t lo = ch * PRG_WORDS, hi = lo + PRG_WORDS < r->dim ? lo + PRG_WORDS : r->dim;
                for (size_t q = 0; q < nk; q++)
                    prg_add(r->acc, lo, hi, keys[q].key, keys[q].negate);
            }
            cpu += cpu_now() - c0;
        }
        r->srv.prg_bytes += 4 * (uint64_t)r->dim * nk;
        double t1 = cpu_now();
        double inv = ldexp(1.0, -r->p.scale_bits);
        for (size_t k = 0; k < r->dim; k++) {
            uint32_t w = r->acc[k];
            if (qsum) qsum[k] = w;
            if (sum)
                sum[k] =
                    (float)((double)(w >= 0x80000000u ? (int64_t)w - 0x100000000LL : (int64_t)w) *
                            inv);
        }
        r->srv.cpu_s[SA_PHASE_UNMASK] += cpu + (cpu_now() - t1);
        r->state = RD_DONE;
    }
    if (keys) sodium_memzero(keys, sizeof *keys * (n_keys + 1));
    free(keys);
    free(xs);
    free(xs_cache);
    free(lambda);
    free(gathered);
    return err;
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

/* ---- bench -------------------------------------------------------------------------------- */

/* Per-operation CPU costs on this host, measured with the same code the protocol runs. */
struct bench_units {
    double keygen, kx, aead;         /* seconds per operation */
    double prg[3], quant[3], add[3]; /* seconds per vector of dim 1e4, 1e5, 1e6 */
};

static double bench_prg(size_t dim)
{
    uint32_t *buf = FS_ALIGNED(dim, sizeof *buf);
    if (!buf) return NAN;
    uint8_t key[KEY] = {7};
    int reps = 0;
    double t0 = cpu_now(), el;
    do {
        prg_add(buf, 0, dim, key, reps & 1);
        reps++;
    } while ((el = cpu_now() - t0) < 0.05);
    free(buf);
    return el / reps;
}

/* Seconds to quantise dim floats (*quant) and to add dim words into a sum (*add). */
static void bench_quant_add(const sa_params *p, size_t dim, double *quant, double *add)
{
    float *x = FS_ALIGNED(dim, sizeof *x);
    uint32_t *q = FS_ALIGNED(dim, sizeof *q), *acc = FS_ALIGNED(dim, sizeof *acc);
    *quant = *add = NAN;
    if (x && q && acc) {
        int reps = 0;
        double t0 = cpu_now(), el;
        do {
            sa_quantize(p, 1, 1, reps, x, dim, q);
            reps++;
        } while ((el = cpu_now() - t0) < 0.05);
        *quant = el / reps;
        reps = 0;
        t0 = cpu_now();
        do {
            for (size_t k = 0; k < dim; k++) acc[k] += q[k];
            reps++;
        } while ((el = cpu_now() - t0) < 0.05);
        *add = el / reps;
    }
    free(x);
    free(q);
    free(acc);
}

static void bench_units(struct bench_units *u)
{
    uint8_t seed[KEY] = {1}, pk[2][KEY], sk[2][KEY], rx[KEY], tx[KEY];
    enum { R = 200 };
    double t0 = cpu_now();
    for (int i = 0; i < R; i++) {
        seed[0] = (uint8_t)i;
        (void)crypto_kx_seed_keypair(pk[i & 1], sk[i & 1], seed);
    }
    u->keygen = (cpu_now() - t0) / R;
    t0 = cpu_now();
    for (int i = 0; i < R; i++)
        (void)kx_keys(i & 1, !(i & 1), pk[i & 1], sk[i & 1], pk[!(i & 1)], rx, tx);
    u->kx = (cpu_now() - t0) / R;
    uint8_t pt[PT_BYTES] = {0}, ct[CT_BYTES], ad[AD_BYTES] = {0};
    static const uint8_t nonce[crypto_aead_chacha20poly1305_ietf_NPUBBYTES];
    t0 = cpu_now();
    for (int i = 0; i < 20 * R; i++)
        (void)crypto_aead_chacha20poly1305_ietf_encrypt(ct, NULL, pt, PT_BYTES, ad, AD_BYTES, NULL,
                                                        nonce, tx);
    u->aead = (cpu_now() - t0) / (20 * R);
}

/* Shamir costs for one configuration: split of (s^SK, b) among h holders with threshold t,
 * Lagrange coefficients for t points, one combine of a 5-element secret. */
static void bench_shamir(int t, int h, double *split, double *lag, double *comb)
{
    uint64_t *xs = FS_CALLOC((size_t)h, sizeof *xs), *sh = FS_CALLOC((size_t)h * SHARE_ELEMS, 8);
    uint64_t *lam = FS_CALLOC((size_t)h, sizeof *lam), sec[SHARE_ELEMS] = {3};
    if (!xs || !sh || !lam) {
        *split = *lag = *comb = NAN;
        free(xs);
        free(sh);
        free(lam);
        return;
    }
    for (int i = 0; i < h; i++) xs[i] = (uint64_t)i + 1;
    rng_t g;
    rng_init(&g, 1, RNG_SECAGG, 0, 0);
    int reps = 0;
    double t0 = cpu_now(), el;
    do {
        sh_split(sec, SHARE_ELEMS, t, h, xs, &g, sh);
        reps++;
    } while ((el = cpu_now() - t0) < 0.02);
    *split = el / reps;
    reps = 0;
    t0 = cpu_now();
    do {
        (void)sh_lagrange0(xs, t, lam);
        reps++;
    } while ((el = cpu_now() - t0) < 0.02);
    *lag = el / reps;
    reps = 0;
    t0 = cpu_now();
    do {
        sh_combine(lam, sh, t, SECRET_ELEMS, sec);
        reps++;
    } while ((el = cpu_now() - t0) < 0.01);
    *comb = el / reps;
    free(xs);
    free(sh);
    free(lam);
}

/* One bench row: the model always; a full real round too when it fits the CPU budget. */
struct bench_row {
    int n, complete, di, drop; /* drop: 10% of clients drop before masking */
};

static const size_t bench_dims[3] = {10000, 100000, 1000000};
#define BENCH_BUDGET 16.0 /* CPU seconds a full real round may take */

/* A full real round; fills mean client CPU (s), server CPU (s) and mean bytes up of the clients
 * that masked. Returns 0 on success. */
static int bench_full(const sa_params *q, int n, size_t dim, int n_drop, double *c_s, double *s_s,
                      double *up)
{
    sa_round *r = NULL;
    float *x = FS_ALIGNED(dim, sizeof *x);
    const float **xs = FS_CALLOC((size_t)n, sizeof *xs);
    sa_status st = SA_OK;
    fs_err e = x && xs ? sa_round_new(q, n, dim, 42, 1, &r) : FS_ENOMEM;
    if (!e) {
        for (size_t k = 0; k < dim; k++) x[k] = (float)((double)(k % 200) * 0.01 - 1.0);
        for (int i = 0; i < n; i++) xs[i] = i < n_drop ? NULL : x; /* graph order is random */
        e = sa_round_run(r, NULL, xs, NULL, NULL, NULL, &st);
    }
    if (!e && st == SA_OK) {
        double cc = 0, ub = 0, sc = 0;
        for (int i = n_drop; i < n; i++)
            for (int ph = 0; ph < SA_NPHASE; ph++) {
                cc += sa_client_cost(r, i)->cpu_s[ph];
                ub += (double)sa_client_cost(r, i)->bytes_up[ph];
            }
        for (int ph = 0; ph < SA_NPHASE; ph++) sc += sa_server_cost(r)->cpu_s[ph];
        *c_s = cc / (n - n_drop);
        *s_s = sc;
        *up = ub / (n - n_drop);
    }
    sa_round_free(r);
    free(x);
    free(xs);
    return e || st != SA_OK;
}

static void bench_print_row(FILE *out, const struct bench_units *u, const sa_params *p,
                            struct bench_row w)
{
    int n = w.n, di = w.di;
    size_t dim = bench_dims[di];
    int deg = w.complete ? n - 1 : sa_plus_degree(n);
    int h = deg + 1, t = w.complete ? (int)ceil(2.0 / 3.0 * h) : h / 2 + 1;
    int n_drop = w.drop ? n / 10 : 0, n_in = n - n_drop;
    double split, lag, comb;
    bench_shamir(t, h, &split, &lag, &comb);
    /* Client: 2 keygens; ShareKeys: deg agreements + deg AEAD + one split; masking: quantise,
     * deg agreements, deg + 1 PRG expansions; Unmasking: deg AEAD decryptions. */
    double m_client = 2 * u->keygen + deg * (2 * u->kx + 2 * u->aead) + split + u->quant[di] +
                      (deg + 1) * u->prg[di];
    /* Server: collect n_in vectors; one reconstruction per U2 owner (Lagrange coefficients once
     * when every owner has the same holder set); remove n_in self masks; per dropped owner a
     * public-key check and the pairwise seeds with its surviving neighbours. */
    double surv_nb = (double)deg * n_in / n;
    double m_server = n_in * u->add[di] + (w.complete && !w.drop ? lag : n * lag) + n * comb +
                      n_in * u->prg[di] + n_drop * (u->keygen + surv_nb * (u->kx + u->prg[di]));
    double up = ADV_WIRE + (double)deg * CT_WIRE + ID_WIRE + 4.0 * (double)dim + ID_WIRE +
                (double)h * USHARE_WIRE;
    double c_s = NAN, s_s = NAN;
    const char *method = "model";
    if (n * m_client + m_server <= BENCH_BUDGET) {
        sa_params q = *p;
        q.neighbours = w.complete ? 0 : deg;
        q.threshold = t;
        method =
            bench_full(&q, n, dim, n_drop, &c_s, &s_s, &up) ? "model (run aborted)" : "measured";
    }
    char cbuf[32] = "-", sbuf[32] = "-";
    if (!isnan(c_s)) snprintf(cbuf, sizeof cbuf, "%.2f", 1e3 * c_s);
    if (!isnan(s_s)) snprintf(sbuf, sizeof sbuf, "%.1f", 1e3 * s_s);
    fprintf(out, "%6d %-9s %5d %4d %8.0e %5d%%  %10s %10.2f  %10s %10.1f  %12.1f  %s\n", n,
            w.complete ? "complete" : "secagg+", deg, t, (double)dim, w.drop ? 10 : 0, cbuf,
            1e3 * m_client, sbuf, 1e3 * m_server, up / 1024.0, method);
    fflush(out);
}

void sa_bench(FILE *out)
{
    if (sodium_init() < 0) {
        fprintf(out, "secagg bench: libsodium failed to initialise\n");
        return;
    }
    struct bench_units u;
    bench_units(&u);
    sa_params p;
    sa_params_default(&p);
    for (int di = 0; di < 3; di++) {
        u.prg[di] = bench_prg(bench_dims[di]);
        bench_quant_add(&p, bench_dims[di], &u.quant[di], &u.add[di]);
    }
    int threads = 1;
#ifdef _OPENMP
    threads = omp_get_max_threads();
#endif
    fprintf(out,
            "secagg bench: Bonawitz et al. 2017 (semi-honest) and SecAgg+ (Bell et al. 2020) "
            "with k = 2 ceil(log2 n);\n"
            "t = ceil(2n/3) for the complete graph, a strict majority of the k+1 holders for "
            "SecAgg+; f = %d, R = %g.\n"
            "Unit costs here: X25519 keygen %.1f us, key agreement %.1f us, share AEAD %.2f us, "
            "mask PRG+add %.2f GB/s (dim 1e6).\n"
            "measured = a full real round (every client, every phase; %d OpenMP threads, CPU "
            "summed over threads), model in brackets;\n"
            "model    = EXTRAPOLATED: the unit costs above x the protocol's exact operation "
            "counts, used when a full round\n"
            "           would exceed %.0f s CPU. Complete graph only for n <= 1000. drop = "
            "clients dropping before masking.\n",
            p.scale_bits, p.clip, 1e6 * u.keygen, 1e6 * u.kx, 1e6 * u.aead,
            4e-9 * (double)bench_dims[2] / u.prg[2], threads, BENCH_BUDGET);
    fprintf(out, "%6s %-9s %5s %4s %8s %6s  %10s %10s  %10s %10s  %12s  %s\n", "n", "graph", "k",
            "t", "dim", "drop", "client ms", "(model)", "server ms", "(model)", "KB up/client",
            "method");
    static const struct bench_row rows[] = {
        {100, 1, 0, 0},   {100, 1, 1, 0},   {100, 1, 1, 1},  {100, 1, 2, 0},  {100, 0, 0, 0},
        {100, 0, 1, 0},   {100, 0, 2, 0},   {1000, 1, 0, 0}, {1000, 1, 1, 0}, {1000, 1, 2, 0},
        {1000, 0, 0, 0},  {1000, 0, 0, 1},  {1000, 0, 1, 0}, {1000, 0, 2, 0}, {10000, 0, 0, 0},
        {10000, 0, 1, 0}, {10000, 0, 2, 0},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) bench_print_row(out, &u, &p, rows[i]);
}
