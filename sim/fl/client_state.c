/* Client-state store (see client_state.h): an open-addressing index client -> (memory slot,
 * file row), a pool of memory slots in least-recently-used order (a doubly linked list, most
 * recent at the head), and a lazily created HDF5 spill file. A slot is written to the file only
 * when it is evicted and was modified since it was loaded (dirty). */
#include "fl/client_state.h"

#include <errno.h>
#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NO_CLIENT UINT32_MAX
#define CHUNK_MAX ((size_t)1 << 24) /* floats per HDF5 chunk: at most 64 MiB */
#define FILE_VER  1
#define MIN_ROWS  64

typedef struct ent {
    uint32_t client; /* NO_CLIENT: empty */
    int32_t slot;    /* memory slot, -1: not in memory */
    int64_t row;     /* row in the spill file, -1: none */
} ent;

struct fl_cstate {
    size_t dim;
    size_t cap_slots; /* vectors kept in memory at most; SIZE_MAX: no cap */
    ent *ht;          /* (ht_cap) index, power-of-two size, load <= 1/2 */
    size_t ht_cap, ht_n;
    float **vec;     /* (slots_alloc) slot vectors (dim) */
    uint32_t *owner; /* client of each slot */
    uint8_t *dirty;  /* slot changed since it was loaded from the file */
    int32_t *prev, *next;
    size_t n_slots, slots_alloc;
    int32_t head, tail; /* most / least recently used slot, -1: none */
    char dir[1024];
    char path[1100];
    hid_t file, dset;
    int64_t rows, rows_cap;
    long spills, loads;
};

/* ---- index ---- */

static size_t ht_hash(uint32_t c, size_t cap)
{
    uint64_t h = (uint64_t)c * 0x9E3779B97F4A7C15ull;
    return (size_t)(h >> 20) & (cap - 1);
}

static ent *ht_find(const fl_cstate *s, uint32_t c)
{
    for (size_t i = ht_hash(c, s->ht_cap);; i = (i + 1) & (s->ht_cap - 1)) {
        if (s->ht[i].client == c) return &s->ht[i];
        if (s->ht[i].client == NO_CLIENT) return NULL;
    }
}

static fs_err ht_alloc(ent **t, size_t cap)
{
    *t = FS_CALLOC(cap, sizeof **t);
    if (!*t) return FS_ENOMEM;
    for (size_t i = 0; i < cap; i++) (*t)[i] = (ent){NO_CLIENT, -1, -1};
    return FS_OK;
}

static void ht_place(ent *t, size_t cap, ent e)
{
    size_t i = ht_hash(e.client, cap);
    while (t[i].client != NO_CLIENT) i = (i + 1) & (cap - 1);
    t[i] = e;
}

static fs_err ht_insert(fl_cstate *s, uint32_t c, ent **out)
{
    if (2 * (s->ht_n + 1) > s->ht_cap) {
        size_t cap = s->ht_cap * 2;
        ent *t;
        fs_err e = ht_alloc(&t, cap);
        if (e) return e;
        for (size_t i = 0; i < s->ht_cap; i++)
            if (s->ht[i].client != NO_CLIENT) ht_place(t, cap, s->ht[i]);
        free(s->ht);
        s->ht = t;
        s->ht_cap = cap;
    }
    ht_place(s->ht, s->ht_cap, (ent){c, -1, -1});
    s->ht_n++;
    *out = ht_find(s, c);
    return FS_OK;
}

/* ---- LRU list of slots ---- */

static void lru_unlink(fl_cstate *s, int32_t k)
{
    if (s->prev[k] >= 0)
        s->next[s->prev[k]] = s->next[k];
    else
        s->head = s->next[k];
    if (s->next[k] >= 0)
        s->prev[s->next[k]] = s->prev[k];
    else
        s->tail = s->prev[k];
    s->prev[k] = s->next[k] = -1;
}

static void lru_front(fl_cstate *s, int32_t k)
{
    s->prev[k] = -1;
    s->next[k] = s->head;
    if (s->head >= 0) s->prev[s->head] = k;
    s->head = k;
    if (s->tail < 0) s->tail = k;
}

static void lru_touch(fl_cstate *s, int32_t k)
{
    if (s->head == k) return;
    lru_unlink(s, k);
    lru_front(s, k);
}

/* ---- spill file ---- */

static fs_err h5_fail(fl_cstate *s, const char *what)
{
    return fs_error(FS_EIO,
                    "%s: client-state file: %s failed (disk full or not writable? set "
                    "algorithm.state_dir)",
                    s->path, what);
}

static fs_err spill_open(fl_cstate *s)
{
    const char *d = s->dir;
    if (!d[0]) d = getenv("TMPDIR") && getenv("TMPDIR")[0] ? getenv("TMPDIR") : "/tmp";
    snprintf(s->path, sizeof s->path, "%s/.fedsim-state-XXXXXX.h5", d);
    int fd = mkstemps(s->path, 3);
    if (fd < 0)
        return fs_error(FS_EIO,
                        "%s: cannot create the client-state file: %s (set "
                        "algorithm.state_dir)",
                        s->path, strerror(errno));
    close(fd);
    fs_err e = FS_OK;
    hid_t sp = -1, dcpl = -1, dapl = -1, asp = -1, at = -1;
    s->file = H5Fcreate(s->path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    unlink(s->path); /* the open file lives until closed; nothing is left behind */
    if (s->file < 0) return h5_fail(s, "create");
    hsize_t dims[2] = {0, s->dim}, maxd[2] = {H5S_UNLIMITED, s->dim};
    hsize_t chunk[2] = {1, s->dim < CHUNK_MAX ? s->dim : CHUNK_MAX};
    int ver = FILE_VER;
    if ((sp = H5Screate_simple(2, dims, maxd)) < 0 || (dcpl = H5Pcreate(H5P_DATASET_CREATE)) < 0 ||
        H5Pset_chunk(dcpl, 2, chunk) < 0 || H5Pset_fill_time(dcpl, H5D_FILL_TIME_NEVER) < 0 ||
        (dapl = H5Pcreate(H5P_DATASET_ACCESS)) < 0 ||
        H5Pset_chunk_cache(dapl, H5D_CHUNK_CACHE_NSLOTS_DEFAULT, 0, 1.0) < 0 ||
        (s->dset = H5Dcreate2(s->file, "state", H5T_IEEE_F32LE, sp, H5P_DEFAULT, dcpl, dapl)) < 0 ||
        (asp = H5Screate(H5S_SCALAR)) < 0 ||
        (at = H5Acreate2(s->file, "fedsim_client_state_version", H5T_STD_I32LE, asp, H5P_DEFAULT,
                         H5P_DEFAULT)) < 0 ||
        H5Awrite(at, H5T_NATIVE_INT, &ver) < 0)
        e = h5_fail(s, "dataset create");
    if (at >= 0) H5Aclose(at);
    if (asp >= 0) H5Sclose(asp);
    if (dapl >= 0) H5Pclose(dapl);
    if (dcpl >= 0) H5Pclose(dcpl);
    if (sp >= 0) H5Sclose(sp);
    return e;
}

/* Select row of the file dataset; returns the file space or -1. */
static hid_t row_space(fl_cstate *s, int64_t row)
{
    hid_t fsp = H5Dget_space(s->dset);
    if (fsp < 0) return -1;
    hsize_t start[2] = {(hsize_t)row, 0}, count[2] = {1, s->dim};
    if (H5Sselect_hyperslab(fsp, H5S_SELECT_SET, start, NULL, count, NULL) < 0) {
        H5Sclose(fsp);
        return -1;
    }
    return fsp;
}

static fs_err row_io(fl_cstate *s, int64_t row, float *data, int write)
{
    hsize_t d = s->dim;
    hid_t fsp = row_space(s, row), msp = H5Screate_simple(1, &d, NULL);
    herr_t rc = -1;
    if (fsp >= 0 && msp >= 0)
        rc = write ? H5Dwrite(s->dset, H5T_NATIVE_FLOAT, msp, fsp, H5P_DEFAULT, data)
                   : H5Dread(s->dset, H5T_NATIVE_FLOAT, msp, fsp, H5P_DEFAULT, data);
    if (msp >= 0) H5Sclose(msp);
    if (fsp >= 0) H5Sclose(fsp);
    return rc < 0 ? h5_fail(s, write ? "write" : "read") : FS_OK;
}

static fs_err spill(fl_cstate *s, ent *e, int32_t k)
{
    if (s->file < 0) {
        fs_err err = spill_open(s);
        if (err) return err;
    }
    if (e->row < 0) {
        if (s->rows == s->rows_cap) {
            int64_t cap = s->rows_cap ? 2 * s->rows_cap : MIN_ROWS;
            hsize_t dims[2] = {(hsize_t)cap, s->dim};
            if (H5Dset_extent(s->dset, dims) < 0) return h5_fail(s, "extend");
            s->rows_cap = cap;
        }
        e->row = s->rows++;
    }
    s->spills++;
    return row_io(s, e->row, s->vec[k], 1);
}

/* ---- slots ---- */

static fs_err grow_slots(fl_cstate *s)
{
    size_t n = s->slots_alloc ? 2 * s->slots_alloc : 16;
    if (n > s->cap_slots) n = s->cap_slots;
    float **v = realloc(s->vec, n * sizeof *v);
    if (!v) return fs_error(FS_ENOMEM, "client state: out of memory");
    s->vec = v;
    uint32_t *o = realloc(s->owner, n * sizeof *o);
    if (!o) return fs_error(FS_ENOMEM, "client state: out of memory");
    s->owner = o;
    uint8_t *d = realloc(s->dirty, n * sizeof *d);
    if (!d) return fs_error(FS_ENOMEM, "client state: out of memory");
    s->dirty = d;
    int32_t *p = realloc(s->prev, n * sizeof *p);
    if (!p) return fs_error(FS_ENOMEM, "client state: out of memory");
    s->prev = p;
    int32_t *x = realloc(s->next, n * sizeof *x);
    if (!x) return fs_error(FS_ENOMEM, "client state: out of memory");
    s->next = x;
    s->slots_alloc = n;
    return FS_OK;
}

/* A free slot for a new resident vector: a new one under the cap, else the least recently used
 * one, whose vector is written to the file first if it changed. The slot is unlinked. */
static fs_err acquire_slot(fl_cstate *s, int32_t *out)
{
    if (s->n_slots < s->cap_slots) {
        if (s->n_slots == s->slots_alloc) {
            fs_err e = grow_slots(s);
            if (e) return e;
        }
        float *v = FS_ALIGNED(s->dim, sizeof(float));
        if (!v) return FS_ENOMEM;
        int32_t k = (int32_t)s->n_slots++;
        s->vec[k] = v;
        s->prev[k] = s->next[k] = -1;
        *out = k;
        return FS_OK;
    }
    int32_t k = s->tail;
    FS_CHECK(k >= 0);
    ent *victim = ht_find(s, s->owner[k]);
    FS_CHECK(victim && victim->slot == k);
    if (s->dirty[k] || victim->row < 0) {
        fs_err e = spill(s, victim, k);
        if (e) return e;
    }
    victim->slot = -1;
    lru_unlink(s, k);
    *out = k;
    return FS_OK;
}

static void bind_slot(fl_cstate *s, ent *e, int32_t k, int dirty)
{
    e->slot = k;
    s->owner[k] = e->client;
    s->dirty[k] = (uint8_t)dirty;
    lru_front(s, k);
}

/* ---- public ---- */

fs_err fl_cstate_new(fl_cstate **out, size_t dim, size_t mem_cap, const char *dir)
{
    *out = NULL;
    if (dim == 0) return fs_error(FS_EINPUT, "client state: vectors of 0 floats");
    fl_cstate *s = FS_CALLOC(1, sizeof *s);
    if (!s) return FS_ENOMEM;
    s->dim = dim;
    s->cap_slots = SIZE_MAX;
    if (mem_cap > 0) {
        s->cap_slots = mem_cap / (dim * sizeof(float));
        if (s->cap_slots < 1) s->cap_slots = 1;
    }
    s->head = s->tail = -1;
    s->file = s->dset = -1;
    snprintf(s->dir, sizeof s->dir, "%s", dir ? dir : "");
    s->ht_cap = 64;
    fs_err e = ht_alloc(&s->ht, s->ht_cap);
    if (e) {
        free(s);
        return e;
    }
    *out = s;
    return FS_OK;
}

void fl_cstate_free(fl_cstate *s)
{
    if (!s) return;
    if (s->dset >= 0) H5Dclose(s->dset);
    if (s->file >= 0) H5Fclose(s->file);
    for (size_t k = 0; k < s->n_slots; k++) free(s->vec[k]);
    free(s->vec);
    free(s->owner);
    free(s->dirty);
    free(s->prev);
    free(s->next);
    free(s->ht);
    free(s);
}

fs_err fl_cstate_get(fl_cstate *s, uint32_t client, float *dst, int *existed)
{
    FS_CHECK(client != NO_CLIENT);
    ent *e = ht_find(s, client);
    if (existed) *existed = e != NULL;
    if (!e) {
        memset(dst, 0, s->dim * sizeof(float));
        return FS_OK;
    }
    if (e->slot < 0) {
        int32_t k;
        fs_err err = acquire_slot(s, &k);
        if (err) return err;
        err = row_io(s, e->row, s->vec[k], 0);
        if (err) return err;
        s->loads++;
        bind_slot(s, e, k, 0);
    } else {
        lru_touch(s, e->slot);
    }
    memcpy(dst, s->vec[e->slot], s->dim * sizeof(float));
    return FS_OK;
}

fs_err fl_cstate_put(fl_cstate *s, uint32_t client, const float *src)
{
    FS_CHECK(client != NO_CLIENT);
    ent *e = ht_find(s, client);
    if (!e) {
        fs_err err = ht_insert(s, client, &e);
        if (err) return err;
    }
    if (e->slot < 0) {
        int32_t k;
        fs_err err = acquire_slot(s, &k);
        if (err) return err;
        bind_slot(s, e, k, 1);
    } else {
        lru_touch(s, e->slot);
        s->dirty[e->slot] = 1;
    }
    memcpy(s->vec[e->slot], src, s->dim * sizeof(float));
    return FS_OK;
}

void fl_cstate_stats_get(const fl_cstate *s, fl_cstate_stats *st)
{
    memset(st, 0, sizeof *st);
    st->clients = (long)s->ht_n;
    st->in_memory = (long)s->n_slots;
    st->mem_bytes = s->n_slots * s->dim * sizeof(float) + s->ht_cap * sizeof(ent) +
                    s->slots_alloc * (sizeof(float *) + sizeof(uint32_t) + 1 + 2 * sizeof(int32_t));
    st->disk_bytes = (size_t)s->rows * s->dim * sizeof(float);
    st->spills = s->spills;
    st->loads = s->loads;
}
