/* Per-thread error message storage and checked allocation. */
#include "util/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

static _Thread_local char errmsg[1024];

volatile sig_atomic_t fs_stop_flag = 0;

fs_err fs_stopped(void)
{
    return fs_stop_flag ? fs_error(FS_EINTR, "interrupted") : FS_OK;
}

fs_err fs_error(fs_err code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(errmsg, sizeof errmsg, fmt, ap);
    va_end(ap);
    return code;
}

const char *fs_errmsg(void)
{
    return errmsg;
}

void fs_error_clear(void)
{
    errmsg[0] = '\0';
}

int fs_exit_status(fs_err code)
{
    switch (code) {
    case FS_OK:
        return 0;
    case FS_EINPUT:
    case FS_EDATA:
        return 2;
    case FS_EINTR:
        return 130;
    default:
        return 1;
    }
}

void *fs_calloc_at(size_t n, size_t size, const char *file, int line)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p)
        fs_error(FS_ENOMEM, "out of memory allocating %zu x %zu bytes (%s:%d)", n, size, file,
                 line);
    return p;
}

/* bytes rounded up to align (a power of two; at least one unit), aligned and zeroed; huge:
 * marked for transparent huge pages before the first touch. */
static void *aligned_zeroed(size_t align, size_t bytes, int huge, const char *file, int line)
{
    bytes = (bytes + align - 1) & ~(align - 1);
    if (!bytes) bytes = align;
    void *p = aligned_alloc(align, bytes);
    if (!p) {
        fs_error(FS_ENOMEM, "out of memory allocating %zu bytes (%s:%d)", bytes, file, line);
        return NULL;
    }
#ifdef MADV_HUGEPAGE
    /* a hint: refused or unsupported, it changes nothing */
    if (huge) (void)madvise(p, bytes, MADV_HUGEPAGE);
#else
    (void)huge;
#endif
    memset(p, 0, bytes);
    return p;
}

void *fs_aligned_at(size_t n, size_t size, const char *file, int line)
{
    size_t bytes = n * size;
    if (size && bytes / size != n) {
        fs_error(FS_ENOMEM, "allocation size overflow (%s:%d)", file, line);
        return NULL;
    }
    return aligned_zeroed(64, bytes, 0, file, line);
}

void *fs_aligned_huge_at(size_t n, size_t size, const char *file, int line)
{
    const size_t huge = (size_t)2 << 20, bytes = n * size;
    if (!size || bytes / size != n || bytes < 2 * huge) return fs_aligned_at(n, size, file, line);
    return aligned_zeroed(huge, bytes, 1, file, line);
}

void fs_check_failed(const char *what, const char *file, int line)
{
    fprintf(stderr, "fedsim: internal check failed: %s (%s:%d)\n", what, file, line);
    abort();
}
