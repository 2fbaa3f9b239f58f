/* fedsim HDF5 dataset layout (docs/datasets.md):
 *   /            attributes format="fedsim-dataset", version=1, name, source, import_date,
 *                checksum, layout[8] (dtype, task, shape[3], y_len, n_classes, n_natural),
 *                x_scale, vocab (text only)
 *   /train/x     (n, feat) uint8 or float32        /train/y (n, y_len) int32
 *   /train/client (n, 1) int32, optional            /test/x, /test/y, /test/client likewise
 *   /client_names (n_natural) strings, optional     /class_names (n_classes) strings, optional
 * Every read is checked against the attributes (shapes, label range, client id range, token
 * range, vocabulary length), so a truncated, corrupt or mismatched file is reported with the
 * file name and what disagrees. Writes go to a temporary file first, then are renamed. */
#include "data/dataset.h"
#include "data/lazy.h"
#include "util/h5.h"
#include "util/simd.h"

#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

size_t ds_x_bytes(const dataset *ds)
{
    return ds->feat * (ds->dtype == DS_U8 ? 1 : sizeof(float));
}

fs_err ds_split_alloc(const dataset *ds, ds_split *s, size_t n, int with_client)
{
    memset(s, 0, sizeof *s);
    s->n = n;
    s->x = FS_ALIGNED_HUGE(n ? n : 1, ds_x_bytes(ds)); /* rows are read at random */
    s->y = FS_CALLOC(n ? n * (size_t)ds->y_len : 1, sizeof(int32_t));
    if (with_client) s->client = FS_CALLOC(n ? n : 1, sizeof(int32_t));
    if (!s->x || !s->y || (with_client && !s->client)) return FS_ENOMEM;
    return FS_OK;
}

static void split_free(ds_split *s)
{
    free(s->x);
    free(s->y);
    free(s->client);
    memset(s, 0, sizeof *s);
}

void ds_names_free(ds_names *nm)
{
    free(nm->buf);
    memset(nm, 0, sizeof *nm);
}

fs_err ds_names_set(ds_names *nm, int n, const char *const *names)
{
    memset(nm, 0, sizeof *nm);
    if (n <= 0) return FS_OK;
    size_t w = 1;
    for (int i = 0; i < n; i++) {
        size_t l = strlen(names[i]);
        if (l + 1 > w) w = l + 1;
    }
    if (w > 256) w = 256;
    nm->buf = FS_CALLOC((size_t)n, w);
    if (!nm->buf) return FS_ENOMEM;
    nm->n = n;
    nm->width = (int)w;
    for (int i = 0; i < n; i++) snprintf(nm->buf + (size_t)i * w, w, "%s", names[i]);
    return FS_OK;
}

const char *ds_name_at(const ds_names *nm, int i)
{
    return nm->buf && i >= 0 && i < nm->n ? nm->buf + (size_t)i * (size_t)nm->width : NULL;
}

void ds_free(dataset *ds)
{
    ds_lazy_free(ds->lazy);
    ds->lazy = NULL;
    split_free(&ds->train);
    split_free(&ds->test);
    free(ds->vocab);
    ds->vocab = NULL;
    ds_names_free(&ds->client_names);
    ds_names_free(&ds->class_names);
}

/* dst = src * sc: exact conversions and one rounding each, so every vector width gives the
 * bits of the scalar loop (util/simd.h); a tenth of a small model's step was this loop. */
FS_SIMD_INLINE void ds_scale_u8_body(float *restrict dst, const uint8_t *restrict src, size_t n,
                                     float sc)
{
#pragma omp simd
    for (size_t j = 0; j < n; j++) dst[j] = (float)src[j] * sc;
}

FS_SIMD_DISPATCH(ds_scale_u8, (float *dst, const uint8_t *src, size_t n, float sc),
                 (dst, src, n, sc))

void ds_gather(const dataset *ds, const ds_split *s, const uint32_t *idx, size_t b, float *x_out,
               int32_t *y_out)
{
    if (ds->lazy && s == &ds->train) {
        ds_lazy_gather(ds, idx, b, x_out, y_out);
        return;
    }
    const size_t f = ds->feat;
    const int yl = ds->y_len;
    for (size_t i = 0; i < b; i++) {
        size_t r = idx[i];
        float *dst = x_out + i * f;
        if (ds->dtype == DS_U8) {
            const uint8_t *src = (const uint8_t *)s->x + r * f;
            const float sc = ds->task == DS_SEQUENCE ? 1.0f : ds->x_scale;
            ds_scale_u8(dst, src, f, sc);
        } else {
            memcpy(dst, (const float *)s->x + r * f, f * sizeof(float));
        }
        memcpy(y_out + i * (size_t)yl, s->y + r * (size_t)yl, (size_t)yl * sizeof(int32_t));
    }
}

void ds_prefetch(const dataset *ds, const ds_split *s, const uint32_t *idx, size_t b)
{
#if defined(__GNUC__) || defined(__clang__)
    if (ds->lazy && s == &ds->train) return;
    const size_t row = ds_x_bytes(ds), line = 64;
    const size_t yrow = (size_t)ds->y_len * sizeof(int32_t);
    for (size_t i = 0; i < b; i++) {
        const char *x = (const char *)s->x + idx[i] * row;
        for (size_t o = 0; o < row; o += line) __builtin_prefetch(x + o, 0, 2);
        __builtin_prefetch(x + row - 1, 0, 2); /* a row that straddles one more line */
        __builtin_prefetch((const char *)(s->y + idx[i] * (size_t)ds->y_len) + yrow - 1, 0, 2);
    }
#else
    (void)ds, (void)s, (void)idx, (void)b;
#endif
}

/* ---- HDF5 helpers: every failure becomes an fs_error naming the file and object ---- */

/* A string attribute into a fixed buffer (truncated to cap). */
static fs_err get_str(hid_t loc, const char *name, char *out, size_t cap, const char *path)
{
    char *buf;
    out[0] = '\0';
    fs_err e = h5_get_str(loc, name, &buf, path, "dataset");
    if (e) return e;
    snprintf(out, cap, "%s", buf);
    free(buf);
    return FS_OK;
}

static fs_err put_array(hid_t g, const char *name, hid_t type, const void *data, hsize_t rows,
                        hsize_t cols, const char *path)
{
    hsize_t dims[2] = {rows, cols};
    hid_t sp = H5Screate_simple(2, dims, NULL);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    if (rows > 0 && rows * cols > 4096) {
        hsize_t chunk[2] = {rows < 1024 ? rows : 1024, cols};
        H5Pset_chunk(dcpl, 2, chunk);
        H5Pset_deflate(dcpl, 4);
        H5Pset_fletcher32(dcpl); /* checksums: corruption is detected on read */
    }
    hid_t d = H5Dcreate2(g, name, type, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    herr_t rc = d < 0 ? -1 : (rows ? H5Dwrite(d, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) : 0);
    if (d >= 0) H5Dclose(d);
    H5Pclose(dcpl);
    H5Sclose(sp);
    return rc < 0 ? fs_error(FS_EIO, "%s: cannot write dataset '%s'", path, name) : FS_OK;
}

static fs_err get_array(hid_t g, const char *name, hid_t type, void *data, hsize_t rows,
                        hsize_t cols, const char *path, const char *grp)
{
    if (H5Lexists(g, name, H5P_DEFAULT) <= 0)
        return fs_error(FS_EDATA, "%s: /%s/%s is missing", path, grp, name);
    hid_t d = H5Dopen2(g, name, H5P_DEFAULT);
    hid_t sp = H5Dget_space(d);
    hsize_t dims[2] = {0, 0};
    int nd = H5Sget_simple_extent_dims(sp, dims, NULL);
    H5Sclose(sp);
    if (nd != 2 || dims[0] != rows || dims[1] != cols) {
        H5Dclose(d);
        return fs_error(FS_EDATA, "%s: /%s/%s has shape (%llu, %llu), expected (%llu, %llu)", path,
                        grp, name, (unsigned long long)dims[0], (unsigned long long)dims[1],
                        (unsigned long long)rows, (unsigned long long)cols);
    }
    herr_t rc = rows && data ? H5Dread(d, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) : 0;
    H5Dclose(d);
    return rc < 0 ? fs_error(FS_EDATA, "%s: /%s/%s is corrupt (read or checksum failed)", path, grp,
                             name)
                  : FS_OK;
}

static fs_err put_names(hid_t f, const char *name, const ds_names *nm, const char *path)
{
    if (nm->n <= 0) return FS_OK;
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, (size_t)nm->width);
    hsize_t n = (hsize_t)nm->n;
    hid_t sp = H5Screate_simple(1, &n, NULL);
    hid_t d = H5Dcreate2(f, name, t, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    herr_t rc = d < 0 ? -1 : H5Dwrite(d, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, nm->buf);
    if (d >= 0) H5Dclose(d);
    H5Sclose(sp);
    H5Tclose(t);
    return rc < 0 ? fs_error(FS_EIO, "%s: cannot write dataset '%s'", path, name) : FS_OK;
}

/* Optional fixed-length string array of exactly want entries. */
static fs_err get_names(hid_t f, const char *name, ds_names *nm, int want, const char *path)
{
    memset(nm, 0, sizeof *nm);
    if (H5Lexists(f, name, H5P_DEFAULT) <= 0) return FS_OK;
    hid_t d = H5Dopen2(f, name, H5P_DEFAULT);
    if (d < 0) return fs_error(FS_EDATA, "%s: /%s cannot be opened", path, name);
    hid_t ft = H5Dget_type(d), sp = H5Dget_space(d);
    hsize_t n = 0;
    int nd = H5Sget_simple_extent_ndims(sp);
    if (nd == 1) H5Sget_simple_extent_dims(sp, &n, NULL);
    size_t w = H5Tget_size(ft);
    fs_err e = FS_OK;
    if (H5Tget_class(ft) != H5T_STRING || H5Tis_variable_str(ft) > 0 || w == 0 || w > 4096)
        e = fs_error(FS_EDATA, "%s: /%s is not an array of fixed-length strings", path, name);
    else if (nd != 1 || n != (hsize_t)want)
        e = fs_error(FS_EDATA, "%s: /%s holds %llu names, expected %d", path, name,
                     (unsigned long long)n, want);
    if (!e) {
        nm->buf = FS_CALLOC((size_t)n, w + 1);
        if (!nm->buf) e = FS_ENOMEM;
    }
    if (!e) {
        /* read at width w + 1 so every name is NUL-terminated even if stored without one */
        hid_t t = H5Tcopy(H5T_C_S1);
        H5Tset_size(t, w + 1);
        if (H5Dread(d, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, nm->buf) < 0)
            e = fs_error(FS_EDATA, "%s: /%s is corrupt (read failed)", path, name);
        H5Tclose(t);
        nm->n = (int)n;
        nm->width = (int)w + 1;
    }
    H5Sclose(sp);
    H5Tclose(ft);
    H5Dclose(d);
    if (e) ds_names_free(nm);
    return e;
}

static hid_t x_type(const dataset *ds)
{
    return ds->dtype == DS_U8 ? H5T_NATIVE_UINT8 : H5T_NATIVE_FLOAT;
}

static fs_err save_split(hid_t f, const char *grp, const dataset *ds, const ds_split *s,
                         const char *path)
{
    hid_t g = H5Gcreate2(f, grp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (g < 0) return fs_error(FS_EIO, "%s: cannot create group /%s", path, grp);
    uint64_t n = s->n;
    fs_err e = h5_put_attr(g, "n", H5T_NATIVE_UINT64, &n, 1, path);
    if (!e) e = put_array(g, "x", x_type(ds), s->x, s->n, ds->feat, path);
    if (!e) e = put_array(g, "y", H5T_NATIVE_INT32, s->y, s->n, (hsize_t)ds->y_len, path);
    if (!e && s->client) e = put_array(g, "client", H5T_NATIVE_INT32, s->client, s->n, 1, path);
    H5Gclose(g);
    return e;
}

fs_err ds_save(const char *path, const dataset *ds)
{
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    h5_quiet hq = h5_quiet_on();
    hid_t f = H5Fcreate(tmp, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    h5_quiet_off(hq);
    if (f < 0)
        return fs_error(FS_EINPUT,
                        "%s: cannot create file (does its directory exist and is it "
                        "writable?)",
                        tmp);
    int32_t ints[8] = {ds->dtype,    ds->task,  ds->shape[0],  ds->shape[1],
                       ds->shape[2], ds->y_len, ds->n_classes, ds->n_natural};
    int32_t version = DS_FORMAT_VERSION;
    fs_err e = h5_put_str(f, "format", DS_FORMAT_NAME, tmp);
    if (!e) e = h5_put_attr(f, "version", H5T_NATIVE_INT32, &version, 1, tmp);
    if (!e) e = h5_put_str(f, "name", ds->name, tmp);
    if (!e) e = h5_put_str(f, "source", ds->source, tmp);
    if (!e) e = h5_put_str(f, "import_date", ds->import_date, tmp);
    if (!e) e = h5_put_str(f, "checksum", ds->checksum, tmp);
    if (!e) e = h5_put_attr(f, "layout", H5T_NATIVE_INT32, ints, 8, tmp);
    if (!e) e = h5_put_attr(f, "x_scale", H5T_NATIVE_FLOAT, &ds->x_scale, 1, tmp);
    if (!e && ds->vocab) e = h5_put_str(f, "vocab", ds->vocab, tmp);
    if (!e) e = save_split(f, "train", ds, &ds->train, tmp);
    if (!e) e = save_split(f, "test", ds, &ds->test, tmp);
    if (!e) e = put_names(f, "client_names", &ds->client_names, tmp);
    if (!e) e = put_names(f, "class_names", &ds->class_names, tmp);
    if (H5Fclose(f) < 0 && !e) e = fs_error(FS_EIO, "%s: cannot close file", tmp);
    if (e) {
        remove(tmp);
        return e;
    }
    if (rename(tmp, path) != 0) return fs_error(FS_EIO, "cannot rename %s to %s", tmp, path);
    return FS_OK;
}

/* One split; with_x 0: x's shape is checked but x is not read (s->x stays NULL). */
static fs_err load_split(hid_t f, const char *grp, dataset *ds, ds_split *s, const char *path,
                         int with_x)
{
    if (H5Lexists(f, grp, H5P_DEFAULT) <= 0)
        return fs_error(FS_EDATA, "%s: group /%s is missing", path, grp);
    hid_t g = H5Gopen2(f, grp, H5P_DEFAULT);
    uint64_t n = 0;
    fs_err e = h5_get_attr(g, "n", H5T_NATIVE_UINT64, &n, 1, path, "dataset");
    int has_client = !e && H5Lexists(g, "client", H5P_DEFAULT) > 0;
    if (!e && n > ((size_t)1 << 40) / (ds->feat + (size_t)ds->y_len))
        e = fs_error(FS_EDATA, "%s: /%s has n = %llu samples, more than any real dataset", path,
                     grp, (unsigned long long)n);
    if (!e && with_x) {
        e = ds_split_alloc(ds, s, (size_t)n, has_client);
    } else if (!e) {
        memset(s, 0, sizeof *s);
        s->n = (size_t)n;
        s->y = FS_CALLOC(n ? n * (size_t)ds->y_len : 1, sizeof(int32_t));
        if (has_client) s->client = FS_CALLOC(n ? n : 1, sizeof(int32_t));
        if (!s->y || (has_client && !s->client)) e = FS_ENOMEM;
    }
    if (!e) e = get_array(g, "x", x_type(ds), s->x, n, ds->feat, path, grp);
    if (!e) e = get_array(g, "y", H5T_NATIVE_INT32, s->y, n, (hsize_t)ds->y_len, path, grp);
    if (!e && has_client) e = get_array(g, "client", H5T_NATIVE_INT32, s->client, n, 1, path, grp);
    for (size_t i = 0; !e && i < s->n * (size_t)ds->y_len; i++)
        if (s->y[i] < 0 || s->y[i] >= ds->n_classes)
            e = fs_error(FS_EDATA, "%s: /%s/y[%zu] = %d is outside [0, %d)", path, grp, i, s->y[i],
                         ds->n_classes);
    for (size_t i = 0; !e && has_client && i < s->n; i++)
        if (s->client[i] < 0 || s->client[i] >= ds->n_natural)
            e = fs_error(FS_EDATA, "%s: /%s/client[%zu] = %d is outside [0, %d) (n_natural)", path,
                         grp, i, s->client[i], ds->n_natural);
    if (!e && ds->task == DS_SEQUENCE && s->x) {
        const uint8_t *x = s->x;
        for (size_t i = 0; !e && i < s->n * ds->feat; i++)
            if (x[i] >= ds->n_classes)
                e = fs_error(FS_EDATA, "%s: /%s/x token %zu = %u is outside the vocabulary of %d",
                             path, grp, i, x[i], ds->n_classes);
    }
    H5Gclose(g);
    return e;
}

fs_err ds_check_kind(const char *path, const char *kind)
{
    if (strcmp(kind, "fashion-mnist") != 0 && strcmp(kind, "kjv") != 0) return FS_OK;
    FILE *probe = fopen(path, "rb");
    if (!probe) return FS_OK;
    fclose(probe);
    h5_quiet q = h5_quiet_on();
    char name[64] = "", fmt[64] = "";
    hid_t f = H5Fis_hdf5(path) > 0 ? H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT) : -1;
    if (f >= 0) {
        if (get_str(f, "format", fmt, sizeof fmt, path) || strcmp(fmt, DS_FORMAT_NAME) != 0 ||
            get_str(f, "name", name, sizeof name, path))
            name[0] = '\0'; /* not a fedsim dataset: ds_load says so */
        H5Fclose(f);
    }
    h5_quiet_off(q);
    fs_error_clear();
    if (!name[0] || strcmp(name, kind) == 0) return FS_OK;
    return fs_error(FS_EINPUT,
                    "data.dataset is %s but %s holds the dataset '%s' (hint: point data.path at a "
                    "%s file, or set data.dataset: file to train on '%s')",
                    kind, path, name, kind, name);
}

static fs_err load(const char *path, dataset *ds, int with_x)
{
    memset(ds, 0, sizeof *ds);
    FILE *probe = fopen(path, "rb");
    if (!probe) return fs_error(FS_EINPUT, "%s: cannot open dataset file", path);
    struct stat sb;
    const int dir = fstat(fileno(probe), &sb) == 0 && S_ISDIR(sb.st_mode);
    fclose(probe);
    if (dir) return fs_error(FS_EINPUT, "%s: is a directory, not a dataset file", path);
    if (H5Fis_hdf5(path) <= 0)
        return fs_error(FS_EDATA, "%s: not an HDF5 file (corrupt or truncated?)", path);
    H5E_auto2_t old_fn;
    void *old_data;
    H5Eget_auto2(H5E_DEFAULT, &old_fn, &old_data);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL); /* we report errors ourselves */
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    fs_err e = FS_OK;
    if (f < 0) {
        e = fs_error(FS_EDATA, "%s: HDF5 file cannot be opened (corrupt or truncated?)", path);
        goto out;
    }
    char fmt[64];
    int32_t version = 0, ints[8] = {0};
    e = get_str(f, "format", fmt, sizeof fmt, path);
    if (!e && strcmp(fmt, DS_FORMAT_NAME) != 0)
        e = fs_error(FS_EDATA, "%s: format is '%s', not '%s'", path, fmt, DS_FORMAT_NAME);
    if (!e) e = h5_get_attr(f, "version", H5T_NATIVE_INT32, &version, 1, path, "dataset");
    if (!e && version != DS_FORMAT_VERSION)
        e = fs_error(FS_EDATA, "%s: format version %d, this fedsim reads version %d (re-import)",
                     path, version, DS_FORMAT_VERSION);
    if (!e) e = get_str(f, "name", ds->name, sizeof ds->name, path);
    if (!e) e = get_str(f, "source", ds->source, sizeof ds->source, path);
    if (!e) e = get_str(f, "import_date", ds->import_date, sizeof ds->import_date, path);
    if (!e) e = get_str(f, "checksum", ds->checksum, sizeof ds->checksum, path);
    if (!e) e = h5_get_attr(f, "layout", H5T_NATIVE_INT32, ints, 8, path, "dataset");
    if (!e) e = h5_get_attr(f, "x_scale", H5T_NATIVE_FLOAT, &ds->x_scale, 1, path, "dataset");
    if (!e) {
        ds->dtype = (ds_dtype)ints[0];
        ds->task = (ds_task)ints[1];
        ds->shape[0] = ints[2];
        ds->shape[1] = ints[3];
        ds->shape[2] = ints[4];
        ds->y_len = ints[5];
        ds->n_classes = ints[6];
        ds->n_natural = ints[7];
        if ((ints[0] != DS_U8 && ints[0] != DS_F32) ||
            (ints[1] != DS_CLASSIFY && ints[1] != DS_SEQUENCE) || ints[2] <= 0 || ints[3] <= 0 ||
            ints[4] <= 0 || ints[5] <= 0 || ints[6] <= 1 || ints[7] < 0)
            e = fs_error(FS_EDATA, "%s: layout attribute is invalid", path);
        else if (ints[1] == DS_SEQUENCE &&
                 (ints[0] != DS_U8 || ints[6] > 256 || ints[5] != ints[2] * ints[3] * ints[4]))
            e = fs_error(FS_EDATA,
                         "%s: a sequence dataset needs uint8 tokens, at most 256 "
                         "symbols and one target per position",
                         path);
        ds->feat = (size_t)ints[2] * (size_t)ints[3] * (size_t)ints[4];
    }
    if (!e && H5Aexists(f, "vocab") > 0) {
        ds->vocab = FS_CALLOC((size_t)ds->n_classes + 2, 1);
        if (!ds->vocab) e = FS_ENOMEM;
        if (!e) e = get_str(f, "vocab", ds->vocab, (size_t)ds->n_classes + 2, path);
        if (!e && strlen(ds->vocab) != (size_t)ds->n_classes)
            e = fs_error(FS_EDATA, "%s: vocab has %zu symbols but n_classes is %d", path,
                         strlen(ds->vocab), ds->n_classes);
    }
    if (!e) e = load_split(f, "train", ds, &ds->train, path, with_x);
    if (!e) e = load_split(f, "test", ds, &ds->test, path, with_x);
    if (!e) e = get_names(f, "client_names", &ds->client_names, ds->n_natural, path);
    if (!e) e = get_names(f, "class_names", &ds->class_names, ds->n_classes, path);
    H5Fclose(f);
out:
    H5Eset_auto2(H5E_DEFAULT, old_fn, old_data);
    if (e) ds_free(ds);
    return e;
}

fs_err ds_load(const char *path, dataset *ds)
{
    return load(path, ds, 1);
}

fs_err ds_load_labels(const char *path, dataset *ds)
{
    return load(path, ds, 0);
}
