/* Partitioners (see partition.h). All randomness from the RNG_PARTITION stream of the seed. */
#include "data/partition.h"

#include <gsl/gsl_randist.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

void part_free(partition *p)
{
    free(p->idx);
    free(p->off);
    memset(p, 0, sizeof *p);
}

static fs_err part_alloc(partition *p, size_t n_samples, uint32_t n_clients)
{
    memset(p, 0, sizeof *p);
    if (n_samples > UINT32_MAX) return fs_error(FS_EINPUT, "more than 2^32 samples");
    p->n_clients = n_clients;
    p->n_samples = n_samples;
    p->idx = FS_CALLOC(n_samples ? n_samples : 1, sizeof *p->idx);
    p->off = FS_CALLOC((size_t)n_clients + 1, sizeof *p->off);
    if (!p->idx || !p->off) {
        part_free(p);
        return FS_ENOMEM;
    }
    return FS_OK;
}

/* Fill offsets from sizes and lay out a shuffled permutation in that order. */
static fs_err part_from_sizes(const uint32_t *sizes, size_t n_samples, uint32_t n_clients, rng_t *r,
                              partition *p)
{
    fs_err e = part_alloc(p, n_samples, n_clients);
    if (e) return e;
    for (size_t i = 0; i < n_samples; i++) p->idx[i] = (uint32_t)i;
    rng_shuffle_u32(r, p->idx, n_samples);
    for (uint32_t c = 0; c < n_clients; c++) p->off[c + 1] = p->off[c] + sizes[c];
    FS_CHECK(p->off[n_clients] == n_samples);
    return FS_OK;
}

fs_err part_iid(size_t n_samples, uint32_t n_clients, uint64_t seed, partition *p)
{
    if (n_clients == 0 || n_samples < n_clients)
        return fs_error(FS_EINPUT, "iid partition: %zu samples cannot fill %u clients", n_samples,
                        n_clients);
    uint32_t *sizes = FS_CALLOC(n_clients, sizeof *sizes);
    if (!sizes) return FS_ENOMEM;
    for (uint32_t c = 0; c < n_clients; c++)
        sizes[c] = (uint32_t)(n_samples / n_clients + (c < n_samples % n_clients));
    rng_t r;
    rng_init(&r, seed, RNG_PARTITION, 0, 0);
    fs_err e = part_from_sizes(sizes, n_samples, n_clients, &r, p);
    free(sizes);
    return e;
}

fs_err part_dirichlet(const int32_t *labels, size_t n_samples, int n_classes, uint32_t n_clients,
                      double alpha, uint32_t min_size, uint64_t seed, partition *p)
{
    if (!(alpha > 0)) return fs_error(FS_EINPUT, "dirichlet partition: alpha must be > 0");
    if (n_clients == 0 || (size_t)min_size * n_clients > n_samples)
        return fs_error(FS_EINPUT,
                        "dirichlet partition: %u clients x min_size %u exceeds %zu samples",
                        n_clients, min_size, n_samples);
    /* class index lists */
    size_t *count = FS_CALLOC((size_t)n_classes + 1, sizeof *count);
    uint32_t *by_class = FS_CALLOC(n_samples ? n_samples : 1, sizeof *by_class);
    uint32_t *owner = FS_CALLOC(n_samples ? n_samples : 1, sizeof *owner);
    uint32_t *sizes = FS_CALLOC(n_clients, sizeof *sizes);
    double *prop = FS_CALLOC(n_clients, sizeof *prop);
    double *ones = FS_CALLOC(n_clients, sizeof *ones);
    fs_err e = FS_OK;
    if (!count || !by_class || !owner || !sizes || !prop || !ones) {
        e = FS_ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < n_samples; i++) count[labels[i] + 1]++;
    for (int k = 0; k < n_classes; k++) count[k + 1] += count[k];
    {
        size_t *fill = FS_CALLOC((size_t)n_classes, sizeof *fill);
        if (!fill) {
            e = FS_ENOMEM;
            goto out;
        }
        for (size_t i = 0; i < n_samples; i++) {
            int k = labels[i];
            by_class[count[k] + fill[k]++] = (uint32_t)i;
        }
        free(fill);
    }
    for (uint32_t c = 0; c < n_clients; c++) ones[c] = alpha;
    rng_t r;
    rng_init(&r, seed, RNG_PARTITION, 0, 0);
    const double cap = (double)n_samples / n_clients;
    int ok = 0;
    for (int attempt = 0; attempt < 1000 && !ok; attempt++) {
        memset(sizes, 0, n_clients * sizeof *sizes);
        for (int k = 0; k < n_classes; k++) {
            size_t nk = count[k + 1] - count[k];
            uint32_t *cls = by_class + count[k];
            rng_shuffle_u32(&r, cls, nk);
            gsl_ran_dirichlet(rng_gsl(&r), n_clients, ones, prop);
            double s = 0;
            for (uint32_t c = 0; c < n_clients; c++) {
                if (sizes[c] >= cap) prop[c] = 0; /* NIID-Bench balancing */
                s += prop[c];
            }
            /* cumulative split points: floor(cumsum(p) * nk), as numpy's split does */
            double acc = 0;
            size_t start = 0;
            for (uint32_t c = 0; c < n_clients; c++) {
                acc += s > 0 ? prop[c] / s : (c + 1 == n_clients);
                size_t end = c + 1 == n_clients ? nk : (size_t)floor(acc * (double)nk);
                if (end > nk) end = nk;
                if (end < start) end = start;
                for (size_t j = start; j < end; j++) owner[cls[j]] = c;
                sizes[c] += (uint32_t)(end - start);
                start = end;
            }
        }
        ok = 1;
        for (uint32_t c = 0; c < n_clients && ok; c++) ok = sizes[c] >= min_size;
    }
    if (!ok) {
        e = fs_error(FS_EINPUT,
                     "dirichlet partition: no draw in 1000 gave every one of %u clients at least "
                     "%u samples (alpha %g); lower partition.min_size or raise alpha",
                     n_clients, min_size, alpha);
        goto out;
    }
    e = part_alloc(p, n_samples, n_clients);
    if (e) goto out;
    for (uint32_t c = 0; c < n_clients; c++) p->off[c + 1] = p->off[c] + sizes[c];
    {
        /* counting sort by owner, keeping each client's samples in class-shuffled order */
        uint32_t *pos = sizes; /* reuse as fill cursor */
        for (uint32_t c = 0; c < n_clients; c++) pos[c] = p->off[c];
        for (size_t j = 0; j < n_samples; j++) {
            uint32_t i = by_class[j];
            p->idx[pos[owner[i]]++] = i;
        }
    }
out:
    free(count);
    free(by_class);
    free(owner);
    free(sizes);
    free(prop);
    free(ones);
    return e;
}

static _Thread_local const double *rem_keys;

static int by_remainder(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    if (rem_keys[x] != rem_keys[y]) return rem_keys[x] > rem_keys[y] ? -1 : 1;
    return x < y ? -1 : (x > y);
}

fs_err part_quantity(size_t n_samples, uint32_t n_clients, part_qdist dist, double param,
                     uint32_t min_size, uint64_t seed, partition *p)
{
    if (!(param > 0)) return fs_error(FS_EINPUT, "quantity partition: parameter must be > 0");
    if (n_clients == 0 || (size_t)min_size * n_clients > n_samples || min_size == 0)
        return fs_error(FS_EINPUT,
                        "quantity partition: %u clients x min_size %u must be >= 1 and <= %zu "
                        "samples",
                        n_clients, min_size, n_samples);
    double *w = FS_CALLOC(n_clients, sizeof *w);
    uint32_t *sizes = FS_CALLOC(n_clients, sizeof *sizes);
    if (!w || !sizes) {
        free(w);
        free(sizes);
        return FS_ENOMEM;
    }
    rng_t r;
    rng_init(&r, seed, RNG_PARTITION, 0, 0);
    double s = 0;
    for (uint32_t c = 0; c < n_clients; c++) {
        w[c] = dist == PART_Q_POWERLAW ? gsl_ran_pareto(rng_gsl(&r), param, 1.0)
                                       : gsl_ran_lognormal(rng_gsl(&r), 0.0, param);
        s += w[c];
    }
    /* min_size each, the rest proportional to w (largest remainders get the leftovers) */
    size_t rest = n_samples - (size_t)min_size * n_clients, given = 0;
    for (uint32_t c = 0; c < n_clients; c++) {
        double share = w[c] / s * (double)rest;
        sizes[c] = min_size + (uint32_t)floor(share);
        given += (size_t)floor(share);
        w[c] = share - floor(share);
    }
    if (given < rest) { /* leftovers to the largest remainders; ties to the lower index */
        uint32_t *order = FS_CALLOC(n_clients, sizeof *order);
        if (!order) {
            free(w);
            free(sizes);
            return FS_ENOMEM;
        }
        for (uint32_t c = 0; c < n_clients; c++) order[c] = c;
        rem_keys = w;
        qsort(order, n_clients, sizeof *order, by_remainder);
        for (size_t k = 0; given < rest; k++, given++) sizes[order[k]]++;
        free(order);
    }
    fs_err e = part_from_sizes(sizes, n_samples, n_clients, &r, p);
    free(w);
    free(sizes);
    return e;
}

fs_err part_natural(const int32_t *client_of, size_t n_samples, uint32_t n_clients, partition *p)
{
    fs_err e = part_alloc(p, n_samples, n_clients);
    if (e) return e;
    for (size_t i = 0; i < n_samples; i++) {
        if (client_of[i] < 0 || (uint32_t)client_of[i] >= n_clients) {
            part_free(p);
            return fs_error(FS_EDATA, "natural partition: sample %zu has client id %d outside 0..%u",
                            i, client_of[i], n_clients - 1);
        }
        p->off[client_of[i] + 1]++;
    }
    for (uint32_t c = 0; c < n_clients; c++) p->off[c + 1] += p->off[c];
    uint32_t *pos = FS_CALLOC(n_clients, sizeof *pos);
    if (!pos) {
        part_free(p);
        return FS_ENOMEM;
    }
    memcpy(pos, p->off, n_clients * sizeof *pos);
    for (size_t i = 0; i < n_samples; i++) p->idx[pos[client_of[i]]++] = (uint32_t)i;
    free(pos);
    return FS_OK;
}
