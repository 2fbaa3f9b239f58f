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
#define CFG_KEYS_MAX 256 /* capacity of cfg.origin; cfg_keys has fewer entries */

/* One entry of model.layers (a custom model, layer by layer). Fields a type does not use are
 * 0; nn/zoo.c turns entries into layer specs. */
#define CFG_LAYERS_MAX 32
#define CFG_LAYER_NAME 32
typedef struct cfg_layer {
    char type[16]; /* dense | conv2d | maxpool | avgpool | relu | tanh | sigmoid | flatten |
                    * dropout | embedding | lstm */
    char name[CFG_LAYER_NAME];                   /* "" : generated (dense1, conv2d2, ...) */
    int units, filters, kernel, stride, padding; /* padding -1: "same" */
    double rate;                                 /* dropout */
    int line, col;                               /* where the entry was given */
    int set_index;                               /* > 0: in --set number set_index */
} cfg_layer;

/* One entry of vertical.parties (vertical federated learning, docs/vertical.md): a party with
 * its feature group, role, device, link and sample-ID coverage. Parsed and checked by
 * config/vertical.c. Numbers left at 0 where 0 is not allowed mean "the scenario's default". */
#define CFG_PARTIES_MAX 8
#define CFG_PARTY_NAME  32
typedef struct cfg_party {
    char name[CFG_PARTY_NAME];
    char role[16];           /* active (owns the labels) | passive | coordinator */
    char columns[CFG_STR];   /* feature ranges "0-9,12" over the flat feature vector; "" : none */
    char rows[64], cols[64]; /* image block: pixel rows and columns (all channels); "" : none */
    double flops;            /* FLOP/s; 0: devices.flops.median */
    double up_bps, down_bps; /* link; 0: network.up_bps.median, network.down_bps.median */
    double latency_s;   /* one-way latency of the party's link; < 0: network.latency_s.median */
    double coverage;    /* fraction of the dataset's samples the party holds */
    int unique_ids;     /* sample IDs only this party has */
    double dropout;     /* per-step probability that the party drops out */
    double rejoin_s;    /* how long a dropped party takes to come back */
    double straggler_p; /* per-step probability that the party computes slowly */
    double straggler_factor;  /* its compute time is then multiplied by this */
    int line, col, set_index; /* where the entry was given */
    int fline[8], fcol[8];    /* where each field was given (cfg_party_field), line 0: not */
} cfg_party;

/* Fields of a party whose position cfg_party keeps (indices into fline/fcol). */
enum { CFG_PF_NAME = 0, CFG_PF_ROLE, CFG_PF_COLUMNS, CFG_PF_ROWS, CFG_PF_COLS };

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
        char dataset[32]; /* fashion-mnist | kjv | synthetic | file */
        char path[CFG_STR];
        int synthetic_clients; /* synthetic(alpha, beta): natural clients */
        double synthetic_alpha, synthetic_beta;
        int synthetic_dim, synthetic_classes;
        double synthetic_size_mean, synthetic_size_sigma; /* lognormal client sizes */
        double synthetic_test_fraction;
        int synthetic_min_size; /* added to every client's lognormal size */
        char synthetic_lazy[8]; /* false | true: generate client data when it trains */
        char synthetic_iid[8];  /* false | true: one shared model (synthetic_iid) */
    } data;

    struct {
        char kind[32]; /* iid | dirichlet | shards | labels | quantity | natural */
        int clients;
        double alpha;
        int min_size;
        int labels_per_client;      /* shards: shards per client; labels: classes per client */
        char shard_assign[16];      /* random | distinct */
        char quantity_dist[32];     /* powerlaw | lognormal | dirichlet */
        double quantity_sigma;      /* lognormal sigma */
        double quantity_exponent;   /* power-law (Pareto) shape */
        double quantity_alpha;      /* dirichlet concentration of client sizes */
        char feature_skew[16];      /* none | noise | rotation */
        double noise_sigma;         /* noise: sigma of the last client */
        double rotation_deg;        /* rotation: degrees of the last client */
        double local_test_fraction; /* of each client's samples, kept out of training */
    } partition;

    struct {
        char name[32]; /* logreg | mlp | lenet | cnn | char_lstm | custom */
        cfg_int_list hidden;
        int embedding_dim;       /* char_lstm */
        cfg_int_list lstm_units; /* char_lstm: one LSTM layer per entry */
        char init_from[CFG_STR]; /* checkpoint to start from; "" : fresh initialisation */
        int n_layers;            /* custom: model.layers (a list of mappings; own parser) */
        cfg_layer layers[CFG_LAYERS_MAX];
        int n_freeze; /* model.freeze: layer names (a list of strings; own parser) */
        char freeze[CFG_LAYERS_MAX][CFG_LAYER_NAME];
        cfg_origin layers_origin, freeze_origin; /* where they were given (line 0: not) */
    } model;

    struct {
        int epochs; /* local epochs (used when steps == 0) */
        int steps;  /* local minibatch steps; 0: use epochs */
        int batch_size;
        double lr;
        double momentum;
        double weight_decay;
        char nesterov[8];         /* false | true */
        double clip_norm;         /* 0: no clipping */
        char optimizer_state[16]; /* reset | per_client */
    } train;

    struct {
        char name[32]; /* fedavg | fedsgd | fedprox | feddyn | scaffold | fednova | fedavgm | ... */
        double server_lr;
        double mu;               /* FedProx */
        double alpha;            /* FedDyn */
        double server_momentum;  /* FedAvgM */
        double beta1, beta2;     /* FedAdam, FedYogi, FedAdagrad */
        double tau;              /* FedAdam, FedYogi, FedAdagrad */
        char weighting[16];      /* SCAFFOLD: uniform | samples | samples_all */
        double state_memory_mb;  /* SCAFFOLD, FedDyn: in-memory client state cap */
        char state_dir[CFG_STR]; /* spill file directory; "" : next to the database */

        double q;                      /* q-FFL: fairness exponent */
        double lambda;                 /* Ditto: personal regulariser */
        int head_epochs;               /* FedRep: epochs on the personal layers first */
        char personal_layers[CFG_STR]; /* FedPer, FedRep: comma-separated layer names */
        double apfl_alpha;             /* APFL: mixing weight */
        double perfedavg_alpha;        /* Per-FedAvg: inner step size */
    } algorithm;

    struct {
        int count;
        int clients_per_round;
        double overcommit;
        double deadline_s; /* 0: no deadline */
        int min_updates;   /* fewer arrived updates: the round is abandoned */
        double wait_s;     /* max time to wait for clients_per_round available clients */
        double retry_s;    /* availability re-check interval while waiting */
    } rounds;

    char protocol[16]; /* sync | async */

    char federation[16]; /* horizontal | vertical (docs/vertical.md) */

    struct {
        char algorithm[16];      /* hetero_lr | splitnn */
        char encryption[16];     /* none | paillier */
        int key_bits;            /* Paillier modulus size */
        int frac_bits;           /* fixed-point fraction bits of encrypted values */
        char randomness[16];     /* system | keyed: where the crypto randomness comes from */
        char psi[8];             /* true | false: align the sample IDs with DH-PSI */
        char intercept[8];       /* hetero_lr: true | false */
        int embedding_dim;       /* splitnn: width of each bottom model's output */
        cfg_int_list top_hidden; /* splitnn: hidden widths of the top model */
        double embedding_noise;  /* splitnn: std of Gaussian noise on exchanged embeddings */
        char central[8];         /* true: the centralised baseline on the joined columns */
        double crypto_ref_flops; /* FLOP/s of the machine the crypto unit costs come from */
        int n_parties;           /* vertical.parties (a list of mappings; own parser) */
        cfg_party parties[CFG_PARTIES_MAX];
        cfg_origin parties_origin; /* where it was given (line 0: not) */
    } vertical;

    struct {
        int concurrency;    /* clients training at once */
        int buffer;         /* updates per server step (FedBuff K) */
        char staleness[16]; /* constant | sqrt | poly */
        double staleness_a; /* poly exponent */
        int max_staleness;  /* older updates are discarded */
    } async;

    struct {
        cfg_lognormal flops;      /* FLOP/s spent on training */
        char model[16];           /* lognormal | tiers | trace */
        char tiers_file[CFG_STR]; /* "" : built-in tiers */
        char trace[CFG_STR];      /* CSV client,flops,down_bps,up_bps,latency_s */
    } devices;

    struct {
        cfg_lognormal down_bps; /* bits per second */
        cfg_lognormal up_bps;
        cfg_lognormal latency_s;
        double upload_compression; /* upload size = model bytes x this */
    } network;

    struct {
        char mode[32]; /* always | bernoulli | markov | diurnal | trace */
        double p;
        double mean_on_s, mean_off_s;        /* markov */
        double diurnal_p_min, diurnal_p_max; /* diurnal */
        double diurnal_peak_hour, diurnal_slot_s;
        char trace[CFG_STR];   /* CSV client,start_s,end_s */
        double trace_period_s; /* 0: the trace is not repeated */
    } availability;

    struct {
        double p;            /* per-round probability that a selected client drops out */
        double hazard_per_s; /* failure rate while working (exponential) */
    } dropout;

    struct {
        char mode[16];           /* none | central | local (docs/privacy.md) */
        double clip;             /* L2 clip norm C of each update (adaptive: the initial C) */
        double noise_multiplier; /* z: noise std = z * C */
        double target_epsilon;   /* > 0: solve z for this epsilon over rounds.count rounds */
        double delta;
        char sampling[16];           /* auto | poisson | fixed */
        char conversion[16];         /* improved | classic: RDP -> (eps, delta) */
        char weighting[16];          /* uniform | samples */
        char adaptive_clip[8];       /* false | true (Andrew et al. 2021) */
        double adaptive_quantile;    /* target fraction of unclipped updates (gamma) */
        double adaptive_lr;          /* geometric learning rate eta_C */
        double adaptive_count_noise; /* sigma_b; 0: clients_per_round / 20 */
        char secagg[16];             /* none | secagg | secagg_plus | paillier */
        double secagg_threshold;     /* t: fraction of holders in (0, 1), a count >= 1; 0: auto */
        int secagg_neighbours;       /* SecAgg+ degree k; 0: 2 ceil(log2 n) */
        double secagg_clip;          /* R: per-coordinate bound of the fixed-point encoding */
        int secagg_scale_bits;       /* f: fixed point with scale 2^f */
        double secagg_ref_flops;     /* FLOP/s of the machine the crypto costs were measured on */
        int paillier_bits;           /* secagg = paillier: |n| of the key holder's key */
        char secagg_randomness[8];   /* keyed | system */
    } privacy;

    struct {
        int every;         /* evaluate on the central test set every N rounds (and the last) */
        int test_samples;  /* 0: the whole test set */
        int clients;       /* per-client evaluation of this many clients (0: none) */
        int train_samples; /* global model on this many pooled client training samples (0: off) */
        char confusion[8]; /* true | false: the test set's confusion matrix at each evaluation */
        double target_accuracy; /* time-to-accuracy: first evaluation at or above; 0: off */
        int personalize_steps;  /* fine-tune each eval.clients client this many steps ... */
        int personalize_epochs; /* ... or epochs (docs/personalization.md); 0 and 0: none */
        double personalize_lr;  /* fine-tuning learning rate; 0: train.lr */
    } eval;

    struct {
        char db[CFG_STR];      /* "" : results/<name>.db */
        char client_events[8]; /* false | true: write the client_events table */
    } output;

    struct {
        int every;         /* write a checkpoint every N rounds (0: only the final one) */
        char dir[CFG_STR]; /* "" : next to the database, <db without .db>-ckpt/ */
    } checkpoint;

    struct {
        char attack[16];        /* none | label_flip | sign_flip | gaussian | scaling | backdoor |
                                 * alie | ipm | min_max | min_sum (docs/robustness.md) */
        double fraction;        /* of the population, malicious (count wins when > 0) */
        int count;              /* malicious clients */
        double scale;           /* sign flip / scaling / backdoor factor; 0: the attack's default */
        double sigma;           /* Gaussian updates */
        double epsilon;         /* IPM */
        double z;               /* ALIE; 0: z_max from n and f */
        char perturbation[8];   /* min-max / min-sum: unit | std | sign */
        int target;             /* backdoor target label */
        double poison_fraction; /* backdoor: fraction of each batch poisoned */
        int trigger_size;       /* backdoor: side of the pixel pattern */
        double norm_bound;      /* backdoor: constrain ||w - w_global|| while training; 0: off */
    } adversary;

    struct {
        char rule[16];    /* mean | median | trimmed_mean | krum | multi_krum | bulyan | geomed |
                           * centered_clip | norm_bound | fltrust */
        int f;            /* Byzantine updates tolerated; -1: the expected malicious per round */
        int m;            /* Multi-Krum: updates averaged; 0: n - f */
        int iters;        /* geomed / centered_clip iterations; 0: the rule's default */
        double clip;      /* centered_clip tau; norm_bound M */
        double noise;     /* norm_bound: weak-DP sigma */
        int bucket;       /* bucketing: bucket size s; 0 or 1: off */
        int root_samples; /* fltrust: the server's root dataset */
        double memory_mb; /* cap on the round's kept updates */
    } aggregation;

    struct {
        char kind[16]; /* none | topk | randk | qsgd | sign | powersgd (docs/efficiency.md) */
        double k;      /* topk / randk: fraction of coordinates sent */
        int bits;      /* qsgd: bits per coordinate */
        int rank;      /* powersgd: rank */
        char error_feedback[8]; /* false | true: residuals kept per client */
    } compression;

    struct {
        char mode[16];               /* uniform | oort | power_of_choice */
        double oort_explore;         /* initial exploration fraction epsilon */
        double oort_explore_decay;   /* epsilon *= decay every round */
        double oort_explore_min;     /* floor of epsilon */
        double oort_alpha;           /* straggler penalty exponent */
        double oort_cutoff;          /* exploit among utilities >= cutoff x the K-th */
        double oort_round_threshold; /* preferred duration T: this percentile of durations */
        int oort_pacer_step;         /* pacer window, rounds */
        double oort_pacer_delta;     /* percentile points added when utility falls */
        int poc_d;                   /* power of choice: candidates d; 0: 2 x selected */
    } selection;

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

/* aggregation.f resolved: the key when >= 0, else the expected number of malicious clients
 * among rounds.clients_per_round (ceil(K x malicious fraction of the population)). */
int cfg_robust_f(const cfg *c);
/* 1 when the scenario has adversaries or a robust rule (the engine then keeps every update of
 * a round: engine/robust.h). */
int cfg_robust_wanted(const cfg *c);

/* Key i of the table (0-based, in table order: the order of the JSON and docs/scenario.md),
 * NULL past the last. The table is kept per scenario section (sim/config/sections.c). */
const cfg_key *cfg_key_at(int i);
/* Number of keys in the table. */
int cfg_key_count(void);

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
 * `sweep` is skipped (the sweep expander reads it). Text with no keys ("empty scenario") and
 * text that is not YAML in UTF-8 (ytree.h, yaml_check_text) are errors. */
fs_err cfg_parse_text(const char *text, size_t len, const char *name, cfg *c, cfg_diag *d);

/* Apply one override "key.path=value"; index is used in the message ("--set #index"). */
fs_err cfg_apply_override(const char *kv, int index, cfg *c, cfg_diag *d);

/* Index of a key path in cfg_keys, -1 if there is none. */
int cfg_key_index(const char *path);

/* Values that follow from others, for keys the scenario did not set: name from the basename of
 * path without .yaml/.yml; with data.dataset = synthetic, partition.kind = natural and
 * partition.clients = data.synthetic_clients; with data.dataset = kjv, partition.kind = natural
 * and data.path = datasets/kjv.h5; rounds.clients_per_round at most
 * partition.clients. */
void cfg_derive(cfg *c, const char *path);

/* Cross-key checks (e.g. clients_per_round <= clients), each section's in table order; fills d
 * with the key's position. What the algorithm's properties rule out is checked after it, by
 * sim_check_algorithm (engine/check_algo.h). */
fs_err cfg_validate(const cfg *c, const char *file, cfg_diag *d);

/* Point d at where key path was set (its file:line:col, or the file alone for a default); the
 * caller fills msg and hint. For checks outside sim/config (sim/engine/setup_check.c,
 * sim/engine/check_algo.c). */
void cfg_diag_key(cfg_diag *d, const cfg *c, const char *file, const char *path);

/* Optimal string alignment distance (Levenshtein plus adjacent transpositions), for
 * did-you-mean suggestions; 1000 for words of 128 characters or more. */
int cfg_edit_distance(const char *a, const char *b);

/* Print "file:line:col: error: msg\n  hint: ..." */
void cfg_diag_print(const cfg_diag *d, FILE *out);

/* Resolved parameters as one JSON object (malloc'd). */
char *cfg_to_json(const cfg *c);
/* Only the keys whose value differs from base (model.layers and model.freeze when given). */
char *cfg_to_json_diff(const cfg *c, const cfg *base);

/* The key reference as Markdown (docs/scenario.md). */
void cfg_print_markdown(FILE *out);

#endif
