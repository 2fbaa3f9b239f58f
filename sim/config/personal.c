/* Checks of the personalization and fairness keys (see personal.h). */
#include "config/personal.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static fs_err fail(cfg_diag *d, const cfg *c, const char *file, const char *key, const char *hint,
                   const char *fmt, ...) __attribute__((format(printf, 6, 7)));
static fs_err fail(cfg_diag *d, const cfg *c, const char *file, const char *key, const char *hint,
                   const char *fmt, ...)
{
    cfg_diag_key(d, c, file, key);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(d->msg, sizeof d->msg, fmt, ap);
    va_end(ap);
    snprintf(d->hint, sizeof d->hint, "%s", hint);
    return FS_EINPUT;
}

int cfg_personal_finetune(const cfg *c)
{
    return c->eval.personalize_steps > 0 || c->eval.personalize_epochs > 0;
}

static int is(const cfg *c, const char *name)
{
    return strcmp(c->algorithm.name, name) == 0;
}

fs_err cfg_personal_validate(const cfg *c, const char *file, cfg_diag *d)
{
    const char *ft =
        c->eval.personalize_steps > 0 ? "eval.personalize_steps" : "eval.personalize_epochs";
    if (cfg_personal_finetune(c) && c->eval.clients == 0)
        return fail(d, c, file, ft,
                    "set eval.clients: the number of clients fine-tuned and evaluated at every "
                    "evaluation (a fixed sample)",
                    "%s is set but eval.clients = 0: no client is personalized", ft);
    if (cfg_personal_finetune(c) && c->partition.local_test_fraction == 0)
        return fail(d, c, file, ft,
                    "set partition.local_test_fraction (e.g. 0.2): a fine-tuned model is judged "
                    "on samples it did not train on",
                    "%s fine-tunes on each client's training samples, but the clients have no "
                    "local test split (partition.local_test_fraction = 0)",
                    ft);
    const int split = is(c, "fedper") || is(c, "fedrep");
    if (c->algorithm.personal_layers[0] && !split)
        return fail(d, c, file, "algorithm.personal_layers",
                    "personal layers belong to algorithm.name: fedper or fedrep",
                    "algorithm.personal_layers is set but algorithm.name = %s", c->algorithm.name);
    const int pers = split || is(c, "ditto") || is(c, "apfl");
    if (!pers && !is(c, "qffl") && !is(c, "perfedavg")) return FS_OK;
    const char *why = NULL;
    if (strcmp(c->protocol, "sync") != 0)
        why = "protocol: async (FedBuff steps on single stale updates)";
    else if (strcmp(c->privacy.mode, "none") != 0 || strcmp(c->privacy.secagg, "none") != 0)
        why = "privacy.mode or privacy.secagg (the clipping, noise and masking cover one update "
              "with sample weights)";
    else if (strcmp(c->adversary.attack, "none") != 0 || strcmp(c->aggregation.rule, "mean") != 0)
        why = "adversary.* or a robust aggregation.rule";
    else if (pers && strcmp(c->train.optimizer_state, "per_client") == 0)
        why = "train.optimizer_state: per_client (the personal training has its own buffer)";
    if (why)
        return fail(d, c, file, "algorithm.name",
                    "use fedavg or fedprox with those, or leave them at their defaults",
                    "algorithm.name = %s does not run with %s", c->algorithm.name, why);
    return FS_OK;
}
