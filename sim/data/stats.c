/* Partition statistics (see stats.h). One pass over the placed samples; the per-client label
 * histogram is either the caller's matrix or one reused row. */
#include "data/stats.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util/csv.h"

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

/* numpy.quantile(..., method="linear") of sorted v (n > 0) */
static double quantile(const uint32_t *v, size_t n, double q)
{
    double pos = q * (double)(n - 1);
    size_t lo = (size_t)floor(pos);
    size_t hi = lo + 1 < n ? lo + 1 : lo;
    double f = pos - (double)lo;
    return (double)v[lo] + f * ((double)v[hi] - (double)v[lo]);
}

fs_err stats_partition(const partition *p, const int32_t *y, int y_len, int n_classes,
                       size_t n_total, part_stats *st, uint64_t *matrix)
{
    memset(st, 0, sizeof *st);
    const uint32_t N = p->n_clients;
    const size_t K = (size_t)n_classes;
    st->n_clients = N;
    st->n_total = n_total;
    st->n_placed = p->n_samples;
    uint32_t *sizes = FS_CALLOC(N ? N : 1, sizeof *sizes);
    double *glob = FS_CALLOC(K, sizeof *glob);
    uint64_t *row = matrix ? NULL : FS_CALLOC(K, sizeof *row);
    if (!sizes || !glob || (!matrix && !row)) {
        free(sizes);
        free(glob);
        free(row);
        return FS_ENOMEM;
    }
    const size_t yl = (size_t)y_len;
    for (size_t i = 0; i < n_total * yl; i++) glob[y[i]] += 1.0;
    for (size_t k = 0; k < K; k++) glob[k] /= (double)(n_total * yl);
    double sum = 0, sum2 = 0, classes = 0, emd = 0;
    uint32_t nonempty = 0;
    for (uint32_t c = 0; c < N; c++) {
        const uint32_t n = part_size(p, c);
        const uint32_t *s = part_samples(p, c);
        st->n_local_test += part_test_size(p, c);
        sizes[c] = n;
        sum += n;
        sum2 += (double)n * n;
        uint64_t *h = matrix ? matrix + (size_t)c * K : row;
        memset(h, 0, K * sizeof *h);
        for (uint32_t j = 0; j < n; j++)
            for (size_t t = 0; t < yl; t++) h[y[(size_t)s[j] * yl + t]]++;
        if (n == 0) {
            st->n_empty++;
            continue;
        }
        nonempty++;
        double d = 0;
        int present = 0;
        for (size_t k = 0; k < K; k++) {
            present += h[k] > 0;
            d += fabs((double)h[k] / ((double)n * (double)yl) - glob[k]);
        }
        classes += present;
        emd += d;
        if (d > st->max_emd) st->max_emd = d;
    }
    if (N > 0) {
        qsort(sizes, N, sizeof *sizes, cmp_u32);
        st->size_min = sizes[0];
        st->size_max = sizes[N - 1];
        st->size_q1 = quantile(sizes, N, 0.25);
        st->size_median = quantile(sizes, N, 0.5);
        st->size_q3 = quantile(sizes, N, 0.75);
        st->size_mean = sum / N;
        double var = sum2 / N - st->size_mean * st->size_mean;
        st->size_sd = var > 0 ? sqrt(var) : 0;
    }
    st->mean_classes = nonempty ? classes / nonempty : 0;
    st->mean_emd = nonempty ? emd / nonempty : 0;
    free(sizes);
    free(glob);
    free(row);
    return FS_OK;
}

void stats_print_json(FILE *out, const part_stats *st, const char *extra)
{
    fprintf(out,
            "{%s\"clients\": %u, \"empty_clients\": %u, \"samples_total\": %zu, "
            "\"samples_placed\": %zu, \"samples_local_test\": %zu, "
            "\"size\": {\"min\": %.17g, \"q1\": %.17g, \"median\": %.17g, \"q3\": %.17g, "
            "\"max\": %.17g, \"mean\": %.17g, \"sd\": %.17g}, "
            "\"mean_classes\": %.17g, \"mean_emd\": %.17g, \"max_emd\": %.17g}",
            extra ? extra : "", st->n_clients, st->n_empty, st->n_total, st->n_placed,
            st->n_local_test, st->size_min, st->size_q1, st->size_median, st->size_q3, st->size_max,
            st->size_mean, st->size_sd, st->mean_classes, st->mean_emd, st->max_emd);
}

fs_err stats_write_matrix(const char *path, const dataset *ds, const partition *p,
                          const uint64_t *matrix, int natural)
{
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f) return fs_error(FS_EIO, "%s: cannot create file", tmp);
    const int K = ds->n_classes;
    fputs("client,name,n_train,n_local_test", f);
    for (int k = 0; k < K; k++) {
        char buf[32];
        const char *nm = ds_name_at(&ds->class_names, k);
        if (!nm && ds->vocab) {
            buf[0] = ds->vocab[k];
            buf[1] = '\0';
            nm = buf;
        } else if (!nm) {
            snprintf(buf, sizeof buf, "%d", k);
            nm = buf;
        }
        fputc(',', f);
        csv_put_field(f, nm);
    }
    fputc('\n', f);
    /* natural partitions keep the dataset's client numbering, so names apply */
    const int named = natural && ds->client_names.n == (int)p->n_clients;
    for (uint32_t c = 0; c < p->n_clients; c++) {
        fprintf(f, "%u,", c);
        csv_put_field(f, named ? ds_name_at(&ds->client_names, (int)c) : "");
        fprintf(f, ",%u,%u", part_size(p, c), part_test_size(p, c));
        for (int k = 0; k < K; k++)
            fprintf(f, ",%llu", (unsigned long long)matrix[(size_t)c * (size_t)K + (size_t)k]);
        fputc('\n', f);
    }
    int bad = ferror(f);
    if (fclose(f) != 0 || bad) {
        remove(tmp);
        return fs_error(FS_EIO, "%s: write failed", tmp);
    }
    if (rename(tmp, path) != 0) return fs_error(FS_EIO, "cannot rename %s to %s", tmp, path);
    return FS_OK;
}
