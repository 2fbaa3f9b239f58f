/* The compression.* and selection.* keys against the rest of the scenario (docs/efficiency.md):
 * the combinations fedsim refuses because they cannot compose (secure aggregation sums dense
 * masked vectors; local DP noise makes a compressed update dense again; the DP accountant
 * assumes uniform sampling) or are not implemented (asynchronous FedBuff). */
#ifndef FEDSIM_CFG_EFFICIENCY_H
#define FEDSIM_CFG_EFFICIENCY_H

#include "config/config.h"

/* 1 when k is one of the keys added with compression and selection (compression.*,
 * selection.*, eval.target_accuracy) and c holds its default: the resolved parameters stored
 * with a run (cfg_to_json) leave it out, so runs that do not use them record what they did
 * before these keys existed. */
int cfg_efficiency_at_default(const cfg *c, const cfg_key *k);

/* FS_OK, or FS_EINPUT with d pointing at the offending key (file:line:col) and a hint. */
fs_err cfg_efficiency_validate(const cfg *c, const char *file, cfg_diag *d);

#endif
