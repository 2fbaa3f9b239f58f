/* Diffie-Hellman PSI over ristretto255 (libsodium): hashing, blinding, double blinding and
 * the sorted intersection, with per-party cost accounting. Protocol and views in psi.h. */
#include "crypto/psi.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

static const char psi_tag[] = "fedsim-psi-v1";

struct psi_party {
    size_t n;
    uint64_t session;
    uint8_t *pts;     /* n points H(id_i), in id order */
    size_t *perm;     /* send order: message position t carries id perm[t] */
    uint8_t *msg1;    /* step 1 message (n points) */
    uint8_t *theirs2; /* step 2: the other's points doubly blinded (m points), also sent */
    size_t m;
    int blinded, doubled;
    uint8_t scalar[crypto_core_ristretto255_SCALARBYTES];
    psi_cost cost;
};

static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void le64(uint64_t v, uint8_t *b)
{
    for (int i = 0; i < 8; i++) b[i] = (uint8_t)(v >> (8 * i));
}

void psi_hash_id(uint64_t session, uint64_t id, uint8_t point[PSI_POINT_BYTES])
{
    uint8_t h[crypto_hash_sha512_BYTES], b[8];
    crypto_hash_sha512_state st;
    crypto_hash_sha512_init(&st);
    crypto_hash_sha512_update(&st, (const uint8_t *)psi_tag, sizeof psi_tag - 1);
    le64(session, b);
    crypto_hash_sha512_update(&st, b, 8);
    le64(id, b);
    crypto_hash_sha512_update(&st, b, 8);
    crypto_hash_sha512_final(&st, h);
    crypto_core_ristretto255_from_hash(point, h);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

static int cmp_point(const void *a, const void *b)
{
    return memcmp(a, b, PSI_POINT_BYTES);
}

void psi_party_free(psi_party *p)
{
    if (!p) return;
    sodium_memzero(p->scalar, sizeof p->scalar);
    free(p->pts);
    free(p->perm);
    free(p->msg1);
    free(p->theirs2);
    free(p);
}

fs_err psi_party_new(const uint64_t *ids, size_t n, uint64_t session, cr_src *rnd, psi_party **out)
{
    *out = NULL;
    if (sodium_init() < 0) return fs_error(FS_EINTERNAL, "PSI: libsodium failed to initialise");
    size_t nn = n ? n : 1;
    uint64_t *sorted = FS_CALLOC(nn, sizeof *sorted);
    psi_party *p = FS_CALLOC(1, sizeof *p);
    if (p) {
        p->pts = FS_CALLOC(nn, PSI_POINT_BYTES);
        p->perm = FS_CALLOC(nn, sizeof *p->perm);
        p->msg1 = FS_CALLOC(nn, PSI_POINT_BYTES);
    }
    if (!sorted || !p || !p->pts || !p->perm || !p->msg1) {
        free(sorted);
        psi_party_free(p);
        return FS_ENOMEM;
    }
    if (n) memcpy(sorted, ids, n * sizeof *ids);
    qsort(sorted, n, sizeof *sorted, cmp_u64);
    for (size_t i = 1; i < n; i++)
        if (sorted[i] == sorted[i - 1]) {
            uint64_t dup = sorted[i];
            free(sorted);
            psi_party_free(p);
            return fs_error(FS_EINPUT,
                            "PSI: ID %llu appears more than once in a party's list; IDs must be "
                            "unique (one row per sample)",
                            (unsigned long long)dup);
        }
    free(sorted);
    p->n = n;
    p->session = session;
    /* the secret scalar: 64 random bytes reduced mod the group order, never 0 */
    do {
        uint8_t wide[crypto_core_ristretto255_NONREDUCEDSCALARBYTES];
        cr_bytes(rnd, wide, sizeof wide);
        crypto_core_ristretto255_scalar_reduce(p->scalar, wide);
        sodium_memzero(wide, sizeof wide);
    } while (sodium_is_zero(p->scalar, sizeof p->scalar));
    /* the secret send order (Fisher-Yates) */
    for (size_t i = 0; i < n; i++) p->perm[i] = i;
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)cr_below(rnd, i);
        size_t t = p->perm[i - 1];
        p->perm[i - 1] = p->perm[j];
        p->perm[j] = t;
    }
    double cpu = 0;
#pragma omp parallel reduction(+ : cpu)
    {
        double t0 = cpu_now();
#pragma omp for schedule(static)
        for (long i = 0; i < (long)n; i++)
            psi_hash_id(session, ids[i], p->pts + (size_t)i * PSI_POINT_BYTES);
        cpu += cpu_now() - t0;
    }
    p->cost.hashes = n;
    p->cost.cpu_s = cpu;
    *out = p;
    return FS_OK;
}

size_t psi_party_size(const psi_party *p)
{
    return p->n;
}

const psi_cost *psi_party_cost(const psi_party *p)
{
    return &p->cost;
}

/* out[t] = s * in[src(t)] for t < n, src(t) = perm ? perm[t] : t; returns the first failing t
 * (invalid point or identity result), or n. */
static size_t mul_points(const uint8_t *s, const uint8_t *in, const size_t *perm, size_t n,
                         uint8_t *out, double *cpu_s)
{
    size_t bad = n;
    double cpu = 0;
#pragma omp parallel reduction(+ : cpu)
    {
        double t0 = cpu_now();
#pragma omp for schedule(static)
        for (long t = 0; t < (long)n; t++) {
            size_t src = perm ? perm[t] : (size_t)t;
            if (crypto_scalarmult_ristretto255(out + (size_t)t * PSI_POINT_BYTES, s,
                                               in + src * PSI_POINT_BYTES) != 0) {
#pragma omp critical(psi_bad_point)
                if ((size_t)t < bad) bad = (size_t)t;
            }
        }
        cpu += cpu_now() - t0;
    }
    *cpu_s += cpu;
    return bad;
}

fs_err psi_blind(psi_party *me, const uint8_t **msg_out)
{
    *msg_out = NULL;
    if (me->blinded) return fs_error(FS_EINPUT, "PSI: step 1 was already done");
    size_t bad = mul_points(me->scalar, me->pts, me->perm, me->n, me->msg1, &me->cost.cpu_s);
    if (bad < me->n) /* H(id) is the identity: probability 2^-252 */
        return fs_error(FS_EINTERNAL, "PSI: an ID hashed to the identity element");
    me->blinded = 1;
    me->cost.scalarmults += me->n;
    me->cost.bytes_sent += PSI_HEADER_BYTES + (uint64_t)me->n * PSI_POINT_BYTES;
    me->cost.msgs_sent++;
    *msg_out = me->msg1;
    return FS_OK;
}

fs_err psi_double_blind(psi_party *me, const uint8_t *theirs, size_t m, const uint8_t **msg_out)
{
    *msg_out = NULL;
    if (me->doubled) return fs_error(FS_EINPUT, "PSI: step 2 was already done");
    uint8_t *out = FS_CALLOC(m ? m : 1, PSI_POINT_BYTES);
    if (!out) return FS_ENOMEM;
    me->cost.bytes_received += PSI_HEADER_BYTES + (uint64_t)m * PSI_POINT_BYTES;
    size_t bad = mul_points(me->scalar, theirs, NULL, m, out, &me->cost.cpu_s);
    if (bad < m) {
        free(out);
        return fs_error(FS_EDATA, "PSI: received point %zu is not a valid ristretto255 element",
                        bad);
    }
    me->theirs2 = out;
    me->m = m;
    me->doubled = 1;
    me->cost.scalarmults += m;
    me->cost.bytes_sent += PSI_HEADER_BYTES + (uint64_t)m * PSI_POINT_BYTES;
    me->cost.msgs_sent++;
    *msg_out = out;
    return FS_OK;
}

/* A common ID: its doubly blinded point (the canonical sort key) and own index. */
typedef struct psi_hit {
    uint8_t key[PSI_POINT_BYTES];
    size_t idx;
} psi_hit;

static int cmp_hit(const void *a, const void *b)
{
    return memcmp(((const psi_hit *)a)->key, ((const psi_hit *)b)->key, PSI_POINT_BYTES);
}

fs_err psi_intersect(psi_party *me, const uint8_t *reply, size_t n, size_t **idx, size_t *count)
{
    *idx = NULL;
    *count = 0;
    if (!me->blinded || !me->doubled)
        return fs_error(FS_EINPUT, "PSI: step 3 needs steps 1 and 2 first");
    if (n != me->n)
        return fs_error(FS_EDATA, "PSI: the reply has %zu points for %zu sent", n, me->n);
    me->cost.bytes_received += PSI_HEADER_BYTES + (uint64_t)n * PSI_POINT_BYTES;
    double t0 = cpu_now();
    uint8_t *theirs = FS_CALLOC(me->m ? me->m : 1, PSI_POINT_BYTES);
    psi_hit *hits = FS_CALLOC(n ? n : 1, sizeof *hits);
    if (!theirs || !hits) {
        free(theirs);
        free(hits);
        return FS_ENOMEM;
    }
    if (me->m) memcpy(theirs, me->theirs2, me->m * PSI_POINT_BYTES);
    qsort(theirs, me->m, PSI_POINT_BYTES, cmp_point);
    size_t k = 0;
    for (size_t t = 0; t < n; t++) {
        const uint8_t *pt = reply + t * PSI_POINT_BYTES;
        if (me->m && bsearch(pt, theirs, me->m, PSI_POINT_BYTES, cmp_point)) {
            memcpy(hits[k].key, pt, PSI_POINT_BYTES);
            hits[k].idx = me->perm[t];
            k++;
        }
    }
    qsort(hits, k, sizeof *hits, cmp_hit);
    size_t *res = FS_CALLOC(k ? k : 1, sizeof *res);
    if (!res) {
        free(theirs);
        free(hits);
        return FS_ENOMEM;
    }
    for (size_t i = 0; i < k; i++) res[i] = hits[i].idx;
    free(theirs);
    free(hits);
    me->cost.cpu_s += cpu_now() - t0;
    *idx = res;
    *count = k;
    return FS_OK;
}

void psi_result_free(psi_result *r)
{
    free(r->idx_a);
    free(r->idx_b);
    memset(r, 0, sizeof *r);
}

fs_err psi_run(const uint64_t *ids_a, size_t na, const uint64_t *ids_b, size_t nb, uint64_t session,
               cr_src *rnd_a, cr_src *rnd_b, psi_result *res)
{
    memset(res, 0, sizeof *res);
    psi_party *A = NULL, *B = NULL;
    const uint8_t *a1, *b1, *a2, *b2;
    size_t ca = 0, cb = 0;
    fs_err rc = psi_party_new(ids_a, na, session, rnd_a, &A);
    if (!rc) rc = psi_party_new(ids_b, nb, session, rnd_b, &B);
    if (!rc) rc = psi_blind(A, &a1);                /* round 1: A -> B */
    if (!rc) rc = psi_blind(B, &b1);                /*          B -> A */
    if (!rc) rc = psi_double_blind(B, a1, na, &b2); /* round 2: B -> A */
    if (!rc) rc = psi_double_blind(A, b1, nb, &a2); /*          A -> B */
    if (!rc) rc = psi_intersect(A, b2, na, &res->idx_a, &ca);
    if (!rc) rc = psi_intersect(B, a2, nb, &res->idx_b, &cb);
    if (!rc) {
        FS_CHECK(ca == cb);
        res->count = ca;
        res->cost[0] = A->cost;
        res->cost[1] = B->cost;
        res->rounds = 2;
    } else {
        psi_result_free(res);
    }
    psi_party_free(A);
    psi_party_free(B);
    return rc;
}
