/* Personalization and fairness metrics (docs/personalization.md, docs/metrics.md), beside
 * store.h's: columns of `rounds` with the fairness summaries of each evaluation over the
 * eval.clients sample (client_acc_* for the global model, pers_acc_* for the personalized
 * models) and columns of `client_eval` with each client's personalized model (pers_loss,
 * pers_acc). The columns are added to the tables when a run first writes them; rows written in
 * the transaction of the rows they extend (UPDATE of rows already inserted). */
#ifndef FEDSIM_STORE_PERS_H
#define FEDSIM_STORE_PERS_H

#include "store/store.h"

/* The five summaries of a set of client accuracies (NaN: none). */
typedef struct met_fairness {
    double mean, worst10, best10, std, jain;
} met_fairness;

/* Add the columns if missing (idempotent). */
fs_err met_pers_columns(met_store *s);
/* The summaries of `rounds` row `round` (already inserted); pers NULL: the pers_acc_* stay NULL. */
fs_err met_pers_round(met_store *s, int round, const met_fairness *global,
                      const met_fairness *pers);
/* The personalized model's loss and accuracy of `client_eval` row (round, client). */
fs_err met_pers_client(met_store *s, int round, uint32_t client, double loss, double acc);

#endif
