/* Evaluation of the global model during a run (private to sim/engine): the central test set
 * (eval.test_samples, with eval.confusion its confusion matrix), a fixed sample of clients on
 * their own data (eval.clients) and a fixed sample of the clients' pooled training samples
 * (eval.train_samples). The samples are drawn once at set-up from (RNG_EVAL, 0 | 1, 0), so
 * every evaluation sees the same clients and samples. Clients are evaluated in parallel and
 * summed in client order: the same bits for any thread count. */
#ifndef FEDSIM_ENGINE_EVAL_H
#define FEDSIM_ENGINE_EVAL_H

#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "data/dataset.h"
#include "data/partition.h"
#include "nn/model.h"
#include "store/store.h"

typedef struct sim_eval {
    const cfg *c;
    const dataset *ds;
    const partition *part;
    const nn_model *model;
    uint32_t *cl; /* eval.clients: the clients evaluated each time, fixed */
    int n_cl;
    met_client_eval *cev; /* their results of this round, written with its row */
    int n_cev;
    long *conf;   /* eval.confusion: (K, K) test-set confusion of this round's evaluation */
    int conf_now; /* 1 when conf holds this round's matrix, written with its row */
    /* eval.train_samples: a fixed sample of the clients' pooled training samples, grouped by
     * client (group g: client tev_cl[g], samples tev_idx[tev_off[g] .. tev_off[g + 1])) */
    uint32_t *tev_idx, *tev_cl;
    size_t *tev_off, n_tev_groups;
    double *tev_lsum; /* (n_tev_groups) per-group sums of the evaluation in progress */
    long *tev_hits;
} sim_eval;

/* Draw the samples and allocate (nothing for what the scenario does not ask). Free with
 * sim_eval_free, also after a failure. */
fs_err sim_eval_init(sim_eval *v, const cfg *c, const dataset *ds, const partition *p,
                     const nn_model *m);

/* Evaluate params: row->test_loss/test_acc on the test set (eval_worker), the client sample
 * into v->cev and the training sample into row->global_train_loss/acc (workers, in
 * parallel); the confusion matrix into v->conf. */
void sim_eval_round(sim_eval *v, const float *params, nn_worker *eval_worker, nn_worker *workers,
                    int threads, int round, met_round_row *row);

void sim_eval_free(sim_eval *v);

#endif
