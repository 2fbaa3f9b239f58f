/* Gathering from a lazily generated training split (see ds_lazy in dataset.h). */
#ifndef FEDSIM_LAZY_H
#define FEDSIM_LAZY_H

#include "data/dataset.h"

/* Rows idx[0..b) of the lazy train split; rows of one client are generated once per thread and
 * served from a thread-local cache while that client is being trained. */
void ds_lazy_gather(const dataset *ds, const uint32_t *idx, size_t b, float *x_out, int32_t *y_out);

#endif
