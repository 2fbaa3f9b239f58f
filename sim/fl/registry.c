/* The table of algorithms selectable by algorithm.name. */
#include "fl/algorithm.h"

#include <string.h>

extern const fl_algorithm fl_fedavg, fl_fedsgd;

static const fl_algorithm *const all[] = {&fl_fedavg, &fl_fedsgd};

const fl_algorithm *fl_find(const char *name)
{
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        if (strcmp(all[i]->name, name) == 0) return all[i];
    return NULL;
}
