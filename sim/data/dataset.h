/* The dataset store: one in-memory dataset = flat arrays for a train and a test split, loaded
 * from or saved to the fedsim HDF5 layout (docs/datasets.md). Images stay uint8 and are scaled
 * per batch by ds_gather. A dataset owns all of its arrays. */
#ifndef FEDSIM_DATASET_H
#define FEDSIM_DATASET_H

#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

#define DS_FORMAT_NAME    "fedsim-dataset"
#define DS_FORMAT_VERSION 1

typedef enum ds_dtype { DS_U8 = 0, DS_F32 = 1 } ds_dtype;

/* classify: one label per sample. sequence: x holds token ids (uint8), y one target per step. */
typedef enum ds_task { DS_CLASSIFY = 0, DS_SEQUENCE = 1 } ds_task;

/* n fixed-width NUL-terminated names (client or class names), in one allocation: name i is at
 * buf + i * width. Stored as an HDF5 array of fixed-length strings. Empty when n == 0. */
typedef struct ds_names {
    int n;
    int width; /* bytes per name, including the NUL */
    char *buf;
} ds_names;

typedef struct ds_split {
    size_t n;        /* samples */
    void *x;         /* (n, feat) uint8 or float32 */
    int32_t *y;      /* (n, y_len) labels */
    int32_t *client; /* (n) natural client id, or NULL */
} ds_split;

/* A training split generated on demand (the population is too large to hold): sample ids of
 * client k are off[k] .. off[k+1]; fill() writes all of client k's samples. ds_gather
 * materialises one client at a time per thread (a thread-local cache), so callers do not
 * see the difference. Only natural partitions apply. */
typedef struct ds_lazy {
    uint64_t id; /* unique in the process (ds_lazy_new_id): keys the per-thread cache */
    uint32_t n_clients;
    uint32_t *off; /* (n_clients + 1) */
    void *gen;     /* generator parameters, owned */
    void (*fill)(const struct ds_lazy *lz, uint32_t client, float *x, int32_t *y);
} ds_lazy;

typedef struct dataset {
    char name[64];
    char source[256];     /* provenance: where the data came from */
    char import_date[32]; /* provenance: ISO date of import */
    char checksum[32];    /* provenance: crc32 of the input files, hex */
    ds_dtype dtype;
    ds_task task;
    int shape[3];          /* (C, H, W) of one sample; tabular = (1, 1, F); text = (1, 1, T) */
    size_t feat;           /* C * H * W */
    int y_len;             /* labels per sample: 1, or T for sequences */
    int n_classes;         /* classes, or vocabulary size for text */
    float x_scale;         /* uint8 -> float: x * x_scale (1/255 for images) */
    char *vocab;           /* text only: n_classes bytes (NUL-terminated), else NULL */
    int n_natural;         /* natural clients in train.client (0 if none) */
    ds_names client_names; /* optional: n_natural names of the natural clients */
    ds_names class_names;  /* optional: n_classes names of the classes */
    ds_split train, test;
    ds_lazy *lazy; /* non-NULL: train.x and train.y are generated on demand */
} dataset;

/* Load a fedsim HDF5 dataset. Fails with FS_EDATA naming the file and the problem when the
 * file is not a fedsim dataset, has the wrong version, or arrays disagree in size. */
fs_err ds_load(const char *path, dataset *ds);
/* Is the dataset file at path of the kind a scenario names (data.dataset)? A fedsim dataset
 * records its kind in its `name` attribute ("fashion-mnist", "kjv" from their importers); for
 * kind fashion-mnist or kjv a file of another kind is FS_EINPUT naming both (kjv pointing at the
 * Fashion-MNIST file trained on Fashion-MNIST without complaint). Other kinds (file, synthetic)
 * take any file. Reads only the attributes; a missing or unreadable file is left to ds_load
 * (FS_OK here). Used by `run` (sim_load_data) and `validate`. */
fs_err ds_check_kind(const char *path, const char *kind);
/* The same checks without reading the samples: attributes, array shapes, labels and client ids
 * (train.x and test.x stay NULL). What `fedsim validate` opens; a few MB where ds_load reads
 * every sample. */
fs_err ds_load_labels(const char *path, dataset *ds);
/* Save to path (written to path.tmp, then renamed: never half-written). */
fs_err ds_save(const char *path, const dataset *ds);
void ds_free(dataset *ds);

/* Allocate the arrays of a split for n samples (x, y; client if with_client). */
fs_err ds_split_alloc(const dataset *ds, ds_split *s, size_t n, int with_client);

/* Gather rows idx[0..b) of split s into float x_out (b, feat) (uint8 scaled by x_scale) and
 * labels y_out (b, y_len). For DS_SEQUENCE, x_out receives token ids as floats. */
void ds_gather(const dataset *ds, const ds_split *s, const uint32_t *idx, size_t b, float *x_out,
               int32_t *y_out);

/* Ask the CPU to bring rows idx[0..b) of split s (x and labels) into cache ahead of their
 * ds_gather: training calls it for the next batch before computing the current one, so the
 * rows' cache misses (a client's samples lie anywhere in the split) overlap the kernels. A
 * hint only (no effect on results; nothing for a lazy split). */
void ds_prefetch(const dataset *ds, const ds_split *s, const uint32_t *idx, size_t b);

/* A fresh id for a lazy generator. */
uint64_t ds_lazy_new_id(void);
/* Free a lazy generator (ds_free calls it). */
void ds_lazy_free(ds_lazy *lz);

/* Bytes of one sample's x. */
size_t ds_x_bytes(const dataset *ds);

/* dst[j] = (float)src[j] * sc for j < n (ds_gather's image scaling), at the machine's width. */
void ds_scale_u8(float *dst, const uint8_t *src, size_t n, float sc);

/* Copy n names into nm; width is the longest name + 1, names longer than 255 bytes are cut. */
fs_err ds_names_set(ds_names *nm, int n, const char *const *names);
/* Name i, or NULL when there are no names. */
const char *ds_name_at(const ds_names *nm, int i);
void ds_names_free(ds_names *nm);

#endif
