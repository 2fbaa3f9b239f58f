/* The Wisconsin diagnostic breast-cancer table (Street, Wolberg and Mangasarian 1993; UCI) as
 * Debian's python3-sklearn ships it (sklearn/datasets/data/breast_cancer.csv): a first line
 * "569,30,malignant,benign" (rows, features, class names), then one sample per line, 30
 * features and the label (0 malignant, 1 benign) last. The features keep sklearn's order
 * (mean radius ... worst fractal dimension: 10 means, 10 standard errors, 10 worst values),
 * so FATE's hetero-LR split is columns 0-9 at the active party and 10-29 at the other.
 *
 * A stratified test split (test_fraction of each class, drawn from the (seed, RNG_PARTITION,
 * class, 2^59) stream), rows kept in file order within each split. Every feature is then
 * standardised with the mean and population standard deviation of the TRAINING split (as
 * sklearn's StandardScaler fitted on it, FATE's examples' preprocessing): column-wise
 * statistics, which in vertical learning each party computes on its own columns. */
#include "data/importers.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "util/rng.h"

#define BC_ROWS 569
#define BC_FEAT 30

fs_err imp_breast_cancer(const char *path, double test_fraction, uint64_t seed, dataset *ds)
{
    memset(ds, 0, sizeof *ds);
    if (!path) path = BREAST_CANCER_CSV;
    FILE *f = fopen(path, "r");
    if (!f)
        return fs_error(FS_EINPUT,
                        "%s: cannot open: %s (install Debian's python3-sklearn: make deps)", path,
                        strerror(errno));
    double *x = malloc((size_t)BC_ROWS * BC_FEAT * sizeof *x);
    int *y = malloc(BC_ROWS * sizeof *y);
    char line[4096], names[2][64];
    uLong crc = crc32(0L, Z_NULL, 0);
    fs_err e = FS_OK;
    int rows = 0, feat = 0, n = 0;
    if (!x || !y) e = fs_error(FS_ENOMEM, "out of memory reading %s", path);
    if (!e && (!fgets(line, sizeof line, f) ||
               sscanf(line, "%d,%d,%63[^,],%63[^,\r\n]", &rows, &feat, names[0], names[1]) != 4 ||
               rows != BC_ROWS || feat != BC_FEAT))
        e = fs_error(FS_EDATA,
                     "%s:1: expected the header \"569,30,malignant,benign\" of sklearn's "
                     "breast_cancer.csv",
                     path);
    if (!e) crc = crc32(crc, (const Bytef *)line, (uInt)strlen(line));
    while (!e && fgets(line, sizeof line, f)) {
        crc = crc32(crc, (const Bytef *)line, (uInt)strlen(line));
        if (line[strspn(line, " \r\n")] == '\0') continue;
        if (n >= BC_ROWS) {
            e = fs_error(FS_EDATA, "%s:%d: more than %d samples", path, n + 2, BC_ROWS);
            break;
        }
        char *p = line, *end;
        for (int j = 0; j <= BC_FEAT && !e; j++) {
            errno = 0;
            double v = strtod(p, &end);
            if (end == p || errno || !isfinite(v) || (*end != ',' && j < BC_FEAT))
                e = fs_error(FS_EDATA, "%s:%d: field %d is not a number", path, n + 2, j + 1);
            else if (j < BC_FEAT)
                x[(size_t)n * BC_FEAT + j] = v;
            else if (v != 0 && v != 1)
                e = fs_error(FS_EDATA, "%s:%d: label %g is not 0 or 1", path, n + 2, v);
            else
                y[n] = (int)v;
            p = end + 1;
        }
        if (!e && end[strspn(end, " \r\n")] != '\0')
            e = fs_error(FS_EDATA, "%s:%d: more than %d fields", path, n + 2, BC_FEAT + 1);
        n++;
    }
    fclose(f);
    if (!e && n != BC_ROWS)
        e = fs_error(FS_EDATA, "%s: %d samples, the header says %d", path, n, BC_ROWS);
    /* stratified test split */
    uint8_t *is_test = e ? NULL : calloc(BC_ROWS, 1);
    uint32_t *grp = e ? NULL : malloc(BC_ROWS * sizeof *grp);
    if (!e && (!is_test || !grp)) e = fs_error(FS_ENOMEM, "out of memory");
    size_t n_test = 0;
    for (int c = 0; c < 2 && !e; c++) {
        uint32_t m = 0;
        for (int i = 0; i < BC_ROWS; i++)
            if (y[i] == c) grp[m++] = (uint32_t)i;
        rng_t r;
        rng_init(&r, seed, RNG_PARTITION, (uint64_t)c, 1ull << 59);
        rng_shuffle_u32(&r, grp, m);
        const uint32_t k = (uint32_t)floor(test_fraction * m + 0.5);
        for (uint32_t i = 0; i < k; i++) is_test[grp[i]] = 1;
        n_test += k;
    }
    if (!e) {
        snprintf(ds->name, sizeof ds->name, "breast-cancer");
        ds->dtype = DS_F32;
        ds->task = DS_CLASSIFY;
        ds->shape[0] = ds->shape[1] = 1;
        ds->shape[2] = BC_FEAT;
        ds->feat = BC_FEAT;
        ds->y_len = 1;
        ds->n_classes = 2;
        ds->x_scale = 1.0f;
        const char *cn[2] = {names[0], names[1]};
        if ((e = ds_names_set(&ds->class_names, 2, cn)) == FS_OK &&
            (e = ds_split_alloc(ds, &ds->train, BC_ROWS - n_test, 0)) == FS_OK)
            e = ds_split_alloc(ds, &ds->test, n_test, 0);
    }
    if (!e) {
        /* training statistics, in double, in file order */
        double mean[BC_FEAT] = {0}, sd[BC_FEAT] = {0};
        const double nt = (double)(BC_ROWS - n_test);
        for (int i = 0; i < BC_ROWS; i++)
            if (!is_test[i])
                for (int j = 0; j < BC_FEAT; j++) mean[j] += x[(size_t)i * BC_FEAT + j];
        for (int j = 0; j < BC_FEAT; j++) mean[j] /= nt;
        for (int i = 0; i < BC_ROWS; i++)
            if (!is_test[i])
                for (int j = 0; j < BC_FEAT; j++) {
                    const double d = x[(size_t)i * BC_FEAT + j] - mean[j];
                    sd[j] += d * d;
                }
        for (int j = 0; j < BC_FEAT; j++) sd[j] = sqrt(sd[j] / nt);
        size_t a = 0, b = 0;
        for (int i = 0; i < BC_ROWS; i++) {
            ds_split *s = is_test[i] ? &ds->test : &ds->train;
            size_t k = is_test[i] ? b++ : a++;
            float *dst = (float *)s->x + k * BC_FEAT;
            for (int j = 0; j < BC_FEAT; j++)
                dst[j] = (float)((x[(size_t)i * BC_FEAT + j] - mean[j]) / (sd[j] > 0 ? sd[j] : 1));
            s->y[k] = y[i];
        }
        snprintf(ds->source, sizeof ds->source,
                 "%s (sklearn's Wisconsin breast cancer); %zu test samples, stratified, seed %llu; "
                 "features standardised with the training split's mean and sd",
                 path, n_test, (unsigned long long)seed);
        imp_set_date(ds);
        snprintf(ds->checksum, sizeof ds->checksum, "crc32:%08lx", crc);
    }
    free(x);
    free(y);
    free(is_test);
    free(grp);
    if (e) ds_free(ds);
    return e;
}
