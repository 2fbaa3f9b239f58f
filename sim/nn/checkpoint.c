/* HDF5 checkpoints (see checkpoint.h). Every HDF5 call is checked and its failure becomes an
 * fs_error naming the file and the object; HDF5's own error printing is off while we work.
 * Guarantees: a written file holds exactly the float32 bits of the buffer; a load either fills
 * the whole buffer from a matching file or fails leaving a message. */
#include "nn/checkpoint.h"

#include "util/h5.h"

#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the tensors of a model ---- */

typedef struct tensor_list {
    int n;
    nn_tensor t[4 * NN_MAX_LAYERS];
} tensor_list;

static void model_tensors(const nn_model *m, tensor_list *tl)
{
    tl->n = 0;
    for (int i = 0; i < m->n_layers; i++) tl->n += nn_layer_tensors(&m->layers[i], tl->t + tl->n);
}

static void shape_text(const int *dims, int rank, char *buf, size_t cap)
{
    size_t o = (size_t)snprintf(buf, cap, "(");
    for (int k = 0; k < rank && o < cap; k++)
        o += (size_t)snprintf(buf + o, cap - o, "%s%d", k ? ", " : "", dims[k]);
    if (o < cap) snprintf(buf + o, cap - o, ")");
}

/* ---- save ---- */

static fs_err write_tensor(hid_t f, const nn_tensor *t, const float *params, const char *path)
{
    char grp[NN_NAME + 2];
    const char *slash = strchr(t->name, '/');
    snprintf(grp, sizeof grp, "%.*s", (int)(slash - t->name), t->name);
    hid_t g = H5Lexists(f, grp, H5P_DEFAULT) > 0
                  ? H5Gopen2(f, grp, H5P_DEFAULT)
                  : H5Gcreate2(f, grp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (g < 0) return fs_error(FS_EIO, "%s: cannot create group /%s", path, grp);
    hsize_t dims[4];
    for (int k = 0; k < t->rank; k++) dims[k] = (hsize_t)t->dims[k];
    hid_t sp = H5Screate_simple(t->rank, dims, NULL);
    hid_t d = H5Dcreate2(g, slash + 1, H5T_IEEE_F32LE, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    herr_t rc =
        d < 0 ? -1 : H5Dwrite(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, params + t->off);
    if (d >= 0) H5Dclose(d);
    H5Sclose(sp);
    H5Gclose(g);
    return rc < 0 ? fs_error(FS_EIO, "%s: cannot write tensor /%s", path, t->name) : FS_OK;
}

fs_err nn_ckpt_save(const char *path, const nn_model *m, const float *params,
                    const nn_ckpt_meta *meta)
{
    static const nn_ckpt_meta none = {.round = 0};
    if (!meta) meta = &none;
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    h5_quiet q = h5_quiet_on();
    hid_t f = H5Fcreate(tmp, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    if (f < 0) {
        h5_quiet_off(q);
        return fs_error(FS_EIO, "%s: cannot create the checkpoint file", tmp);
    }
    tensor_list *tl = malloc(sizeof *tl);
    char *arch = malloc((size_t)NN_MAX_LAYERS * 256), *names = malloc(sizeof tl->t);
    fs_err e = tl && arch && names ? FS_OK : fs_error(FS_ENOMEM, "out of memory saving %s", path);
    if (!e) {
        model_tensors(m, tl);
        size_t o = 0;
        arch[0] = names[0] = '\0';
        for (int i = 0; i < m->n_layers; i++) {
            char line[256];
            nn_spec_format(&m->layers[i].s, line, sizeof line);
            o += (size_t)snprintf(arch + o, (size_t)NN_MAX_LAYERS * 256 - o, "%s%s", i ? "\n" : "",
                                  line);
        }
        o = 0;
        for (int k = 0; k < tl->n; k++)
            o +=
                (size_t)snprintf(names + o, sizeof tl->t - o, "%s%s", k ? "\n" : "", tl->t[k].name);
    }
    const int32_t version = NN_CKPT_VERSION, in[3] = {m->in[0], m->in[1], m->in[2]};
    const int32_t ncl = m->n_classes, round = meta->round;
    const uint64_t np = m->n_params;
    if (!e) e = h5_put_str(f, "format", NN_CKPT_FORMAT, tmp);
    if (!e) e = h5_put_attr(f, "version", H5T_NATIVE_INT32, &version, 1, tmp);
    if (!e) e = h5_put_str(f, "model", m->name, tmp);
    if (!e) e = h5_put_str(f, "architecture", arch, tmp);
    if (!e) e = h5_put_attr(f, "input_shape", H5T_NATIVE_INT32, in, 3, tmp);
    if (!e) e = h5_put_attr(f, "n_classes", H5T_NATIVE_INT32, &ncl, 1, tmp);
    if (!e) e = h5_put_attr(f, "n_params", H5T_NATIVE_UINT64, &np, 1, tmp);
    if (!e) e = h5_put_str(f, "tensors", names, tmp);
    if (!e) e = h5_put_str(f, "dataset", meta->dataset, tmp);
    if (!e) e = h5_put_str(f, "scenario", meta->scenario, tmp);
    if (!e) e = h5_put_attr(f, "round", H5T_NATIVE_INT32, &round, 1, tmp);
    if (!e && meta->vocab[0]) e = h5_put_str(f, "vocab", meta->vocab, tmp);
    for (int k = 0; !e && k < tl->n; k++) e = write_tensor(f, &tl->t[k], params, tmp);
    if (H5Fclose(f) < 0 && !e) e = fs_error(FS_EIO, "%s: cannot close the file", tmp);
    h5_quiet_off(q);
    free(tl);
    free(arch);
    free(names);
    if (e) {
        remove(tmp);
        return e;
    }
    if (rename(tmp, path) != 0) {
        remove(tmp);
        return fs_error(FS_EIO, "cannot rename %s to %s", tmp, path);
    }
    return FS_OK;
}

/* ---- load ---- */

typedef struct ckpt_file {
    hid_t f;
    char *arch, *names, *model;
    int32_t in[3], n_classes;
    nn_ckpt_meta meta;
} ckpt_file;

static void ckpt_close(ckpt_file *c)
{
    if (c->f >= 0) H5Fclose(c->f);
    free(c->arch);
    free(c->names);
    free(c->model);
}

static void copy_str(hid_t f, const char *name, char *dst, size_t cap, const char *path)
{
    char *s = NULL;
    dst[0] = '\0';
    if (H5Aexists(f, name) > 0 && h5_get_str(f, name, &s, path, "checkpoint") == FS_OK)
        snprintf(dst, cap, "%s", s);
    free(s);
}

static fs_err ckpt_open(const char *path, ckpt_file *c)
{
    memset(c, 0, sizeof *c);
    c->f = -1;
    FILE *probe = fopen(path, "rb");
    if (!probe) return fs_error(FS_EINPUT, "%s: cannot open the checkpoint", path);
    fclose(probe);
    if (H5Fis_hdf5(path) <= 0)
        return fs_error(FS_EDATA, "%s: not an HDF5 file (corrupt or truncated?)", path);
    c->f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (c->f < 0) return fs_error(FS_EDATA, "%s: HDF5 file cannot be opened", path);
    char *fmt = NULL;
    int32_t version = 0;
    fs_err e = h5_get_str(c->f, "format", &fmt, path, "checkpoint");
    if (!e && strcmp(fmt, NN_CKPT_FORMAT) != 0)
        e = fs_error(FS_EDATA, "%s: format is '%s', not '%s'", path, fmt, NN_CKPT_FORMAT);
    free(fmt);
    if (!e) e = h5_get_attr(c->f, "version", H5T_NATIVE_INT32, &version, 1, path, "checkpoint");
    if (!e && version != NN_CKPT_VERSION)
        e = fs_error(FS_EDATA, "%s: checkpoint version %d, this fedsim reads version %d", path,
                     version, NN_CKPT_VERSION);
    if (!e) e = h5_get_str(c->f, "model", &c->model, path, "checkpoint");
    if (!e) e = h5_get_str(c->f, "architecture", &c->arch, path, "checkpoint");
    if (!e) e = h5_get_str(c->f, "tensors", &c->names, path, "checkpoint");
    if (!e) e = h5_get_attr(c->f, "input_shape", H5T_NATIVE_INT32, c->in, 3, path, "checkpoint");
    if (!e)
        e = h5_get_attr(c->f, "n_classes", H5T_NATIVE_INT32, &c->n_classes, 1, path, "checkpoint");
    if (!e) e = h5_get_attr(c->f, "round", H5T_NATIVE_INT32, &c->meta.round, 1, path, "checkpoint");
    if (!e) {
        copy_str(c->f, "dataset", c->meta.dataset, sizeof c->meta.dataset, path);
        copy_str(c->f, "scenario", c->meta.scenario, sizeof c->meta.scenario, path);
        copy_str(c->f, "vocab", c->meta.vocab, sizeof c->meta.vocab, path);
    }
    return e;
}

/* Line k (0-based) of text into buf; 0 if there is none. */
static int line_at(const char *text, int k, char *buf, size_t cap)
{
    const char *p = text;
    for (int i = 0; i < k; i++) {
        p = strchr(p, '\n');
        if (!p) return 0;
        p++;
    }
    if (!*p && k > 0) return 0;
    size_t len = strcspn(p, "\n");
    if (len == 0 && !*p) return 0;
    snprintf(buf, cap, "%.*s", (int)(len < cap ? len : cap - 1), p);
    return 1;
}

/* Compare the file's tensors with the model's, in order; read them when they all match. */
static fs_err read_tensors(const ckpt_file *c, const char *path, const nn_model *m, float *params)
{
    tensor_list *tl = malloc(sizeof *tl);
    if (!tl) return fs_error(FS_ENOMEM, "out of memory loading %s", path);
    model_tensors(m, tl);
    fs_err e = FS_OK;
    int n_file = 0;
    char fname[128];
    while (line_at(c->names, n_file, fname, sizeof fname)) n_file++;
    for (int k = 0; !e && k < tl->n; k++) {
        const nn_tensor *t = &tl->t[k];
        char want[64], got[64];
        shape_text(t->dims, t->rank, want, sizeof want);
        if (!line_at(c->names, k, fname, sizeof fname)) {
            e = fs_error(FS_EINPUT,
                         "%s: architecture mismatch: the model has tensor '%s' %s but the "
                         "checkpoint has only %d tensors",
                         path, t->name, want, n_file);
            break;
        }
        if (strcmp(fname, t->name) != 0) {
            e = fs_error(FS_EINPUT,
                         "%s: architecture mismatch at tensor %d: the checkpoint has '%s', the "
                         "model '%s' %s",
                         path, k + 1, fname, t->name, want);
            break;
        }
        hid_t d = H5Dopen2(c->f, t->name, H5P_DEFAULT);
        if (d < 0) {
            e = fs_error(FS_EDATA, "%s: tensor /%s is listed but missing", path, t->name);
            break;
        }
        hid_t sp = H5Dget_space(d);
        hsize_t dims[8] = {0};
        int rank = H5Sget_simple_extent_ndims(sp);
        if (rank > 0 && rank <= 8) H5Sget_simple_extent_dims(sp, dims, NULL);
        int same = rank == t->rank;
        int idims[8] = {0};
        for (int j = 0; j < rank && j < 8; j++) {
            idims[j] = (int)dims[j];
            same &= j >= t->rank || (hsize_t)t->dims[j] == dims[j];
        }
        shape_text(idims, rank > 0 && rank <= 8 ? rank : 0, got, sizeof got);
        if (!same)
            e = fs_error(FS_EINPUT,
                         "%s: architecture mismatch: tensor '%s' has shape %s in the checkpoint, "
                         "the model expects %s",
                         path, t->name, got, want);
        else if (H5Dread(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, params + t->off) < 0)
            e = fs_error(FS_EDATA, "%s: tensor /%s unreadable", path, t->name);
        H5Sclose(sp);
        H5Dclose(d);
    }
    if (!e && n_file > tl->n) {
        line_at(c->names, tl->n, fname, sizeof fname);
        e = fs_error(FS_EINPUT,
                     "%s: architecture mismatch: the checkpoint has tensor '%s' (and %d tensors "
                     "in all), the model only %d",
                     path, fname, n_file, tl->n);
    }
    free(tl);
    return e;
}

fs_err nn_ckpt_load_params(const char *path, const nn_model *m, float *params, nn_ckpt_meta *meta)
{
    h5_quiet q = h5_quiet_on();
    ckpt_file c;
    fs_err e = ckpt_open(path, &c);
    if (!e) e = read_tensors(&c, path, m, params);
    if (!e && meta) *meta = c.meta;
    ckpt_close(&c);
    h5_quiet_off(q);
    return e;
}

fs_err nn_ckpt_load_model(const char *path, const int in[3], nn_model *m, float **params,
                          nn_ckpt_meta *meta)
{
    *params = NULL;
    h5_quiet q = h5_quiet_on();
    ckpt_file c;
    fs_err e = ckpt_open(path, &c);
    nn_layer_spec specs[NN_MAX_LAYERS];
    int n = 0;
    char line[256];
    while (!e && line_at(c.arch, n, line, sizeof line)) {
        if (n == NN_MAX_LAYERS) {
            e = fs_error(FS_EDATA, "%s: more than %d layers", path, NN_MAX_LAYERS);
            break;
        }
        e = nn_spec_parse(line, &specs[n]);
        if (e) {
            char msg[512];
            snprintf(msg, sizeof msg, "%s", fs_errmsg());
            e = fs_error(FS_EDATA, "%s: architecture line %d: %s", path, n + 1, msg);
        }
        n++;
    }
    if (!e) {
        const int shape[3] = {in ? in[0] : c.in[0], in ? in[1] : c.in[1], in ? in[2] : c.in[2]};
        e = nn_model_build(m, c.model, specs, n, shape, c.n_classes);
        if (e) {
            char msg[512];
            snprintf(msg, sizeof msg, "%s", fs_errmsg());
            e = fs_error(FS_EDATA, "%s: the stored architecture does not build: %s", path, msg);
        }
    }
    if (!e) {
        *params = FS_ALIGNED(m->n_params, sizeof(float));
        if (!*params) e = FS_ENOMEM;
    }
    if (!e) e = read_tensors(&c, path, m, *params);
    if (!e && meta) *meta = c.meta;
    if (e) {
        free(*params);
        *params = NULL;
    }
    ckpt_close(&c);
    h5_quiet_off(q);
    return e;
}
