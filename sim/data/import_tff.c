/* TensorFlow Federated HDF5 importer. TFF's simulation datasets (tff.simulation.datasets:
 * EMNIST, Shakespeare, CIFAR-100, ...) are HDF5 files with one group per client under
 * /examples, each holding one dataset per feature, first dimension = the client's examples:
 *   /examples/<client id>/pixels  (n, 28, 28) float32     /examples/<client id>/label (n,) int
 *   /examples/<client id>/snippets (n,) strings (variable or fixed length)
 *   /examples/<client id>/image   (n, H, W, C) uint8       (channels last; stored here as C, H, W)
 * Clients are numbered in sorted name order (HDF5's name index) and keep their ids as
 * client_names. Every client is checked (feature present, same sample shape everywhere, label
 * count = example count, labels >= 0), so a foreign or truncated file is reported with the
 * client and feature at fault. Owns nothing after return but ds. */
#include "data/importers.h"

#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define TFF_MAX_LABEL 1000000

typedef enum tff_kind { TFF_NUMERIC, TFF_TEXT } tff_kind;

/* One opened TFF file: its client names in sorted order. */
typedef struct tff_file {
    const char *path;
    hid_t f, ex; /* file, /examples */
    size_t n;
    char **names;
} tff_file;

static void tff_close(tff_file *t)
{
    for (size_t i = 0; t->names && i < t->n; i++) free(t->names[i]);
    free(t->names);
    if (t->ex >= 0) H5Gclose(t->ex);
    if (t->f >= 0) H5Fclose(t->f);
    t->names = NULL;
    t->ex = t->f = -1;
}

static fs_err tff_open(const char *path, tff_file *t)
{
    memset(t, 0, sizeof *t);
    t->path = path;
    t->f = t->ex = -1;
    FILE *probe = fopen(path, "rb");
    if (!probe) return fs_error(FS_EINPUT, "%s: cannot open", path);
    fclose(probe);
    if (H5Fis_hdf5(path) <= 0)
        return fs_error(FS_EDATA, "%s: not an HDF5 file (corrupt or truncated?)", path);
    t->f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (t->f < 0)
        return fs_error(FS_EDATA, "%s: HDF5 file cannot be opened (corrupt or truncated?)", path);
    if (H5Lexists(t->f, "examples", H5P_DEFAULT) <= 0 ||
        (t->ex = H5Gopen2(t->f, "examples", H5P_DEFAULT)) < 0)
        return fs_error(FS_EDATA,
                        "%s: not a TensorFlow Federated file (group /examples/<client id> is "
                        "missing)",
                        path);
    H5G_info_t gi;
    if (H5Gget_info(t->ex, &gi) < 0) return fs_error(FS_EDATA, "%s: /examples is unreadable", path);
    if (gi.nlinks == 0) return fs_error(FS_EDATA, "%s: /examples holds no clients", path);
    t->names = calloc((size_t)gi.nlinks, sizeof *t->names);
    if (!t->names) return fs_error(FS_ENOMEM, "out of memory");
    t->n = (size_t)gi.nlinks;
    for (size_t i = 0; i < t->n; i++) {
        ssize_t len = H5Lget_name_by_idx(t->ex, ".", H5_INDEX_NAME, H5_ITER_INC, (hsize_t)i, NULL,
                                         0, H5P_DEFAULT);
        if (len < 0)
            return fs_error(FS_EDATA, "%s: client %zu of /examples is unreadable", path, i);
        t->names[i] = calloc((size_t)len + 1, 1);
        if (!t->names[i]) return fs_error(FS_ENOMEM, "out of memory");
        H5Lget_name_by_idx(t->ex, ".", H5_INDEX_NAME, H5_ITER_INC, (hsize_t)i, t->names[i],
                           (size_t)len + 1, H5P_DEFAULT);
    }
    return FS_OK;
}

/* Open /examples/<client>/<feat>; returns its id and fills dims (rank <= 4). */
static fs_err open_feature(const tff_file *t, size_t c, const char *feat, hid_t *d, int *rank,
                           hsize_t *dims)
{
    *d = -1;
    const char *cl = t->names[c];
    hid_t g = H5Gopen2(t->ex, cl, H5P_DEFAULT);
    if (g < 0) return fs_error(FS_EDATA, "%s: /examples/%s is not a group", t->path, cl);
    if (H5Lexists(g, feat, H5P_DEFAULT) <= 0) {
        H5Gclose(g);
        return fs_error(FS_EDATA, "%s: /examples/%s has no feature '%s'", t->path, cl, feat);
    }
    *d = H5Dopen2(g, feat, H5P_DEFAULT);
    H5Gclose(g);
    if (*d < 0)
        return fs_error(FS_EDATA, "%s: /examples/%s/%s cannot be opened", t->path, cl, feat);
    hid_t sp = H5Dget_space(*d);
    *rank = H5Sget_simple_extent_ndims(sp);
    if (*rank >= 1 && *rank <= 4) H5Sget_simple_extent_dims(sp, dims, NULL);
    H5Sclose(sp);
    if (*rank < 1 || *rank > 4) {
        H5Dclose(*d);
        *d = -1;
        return fs_error(FS_EDATA, "%s: /examples/%s/%s has rank %d, expected 1 to 4", t->path, cl,
                        feat, *rank);
    }
    return FS_OK;
}

/* What the first train client's x feature is: numeric (uint8 or float) or text. */
static fs_err probe_kind(const tff_file *t, const char **x_name, tff_kind *kind, ds_dtype *dt,
                         int *rank, hsize_t *dims)
{
    static const char *const guesses[] = {"pixels", "image", "snippets"};
    if (!*x_name) {
        hid_t g = H5Gopen2(t->ex, t->names[0], H5P_DEFAULT);
        for (size_t i = 0; g >= 0 && i < 3 && !*x_name; i++)
            if (H5Lexists(g, guesses[i], H5P_DEFAULT) > 0) *x_name = guesses[i];
        if (g >= 0) H5Gclose(g);
        if (!*x_name)
            return fs_error(FS_EINPUT,
                            "%s: client %s has none of the features pixels, image, snippets; name "
                            "the input feature with --x",
                            t->path, t->names[0]);
    }
    hid_t d;
    fs_err e = open_feature(t, 0, *x_name, &d, rank, dims);
    if (e) return e;
    hid_t ft = H5Dget_type(d);
    H5T_class_t cls = H5Tget_class(ft);
    if (cls == H5T_STRING) {
        *kind = TFF_TEXT;
    } else if (cls == H5T_INTEGER || cls == H5T_FLOAT) {
        *kind = TFF_NUMERIC;
        *dt = cls == H5T_INTEGER && H5Tget_size(ft) == 1 && H5Tget_sign(ft) == H5T_SGN_NONE
                  ? DS_U8
                  : DS_F32;
    } else {
        e = fs_error(FS_EDATA, "%s: /examples/%s/%s is neither numbers nor strings", t->path,
                     t->names[0], *x_name);
    }
    H5Tclose(ft);
    H5Dclose(d);
    return e;
}

/* ---- numeric features ---- */

typedef struct num_layout {
    int rank;        /* rank of the x feature, including the example dimension */
    hsize_t dims[4]; /* of the first client */
    size_t feat;     /* product of dims[1..] */
    int hwc;         /* rank 4: channels last, transposed to (C, H, W) */
} num_layout;

/* Examples of client c (checks x dims against the layout and the label count). */
static fs_err num_count(const tff_file *t, size_t c, const char *xn, const char *yn,
                        const num_layout *lay, size_t *n)
{
    hid_t d;
    int rank;
    hsize_t dims[4] = {0};
    fs_err e = open_feature(t, c, xn, &d, &rank, dims);
    if (e) return e;
    H5Dclose(d);
    int same = rank == lay->rank;
    for (int i = 1; same && i < rank; i++) same = dims[i] == lay->dims[i];
    if (!same)
        return fs_error(FS_EDATA, "%s: /examples/%s/%s has a different sample shape from client %s",
                        t->path, t->names[c], xn, t->names[0]);
    hsize_t ldims[4] = {0};
    int lrank;
    e = open_feature(t, c, yn, &d, &lrank, ldims);
    if (e) return e;
    hid_t ft = H5Dget_type(d);
    H5T_class_t cls = H5Tget_class(ft);
    H5Tclose(ft);
    H5Dclose(d);
    if (cls != H5T_INTEGER)
        return fs_error(FS_EDATA, "%s: /examples/%s/%s holds no integers", t->path, t->names[c],
                        yn);
    if (ldims[0] != dims[0] || (lrank == 2 && ldims[1] != 1) || lrank > 2)
        return fs_error(FS_EDATA, "%s: /examples/%s: %llu examples of %s but %llu labels in %s",
                        t->path, t->names[c], (unsigned long long)dims[0], xn,
                        (unsigned long long)ldims[0], yn);
    *n = (size_t)dims[0];
    return FS_OK;
}

/* Read client c's n examples into fbuf (float) or ubuf (uint8) and its labels into lbuf. */
static fs_err num_read(const tff_file *t, size_t c, const char *xn, const char *yn,
                       const dataset *ds, size_t n, float *fbuf, uint8_t *ubuf, int32_t *lbuf)
{
    hid_t d;
    int rank;
    hsize_t dims[4];
    fs_err e = open_feature(t, c, xn, &d, &rank, dims);
    if (e) return e;
    hid_t mt = ds->dtype == DS_U8 ? H5T_NATIVE_UINT8 : H5T_NATIVE_FLOAT;
    herr_t rc = n ? H5Dread(d, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT,
                            ds->dtype == DS_U8 ? (void *)ubuf : (void *)fbuf)
                  : 0;
    H5Dclose(d);
    if (rc < 0)
        return fs_error(FS_EDATA, "%s: /examples/%s/%s is corrupt (read failed)", t->path,
                        t->names[c], xn);
    int lrank;
    e = open_feature(t, c, yn, &d, &lrank, dims);
    if (e) return e;
    rc = n ? H5Dread(d, H5T_NATIVE_INT32, H5S_ALL, H5S_ALL, H5P_DEFAULT, lbuf) : 0;
    H5Dclose(d);
    if (rc < 0)
        return fs_error(FS_EDATA, "%s: /examples/%s/%s is corrupt (read failed)", t->path,
                        t->names[c], yn);
    for (size_t i = 0; i < n; i++)
        if (lbuf[i] < 0 || lbuf[i] > TFF_MAX_LABEL)
            return fs_error(FS_EDATA, "%s: /examples/%s/%s[%zu] = %d is not a class index", t->path,
                            t->names[c], yn, i, lbuf[i]);
    return FS_OK;
}

/* Copy example i of the client buffers into row r of split s (HWC -> CHW if needed). */
static void num_put(const dataset *ds, const num_layout *lay, const void *src, size_t i,
                    ds_split *s, size_t r)
{
    const size_t F = ds->feat, eb = ds->dtype == DS_U8 ? 1 : sizeof(float);
    const char *from = (const char *)src + i * F * eb;
    char *to = (char *)s->x + r * F * eb;
    if (!lay->hwc) {
        memcpy(to, from, F * eb);
        return;
    }
    const size_t H = lay->dims[1], W = lay->dims[2], C = lay->dims[3];
    for (size_t h = 0; h < H; h++)
        for (size_t w = 0; w < W; w++)
            for (size_t ch = 0; ch < C; ch++)
                memcpy(to + ((ch * H + h) * W + w) * eb, from + ((h * W + w) * C + ch) * eb, eb);
}

/* Index of name in the sorted train names, or -1. */
static long find_client(const tff_file *t, const char *name)
{
    size_t lo = 0, hi = t->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(t->names[mid], name);
        if (c == 0) return (long)mid;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

static fs_err import_numeric(const tff_file *tr, const tff_file *te, const char *xn, const char *yn,
                             double frac, dataset *ds, int rank, const hsize_t *dims)
{
    num_layout lay = {rank, {0}, 1, rank == 4};
    for (int i = 0; i < rank; i++) lay.dims[i] = dims[i];
    for (int i = 1; i < rank; i++) lay.feat *= (size_t)dims[i];
    if (lay.feat == 0) return fs_error(FS_EDATA, "%s: feature %s has empty samples", tr->path, xn);
    ds->shape[0] = rank == 4 ? (int)dims[3] : 1;
    ds->shape[1] = rank >= 3 ? (int)dims[1] : 1;
    ds->shape[2] = rank >= 3 ? (int)dims[2] : rank == 2 ? (int)dims[1] : 1;
    ds->feat = lay.feat;
    ds->task = DS_CLASSIFY;
    ds->y_len = 1;
    ds->x_scale = ds->dtype == DS_U8 ? 1.0f / 255.0f : 1.0f;

    /* pass 1: counts */
    size_t n_cl = tr->n, *ntr = calloc(n_cl, sizeof *ntr), *nte = calloc(n_cl, sizeof *nte);
    size_t *nte_file = te ? calloc(te->n, sizeof *nte_file) : NULL;
    size_t max_n = 0, n_train = 0, n_test = 0;
    float *fbuf = NULL;
    uint8_t *ubuf = NULL;
    int32_t *lbuf = NULL;
    fs_err e = FS_OK;
    if (!ntr || !nte || (te && !nte_file)) {
        e = fs_error(FS_ENOMEM, "out of memory");
        goto out;
    }
    for (size_t c = 0; c < n_cl && !e; c++) {
        size_t n = 0;
        e = num_count(tr, c, xn, yn, &lay, &n);
        if (!e && !te) {
            nte[c] = (size_t)(frac * (double)n);
            ntr[c] = n - nte[c];
        } else {
            ntr[c] = n;
        }
        if (n > max_n) max_n = n;
    }
    for (size_t c = 0; te && c < te->n && !e; c++) {
        long k = find_client(tr, te->names[c]);
        if (k < 0) {
            e = fs_error(FS_EDATA, "%s: client %s is not in the training file %s", te->path,
                         te->names[c], tr->path);
            break;
        }
        e = num_count(te, c, xn, yn, &lay, &nte_file[c]);
        nte[k] = nte_file[c];
        if (nte_file[c] > max_n) max_n = nte_file[c];
    }
    if (e) goto out;
    for (size_t c = 0; c < n_cl; c++) n_train += ntr[c], n_test += nte[c];
    if ((e = ds_split_alloc(ds, &ds->train, n_train, 1))) goto out;
    if ((e = ds_split_alloc(ds, &ds->test, n_test, 1))) goto out;
    fbuf = FS_CALLOC(max_n ? max_n * lay.feat : 1, sizeof *fbuf);
    ubuf = FS_CALLOC(max_n ? max_n * lay.feat : 1, 1);
    lbuf = FS_CALLOC(max_n ? max_n : 1, sizeof *lbuf);
    if (!fbuf || !ubuf || !lbuf) {
        e = FS_ENOMEM;
        goto out;
    }
    /* pass 2: read in client order; test rows of client c follow its place in name order */
    size_t rtr = 0, rte = 0;
    int max_label = 0;
    const void *src = ds->dtype == DS_U8 ? (const void *)ubuf : (const void *)fbuf;
    for (size_t c = 0; c < n_cl && !e; c++) {
        size_t n = ntr[c] + (te ? 0 : nte[c]);
        if ((e = num_read(tr, c, xn, yn, ds, n, fbuf, ubuf, lbuf))) break;
        for (size_t i = 0; i < n; i++) {
            ds_split *s = i < ntr[c] ? &ds->train : &ds->test;
            size_t r = i < ntr[c] ? rtr++ : rte++;
            num_put(ds, &lay, src, i, s, r);
            s->y[r] = lbuf[i];
            s->client[r] = (int32_t)c;
            if (lbuf[i] > max_label) max_label = lbuf[i];
        }
        long k = -1;
        if (te && (k = find_client(te, tr->names[c])) >= 0) {
            size_t m = nte_file[k];
            if ((e = num_read(te, (size_t)k, xn, yn, ds, m, fbuf, ubuf, lbuf))) break;
            for (size_t i = 0; i < m; i++) {
                num_put(ds, &lay, src, i, &ds->test, rte);
                ds->test.y[rte] = lbuf[i];
                ds->test.client[rte++] = (int32_t)c;
                if (lbuf[i] > max_label) max_label = lbuf[i];
            }
        }
    }
    if (!e) {
        FS_CHECK(rtr == n_train && rte == n_test);
        ds->n_classes = max_label + 1 < 2 ? 2 : max_label + 1;
    }
out:
    free(ntr);
    free(nte);
    free(nte_file);
    free(fbuf);
    free(ubuf);
    free(lbuf);
    return e;
}

/* ---- text features ---- */

/* Client c's snippets joined by '\n' into a malloc'd buffer. */
static fs_err text_read(const tff_file *t, size_t c, const char *xn, char **out, size_t *len)
{
    hid_t d;
    int rank;
    hsize_t dims[4];
    *out = NULL;
    *len = 0;
    fs_err e = open_feature(t, c, xn, &d, &rank, dims);
    if (e) return e;
    hid_t ft = H5Dget_type(d);
    if (H5Tget_class(ft) != H5T_STRING || rank != 1) {
        H5Tclose(ft);
        H5Dclose(d);
        return fs_error(FS_EDATA, "%s: /examples/%s/%s is not a list of strings", t->path,
                        t->names[c], xn);
    }
    const size_t n = (size_t)dims[0];
    const int vlen = H5Tis_variable_str(ft) > 0;
    hid_t mt = H5Tcopy(H5T_C_S1);
    H5Tset_cset(mt, H5Tget_cset(ft));
    size_t w = vlen ? 0 : H5Tget_size(ft) + 1;
    if (vlen) {
        H5Tset_size(mt, H5T_VARIABLE);
    } else {
        H5Tset_size(mt, w);
        H5Tset_strpad(mt, H5T_STR_NULLTERM);
    }
    char **vs = vlen ? calloc(n ? n : 1, sizeof *vs) : NULL;
    char *fs = vlen ? NULL : calloc(n ? n * w : 1, 1);
    herr_t rc = -1;
    if (vs || fs)
        rc = n ? H5Dread(d, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, vlen ? (void *)vs : fs) : 0;
    if (rc < 0) {
        e = fs_error(FS_EDATA, "%s: /examples/%s/%s is corrupt (read failed)", t->path, t->names[c],
                     xn);
    } else {
        size_t total = 0;
        for (size_t i = 0; i < n; i++)
            total += strlen(vlen ? (vs[i] ? vs[i] : "") : fs + i * w) + 1;
        char *buf = malloc(total + 1);
        if (!buf) {
            e = fs_error(FS_ENOMEM, "out of memory");
        } else {
            size_t at = 0;
            for (size_t i = 0; i < n; i++) {
                const char *sn = vlen ? (vs[i] ? vs[i] : "") : fs + i * w;
                size_t l = strlen(sn);
                if (i) buf[at++] = '\n';
                memcpy(buf + at, sn, l);
                at += l;
            }
            buf[at] = '\0';
            *out = buf;
            *len = at;
        }
    }
    if (vlen && rc >= 0 && n) {
        hid_t sp = H5Dget_space(d);
#if H5_VERSION_GE(1, 12, 0)
        H5Treclaim(mt, sp, H5P_DEFAULT, vs);
#else
        H5Dvlen_reclaim(mt, sp, H5P_DEFAULT, vs);
#endif
        H5Sclose(sp);
    }
    free(vs);
    free(fs);
    H5Tclose(mt);
    H5Tclose(ft);
    H5Dclose(d);
    return e;
}

static fs_err import_text(const tff_file *tr, const tff_file *te, const char *xn, double frac,
                          int T, dataset *ds)
{
    const size_t n_units = tr->n + (te ? te->n : 0);
    char **txt = calloc(n_units, sizeof *txt);
    size_t *len = calloc(n_units, sizeof *len);
    int32_t *cl = calloc(n_units, sizeof *cl);
    uint8_t *is_test = calloc(n_units, 1);
    const uint8_t **tok = calloc(n_units, sizeof *tok);
    fs_err e = FS_OK;
    if (!txt || !len || !cl || !is_test || !tok) {
        e = fs_error(FS_ENOMEM, "out of memory");
        goto out;
    }
    int used[256] = {0};
    used['\n'] = 1; /* separator and padding */
    for (size_t u = 0; u < n_units && !e; u++) {
        const int test_unit = u >= tr->n;
        const tff_file *t = test_unit ? te : tr;
        size_t c = test_unit ? u - tr->n : u;
        long k = test_unit ? find_client(tr, t->names[c]) : (long)c;
        if (k < 0) {
            e = fs_error(FS_EDATA, "%s: client %s is not in the training file %s", t->path,
                         t->names[c], tr->path);
            break;
        }
        cl[u] = (int32_t)k;
        is_test[u] = (uint8_t)test_unit;
        e = text_read(t, c, xn, &txt[u], &len[u]);
        for (size_t i = 0; !e && i < len[u]; i++) used[(unsigned char)txt[u][i]] = 1;
    }
    if (e) goto out;
    uint8_t code[256];
    int V = 0;
    ds->vocab = calloc(257, 1);
    if (!ds->vocab) {
        e = fs_error(FS_ENOMEM, "out of memory");
        goto out;
    }
    for (int ch = 1; ch < 256; ch++)
        if (used[ch]) {
            code[ch] = (uint8_t)V;
            ds->vocab[V++] = (char)ch;
        }
    for (size_t u = 0; u < n_units; u++) { /* map bytes to token ids in place */
        for (size_t i = 0; i < len[u]; i++) txt[u][i] = (char)code[(unsigned char)txt[u][i]];
        tok[u] = (const uint8_t *)txt[u];
    }
    ds->task = DS_SEQUENCE;
    ds->dtype = DS_U8;
    ds->shape[0] = ds->shape[1] = 1;
    ds->shape[2] = T;
    ds->feat = (size_t)T;
    ds->y_len = T;
    ds->n_classes = V;
    ds->x_scale = 1.0f;
    e = imp_text_windows(ds, tok, len, cl, te ? is_test : NULL, n_units, T, frac, code['\n']);
out:
    for (size_t u = 0; txt && u < n_units; u++) free(txt[u]);
    free(txt);
    free(len);
    free(cl);
    free(is_test);
    free(tok);
    return e;
}

/* crc32 of a file's bytes, for provenance. */
static fs_err file_crc(const char *path, uLong *crc)
{
    FILE *f = fopen(path, "rb");
    if (!f) return fs_error(FS_EINPUT, "%s: cannot open", path);
    unsigned char buf[65536];
    size_t r;
    while ((r = fread(buf, 1, sizeof buf, f)) > 0) *crc = crc32(*crc, buf, (uInt)r);
    int bad = ferror(f);
    fclose(f);
    return bad ? fs_error(FS_EIO, "%s: read error", path) : FS_OK;
}

fs_err imp_tff(const imp_tff_opts *o, dataset *ds)
{
    memset(ds, 0, sizeof *ds);
    if (!o->train_path) return fs_error(FS_EINPUT, "tff-h5: a training file is needed (--train)");
    const double frac = o->test_fraction >= 0 ? o->test_fraction : IMP_DEFAULT_TEST_FRACTION;
    const int T = o->seq_len > 0 ? o->seq_len : IMP_DEFAULT_SEQ_LEN;
    if (frac >= 1 || T > 100000)
        return fs_error(FS_EINPUT,
                        "tff-h5: --test-fraction must be in [0, 1), --seq-len 1..100000");
    H5E_auto2_t old_fn;
    void *old_data;
    H5Eget_auto2(H5E_DEFAULT, &old_fn, &old_data);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL); /* we report errors ourselves */
    tff_file tr, te;
    memset(&te, 0, sizeof te);
    te.f = te.ex = -1;
    const char *xn = o->x_name, *yn = o->y_name ? o->y_name : "label";
    tff_kind kind = TFF_NUMERIC;
    int rank = 0;
    hsize_t dims[4] = {0};
    uLong crc = crc32(0L, Z_NULL, 0);
    fs_err e = tff_open(o->train_path, &tr);
    if (!e && o->test_path) e = tff_open(o->test_path, &te);
    if (!e) e = probe_kind(&tr, &xn, &kind, &ds->dtype, &rank, dims);
    if (!e) e = file_crc(o->train_path, &crc);
    if (!e && o->test_path) e = file_crc(o->test_path, &crc);
    if (!e && kind == TFF_NUMERIC)
        e = import_numeric(&tr, o->test_path ? &te : NULL, xn, yn, frac, ds, rank, dims);
    if (!e && kind == TFF_TEXT) e = import_text(&tr, o->test_path ? &te : NULL, xn, frac, T, ds);
    if (!e) {
        const char *base = strrchr(o->train_path, '/');
        base = base ? base + 1 : o->train_path;
        snprintf(ds->name, sizeof ds->name, "%.*s", (int)strcspn(base, "."), base);
        snprintf(ds->source, sizeof ds->source, "TensorFlow Federated HDF5: %s%s%s, feature %s%s%s",
                 o->train_path, o->test_path ? " + " : "", o->test_path ? o->test_path : "", xn,
                 kind == TFF_NUMERIC ? ", label " : "", kind == TFF_NUMERIC ? yn : "");
        imp_set_date(ds);
        snprintf(ds->checksum, sizeof ds->checksum, "crc32:%08lx", crc);
        ds->n_natural = (int)tr.n;
        e = ds_names_set(&ds->client_names, (int)tr.n, (const char *const *)tr.names);
    }
    tff_close(&tr);
    tff_close(&te);
    H5Eset_auto2(H5E_DEFAULT, old_fn, old_data);
    if (e) ds_free(ds);
    return e;
}
