/* What a partition looks like: client sizes, classes per client and how far each client's label
 * distribution is from the global one. Pure functions of (partition, labels); the caller owns
 * every buffer. For sequence data (y_len > 1) every target position counts as one label. */
#ifndef FEDSIM_STATS_H
#define FEDSIM_STATS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "data/dataset.h"
#include "data/partition.h"
#include "util/err.h"

typedef struct part_stats {
    uint32_t n_clients;
    uint32_t n_empty;    /* clients without training samples */
    size_t n_total;      /* training samples in the dataset */
    size_t n_placed;     /* samples the partition holds (train + local test) */
    size_t n_local_test; /* of them, held out in the clients' local test parts */
    /* distribution of client training sizes (local test parts excluded); quartiles by linear
     * interpolation between order statistics (numpy's default) */
    double size_min, size_q1, size_median, size_q3, size_max, size_mean, size_sd;
    double mean_classes; /* mean over clients with samples of the number of distinct labels */
    /* mean over clients with samples of EMD_c = sum_k |p_c(k) - p(k)|, p the label
     * distribution of the whole training split (Zhao et al. 2018, "Federated Learning with
     * Non-IID Data"; range 0..2; half of it is the total-variation distance) */
    double mean_emd;
    double max_emd;
} part_stats;

/* Compute st; y (n_total, y_len) are the training labels in [0, n_classes). matrix, if not
 * NULL, receives the (n_clients, n_classes) label counts of the clients' training parts. */
fs_err stats_partition(const partition *p, const int32_t *y, int y_len, int n_classes,
                       size_t n_total, part_stats *st, uint64_t *matrix);

/* Print st as one JSON object (no trailing newline); extra, if not NULL, is inserted verbatim
 * as the first members (e.g. "\"dataset\": \"kjv\", "). */
void stats_print_json(FILE *out, const part_stats *st, const char *extra);

/* Write the label x client matrix as CSV: header client,name,n_train,n_local_test,<one column
 * per class: class name, vocabulary symbol or index>, then one row per client. The name column
 * holds the dataset's client names when natural is set (natural partition), else is empty.
 * Fields are quoted as util/csv.h says. */
fs_err stats_write_matrix(const char *path, const dataset *ds, const partition *p,
                          const uint64_t *matrix, int natural);

#endif
