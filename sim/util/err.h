/* Error codes and the per-thread error message. Library functions return an fs_err code and
 * describe what went wrong with fs_error(); only main() turns codes into exit statuses
 * (FS_EINPUT and FS_EDATA exit 2, others 1). */
#ifndef FEDSIM_ERR_H
#define FEDSIM_ERR_H

#include <signal.h>
#include <stddef.h>

typedef enum fs_err {
    FS_OK = 0,
    FS_EINPUT,    /* bad scenario, option or argument: the user can fix it */
    FS_EDATA,     /* corrupt, truncated or mismatched data file */
    FS_EIO,       /* file system, SQLite or HDF5 failure */
    FS_ENOMEM,    /* allocation failed */
    FS_EINTR,     /* stopped by a signal */
    FS_EINTERNAL, /* broken invariant */
} fs_err;

/* Record a message for the current thread and return code. printf-style. */
fs_err fs_error(fs_err code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The last message recorded on this thread ("" if none). */
const char *fs_errmsg(void);
void fs_error_clear(void);
/* Exit status main() uses for a code. */
int fs_exit_status(fs_err code);

/* Set by the command's SIGINT/SIGTERM handler (cli_catch_signals). Long loops (data generation,
 * import, partitioning, model and client set-up, training chunks) poll it through fs_stopped()
 * and give up with FS_EINTR, so a signal stops a run within a fraction of a second, set-up
 * included. */
extern volatile sig_atomic_t fs_stop_flag;
/* FS_EINTR (message "interrupted") once a stop was asked, else FS_OK. */
fs_err fs_stopped(void);

/* Checked allocation: returns NULL and records FS_ENOMEM with the caller's location. */
#define FS_CALLOC(n, size) fs_calloc_at((n), (size), __FILE__, __LINE__)
void *fs_calloc_at(size_t n, size_t size, const char *file, int line);
/* 64-byte aligned, zeroed; free with free(). */
#define FS_ALIGNED(n, size) fs_aligned_at((n), (size), __FILE__, __LINE__)
void *fs_aligned_at(size_t n, size_t size, const char *file, int line);

/* FS_ALIGNED for large arrays read at random (a dataset's samples): from 4 MiB on, aligned to
 * 2 MiB and marked for transparent huge pages (madvise; Debian's default THP mode), so that
 * random rows miss the TLB less; below that, FS_ALIGNED. Freed with free(). */
#define FS_ALIGNED_HUGE(n, size) fs_aligned_huge_at((n), (size), __FILE__, __LINE__)
void *fs_aligned_huge_at(size_t n, size_t size, const char *file, int line);

/* Always-on invariant check (not compiled out by NDEBUG). */
#define FS_CHECK(cond)                                                                             \
    do {                                                                                           \
        if (!(cond)) fs_check_failed(#cond, __FILE__, __LINE__);                                   \
    } while (0)
_Noreturn void fs_check_failed(const char *what, const char *file, int line);

#endif
