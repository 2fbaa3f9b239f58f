/* The table of robust aggregation rules selectable by aggregation.rule (docs/robustness.md). */
#include "fl/robust/robust.h"

#include <string.h>

extern const fl_robust_rule fl_rule_mean, fl_rule_median, fl_rule_trimmed_mean, fl_rule_krum,
    fl_rule_multi_krum, fl_rule_bulyan, fl_rule_geomed, fl_rule_cclip, fl_rule_normbound,
    fl_rule_fltrust;

static const fl_robust_rule *const all[] = {
    &fl_rule_mean,       &fl_rule_median,  &fl_rule_trimmed_mean, &fl_rule_krum,
    &fl_rule_multi_krum, &fl_rule_bulyan,  &fl_rule_geomed,       &fl_rule_cclip,
    &fl_rule_normbound,  &fl_rule_fltrust,
};

const fl_robust_rule *fl_robust_find(const char *name)
{
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        if (strcmp(all[i]->name, name) == 0) return all[i];
    return NULL;
}

const fl_robust_rule *const *fl_robust_all(int *n)
{
    *n = (int)(sizeof all / sizeof all[0]);
    return all;
}

int fl_robust_f(const fl_robust_rule *r, int f, int n)
{
    if (!r->max_f) return f < 0 ? 0 : f;
    const int mx = r->max_f(n);
    if (mx < 0) return 0;
    return f < 0 ? 0 : f > mx ? mx : f;
}
