/* Update compression in the run (compression.*; docs/efficiency.md): what a synchronous round
 * does to each arrived update between client training and aggregation.
 *
 *   comm_upload_bytes  the exact encoded size of one update (fl/compress/), which the schedule
 *                      charges to the client's upload instead of the dense float32 vector;
 *   comm_round_add     for each chunk of trained clients, in arrival order: add the client's
 *                      error-feedback residual (compression.error_feedback; Stich et al. 2018,
 *                      Karimireddy et al. 2019), encode from the client's keyed stream
 *                      (RNG_COMPRESS, client, round), decode, keep the new residual (what the
 *                      decoding lost) in a per-client store (fl/client_state.h), and put the
 *                      decoded vector in place of the update: what the server aggregates;
 *   comm_round_end     signSGD's majority vote replaces the weighted sum of the round.
 *
 * Only the trainable coordinates are compressed (frozen layers are not uploaded). Guarantees:
 * the results depend only on (scenario, seed), never on the thread count (compression runs in
 * parallel over a chunk's clients, each from its own stream; residuals are loaded and stored
 * serially in arrival order). With compression.kind none the engine never calls this module. */
#ifndef FEDSIM_COMM_H
#define FEDSIM_COMM_H

#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "fl/algorithm.h"
#include "fl/compress/compress.h"
#include "nn/model.h"
#include "util/err.h"

typedef struct comm_state comm_state;

/* 1 when compression.kind is not none. */
int comm_wanted(const cfg *c);
/* The compressor of model m's trainable coordinates under c (PowerSGD's matrices: the weights of
 * trainable dense and conv2d layers). */
fs_err comm_cmp_of(const cfg *c, const nn_model *m, fl_cmp *out);
/* chunk: clients per training chunk; the residual store (error feedback) spills to state_dir
 * beyond state_cap bytes (algorithm.state_dir / state_memory_mb, as client states). */
fs_err comm_new(const cfg *c, const nn_model *m, int chunk, const char *state_dir, size_t state_cap,
                comm_state **out);
void comm_free(comm_state *s);
/* What comm_new and comm_round_add would allocate for model m under c, by their formulas, for
 * the memory estimate (engine/setup_check.c): *buffers the chunk's gathered, decoded and encoded
 * vectors, signSGD's votes and the encoder's own scratch once per encoding thread (the least of
 * threads and chunk); *residuals the error-feedback store's vectors in memory, n_clients of them
 * at most and no more than state_cap bytes' worth (at least one). Both 0 with compression.kind
 * none (or an unknown kind). */
void comm_estimate_bytes(const cfg *c, const nn_model *m, int chunk, int threads, size_t state_cap,
                         uint32_t n_clients, double *buffers, double *residuals);
/* Bytes of one encoded update. */
double comm_upload_bytes(const comm_state *s);
/* Memory and spill-file bytes of the residual store. */
void comm_state_bytes(const comm_state *s, double *mem, double *disk);
void comm_round_begin(comm_state *s);
/* Compress res[0..n) in place (their update vectors), in parallel over threads; then, when agg
 * is not NULL, add them to agg in order (with privacy or robust rules the caller passes the
 * decoded updates on instead). */
fs_err comm_round_add(comm_state *s, fl_client_result *res, int n, uint32_t round, uint64_t seed,
                      int threads, fl_agg *agg);
/* After the round's last comm_round_add with an agg: the majority vote (signSGD) into agg. */
void comm_round_end(comm_state *s, fl_agg *agg);
/* The client's error-feedback residual (d = the trainable coordinates; zeros before its first
 * update); FS_EINPUT without error feedback. */
fs_err comm_residual(comm_state *s, uint32_t client, float *dst);
/* One line for the run log. */
const char *comm_describe(const comm_state *s);

#endif
