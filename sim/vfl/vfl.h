/* Vertical federated learning (issue 15; docs/vertical.md): `federation: vertical` runs here
 * instead of engine/sim.c. A few parties hold different feature columns of the same samples;
 * the active party holds the labels. The run:
 *
 *   1. set-up, before anything is written: the dataset, the parties' feature groups and sample
 *      IDs (vfl/party.c), entity alignment by DH-PSI (crypto/psi.h), the Paillier keys
 *      (crypto/paillier.h) with encryption on, the models. Bad input is FS_EINPUT with a
 *      file:line:col diagnostic in d (exit 2, no database);
 *   2. the record: a `runs` row with the protocol and key size, a `parties` row per party and
 *      a rounds row 0 for the alignment and key set-up (their bytes and virtual time);
 *   3. minibatch steps of hetero_lr (vfl/hetero_lr.c) or splitnn (vfl/splitnn.c) over the
 *      training rows of the intersection, each recorded on the virtual clock (vfl/clock.c)
 *      and replayed with the parties' devices, links, stragglers and dropouts; one rounds row
 *      per epoch, or per eval.every steps when eval.every is set, with the test metrics
 *      (loss, accuracy, AUC), bytes, virtual and crypto time, and a party_rounds row per
 *      party. */
#ifndef FEDSIM_VFL_H
#define FEDSIM_VFL_H

#include "config/config.h"
#include "engine/sim.h"
#include "util/err.h"

/* Run a vertical scenario (c->federation = vertical). file names the scenario in messages. */
fs_err vfl_run(const cfg *c, const sim_opts *o, const char *file, sim_summary *out, cfg_diag *d);

/* The checks of a vertical scenario that need its dataset (features against the data, a
 * non-empty intersection; fedsim validate). FS_EINPUT with d filled. */
fs_err vfl_validate_data(const cfg *c, const char *file, cfg_diag *d);

#endif
