/* Adversaries and robust aggregation in the run (docs/robustness.md): what a synchronous round
 * does when the scenario has malicious clients (adversary.*) or a robust rule (aggregation.*).
 *
 *   robust_new          choose the malicious clients (the first adversary.count / fraction x N
 *                       of a permutation from (seed, RNG_ATTACK, 0, 0)), FLTrust's root dataset,
 *                       the backdoor's test set;
 *   robust_poison       the data attack's hook for local training (fl_round_ctx.poison);
 *   robust_round_add    for each chunk of trained clients, in arrival order: keep its updates
 *                       (the round's n x n_params floats, capped by aggregation.memory_mb);
 *   robust_round_end    the update attacks on the malicious rows (omniscient ones from the
 *                       round's benign rows), then the rule (with bucketing), which fills the
 *                       aggregate for the algorithm's server step and each update's kept share.
 *
 * Guarantees: results depend only on (scenario, seed), never on the thread count; with no
 * adversary and aggregation.rule mean the engine never calls this module, and the rules that
 * remove nothing (mean, trimmed_mean with f = 0, multi_krum with m = n) give FedAvg's aggregate
 * bit for bit. */
#ifndef FEDSIM_ROBUST_ENGINE_H
#define FEDSIM_ROBUST_ENGINE_H

#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "data/dataset.h"
#include "data/partition.h"
#include "fl/algorithm.h"
#include "nn/model.h"
#include "store/store.h"
#include "util/err.h"

typedef struct robust_state robust_state;

/* max_updates: the most updates a round can aggregate (rounds.clients_per_round). FS_EINPUT
 * with a message when the round's updates would exceed aggregation.memory_mb, or a backdoor
 * target is not a class of the dataset. */
fs_err robust_new(const cfg *c, const dataset *ds, const partition *part, const nn_model *m,
                  int max_updates, int threads, robust_state **out);
void robust_free(robust_state *r);
/* The round's kept updates (max_updates x n_params floats) against aggregation.memory_mb, as
 * robust_new checks them (and validate, before anything is allocated); FS_OK when no robust
 * rule or attack is configured. */
fs_err robust_check_memory(const cfg *c, size_t n_params, int max_updates);

/* What robust_new and a round (robust_round_add .. robust_round_end) allocate at most, by their
 * formulas, for the memory estimate (engine/setup_check.c): the round's max_updates kept updates
 * (n x n_params floats) with their per-update arrays, the centre, FLTrust's server update and
 * root sample (of n_train), the backdoor's test set (n_test), and the larger of the omniscient
 * attack's buffers and the rule's scratch after bucketing (Krum's and Bulyan's n x n distances,
 * the coordinate-wise rules' columns per thread, ...). 0 when cfg_robust_wanted is not. */
double robust_estimate_bytes(const cfg *c, size_t n_params, uint32_t n_clients, size_t n_train,
                             size_t n_test, int max_updates, int threads);
/* One line for the log. */
const char *robust_describe(const robust_state *r);
/* The data attack's hook, or NULL when the attack does not touch data. */
const fl_poison *robust_poison(const robust_state *r);
int robust_is_malicious(const robust_state *r, uint32_t client);

void robust_round_begin(robust_state *r, uint32_t round);
/* Keep the updates of res[0..n) (trained, in arrival order). */
fs_err robust_round_add(robust_state *r, const fl_client_result *res, int n);
/* Attacks, then the rule: fills agg (sum, wsum) for fl_server_step; counts, loss and samples
 * are taken from trained (fl_train_clients' tally). ctx and w train FLTrust's server update. */
fs_err robust_round_end(robust_state *r, const fl_round_ctx *ctx, nn_worker *w,
                        const fl_agg *trained, fl_agg *agg);
/* The round's adversary columns of the rounds row. */
void robust_row(const robust_state *r, met_round_row *row);
/* Set kept on the upload events of this round's aggregated clients, ev[0..n). */
void robust_events(const robust_state *r, met_client_event *ev, size_t n);
/* Backdoor attack success rate of params: the fraction of the triggered test samples outside
 * the target class classified as the target; NaN without a backdoor. */
double robust_asr(robust_state *r, nn_worker *w, const float *params);

#endif
