/* Secure aggregation round 2 (MaskedInputCollection): a client quantises its update and adds
 * its self mask and the pairwise masks with its surviving neighbours; the server sums the
 * masked vectors mod 2^32 and closes the round when enough have arrived. */
#include <stdlib.h>
#include <string.h>

#include "privacy/secagg_impl.h"

fs_err sa_client_mask(sa_round *r, int client, const float *x, sa_masked_input **out)
{
    *out = NULL;
    fs_err e = sa__check_state(r, RD_KEYED, "sa_client_mask");
    if (e) return e;
    if (client < 0 || client >= r->n || r->cl[client].phase != CL_SHARED)
        return fs_error(FS_EINPUT, "secagg: client %d cannot mask (not in U2 or already masked)",
                        client);
    sa_masked_input *m = FS_CALLOC(1, sizeof *m + sizeof(uint32_t) * r->dim);
    if (!m) return FS_ENOMEM;
    m->from = r;
    m->client = client;
    m->dim = r->dim;

    double t0 = sa__cpu_now();
    struct sa_client *c = &r->cl[client];
    sa_cost *cs = &r->cost[client];
    /* y_i = x_i + PRG(b_i) + sum_{j in U2, i<j} PRG(s_ij) - sum_{j in U2, i>j} PRG(s_ij)
     * (Bonawitz et al. 2017, Fig. 4, MaskedInputCollection; sum over neighbours for SecAgg+). */
    sa_quantize(&r->p, r->seed, r->round, client, x, r->dim, m->w);
    sa__prg_add(m->w, 0, r->dim, c->b, 0);
    cs->prg_bytes += 4 * (uint64_t)r->dim;
    const uint8_t *my_pk = r->s_pk + (size_t)client * KEY;
    int rc = 0;
    for (int s = 0; s < r->deg; s++) {
        int j = sa__nb(r, client, s);
        if (!r->shared[j]) continue;
        uint8_t seed[KEY];
        rc |= sa__pair_seed(client, j, my_pk, c->s_sk, r->s_pk + (size_t)j * KEY, seed);
        cs->key_agreements++;
        sa__prg_add(m->w, 0, r->dim, seed, client > j);
        cs->prg_bytes += 4 * (uint64_t)r->dim;
        sodium_memzero(seed, KEY);
    }
    c->phase = CL_MASKED;
    cs->bytes_up[SA_PHASE_MASK] += ID_WIRE + 4 * (uint64_t)r->dim;
    cs->cpu_s[SA_PHASE_MASK] += sa__cpu_now() - t0;
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
    fs_err e = sa__check_state(r, RD_KEYED, "sa_server_collect");
    if (!e && (m->from != r || r->masked[m->client] || !r->shared[m->client]))
        e = fs_error(FS_EINPUT, "secagg: masked input of client %d not acceptable", m->client);
    if (e) {
        free(m);
        return e;
    }
    double t0 = sa__cpu_now();
    for (size_t k = 0; k < r->dim; k++) r->acc[k] += m->w[k];
    r->masked[m->client] = 1;
    r->n_masked++;
    r->srv.bytes_down[SA_PHASE_MASK] += ID_WIRE + 4 * (uint64_t)r->dim;
    r->srv.cpu_s[SA_PHASE_MASK] += sa__cpu_now() - t0;
    free(m);
    return FS_OK;
}

fs_err sa_server_close(sa_round *r, sa_status *status)
{
    *status = SA_OK;
    fs_err e = sa__check_state(r, RD_KEYED, "sa_server_close");
    if (e) return e;
    if (r->n_masked < r->t) {
        sa__abort(r, SA_ABORT_FEW_MASKED, status, "%d masked inputs arrived, threshold t = %d",
                  r->n_masked, r->t);
        return FS_OK;
    }
    /* Send each survivor the ids of its neighbours in U3. */
    for (int i = 0; i < r->n; i++) {
        if (!r->masked[i]) continue;
        uint64_t on = 0;
        for (int s = 0; s < r->deg; s++) on += r->masked[sa__nb(r, i, s)];
        r->cost[i].bytes_down[SA_PHASE_UNMASK] += on * ID_WIRE;
        r->srv.bytes_up[SA_PHASE_UNMASK] += on * ID_WIRE;
    }
    r->state = RD_CLOSED;
    return FS_OK;
}
