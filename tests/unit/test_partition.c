/* Partitions: every sample in exactly one client (or the documented subset); dirichlet with
 * large alpha is near-iid and with small alpha skewed, measured by the partition stats (label
 * EMD, classes per client); pathological shards and #C=k give k classes per client; quantity
 * skew sizes; natural grouping; local test splits; feature skew transforms (noise per sample
 * deterministic, rotation against hand-computed pixels); the stats against a hand-computed
 * partition. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "data/partition.h"
#include "data/stats.h"
#include "util/log.h"

#define N 6000
#define K 10

static int32_t labels[N];

static void make_labels(void)
{
    rng_t r;
    rng_init(&r, 11, RNG_TEST, 0, 0);
    for (int i = 0; i < N; i++) labels[i] = (int32_t)rng_below(&r, K);
}

static void assert_exact_cover(const partition *p, size_t n)
{
    assert_int_equal(p->off[0], 0);
    assert_int_equal(p->off[p->n_clients], n);
    unsigned char *seen = calloc(n, 1);
    for (size_t i = 0; i < p->n_samples; i++) {
        assert_true(p->idx[i] < n);
        assert_int_equal(seen[p->idx[i]], 0);
        seen[p->idx[i]] = 1;
    }
    for (size_t i = 0; i < n; i++) assert_int_equal(seen[i], 1);
    free(seen);
}

/* mean over clients of the total-variation distance between client and global label mix */
static double label_skew(const partition *p)
{
    double glob[K] = {0}, tv = 0;
    for (int i = 0; i < N; i++) glob[labels[i]] += 1.0 / N;
    for (uint32_t c = 0; c < p->n_clients; c++) {
        double h[K] = {0};
        uint32_t n = part_size(p, c);
        for (uint32_t j = 0; j < n; j++) h[labels[part_samples(p, c)[j]]] += 1.0 / n;
        double d = 0;
        for (int k = 0; k < K; k++) d += fabs(h[k] - glob[k]) / 2;
        tv += d / p->n_clients;
    }
    return tv;
}

static void test_iid(void **st)
{
    (void)st;
    partition p;
    assert_int_equal(part_iid(N, 7, 1, &p), FS_OK);
    assert_exact_cover(&p, N);
    for (uint32_t c = 0; c < 7; c++)
        assert_true(part_size(&p, c) == 857 || part_size(&p, c) == 858);
    part_free(&p);
}

static void test_dirichlet(void **st)
{
    (void)st;
    partition hi, lo;
    assert_int_equal(part_dirichlet(labels, N, K, 20, 100.0, 10, 1, &hi), FS_OK);
    assert_exact_cover(&hi, N);
    assert_int_equal(part_dirichlet(labels, N, K, 20, 0.1, 10, 1, &lo), FS_OK);
    assert_exact_cover(&lo, N);
    for (uint32_t c = 0; c < 20; c++) assert_true(part_size(&lo, c) >= 10);
    double skew_hi = label_skew(&hi), skew_lo = label_skew(&lo);
    assert_true(skew_hi < 0.1); /* near-iid: measured 0.038 */
    assert_true(skew_lo > 0.5); /* strongly skewed: measured 0.72 */
    /* the same through the stats: EMD = 2 x total variation; classes per client */
    part_stats sh, sl;
    assert_int_equal(stats_partition(&hi, labels, 1, K, N, &sh, NULL), FS_OK);
    assert_int_equal(stats_partition(&lo, labels, 1, K, N, &sl, NULL), FS_OK);
    assert_float_equal(sh.mean_emd, 2 * skew_hi, 1e-9);
    assert_float_equal(sl.mean_emd, 2 * skew_lo, 1e-9);
    assert_true(sh.mean_emd < 0.2);       /* measured 0.076 */
    assert_true(sl.mean_emd > 1.2);       /* measured 1.45 */
    assert_true(sh.mean_classes == 10.0); /* 300 samples each from 10 near-equal classes */
    assert_true(sl.mean_classes < 6.0);   /* measured 4.55 */
    /* deterministic for a seed, different across seeds */
    partition again, other;
    part_dirichlet(labels, N, K, 20, 0.1, 10, 1, &again);
    part_dirichlet(labels, N, K, 20, 0.1, 10, 2, &other);
    assert_memory_equal(again.idx, lo.idx, N * sizeof(uint32_t));
    assert_true(memcmp(other.idx, lo.idx, N * sizeof(uint32_t)) != 0);
    part_free(&hi);
    part_free(&lo);
    part_free(&again);
    part_free(&other);
}

static void test_dirichlet_impossible(void **st)
{
    (void)st;
    partition p;
    assert_int_equal(part_dirichlet(labels, N, K, 1000, 0.5, 10, 1, &p), FS_EINPUT);
}

static void test_quantity(void **st)
{
    (void)st;
    for (int d = 0; d < 2; d++) {
        partition p;
        assert_int_equal(part_quantity(N, 50, (part_qdist)d, d ? 1.0 : 1.5, 5, 3, &p), FS_OK);
        assert_exact_cover(&p, N);
        uint32_t mn = UINT32_MAX, mx = 0;
        for (uint32_t c = 0; c < 50; c++) {
            mn = part_size(&p, c) < mn ? part_size(&p, c) : mn;
            mx = part_size(&p, c) > mx ? part_size(&p, c) : mx;
        }
        assert_true(mn >= 5);
        assert_true(mx > 3 * (N / 50)); /* heavy tail: the largest client is far above mean */
        part_free(&p);
    }
}

static void test_natural(void **st)
{
    (void)st;
    int32_t owner[N];
    for (int i = 0; i < N; i++) owner[i] = (i * 7) % 13;
    partition p;
    assert_int_equal(part_natural(owner, N, 13, &p), FS_OK);
    assert_exact_cover(&p, N);
    for (uint32_t c = 0; c < 13; c++)
        for (uint32_t j = 0; j < part_size(&p, c); j++)
            assert_int_equal(owner[part_samples(&p, c)[j]], c);
    part_free(&p);
    owner[5] = 13;
    assert_int_equal(part_natural(owner, N, 13, &p), FS_EDATA);
}

/* Many clients, few samples each: no draw meets min_size, the top-up does. */
static void test_dirichlet_top_up(void **st)
{
    (void)st;
    partition p;
    assert_int_equal(part_dirichlet(labels, N, K, 1500, 0.5, 2, 5, &p), FS_OK);
    assert_exact_cover(&p, N);
    for (uint32_t c = 0; c < 1500; c++) assert_true(part_size(&p, c) >= 2);
    part_free(&p);
}

/* classes present in client c's training part */
static int n_classes_of(const partition *p, const int32_t *lab, uint32_t c)
{
    int seen[K] = {0}, n = 0;
    for (uint32_t j = 0; j < part_size(p, c); j++) seen[lab[part_samples(p, c)[j]]] = 1;
    for (int k = 0; k < K; k++) n += seen[k];
    return n;
}

static void test_shards_mcmahan(void **st)
{
    (void)st;
    /* McMahan et al. 2017: 60,000 samples, 100 clients x 2 shards of 300 */
    enum { M = 60000 };
    int32_t *lab = malloc(M * sizeof *lab);
    for (int i = 0; i < M; i++) lab[i] = (int32_t)((i * 7) % K); /* 6,000 per class */
    partition p;
    assert_int_equal(part_shards(lab, M, K, 100, 2, 0, 1, &p), FS_OK);
    assert_exact_cover(&p, M);
    int one = 0;
    for (uint32_t c = 0; c < 100; c++) {
        assert_int_equal(part_size(&p, c), 600);
        int nc = n_classes_of(&p, lab, c);
        assert_true(nc == 1 || nc == 2); /* every shard is one class: 6000 = 20 x 300 */
        one += nc == 1;
    }
    /* the paper's random deal: P(two shards of one class) = 19/199, ~9.5 of 100 clients (measured
     * 10) */
    assert_true(one >= 1 && one <= 25);
    part_free(&p);
    /* distinct: exactly k = 2 classes for every client */
    assert_int_equal(part_shards(lab, M, K, 100, 2, 1, 1, &p), FS_OK);
    assert_exact_cover(&p, M);
    for (uint32_t c = 0; c < 100; c++) assert_int_equal(n_classes_of(&p, lab, c), 2);
    part_free(&p);
    /* k = 3 on 6000 samples, 50 clients: 150 shards of 40, 600 per class = 15 shards each */
    assert_int_equal(part_shards(labels, N, K, 50, 3, 1, 2, &p), FS_OK);
    assert_exact_cover(&p, N);
    for (uint32_t c = 0; c < 50; c++) assert_true(part_size(&p, c) == 120);
    part_free(&p);
    /* uneven: 6000 over 7 x 3 shards -> sizes 285 or 286, still an exact cover */
    assert_int_equal(part_shards(labels, N, K, 7, 3, 0, 3, &p), FS_OK);
    assert_exact_cover(&p, N);
    part_free(&p);
    assert_int_equal(part_shards(labels, N, K, 4000, 2, 0, 1, &p), FS_EINPUT);
    assert_int_equal(part_shards(labels, N, K, 10, 11, 1, 1, &p), FS_EINPUT);
    free(lab);
}

static void test_labels_c_k(void **st)
{
    (void)st;
    for (uint32_t k = 1; k <= 3; k++) {
        partition p;
        assert_int_equal(part_labels(labels, N, K, 50, k, 4, &p), FS_OK);
        assert_exact_cover(&p, N); /* 50 >= 10 clients: every class has a holder */
        for (uint32_t c = 0; c < 50; c++) {
            assert_int_equal(n_classes_of(&p, labels, c), (int)k);
            /* NIID-Bench: client i always holds class i mod K */
            int has = 0;
            for (uint32_t j = 0; j < part_size(&p, c); j++)
                has |= labels[part_samples(&p, c)[j]] == (int32_t)(c % K);
            assert_true(has);
        }
        part_stats s;
        assert_int_equal(stats_partition(&p, labels, 1, K, N, &s, NULL), FS_OK);
        assert_float_equal(s.mean_classes, k, 1e-12);
        part_free(&p);
    }
    /* 4 clients, k = 2: at most 8 classes held; the rest is left out (documented subset) */
    partition p;
    assert_int_equal(part_labels(labels, N, K, 4, 2, 4, &p), FS_OK);
    int held[K] = {0};
    for (uint32_t c = 0; c < 4; c++)
        for (uint32_t j = 0; j < part_size(&p, c); j++) held[labels[part_samples(&p, c)[j]]] = 1;
    size_t expect = 0;
    for (int i = 0; i < N; i++) expect += held[labels[i]];
    assert_int_equal(p.n_samples, expect);
    assert_true(p.n_samples < N);
    unsigned char *seen = calloc(N, 1);
    for (size_t i = 0; i < p.n_samples; i++) {
        assert_int_equal(seen[p.idx[i]], 0);
        seen[p.idx[i]] = 1;
    }
    free(seen);
    part_free(&p);
    assert_int_equal(part_labels(labels, N, K, 4, 11, 4, &p), FS_EINPUT);
}

static void test_quantity_dirichlet(void **st)
{
    (void)st;
    partition lo, hi;
    assert_int_equal(part_quantity(N, 40, PART_Q_DIRICHLET, 0.2, 5, 6, &lo), FS_OK);
    assert_int_equal(part_quantity(N, 40, PART_Q_DIRICHLET, 1000, 5, 6, &hi), FS_OK);
    assert_exact_cover(&lo, N);
    assert_exact_cover(&hi, N);
    part_stats sl, sh;
    stats_partition(&lo, labels, 1, K, N, &sl, NULL);
    stats_partition(&hi, labels, 1, K, N, &sh, NULL);
    assert_true(sl.size_min >= 5);
    assert_true(sl.size_max > 3 * 150);           /* skewed sizes: measured 1,051 */
    assert_true(sh.size_sd < 0.1 * sh.size_mean); /* alpha 1000: near-equal, measured 4.5 */
    part_free(&lo);
    part_free(&hi);
}

static void test_local_split(void **st)
{
    (void)st;
    partition p, q;
    assert_int_equal(part_dirichlet(labels, N, K, 10, 0.5, 10, 7, &p), FS_OK);
    assert_int_equal(part_dirichlet(labels, N, K, 10, 0.5, 10, 7, &q), FS_OK);
    uint32_t total[10];
    for (uint32_t c = 0; c < 10; c++) total[c] = part_size(&p, c);
    assert_int_equal(part_split_local(&p, 0.25, 7), FS_OK);
    assert_exact_cover(&p, N); /* train + local test still cover everything */
    size_t held = 0;
    for (uint32_t c = 0; c < 10; c++) {
        uint32_t nt = (uint32_t)floor(0.25 * total[c]);
        assert_int_equal(part_test_size(&p, c), nt);
        assert_int_equal(part_size(&p, c) + part_test_size(&p, c), total[c]);
        assert_ptr_equal(part_test_samples(&p, c), part_samples(&p, c) + part_size(&p, c));
        held += nt;
        /* the split is a shuffle of the client's own samples */
        uint32_t a = 0, b = 0;
        for (uint32_t j = 0; j < total[c]; j++) {
            a ^= part_samples(&p, c)[j] * 2654435761u;
            b ^= part_samples(&q, c)[j] * 2654435761u;
        }
        assert_int_equal(a, b);
    }
    part_stats s;
    stats_partition(&p, labels, 1, K, N, &s, NULL);
    assert_int_equal(s.n_local_test, held);
    assert_int_equal(part_split_local(&p, 1.0, 7), FS_EINPUT);
    part_free(&p);
    part_free(&q);
}

/* A tiny uint8 image dataset: n samples of C x H x W with pixel value (sample + j) % 256. */
static void tiny_images(dataset *ds, size_t n, int C, int H, int W)
{
    memset(ds, 0, sizeof *ds);
    snprintf(ds->name, sizeof ds->name, "tiny");
    ds->dtype = DS_U8;
    ds->task = DS_CLASSIFY;
    ds->shape[0] = C;
    ds->shape[1] = H;
    ds->shape[2] = W;
    ds->feat = (size_t)C * H * W;
    ds->y_len = 1;
    ds->n_classes = 2;
    ds->x_scale = 1.0f / 255.0f;
    assert_int_equal(ds_split_alloc(ds, &ds->train, n, 0), FS_OK);
    uint8_t *x = ds->train.x;
    for (size_t i = 0; i < n * ds->feat; i++) x[i] = (uint8_t)((i / ds->feat + i % ds->feat) % 256);
}

static void test_feature_noise(void **st)
{
    (void)st;
    dataset ds;
    tiny_images(&ds, 400, 1, 8, 8);
    partition p;
    assert_int_equal(part_iid(400, 5, 1, &p), FS_OK);
    assert_int_equal(part_set_feature(&p, &ds, PART_FEAT_NOISE, 0.5, 9), FS_OK);
    const size_t F = ds.feat;
    float *clean = malloc(80 * F * sizeof(float)), *x = malloc(80 * F * sizeof(float));
    int32_t y[80];
    /* client 0: level 0, untouched */
    ds_gather(&ds, &ds.train, part_samples(&p, 0), 80, clean, y);
    memcpy(x, clean, 80 * F * sizeof(float));
    part_transform(&p, &ds, 0, part_samples(&p, 0), 80, x);
    assert_memory_equal(x, clean, 80 * F * sizeof(float));
    /* client 4 of 5: sd 0.5 * 4 / 4 = 0.5 (5,120 draws: sd within 5%) */
    const uint32_t *s4 = part_samples(&p, 4);
    ds_gather(&ds, &ds.train, s4, 80, clean, y);
    memcpy(x, clean, 80 * F * sizeof(float));
    part_transform(&p, &ds, 4, s4, 80, x);
    double m = 0, v = 0;
    for (size_t i = 0; i < 80 * F; i++) m += (x[i] - clean[i]) / (80.0 * F);
    for (size_t i = 0; i < 80 * F; i++) v += (x[i] - clean[i] - m) * (x[i] - clean[i] - m);
    double sd = sqrt(v / (80.0 * F - 1));
    assert_true(fabs(sd - 0.5) < 0.025);
    assert_true(fabs(m) < 0.03);
    /* the same sample drawn again, alone and at another batch position: the same noise */
    float one[64];
    uint32_t pick[2] = {s4[17], s4[3]};
    float two[128];
    ds_gather(&ds, &ds.train, pick, 2, two, y);
    part_transform(&p, &ds, 4, pick, 2, two);
    assert_memory_equal(two, x + 17 * F, F * sizeof(float));
    assert_memory_equal(two + F, x + 3 * F, F * sizeof(float));
    ds_gather(&ds, &ds.train, &s4[17], 1, one, y);
    part_transform(&p, &ds, 4, &s4[17], 1, one);
    assert_memory_equal(one, x + 17 * F, F * sizeof(float));
    /* client 2 (sd 0.25) gets other noise for the same sample */
    ds_gather(&ds, &ds.train, &s4[17], 1, one, y);
    part_transform(&p, &ds, 2, &s4[17], 1, one);
    assert_true(memcmp(one, x + 17 * F, F * sizeof(float)) != 0);
    free(clean);
    free(x);
    part_free(&p);
    ds_free(&ds);
}

static void test_feature_rotation(void **st)
{
    (void)st;
    dataset ds;
    tiny_images(&ds, 4, 1, 4, 4);
    partition p;
    assert_int_equal(part_iid(4, 2, 1, &p), FS_OK);
    /* N = 2: client 0 at 0 degrees, client 1 at 90 */
    assert_int_equal(part_set_feature(&p, &ds, PART_FEAT_ROTATE, 90, 1), FS_OK);
    float in[16], out[16];
    int32_t y[1];
    uint32_t s = 2;
    ds_gather(&ds, &ds.train, &s, 1, in, y);
    memcpy(out, in, sizeof out);
    part_transform(&p, &ds, 0, &s, 1, out);
    assert_memory_equal(out, in, sizeof out);
    part_transform(&p, &ds, 1, &s, 1, out);
    /* 90 degrees counter-clockwise (y down): out[y][x] = in[x][3 - y] */
    for (int yy = 0; yy < 4; yy++)
        for (int xx = 0; xx < 4; xx++)
            assert_float_equal(out[yy * 4 + xx], in[xx * 4 + (3 - yy)], 1e-6);
    ds_free(&ds);
    /* 45 degrees on 3 x 3: centre fixed; corner (0,0) samples (x 1, y 1 - sqrt 2), i.e.
     * (sqrt 2 - 1) parts of zero padding and 2 - sqrt 2 of in[0][1] */
    tiny_images(&ds, 2, 1, 3, 3);
    assert_int_equal(part_set_feature(&p, &ds, PART_FEAT_ROTATE, 45, 1), FS_OK);
    s = 1;
    ds_gather(&ds, &ds.train, &s, 1, in, y);
    part_transform(&p, &ds, 1, &s, 1, out);
    assert_float_equal(out[4], in[4], 1e-6);
    assert_float_equal(out[0], (2 - sqrt(2.0)) * in[1], 1e-6);
    /* sequence or tabular data cannot be rotated */
    ds.shape[1] = 1;
    ds.shape[2] = 9;
    assert_int_equal(part_set_feature(&p, &ds, PART_FEAT_ROTATE, 45, 1), FS_EINPUT);
    ds.task = DS_SEQUENCE;
    assert_int_equal(part_set_feature(&p, &ds, PART_FEAT_NOISE, 0.1, 1), FS_EINPUT);
    part_free(&p);
    ds_free(&ds);
}

/* Hand-computed: 3 classes, 12 samples, 4 clients of sizes 1, 2, 4, 5. */
static void test_stats_hand(void **st)
{
    (void)st;
    /* labels: 0 x 6, 1 x 4, 2 x 2 -> p = (1/2, 1/3, 1/6) */
    int32_t lab[12] = {0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2};
    uint32_t idx[12] = {0, 1, 6, 2, 3, 7, 10, 4, 5, 8, 9, 11};
    uint32_t off[5] = {0, 1, 3, 7, 12};
    partition p = {4, 12, idx, off, NULL, {0}};
    part_stats s;
    uint64_t mat[12];
    assert_int_equal(stats_partition(&p, lab, 1, 3, 12, &s, mat), FS_OK);
    /* sizes 1 2 4 5: quartiles at positions 0.75, 1.5, 2.25 -> 1.75, 3, 4.25 */
    assert_float_equal(s.size_min, 1, 0);
    assert_float_equal(s.size_q1, 1.75, 1e-12);
    assert_float_equal(s.size_median, 3, 1e-12);
    assert_float_equal(s.size_q3, 4.25, 1e-12);
    assert_float_equal(s.size_max, 5, 0);
    assert_float_equal(s.size_mean, 3, 1e-12);
    assert_float_equal(s.size_sd, sqrt(2.5), 1e-12);
    /* client 0: {0}           -> 1 class,  |1-1/2| + 1/3 + 1/6            = 1
     * client 1: {0, 1}        -> 2 classes, 0 + |1/2-1/3| + 1/6           = 1/3
     * client 2: {0, 0, 1, 2}  -> 3 classes, 0 + |1/4-1/3| + |1/4-1/6|     = 1/6
     * client 3: {0,0,1,1,2}   -> 3 classes, |2/5-1/2| + |2/5-1/3| + |1/5-1/6| = 1/5 */
    assert_float_equal(s.mean_classes, 9.0 / 4, 1e-12);
    assert_float_equal(s.mean_emd, (1 + 1.0 / 3 + 1.0 / 6 + 1.0 / 5) / 4, 1e-12);
    assert_float_equal(s.max_emd, 1, 1e-12);
    uint64_t want[12] = {1, 0, 0, 1, 1, 0, 2, 1, 1, 2, 2, 1};
    assert_memory_equal(mat, want, sizeof want);
    assert_int_equal(s.n_empty, 0);
    assert_int_equal(s.n_placed, 12);
}

int main(void)
{
    log_set_level(LOG_WARN); /* the dirichlet top-up reports itself at info level */
    make_labels();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_iid),
        cmocka_unit_test(test_dirichlet),
        cmocka_unit_test(test_dirichlet_impossible),
        cmocka_unit_test(test_dirichlet_top_up),
        cmocka_unit_test(test_shards_mcmahan),
        cmocka_unit_test(test_labels_c_k),
        cmocka_unit_test(test_quantity),
        cmocka_unit_test(test_quantity_dirichlet),
        cmocka_unit_test(test_natural),
        cmocka_unit_test(test_local_split),
        cmocka_unit_test(test_feature_noise),
        cmocka_unit_test(test_feature_rotation),
        cmocka_unit_test(test_stats_hand),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
