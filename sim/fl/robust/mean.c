/* The weighted mean, FedAvg's aggregate (McMahan et al., AISTATS 2017): sum_k w_k u_k in arrival
 * order, in double, over sum_k w_k. No defence; the undefended baseline of docs/robustness.md. */
#include "fl/robust/robust.h"

#include <string.h>

static fs_err mean_aggregate(const fl_robust_in *in, fl_robust_out *out)
{
    memset(out->sum, 0, in->d * sizeof *out->sum);
    for (int k = 0; k < in->n; k++) {
        const double wk = in->w[k];
        const float *u = in->u + (size_t)k * in->d;
        for (size_t i = 0; i < in->d; i++) out->sum[i] += wk * (double)u[i];
        out->kept[k] = 1;
    }
    out->wsum = fl_robust_wsum(in->w, in->n);
    return FS_OK;
}

const fl_robust_rule fl_rule_mean = {
    .name = "mean",
    .cite = "McMahan et al., Communication-Efficient Learning of Deep Networks from "
            "Decentralized Data, AISTATS 2017",
    .aggregate = mean_aggregate,
};
