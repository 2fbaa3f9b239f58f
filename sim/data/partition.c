/* Partitioners (see partition.h). All randomness from RNG_PARTITION streams of the seed:
 * (entity 0, round 0) for the partitioners, (client, PART_KEY_*) for the per-client extras.
 * Every partitioner is O(n_samples + n_clients * n_classes) per draw, so 60,000 samples over
 * 10,000 clients take milliseconds (docs/datasets.md has the measurements). */
#include "data/partition.h"

#include <gsl/gsl_randist.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util/log.h"

void part_free(partition *p)
{
    free(p->idx);
    free(p->off);
    free(p->split);
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

/* Last resort of part_dirichlet when no draw met min_size: clients below min_size receive
 * random samples of the currently largest client, one at a time (a max-heap over sizes). The
 * label mix of the donors changes little, since they are the largest clients. */
static void heap_down(uint32_t *h, size_t n, size_t i, const uint32_t *key)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < n && (key[h[l]] > key[h[m]] || (key[h[l]] == key[h[m]] && h[l] < h[m]))) m = l;
        if (r < n && (key[h[r]] > key[h[m]] || (key[h[r]] == key[h[m]] && h[r] < h[m]))) m = r;
        if (m == i) return;
        uint32_t t = h[i];
        h[i] = h[m];
        h[m] = t;
        i = m;
    }
}

static fs_err dirichlet_top_up(uint32_t *owner, uint32_t *sizes, size_t n_samples,
                               uint32_t n_clients, uint32_t min_size, rng_t *r, size_t *moved)
{
    uint32_t *start = FS_CALLOC((size_t)n_clients + 1, sizeof *start);
    uint32_t *fill = FS_CALLOC((size_t)n_clients, sizeof *fill);
    uint32_t *list = FS_CALLOC(n_samples ? n_samples : 1, sizeof *list);
    uint32_t *heap = FS_CALLOC((size_t)n_clients, sizeof *heap);
    fs_err e = FS_OK;
    if (!start || !fill || !list || !heap) {
        e = FS_ENOMEM;
        goto out;
    }
    /* per-client sample lists; a donor's remaining samples are list[start[d] .. start[d] +
     * sizes[d]) */
    for (uint32_t c = 0; c < n_clients; c++) start[c + 1] = start[c] + sizes[c];
    for (size_t i = 0; i < n_samples; i++) list[start[owner[i]] + fill[owner[i]]++] = (uint32_t)i;
    /* donors: the clients above min_size; receivers (below it) never enter the heap */
    size_t nh = 0;
    for (uint32_t c = 0; c < n_clients; c++)
        if (sizes[c] > min_size) heap[nh++] = c;
    for (size_t i = nh / 2; i-- > 0;) heap_down(heap, nh, i, sizes);
    for (uint32_t c = 0; c < n_clients; c++) {
        while (sizes[c] < min_size) {
            FS_CHECK(nh > 0); /* feasible: min_size * n_clients <= n_samples */
            uint32_t d = heap[0];
            FS_CHECK(sizes[d] > min_size);
            uint32_t *dl = list + start[d];
            size_t j = (size_t)rng_below(r, sizes[d]);
            uint32_t s = dl[j];
            dl[j] = dl[sizes[d] - 1];
            sizes[d]--;
            heap_down(heap, nh, 0, sizes);
            owner[s] = c;
            sizes[c]++;
            (*moved)++;
        }
    }
out:
    free(start);
    free(fill);
    free(list);
    free(heap);
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
    /* Redraw budget: 1000 draws, or fewer when one draw is large (about 5e5 Dirichlet
     * components in all), so that many clients cannot spend seconds on hopeless redraws. */
    const double per_draw = (double)n_clients * (double)n_classes;
    const int max_draws = per_draw * 1000 > 5e5 ? (int)fmax(1, 5e5 / per_draw) : 1000;
    int ok = 0, draws = 0;
    for (int attempt = 0; attempt < max_draws && !ok; attempt++, draws++) {
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
        size_t moved = 0;
        e = dirichlet_top_up(owner, sizes, n_samples, n_clients, min_size, &r, &moved);
        if (e) goto out;
        log_info("dirichlet partition: no draw in %d gave every one of %u clients %u samples "
                 "(alpha %g); moved %zu samples from the largest clients to the smallest",
                 draws, n_clients, min_size, alpha, moved);
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
        if (dist == PART_Q_DIRICHLET) break;
        w[c] = dist == PART_Q_POWERLAW ? gsl_ran_pareto(rng_gsl(&r), param, 1.0)
                                       : gsl_ran_lognormal(rng_gsl(&r), 0.0, param);
        s += w[c];
    }
    if (dist == PART_Q_DIRICHLET) {
        double *a = FS_CALLOC(n_clients, sizeof *a);
        if (!a) {
            free(w);
            free(sizes);
            return FS_ENOMEM;
        }
        for (uint32_t c = 0; c < n_clients; c++) a[c] = param;
        gsl_ran_dirichlet(rng_gsl(&r), n_clients, a, w);
        free(a);
        for (uint32_t c = 0; c < n_clients; c++) s += w[c];
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
            return fs_error(FS_EDATA,
                            "natural partition: sample %zu has client id %d outside 0..%u", i,
                            client_of[i], n_clients - 1);
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

/* Counting sort of sample indices by label after a shuffle: by_class[count[k] .. count[k+1])
 * holds class k's samples in random order. count has n_classes + 1 entries. */
static fs_err sort_by_label(const int32_t *labels, size_t n_samples, int n_classes, rng_t *r,
                            uint32_t *by_class, size_t *count)
{
    uint32_t *perm = FS_CALLOC(n_samples ? n_samples : 1, sizeof *perm);
    size_t *fill = FS_CALLOC((size_t)n_classes, sizeof *fill);
    if (!perm || !fill) {
        free(perm);
        free(fill);
        return FS_ENOMEM;
    }
    memset(count, 0, ((size_t)n_classes + 1) * sizeof *count);
    for (size_t i = 0; i < n_samples; i++) {
        if (labels[i] < 0 || labels[i] >= n_classes) {
            free(perm);
            free(fill);
            return fs_error(FS_EDATA, "partition: sample %zu has label %d outside 0..%d", i,
                            labels[i], n_classes - 1);
        }
        count[labels[i] + 1]++;
        perm[i] = (uint32_t)i;
    }
    for (int k = 0; k < n_classes; k++) count[k + 1] += count[k];
    rng_shuffle_u32(r, perm, n_samples);
    for (size_t j = 0; j < n_samples; j++) {
        int k = labels[perm[j]];
        by_class[count[k] + fill[k]++] = perm[j];
    }
    free(perm);
    free(fill);
    return FS_OK;
}

/* Does client c (shards sh[c*k .. c*k+k)) hold two shards of one class, with shard j replaced
 * by shard s_new when j >= 0? */
static int shard_dup(const uint32_t *sh, const int32_t *cls, uint32_t c, uint32_t k, int j,
                     uint32_t s_new)
{
    for (uint32_t a = 0; a < k; a++) {
        int32_t ca = cls[(int)a == j ? s_new : sh[(size_t)c * k + a]];
        for (uint32_t b = a + 1; b < k; b++)
            if (ca == cls[(int)b == j ? s_new : sh[(size_t)c * k + b]]) return 1;
    }
    return 0;
}

/* Swap shards between clients until no client holds two shards of one class. For each
 * offending (client, slot), scan the other clients from a random start for a slot whose swap
 * leaves both clients without duplicates. */
static fs_err shards_make_distinct(uint32_t *sh, const int32_t *cls, uint32_t n_clients, uint32_t k,
                                   rng_t *r)
{
    for (uint32_t c = 0; c < n_clients; c++) {
        for (uint32_t j = 0; j < k && shard_dup(sh, cls, c, k, -1, 0); j++) {
            /* is slot j the later one of a duplicate pair? */
            int dup = 0;
            for (uint32_t a = 0; a < j; a++)
                dup |= cls[sh[(size_t)c * k + a]] == cls[sh[(size_t)c * k + j]];
            if (!dup) continue;
            uint32_t mine = sh[(size_t)c * k + j];
            uint32_t d0 = (uint32_t)rng_below(r, n_clients);
            int fixed = 0;
            for (uint32_t t = 0; t < n_clients && !fixed; t++) {
                uint32_t d = (d0 + t) % n_clients;
                if (d == c) continue;
                for (uint32_t q = 0; q < k && !fixed; q++) {
                    uint32_t theirs = sh[(size_t)d * k + q];
                    if (cls[theirs] == cls[mine]) continue;
                    /* c must end without the duplicate j, d must stay duplicate-free */
                    int c_ok = 1;
                    for (uint32_t a = 0; a < k; a++)
                        if (a != j && cls[sh[(size_t)c * k + a]] == cls[theirs]) c_ok = 0;
                    if (!c_ok || shard_dup(sh, cls, d, k, (int)q, mine)) continue;
                    sh[(size_t)d * k + q] = mine;
                    sh[(size_t)c * k + j] = theirs;
                    fixed = 1;
                }
            }
            if (!fixed)
                return fs_error(FS_EINPUT,
                                "shards partition: cannot give every client %u shards of distinct "
                                "classes (too few classes or shards straddling classes); use "
                                "partition.shard_assign: random",
                                k);
        }
    }
    return FS_OK;
}

fs_err part_shards(const int32_t *labels, size_t n_samples, int n_classes, uint32_t n_clients,
                   uint32_t k, int distinct, uint64_t seed, partition *p)
{
    const size_t n_shards = (size_t)n_clients * k;
    if (n_clients == 0 || k == 0 || n_shards > n_samples)
        return fs_error(FS_EINPUT,
                        "shards partition: %u clients x %u shards need at least %zu samples, "
                        "have %zu",
                        n_clients, k, n_shards, n_samples);
    if (distinct && (int)k > n_classes)
        return fs_error(FS_EINPUT,
                        "shards partition: %u shards of distinct classes per client, but only %d "
                        "classes",
                        k, n_classes);
    uint32_t *by_class = FS_CALLOC(n_samples, sizeof *by_class);
    size_t *count = FS_CALLOC((size_t)n_classes + 1, sizeof *count);
    uint32_t *sh = FS_CALLOC(n_shards, sizeof *sh);
    int32_t *cls = FS_CALLOC(n_shards, sizeof *cls);
    fs_err e = FS_OK;
    if (!by_class || !count || !sh || !cls) {
        e = FS_ENOMEM;
        goto out;
    }
    rng_t r;
    rng_init(&r, seed, RNG_PARTITION, 0, 0);
    if ((e = sort_by_label(labels, n_samples, n_classes, &r, by_class, count))) goto out;
    /* shard s covers by_class[start(s) .. start(s+1)), start(s) = s*q + min(s, rem) */
    const size_t q = n_samples / n_shards, rem = n_samples % n_shards;
#define SHARD_START(s) ((s)*q + ((s) < rem ? (s) : rem))
    for (size_t s = 0; s < n_shards; s++) {
        sh[s] = (uint32_t)s;
        size_t mid = (SHARD_START(s) + SHARD_START(s + 1) - 1) / 2;
        cls[s] = labels[by_class[mid]];
    }
    rng_shuffle_u32(&r, sh, n_shards);
    if (distinct && (e = shards_make_distinct(sh, cls, n_clients, k, &r))) goto out;
    if ((e = part_alloc(p, n_samples, n_clients))) goto out;
    size_t pos = 0;
    for (uint32_t c = 0; c < n_clients; c++) {
        for (uint32_t j = 0; j < k; j++) {
            size_t s = sh[(size_t)c * k + j], a = SHARD_START(s), b = SHARD_START(s + 1);
            memcpy(p->idx + pos, by_class + a, (b - a) * sizeof *p->idx);
            pos += b - a;
        }
        p->off[c + 1] = (uint32_t)pos;
    }
#undef SHARD_START
    FS_CHECK(pos == n_samples);
out:
    free(by_class);
    free(count);
    free(sh);
    free(cls);
    return e;
}

fs_err part_labels(const int32_t *labels, size_t n_samples, int n_classes, uint32_t n_clients,
                   uint32_t k, uint64_t seed, partition *p)
{
    if (n_clients == 0 || k == 0 || (int)k > n_classes)
        return fs_error(FS_EINPUT, "labels partition: %u classes per client, but the data has %d",
                        k, n_classes);
    const size_t K = (size_t)n_classes;
    uint32_t *by_class = FS_CALLOC(n_samples ? n_samples : 1, sizeof *by_class);
    size_t *count = FS_CALLOC(K + 1, sizeof *count);
    int32_t *held = FS_CALLOC((size_t)n_clients * k, sizeof *held); /* client's classes */
    uint32_t *times = FS_CALLOC(K, sizeof *times), *given = FS_CALLOC(K, sizeof *given);
    size_t *startk = FS_CALLOC(K, sizeof *startk);
    fs_err e = FS_OK;
    if (!by_class || !count || !held || !times || !given || !startk) {
        e = FS_ENOMEM;
        goto out;
    }
    rng_t r;
    rng_init(&r, seed, RNG_PARTITION, 0, 0);
    /* NIID-Bench: current = [i % K], then k-1 distinct random others */
    for (uint32_t c = 0; c < n_clients; c++) {
        int32_t *h = held + (size_t)c * k;
        h[0] = (int32_t)(c % K);
        for (uint32_t j = 1; j < k;) {
            int32_t cand = (int32_t)rng_below(&r, K), seen = 0;
            for (uint32_t a = 0; a < j; a++) seen |= h[a] == cand;
            if (!seen) h[j++] = cand;
        }
        for (uint32_t j = 0; j < k; j++) times[h[j]]++;
    }
    if ((e = sort_by_label(labels, n_samples, n_classes, &r, by_class, count))) goto out;
    /* class kk split into times[kk] parts of near-equal size (numpy array_split: the first
     * nk % times parts get one more), handed to its holders in client order */
    size_t placed = 0;
    for (uint32_t c = 0; c < n_clients; c++)
        for (uint32_t j = 0; j < k; j++) {
            size_t kk = (size_t)held[(size_t)c * k + j], nk = count[kk + 1] - count[kk];
            uint32_t part = given[kk]++;
            placed += nk / times[kk] + (part < nk % times[kk]);
        }
    if ((e = part_alloc(p, placed, n_clients))) goto out;
    memset(given, 0, K * sizeof *given);
    for (size_t kk = 0; kk < K; kk++) startk[kk] = count[kk]; /* next unhanded sample */
    size_t pos = 0;
    for (uint32_t c = 0; c < n_clients; c++) {
        for (uint32_t j = 0; j < k; j++) {
            size_t kk = (size_t)held[(size_t)c * k + j], nk = count[kk + 1] - count[kk];
            uint32_t part = given[kk]++;
            size_t sz = nk / times[kk] + (part < nk % times[kk]);
            memcpy(p->idx + pos, by_class + startk[kk], sz * sizeof *p->idx);
            startk[kk] += sz;
            pos += sz;
        }
        p->off[c + 1] = (uint32_t)pos;
    }
    FS_CHECK(pos == placed);
out:
    free(by_class);
    free(count);
    free(held);
    free(times);
    free(given);
    free(startk);
    return e;
}

fs_err part_split_local(partition *p, double fraction, uint64_t seed)
{
    if (!(fraction >= 0 && fraction < 1))
        return fs_error(FS_EINPUT, "local test fraction %g is outside [0, 1)", fraction);
    free(p->split);
    p->split = FS_CALLOC(p->n_clients ? p->n_clients : 1, sizeof *p->split);
    if (!p->split) return FS_ENOMEM;
    for (uint32_t c = 0; c < p->n_clients; c++) {
        uint32_t n = p->off[c + 1] - p->off[c];
        rng_t r;
        rng_init(&r, seed, RNG_PARTITION, c, PART_KEY_LOCAL);
        rng_shuffle_u32(&r, p->idx + p->off[c], n);
        uint32_t n_test = (uint32_t)floor(fraction * (double)n);
        if (n_test >= n && n > 0) n_test = n - 1;
        p->split[c] = p->off[c + 1] - n_test;
    }
    return FS_OK;
}

fs_err part_set_feature(partition *p, const dataset *ds, part_feature_kind kind, double level,
                        uint64_t seed)
{
    memset(&p->feature, 0, sizeof p->feature);
    if (kind == PART_FEAT_NONE) return FS_OK;
    if (!(level >= 0) || !isfinite(level))
        return fs_error(FS_EINPUT, "feature skew level %g must be a finite number >= 0", level);
    if (ds->task != DS_CLASSIFY)
        return fs_error(FS_EINPUT,
                        "feature skew (%s) needs numeric inputs; dataset '%s' holds token ids",
                        kind == PART_FEAT_NOISE ? "noise" : "rotation", ds->name);
    if (kind == PART_FEAT_ROTATE && (ds->shape[1] < 2 || ds->shape[2] < 2))
        return fs_error(FS_EINPUT,
                        "feature skew rotation needs images; dataset '%s' has samples of shape "
                        "%d x %d x %d",
                        ds->name, ds->shape[0], ds->shape[1], ds->shape[2]);
    p->feature = (part_feature){kind, level, p->n_clients, seed};
    return FS_OK;
}

/* Value of pixel (ch, y, x) of training sample row, scaled like ds_gather; 0 outside. */
static inline float pixel(const dataset *ds, size_t row, int ch, int y, int x)
{
    const int H = ds->shape[1], W = ds->shape[2];
    if (y < 0 || y >= H || x < 0 || x >= W) return 0.0f;
    size_t j = row * ds->feat + ((size_t)ch * H + (size_t)y) * W + (size_t)x;
    return ds->dtype == DS_U8 ? (float)((const uint8_t *)ds->train.x)[j] * ds->x_scale
                              : ((const float *)ds->train.x)[j];
}

void part_transform(const partition *p, const dataset *ds, uint32_t c, const uint32_t *idx,
                    size_t b, float *x)
{
    const part_feature *f = &p->feature;
    if (f->kind == PART_FEAT_NONE) return;
    const double frac = f->n_clients > 1 ? (double)c / (double)(f->n_clients - 1) : 0.0;
    const double level = f->level * frac;
    const size_t F = ds->feat;
    if (f->kind == PART_FEAT_NOISE) {
        if (level == 0) return;
        for (size_t i = 0; i < b; i++) {
            rng_t r;
            rng_init(&r, f->seed, RNG_PARTITION, c, PART_KEY_NOISE | idx[i]);
            float *xi = x + i * F;
            for (size_t j = 0; j < F; j++) xi[j] += (float)(level * rng_normal(&r));
        }
        return;
    }
    /* rotation by +level degrees (counter-clockwise on screen, y down) about the image centre,
     * bilinear interpolation, zero outside: out(y, x) = in(R(-theta) (y, x)) */
    const double th = level * M_PI / 180.0, cs = cos(th), sn = sin(th);
    const int C = ds->shape[0], H = ds->shape[1], W = ds->shape[2];
    const double cy = (H - 1) / 2.0, cx = (W - 1) / 2.0;
    for (size_t i = 0; i < b; i++) {
        float *xi = x + i * F;
        for (int yy = 0; yy < H; yy++)
            for (int xx = 0; xx < W; xx++) {
                double dx = xx - cx, dy = yy - cy;
                double sx = cs * dx - sn * dy + cx, sy = sn * dx + cs * dy + cy;
                /* snap coordinates within 1e-9 of a pixel: exact multiples of 90 degrees */
                if (fabs(sx - nearbyint(sx)) < 1e-9) sx = nearbyint(sx);
                if (fabs(sy - nearbyint(sy)) < 1e-9) sy = nearbyint(sy);
                int x0 = (int)floor(sx), y0 = (int)floor(sy);
                float ax = (float)(sx - x0), ay = (float)(sy - y0);
                for (int ch = 0; ch < C; ch++) {
                    float v00 = pixel(ds, idx[i], ch, y0, x0);
                    float v01 = ax > 0 ? pixel(ds, idx[i], ch, y0, x0 + 1) : 0.0f;
                    float v10 = ay > 0 ? pixel(ds, idx[i], ch, y0 + 1, x0) : 0.0f;
                    float v11 = ax > 0 && ay > 0 ? pixel(ds, idx[i], ch, y0 + 1, x0 + 1) : 0.0f;
                    xi[((size_t)ch * H + (size_t)yy) * W + (size_t)xx] =
                        (1 - ay) * ((1 - ax) * v00 + ax * v01) + ay * ((1 - ax) * v10 + ax * v11);
                }
            }
    }
}
