/* Cross-key checks of personalization and fairness (docs/personalization.md): the
 * eval.personalize_* keys need eval.clients and a local test split; algorithm.personal_layers
 * belongs to fedper and fedrep; the personalized algorithms (ditto, fedper, fedrep, apfl) and q-FFL
 * run with protocol: sync, without privacy.*, robust aggregation or a kept optimiser state. The
 * checks that need the model or the partition (layer names, empty local test splits) are in
 * engine/personal.c. */
#ifndef FEDSIM_CONFIG_PERSONAL_H
#define FEDSIM_CONFIG_PERSONAL_H

#include "config/config.h"

/* 1 if the scenario fine-tunes at evaluation (eval.personalize_steps or _epochs > 0). */
int cfg_personal_finetune(const cfg *c);

/* FS_OK, or FS_EINPUT with d pointing at the key at fault (file:line:col) and a hint. */
fs_err cfg_personal_validate(const cfg *c, const char *file, cfg_diag *d);

#endif
