/* The vertical section of a scenario (vertical federated learning, docs/vertical.md): the checks
 * of vertical.* and vertical.parties that need no data (config/vertical.c also holds the keys and
 * the parties' parser), the positions of the parties for messages and the feature ranges. The
 * checks that need the dataset (features out of range, features of nobody, an empty
 * intersection) run when the run starts (sim/vfl/party.c) and report positions the same way. */
#ifndef FEDSIM_CONFIG_VERTICAL_H
#define FEDSIM_CONFIG_VERTICAL_H

#include <stdio.h>

#include "config/config.h"
#include "config/ytree.h"

/* Cross-checks of federation, vertical.* and the parties that need no data: roles (one active
 * party, at most one coordinator, and only for hetero_lr), a feature group for every data party,
 * no feature or pixel block owned twice where the forms can be compared without the data, an
 * even key size. */
fs_err cfg_vertical_validate(const cfg *c, const char *file, cfg_diag *d);

/* Position of party i's field (CFG_PF_*), or of the entry when the field was not given, as
 * file:line:col in d (file "--set" for an override). */
void cfg_vertical_at(cfg_diag *d, const cfg *c, const char *file, int party, int field);
/* Position of the vertical.parties key itself (line 0 when it was not given). */
void cfg_vertical_at_list(cfg_diag *d, const cfg *c, const char *file);

/* Ranges "a-b,c" (inclusive, as the parser normalises them) into lo[k], hi[k] for k < *n; at
 * most cap ranges. "" gives none. FS_EINPUT on anything else. */
fs_err cfg_ranges_parse(const char *s, int *lo, int *hi, int cap, int *n);

#endif
