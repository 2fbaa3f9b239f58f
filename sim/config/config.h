/* Scenario configuration: the resolved struct every other module reads, and the key table that
 * describes every scenario key (path, type, default, allowed range, documentation). The table
 * drives parsing, validation, `--set`, the JSON of resolved parameters stored with each run and
 * the generated reference docs/scenario.md, so the four never disagree. */
#ifndef FEDSIM_CONFIG_H
#define FEDSIM_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "util/err.h"

#define CFG_STR      256
#define CFG_LIST_MAX 16
#define CFG_KEYS_MAX 128 /* capacity of cfg.origin; cfg_keys has fewer entries */

/* A lognormal distribution given by its median and the sigma of log(x). */
typedef struct cfg_lognormal {
    double median;
    double sigma;
} cfg_lognormal;

typedef struct cfg_int_list {
    int n;
    int v[CFG_LIST_MAX];
} cfg_int_list;

/* Where a key got its value. line 0: the default; set_index > 0: from override (--set) number
 * set_index, col is then the column within that argument. */
typedef struct cfg_origin {
    int line, col;
    int set_index;
} cfg_origin;

typedef struct cfg {
    char name[CFG_STR];
    uint64_t seed;
    int threads; /* 0: all cores */

    struct {
        char dataset[32]; /* fashion-mnist | synthetic | file */
        char path[CFG_STR];
        int synthetic_clients; /* synthetic(alpha, beta): natural clients */
        double synthetic_alpha, synthetic_beta;
        int synthetic_dim, synthetic_classes;
        double synthetic_size_mean, synthetic_size_sigma; /* lognormal client sizes */
        double synthetic_test_fraction;
    } data;

    struct {
        char kind[32]; /* iid | dirichlet | quantity | natural */
        int clients;
        double alpha;
        int min_size;
        char quantity_dist[32];   /* powerlaw | lognormal */
        double quantity_sigma;    /* lognormal sigma */
        double quantity_exponent; /* power-law (Pareto) shape */
    } partition;

    struct {
        char name[32]; /* logreg | mlp */
        cfg_int_list hidden;
    } model;

    struct {
        int epochs; /* local epochs (used when steps == 0) */
        int steps;  /* local minibatch steps; 0: use epochs */
        int batch_size;
        double lr;
        double momentum;
        double weight_decay;
    } train;

    struct {
        char name[32]; /* fedavg | fedsgd */
        double server_lr;
    } algorithm;

    struct {
        int count;
        int clients_per_round;
        double overcommit;
        double deadline_s; /* 0: no deadline */
    } rounds;

    struct {
        cfg_lognormal flops; /* FLOP/s spent on training */
    } devices;

    struct {
        cfg_lognormal down_bps; /* bits per second */
        cfg_lognormal up_bps;
        cfg_lognormal latency_s;
    } network;

    struct {
        char mode[32]; /* always | bernoulli */
        double p;
    } availability;

    struct {
        double p; /* per-round probability that a selected client drops out */
    } dropout;

    struct {
        int every;        /* evaluate on the central test set every N rounds (and the last) */
        int test_samples; /* 0: the whole test set */
    } eval;

    struct {
        char db[CFG_STR]; /* "" : results/<name>.db */
    } output;

    cfg_origin origin[CFG_KEYS_MAX]; /* by index into cfg_keys; for messages only */
} cfg;

typedef enum cfg_type {
    CFG_T_INT,     /* int */
    CFG_T_U64,     /* uint64_t */
    CFG_T_FLOAT,   /* double */
    CFG_T_STRING,  /* char[size] */
    CFG_T_ENUM,    /* char[size], one of choices */
    CFG_T_INTLIST, /* cfg_int_list */
} cfg_type;

typedef struct cfg_key {
    const char *path; /* dotted path, e.g. "train.lr" */
    cfg_type type;
    size_t offset;       /* offsetof(cfg, ...) */
    size_t size;         /* buffer size for strings */
    const char *def;     /* default, as YAML text */
    double min, max;     /* allowed range (numbers, list elements; string length for strings) */
    const char *choices; /* enum: "a|b|c" */
    const char *doc;     /* one line of documentation */
    unsigned open;       /* CFG_OPEN_MIN / CFG_OPEN_MAX: that bound is excluded */
} cfg_key;

#define CFG_OPEN_MIN 1u
#define CFG_OPEN_MAX 2u

/* The key table, terminated by a {NULL} entry. */
extern const cfg_key cfg_keys[];

/* Where a problem was found, for messages of the form file:line:col. */
typedef struct cfg_diag {
    char file[CFG_STR];
    int line, col;
    char msg[512];
    char hint[512];
} cfg_diag;

/* Fill c with every default. */
void cfg_defaults(cfg *c);

/* Parse a scenario file into c (defaults first), applying overrides ("key.path=value", n of them)
 * afterwards, then cfg_derive(c, path). On error returns FS_EINPUT and fills d. text_out
 * (optional) receives a malloc'd copy of the file text. Does not run cfg_validate. */
fs_err cfg_load(const char *path, const char *const *overrides, int n_overrides, cfg *c,
                cfg_diag *d, char **text_out);

/* Parse YAML text (name used in messages) into c, starting from the defaults. A top-level key
 * `sweep` is skipped (the sweep expander reads it). Empty text gives the defaults. */
fs_err cfg_parse_text(const char *text, size_t len, const char *name, cfg *c, cfg_diag *d);

/* Apply one override "key.path=value"; index is used in the message ("--set #index"). */
fs_err cfg_apply_override(const char *kv, int index, cfg *c, cfg_diag *d);

/* Index of a key path in cfg_keys, -1 if there is none. */
int cfg_key_index(const char *path);

/* Values that follow from others, for keys the scenario did not set: name from the basename of
 * path without .yaml/.yml; with data.dataset = synthetic, partition.kind = natural and
 * partition.clients = data.synthetic_clients; rounds.clients_per_round at most
 * partition.clients. */
void cfg_derive(cfg *c, const char *path);

/* Cross-key checks (e.g. clients_per_round <= clients); fills d with the key's path. */
fs_err cfg_validate(const cfg *c, const char *file, cfg_diag *d);

/* Print "file:line:col: error: msg\n  hint: ..." */
void cfg_diag_print(const cfg_diag *d, FILE *out);

/* Resolved parameters as one JSON object (malloc'd). */
char *cfg_to_json(const cfg *c);

/* The key reference as Markdown (docs/scenario.md). */
void cfg_print_markdown(FILE *out);

#endif
