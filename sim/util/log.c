/* stderr logging and the monotonic clock. */
#include "util/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <time.h>

static enum log_level level = LOG_INFO;

void log_set_level(enum log_level l)
{
    level = l;
}

enum log_level log_get_level(void)
{
    return level;
}

void log_msg(enum log_level l, const char *fmt, ...)
{
    static const char *names[] = {"error", "warning", "info", "debug"};
    if (l > level) return;
    char line[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (l == LOG_INFO)
        fprintf(stderr, "fedsim: %s\n", line);
    else
        fprintf(stderr, "fedsim: %s: %s\n", names[l], line);
}

double time_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}
