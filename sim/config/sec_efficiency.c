/* Communication efficiency and client selection: the compression.* and selection.* keys
 * (docs/efficiency.md) and their checks against the rest of the scenario: the combinations
 * fedsim refuses because they cannot compose (secure aggregation sums dense masked vectors;
 * local DP noise makes a compressed update dense again; the DP accountant assumes uniform
 * sampling) or are not implemented (asynchronous FedBuff). */
#include "config/config_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const cfg_key cfg_keys_compression[] = {
    K_ENUM("compression.kind", compression.kind, "none", "none|topk|randk|qsgd|sign|powersgd",
           "update compression, applied to the update the server aggregates, the exact encoded "
           "size charged to the upload: top-k or random-k sparsification (Stich et al. 2018), "
           "stochastic b-bit quantization (QSGD, Alistarh et al. 2017), signSGD with majority "
           "vote (Bernstein et al. 2018), PowerSGD low rank (Vogels et al. 2019); "
           "docs/efficiency.md"),
    K_FLT("compression.k", compression.k, "0.01", 0, 1, CFG_OPEN_MIN,
          "topk / randk: fraction of the update's coordinates sent, in (0, 1]"),
    K_INT("compression.bits", compression.bits, "4", 1, 16,
          "qsgd: bits per coordinate (2^bits levels spread over plus and minus the largest "
          "magnitude)"),
    K_INT("compression.rank", compression.rank, "4", 1, 64, "powersgd: rank of the factors"),
    K_ENUM("compression.error_feedback", compression.error_feedback, "false", "false|true",
           "keep what compression dropped per client and add it to its next update "
           "(Karimireddy et al. 2019); the residuals live in a client-state store"),
    {0},
};

const cfg_key cfg_keys_selection[] = {
    K_ENUM("selection.mode", selection.mode, "uniform", "uniform|oort|power_of_choice",
           "which available clients a synchronous round selects: uniformly, by Oort's "
           "statistical x system utility (Lai et al., OSDI 2021) or by power of choice over past "
           "losses (Cho et al. 2022); only what clients reported before (docs/efficiency.md)"),
    K_FLT("selection.oort_explore", selection.oort_explore, "0.9", 0, 1, 0,
          "oort: initial fraction of the selection spent on clients never heard from"),
    K_FLT("selection.oort_explore_decay", selection.oort_explore_decay, "0.98", 0, 1, 0,
          "oort: exploration fraction multiplied by this every round"),
    K_FLT("selection.oort_explore_min", selection.oort_explore_min, "0.3", 0, 1, 0,
          "oort: floor of the exploration fraction"),
    K_FLT("selection.oort_alpha", selection.oort_alpha, "2", 0, 100, 0,
          "oort: straggler penalty, utility x (T / t_i)^alpha when a client's duration t_i > T"),
    K_FLT("selection.oort_cutoff", selection.oort_cutoff, "0.95", 0, 1, CFG_OPEN_MIN,
          "oort: exploit by utility-weighted sampling among clients with utility >= cutoff x "
          "that of the K-th best"),
    K_FLT("selection.oort_round_threshold", selection.oort_round_threshold, "30", 0, 100, 0,
          "oort: preferred round duration T = this percentile of the reported durations"),
    K_INT("selection.oort_pacer_step", selection.oort_pacer_step, "20", 1, CFG_BIG,
          "oort pacer: every this many rounds, if the exploited utility fell, raise T"),
    K_FLT("selection.oort_pacer_delta", selection.oort_pacer_delta, "5", 0, 100, 0,
          "oort pacer: percentile points added to oort_round_threshold when it raises T"),
    K_INT("selection.poc_d", selection.poc_d, "0", 0, CFG_BIG,
          "power_of_choice: candidates drawn by data size before keeping the highest losses; "
          "0: twice the clients selected"),
    {0},
};

static fs_err refuse(cfg_diag *d, const cfg *c, const char *file, const char *key, const char *msg,
                     const char *hint)
{
    cfg_diag_key(d, c, file, key);
    snprintf(d->msg, sizeof d->msg, "%s", msg);
    snprintf(d->hint, sizeof d->hint, "%s", hint);
    return FS_EINPUT;
}

static int set_by_user(const cfg *c, const char *key)
{
    const cfg_origin *o = &c->origin[cfg_key_index(key)];
    return o->line > 0 || o->set_index > 0;
}

fs_err cfg_efficiency_validate(const cfg *c, const char *file, cfg_diag *d)
{
    const int cmp = strcmp(c->compression.kind, "none") != 0;
    const int sign = strcmp(c->compression.kind, "sign") == 0;
    const int async = strcmp(c->protocol, "async") == 0;
    const int dp = strcmp(c->privacy.mode, "none") != 0;
    char msg[256];
    if (!cmp && strcmp(c->compression.error_feedback, "true") == 0)
        return refuse(d, c, file, "compression.error_feedback",
                      "compression.error_feedback = true without compression",
                      "set compression.kind (topk, randk, qsgd, sign, powersgd)");
    if (cmp && async)
        return refuse(d, c, file, "compression.kind", "compression.kind needs protocol: sync",
                      "asynchronous FedBuff does not compress updates yet; use protocol: sync");
    if (cmp && strcmp(c->privacy.secagg, "none") != 0) {
        snprintf(msg, sizeof msg,
                 "compression.kind = %s cannot be combined with privacy.secagg = %s",
                 c->compression.kind, c->privacy.secagg);
        return refuse(d, c, file, "compression.kind", msg,
                      "secure aggregation masks and sums dense vectors in a finite ring: each "
                      "client's own sparsity pattern, scale or factors would be lost "
                      "(docs/efficiency.md); drop one of the two");
    }
    if (cmp && strcmp(c->privacy.mode, "local") == 0)
        return refuse(d, c, file, "compression.kind",
                      "compression.kind cannot be combined with privacy.mode = local",
                      "local DP noise is added to the uploaded vector and makes it dense again; "
                      "use privacy.mode: central (the server clips and noises the decoded "
                      "updates)");
    if (sign && dp)
        return refuse(d, c, file, "compression.kind",
                      "compression.kind = sign cannot be combined with privacy.mode",
                      "the majority vote replaces the clipped mean the DP accountant is for; use "
                      "topk, randk, qsgd or powersgd with privacy.mode: central");
    if (sign && cfg_robust_wanted(c))
        return refuse(d, c, file, "compression.kind",
                      "compression.kind = sign cannot be combined with adversary.* or "
                      "aggregation.rule",
                      "the majority vote is the aggregation rule: use aggregation.rule: mean and "
                      "no attack (Bernstein et al. 2019 study its robustness)");
    if (cmp && (c->network.upload_compression != 1 || set_by_user(c, "network.upload_compression")))
        return refuse(d, c, file, "network.upload_compression",
                      "network.upload_compression and compression.kind both set the upload size",
                      "remove network.upload_compression: compression.kind charges the exact "
                      "encoded size");
    const char *mode = c->selection.mode;
    if (strcmp(mode, "uniform") != 0) {
        if (async) {
            snprintf(msg, sizeof msg, "selection.mode = %s needs protocol: sync", mode);
            return refuse(d, c, file, "selection.mode", msg,
                          "FedBuff refills a slot the instant one frees up, with no round to rank "
                          "clients for; use selection.mode: uniform with protocol: async");
        }
        if (dp) {
            snprintf(msg, sizeof msg, "selection.mode = %s cannot be combined with privacy.mode",
                     mode);
            return refuse(d, c, file, "selection.mode", msg,
                          "the DP accountant assumes clients are sampled uniformly (or by "
                          "Poisson sampling), independently of their data; selection by loss "
                          "is not");
        }
    }
    return FS_OK;
}
