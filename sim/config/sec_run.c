/* The run's own keys: name, seed, threads (general), eval.*, checkpoint.* and output.*, and the
 * checks of the names and paths a run writes to (docs/scenario.md). */
#include "config/config_int.h"

#include <ctype.h>
#include <string.h>

const cfg_key cfg_keys_general[] = {
    K_STR("name", name, "\"\"",
          "run name: letters, digits, _ - . (at most 63); results go to results/<name>.db "
          "(default: the scenario file's basename, other characters as _)"),
    {"seed", CFG_T_U64, offsetof(cfg, seed), sizeof(uint64_t), "1", 0, 18446744073709551615.0, NULL,
     "master seed of every random stream (same scenario and seed: identical results)", 0},
    K_INT("threads", threads, "0", 0, 4096, "training threads; 0: all cores"),
    {0},
};

const cfg_key cfg_keys_eval[] = {
    K_INT("eval.every", eval.every, "5", 1, CFG_BIG,
          "evaluate the global model on the test set every N rounds (and after the last); "
          "vertical: a rounds row every N minibatch steps when set, else one per epoch"),
    K_INT("eval.test_samples", eval.test_samples, "0", 0, 1000000000,
          "test samples per evaluation (the first N); 0: the whole test set"),
    K_INT("eval.clients", eval.clients, "0", 0, 10000000,
          "also evaluate the global model on this many clients' own data at every evaluation "
          "(their local test split if partition.local_test_fraction > 0, else their training "
          "samples): the client_eval table, for per-client accuracy distributions"),
    K_INT("eval.train_samples", eval.train_samples, "0", 0, 1000000000,
          "also evaluate the global model on N of the clients' pooled training samples (a "
          "uniform sample drawn once; all of them if N is larger) at every evaluation: the "
          "federated training objective, rounds.global_train_loss and global_train_acc; 0: off"),
    K_ENUM("eval.confusion", eval.confusion, "true", "true|false",
           "record the test set's confusion matrix at every evaluation (the confusion table, "
           "nonzero cells; per-class accuracy in the class_acc view; docs/metrics.md)"),
    K_FLT("eval.target_accuracy", eval.target_accuracy, "0", 0, 1, 0,
          "time-to-accuracy: the virtual time, rounds and bytes until the first evaluation whose "
          "test accuracy reaches this fraction, in the run summary and `fedsim info` (0: off; "
          "docs/efficiency.md)"),
    K_INT("eval.personalize_steps", eval.personalize_steps, "0", 0, CFG_BIG,
          "personalized evaluation: fine-tune the model of each eval.clients client this many "
          "local minibatch steps on its training samples, then evaluate it on its local test "
          "split (client_eval.pers_acc; docs/personalization.md); 0: off"),
    K_INT("eval.personalize_epochs", eval.personalize_epochs, "0", 0, 10000,
          "personalized evaluation: fine-tune for this many local epochs instead (when "
          "personalize_steps is 0)"),
    K_FLT("eval.personalize_lr", eval.personalize_lr, "0", 0, 100, 0,
          "learning rate of the fine-tuning; 0: train.lr"),
    {0},
};

const cfg_key cfg_keys_checkpoint[] = {
    K_INT("checkpoint.every", checkpoint.every, "0", 0, CFG_BIG,
          "also write the global model every N rounds (<name>-round-N.h5); 0: only the final "
          "one (<name>-final.h5)"),
    K_STR("checkpoint.dir", checkpoint.dir, "\"\"",
          "checkpoint directory (created when missing); empty: next to the database, "
          "<db name>-ckpt/; no '..' components"),
    {0},
};

const cfg_key cfg_keys_output[] = {
    K_STR("output.db", output.db, "\"\"",
          "SQLite results file; empty: results/<name>.db; no '..' components or control "
          "characters"),
    K_ENUM("output.client_events", output.client_events, "false", "false|true",
           "write the client_events table: one row per client phase (docs/metrics.md)"),
    {0},
};

/* A run name: letters, digits, '_', '-', '.', 1 to 63 of them (as sweep.name), so that
 * results/<name>.db and the checkpoint names built from it stay inside their directory. */
static bool name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 63) return false;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '_' && *s != '-' && *s != '.') return false;
    return true;
}

/* Why an explicit output path is refused, or NULL: control characters (they garble messages and
 * logs) and '..' components (a scenario file may name any directory, but not climb out of one
 * it was given relative to). Absolute paths are the user's explicit choice and are allowed. */
static const char *path_unsafe(const char *s)
{
    for (const char *p = s; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7F) return "contains a control character";
    for (const char *p = s; *p;) {
        size_t n = strcspn(p, "/");
        if (n == 2 && p[0] == '.' && p[1] == '.') return "has a '..' component";
        p += n;
        while (*p == '/') p++;
    }
    return NULL;
}

fs_err cfg_check_general(const cfg *c, const char *file, cfg_diag *d)
{
    if (c->name[0] == '\0') {
        diag_at_key(d, c, file, "name");
        diag_msg(d, "name is empty");
        diag_hint(d, "add 'name: my_study' to the scenario (it names results/<name>.db)");
        return diag_done(d);
    }
    if (!name_ok(c->name)) {
        diag_at_key(d, c, file, "name");
        diag_msg(d, "name '%s' is not a valid name", c->name);
        diag_hint(d, "letters, digits, '_', '-' and '.', at most 63: it names results/<name>.db "
                     "and the checkpoints, which must stay inside results/");
        return diag_done(d);
    }
    static const char *const paths[] = {"output.db", "checkpoint.dir", "algorithm.state_dir"};
    for (size_t i = 0; i < sizeof paths / sizeof *paths; i++) {
        const cfg_key *k = cfg_key_at(cfg_key_index(paths[i]));
        const char *why = path_unsafe((const char *)c + k->offset);
        if (why) {
            diag_at_key(d, c, file, paths[i]);
            diag_msg(d, "%s %s", paths[i], why);
            diag_hint(d, "an explicit output path may be absolute or relative, but without "
                         "control characters or '..' components (docs/scenario.md)");
            return diag_done(d);
        }
    }
    return FS_OK;
}
