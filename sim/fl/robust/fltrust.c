/* FLTrust (Cao, Fang, Liu and Gong, "FLTrust: Byzantine-robust Federated Learning via Trust
 * Bootstrapping", NDSS 2021, Algorithm 1): the server trains on its own small root dataset
 * (in->ref = g0, computed by the engine with the clients' local training); each update gets the
 * trust score TS_k = ReLU(cos(u_k, g0)) and is rescaled to ||g0||; the aggregate is
 * sum_k TS_k ||g0|| / ||u_k|| u_k / sum_k TS_k (0 when every score is 0). Unweighted by n_k, as in
 * the paper. kept: TS_k. */
#include "fl/robust/robust.h"

#include <math.h>
#include <string.h>

static fs_err fltrust_aggregate(const fl_robust_in *in, fl_robust_out *out)
{
    const size_t d = in->d;
    const float *g0 = in->ref;
    double n0 = 0;
    for (size_t i = 0; i < d; i++) n0 += (double)g0[i] * (double)g0[i];
    n0 = sqrt(n0);
    memset(out->sum, 0, d * sizeof *out->sum);
    double ts_sum = 0;
    for (int k = 0; k < in->n; k++) {
        const float *u = in->u + (size_t)k * d;
        double dot = 0, nu = 0;
        for (size_t i = 0; i < d; i++) {
            dot += (double)u[i] * (double)g0[i];
            nu += (double)u[i] * (double)u[i];
        }
        nu = sqrt(nu);
        const double cs = nu > 0 && n0 > 0 ? dot / (nu * n0) : 0, ts = cs > 0 ? cs : 0;
        out->kept[k] = ts;
        ts_sum += ts;
        if (ts == 0) continue;
        const double a = ts * n0 / nu;
        for (size_t i = 0; i < d; i++) out->sum[i] += a * (double)u[i];
    }
    const double W = fl_robust_wsum(in->w, in->n);
    for (size_t i = 0; i < d; i++) out->sum[i] = ts_sum > 0 ? out->sum[i] / ts_sum * W : 0;
    out->wsum = W;
    return FS_OK;
}

const fl_robust_rule fl_rule_fltrust = {
    .name = "fltrust",
    .cite = "Cao et al., FLTrust: Byzantine-robust Federated Learning via Trust Bootstrapping, "
            "NDSS 2021",
    .needs_ref = 1,
    .aggregate = fltrust_aggregate,
};
