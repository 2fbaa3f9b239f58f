/* Secure aggregation rounds 0 and 1 (Bonawitz et al. 2017, Fig. 4: AdvertiseKeys, ShareKeys):
 * each client's two X25519 key pairs, its self-mask seed b_i, the Shamir shares of (s_i^SK,
 * b_i) among its neighbours, encrypted to each holder through the server; the server's
 * forwarding and its checks that enough clients (and holders per client) remain. */
#include <stdlib.h>
#include <string.h>

#include "privacy/secagg_impl.h"

/* Round 0 for client i: two X25519 key pairs from 32-byte seeds drawn from its stream. */
static int client_advertise(sa_round *r, int i)
{
    double t0 = sa__cpu_now();
    struct sa_client *c = &r->cl[i];
    rng_init(&c->rng, r->seed, RNG_SECAGG, (uint64_t)i, r->round);
    uint8_t ks[KEY];
    sa__secret_bytes(r, c, ks);
    int rc = crypto_kx_seed_keypair(r->c_pk + (size_t)i * KEY, c->c_sk, ks);
    sa__secret_bytes(r, c, ks);
    rc |= crypto_kx_seed_keypair(r->s_pk + (size_t)i * KEY, c->s_sk, ks);
    sodium_memzero(ks, KEY);
    sa_cost *cs = &r->cost[i];
    cs->keygens += 2;
    cs->bytes_up[SA_PHASE_ADVERTISE] += ADV_WIRE;
    cs->cpu_s[SA_PHASE_ADVERTISE] += sa__cpu_now() - t0;
    return rc;
}

/* Round 1 for client i: draw b_i, Shamir-share (s_i^SK, b_i) t-of-(deg+1) among its
 * neighbours and itself (x = client id + 1), encrypt each neighbour's share under the
 * crypto_kx channel key from the c-keys (Bonawitz et al. Fig. 4, ShareKeys). */
static int client_share(sa_round *r, int i, uint64_t *xs, uint64_t *shares)
{
    double t0 = sa__cpu_now();
    struct sa_client *c = &r->cl[i];
    sa_cost *cs = &r->cost[i];
    int d = r->deg, rc = 0;
    sa__secret_bytes(r, c, c->b);
    uint64_t secret[SHARE_ELEMS];
    sh_pack_bytes(c->s_sk, KEY, secret);
    sh_pack_bytes(c->b, KEY, secret + SECRET_ELEMS);
    for (int s = 0; s < d; s++) xs[s] = (uint64_t)sa__nb(r, i, s) + 1;
    xs[d] = (uint64_t)i + 1;
    if (r->p.system_random)
        rc |= sh_split_system(secret, SHARE_ELEMS, r->t, d + 1, xs, shares);
    else
        sh_split(secret, SHARE_ELEMS, r->t, d + 1, xs, &c->rng, shares);
    cs->shamir_elems += (uint64_t)SHARE_ELEMS * (uint64_t)(d + 1);
    memcpy(c->own_share, shares + (size_t)d * SHARE_ELEMS, sizeof c->own_share);
    const uint8_t *my_pk = r->c_pk + (size_t)i * KEY;
    for (int s = 0; s < d; s++) {
        int j = sa__nb(r, i, s);
        if (!r->adv[j]) continue;
        size_t slot = (size_t)i * d + (size_t)s;
        uint8_t tx[KEY], pt[PT_BYTES], ad[AD_BYTES];
        rc |= sa__kx_keys(i, j, my_pk, c->c_sk, r->c_pk + (size_t)j * KEY, r->rx + slot * KEY, tx);
        cs->key_agreements++;
        sa__put32(pt, (uint32_t)i);
        sa__put32(pt + 4, (uint32_t)j);
        for (int e = 0; e < SHARE_ELEMS; e++) {
            uint64_t v = shares[(size_t)s * SHARE_ELEMS + e];
            sa__put32(pt + 8 + 8 * e, (uint32_t)v);
            sa__put32(pt + 12 + 8 * e, (uint32_t)(v >> 32));
        }
        sa__make_ad(ad, r->round, i, j);
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
    cs->cpu_s[SA_PHASE_SHARE] += sa__cpu_now() - t0;
    return rc;
}

double sa__share_bytes(int deg, int threads)
{
    return (threads > 0 ? threads : 1) * (deg + 1.0) * (1 + SHARE_ELEMS) * sizeof(uint64_t);
}

fs_err sa_round_setup(sa_round *r, const uint8_t *present, sa_status *status)
{
    *status = SA_OK;
    fs_err e = sa__check_state(r, RD_NEW, "sa_round_setup");
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
    double t0 = sa__cpu_now();
    r->n_adv = 0;
    int worst = -1, worst_h = d + 1;
    for (int i = 0; i < n; i++) {
        if (!r->adv[i]) continue;
        r->n_adv++;
        int on = 0;
        for (int s = 0; s < d; s++) on += r->adv[sa__nb(r, i, s)];
        r->cost[i].bytes_down[SA_PHASE_ADVERTISE] += (uint64_t)on * ADV_WIRE;
        r->srv.bytes_down[SA_PHASE_ADVERTISE] += ADV_WIRE;
        r->srv.bytes_up[SA_PHASE_ADVERTISE] += (uint64_t)on * ADV_WIRE;
        if (on + 1 < worst_h) worst_h = on + 1, worst = i;
    }
    r->srv.cpu_s[SA_PHASE_ADVERTISE] += sa__cpu_now() - t0;
    if (r->n_adv < r->t) {
        sa__abort(r, SA_ABORT_FEW_SHARED, status, "%d clients advertised keys, threshold t = %d",
                  r->n_adv, r->t);
        return FS_OK;
    }
    if (worst >= 0 && worst_h < r->t) {
        sa__abort(r, SA_ABORT_FEW_HOLDERS, status,
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
    t0 = sa__cpu_now();
    r->n_shared = 0;
    for (int i = 0; i < n; i++) {
        if (!r->adv[i]) continue;
        r->shared[i] = 1;
        r->cl[i].phase = CL_SHARED;
        r->n_shared++;
        uint64_t in = 0;
        for (int s = 0; s < d; s++)
            in += r->ct_ok[(size_t)sa__nb(r, i, s) * d + sa__rev_slot(r, i, s)];
        r->cost[i].bytes_down[SA_PHASE_SHARE] += in * CT_WIRE;
        r->srv.bytes_down[SA_PHASE_SHARE] += r->cost[i].bytes_up[SA_PHASE_SHARE];
        r->srv.bytes_up[SA_PHASE_SHARE] += in * CT_WIRE;
    }
    r->srv.cpu_s[SA_PHASE_SHARE] += sa__cpu_now() - t0;
    r->state = RD_KEYED;
    return FS_OK;
}
