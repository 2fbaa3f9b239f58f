/* Attacks of malicious clients (adversary.attack; docs/robustness.md). Two kinds:
 *   data attacks poison the batches a malicious client trains on (label flipping, backdoor),
 *     through the per-client hook of local training (fl_round_ctx.poison);
 *   update attacks replace what a malicious client uploads after training: from its own update
 *     (sign flipping, scaling, Gaussian noise) or, for the omniscient attacks (ALIE, IPM,
 *     min-max, min-sum), from the round's benign updates, which they are assumed to see; all
 *     malicious clients of a round then send the same vector.
 * Every function is a pure function of its inputs (Gaussian updates draw from the stream the
 * caller keys by (seed, RNG_ATTACK, client, round)). */
#ifndef FEDSIM_ATTACK_H
#define FEDSIM_ATTACK_H

#include <stddef.h>
#include <stdint.h>

#include "data/dataset.h"
#include "util/err.h"
#include "util/rng.h"

typedef enum atk_kind {
    ATK_NONE = 0,
    ATK_LABEL_FLIP, /* y -> C - 1 - y (data) */
    ATK_SIGN_FLIP,  /* u -> -scale u */
    ATK_GAUSSIAN,   /* u ~ N(0, sigma^2 I) */
    ATK_SCALING,    /* u -> scale u */
    ATK_BACKDOOR,   /* trigger + target label on a fraction of each batch (data), u -> scale u */
    ATK_ALIE,       /* mu - z sigma (Baruch et al. 2019) */
    ATK_IPM,        /* -epsilon mu (Xie et al. 2020) */
    ATK_MINMAX,     /* mu + gamma p, max distance bounded (Shejwalkar and Houmansadr 2021) */
    ATK_MINSUM,     /* mu + gamma p, sum of squared distances bounded (idem) */
} atk_kind;

enum { ATK_PERTURB_STD = 0, ATK_PERTURB_UNIT, ATK_PERTURB_SIGN };

typedef struct atk_params {
    atk_kind kind;
    double scale;       /* sign flip, scaling, backdoor (model replacement: > 1) */
    double sigma;       /* Gaussian */
    double epsilon;     /* IPM */
    double z;           /* ALIE: 0 = z_max of the paper from n and f */
    int perturbation;   /* min-max / min-sum: ATK_PERTURB_* */
    int target;         /* backdoor: target label */
    double poison_frac; /* backdoor: fraction of each batch triggered and relabelled */
    int trigger;        /* backdoor: side of the square pixel pattern */
    int n_classes;      /* label flip */
    double norm_bound;  /* backdoor: constrain: ||w - w_global|| <= this after every step; 0 off */
} atk_params;

/* ATK_* of a name; -1 if unknown. */
int atk_parse(const char *name);
const char *atk_name(atk_kind k);
/* 1 for attacks on the training data (label flip, backdoor). */
int atk_on_data(atk_kind k);
/* 1 for the omniscient update attacks (need the round's benign updates). */
int atk_omniscient(atk_kind k);

/* Poison a gathered batch x (b, feat) / y (b, y_len) of a malicious client in place: label
 * flipping relabels every sample; the backdoor stamps the trigger on the first
 * round(poison_frac b) samples (the batch is already shuffled) and relabels them. */
void atk_poison_batch(const atk_params *a, const dataset *ds, float *x, int32_t *y, size_t b);
/* Stamp the backdoor trigger on x (b, feat): a checkerboard of `trigger` x `trigger` pixels in
 * the bottom-right corner of every channel, at the largest input value (1 for images) and 0. */
void atk_stamp(const atk_params *a, const dataset *ds, float *x, size_t b);
/* Project params onto the ball ||params - global|| <= a->norm_bound (no-op when 0). */
void atk_project(const atk_params *a, const float *global, float *params, size_t n);

/* A malicious client's own update u (d) after training, in place: sign flip, scaling,
 * backdoor scaling, Gaussian (from r). No-op for the other kinds. */
void atk_own(const atk_params *a, float *u, size_t d, rng_t *r);

/* ALIE's z_max (Baruch et al. 2019, Sec. 3): s = floor(n / 2 + 1) - f, z = Phi^-1((n - s) / n). */
double atk_alie_z(int n, int f);

/* The vector every malicious client sends under an omniscient attack, from the benign updates:
 * the rows k of u (rows, d) with use[k] != 0 (use NULL: every row; at least one). n and f are the
 * round's updates and malicious updates (ALIE's z). out (d). FS_ENOMEM only. */
fs_err atk_craft(const atk_params *a, const float *u, int rows, const uint8_t *use, size_t d, int n,
                 int f, float *out);
/* Bytes atk_craft allocates at most for attack kind k on d coordinates (0: not omniscient). */
double atk_craft_bytes(atk_kind k, size_t d);

#endif
