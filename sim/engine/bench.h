/* Engine benchmarks (`fedsim bench engine`): event-queue throughput and the engine's own
 * cost per client-round on a million-client population. Numbers only; nothing asserts time. */
#ifndef FEDSIM_ENGINE_BENCH_H
#define FEDSIM_ENGINE_BENCH_H

#include <stdio.h>

#include "util/err.h"

fs_err bench_engine(FILE *out);

#endif
