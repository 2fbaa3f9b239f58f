/* Importers: turn outside data into a fedsim dataset (see dataset.h). Each checks its input
 * and fails with FS_EDATA naming the file and the problem. */
#ifndef FEDSIM_IMPORTERS_H
#define FEDSIM_IMPORTERS_H

#include "data/dataset.h"

#define FMNIST_DEFAULT_DIR "/usr/share/datasets/fashion-mnist"

/* Fashion-MNIST from the four IDX .gz files in dir (Debian's dataset-fashion-mnist). */
fs_err imp_fashion_mnist(const char *dir, dataset *ds);

/* Fill provenance date with today's date (UTC). */
void imp_set_date(dataset *ds);

#endif
