/* The virtual clock of vertical learning (see clock.h). */
#include "vfl/clock.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util/rng.h"

void vclk_init(vclk *k, int n, const vclk_party *parties, double ref_flops, uint64_t seed)
{
    memset(k, 0, sizeof *k);
    FS_CHECK(n >= 1 && n <= VCLK_MAX_PARTIES);
    k->n = n;
    memcpy(k->party, parties, (size_t)n * sizeof *parties);
    k->ref_flops = ref_flops;
    k->seed = seed;
}

void vclk_free(vclk *k)
{
    free(k->ops);
    k->ops = NULL;
    k->n_ops = k->cap = 0;
}

static void push(vclk *k, vclk_kind kind, int p, int q, double amount)
{
    FS_CHECK(p >= 0 && p < k->n && q >= 0 && q < k->n);
    if (!(amount > 0)) return;
    if (k->n_ops == k->cap) {
        size_t cap = k->cap ? 2 * k->cap : 64;
        vclk_op *o = realloc(k->ops, cap * sizeof *o);
        if (!o) {
            k->cap = (size_t)-1; /* sticky: reported by vclk_step */
            return;
        }
        k->ops = o;
        k->cap = cap;
    }
    if (k->cap == (size_t)-1) return;
    k->ops[k->n_ops++] = (vclk_op){kind, p, q, amount};
}

void vclk_compute(vclk *k, int p, double flops)
{
    push(k, VCLK_COMPUTE, p, p, flops);
}

void vclk_crypto(vclk *k, int p, double ref_seconds)
{
    push(k, VCLK_CRYPTO, p, p, ref_seconds);
}

void vclk_send(vclk *k, int from, int to, double bytes)
{
    push(k, VCLK_SEND, from, to, bytes);
}

/* Seconds of one op on party p's side (compute, crypto) at straggler multiplier m. */
static double op_seconds(const vclk *k, const vclk_op *o, const double *m)
{
    const vclk_party *P = &k->party[o->p];
    if (o->kind == VCLK_COMPUTE) return o->amount / P->flops * m[o->p];
    if (o->kind == VCLK_CRYPTO) return o->amount * k->ref_flops / P->flops * m[o->p];
    return 0;
}

/* The step's duration from 0 with multipliers m (max-plus over the recorded ops). */
static double replay(const vclk *k, const double *m)
{
    double t[VCLK_MAX_PARTIES] = {0}, up[VCLK_MAX_PARTIES] = {0}, down[VCLK_MAX_PARTIES] = {0};
    for (size_t i = 0; i < k->n_ops; i++) {
        const vclk_op *o = &k->ops[i];
        if (o->kind != VCLK_SEND) {
            t[o->p] += op_seconds(k, o, m);
            continue;
        }
        const vclk_party *P = &k->party[o->p], *Q = &k->party[o->q];
        double start = t[o->p];
        if (up[o->p] > start) start = up[o->p];
        if (down[o->q] > start) start = down[o->q];
        const double bw = P->up_bps < Q->down_bps ? P->up_bps : Q->down_bps;
        const double end = start + 8.0 * o->amount / bw;
        up[o->p] = down[o->q] = end;
        const double arrive = end + P->latency_s + Q->latency_s;
        if (arrive > t[o->q]) t[o->q] = arrive;
    }
    double d = 0;
    for (int p = 0; p < k->n; p++) d = t[p] > d ? t[p] : d;
    return d;
}

/* Charge fraction f of the recorded work and traffic to the tallies. */
static void charge(vclk *k, const double *m, double f)
{
    for (size_t i = 0; i < k->n_ops; i++) {
        const vclk_op *o = &k->ops[i];
        vclk_tally *a = &k->tally[o->p];
        switch (o->kind) {
        case VCLK_COMPUTE:
            a->flops += f * o->amount;
            a->compute_s += f * op_seconds(k, o, m);
            break;
        case VCLK_CRYPTO:
            a->crypto_s += f * op_seconds(k, o, m);
            k->crypto_ref_s += f * o->amount;
            break;
        case VCLK_SEND:
            a->bytes_sent += f * o->amount;
            k->tally[o->q].bytes_recv += f * o->amount;
            break;
        }
    }
}

fs_err vclk_step(vclk *k, uint64_t step, int faults, double *dur)
{
    if (k->cap == (size_t)-1) {
        k->cap = 0;
        k->n_ops = 0;
        return fs_error(FS_ENOMEM, "out of memory recording a vertical step");
    }
    double m[VCLK_MAX_PARTIES];
    double total_flops = 0;
    for (size_t i = 0; i < k->n_ops; i++)
        if (k->ops[i].kind == VCLK_COMPUTE) total_flops += k->ops[i].amount;
    const double t0 = k->now;
    for (int p = 0; p < k->n; p++) m[p] = 1;
    for (int attempt = 0;; attempt++) {
        if (attempt >= VCLK_MAX_ATTEMPTS) {
            k->n_ops = 0;
            return fs_error(FS_EINPUT,
                            "step %llu was abandoned %d times: the parties' dropout "
                            "probabilities leave no chance to finish it",
                            (unsigned long long)step, VCLK_MAX_ATTEMPTS);
        }
        /* draws: stragglers once per step, dropouts per attempt */
        double drop_at = INFINITY;
        int dropper = -1;
        for (int p = 0; p < k->n && faults; p++) {
            const vclk_party *P = &k->party[p];
            rng_t r;
            rng_init(&r, k->seed, RNG_VFL_SCHED, (uint64_t)p,
                     step * VCLK_MAX_ATTEMPTS + (uint64_t)attempt);
            const double us = rng_uniform(&r), ud = rng_uniform(&r), at = rng_uniform(&r);
            if (attempt == 0 && us < P->straggler_p) {
                m[p] = P->straggler_factor;
                k->tally[p].straggles++;
            }
            if (ud < P->dropout && at < drop_at) {
                drop_at = at;
                dropper = p;
            }
        }
        const double d = replay(k, m);
        if (dropper < 0) {
            charge(k, m, 1.0);
            k->now += d;
            break;
        }
        /* abandoned: the work so far is wasted, the party comes back, the step starts over */
        charge(k, m, drop_at);
        k->wasted_flops += drop_at * total_flops;
        k->tally[dropper].dropouts++;
        const double lost = drop_at * d + k->party[dropper].rejoin_s;
        k->stall_s += lost;
        k->now += lost;
    }
    if (dur) *dur = k->now - t0;
    k->n_ops = 0;
    return FS_OK;
}

void vclk_tally_reset(vclk *k)
{
    memset(k->tally, 0, sizeof k->tally);
    k->stall_s = k->wasted_flops = k->crypto_ref_s = 0;
}

/* ---- unit costs ---------------------------------------------------------------------------- */

/* Seconds per operation at |n| = 2048 on the reference machine (fedsim bench he, see clock.h):
 * keygen mean of the bench's keys; the table builds; encryptions by the public Lim-Lee table
 * and by the key holder's CRT tables; CRT decryption; products mod n^2; a 53-bit scalar
 * multiplication (241.9 us) per bit; a 53-bit inner-product term (41.5 us) per bit; PSI. */
static const struct {
    double s;   /* seconds at 2048 bits */
    double exp; /* scaling exponent of bits / 2048 */
} units[VFL_HE_NOPS] = {
    [VFL_HE_KEYGEN] = {0.11, 4},
    [VFL_HE_TABLE_PUB] = {0.30, 1.6},
    [VFL_HE_TABLE_KEY] = {0.15, 1.6},
    [VFL_HE_ENC_PUB] = {850.7e-6, 3},
    [VFL_HE_ENC_KEY] = {312.6e-6, 3},
    [VFL_HE_DEC] = {2323.8e-6, 3},
    [VFL_HE_ADD] = {5.6e-6, 1.6},
    [VFL_HE_ADD_PLAIN] = {11.2e-6, 1.6},
    [VFL_HE_RERAND] = {856.3e-6, 3},
    [VFL_HE_MUL_BIT] = {241.9e-6 / 53, 1.6},
    [VFL_HE_DOT_TERM_BIT] = {41.5e-6 / 53, 1.6},
    [VFL_PSI_HASH] = {14.3e-6, 0},
    [VFL_PSI_SMUL] = {44.8e-6, 0},
};

double vfl_he_cost(vfl_he_op op, int bits, double count)
{
    FS_CHECK(op >= 0 && op < VFL_HE_NOPS);
    return count * units[op].s * pow(bits / 2048.0, units[op].exp);
}
