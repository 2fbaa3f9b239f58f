/* Cross-key checks of compression.* and selection.* (see efficiency.h). */
#include "config/efficiency.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static fs_err refuse(cfg_diag *d, const cfg *c, const char *file, const char *key, const char *msg,
                     const char *hint)
{
    cfg_diag_key(d, c, file, key);
    snprintf(d->msg, sizeof d->msg, "%s", msg);
    snprintf(d->hint, sizeof d->hint, "%s", hint);
    return FS_EINPUT;
}

int cfg_efficiency_at_default(const cfg *c, const cfg_key *k)
{
    if (strncmp(k->path, "compression.", 12) != 0 && strncmp(k->path, "selection.", 10) != 0 &&
        strcmp(k->path, "eval.target_accuracy") != 0)
        return 0;
    cfg *d = malloc(sizeof *d);
    if (!d) return 0; /* written out: harmless */
    cfg_defaults(d);
    const char *x = (const char *)c + k->offset, *y = (const char *)d + k->offset;
    int same = k->type == CFG_T_ENUM || k->type == CFG_T_STRING ? strcmp(x, y) == 0
               : k->type == CFG_T_FLOAT                         ? memcmp(x, y, sizeof(double)) == 0
               : k->type == CFG_T_INT                           ? memcmp(x, y, sizeof(int)) == 0
                                                                : 0;
    free(d);
    return same;
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
