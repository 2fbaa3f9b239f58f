/* Secure aggregation round 3 (Unmasking) and dropout recovery: each survivor decrypts the
 * shares it holds and reveals, per owner, the share of b_j (j's input arrived) or of s_j^SK
 * (j dropped), never both; the server reconstructs the secrets (Lagrange at 0, shamir.h),
 * recomputes the dropped clients' pairwise seeds, removes every mask and decodes the sum. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "privacy/secagg_impl.h"

fs_err sa_client_unmask(sa_round *r, int client, sa_unmask_msg **out)
{
    *out = NULL;
    fs_err e = sa__check_state(r, RD_CLOSED, "sa_client_unmask");
    if (e) return e;
    if (client < 0 || client >= r->n || !r->masked[client] || r->cl[client].phase != CL_MASKED)
        return fs_error(FS_EINPUT, "secagg: client %d cannot unmask (not in U3 or answered)",
                        client);
    int d = r->deg, count = 1;
    for (int s = 0; s < d; s++) count += r->shared[sa__nb(r, client, s)];
    sa_unmask_msg *m = FS_CALLOC(1, sizeof *m + sizeof(struct sa_unmask_entry) * (size_t)count);
    if (!m) return FS_ENOMEM;
    m->from = r;
    m->client = client;

    double t0 = sa__cpu_now();
    struct sa_client *c = &r->cl[client];
    sa_cost *cs = &r->cost[client];
    int rc = 0, k = 0;
    for (int s = 0; s < d; s++) {
        int j = sa__nb(r, client, s);
        if (!r->shared[j]) continue;
        size_t slot = (size_t)j * d + (size_t)sa__rev_slot(r, client, s);
        uint8_t pt[PT_BYTES], ad[AD_BYTES];
        static const uint8_t nonce[crypto_aead_chacha20poly1305_ietf_NPUBBYTES];
        sa__make_ad(ad, r->round, j, client);
        if (!r->ct_ok[slot] ||
            crypto_aead_chacha20poly1305_ietf_decrypt(
                pt, NULL, NULL, r->ct + slot * CT_BYTES, CT_BYTES, ad, AD_BYTES, nonce,
                r->rx + ((size_t)client * d + s) * KEY) != 0 ||
            sa__get32(pt) != (uint32_t)j || sa__get32(pt + 4) != (uint32_t)client) {
            rc = -1;
            continue;
        }
        cs->aead_ops++;
        /* Reveal b_j's share if j's masked input arrived, else s_j^SK's: never both. */
        int off = r->masked[j] ? SECRET_ELEMS : 0;
        m->ent[k].owner = j;
        for (int q = 0; q < SECRET_ELEMS; q++) {
            const uint8_t *p = pt + 8 + 8 * (off + q);
            m->ent[k].e[q] = (uint64_t)sa__get32(p) | (uint64_t)sa__get32(p + 4) << 32;
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
    cs->cpu_s[SA_PHASE_UNMASK] += sa__cpu_now() - t0;
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
    fs_err e = sa__check_state(r, RD_CLOSED, "sa_server_receive");
    if (!e && (m->from != r || r->responded[m->client] || !r->masked[m->client]))
        e = fs_error(FS_EINPUT, "secagg: unmasking shares of client %d not acceptable", m->client);
    if (e) {
        free(m);
        return e;
    }
    double t0 = sa__cpu_now();
    int d = r->deg, sender = m->client;
    for (int k = 0; k < m->count; k++) {
        int o = m->ent[k].owner;
        if (o < 0 || o >= r->n || !r->shared[o] || sa__holder_slot(r, o, sender) < 0) {
            free(m);
            return fs_error(FS_EINPUT, "secagg: client %d sent a share it cannot hold", sender);
        }
    }
    for (int k = 0; k < m->count; k++) {
        int o = m->ent[k].owner;
        size_t at = (size_t)o * (d + 1) + (size_t)sa__holder_slot(r, o, sender);
        memcpy(r->ushare + at * SECRET_ELEMS, m->ent[k].e, sizeof m->ent[k].e);
        r->uhave[at] = 1;
    }
    r->responded[m->client] = 1;
    r->n_responded++;
    r->srv.bytes_down[SA_PHASE_UNMASK] += ID_WIRE + (uint64_t)m->count * USHARE_WIRE;
    r->srv.cpu_s[SA_PHASE_UNMASK] += sa__cpu_now() - t0;
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
        xs[k] = (uint64_t)(h == d ? o : sa__nb(r, o, h)) + 1;
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

double sa__unmask_bytes(int n, int deg)
{
    /* sa_server_unmask's keys: b_o of each of the u clients in U3 and, per client dropped after
     * sharing, one pairwise seed per masked neighbour: at most u + (n - u) min(deg, u) */
    double keys = 0;
    for (int u = 0; u <= n; u++) {
        const double k = u + (double)(n - u) * (deg < u ? deg : u);
        if (k > keys) keys = k;
    }
    return (keys + 1) * sizeof(struct unmask_key) +
           (deg + 1.0) * (3 + SECRET_ELEMS) * sizeof(uint64_t) + /* xs, cache, lambda, gathered */
           sizeof(sa_unmask_msg) + (deg + 1.0) * sizeof(struct sa_unmask_entry); /* one message */
}

fs_err sa_server_unmask(sa_round *r, float *sum, uint32_t *qsum, sa_status *status)
{
    *status = SA_OK;
    fs_err e = sa__check_state(r, RD_CLOSED, "sa_server_unmask");
    if (e) return e;
    if (r->n_responded < r->t) {
        sa__abort(r, SA_ABORT_FEW_RESPONSES, status,
                  "%d clients sent unmasking shares, threshold t = %d", r->n_responded, r->t);
        return FS_OK;
    }
    int n = r->n, d = r->deg;
    double t0 = sa__cpu_now();
    size_t n_keys = 0;
    for (int o = 0; o < n; o++) {
        if (!r->shared[o]) continue;
        int have = 0;
        for (int h = 0; h <= d; h++) have += r->uhave[(size_t)o * (d + 1) + (size_t)h];
        if (have < r->t) {
            sa__abort(r, SA_ABORT_FEW_SHARES, status,
                      "client %d: %d shares of its %s arrived, threshold t = %d", o, have,
                      r->masked[o] ? "self-mask seed b" : "mask key s^SK", r->t);
            r->srv.cpu_s[SA_PHASE_UNMASK] += sa__cpu_now() - t0;
            return FS_OK;
        }
        if (r->masked[o])
            n_keys++;
        else
            for (int s = 0; s < d; s++) n_keys += r->masked[sa__nb(r, o, s)];
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
            sa__abort(r, SA_ABORT_BAD_KEY, status, "client %d: shares do not interpolate", o);
            break;
        }
        if (r->masked[o]) {
            memcpy(keys[nk].key, secret, KEY);
            keys[nk++].negate = 1;
        } else {
            uint8_t pk[KEY];
            const uint8_t *spk = r->s_pk + (size_t)o * KEY;
            if (crypto_scalarmult_base(pk, secret) != 0 || sodium_memcmp(pk, spk, KEY) != 0) {
                sa__abort(r, SA_ABORT_BAD_KEY, status,
                          "client %d: reconstructed s^SK does not match s^PK", o);
                break;
            }
            r->srv.keygens++;
            for (int s = 0; s < d; s++) {
                int j = sa__nb(r, o, s);
                if (!r->masked[j]) continue;
                if (sa__pair_seed(o, j, spk, secret, r->s_pk + (size_t)j * KEY, keys[nk].key) != 0)
                    err = fs_error(FS_EINTERNAL, "secagg: key agreement failed (client %d)", o);
                r->srv.key_agreements++;
                keys[nk++].negate = j < o; /* j added +PRG(s_jo) iff j < o */
            }
        }
        sodium_memzero(secret, KEY);
    }
    r->srv.cpu_s[SA_PHASE_UNMASK] += sa__cpu_now() - t0;

    if (!err && *status == SA_OK) {
        /* Remove the masks: static split of the vector into PRG chunks across threads; the
         * modular sum does not depend on the split. CPU is summed over threads. */
        size_t n_chunks = (r->dim + PRG_WORDS - 1) / PRG_WORDS;
        double cpu = 0;
        SA_OMP("omp parallel reduction(+ : cpu)")
        {
            double c0 = sa__cpu_now();
            SA_OMP("omp for schedule(static) nowait")
            for (size_t ch = 0; ch < n_chunks; ch++) {
                size_t lo = ch * PRG_WORDS, hi = lo + PRG_WORDS < r->dim ? lo + PRG_WORDS : r->dim;
                for (size_t q = 0; q < nk; q++)
                    sa__prg_add(r->acc, lo, hi, keys[q].key, keys[q].negate);
            }
            cpu += sa__cpu_now() - c0;
        }
        r->srv.prg_bytes += 4 * (uint64_t)r->dim * nk;
        double t1 = sa__cpu_now();
        sa__decode(r->acc, r->dim, r->p.scale_bits, sum, qsum);
        r->srv.cpu_s[SA_PHASE_UNMASK] += cpu + (sa__cpu_now() - t1);
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
