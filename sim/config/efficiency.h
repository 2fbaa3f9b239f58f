/* The compression.* and selection.* keys against the rest of the scenario (docs/efficiency.md):
 * the combinations fedsim refuses because they cannot compose (secure aggregation sums dense
 * masked vectors; local DP noise makes a compressed update dense again; the DP accountant
 * assumes uniform sampling) or are not implemented (asynchronous FedBuff). */
#ifndef FEDSIM_CFG_EFFICIENCY_H
#define FEDSIM_CFG_EFFICIENCY_H

#include "config/config.h"

/* FS_OK, or FS_EINPUT with d pointing at the offending key (file:line:col) and a hint. */
fs_err cfg_efficiency_validate(const cfg *c, const char *file, cfg_diag *d);

#endif
