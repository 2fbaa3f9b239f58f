/* The scenario choices an algorithm's properties rule out (sim/engine/check_algo.c). */
#ifndef FEDSIM_CHECK_ALGO_H
#define FEDSIM_CHECK_ALGO_H

#include "config/config.h"
#include "util/err.h"

/* Check c against the properties of the algorithm algorithm.name names in the algorithm table
 * (fl/algorithm.h): a second upload (a vector or a scalar) has no clipping, noise or robust
 * counterpart, a scalar upload no bound for secure aggregation, unit weights make
 * privacy.weighting = samples meaningless, and an algorithm whose local runs must start from a
 * fresh momentum buffer refuses train.optimizer_state = per_client. Run after cfg_validate by
 * validate, run, data stats and sweep expansion; on failure fills d at the key's file:line:col
 * (cfg_diag_key) and returns FS_EINPUT, like cfg_validate. */
fs_err sim_check_algorithm(const cfg *c, const char *file, cfg_diag *d);

#endif
