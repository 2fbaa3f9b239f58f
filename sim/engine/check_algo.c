/* What a scenario may not combine with its algorithm, decided by the algorithm's table entry
 * (fl/algorithm.h: two_uploads, sends_scalar, unit_weights, fresh_opt, plain_sync, layer_split,
 * personal_model), never by its name, so
 * a new algorithm gets these checks by declaring its properties. The messages are those
 * cfg_validate gave when it tested names (docs/privacy.md, docs/robustness.md). */
#include "engine/check_algo.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "fl/algorithm.h"

/* d at key path with msg and hint; recorded as the thread's error like cfg_validate's. */
static fs_err refuse(cfg_diag *d, const cfg *c, const char *file, const char *path,
                     const char *hint, const char *fmt, ...) __attribute__((format(printf, 6, 7)));
static fs_err refuse(cfg_diag *d, const cfg *c, const char *file, const char *path,
                     const char *hint, const char *fmt, ...)
{
    cfg_diag_key(d, c, file, path);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(d->msg, sizeof d->msg, fmt, ap);
    va_end(ap);
    snprintf(d->hint, sizeof d->hint, "%s", hint);
    if (d->line > 0) return fs_error(FS_EINPUT, "%s:%d:%d: %s", d->file, d->line, d->col, d->msg);
    return fs_error(FS_EINPUT, "%s: %s", d->file, d->msg);
}

fs_err sim_check_algorithm(const cfg *c, const char *file, cfg_diag *d)
{
    const fl_algorithm *a = fl_find(c->algorithm.name);
    if (!a) return FS_OK; /* algorithm.name's choices are the table's names */
    const char *name = a->name, *mode = c->privacy.mode;
    const bool dp = strcmp(mode, "none") != 0, sa = strcmp(c->privacy.secagg, "none") != 0;
    const bool second = a->two_uploads || a->sends_scalar;
    if (c->algorithm.personal_layers[0] && !a->layer_split)
        return refuse(d, c, file, "algorithm.personal_layers",
                      "personal layers belong to algorithm.name: fedper or fedrep",
                      "algorithm.personal_layers is set but algorithm.name = %s", name);
    if (a->plain_sync) { /* docs/personalization.md */
        const char *why = NULL;
        if (strcmp(c->protocol, "sync") != 0)
            why = "protocol: async (FedBuff steps on single stale updates)";
        else if (dp || sa)
            why = "privacy.mode or privacy.secagg (the clipping, noise and masking cover one "
                  "update with sample weights)";
        else if (cfg_robust_wanted(c))
            why = "adversary.* or a robust aggregation.rule";
        else if (a->personal_model && strcmp(c->train.optimizer_state, "per_client") == 0)
            why = "train.optimizer_state: per_client (the personal training has its own buffer)";
        if (why)
            return refuse(d, c, file, "algorithm.name",
                          "use fedavg or fedprox with those, or leave them at their defaults",
                          "algorithm.name = %s does not run with %s", name, why);
    }
    if (a->fresh_opt && strcmp(c->train.optimizer_state, "per_client") == 0)
        return refuse(d, c, file, "train.optimizer_state",
                      "FedNova's normalisation ||a_i||_1 assumes each local run starts with a "
                      "fresh momentum buffer: use train.optimizer_state: reset",
                      "train.optimizer_state = per_client does not support algorithm.name = %s",
                      name);
    if (dp && second)
        return refuse(d, c, file, "privacy.mode",
                      "its second upload (SCAFFOLD's control variate, FedNova's step count) would "
                      "need its own clipping and noise: use fedavg, fedprox, fedsgd, feddyn or a "
                      "FedOpt server",
                      "privacy.mode = %s does not support algorithm.name = %s", mode, name);
    if (a->unit_weights && strcmp(mode, "central") == 0 &&
        strcmp(c->privacy.weighting, "samples") == 0)
        return refuse(d, c, file, "privacy.weighting", "use privacy.weighting: uniform",
                      "privacy.weighting = samples does not apply to %s (its weights are 1)", name);
    if (sa && a->sends_scalar)
        return refuse(d, c, file, "privacy.secagg",
                      "FedNova's per-client step count has no bound to encode it with",
                      "privacy.secagg does not support algorithm.name = %s", name);
    if (cfg_robust_wanted(c) && second) {
        const char *key =
            strcmp(c->aggregation.rule, "mean") != 0 ? "aggregation.rule" : "adversary.attack";
        return refuse(d, c, file, key,
                      "its second upload (SCAFFOLD's control variate, FedNova's step count) has "
                      "no robust counterpart here: use fedavg, fedprox, fedsgd, feddyn or a FedOpt "
                      "server",
                      "%s does not support algorithm.name = %s", key, name);
    }
    return FS_OK;
}
