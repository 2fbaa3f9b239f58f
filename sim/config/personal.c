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
    return FS_OK;
}
