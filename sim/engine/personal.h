/* Personalized evaluation and fairness summaries (docs/personalization.md). At every evaluation,
 * for the fixed eval.clients sample: each client's personalized model (its personal model under
 * Ditto, FedPer, FedRep or APFL, else the global model), fine-tuned when eval.personalize_steps or
 * _epochs say so on the client's training samples, evaluated on its local test split
 * (client_eval.pers_loss, pers_acc); and the fairness summaries over the sample (mean, worst and
 * best 10 %, standard deviation, Jain's index) of the global model's accuracies (always, with
 * eval.clients) and of the personalized ones (rounds.client_acc_*, pers_acc_*).
 * Guarantees: the same bits for any thread count (client states loaded serially in sample order,
 * each client's fine-tuning a pure function of (seed, client, round), summaries in sample order);
 * the training state is never changed (fine-tuning works on copies). */
#ifndef FEDSIM_ENGINE_PERSONAL_H
#define FEDSIM_ENGINE_PERSONAL_H

#include <stdint.h>

#include "config/config.h"
#include "data/dataset.h"
#include "data/partition.h"
#include "fl/algorithm.h"
#include "fl/client_state.h"
#include "nn/model.h"
#include "store/store.h"
#include "store/store_pers.h"

typedef struct pers_state pers_state;

/* algorithm.personal_layers of model m as parameter ranges into p->personal (in buffer order).
 * FS_EINPUT naming the layer that does not exist or has no parameters. */
fs_err pers_layers(const cfg *c, const nn_model *m, fl_params *p);

/* The algorithm.* keys of q-FFL, Ditto and FedRep into p, and the personal layers (pers_layers). */
fs_err pers_params(const cfg *c, const nn_model *m, fl_params *p);

/* eval.clients' sample: the first *n of a partial Fisher-Yates permutation of 0..N-1 from
 * (RNG_EVAL, 0, 0) into perm (N entries, allocated). */
fs_err pers_eval_sample(uint64_t seed, uint32_t N, int want, uint32_t **perm, uint32_t *n);

/* The set-up checks that need the model and the partition (part NULL: skipped): personal layers
 * that exist, and a local test sample for every fine-tuned client. d gets file:line:col. */
fs_err pers_check_setup(const cfg *c, const nn_model *m, const partition *part, const char *file,
                        cfg_diag *d);

/* The fairness summaries of acc[0..n) (NaN when n = 0): worst and best 10 % are the means of the
 * ceil(n / 10) lowest and highest; std the population standard deviation; Jain's index
 * (sum a)^2 / (n sum a^2), 1 when every a is 0. */
void pers_fairness(const double *acc, int n, met_fairness *out);

typedef struct pers_env {
    const fl_algorithm *algo;
    const nn_model *m;
    const dataset *ds;
    const partition *part;
    const fl_train_cfg *tc;
    const fl_params *p;
    uint64_t seed;
    nn_worker *workers;
    int threads;
    int chunk; /* clients personalized at once */
} pers_env;

/* NULL in *out when eval.clients = 0. */
fs_err pers_new(const cfg *c, const pers_env *env, pers_state **out);
void pers_free(pers_state *ps);
/* What pers_new would allocate under c with algorithm a, a model of n_params parameters,
 * n_clients clients, training chunks of chunk clients and threads threads, by its formulas, for
 * the memory estimate (engine/setup_check.c): with fine-tuning or a personalized algorithm, two
 * models and a flag per client personalized at once (the least of chunk and 2 x threads); the
 * eval.clients sample (a permutation of every client) and its three result arrays. 0 when
 * eval.clients = 0. The personal states themselves are the algorithm's client states (counted
 * with them). */
double pers_estimate_bytes(const cfg *c, const fl_algorithm *a, size_t n_params, uint32_t n_clients,
                           int chunk, int threads);
/* After the global model's per-client evaluation (cev[0..n), the eval.clients sample in order):
 * the personalized evaluation of the same clients and both summaries, kept for pers_write. cs: the
 * algorithm's client states (NULL: none). */
fs_err pers_eval(pers_state *ps, int round, const float *global, const met_client_eval *cev, int n,
                 fl_cstate *cs);
/* Write what pers_eval kept for `round` (nothing if it did not evaluate), after the round's
 * rows, in their transaction. */
fs_err pers_write(pers_state *ps, met_store *st, int round);

#endif
