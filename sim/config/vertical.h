/* The scenario's vertical.parties list (vertical federated learning, docs/vertical.md): its
 * parser, the checks that need no data, its JSON and its row of docs/scenario.md. config.c
 * calls these for the one key outside its key table that has this structure; the checks that
 * need the dataset (features out of range, features of nobody, an empty intersection) run when
 * the run starts (sim/vfl/party.c) and report positions the same way. */
#ifndef FEDSIM_CONFIG_VERTICAL_H
#define FEDSIM_CONFIG_VERTICAL_H

#include <stdio.h>

#include "config/config.h"
#include "config/ytree.h"

/* Parse the list v (file: the scenario or "--set"; set_index > 0: override number; col_shift:
 * added to columns) into c->vertical.parties. Errors fill d with the entry or field at fault. */
fs_err cfg_vertical_parse_parties(cfg *c, const ynode *v, const char *file, int set_index,
                                  int col_shift, cfg_diag *d);

/* Cross-checks of federation, vertical.* and the parties that need no data: roles (one active
 * party, at most one coordinator, and only for hetero_lr), a feature group for every data party,
 * no feature or pixel block owned twice where the forms can be compared without the data, an
 * even key size. */
fs_err cfg_vertical_validate(const cfg *c, const char *file, cfg_diag *d);

/* `"vertical.parties": [...]` (every field of every party) into f. */
void cfg_vertical_json(FILE *f, const cfg *c);

/* The vertical.parties row of docs/scenario.md. */
void cfg_vertical_markdown(FILE *out);

/* Position of party i's field (CFG_PF_*), or of the entry when the field was not given, as
 * file:line:col in d (file "--set" for an override). */
void cfg_vertical_at(cfg_diag *d, const cfg *c, const char *file, int party, int field);
/* Position of the vertical.parties key itself (line 0 when it was not given). */
void cfg_vertical_at_list(cfg_diag *d, const cfg *c, const char *file);

/* Ranges "a-b,c" (inclusive, as the parser normalises them) into lo[k], hi[k] for k < *n; at
 * most cap ranges. "" gives none. FS_EINPUT on anything else. */
fs_err cfg_ranges_parse(const char *s, int *lo, int *hi, int cap, int *n);

#endif
