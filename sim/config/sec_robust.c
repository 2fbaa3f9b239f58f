/* Adversaries and robust aggregation: the adversary.* and aggregation.* keys
 * (docs/robustness.md), their checks against the rest, and the resolved f. The check that
 * depends on the algorithm's uploads is the engine's (engine/check_algo.c). */
#include "config/config_int.h"

#include <math.h>
#include <string.h>

const cfg_key cfg_keys_adversary[] = {
    K_ENUM("adversary.attack", adversary.attack, "none",
           "none|label_flip|sign_flip|gaussian|scaling|backdoor|alie|ipm|min_max|min_sum",
           "what malicious clients do (docs/robustness.md): poison their data (label_flip, "
           "backdoor), replace their update (sign_flip, gaussian, scaling), or craft it from the "
           "round's benign updates (alie, ipm, min_max, min_sum: omniscient)"),
    K_FLT("adversary.fraction", adversary.fraction, "0", 0, 1, CFG_OPEN_MAX,
          "fraction of the population that is malicious, chosen from the seed, fixed over the "
          "run"),
    K_INT("adversary.count", adversary.count, "0", 0, CFG_BIG,
          "number of malicious clients (instead of adversary.fraction when > 0)"),
    K_FLT("adversary.scale", adversary.scale, "0", 0, 1e9, 0,
          "sign_flip sends -scale u, scaling and backdoor scale u (model replacement); 0: 1, and "
          "rounds.clients_per_round for scaling (Bagdasaryan et al.'s gamma = n)"),
    K_FLT("adversary.sigma", adversary.sigma, "0.1", 0, 1e9, CFG_OPEN_MIN,
          "gaussian: standard deviation of every coordinate of the random update"),
    K_FLT("adversary.epsilon", adversary.epsilon, "0.5", 0, 1e9, CFG_OPEN_MIN,
          "ipm: the malicious update is -epsilon x the mean benign update"),
    K_FLT("adversary.z", adversary.z, "0", 0, 100, 0,
          "alie: mean - z x std of the benign updates; 0: z_max of Baruch et al. from the "
          "round's updates and malicious updates"),
    K_ENUM(
        "adversary.perturbation", adversary.perturbation, "unit", "unit|std|sign",
        "min_max, min_sum: direction p of mean + gamma p: -mean / norm(mean), -std or -sign(mean)"),
    K_INT("adversary.target", adversary.target, "0", 0, 1000000,
          "backdoor: the label triggered samples are given"),
    K_FLT("adversary.poison_fraction", adversary.poison_fraction, "0.3", 0, 1, CFG_OPEN_MIN,
          "backdoor: fraction of every training batch triggered and relabelled"),
    K_INT("adversary.trigger_size", adversary.trigger_size, "4", 1, 64,
          "backdoor: side of the checkerboard pixel pattern in the bottom-right corner"),
    K_FLT("adversary.norm_bound", adversary.norm_bound, "0", 0, 1e9, 0,
          "backdoor: keep the L2 norm of w - w_global <= this during local training "
          "(constrain-and-scale); "
          "0: off"),
    {0},
};

const cfg_key cfg_keys_aggregation[] = {
    K_ENUM("aggregation.rule", aggregation.rule, "mean",
           "mean|median|trimmed_mean|krum|multi_krum|bulyan|geomed|centered_clip|norm_bound|"
           "fltrust",
           "how the server combines the round's updates (docs/robustness.md); mean: the "
           "algorithm's weighted mean"),
    K_INT("aggregation.f", aggregation.f, "-1", -1, CFG_BIG,
          "malicious updates the rule tolerates (trimmed per side; Krum's f); -1: the expected "
          "malicious clients per round"),
    K_INT("aggregation.m", aggregation.m, "0", 0, CFG_BIG,
          "multi_krum: updates averaged; 0: n - f"),
    K_INT("aggregation.iters", aggregation.iters, "0", 0, 100000,
          "geomed: Weiszfeld iterations (0: up to 100); centered_clip: L (0: 1)"),
    K_FLT("aggregation.clip", aggregation.clip, "1", 0, 1e9, CFG_OPEN_MIN,
          "centered_clip: radius tau; norm_bound: largest update norm M"),
    K_FLT("aggregation.noise", aggregation.noise, "0", 0, 1e9, 0,
          "norm_bound: sigma of Gaussian noise added to the mean (weak DP)"),
    K_INT("aggregation.bucket", aggregation.bucket, "0", 0, CFG_BIG,
          "bucketing: average random buckets of this many updates before the rule (0, 1: off)"),
    K_INT("aggregation.root_samples", aggregation.root_samples, "100", 1, 1000000,
          "fltrust: the server's root dataset, drawn once from the training set"),
    K_FLT("aggregation.memory_mb", aggregation.memory_mb, "2048", 1, 1e7, 0,
          "cap on the round's updates kept for a robust rule or an attack (n x params x 4 B)"),
    {0},
};

int cfg_robust_wanted(const cfg *c)
{
    return strcmp(c->adversary.attack, "none") != 0 || strcmp(c->aggregation.rule, "mean") != 0;
}

int cfg_robust_f(const cfg *c)
{
    if (c->aggregation.f >= 0) return c->aggregation.f;
    if (strcmp(c->adversary.attack, "none") == 0) return 0;
    const double frac = c->adversary.count > 0 && c->partition.clients > 0
                            ? (double)c->adversary.count / c->partition.clients
                            : c->adversary.fraction;
    return (int)ceil(frac * c->rounds.clients_per_round - 1e-9);
}

/* adversary.attack against the dataset: poisoning needs labels, a backdoor images. */
static fs_err check_attack_data(const cfg *c, const char *file, cfg_diag *d)
{
    const char *atk = c->adversary.attack;
    if (strcmp(atk, "backdoor") != 0 && strcmp(atk, "label_flip") != 0) return FS_OK;
    const bool syn = strcmp(c->data.dataset, "synthetic") == 0;
    if (strcmp(c->data.dataset, "kjv") == 0 || (syn && strcmp(atk, "backdoor") == 0)) {
        diag_at_key(d, c, file, "adversary.attack");
        diag_msg(d, "adversary.attack = %s needs %s; data.dataset = %s is not", atk,
                 strcmp(atk, "backdoor") == 0 ? "images" : "a classification task",
                 c->data.dataset);
        diag_hint(d, "use data.dataset: fashion-mnist (or an image dataset file)");
        return diag_done(d);
    }
    const int classes = strcmp(c->data.dataset, "fashion-mnist") == 0 ? 10
                        : syn                                         ? c->data.synthetic_classes
                                                                      : 0;
    if (strcmp(atk, "backdoor") == 0 && classes > 0 && c->adversary.target >= classes) {
        diag_at_key(d, c, file, "adversary.target");
        diag_msg(d, "adversary.target = %d is not a class of %s (0 .. %d)", c->adversary.target,
                 c->data.dataset, classes - 1);
        diag_hint(d, "the backdoor's target label must be one of the dataset's classes");
        return diag_done(d);
    }
    return FS_OK;
}

fs_err cfg_check_robust(const cfg *c, const char *file, cfg_diag *d)
{
    if (!cfg_robust_wanted(c)) return FS_OK;
    const char *rule = c->aggregation.rule, *atk = c->adversary.attack;
    const bool attack = strcmp(atk, "none") != 0, robust = strcmp(rule, "mean") != 0;
    const char *key = robust ? "aggregation.rule" : "adversary.attack";
    if (strcmp(c->privacy.secagg, "none") != 0 || strcmp(c->privacy.mode, "none") != 0) {
        const bool sa = strcmp(c->privacy.secagg, "none") != 0;
        diag_at_key(d, c, file, key);
        diag_msg(d, "%s = %s cannot be combined with privacy.%s = %s", key, robust ? rule : atk,
                 sa ? "secagg" : "mode", sa ? c->privacy.secagg : c->privacy.mode);
        diag_hint(d, sa ? "secure aggregation hides the individual updates a robust rule or an "
                          "omniscient attack needs; use privacy.secagg: none"
                        : "DP noise is calibrated to the plain sum's sensitivity; use "
                          "privacy.mode: none (or norm_bound's weak DP, aggregation.noise)");
        return diag_done(d);
    }
    if (strcmp(c->protocol, "sync") != 0) {
        diag_at_key(d, c, file, key);
        diag_msg(d, "%s needs protocol: sync", key);
        diag_hint(d, "robust rules and attacks work on a round's updates; FedBuff's buffered steps "
                     "are not covered");
        return diag_done(d);
    }
    if (c->adversary.count > c->partition.clients) {
        diag_at_key(d, c, file, "adversary.count");
        diag_msg(d, "adversary.count = %d exceeds partition.clients = %d", c->adversary.count,
                 c->partition.clients);
        diag_hint(d, "malicious clients are chosen from the population");
        return diag_done(d);
    }
    if (attack && c->adversary.count == 0 && c->adversary.fraction == 0) {
        diag_at_key(d, c, file, "adversary.attack");
        diag_msg(d, "adversary.attack = %s but no client is malicious", atk);
        diag_hint(d, "set adversary.fraction (e.g. 0.2) or adversary.count");
        return diag_done(d);
    }
    fs_err e = check_attack_data(c, file, d);
    if (e) return e;
    const int f = cfg_robust_f(c), s = c->aggregation.bucket;
    const int n = s > 1 ? (c->rounds.clients_per_round + s - 1) / s : c->rounds.clients_per_round;
    const char *need = NULL;
    int ok = 1;
    if (strcmp(rule, "krum") == 0 || strcmp(rule, "multi_krum") == 0)
        ok = n > 2 * f + 2, need = "n > 2f + 2";
    else if (strcmp(rule, "bulyan") == 0)
        ok = n >= 4 * f + 3, need = "n >= 4f + 3";
    else if (strcmp(rule, "median") == 0 || strcmp(rule, "trimmed_mean") == 0 ||
             strcmp(rule, "geomed") == 0)
        ok = n > 2 * f, need = "n > 2f";
    if (!ok) {
        const bool given = c->aggregation.f >= 0;
        diag_at_key(d, c, file, given ? "aggregation.f" : "aggregation.rule");
        diag_msg(d,
                 "aggregation.rule = %s tolerates fewer malicious updates than f = %d%s: it needs "
                 "%s, and n = %d updates per round%s",
                 rule, f, given ? "" : " (the expected malicious clients per round)", need, n,
                 s > 1 ? " (buckets)" : "");
        diag_hint(d, "raise rounds.clients_per_round, lower adversary.fraction or aggregation.f, "
                     "or use a rule without that bound (centered_clip, norm_bound, fltrust)");
        return diag_done(d);
    }
    if (strcmp(rule, "multi_krum") == 0 && c->aggregation.m > n) {
        diag_at_key(d, c, file, "aggregation.m");
        diag_msg(d, "aggregation.m = %d exceeds the %d updates per round", c->aggregation.m, n);
        diag_hint(d, "Multi-Krum averages m of the round's updates");
        return diag_done(d);
    }
    return FS_OK;
}
