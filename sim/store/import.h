/* Copying finished runs between metrics databases (mpirun fedsim sweep: a rank runs into a
 * private database on its own disk, rank 0 copies the run into the sweep's database; only rank
 * 0 ever writes that file, so no SQLite file is shared over a network file system). */
#ifndef FEDSIM_IMPORT_H
#define FEDSIM_IMPORT_H

#include <stdint.h>

#include "store/store.h"

/* Copy every `runs` row of the database file src into s, with the rows of every table of src
 * that has a run_id column (rounds, client_events, client_eval, confusion, and any added later)
 * under the new run ids; columns are matched by name (those s lacks are dropped, those src
 * lacks take their defaults). Earlier failed or interrupted rows of the same sweep and run key
 * get superseded_by, as met_run_begin does. One transaction: all or nothing. *last_id gets the
 * id of the last run copied (-1: none). */
fs_err met_import_runs(met_store *s, const char *src, int64_t *last_id);

#endif
