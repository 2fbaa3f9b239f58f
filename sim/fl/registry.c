/* The table of algorithms selectable by algorithm.name (docs/algorithms.md describes each). */
#include "fl/algorithm.h"

#include <string.h>

extern const fl_algorithm fl_fedavg, fl_fedsgd, fl_fedprox, fl_feddyn, fl_scaffold, fl_fednova,
    fl_fedavgm, fl_fedadam, fl_fedyogi, fl_fedadagrad, fl_qffl, fl_ditto, fl_fedper, fl_fedrep,
    fl_apfl, fl_perfedavg;

static const fl_algorithm *const all[] = {
    &fl_fedavg,  &fl_fedsgd,  &fl_fedprox, &fl_feddyn,     &fl_scaffold, &fl_fednova,
    &fl_fedavgm, &fl_fedadam, &fl_fedyogi, &fl_fedadagrad, &fl_qffl,     &fl_ditto,
    &fl_fedper,  &fl_fedrep,  &fl_apfl,    &fl_perfedavg,
};

const fl_algorithm *fl_find(const char *name)
{
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        if (strcmp(all[i]->name, name) == 0) return all[i];
    return NULL;
}

const fl_algorithm *const *fl_all(int *n)
{
    *n = (int)(sizeof all / sizeof all[0]);
    return all;
}
