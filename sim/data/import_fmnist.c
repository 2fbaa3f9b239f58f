/* Fashion-MNIST importer (Xiao et al. 2017) from the IDX files that Debian's
 * dataset-fashion-mnist installs. Checks magic numbers, dimensions, label range and that
 * each file holds exactly the bytes its header promises (truncation is an error). */
#include "data/importers.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zlib.h>

void imp_set_date(dataset *ds)
{
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(ds->import_date, sizeof ds->import_date, "%Y-%m-%d", &tm);
}

static uint32_t be32(const unsigned char *b)
{
    return ((uint32_t)b[0] << 24) | ((uint32_t)b[1] << 16) | ((uint32_t)b[2] << 8) | b[3];
}

/* Read an IDX file (gzip) of ndim dims with uint8 data; dims checked against want (0 = any).
 * Data goes to out (cap bytes). Updates crc. */
static fs_err read_idx(const char *path, int ndim, const uint32_t *want, void *out, size_t cap,
                       uLong *crc)
{
    gzFile f = gzopen(path, "rb");
    if (!f)
        return fs_error(FS_EINPUT, "%s: cannot open (is dataset-fashion-mnist installed?)", path);
    unsigned char hdr[16];
    size_t hlen = 4 + 4 * (size_t)ndim;
    fs_err e = FS_OK;
    int got = gzread(f, hdr, (unsigned)hlen);
    if (got != (int)hlen) {
        e = fs_error(FS_EDATA, "%s: truncated header", path);
        goto out;
    }
    *crc = crc32(*crc, hdr, (uInt)hlen);
    if (hdr[0] != 0 || hdr[1] != 0 || hdr[2] != 0x08 || hdr[3] != ndim) {
        e = fs_error(FS_EDATA, "%s: bad IDX magic %02x%02x%02x%02x (want uint8, %d dims)", path,
                     hdr[0], hdr[1], hdr[2], hdr[3], ndim);
        goto out;
    }
    size_t total = 1;
    for (int i = 0; i < ndim; i++) {
        uint32_t d = be32(hdr + 4 + 4 * i);
        if (want[i] && d != want[i]) {
            e = fs_error(FS_EDATA, "%s: dimension %d is %u, expected %u", path, i, d, want[i]);
            goto out;
        }
        total *= d;
    }
    if (total != cap) {
        e = fs_error(FS_EDATA, "%s: holds %zu bytes of data, expected %zu", path, total, cap);
        goto out;
    }
    size_t done = 0;
    while (done < total) {
        unsigned chunk = (unsigned)((total - done) > (1u << 30) ? (1u << 30) : (total - done));
        int r = gzread(f, (unsigned char *)out + done, chunk);
        if (r <= 0) {
            int zerr;
            const char *msg = gzerror(f, &zerr);
            e = fs_error(FS_EDATA, "%s: truncated or corrupt after %zu of %zu data bytes (%s)",
                         path, done, total, zerr ? msg : "end of file");
            goto out;
        }
        *crc = crc32(*crc, (unsigned char *)out + done, (uInt)r);
        done += (size_t)r;
    }
    unsigned char extra;
    if (gzread(f, &extra, 1) != 0) e = fs_error(FS_EDATA, "%s: trailing bytes after data", path);
out:
    gzclose(f);
    return e;
}

static fs_err load_part(const char *dir, const char *prefix, size_t n, dataset *ds, ds_split *s,
                        uLong *crc)
{
    char p[4096];
    uint32_t wimg[3] = {(uint32_t)n, 28, 28}, wlab[1] = {(uint32_t)n};
    uint8_t *lab = NULL;
    fs_err e = ds_split_alloc(ds, s, n, 0);
    if (e) return e;
    snprintf(p, sizeof p, "%s/%s-images-idx3-ubyte.gz", dir, prefix);
    e = read_idx(p, 3, wimg, s->x, n * 784, crc);
    if (e) return e;
    lab = FS_CALLOC(n, 1);
    if (!lab) return FS_ENOMEM;
    snprintf(p, sizeof p, "%s/%s-labels-idx1-ubyte.gz", dir, prefix);
    e = read_idx(p, 1, wlab, lab, n, crc);
    for (size_t i = 0; !e && i < n; i++) {
        if (lab[i] > 9) e = fs_error(FS_EDATA, "%s: label %u at %zu is outside 0..9", p, lab[i], i);
        s->y[i] = lab[i];
    }
    free(lab);
    return e;
}

fs_err imp_fashion_mnist(const char *dir, dataset *ds)
{
    memset(ds, 0, sizeof *ds);
    snprintf(ds->name, sizeof ds->name, "fashion-mnist");
    snprintf(ds->source, sizeof ds->source, "Fashion-MNIST (Xiao et al. 2017), IDX files in %s",
             dir);
    imp_set_date(ds);
    ds->dtype = DS_U8;
    ds->task = DS_CLASSIFY;
    ds->shape[0] = 1;
    ds->shape[1] = 28;
    ds->shape[2] = 28;
    ds->feat = 784;
    ds->y_len = 1;
    ds->n_classes = 10;
    ds->x_scale = 1.0f / 255.0f;
    static const char *const classes[10] = {"T-shirt/top", "Trouser",   "Pullover", "Dress",
                                            "Coat",        "Sandal",    "Shirt",    "Sneaker",
                                            "Bag",         "Ankle boot"};
    uLong crc = crc32(0L, Z_NULL, 0);
    fs_err e = ds_names_set(&ds->class_names, 10, classes);
    if (!e) e = load_part(dir, "train", 60000, ds, &ds->train, &crc);
    if (!e) e = load_part(dir, "t10k", 10000, ds, &ds->test, &crc);
    if (e) {
        ds_free(ds);
        return e;
    }
    snprintf(ds->checksum, sizeof ds->checksum, "crc32:%08lx", crc);
    return FS_OK;
}
