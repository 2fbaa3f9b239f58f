/* Per-client state vectors (SCAFFOLD's c_i, FedDyn's gradient state), stored only for clients
 * that have participated: a client's vector is created on its first store; before that it reads
 * as zeros. At most mem_cap bytes of vectors stay in memory; beyond that the least recently used
 * are written to a temporary HDF5 file (dataset "state", float32, one chunked row per spilled
 * client) and read back when needed. The file is unlinked as soon as it is created, so it
 * disappears with the process, and is closed by fl_cstate_free.
 * Guarantees: values round-trip bit-exactly, so results do not depend on the cap; the memory
 * and file layout depend only on the sequence of calls (deterministic). Not thread-safe: call
 * from one thread. */
#ifndef FEDSIM_CLIENT_STATE_H
#define FEDSIM_CLIENT_STATE_H

#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

typedef struct fl_cstate fl_cstate;

/* A store of vectors of dim floats. mem_cap: bytes of vectors kept in memory (at least one
 * vector is always kept); 0: no cap. dir: where the spill file goes ("" or NULL: $TMPDIR or
 * /tmp). */
fs_err fl_cstate_new(fl_cstate **out, size_t dim, size_t mem_cap, const char *dir);
void fl_cstate_free(fl_cstate *s);

/* Copy the client's vector into dst (dim): zeros if the client has none. *existed (optional)
 * gets 1 if it had one. */
fs_err fl_cstate_get(fl_cstate *s, uint32_t client, float *dst, int *existed);
/* Store src (dim) as the client's vector (creating it on first use). */
fs_err fl_cstate_put(fl_cstate *s, uint32_t client, const float *src);

typedef struct fl_cstate_stats {
    long clients;       /* clients with a vector */
    long in_memory;     /* of which held in memory */
    size_t mem_bytes;   /* memory of the store: vectors in memory plus the index */
    size_t disk_bytes;  /* bytes of vectors in the spill file (rows allocated x dim x 4) */
    long spills, loads; /* vectors written to / read from the file so far */
} fl_cstate_stats;

void fl_cstate_stats_get(const fl_cstate *s, fl_cstate_stats *st);

#endif
