/* Checked HDF5 wrappers for fedsim's file formats (datasets, checkpoints): every failure
 * becomes an fs_error naming the file and the object, so a missing, truncated or mismatched
 * file is reported as such. `kind` names the format in "not a fedsim <kind>" messages. */
#ifndef FEDSIM_H5_H
#define FEDSIM_H5_H

#include <hdf5.h>

#include "util/err.h"

/* A 1-d attribute of n values of a native type. */
fs_err h5_put_attr(hid_t loc, const char *name, hid_t type, const void *v, hsize_t n,
                   const char *path);
fs_err h5_get_attr(hid_t loc, const char *name, hid_t type, void *v, hsize_t n, const char *path,
                   const char *kind);
/* A scalar string attribute; h5_get_str mallocs *out. */
fs_err h5_put_str(hid_t loc, const char *name, const char *s, const char *path);
fs_err h5_get_str(hid_t loc, const char *name, char **out, const char *path, const char *kind);

/* Silence HDF5's own error printing for the duration of a call (we report errors ourselves). */
typedef struct h5_quiet {
    H5E_auto2_t fn;
    void *data;
} h5_quiet;

h5_quiet h5_quiet_on(void);
void h5_quiet_off(h5_quiet q);
/* Silence HDF5's error printing for the whole process (the fedsim command does it first thing):
 * every HDF5 failure is reported by fedsim as one `fedsim: error:` line, never as HDF5's stack
 * (a write on a full disk printed dozens of lines). */
void h5_silence(void);

#endif
