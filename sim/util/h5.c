/* Checked HDF5 attribute helpers (see h5.h). */
#include "util/h5.h"

#include <stdlib.h>
#include <string.h>

fs_err h5_put_attr(hid_t loc, const char *name, hid_t type, const void *v, hsize_t n,
                   const char *path)
{
    hid_t sp = H5Screate_simple(1, &n, NULL);
    hid_t a = H5Acreate2(loc, name, type, sp, H5P_DEFAULT, H5P_DEFAULT);
    herr_t rc = a < 0 ? -1 : H5Awrite(a, type, v);
    if (a >= 0) H5Aclose(a);
    H5Sclose(sp);
    return rc < 0 ? fs_error(FS_EIO, "%s: cannot write attribute '%s'", path, name) : FS_OK;
}

fs_err h5_put_str(hid_t loc, const char *name, const char *s, const char *path)
{
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, strlen(s) + 1);
    hid_t sp = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(loc, name, t, sp, H5P_DEFAULT, H5P_DEFAULT);
    herr_t rc = a < 0 ? -1 : H5Awrite(a, t, s);
    if (a >= 0) H5Aclose(a);
    H5Sclose(sp);
    H5Tclose(t);
    return rc < 0 ? fs_error(FS_EIO, "%s: cannot write attribute '%s'", path, name) : FS_OK;
}

fs_err h5_get_attr(hid_t loc, const char *name, hid_t type, void *v, hsize_t n, const char *path,
                   const char *kind)
{
    if (H5Aexists(loc, name) <= 0)
        return fs_error(FS_EDATA, "%s: not a fedsim %s (attribute '%s' missing)", path, kind, name);
    hid_t a = H5Aopen(loc, name, H5P_DEFAULT);
    hid_t sp = a < 0 ? -1 : H5Aget_space(a);
    hssize_t npts = sp < 0 ? -1 : H5Sget_simple_extent_npoints(sp);
    herr_t rc = npts == (hssize_t)n ? H5Aread(a, type, v) : -1;
    if (sp >= 0) H5Sclose(sp);
    if (a >= 0) H5Aclose(a);
    return rc < 0 ? fs_error(FS_EDATA,
                             "%s: attribute '%s' unreadable or has %lld values, expected %llu",
                             path, name, (long long)npts, (unsigned long long)n)
                  : FS_OK;
}

fs_err h5_get_str(hid_t loc, const char *name, char **out, const char *path, const char *kind)
{
    *out = NULL;
    if (H5Aexists(loc, name) <= 0)
        return fs_error(FS_EDATA, "%s: not a fedsim %s (attribute '%s' missing)", path, kind, name);
    hid_t a = H5Aopen(loc, name, H5P_DEFAULT);
    hid_t ft = a < 0 ? -1 : H5Aget_type(a);
    size_t sz = ft < 0 ? 0 : H5Tget_size(ft);
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, sz ? sz : 1);
    char *buf = calloc(sz + 1, 1);
    herr_t rc = buf && ft >= 0 && H5Tget_class(ft) == H5T_STRING ? H5Aread(a, t, buf) : -1;
    H5Tclose(t);
    if (ft >= 0) H5Tclose(ft);
    if (a >= 0) H5Aclose(a);
    if (rc < 0) {
        free(buf);
        return fs_error(FS_EDATA, "%s: attribute '%s' unreadable", path, name);
    }
    *out = buf;
    return FS_OK;
}

h5_quiet h5_quiet_on(void)
{
    h5_quiet q;
    H5Eget_auto2(H5E_DEFAULT, &q.fn, &q.data);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    return q;
}

void h5_quiet_off(h5_quiet q)
{
    H5Eset_auto2(H5E_DEFAULT, q.fn, q.data);
}

void h5_silence(void)
{
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
}
