/* Scenario files -> struct cfg. Owns the key table cfg_keys[] (the single description of every
 * key), the YAML reading (libfyaml's event parser, which gives a line/column for every node),
 * `--set` overrides, cross-key validation, and the JSON / Markdown renderings of the table.
 * Guarantees: every key ends up either at its default or at a value that passed its type and
 * range check; every error is reported as file:line:col (1-based) with a hint; every parser,
 * diagnostic object and node is freed on every path. No global state: thread-safe. */
#include "config/config.h"
#include "config/personal.h"
#include "config/vertical.h"
#include "config/ytree.h"
#include "crypto/paillier.h"
#include "privacy/secagg.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <libfyaml.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------------------------------------
 * The key table
 * ------------------------------------------------------------------------------------------- */

#define BIG 1e7 /* upper bound of counts: clients, rounds, steps */

#define K_INT(p, f, def, lo, hi, doc)                                                              \
    {                                                                                              \
        p, CFG_T_INT, offsetof(cfg, f), sizeof(int), def, lo, hi, NULL, doc, 0                     \
    }
#define K_FLT(p, f, def, lo, hi, open, doc)                                                        \
    {                                                                                              \
        p, CFG_T_FLOAT, offsetof(cfg, f), sizeof(double), def, lo, hi, NULL, doc, open             \
    }
#define K_STR(p, f, def, doc)                                                                      \
    {                                                                                              \
        p, CFG_T_STRING, offsetof(cfg, f), sizeof(((cfg *)0)->f), def, 0,                          \
            sizeof(((cfg *)0)->f) - 1, NULL, doc, 0                                                \
    }
#define K_ENUM(p, f, def, choices, doc)                                                            \
    {                                                                                              \
        p, CFG_T_ENUM, offsetof(cfg, f), sizeof(((cfg *)0)->f), def, 0, 0, choices, doc, 0         \
    }

const cfg_key cfg_keys[] = {
    K_STR("name", name, "\"\"",
          "run name: letters, digits, _ - . (at most 63); results go to results/<name>.db "
          "(default: the scenario file's basename, other characters as _)"),
    {"seed", CFG_T_U64, offsetof(cfg, seed), sizeof(uint64_t), "1", 0, 18446744073709551615.0, NULL,
     "master seed of every random stream (same scenario and seed: identical results)", 0},
    K_INT("threads", threads, "0", 0, 4096, "training threads; 0: all cores"),

    K_ENUM("data.dataset", data.dataset, "fashion-mnist", "fashion-mnist|kjv|synthetic|file",
           "data source: Fashion-MNIST, the King James Bible (next character; natural clients), "
           "generated Synthetic(alpha, beta), or an HDF5 file (docs/datasets.md)"),
    K_STR("data.path", data.path, "datasets/fashion-mnist.h5",
          "HDF5 dataset file (built by `fedsim data import`; with data.dataset kjv the default "
          "is datasets/kjv.h5)"),
    K_INT("data.synthetic_clients", data.synthetic_clients, "30", 1, 1e6,
          "Synthetic: number of natural clients (Li et al. 2020, FedProx: 30)"),
    K_FLT("data.synthetic_alpha", data.synthetic_alpha, "1", 0, 1000, 0,
          "Synthetic: alpha, spread of the per-client models (model heterogeneity)"),
    K_FLT("data.synthetic_beta", data.synthetic_beta, "1", 0, 1000, 0,
          "Synthetic: beta, spread of the per-client input means (data heterogeneity)"),
    K_INT("data.synthetic_dim", data.synthetic_dim, "60", 1, 100000,
          "Synthetic: input dimension (FedProx: 60)"),
    K_INT("data.synthetic_classes", data.synthetic_classes, "10", 2, 1000,
          "Synthetic: number of classes (FedProx: 10)"),
    K_FLT("data.synthetic_size_mean", data.synthetic_size_mean, "4", 0, 20, 0,
          "Synthetic: mean of log(client size); FedProx draws lognormal(4, 2) + 50 samples"),
    K_FLT("data.synthetic_size_sigma", data.synthetic_size_sigma, "2", 0, 10, 0,
          "Synthetic: sigma of log(client size) (FedProx: 2)"),
    K_FLT("data.synthetic_test_fraction", data.synthetic_test_fraction, "0.2", 0, 0.9, CFG_OPEN_MIN,
          "Synthetic: fraction of every client's samples held out for the test set"),
    K_INT("data.synthetic_min_size", data.synthetic_min_size, "50", 1, 1000000,
          "Synthetic: added to each client's lognormal size (Li et al.'s generator: 50)"),
    K_ENUM("data.synthetic_iid", data.synthetic_iid, "false", "false|true",
           "Synthetic: Li et al.'s synthetic_iid instead: one model W, b and one input "
           "distribution for every client (alpha and beta unused); the variant a single global "
           "model can learn at any population size"),
    K_ENUM("data.synthetic_lazy", data.synthetic_lazy, "false", "false|true",
           "Synthetic: generate a client's samples when it trains instead of up front (for "
           "millions of clients; the test set then comes from 1,000 evenly spaced clients)"),

    K_ENUM("partition.kind", partition.kind, "dirichlet",
           "iid|dirichlet|shards|labels|quantity|natural",
           "how samples are split among clients: shards (McMahan et al. 2017), labels (#C=k of "
           "NIID-Bench), natural: the dataset's own clients (docs/datasets.md)"),
    K_INT("partition.clients", partition.clients, "1000", 1, BIG, "number of clients"),
    K_FLT("partition.alpha", partition.alpha, "0.5", 0, 1e6, CFG_OPEN_MIN,
          "dirichlet: concentration of the per-client label mix (small: skewed; Hsu et al. 2019)"),
    K_INT("partition.min_size", partition.min_size, "10", 0, 1000000,
          "minimum samples per client (dirichlet redraws, then tops up; quantity reserves it)"),
    K_INT("partition.labels_per_client", partition.labels_per_client, "2", 1, 100000,
          "k: shards per client (shards; McMahan et al. 2017: 2) or classes per client (labels)"),
    K_ENUM("partition.shard_assign", partition.shard_assign, "random", "random|distinct",
           "shards: random deal as in the paper, or swapped until no client has two shards of one "
           "class"),
    K_ENUM("partition.quantity_dist", partition.quantity_dist, "powerlaw",
           "powerlaw|lognormal|dirichlet", "quantity: distribution of client sizes"),
    K_FLT("partition.quantity_sigma", partition.quantity_sigma, "1.0", 0, 10, CFG_OPEN_MIN,
          "quantity, lognormal: sigma of log(client size)"),
    K_FLT("partition.quantity_exponent", partition.quantity_exponent, "1.5", 0, 100, CFG_OPEN_MIN,
          "quantity, powerlaw: Pareto shape of client sizes (smaller: heavier tail)"),
    K_FLT("partition.quantity_alpha", partition.quantity_alpha, "0.5", 0, 1e6, CFG_OPEN_MIN,
          "quantity, dirichlet: concentration of client size shares (NIID-Bench; small: skewed)"),
    K_ENUM("partition.feature_skew", partition.feature_skew, "none", "none|noise|rotation",
           "per-client input transform at training time (the central test set stays clean)"),
    K_FLT("partition.noise_sigma", partition.noise_sigma, "0.1", 0, 100, 0,
          "noise: client i of N adds Gaussian noise of sd noise_sigma*i/(N-1) (NIID-Bench)"),
    K_FLT("partition.rotation_deg", partition.rotation_deg, "90", 0, 360, 0,
          "rotation: client i of N sees its images rotated by rotation_deg*i/(N-1) degrees"),
    K_FLT("partition.local_test_fraction", partition.local_test_fraction, "0", 0, 0.9, 0,
          "fraction of each client's samples held out of training as its local test set"),

    K_ENUM("model.name", model.name, "mlp", "logreg|mlp|lenet|cnn|char_lstm|custom",
           "model trained by every client (docs/models.md); custom: the layers of model.layers"),
    {"model.hidden", CFG_T_INTLIST, offsetof(cfg, model.hidden), sizeof(cfg_int_list), "[200, 200]",
     1, 65536, NULL, "mlp: hidden layer widths (ReLU), e.g. [200, 200]", 0},
    K_INT("model.embedding_dim", model.embedding_dim, "8", 1, 65536,
          "char_lstm: embedding dimension (LEAF's Shakespeare model: 8)"),
    {"model.lstm_units", CFG_T_INTLIST, offsetof(cfg, model.lstm_units), sizeof(cfg_int_list),
     "[256, 256]", 1, 65536, NULL, "char_lstm: one LSTM layer per width (LEAF: [256, 256])", 0},
    K_STR("model.init_from", model.init_from, "\"\"",
          "checkpoint (.h5) to start from instead of a fresh initialisation; the architecture "
          "must match"),

    K_INT("train.epochs", train.epochs, "5", 0, 10000, "local epochs per round (when steps is 0)"),
    K_INT("train.steps", train.steps, "0", 0, BIG,
          "local minibatch steps per round; 0: use epochs instead"),
    K_INT("train.batch_size", train.batch_size, "20", 1, 1000000, "local minibatch size"),
    K_FLT("train.lr", train.lr, "0.05", 0, 100, CFG_OPEN_MIN, "client learning rate (SGD)"),
    K_FLT("train.momentum", train.momentum, "0", 0, 1, CFG_OPEN_MAX,
          "client SGD momentum (heavy ball); 0: plain SGD"),
    K_FLT("train.weight_decay", train.weight_decay, "0", 0, 10, 0, "client L2 weight decay"),
    K_ENUM("train.nesterov", train.nesterov, "false", "false|true",
           "Nesterov momentum (as torch.optim.SGD; needs momentum > 0)"),
    K_FLT("train.clip_norm", train.clip_norm, "0", 0, 1e9, 0,
          "clip each minibatch gradient to this L2 norm (Pascanu et al. 2013); 0: no clipping"),
    K_ENUM("train.optimizer_state", train.optimizer_state, "reset", "reset|per_client",
           "client SGD momentum buffer: fresh for every local run (reset), or kept per client "
           "across its participations (per_client; stored like algorithm state, see "
           "algorithm.state_memory_mb)"),

    K_ENUM("algorithm.name", algorithm.name, "fedavg",
           "fedavg|fedsgd|fedprox|feddyn|scaffold|fednova|fedavgm|fedadam|fedyogi|fedadagrad|qffl|"
           "ditto|fedper|fedrep|apfl|perfedavg",
           "federated algorithm; update rules and citations in docs/algorithms.md"),
    K_FLT("algorithm.server_lr", algorithm.server_lr, "1", 0, 100, CFG_OPEN_MIN,
          "server learning rate on the averaged update (1: plain FedAvg; SCAFFOLD's eta_g; "
          "FedAdam/FedYogi/FedAdagrad's eta, typically 0.001-0.1; unused by FedDyn)"),
    K_FLT("algorithm.mu", algorithm.mu, "0.01", 0, 10000, 0,
          "fedprox: proximal coefficient mu of (mu/2) norm(w - w_global)^2 (0: FedAvg; Li et al. "
          "2020 use 0.001-1)"),
    K_FLT("algorithm.alpha", algorithm.alpha, "0.01", 0, 10000, CFG_OPEN_MIN,
          "feddyn: coefficient alpha of the dynamic regulariser (Acar et al. 2021: 0.1, 0.01, "
          "0.001)"),
    K_FLT("algorithm.server_momentum", algorithm.server_momentum, "0.9", 0, 1, CFG_OPEN_MAX,
          "fedavgm: server momentum beta (0: FedAvg with server_lr)"),
    K_FLT("algorithm.beta1", algorithm.beta1, "0.9", 0, 1, CFG_OPEN_MAX,
          "fedadam, fedyogi, fedadagrad: decay of the server's first moment"),
    K_FLT("algorithm.beta2", algorithm.beta2, "0.99", 0, 1, CFG_OPEN_MAX,
          "fedadam, fedyogi: decay of the server's second moment"),
    K_FLT("algorithm.tau", algorithm.tau, "0.001", 0, 10, CFG_OPEN_MIN,
          "fedadam, fedyogi, fedadagrad: adaptivity tau in m / (sqrt(v) + tau); v starts at "
          "tau^2"),
    K_ENUM("algorithm.weighting", algorithm.weighting, "uniform", "uniform|samples|samples_all",
           "scaffold: aggregation weights; uniform: the paper's (Karimireddy et al. 2020); "
           "samples: the model update weighted by client data size, control variates summed / N "
           "(NIID-Bench, Li et al. 2022); samples_all: both weighted by data size (Flower's "
           "niid_bench baseline)"),
    K_FLT("algorithm.state_memory_mb", algorithm.state_memory_mb, "1024", 0, 1e8, CFG_OPEN_MIN,
          "scaffold, feddyn, train.optimizer_state per_client: memory for per-client state "
          "vectors (MiB, for each of the two stores); the least recently used beyond it go to a "
          "temporary HDF5 file"),
    K_STR("algorithm.state_dir", algorithm.state_dir, "\"\"",
          "directory of that temporary file (deleted at the end); empty: the database's "
          "directory; no '..' components"),
    K_FLT("algorithm.q", algorithm.q, "1", 0, 1000, 0,
          "qffl: fairness exponent q of q-FFL (Li et al. 2020; 0: uniform FedAvg, larger: more "
          "weight on the clients with a high loss; docs/personalization.md)"),
    K_FLT("algorithm.lambda", algorithm.lambda, "0.1", 0, 1e30, 0,
          "ditto: lambda of the personal objective F_k(v) + lambda/2 norm(v - w)^2 (Li et al. "
          "2021 tune 0.05-2; 0: local training alone, very large: the global model)"),
    K_INT("algorithm.head_epochs", algorithm.head_epochs, "10", 0, 10000,
          "fedrep: local epochs on the personal layers (body fixed) before train.epochs or "
          "train.steps on the body (Collins et al. 2021: 10)"),
    K_STR("algorithm.personal_layers", algorithm.personal_layers, "\"\"",
          "fedper, fedrep: comma-separated names of the layers each client keeps to itself, "
          "e.g. \"dense3\" for the output layer of mlp [200, 200] (names: type and number, "
          "docs/models.md); empty: none (FedAvg)"),
    K_FLT("algorithm.apfl_alpha", algorithm.apfl_alpha, "0.25", 0, 1, 0,
          "apfl: mixing weight alpha of the personalized model alpha v + (1 - alpha) w (Deng et "
          "al. 2020 use 0.25, 0.5, 0.75; 0: the global model)"),
    K_FLT("algorithm.perfedavg_alpha", algorithm.perfedavg_alpha, "0.01", 0, 100, 0,
          "perfedavg: step size alpha of the inner (personalization) step w - alpha grad f(w); "
          "also the default eval.personalize_lr (Fallah et al. 2020 use 0.001-0.01)"),

    K_INT("rounds.count", rounds.count, "50", 1, BIG, "number of rounds"),
    K_INT("rounds.clients_per_round", rounds.clients_per_round, "50", 1, 1000000,
          "clients whose updates a round aggregates (default capped at partition.clients)"),
    K_FLT("rounds.overcommit", rounds.overcommit, "0.3", 0, 10, 0,
          "extra fraction selected to cover dropouts and stragglers (Bonawitz et al. 2019: 0.3)"),
    K_FLT("rounds.deadline_s", rounds.deadline_s, "0", 0, 1e9, 0,
          "round deadline in virtual seconds; late updates are discarded; 0: none"),
    K_INT("rounds.min_updates", rounds.min_updates, "1", 1, 1000000,
          "fewest arrived updates that make a round; fewer: the round is abandoned, counted"),
    K_FLT("rounds.wait_s", rounds.wait_s, "0", 0, 1e9, 0,
          "when fewer than clients_per_round are available, wait up to this long for more "
          "(0: start with those available)"),
    K_FLT("rounds.retry_s", rounds.retry_s, "60", 0, 1e9, CFG_OPEN_MIN,
          "while waiting, re-check availability this often (virtual seconds)"),
    K_ENUM("protocol", protocol, "sync", "sync|async",
           "server protocol: synchronous rounds, or asynchronous FedBuff (Nguyen et al. 2022)"),
    K_ENUM("federation", federation, "horizontal", "horizontal|vertical",
           "horizontal: clients hold samples (everything above); vertical: a few parties hold "
           "feature columns of the same samples (the vertical.* keys, docs/vertical.md)"),
    K_INT("async.concurrency", async.concurrency, "100", 1, 1000000,
          "FedBuff: clients training at the same time"),
    K_INT("async.buffer", async.buffer, "10", 1, 1000000,
          "FedBuff: updates buffered per server step (K); rounds.count counts server steps"),
    K_ENUM("async.staleness", async.staleness, "sqrt", "constant|sqrt|poly",
           "staleness weight: 1, 1/sqrt(1+s), or (1+s)^-a"),
    K_FLT("async.staleness_a", async.staleness_a, "0.5", 0, 10, 0,
          "exponent a of the poly staleness weight"),
    K_INT("async.max_staleness", async.max_staleness, "1000", 0, 1000000000,
          "updates staler than this many server steps are discarded"),

    K_FLT("devices.flops.median", devices.flops.median, "2e9", 1, 1e18, 0,
          "device training speed, FLOP/s: median of a lognormal"),
    K_FLT("devices.flops.sigma", devices.flops.sigma, "0.8", 0, 10, 0,
          "device training speed: sigma of log(FLOP/s)"),
    K_ENUM("devices.model", devices.model, "lognormal", "lognormal|tiers|trace",
           "device profiles: one lognormal population, a mixture of tiers, or a CSV trace"),
    K_STR("devices.tiers_file", devices.tiers_file, "\"\"",
          "CSV of tiers (name,weight,flops,flops_sigma,down_bps,down_sigma,up_bps,up_sigma,"
          "latency_s,latency_sigma); empty: the built-in tiers of docs/systems.md"),
    K_STR("devices.trace", devices.trace, "\"\"",
          "CSV device trace client,flops,down_bps,up_bps,latency_s; cycled over the population"),

    K_FLT("network.down_bps.median", network.down_bps.median, "20e6", 1, 1e12, 0,
          "download bandwidth, bits/s: median of a lognormal"),
    K_FLT("network.down_bps.sigma", network.down_bps.sigma, "0.8", 0, 10, 0,
          "download bandwidth: sigma of log(bits/s)"),
    K_FLT("network.up_bps.median", network.up_bps.median, "5e6", 1, 1e12, 0,
          "upload bandwidth, bits/s: median of a lognormal"),
    K_FLT("network.up_bps.sigma", network.up_bps.sigma, "0.9", 0, 10, 0,
          "upload bandwidth: sigma of log(bits/s)"),
    K_FLT("network.latency_s.median", network.latency_s.median, "0.05", 0, 3600, 0,
          "one-way latency per transfer, seconds: median of a lognormal"),
    K_FLT("network.latency_s.sigma", network.latency_s.sigma, "0.5", 0, 10, 0,
          "latency: sigma of log(seconds)"),
    K_FLT("network.upload_compression", network.upload_compression, "1", 0, 1, CFG_OPEN_MIN,
          "upload size as a fraction of the model size (e.g. 0.1 for 10x compression)"),

    K_ENUM("availability.mode", availability.mode, "always",
           "always|bernoulli|markov|diurnal|trace",
           "client availability: always; Bernoulli(p) at each selection; on/off Markov process; "
           "diurnal curve by local time; CSV trace of intervals"),
    K_FLT("availability.p", availability.p, "0.8", 0, 1, CFG_OPEN_MIN,
          "bernoulli: probability that a client is available in a round"),
    K_FLT("availability.mean_on_s", availability.mean_on_s, "3600", 0, 1e9, CFG_OPEN_MIN,
          "markov: mean online duration (exponential), seconds"),
    K_FLT("availability.mean_off_s", availability.mean_off_s, "7200", 0, 1e9, CFG_OPEN_MIN,
          "markov: mean offline duration (exponential), seconds"),
    K_FLT("availability.diurnal_p_min", availability.diurnal_p_min, "0.05", 0, 1, 0,
          "diurnal: availability probability at the least available local hour"),
    K_FLT("availability.diurnal_p_max", availability.diurnal_p_max, "0.6", 0, 1, 0,
          "diurnal: availability probability at the peak local hour"),
    K_FLT("availability.diurnal_peak_hour", availability.diurnal_peak_hour, "2", 0, 24,
          CFG_OPEN_MAX, "diurnal: local hour of peak availability (phones charging at night)"),
    K_FLT("availability.diurnal_slot_s", availability.diurnal_slot_s, "900", 1, 86400, 0,
          "diurnal: availability is redrawn per client every slot of this many seconds"),
    K_STR("availability.trace", availability.trace, "\"\"",
          "trace: CSV client,start_s,end_s of online intervals; cycled over the population"),
    K_FLT("availability.trace_period_s", availability.trace_period_s, "0", 0, 1e12, 0,
          "trace: repeat the trace with this period (0: no repeat; offline after its end)"),

    K_FLT("dropout.p", dropout.p, "0.05", 0, 1, 0,
          "probability that a selected client drops out before uploading"),
    K_FLT("dropout.hazard_per_s", dropout.hazard_per_s, "0", 0, 1e6, 0,
          "failure rate while a client works (per second, exponential time to failure)"),

    K_ENUM("privacy.mode", privacy.mode, "none", "none|central|local",
           "differential privacy: none; central = DP-FedAvg (clients clip, the server adds "
           "N(0, (zC)^2) to the sum; McMahan et al. 2018); local = each client clips and noises "
           "its own update (docs/privacy.md)"),
    K_FLT("privacy.clip", privacy.clip, "1", 0, 1e9, CFG_OPEN_MIN,
          "L2 norm C every client update is clipped to (with adaptive_clip: the initial C)"),
    K_FLT("privacy.noise_multiplier", privacy.noise_multiplier, "1", 0, 1e6, 0,
          "noise multiplier z: Gaussian noise of std z*C per coordinate (0: no noise)"),
    K_FLT("privacy.target_epsilon", privacy.target_epsilon, "0", 0, 1e6, 0,
          "> 0: solve the noise multiplier that spends this epsilon over rounds.count rounds "
          "(overrides noise_multiplier); 0: use noise_multiplier"),
    K_FLT("privacy.delta", privacy.delta, "1e-5", 0, 1, CFG_OPEN_MIN | CFG_OPEN_MAX,
          "delta of the reported (epsilon, delta); keep it below 1/partition.clients"),
    K_ENUM("privacy.sampling", privacy.sampling, "auto", "auto|poisson|fixed",
           "client sampling: poisson = each client joins a round independently with probability "
           "q = clients_per_round/clients (what the accountant assumes); fixed = the usual "
           "uniform selection of a fixed size (accounted as Poisson: approximate); auto: poisson "
           "with mode central, else fixed"),
    K_ENUM("privacy.conversion", privacy.conversion, "improved", "improved|classic",
           "RDP to (epsilon, delta): improved (Balle et al. 2020) or classic (Mironov 2017)"),
    K_ENUM("privacy.weighting", privacy.weighting, "uniform", "uniform|samples",
           "central: uniform = every clipped update weighs 1, the sum is divided by the expected "
           "round size q*N (DP-FedAvg's fixed denominator); samples = the algorithm's sample "
           "weights and their sum (z = 0 with no clipping is then plain FedAvg; the denominator "
           "is not private)"),
    K_ENUM("privacy.adaptive_clip", privacy.adaptive_clip, "false", "false|true",
           "central: adapt C each round towards a quantile of the update norms (Andrew et al. "
           "2021, geometric update from a noised count of unclipped updates)"),
    K_FLT("privacy.adaptive_quantile", privacy.adaptive_quantile, "0.5", 0, 1, 0,
          "adaptive clipping: target fraction gamma of updates left unclipped"),
    K_FLT("privacy.adaptive_lr", privacy.adaptive_lr, "0.2", 0, 100, 0,
          "adaptive clipping: learning rate eta_C of C <- C exp(-eta_C (b - gamma))"),
    K_FLT("privacy.adaptive_count_noise", privacy.adaptive_count_noise, "0", 0, 1e9, 0,
          "adaptive clipping: std sigma_b of the noise on the unclipped count; 0: "
          "clients_per_round/20 (Andrew et al.)"),
    K_ENUM("privacy.secagg", privacy.secagg, "none", "none|secagg|secagg_plus|paillier",
           "secure aggregation: the server only sees masked updates and unmasks their sum "
           "(Bonawitz et al. 2017; SecAgg+: Bell et al. 2020), or (paillier) adds Paillier "
           "ciphertexts whose sum only a key holder decrypts; real crypto, costs charged to "
           "time and bytes"),
    K_FLT("privacy.secagg_threshold", privacy.secagg_threshold, "0", 0, 1e6, 0,
          "secure aggregation threshold t: in (0, 1) a fraction of each client's share holders, "
          ">= 1 a count; 0: 2/3 (secagg) or a strict majority of the k+1 holders (secagg_plus)"),
    K_ENUM("privacy.secagg_randomness", privacy.secagg_randomness, "keyed", "keyed|system",
           "secure aggregation secrets (key seeds, self-mask seeds, Shamir coefficients): keyed "
           "streams of the scenario seed (reproducible; anyone with the seed can recompute the "
           "masks) or libsodium's randombytes_buf (secret; the protocol's values differ run to "
           "run, the aggregate does not); paillier: also the key and the encryption "
           "randomness"),
    K_INT("privacy.secagg_neighbours", privacy.secagg_neighbours, "0", 0, 1000000,
          "secagg_plus: neighbours k per client; 0: 2 ceil(log2 n)"),
    K_FLT("privacy.secagg_clip", privacy.secagg_clip, "0", 0, 1e6, 0,
          "secure aggregation: every coordinate of the (weighted) update is clipped to [-R, R] "
          "before fixed-point encoding (the run warns when that happens); 0: privacy.clip with "
          "central DP, (1 + 6 z) privacy.clip with local DP, else 10"),
    K_INT("privacy.secagg_scale_bits", privacy.secagg_scale_bits, "0", 0, 30,
          "secure aggregation: fixed-point scale 2^f (rounding error 2^-f per client and "
          "coordinate); 0: per round the largest f with n * R * 2^f < 2^31"),
    K_INT(
        "privacy.paillier_bits", privacy.paillier_bits, "2048", HE_MIN_BITS, HE_MAX_BITS,
        "secagg = paillier: bit length of the modulus n of the key holder's key (even; one key per "
        "run)"),
    K_FLT("privacy.secagg_ref_flops", privacy.secagg_ref_flops, "2e10", 0, 1e18, CFG_OPEN_MIN,
          "FLOP/s of the machine the crypto unit costs were measured on; a device of FLOP/s f "
          "spends ref/f times the measured time (docs/privacy.md)"),

    K_ENUM("vertical.algorithm", vertical.algorithm, "hetero_lr", "hetero_lr|splitnn",
           "vertical: hetero logistic regression with a Taylor loss (Hardy et al. 2017, FATE) or "
           "a split neural network (bottom models per party, top model at the active party)"),
    K_ENUM("vertical.encryption", vertical.encryption, "none", "none|paillier",
           "vertical: paillier encrypts what the protocol exchanges (real Paillier on GMP; its "
           "cost charged to virtual time); none: the same protocol in plaintext"),
    K_INT("vertical.key_bits", vertical.key_bits, "2048", 2048, 16384,
          "vertical: Paillier modulus size in bits, the length of n (even; 2048 is 112-bit "
          "security; a "
          "ciphertext is twice that on the wire)"),
    K_INT("vertical.frac_bits", vertical.frac_bits, "24", 4, 48,
          "vertical: fixed-point fraction bits of encrypted values (a value x is encrypted as "
          "round(x 2^f); products carry 2f)"),
    K_ENUM("vertical.randomness", vertical.randomness, "system", "system|keyed",
           "vertical: randomness of keys, ciphertexts, masks and PSI: the OS CSPRNG, or keyed "
           "from the seed (reproducible ciphertexts; SIMULATION ONLY, protects nothing); the "
           "metrics do not depend on it"),
    K_ENUM("vertical.psi", vertical.psi, "true", "true|false",
           "vertical: align the parties' sample IDs with Diffie-Hellman PSI (its bytes and time "
           "charged); false: the intersection is computed in the clear at no cost"),
    K_ENUM("vertical.intercept", vertical.intercept, "true", "true|false",
           "hetero_lr: the active party fits an intercept"),
    K_INT("vertical.embedding_dim", vertical.embedding_dim, "64", 1, 65536,
          "splitnn: output width of every party's bottom model (the model section, with this "
          "many outputs instead of the classes)"),
    {"vertical.top_hidden", CFG_T_INTLIST, offsetof(cfg, vertical.top_hidden), sizeof(cfg_int_list),
     "[64]", 1, 65536, NULL,
     "splitnn: hidden widths (ReLU) of the top model; its first layer is the interactive layer "
     "that mixes the parties' embeddings ([]: it gives the logits)",
     0},
    K_FLT("vertical.embedding_noise", vertical.embedding_noise, "0", 0, 1e6, 0,
          "splitnn: standard deviation of Gaussian noise each passive party adds to the "
          "embeddings it sends (0: none)"),
    K_ENUM("vertical.central", vertical.central, "false", "false|true",
           "vertical: the centralised baseline instead: the same algorithm trained by one party "
           "holding every party's columns of the aligned samples (no exchange, no encryption)"),
    K_FLT("vertical.crypto_ref_flops", vertical.crypto_ref_flops, "2e10", 0, 1e18, CFG_OPEN_MIN,
          "vertical: FLOP/s of the machine the crypto unit costs were measured on; a party of "
          "FLOP/s f spends ref/f times the unit cost (docs/vertical.md)"),

    K_INT("eval.every", eval.every, "5", 1, BIG,
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
    K_INT("eval.personalize_steps", eval.personalize_steps, "0", 0, BIG,
          "personalized evaluation: fine-tune the model of each eval.clients client this many "
          "local minibatch steps on its training samples, then evaluate it on its local test "
          "split (client_eval.pers_acc; docs/personalization.md); 0: off"),
    K_INT("eval.personalize_epochs", eval.personalize_epochs, "0", 0, 10000,
          "personalized evaluation: fine-tune for this many local epochs instead (when "
          "personalize_steps is 0)"),
    K_FLT("eval.personalize_lr", eval.personalize_lr, "0", 0, 100, 0,
          "learning rate of the fine-tuning; 0: train.lr"),

    K_INT("checkpoint.every", checkpoint.every, "0", 0, BIG,
          "also write the global model every N rounds (<name>-round-N.h5); 0: only the final "
          "one (<name>-final.h5)"),
    K_STR("checkpoint.dir", checkpoint.dir, "\"\"",
          "checkpoint directory (created when missing); empty: next to the database, "
          "<db name>-ckpt/; no '..' components"),

    K_ENUM("adversary.attack", adversary.attack, "none",
           "none|label_flip|sign_flip|gaussian|scaling|backdoor|alie|ipm|min_max|min_sum",
           "what malicious clients do (docs/robustness.md): poison their data (label_flip, "
           "backdoor), replace their update (sign_flip, gaussian, scaling), or craft it from the "
           "round's benign updates (alie, ipm, min_max, min_sum: omniscient)"),
    K_FLT("adversary.fraction", adversary.fraction, "0", 0, 1, CFG_OPEN_MAX,
          "fraction of the population that is malicious, chosen from the seed, fixed over the "
          "run"),
    K_INT("adversary.count", adversary.count, "0", 0, BIG,
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

    K_ENUM("aggregation.rule", aggregation.rule, "mean",
           "mean|median|trimmed_mean|krum|multi_krum|bulyan|geomed|centered_clip|norm_bound|"
           "fltrust",
           "how the server combines the round's updates (docs/robustness.md); mean: the "
           "algorithm's weighted mean"),
    K_INT("aggregation.f", aggregation.f, "-1", -1, BIG,
          "malicious updates the rule tolerates (trimmed per side; Krum's f); -1: the expected "
          "malicious clients per round"),
    K_INT("aggregation.m", aggregation.m, "0", 0, BIG, "multi_krum: updates averaged; 0: n - f"),
    K_INT("aggregation.iters", aggregation.iters, "0", 0, 100000,
          "geomed: Weiszfeld iterations (0: up to 100); centered_clip: L (0: 1)"),
    K_FLT("aggregation.clip", aggregation.clip, "1", 0, 1e9, CFG_OPEN_MIN,
          "centered_clip: radius tau; norm_bound: largest update norm M"),
    K_FLT("aggregation.noise", aggregation.noise, "0", 0, 1e9, 0,
          "norm_bound: sigma of Gaussian noise added to the mean (weak DP)"),
    K_INT("aggregation.bucket", aggregation.bucket, "0", 0, BIG,
          "bucketing: average random buckets of this many updates before the rule (0, 1: off)"),
    K_INT("aggregation.root_samples", aggregation.root_samples, "100", 1, 1000000,
          "fltrust: the server's root dataset, drawn once from the training set"),
    K_FLT("aggregation.memory_mb", aggregation.memory_mb, "2048", 1, 1e7, 0,
          "cap on the round's updates kept for a robust rule or an attack (n x params x 4 B)"),

    K_STR("output.db", output.db, "\"\"",
          "SQLite results file; empty: results/<name>.db; no '..' components or control "
          "characters"),
    K_ENUM("output.client_events", output.client_events, "false", "false|true",
           "write the client_events table: one row per client phase (docs/metrics.md)"),
    {0},
};

/* Keys outside the table, with parsers of their own (see "Keys with a structure of their own"
 * below): they take part in did-you-mean and in the list of a section's keys. */
enum { SPECIAL_LAYERS = 0, SPECIAL_FREEZE = 1, SPECIAL_PARTIES = 2, N_SPECIAL = 3 };
static const char *const special_paths[N_SPECIAL] = {"model.layers", "model.freeze",
                                                     "vertical.parties"};

static const cfg_origin *special_origin(const cfg *c, int which)
{
    return which == SPECIAL_LAYERS   ? &c->model.layers_origin
           : which == SPECIAL_FREEZE ? &c->model.freeze_origin
                                     : &c->vertical.parties_origin;
}

static int special_index(const char *path)
{
    for (int i = 0; i < N_SPECIAL; i++)
        if (strcmp(path, special_paths[i]) == 0) return i;
    return -1;
}

/* Number of entries before the {NULL} terminator. */
static int key_count(void)
{
    int n = 0;
    while (cfg_keys[n].path) n++;
    return n;
}

int cfg_key_index(const char *path)
{
    for (int i = 0; cfg_keys[i].path; i++)
        if (strcmp(cfg_keys[i].path, path) == 0) return i;
    return -1;
}

/* True when path names a section: some key path is path + "." + more. */
static bool is_section(const char *path)
{
    size_t n = strlen(path);
    if (n == 0) return true;
    for (int i = 0; cfg_keys[i].path; i++)
        if (strncmp(cfg_keys[i].path, path, n) == 0 && cfg_keys[i].path[n] == '.') return true;
    return false;
}

static const char *last_component(const char *path)
{
    const char *dot = strrchr(path, '.');
    return dot ? dot + 1 : path;
}

/* ---------------------------------------------------------------------------------------------
 * Diagnostics
 * ------------------------------------------------------------------------------------------- */

static void diag_at(cfg_diag *d, const char *file, int line, int col)
{
    snprintf(d->file, sizeof d->file, "%s", file ? file : "scenario");
    d->line = line;
    d->col = col;
    d->msg[0] = d->hint[0] = '\0';
}

static void diag_msg(cfg_diag *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void diag_msg(cfg_diag *d, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(d->msg, sizeof d->msg, fmt, ap);
    va_end(ap);
}

static void diag_hint(cfg_diag *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void diag_hint(cfg_diag *d, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(d->hint, sizeof d->hint, fmt, ap);
    va_end(ap);
}

/* Append to the hint. */
static void hint_add(cfg_diag *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void hint_add(cfg_diag *d, const char *fmt, ...)
{
    size_t n = strlen(d->hint);
    if (n + 1 >= sizeof d->hint) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(d->hint + n, sizeof d->hint - n, fmt, ap);
    va_end(ap);
}

/* Record the finished diagnostic as the thread's error message too. */
static fs_err diag_done(const cfg_diag *d)
{
    if (d->line > 0) return fs_error(FS_EINPUT, "%s:%d:%d: %s", d->file, d->line, d->col, d->msg);
    return fs_error(FS_EINPUT, "%s: %s", d->file, d->msg);
}

void cfg_diag_print(const cfg_diag *d, FILE *out)
{
    if (d->line > 0)
        fprintf(out, "%s:%d:%d: error: %s\n", d->file, d->line, d->col, d->msg);
    else
        fprintf(out, "%s: error: %s\n", d->file, d->msg);
    if (d->hint[0]) fprintf(out, "  hint: %s\n", d->hint);
}

/* A bound as text: integers without exponent, others %g. */
static void fmt_num(char *buf, size_t n, double v)
{
    if (v == floor(v) && fabs(v) < 1e16)
        snprintf(buf, n, "%.0f", v);
    else
        snprintf(buf, n, "%g", v);
}

/* "1 ... 1000000", "0 (exclusive) ... 100". */
static void range_text(const cfg_key *k, char *buf, size_t n)
{
    char lo[32], hi[32];
    if (k->type == CFG_T_U64) {
        snprintf(buf, n, "0 ... %" PRIu64, UINT64_MAX);
        return;
    }
    fmt_num(lo, sizeof lo, k->min);
    fmt_num(hi, sizeof hi, k->max);
    snprintf(buf, n, "%s%s ... %s%s", lo, (k->open & CFG_OPEN_MIN) ? " (exclusive)" : "", hi,
             (k->open & CFG_OPEN_MAX) ? " (exclusive)" : "");
}

/* "a|b|c" -> "a, b, c". */
static void choices_text(const char *choices, char *buf, size_t n, const char *quote)
{
    size_t o = 0;
    buf[0] = '\0';
    for (const char *p = choices; *p && o + 1 < n;) {
        const char *bar = strchr(p, '|');
        size_t len = bar ? (size_t)(bar - p) : strlen(p);
        int w = snprintf(buf + o, n - o, "%s%s%.*s%s", o ? ", " : "", quote, (int)len, p, quote);
        if (w < 0) break;
        o += (size_t)w;
        if (o >= n) break;
        p += len + (bar ? 1 : 0);
    }
}

static const char *type_phrase(cfg_type t)
{
    switch (t) {
    case CFG_T_INT:
    case CFG_T_U64:
        return "an integer";
    case CFG_T_FLOAT:
        return "a number";
    case CFG_T_STRING:
        return "a string";
    case CFG_T_ENUM:
        return "one of the choices";
    case CFG_T_INTLIST:
        return "a list of integers";
    }
    return "a value";
}

/* The hint that names a key's type and allowed values. */
static void type_hint(cfg_diag *d, const cfg_key *k)
{
    char r[96], ch[256];
    switch (k->type) {
    case CFG_T_INT:
    case CFG_T_U64:
    case CFG_T_FLOAT:
        range_text(k, r, sizeof r);
        diag_hint(d, "%s is %s, allowed: %s", k->path, type_phrase(k->type), r);
        break;
    case CFG_T_STRING:
        diag_hint(d, "%s is a string of at most %zu characters", k->path, k->size - 1);
        break;
    case CFG_T_ENUM:
        choices_text(k->choices, ch, sizeof ch, "");
        diag_hint(d, "choices: %s", ch);
        break;
    case CFG_T_INTLIST:
        range_text(k, r, sizeof r);
        diag_hint(d, "%s is a list of at most %d integers like [200, 200], each %s", k->path,
                  CFG_LIST_MAX, r);
        break;
    }
}

/* ---------------------------------------------------------------------------------------------
 * Did-you-mean: optimal string alignment distance (Levenshtein plus adjacent transpositions,
 * so "alpah" is one edit from "alpha").
 * ------------------------------------------------------------------------------------------- */

static int osa_distance(const char *a, const char *b)
{
    enum { M = 128 };
    size_t n = strlen(a), m = strlen(b);
    if (n >= M || m >= M) return 1000;
    int dd[M][M];
    for (size_t i = 0; i <= n; i++) dd[i][0] = (int)i;
    for (size_t j = 0; j <= m; j++) dd[0][j] = (int)j;
    for (size_t i = 1; i <= n; i++) {
        for (size_t j = 1; j <= m; j++) {
            int cost = a[i - 1] != b[j - 1];
            int v = dd[i - 1][j] + 1;
            if (dd[i][j - 1] + 1 < v) v = dd[i][j - 1] + 1;
            if (dd[i - 1][j - 1] + cost < v) v = dd[i - 1][j - 1] + cost;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
                dd[i - 2][j - 2] + 1 < v)
                v = dd[i - 2][j - 2] + 1;
            dd[i][j] = v;
        }
    }
    return dd[n][m];
}

int cfg_edit_distance(const char *a, const char *b)
{
    return osa_distance(a, b);
}

/* Parent section of a path into buf ("" at top level). */
static void parent_of(const char *path, char *buf, size_t n)
{
    const char *dot = strrchr(path, '.');
    size_t len = dot ? (size_t)(dot - path) : 0;
    if (len >= n) len = n - 1;
    memcpy(buf, path, len);
    buf[len] = '\0';
}

/* Consider candidate path cand for typed path full (last component typed_last, section sec). */
static void suggest_consider(const char *full, const char *typed_last, const char *sec,
                             const char *cand, int *best_d, int *best_other, char *best,
                             size_t best_n)
{
    char csec[CFG_STR];
    parent_of(cand, csec, sizeof csec);
    int other = strcmp(csec, sec) != 0;
    int dist = osa_distance(full, cand);
    if (!other) {
        int dl = osa_distance(typed_last, last_component(cand));
        if (dl < dist) dist = dl;
    } else if (strcmp(typed_last, last_component(cand)) == 0 && dist > 1) {
        dist = 1; /* right name, wrong section */
    }
    int len = (int)strlen(typed_last);
    int thr = (len + 2) / 3;
    if (thr < 1) thr = 1;
    if (thr > 3) thr = 3;
    if (dist > thr) return;
    if (dist < *best_d || (dist == *best_d && other < *best_other)) {
        *best_d = dist;
        *best_other = other;
        snprintf(best, best_n, "%s", cand);
    }
}

/* Closest key or section path to an unknown full path; false if none is close. */
static bool suggest(const char *full, char *best, size_t best_n)
{
    char sec[CFG_STR];
    parent_of(full, sec, sizeof sec);
    const char *typed_last = last_component(full);
    int best_d = 1 << 30, best_other = 1;
    best[0] = '\0';
    for (int i = 0; cfg_keys[i].path; i++) {
        const char *p = cfg_keys[i].path;
        suggest_consider(full, typed_last, sec, p, &best_d, &best_other, best, best_n);
        /* Every section that is a prefix of this key. */
        for (const char *dot = strchr(p, '.'); dot; dot = strchr(dot + 1, '.')) {
            char s[CFG_STR];
            size_t len = (size_t)(dot - p);
            if (len >= sizeof s) break;
            memcpy(s, p, len);
            s[len] = '\0';
            suggest_consider(full, typed_last, sec, s, &best_d, &best_other, best, best_n);
        }
    }
    for (int i = 0; i < N_SPECIAL; i++)
        suggest_consider(full, typed_last, sec, special_paths[i], &best_d, &best_other, best,
                         best_n);
    return best[0] != '\0';
}

/* Hint listing the keys of a section (relative to it), or the top-level names. */
static void hint_section_keys(cfg_diag *d, const char *sec)
{
    size_t n = strlen(sec);
    if (n == 0) {
        diag_hint(d, "valid top-level keys: ");
        char seen[CFG_KEYS_MAX][40];
        int ns = 0;
        for (int i = 0; cfg_keys[i].path; i++) {
            const char *p = cfg_keys[i].path;
            const char *dot = strchr(p, '.');
            size_t len = dot ? (size_t)(dot - p) : strlen(p);
            if (len >= sizeof seen[0]) continue;
            bool dup = false;
            for (int j = 0; j < ns; j++)
                if (strlen(seen[j]) == len && strncmp(seen[j], p, len) == 0) dup = true;
            if (dup || ns >= CFG_KEYS_MAX) continue;
            memcpy(seen[ns], p, len);
            seen[ns][len] = '\0';
            hint_add(d, "%s%s", ns ? ", " : "", seen[ns]);
            ns++;
        }
        hint_add(d, ", sweep");
        return;
    }
    diag_hint(d, "valid keys in '%s': ", sec);
    int k = 0;
    for (int i = 0; cfg_keys[i].path; i++) {
        const char *p = cfg_keys[i].path;
        if (strncmp(p, sec, n) == 0 && p[n] == '.') hint_add(d, "%s%s", k++ ? ", " : "", p + n + 1);
    }
    for (int i = 0; i < N_SPECIAL; i++)
        if (strncmp(special_paths[i], sec, n) == 0 && special_paths[i][n] == '.')
            hint_add(d, "%s%s", k++ ? ", " : "", special_paths[i] + n + 1);
}

static fs_err unknown_key(cfg_diag *d, const char *full)
{
    char best[CFG_STR], sec[CFG_STR];
    diag_msg(d, "unknown key '%s'", full);
    if (suggest(full, best, sizeof best)) {
        diag_hint(d, "did you mean '%s'?", best);
    } else {
        parent_of(full, sec, sizeof sec);
        while (sec[0] && !is_section(sec)) parent_of(sec, sec, sizeof sec);
        hint_section_keys(d, sec);
    }
    return diag_done(d);
}

/* ---------------------------------------------------------------------------------------------
 * The positioned YAML tree is in ytree.c.
 * ------------------------------------------------------------------------------------------- */

static const char *yn_kind_phrase(const ynode *n)
{
    switch (n->kind) {
    case YN_MAP:
        return "a mapping";
    case YN_SEQ:
        return "a list";
    case YN_ALIAS:
        return "an alias";
    case YN_SCALAR:
        break;
    }
    return "a scalar";
}

/* ---------------------------------------------------------------------------------------------
 * Scalars -> typed values
 * ------------------------------------------------------------------------------------------- */

/* YAML 1.2 core-schema float syntax: [-+]? (\.[0-9]+ | [0-9]+(\.[0-9]*)?) ([eE][-+]?[0-9]+)?,
 * plus [-+]?.inf and .nan (which then fail every range check). */
static bool parse_float(const char *s, double *out)
{
    const char *p = s;
    int sign = 1;
    if (*p == '+' || *p == '-') sign = *p++ == '-' ? -1 : 1;
    if (strcmp(p, ".inf") == 0 || strcmp(p, ".Inf") == 0 || strcmp(p, ".INF") == 0) {
        *out = sign * INFINITY;
        return true;
    }
    if (p == s && (strcmp(p, ".nan") == 0 || strcmp(p, ".NaN") == 0 || strcmp(p, ".NAN") == 0)) {
        *out = NAN;
        return true;
    }
    int digits = 0;
    while (isdigit((unsigned char)*p)) p++, digits++;
    if (*p == '.') {
        p++;
        int frac = 0;
        while (isdigit((unsigned char)*p)) p++, frac++;
        if (digits == 0 && frac == 0) return false;
    } else if (digits == 0) {
        return false;
    }
    if (*p == 'e' || *p == 'E') {
        p++;
        if (*p == '+' || *p == '-') p++;
        if (!isdigit((unsigned char)*p)) return false;
        while (isdigit((unsigned char)*p)) p++;
    }
    if (*p) return false;
    errno = 0;
    *out = strtod(s, NULL); /* overflow gives +-HUGE_VAL: then out of range */
    return true;
}

/* YAML 1.2 core-schema integer ([-+]?[0-9]+, 0o[0-7]+, 0x[0-9a-fA-F]+), or a float literal with
 * an integral value (1e6). *out is exact up to 2^53 and +-inf on overflow. */
static bool parse_integer(const char *s, double *out)
{
    const char *p = s;
    int base = 10;
    bool neg = false;
    if (p[0] == '0' && p[1] == 'o') {
        base = 8;
        p += 2;
    } else if (p[0] == '0' && p[1] == 'x') {
        base = 16;
        p += 2;
    } else if (*p == '+' || *p == '-') {
        neg = *p++ == '-';
    }
    bool ok = *p != '\0';
    for (const char *q = p; *q && ok; q++)
        ok = base == 16 ? isxdigit((unsigned char)*q) : (*q >= '0' && *q < (base == 8 ? '8' : ':'));
    if (ok) {
        errno = 0;
        unsigned long long u = strtoull(p, NULL, base);
        *out = errno == ERANGE ? INFINITY : (double)u;
        if (neg) *out = -*out;
        return true;
    }
    double v;
    if (!parse_float(s, &v) || isnan(v)) return false;
    if (isfinite(v) && v != floor(v)) return false;
    *out = v;
    return true;
}

static bool in_range(const cfg_key *k, double v)
{
    bool lo = (k->open & CFG_OPEN_MIN) ? v > k->min : v >= k->min;
    bool hi = (k->open & CFG_OPEN_MAX) ? v < k->max : v <= k->max;
    return lo && hi;
}

/* ---------------------------------------------------------------------------------------------
 * Setting one key from a node
 * ------------------------------------------------------------------------------------------- */

typedef struct pctx {
    cfg *c;
    const char *file;
    int set_index; /* > 0: override number */
    int col_shift; /* added to node columns (overrides: offset of the value in the argument) */
    bool record;   /* record origins (not for defaults) */
    cfg_diag *d;
} pctx;

static void at_node(pctx *x, const ynode *n)
{
    diag_at(x->d, x->file, x->set_index > 0 ? x->set_index : n->line, n->col + x->col_shift);
}

static fs_err type_error(pctx *x, const cfg_key *k, const ynode *v)
{
    at_node(x, v);
    if (v->kind != YN_SCALAR)
        diag_msg(x->d, "%s must be %s, got %s", k->path, type_phrase(k->type), yn_kind_phrase(v));
    else if (yn_is_null(v))
        diag_msg(x->d, "%s must be %s, got an empty value", k->path, type_phrase(k->type));
    else if (!v->plain)
        diag_msg(x->d, "%s must be %s, got the quoted string '%s'", k->path, type_phrase(k->type),
                 v->text);
    else
        diag_msg(x->d, "%s must be %s, got '%s'", k->path, type_phrase(k->type), v->text);
    if (v->kind == YN_ALIAS)
        diag_hint(x->d, "aliases (*name) are not supported in scenarios: write the value out");
    else
        type_hint(x->d, k);
    if (v->kind == YN_SCALAR && !v->plain && k->type != CFG_T_INTLIST)
        hint_add(x->d, "; write numbers without quotes");
    return diag_done(x->d);
}

static fs_err range_error(pctx *x, const cfg_key *k, const ynode *v)
{
    char r[96];
    at_node(x, v);
    diag_msg(x->d, "%s = %s is out of range", k->path, v->text);
    range_text(k, r, sizeof r);
    diag_hint(x->d, "allowed: %s", r);
    return diag_done(x->d);
}

/* An int-typed scalar (also used for list elements). */
static fs_err scalar_int(pctx *x, const cfg_key *k, const ynode *v, int *out)
{
    double val;
    if (v->kind != YN_SCALAR || !v->plain || !parse_integer(v->text, &val))
        return type_error(x, k, v);
    if (!in_range(k, val)) return range_error(x, k, v);
    *out = (int)val;
    return FS_OK;
}

static fs_err set_u64(pctx *x, const cfg_key *k, const ynode *v, uint64_t *out)
{
    double val;
    if (v->kind != YN_SCALAR || !v->plain || !parse_integer(v->text, &val))
        return type_error(x, k, v);
    const char *p = v->text;
    int base = 10;
    if (p[0] == '0' && (p[1] == 'o' || p[1] == 'x')) {
        base = p[1] == 'o' ? 8 : 16;
        p += 2;
    } else if (*p == '+') {
        p++;
    }
    bool digits = *p != '\0';
    for (const char *q = p; *q; q++)
        if (!(base == 16 ? isxdigit((unsigned char)*q) : isdigit((unsigned char)*q)))
            digits = false;
    if (digits) { /* exact, all 64 bits */
        errno = 0;
        unsigned long long u = strtoull(p, NULL, base);
        if (errno == ERANGE) return range_error(x, k, v);
        *out = (uint64_t)u;
        return FS_OK;
    }
    if (!(val >= 0 && val < 18446744073709551616.0)) return range_error(x, k, v);
    *out = (uint64_t)val;
    return FS_OK;
}

static fs_err set_key(pctx *x, int ki, const ynode *key, const ynode *v)
{
    const cfg_key *k = &cfg_keys[ki];
    char *field = (char *)x->c + k->offset;
    fs_err rc = FS_OK;
    if (v->kind == YN_ALIAS) return type_error(x, k, v);
    switch (k->type) {
    case CFG_T_INT: {
        int iv = 0;
        if ((rc = scalar_int(x, k, v, &iv)) != FS_OK) return rc;
        memcpy(field, &iv, sizeof iv);
        break;
    }
    case CFG_T_U64: {
        uint64_t u = 0;
        if ((rc = set_u64(x, k, v, &u)) != FS_OK) return rc;
        memcpy(field, &u, sizeof u);
        break;
    }
    case CFG_T_FLOAT: {
        double f;
        if (v->kind != YN_SCALAR || !v->plain || !parse_float(v->text, &f))
            return type_error(x, k, v);
        if (!in_range(k, f)) return range_error(x, k, v);
        memcpy(field, &f, sizeof f);
        break;
    }
    case CFG_T_STRING:
    case CFG_T_ENUM: {
        if (v->kind != YN_SCALAR) return type_error(x, k, v);
        const char *s = yn_is_null(v) ? "" : v->text;
        size_t len = yn_is_null(v) ? 0 : v->len;
        if (k->type == CFG_T_ENUM) {
            bool found = false;
            size_t sl = strlen(s);
            for (const char *p = k->choices; *p && !found;) {
                const char *bar = strchr(p, '|');
                size_t cl = bar ? (size_t)(bar - p) : strlen(p);
                found = cl == sl && len == sl && strncmp(p, s, cl) == 0;
                p += cl + (bar ? 1 : 0);
            }
            if (!found) {
                char ch[256], best[64] = "";
                int bd = 1 << 30;
                at_node(x, v);
                if (len == 0)
                    diag_msg(x->d, "%s has no value", k->path);
                else
                    diag_msg(x->d, "%s = '%s' is not one of the choices", k->path, s);
                for (const char *p = k->choices; *p;) {
                    const char *bar = strchr(p, '|');
                    size_t cl = bar ? (size_t)(bar - p) : strlen(p);
                    char c1[64];
                    snprintf(c1, sizeof c1, "%.*s", (int)cl, p);
                    int dist = osa_distance(s, c1);
                    if (dist < bd) {
                        bd = dist;
                        snprintf(best, sizeof best, "%s", c1);
                    }
                    p += cl + (bar ? 1 : 0);
                }
                choices_text(k->choices, ch, sizeof ch, "");
                int thr = ((int)sl + 2) / 3;
                if (sl > 0 && bd <= (thr < 1 ? 1 : thr > 3 ? 3 : thr))
                    diag_hint(x->d, "did you mean '%s'? choices: %s", best, ch);
                else
                    diag_hint(x->d, "choices: %s", ch);
                return diag_done(x->d);
            }
        } else if (len != strlen(s) || len > (size_t)k->max || len >= k->size) {
            at_node(x, v);
            if (len != strlen(s)) {
                diag_msg(x->d, "%s contains a NUL character", k->path);
                diag_hint(x->d, "remove the \\0 escape");
            } else {
                diag_msg(x->d, "%s is too long (%zu characters)", k->path, len);
                diag_hint(x->d, "at most %zu characters", k->size - 1);
            }
            return diag_done(x->d);
        }
        memset(field, 0, k->size); /* no stale bytes after the NUL: cfgs compare with memcmp */
        memcpy(field, s, len);
        break;
    }
    case CFG_T_INTLIST: {
        cfg_int_list l = {0};
        if (v->kind != YN_SEQ) {
            rc = type_error(x, k, v);
            if (v->kind == YN_SCALAR && !yn_is_null(v))
                hint_add(x->d, " (write [%s] for one element)", v->text);
            return rc;
        }
        if (v->n > CFG_LIST_MAX) {
            at_node(x, v);
            diag_msg(x->d, "%s has %d elements, too many", k->path, v->n);
            diag_hint(x->d, "at most %d", CFG_LIST_MAX);
            return diag_done(x->d);
        }
        for (int i = 0; i < v->n; i++) {
            const ynode *e = v->kid[i];
            double val;
            if (e->kind != YN_SCALAR || !e->plain || !parse_integer(e->text, &val)) {
                at_node(x, e);
                if (e->kind != YN_SCALAR)
                    diag_msg(x->d, "%s[%d] must be an integer, got %s", k->path, i,
                             yn_kind_phrase(e));
                else
                    diag_msg(x->d, "%s[%d] must be an integer, got '%s'", k->path, i, e->text);
                type_hint(x->d, k);
                return diag_done(x->d);
            }
            if (!in_range(k, val)) {
                char r[96];
                at_node(x, e);
                diag_msg(x->d, "%s[%d] = %s is out of range", k->path, i, e->text);
                range_text(k, r, sizeof r);
                diag_hint(x->d, "allowed: %s", r);
                return diag_done(x->d);
            }
            l.v[l.n++] = (int)val;
        }
        memcpy(field, &l, sizeof l);
        break;
    }
    }
    if (x->record && ki < CFG_KEYS_MAX) {
        x->c->origin[ki].line = x->set_index > 0 ? x->set_index : key->line;
        x->c->origin[ki].col = key->col;
        x->c->origin[ki].set_index = x->set_index;
    }
    return FS_OK;
}

/* ---------------------------------------------------------------------------------------------
 * Keys with a structure of their own (not in cfg_keys): model.layers, a list of mappings (one
 * per layer, e.g. {type: conv2d, filters: 6, kernel: 5}), and model.freeze, a list of layer
 * names. Every error points at the entry or field at fault.
 * ------------------------------------------------------------------------------------------- */

/* Layer types and the fields each takes besides type and name. */
static const struct {
    const char *type;
    const char *fields; /* "units|filters|..." */
    const char *required;
} layer_types[] = {
    {"dense", "units", "units"},
    {"conv2d", "filters|kernel|stride|padding", "filters|kernel"},
    {"maxpool", "kernel|stride", "kernel"},
    {"avgpool", "kernel|stride", "kernel"},
    {"relu", "", ""},
    {"tanh", "", ""},
    {"sigmoid", "", ""},
    {"flatten", "", ""},
    {"dropout", "rate", "rate"},
    {"embedding", "units", "units"},
    {"lstm", "units", "units"},
};
static const char layer_fields[] = "type|name|units|filters|kernel|stride|padding|rate";

static bool in_bar_list(const char *list, const char *s)
{
    size_t n = strlen(s);
    for (const char *p = list; *p;) {
        const char *bar = strchr(p, '|');
        size_t len = bar ? (size_t)(bar - p) : strlen(p);
        if (len == n && strncmp(p, s, n) == 0) return true;
        p += len + (bar ? 1 : 0);
    }
    return false;
}

/* The closest word of a "|" list within the usual did-you-mean distance, or NULL. */
static const char *closest_in(const char *list, const char *s, char *buf, size_t cap)
{
    int best = 1 << 30;
    for (const char *p = list; *p;) {
        const char *bar = strchr(p, '|');
        size_t len = bar ? (size_t)(bar - p) : strlen(p);
        char w[64];
        snprintf(w, sizeof w, "%.*s", (int)len, p);
        int dist = osa_distance(s, w);
        if (dist < best) {
            best = dist;
            snprintf(buf, cap, "%s", w);
        }
        p += len + (bar ? 1 : 0);
    }
    int thr = ((int)strlen(s) + 2) / 3;
    return best <= (thr < 1 ? 1 : thr > 3 ? 3 : thr) ? buf : NULL;
}

static fs_err layer_error_at(pctx *x, const ynode *n, const char *hint, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static fs_err layer_error_at(pctx *x, const ynode *n, const char *hint, const char *fmt, ...)
{
    at_node(x, n);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(x->d->msg, sizeof x->d->msg, fmt, ap);
    va_end(ap);
    diag_hint(x->d, "%s", hint);
    return diag_done(x->d);
}

/* An integer field of entry i in [lo, hi]. */
static fs_err layer_int(pctx *x, int i, const char *field, const ynode *v, double lo, double hi,
                        int *out)
{
    double val;
    if (v->kind != YN_SCALAR || !v->plain || !parse_integer(v->text, &val))
        return layer_error_at(x, v, "write a whole number, e.g. 5",
                              "model.layers[%d].%s must be an integer, got %s%s%s", i, field,
                              v->kind == YN_SCALAR ? "'" : yn_kind_phrase(v),
                              v->kind == YN_SCALAR ? v->text : "", v->kind == YN_SCALAR ? "'" : "");
    if (val < lo || val > hi) {
        char h[96];
        snprintf(h, sizeof h, "allowed: %.0f ... %.0f", lo, hi);
        return layer_error_at(x, v, h, "model.layers[%d].%s = %s is out of range", i, field,
                              v->text);
    }
    *out = (int)val;
    return FS_OK;
}

static fs_err parse_layer(pctx *x, int i, const ynode *e, cfg_layer *l)
{
    memset(l, 0, sizeof *l);
    l->line = x->set_index > 0 ? x->set_index : e->line;
    l->col = e->col + x->col_shift;
    l->set_index = x->set_index;
    char types[256] = "", bars[256] = "", buf[64];
    for (size_t t = 0; t < sizeof layer_types / sizeof layer_types[0]; t++) {
        snprintf(types + strlen(types), sizeof types - strlen(types), "%s%s", t ? ", " : "",
                 layer_types[t].type);
        snprintf(bars + strlen(bars), sizeof bars - strlen(bars), "%s%s", t ? "|" : "",
                 layer_types[t].type);
    }
    const ynode *type = NULL;
    if (e->kind == YN_SCALAR && !yn_is_null(e)) {
        type = e; /* shorthand: "- relu" */
    } else if (e->kind != YN_MAP) {
        return layer_error_at(x, e,
                              "write each layer as a mapping, e.g. - {type: dense, units: 10}",
                              "model.layers[%d] must be a mapping, got %s", i,
                              yn_is_null(e) ? "an empty value" : yn_kind_phrase(e));
    } else {
        for (int k = 0; k + 1 < e->n; k += 2)
            if (e->kid[k]->kind == YN_SCALAR && strcmp(e->kid[k]->text, "type") == 0)
                type = e->kid[k + 1];
        if (!type) return layer_error_at(x, e, types, "model.layers[%d] has no type", i);
    }
    if (type->kind != YN_SCALAR || yn_is_null(type))
        return layer_error_at(x, type, types, "model.layers[%d].type must be a layer type", i);
    int ti = -1;
    for (size_t t = 0; t < sizeof layer_types / sizeof layer_types[0]; t++)
        if (strcmp(type->text, layer_types[t].type) == 0) ti = (int)t;
    if (ti < 0) {
        char h[320];
        const char *near = closest_in(bars, type->text, buf, sizeof buf);
        if (near)
            snprintf(h, sizeof h, "did you mean '%s'? types: %s", near, types);
        else
            snprintf(h, sizeof h, "types: %s", types);
        return layer_error_at(x, type, h, "model.layers[%d]: unknown layer type '%s'", i,
                              type->text);
    }
    snprintf(l->type, sizeof l->type, "%s", layer_types[ti].type);
    const char *fields = layer_types[ti].fields;
    for (int k = 0; e->kind == YN_MAP && k + 1 < e->n; k += 2) {
        const ynode *key = e->kid[k], *v = e->kid[k + 1];
        if (key->kind != YN_SCALAR)
            return layer_error_at(x, key, "fields are plain names like units or kernel",
                                  "model.layers[%d]: a field name must be a plain name", i);
        const char *f = key->text;
        for (int j = 0; j < k; j += 2)
            if (e->kid[j]->kind == YN_SCALAR && strcmp(e->kid[j]->text, f) == 0)
                return layer_error_at(x, key, "give each field once",
                                      "model.layers[%d]: duplicate field '%s'", i, f);
        if (strcmp(f, "type") == 0) continue;
        char h[256];
        if (!in_bar_list(layer_fields, f)) {
            const char *near = closest_in(layer_fields, f, buf, sizeof buf);
            if (near)
                snprintf(h, sizeof h, "did you mean '%s'?", near);
            else
                snprintf(h, sizeof h, "fields of %s: name%s%s", l->type, fields[0] ? "|" : "",
                         fields);
            return layer_error_at(x, key, h, "model.layers[%d]: unknown field '%s'", i, f);
        }
        if (strcmp(f, "name") != 0 && !in_bar_list(fields, f)) {
            snprintf(h, sizeof h, "fields of %s: name%s%s", l->type, fields[0] ? "|" : "", fields);
            return layer_error_at(x, key, h, "model.layers[%d]: a %s layer has no field '%s'", i,
                                  l->type, f);
        }
        fs_err rc = FS_OK;
        if (strcmp(f, "name") == 0) {
            if (v->kind != YN_SCALAR || yn_is_null(v) || v->len >= sizeof l->name ||
                strchr(v->text, ' ') || strchr(v->text, '/') || strchr(v->text, '='))
                return layer_error_at(x, v,
                                      "a name of 1 to 31 characters without spaces, '/' or '='",
                                      "model.layers[%d].name is not a valid layer name", i);
            snprintf(l->name, sizeof l->name, "%s", v->text);
            for (int j = 0; j < i; j++)
                if (strcmp(x->c->model.layers[j].name, l->name) == 0)
                    return layer_error_at(x, v, "layer names must be unique",
                                          "model.layers[%d]: name '%s' is already used by "
                                          "model.layers[%d]",
                                          i, l->name, j);
        } else if (strcmp(f, "units") == 0) {
            rc = layer_int(x, i, f, v, 1, 1e6, &l->units);
        } else if (strcmp(f, "filters") == 0) {
            rc = layer_int(x, i, f, v, 1, 65536, &l->filters);
        } else if (strcmp(f, "kernel") == 0) {
            rc = layer_int(x, i, f, v, 1, 1024, &l->kernel);
        } else if (strcmp(f, "stride") == 0) {
            rc = layer_int(x, i, f, v, 1, 1024, &l->stride);
        } else if (strcmp(f, "padding") == 0) {
            if (v->kind == YN_SCALAR && strcmp(v->text, "same") == 0)
                l->padding = -1;
            else if (v->kind == YN_SCALAR && strcmp(v->text, "valid") == 0)
                l->padding = 0;
            else
                rc = layer_int(x, i, f, v, 0, 1024, &l->padding);
        } else if (strcmp(f, "rate") == 0) {
            double r;
            if (v->kind != YN_SCALAR || !v->plain || !parse_float(v->text, &r) || !(r >= 0) ||
                !(r < 1))
                return layer_error_at(x, v, "a number in [0, 1), e.g. 0.5",
                                      "model.layers[%d].rate must be a probability below 1", i);
            l->rate = r;
        }
        if (rc) return rc;
    }
    /* required fields */
    const char *req = layer_types[ti].required;
    for (const char *p = req; *p;) {
        const char *bar = strchr(p, '|');
        size_t len = bar ? (size_t)(bar - p) : strlen(p);
        char f[32];
        snprintf(f, sizeof f, "%.*s", (int)len, p);
        bool have = false;
        for (int k = 0; e->kind == YN_MAP && k + 1 < e->n; k += 2)
            have |= e->kid[k]->kind == YN_SCALAR && strcmp(e->kid[k]->text, f) == 0;
        if (!have) {
            char h[256], need[64];
            snprintf(need, sizeof need, "%s", req);
            char *bar2 = strchr(need, '|');
            if (bar2) { /* "filters|kernel" -> "filters and kernel" (at most two) */
                memmove(bar2 + 5, bar2 + 1, strlen(bar2 + 1) + 1);
                memcpy(bar2, " and ", 5);
            }
            snprintf(h, sizeof h, "a %s layer needs %s, e.g. {type: %s, %s: %s}", l->type, need,
                     l->type, f, strcmp(f, "rate") == 0 ? "0.5" : "5");
            return layer_error_at(x, e, h, "model.layers[%d] (%s) has no %s", i, l->type, f);
        }
        p += len + (bar ? 1 : 0);
    }
    return FS_OK;
}

static fs_err set_special(pctx *x, int which, const ynode *key, const ynode *v)
{
    cfg *c = x->c;
    const char *path = special_paths[which];
    if (which == SPECIAL_PARTIES) { /* config/vertical.c */
        fs_err rc = cfg_vertical_parse_parties(c, v, x->file, x->set_index, x->col_shift, x->d);
        if (rc == FS_OK && x->record) {
            cfg_origin *o = &c->vertical.parties_origin;
            o->line = x->set_index > 0 ? x->set_index : key->line;
            o->col = key->col;
            o->set_index = x->set_index;
        }
        return rc;
    }
    if (v->kind != YN_SEQ) {
        at_node(x, v);
        diag_msg(x->d, "%s must be a list, got %s", path,
                 yn_is_null(v) ? "an empty value" : yn_kind_phrase(v));
        if (which == SPECIAL_LAYERS)
            diag_hint(x->d, "one entry per layer, e.g.\n    layers:\n      - {type: conv2d, "
                            "filters: 6, kernel: 5}\n      - {type: relu}");
        else
            diag_hint(x->d, "layer names, e.g. [conv2d1, dense1]: a layer's name, else its type "
                            "and number among the layers of that type (docs/models.md)");
        return diag_done(x->d);
    }
    if (v->n > CFG_LAYERS_MAX) {
        at_node(x, v);
        diag_msg(x->d, "%s has %d entries, too many", path, v->n);
        diag_hint(x->d, "at most %d", CFG_LAYERS_MAX);
        return diag_done(x->d);
    }
    if (which == SPECIAL_LAYERS) {
        c->model.n_layers = 0;
        for (int i = 0; i < v->n; i++) {
            fs_err rc = parse_layer(x, i, v->kid[i], &c->model.layers[i]);
            if (rc) return rc;
            c->model.n_layers = i + 1;
        }
    } else {
        c->model.n_freeze = 0;
        for (int i = 0; i < v->n; i++) {
            const ynode *e = v->kid[i];
            if (e->kind != YN_SCALAR || yn_is_null(e) || e->len >= CFG_LAYER_NAME) {
                at_node(x, e);
                diag_msg(x->d, "model.freeze[%d] must be a layer name", i);
                diag_hint(x->d, "layer names have 1 to %d characters", CFG_LAYER_NAME - 1);
                return diag_done(x->d);
            }
            snprintf(c->model.freeze[i], CFG_LAYER_NAME, "%s", e->text);
            c->model.n_freeze = i + 1;
        }
    }
    cfg_origin *o = which == SPECIAL_LAYERS ? &c->model.layers_origin : &c->model.freeze_origin;
    if (x->record) {
        o->line = x->set_index > 0 ? x->set_index : key->line;
        o->col = key->col;
        o->set_index = x->set_index;
    }
    return FS_OK;
}

/* ---------------------------------------------------------------------------------------------
 * Walking a scenario mapping
 * ------------------------------------------------------------------------------------------- */

static fs_err walk_map(pctx *x, const ynode *map, const char *prefix)
{
    for (int i = 0; i + 1 < map->n; i += 2) {
        const ynode *key = map->kid[i], *val = map->kid[i + 1];
        if (key->kind != YN_SCALAR || key->text[0] == '\0') {
            at_node(x, key);
            if (key->kind != YN_SCALAR)
                diag_msg(x->d, "a key must be a plain name, got %s", yn_kind_phrase(key));
            else
                diag_msg(x->d, "empty key");
            if (prefix[0])
                hint_section_keys(x->d, prefix);
            else
                hint_section_keys(x->d, "");
            return diag_done(x->d);
        }
        if (prefix[0] == '\0' && strcmp(key->text, "sweep") == 0) continue;
        char full[CFG_STR];
        int w = snprintf(full, sizeof full, "%s%s%s", prefix, prefix[0] ? "." : "", key->text);
        if (w < 0 || (size_t)w >= sizeof full) {
            at_node(x, key);
            return unknown_key(x->d, full);
        }
        for (int j = 0; j < i; j += 2) {
            const ynode *prev = map->kid[j];
            if (prev->kind == YN_SCALAR && strcmp(prev->text, key->text) == 0) {
                at_node(x, key);
                diag_msg(x->d, "duplicate key '%s'", full);
                diag_hint(x->d, "first given at line %d, column %d", prev->line, prev->col);
                return diag_done(x->d);
            }
        }
        int ki = cfg_key_index(full), si = special_index(full);
        fs_err rc;
        if (si >= 0) {
            const cfg_origin *o = special_origin(x->c, si);
            if (o->line > 0 && o->set_index == 0) {
                at_node(x, key);
                diag_msg(x->d, "duplicate key '%s'", full);
                diag_hint(x->d, "first given at line %d, column %d", o->line, o->col);
                return diag_done(x->d);
            }
            rc = set_special(x, si, key, val);
        } else if (ki >= 0) {
            const cfg_origin *o = &x->c->origin[ki];
            if (o->line > 0 && o->set_index == 0) { /* e.g. `train.lr:` and `train: {lr:}` */
                at_node(x, key);
                diag_msg(x->d, "duplicate key '%s'", full);
                diag_hint(x->d, "first given at line %d, column %d", o->line, o->col);
                return diag_done(x->d);
            }
            rc = set_key(x, ki, key, val);
        } else if (is_section(full)) {
            if (val->kind == YN_MAP) {
                rc = walk_map(x, val, full);
            } else if (yn_is_null(val)) {
                rc = FS_OK; /* an empty section */
            } else {
                at_node(x, val);
                diag_msg(x->d, "'%s' is a section, not a single value (got %s)", full,
                         val->kind == YN_SCALAR ? "a scalar" : yn_kind_phrase(val));
                hint_section_keys(x->d, full);
                rc = diag_done(x->d);
            }
        } else {
            at_node(x, key);
            rc = unknown_key(x->d, full);
        }
        if (rc != FS_OK) return rc;
    }
    return FS_OK;
}

static fs_err syntax_error(cfg_diag *d, const char *file, const yerr *e, int line, int col)
{
    diag_at(d, file, line, col);
    diag_msg(d, "%s", e->msg);
    if (strstr(e->msg, "tab"))
        diag_hint(d, "indent with spaces, not tabs");
    else if (strstr(e->msg, "second YAML document"))
        diag_hint(d, "one scenario per file; remove the '---' line");
    else if (strstr(e->msg, "binary data") || strstr(e->msg, "UTF-"))
        diag_hint(d, "a scenario is a YAML text file in UTF-8; is this the right file? (examples "
                     "in scenarios/)");
    else if (strstr(e->msg, "explicit '?' key"))
        diag_hint(d, "write 'key: value'; keys are plain names (docs/scenario.md)");
    else if (strstr(e->msg, "'%'"))
        diag_hint(d, "scenarios need no YAML directives: remove the line");
    else
        diag_hint(d, "check the YAML syntax here: indentation, brackets and quotes (quote a value "
                     "that contains ': ' or ' #')");
    return diag_done(d);
}

/* ---------------------------------------------------------------------------------------------
 * Public API
 * ------------------------------------------------------------------------------------------- */

/* Parse a one-value YAML text (a default or an override's value) and set key ki from it. */
static fs_err set_from_text(pctx *x, int ki, const char *text, const ynode *key)
{
    ynode *root = NULL;
    yerr e;
    fs_err rc = yaml_build(text, strlen(text), &root, &e);
    if (rc == FS_EINPUT)
        return syntax_error(x->d, x->file, &e, x->set_index > 0 ? x->set_index : e.line,
                            e.col + x->col_shift);
    if (rc != FS_OK) return rc;
    ynode empty = {.kind = YN_SCALAR, .line = 1, .col = 1, .plain = true, .text = (char[]){""}};
    rc = set_key(x, ki, key, root ? root : &empty);
    yn_free(root);
    return rc;
}

/* Set key ki from its default text without a YAML parser (0.7 ms per cfg for 48 parsers is
 * too slow for large sweeps). The table's defaults use three forms only: a plain scalar, "" and a
 * flow list of plain integers [a, b]; the values still go through set_key's type and range
 * checks, and test_config checks that YAML gives the same values. */
static fs_err set_default(pctx *x, int ki, const ynode *key)
{
    const char *def = cfg_keys[ki].def;
    char items[CFG_LIST_MAX][32];
    ynode item[CFG_LIST_MAX], *ptr[CFG_LIST_MAX];
    ynode v = {.kind = YN_SCALAR, .line = 1, .col = 1, .plain = true, .text = (char *)def};
    if (strcmp(def, "\"\"") == 0) {
        v.plain = false;
        v.text = (char *)"";
    } else if (def[0] == '[') {
        v.kind = YN_SEQ;
        v.text = NULL;
        v.kid = ptr;
        for (const char *p = def + 1; *p && *p != ']';) {
            while (*p == ' ' || *p == ',') p++;
            size_t n = strcspn(p, ", ]");
            if (n == 0) break;
            if (v.n == CFG_LIST_MAX || n >= sizeof items[0]) return FS_EINTERNAL;
            memcpy(items[v.n], p, n);
            items[v.n][n] = '\0';
            item[v.n] = (ynode){.kind = YN_SCALAR,
                                .line = 1,
                                .col = 1,
                                .plain = true,
                                .text = items[v.n],
                                .len = n};
            ptr[v.n] = &item[v.n];
            v.n++;
            p += n;
        }
    }
    if (v.text) v.len = strlen(v.text);
    return set_key(x, ki, key, &v);
}

void cfg_defaults(cfg *c)
{
    cfg_diag d;
    memset(c, 0, sizeof *c);
    pctx x = {.c = c, .file = "<default>", .d = &d};
    ynode key = {.kind = YN_SCALAR, .line = 0, .col = 0, .plain = true};
    FS_CHECK(key_count() <= CFG_KEYS_MAX);
    for (int i = 0; cfg_keys[i].path; i++) FS_CHECK(set_default(&x, i, &key) == FS_OK);
}

fs_err cfg_parse_text(const char *text, size_t len, const char *name, cfg *c, cfg_diag *d)
{
    cfg_diag scratch;
    if (!d) d = &scratch;
    memset(d, 0, sizeof *d);
    cfg_defaults(c);
    ynode *root = NULL;
    yerr e;
    fs_err rc = yaml_build(text, len, &root, &e);
    if (rc == FS_EINPUT) return syntax_error(d, name, &e, e.line, e.col);
    if (rc != FS_OK) return rc;
    pctx x = {.c = c, .file = name ? name : "scenario", .record = true, .d = d};
    if (!root || yn_is_null(root) || (root->kind == YN_MAP && root->n == 0)) {
        diag_at(d, x.file, root ? root->line : 1, root ? root->col : 1);
        diag_msg(d, "empty scenario: no keys (only comments, blank lines or '---')");
        hint_section_keys(d, "");
        rc = diag_done(d);
    } else if (root->kind != YN_MAP) {
        at_node(&x, root);
        diag_msg(d, "a scenario must be a mapping of keys, got %s", yn_kind_phrase(root));
        hint_section_keys(d, "");
        rc = diag_done(d);
    } else {
        rc = walk_map(&x, root, "");
    }
    yn_free(root);
    return rc;
}

fs_err cfg_apply_override(const char *kv, int index, cfg *c, cfg_diag *d)
{
    cfg_diag scratch;
    if (!d) d = &scratch;
    memset(d, 0, sizeof *d);
    const char *file = "--set";
    const char *eq = strchr(kv, '=');
    const char *ks = kv;
    while (*ks == ' ') ks++;
    const char *ke = eq ? eq : kv + strlen(kv);
    while (ke > ks && ke[-1] == ' ') ke--;
    int kcol = (int)(ks - kv) + 1;
    if (!eq || ke == ks) {
        diag_at(d, file, index, eq ? (int)(eq - kv) + 1 : kcol);
        if (!eq)
            diag_msg(d, "override '%s' has no '='", kv);
        else
            diag_msg(d, "override '%s' has no key before '='", kv);
        diag_hint(d, "write key.path=value, e.g. --set train.lr=0.1");
        return diag_done(d);
    }
    char key[CFG_STR];
    size_t kl = (size_t)(ke - ks);
    if (kl >= sizeof key) kl = sizeof key - 1;
    memcpy(key, ks, kl);
    key[kl] = '\0';
    int ki = cfg_key_index(key), si = special_index(key);
    if (si >= 0) { /* --set model.freeze=[conv2d1] or model.layers=[{type: ...}, ...] */
        pctx x = {.c = c,
                  .file = file,
                  .set_index = index,
                  .col_shift = (int)(eq - kv) + 1,
                  .record = true,
                  .d = d};
        ynode knode = {.kind = YN_SCALAR, .line = index, .col = kcol, .plain = true};
        ynode *root = NULL;
        yerr ye;
        fs_err rc = yaml_build(eq + 1, strlen(eq + 1), &root, &ye);
        if (rc == FS_EINPUT) return syntax_error(d, file, &ye, index, ye.col + x.col_shift);
        if (rc != FS_OK) return rc;
        ynode empty = {.kind = YN_SCALAR, .line = 1, .col = 1, .plain = true, .text = (char[]){""}};
        rc = set_special(&x, si, &knode, root ? root : &empty);
        yn_free(root);
        return rc;
    }
    if (ki < 0) {
        diag_at(d, file, index, kcol);
        if (is_section(key)) {
            diag_msg(d, "'%s' is a section, not a single value", key);
            hint_section_keys(d, key);
            return diag_done(d);
        }
        return unknown_key(d, key);
    }
    pctx x = {.c = c,
              .file = file,
              .set_index = index,
              .col_shift = (int)(eq - kv) + 1,
              .record = true,
              .d = d};
    ynode knode = {.kind = YN_SCALAR, .line = index, .col = kcol, .plain = true};
    return set_from_text(&x, ki, eq + 1, &knode);
}

void cfg_derive(cfg *c, const char *path)
{
    int ik = cfg_key_index("partition.kind"), ic = cfg_key_index("partition.clients");
    int ik2 = cfg_key_index("rounds.clients_per_round");
    if (c->name[0] == '\0' && path && path[0]) {
        const char *base = strrchr(path, '/');
        base = base ? base + 1 : path;
        size_t n = strlen(base);
        if (n > 5 && strcmp(base + n - 5, ".yaml") == 0)
            n -= 5;
        else if (n > 4 && strcmp(base + n - 4, ".yml") == 0)
            n -= 4;
        if (n > 63) n = 63;
        memcpy(c->name, base, n);
        c->name[n] = '\0';
        for (char *p = c->name; *p; p++) /* a file name may hold what a run name may not */
            if (!isalnum((unsigned char)*p) && *p != '_' && *p != '-' && *p != '.') *p = '_';
    }
    if (strcmp(c->data.dataset, "kjv") == 0) {
        if (c->origin[ik].line == 0)
            snprintf(c->partition.kind, sizeof c->partition.kind, "natural");
        if (c->origin[cfg_key_index("data.path")].line == 0)
            snprintf(c->data.path, sizeof c->data.path, "datasets/kjv.h5");
    }
    if (strcmp(c->data.dataset, "synthetic") == 0) {
        if (c->origin[ik].line == 0)
            snprintf(c->partition.kind, sizeof c->partition.kind, "natural");
        if (c->origin[ic].line == 0) c->partition.clients = c->data.synthetic_clients;
    }
    if (c->origin[ik2].line == 0 && c->rounds.clients_per_round > c->partition.clients)
        c->rounds.clients_per_round = c->partition.clients;
}

fs_err cfg_load(const char *path, const char *const *overrides, int n_overrides, cfg *c,
                cfg_diag *d, char **text_out)
{
    cfg_diag scratch;
    if (!d) d = &scratch;
    memset(d, 0, sizeof *d);
    if (text_out) *text_out = NULL;
    FILE *f = fopen(path, "rb");
    char *text = NULL;
    size_t len = 0;
    if (f) {
        size_t cap = 0;
        for (;;) {
            if (len + 4096 + 1 > cap) {
                size_t nc = cap ? 2 * cap : 8192;
                char *t = realloc(text, nc);
                if (!t) {
                    free(text);
                    fclose(f);
                    return fs_error(FS_ENOMEM, "out of memory reading %s", path);
                }
                text = t;
                cap = nc;
            }
            size_t r = fread(text + len, 1, cap - len - 1, f);
            len += r;
            if (r == 0) break;
        }
        bool bad = ferror(f);
        int err = errno;
        fclose(f);
        if (bad) {
            free(text);
            text = NULL;
            errno = err;
        } else {
            text[len] = '\0';
        }
    }
    if (!text) {
        diag_at(d, path, 0, 0);
        diag_msg(d, "cannot read the scenario: %s", strerror(errno));
        diag_hint(d, "check the path; ready-made scenarios are in scenarios/");
        return diag_done(d);
    }
    fs_err rc = cfg_parse_text(text, len, path, c, d);
    for (int i = 0; rc == FS_OK && i < n_overrides; i++)
        rc = cfg_apply_override(overrides[i], i + 1, c, d);
    if (rc == FS_OK) cfg_derive(c, path);
    if (rc == FS_OK && text_out)
        *text_out = text;
    else
        free(text);
    return rc;
}

/* Point d at key ki: where it was set, or the file with line 0. */
static void at_key(cfg_diag *d, const cfg *c, const char *file, const char *path)
{
    int ki = cfg_key_index(path);
    const cfg_origin *o = &c->origin[ki];
    if (o->set_index > 0)
        diag_at(d, "--set", o->set_index, o->col);
    else
        diag_at(d, file, o->line, o->line > 0 ? o->col : 0);
}

void cfg_diag_key(cfg_diag *d, const cfg *c, const char *file, const char *path)
{
    const cfg_origin *o = strcmp(path, "model.layers") == 0   ? &c->model.layers_origin
                          : strcmp(path, "model.freeze") == 0 ? &c->model.freeze_origin
                                                              : NULL;
    if (!o && cfg_key_index(path) >= 0) {
        at_key(d, c, file, path);
    } else if (o && o->set_index > 0) {
        diag_at(d, "--set", o->set_index, o->col);
    } else {
        diag_at(d, file, o ? o->line : 0, o && o->line > 0 ? o->col : 0);
    }
}

static bool explicit_key(const cfg *c, const char *path)
{
    return c->origin[cfg_key_index(path)].line > 0;
}

/* The privacy.* keys against the rest (docs/privacy.md says why each pair does not combine). */
static fs_err validate_privacy(const cfg *c, const char *file, cfg_diag *d)
{
    const char *mode = c->privacy.mode, *algo = c->algorithm.name;
    const bool dp = strcmp(mode, "none") != 0, sa = strcmp(c->privacy.secagg, "none") != 0;
    if ((dp || sa) && strcmp(c->protocol, "sync") != 0) {
        at_key(d, c, file, dp ? "privacy.mode" : "privacy.secagg");
        diag_msg(d, "%s needs protocol: sync", dp ? "privacy.mode" : "privacy.secagg");
        diag_hint(d, "the accountant and secure aggregation work round by round; FedBuff's "
                     "buffered steps are not covered");
        return diag_done(d);
    }
    if (dp && (strcmp(algo, "scaffold") == 0 || strcmp(algo, "fednova") == 0)) {
        at_key(d, c, file, "privacy.mode");
        diag_msg(d, "privacy.mode = %s does not support algorithm.name = %s", mode, algo);
        diag_hint(d, "its second upload (SCAFFOLD's control variate, FedNova's step count) would "
                     "need its own clipping and noise: use fedavg, fedprox, fedsgd, feddyn or a "
                     "FedOpt server");
        return diag_done(d);
    }
    if (strcmp(mode, "central") == 0 && strcmp(c->privacy.weighting, "samples") == 0 &&
        strcmp(algo, "feddyn") == 0) {
        at_key(d, c, file, "privacy.weighting");
        diag_msg(d, "privacy.weighting = samples does not apply to feddyn (its weights are 1)");
        diag_hint(d, "use privacy.weighting: uniform");
        return diag_done(d);
    }
    if (strcmp(c->privacy.adaptive_clip, "true") == 0 && strcmp(mode, "central") != 0) {
        at_key(d, c, file, "privacy.adaptive_clip");
        diag_msg(d, "privacy.adaptive_clip needs privacy.mode = central (it is %s)", mode);
        diag_hint(d, "adaptive clipping (Andrew et al. 2021) is a server-side estimate");
        return diag_done(d);
    }
    if (c->privacy.target_epsilon > 0 && !dp) {
        at_key(d, c, file, "privacy.target_epsilon");
        diag_msg(d, "privacy.target_epsilon is set but privacy.mode = none");
        diag_hint(d, "set privacy.mode: central (or local)");
        return diag_done(d);
    }
    if (sa && strcmp(algo, "fednova") == 0) {
        at_key(d, c, file, "privacy.secagg");
        diag_msg(d, "privacy.secagg does not support algorithm.name = fednova");
        diag_hint(d, "FedNova's per-client step count has no bound to encode it with");
        return diag_done(d);
    }
    const int m = strcmp(c->privacy.sampling, "poisson") == 0 ||
                          (strcmp(c->privacy.sampling, "auto") == 0 && strcmp(mode, "central") == 0)
                      ? c->rounds.clients_per_round
                      : (int)ceil(c->rounds.clients_per_round * (1.0 + c->rounds.overcommit));
    if (strcmp(c->privacy.secagg, "secagg") == 0 && m > 1000) {
        at_key(d, c, file, "privacy.secagg");
        diag_msg(d,
                 "privacy.secagg = secagg with up to %d clients per round: the complete graph "
                 "supports at most 1000",
                 m);
        diag_hint(d, "use privacy.secagg: secagg_plus (Bell et al. 2020: log n neighbours)");
        return diag_done(d);
    }
    /* a count threshold above the share holders of a full round (engine/priv.c's choice of k)
     * failed only in round 1, after the run row was written */
    const double thr = c->privacy.secagg_threshold;
    if (sa && thr >= 1 && strcmp(c->privacy.secagg, "paillier") != 0) {
        int k = 0;
        if (strcmp(c->privacy.secagg, "secagg_plus") == 0) {
            k = c->privacy.secagg_neighbours > 0 ? c->privacy.secagg_neighbours : sa_plus_degree(m);
            k += k & 1;
            if (k >= m - 1) k = 0;
        }
        const int holders = k ? k + 1 : m;
        if ((int)thr > holders) {
            at_key(d, c, file, "privacy.secagg_threshold");
            diag_msg(d,
                     "privacy.secagg_threshold = %g exceeds the %d share holders of each client "
                     "(%s, up to %d clients per round)",
                     thr, holders, k ? "secagg_plus: k + 1" : "the complete graph", m);
            diag_hint(d, "use at most %d, a fraction in (0, 1), or 0 for the default", holders);
            return diag_done(d);
        }
    }
    if (strcmp(c->privacy.secagg, "paillier") == 0 && c->privacy.paillier_bits % 2) {
        at_key(d, c, file, "privacy.paillier_bits");
        diag_msg(d, "privacy.paillier_bits = %d is odd: |p| = |q| = |n|/2",
                 c->privacy.paillier_bits);
        diag_hint(d, "use 2048, 3072 or another even size");
        return diag_done(d);
    }
    if (sa && c->privacy.secagg_scale_bits > 0 && c->privacy.secagg_clip > 0 &&
        (double)m * ceil(c->privacy.secagg_clip * ldexp(1.0, c->privacy.secagg_scale_bits)) >
            2147483647.0) {
        at_key(d, c, file, "privacy.secagg_scale_bits");
        diag_msg(d, "%d clients x secagg_clip %g x 2^%d exceeds 2^31: the secure sum would wrap", m,
                 c->privacy.secagg_clip, c->privacy.secagg_scale_bits);
        diag_hint(d, "lower privacy.secagg_scale_bits or privacy.secagg_clip");
        return diag_done(d);
    }
    return FS_OK;
}

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

/* The adversary.* and aggregation.* keys against the rest (docs/robustness.md). */
static fs_err validate_robust(const cfg *c, const char *file, cfg_diag *d)
{
    if (!cfg_robust_wanted(c)) return FS_OK;
    const char *rule = c->aggregation.rule, *atk = c->adversary.attack, *algo = c->algorithm.name;
    const bool attack = strcmp(atk, "none") != 0, robust = strcmp(rule, "mean") != 0;
    const char *key = robust ? "aggregation.rule" : "adversary.attack";
    if (strcmp(c->privacy.secagg, "none") != 0 || strcmp(c->privacy.mode, "none") != 0) {
        const bool sa = strcmp(c->privacy.secagg, "none") != 0;
        at_key(d, c, file, key);
        diag_msg(d, "%s = %s cannot be combined with privacy.%s = %s", key, robust ? rule : atk,
                 sa ? "secagg" : "mode", sa ? c->privacy.secagg : c->privacy.mode);
        diag_hint(d, sa ? "secure aggregation hides the individual updates a robust rule or an "
                          "omniscient attack needs; use privacy.secagg: none"
                        : "DP noise is calibrated to the plain sum's sensitivity; use "
                          "privacy.mode: none (or norm_bound's weak DP, aggregation.noise)");
        return diag_done(d);
    }
    if (strcmp(c->protocol, "sync") != 0) {
        at_key(d, c, file, key);
        diag_msg(d, "%s needs protocol: sync", key);
        diag_hint(d, "robust rules and attacks work on a round's updates; FedBuff's buffered steps "
                     "are not covered");
        return diag_done(d);
    }
    if (strcmp(algo, "scaffold") == 0 || strcmp(algo, "fednova") == 0) {
        at_key(d, c, file, key);
        diag_msg(d, "%s does not support algorithm.name = %s", key, algo);
        diag_hint(d, "its second upload (SCAFFOLD's control variate, FedNova's step count) has "
                     "no robust counterpart here: use fedavg, fedprox, fedsgd, feddyn or a FedOpt "
                     "server");
        return diag_done(d);
    }
    if (c->adversary.count > c->partition.clients) {
        at_key(d, c, file, "adversary.count");
        diag_msg(d, "adversary.count = %d exceeds partition.clients = %d", c->adversary.count,
                 c->partition.clients);
        diag_hint(d, "malicious clients are chosen from the population");
        return diag_done(d);
    }
    if (attack && c->adversary.count == 0 && c->adversary.fraction == 0) {
        at_key(d, c, file, "adversary.attack");
        diag_msg(d, "adversary.attack = %s but no client is malicious", atk);
        diag_hint(d, "set adversary.fraction (e.g. 0.2) or adversary.count");
        return diag_done(d);
    }
    if (strcmp(atk, "backdoor") == 0 || strcmp(atk, "label_flip") == 0) {
        const bool syn = strcmp(c->data.dataset, "synthetic") == 0;
        if (strcmp(c->data.dataset, "kjv") == 0 || (syn && strcmp(atk, "backdoor") == 0)) {
            at_key(d, c, file, "adversary.attack");
            diag_msg(d, "adversary.attack = %s needs %s; data.dataset = %s is not", atk,
                     strcmp(atk, "backdoor") == 0 ? "images" : "a classification task",
                     c->data.dataset);
            diag_hint(d, "use data.dataset: fashion-mnist (or an image dataset file)");
            return diag_done(d);
        }
        const int classes = strcmp(c->data.dataset, "fashion-mnist") == 0 ? 10
                            : syn ? c->data.synthetic_classes
                                  : 0;
        if (strcmp(atk, "backdoor") == 0 && classes > 0 && c->adversary.target >= classes) {
            at_key(d, c, file, "adversary.target");
            diag_msg(d, "adversary.target = %d is not a class of %s (0 .. %d)", c->adversary.target,
                     c->data.dataset, classes - 1);
            diag_hint(d, "the backdoor's target label must be one of the dataset's classes");
            return diag_done(d);
        }
    }
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
        at_key(d, c, file, given ? "aggregation.f" : "aggregation.rule");
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
        at_key(d, c, file, "aggregation.m");
        diag_msg(d, "aggregation.m = %d exceeds the %d updates per round", c->aggregation.m, n);
        diag_hint(d, "Multi-Krum averages m of the round's updates");
        return diag_done(d);
    }
    return FS_OK;
}

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

fs_err cfg_validate(const cfg *c, const char *file, cfg_diag *d)
{
    cfg_diag scratch;
    if (!d) d = &scratch;
    memset(d, 0, sizeof *d);
    bool synthetic = strcmp(c->data.dataset, "synthetic") == 0;
    if (c->name[0] == '\0') {
        at_key(d, c, file, "name");
        diag_msg(d, "name is empty");
        diag_hint(d, "add 'name: my_study' to the scenario (it names results/<name>.db)");
        return diag_done(d);
    }
    if (!name_ok(c->name)) {
        at_key(d, c, file, "name");
        diag_msg(d, "name '%s' is not a valid name", c->name);
        diag_hint(d, "letters, digits, '_', '-' and '.', at most 63: it names results/<name>.db "
                     "and the checkpoints, which must stay inside results/");
        return diag_done(d);
    }
    static const char *const paths[] = {"output.db", "checkpoint.dir", "algorithm.state_dir"};
    for (size_t i = 0; i < sizeof paths / sizeof *paths; i++) {
        const cfg_key *k = &cfg_keys[cfg_key_index(paths[i])];
        const char *v = (const char *)c + k->offset;
        const char *why = path_unsafe(v);
        if (why) {
            at_key(d, c, file, paths[i]);
            diag_msg(d, "%s %s", paths[i], why);
            diag_hint(d, "an explicit output path may be absolute or relative, but without "
                         "control characters or '..' components (docs/scenario.md)");
            return diag_done(d);
        }
    }
    if (synthetic && strcmp(c->partition.kind, "natural") != 0) {
        at_key(d, c, file, "partition.kind");
        diag_msg(d, "partition.kind = %s cannot be used with data.dataset = synthetic",
                 c->partition.kind);
        diag_hint(d, "synthetic(alpha, beta) data comes in natural clients: use partition.kind: "
                     "natural (or leave it out)");
        return diag_done(d);
    }
    if (synthetic && c->partition.clients != c->data.synthetic_clients) {
        at_key(d, c, file, "partition.clients");
        diag_msg(d, "partition.clients = %d but data.synthetic_clients = %d", c->partition.clients,
                 c->data.synthetic_clients);
        diag_hint(d, "with data.dataset = synthetic the clients are the generator's; set "
                     "data.synthetic_clients and leave partition.clients out");
        return diag_done(d);
    }
    if (!synthetic && strcmp(c->partition.kind, "natural") == 0 &&
        strcmp(c->data.dataset, "fashion-mnist") == 0) {
        at_key(d, c, file, "partition.kind");
        diag_msg(d, "partition.kind = natural needs a dataset with natural clients");
        diag_hint(d, "fashion-mnist has none: use iid, dirichlet, shards, labels or quantity, or "
                     "data.dataset: kjv, synthetic or file");
        return diag_done(d);
    }
    if (!synthetic && c->data.path[0] == '\0') {
        at_key(d, c, file, "data.path");
        diag_msg(d, "data.path is empty but data.dataset = %s reads a file", c->data.dataset);
        diag_hint(d, "set data.path to an HDF5 dataset, e.g. datasets/fashion-mnist.h5");
        return diag_done(d);
    }
    if (c->rounds.clients_per_round > c->partition.clients) {
        at_key(d, c, file, "rounds.clients_per_round");
        diag_msg(d, "rounds.clients_per_round = %d exceeds partition.clients = %d",
                 c->rounds.clients_per_round, c->partition.clients);
        diag_hint(d, "a round cannot aggregate more clients than exist");
        return diag_done(d);
    }
    if (c->train.steps == 0 && c->train.epochs < 1) {
        at_key(d, c, file, explicit_key(c, "train.epochs") ? "train.epochs" : "train.steps");
        diag_msg(d, "train.epochs = 0 with train.steps = 0: clients would not train");
        diag_hint(d, "set train.epochs >= 1, or train.steps >= 1 (steps take precedence)");
        return diag_done(d);
    }
    if (strcmp(c->model.name, "mlp") == 0 && c->model.hidden.n == 0) {
        at_key(d, c, file, "model.hidden");
        diag_msg(d, "model.hidden is empty but model.name = mlp");
        diag_hint(d, "give at least one hidden width, e.g. [200, 200], or use model.name: logreg");
        return diag_done(d);
    }
    bool custom = strcmp(c->model.name, "custom") == 0;
    if (custom && c->model.n_layers == 0) {
        at_key(d, c, file, "model.name");
        diag_msg(d, "model.name = custom but model.layers is not given");
        diag_hint(d, "list the layers, e.g. layers: [{type: flatten}, {type: dense, units: 10}] "
                     "(docs/models.md)");
        return diag_done(d);
    }
    if (!custom && c->model.n_layers > 0) {
        const cfg_origin *o = &c->model.layers_origin;
        diag_at(d, o->set_index > 0 ? "--set" : file, o->line, o->col);
        diag_msg(d, "model.layers is given but model.name = %s", c->model.name);
        diag_hint(d, "set model.name: custom to train the layers of model.layers");
        return diag_done(d);
    }
    if (strcmp(c->model.name, "char_lstm") == 0 && c->model.lstm_units.n == 0) {
        at_key(d, c, file, "model.lstm_units");
        diag_msg(d, "model.lstm_units is empty but model.name = char_lstm");
        diag_hint(d, "give at least one LSTM width, e.g. [256, 256]");
        return diag_done(d);
    }
    if (strcmp(c->train.nesterov, "true") == 0 && c->train.momentum == 0) {
        at_key(d, c, file, "train.nesterov");
        diag_msg(d, "train.nesterov = true needs train.momentum > 0");
        diag_hint(d, "set train.momentum, e.g. 0.9 (as torch.optim.SGD requires)");
        return diag_done(d);
    }
    if (strcmp(c->train.optimizer_state, "per_client") == 0 &&
        (strcmp(c->protocol, "async") == 0 || strcmp(c->algorithm.name, "fednova") == 0)) {
        at_key(d, c, file, "train.optimizer_state");
        if (strcmp(c->protocol, "async") == 0) {
            diag_msg(d, "train.optimizer_state = per_client needs protocol: sync");
            diag_hint(d, "FedBuff trains clients whose updates may later be discarded as stale; "
                         "use train.optimizer_state: reset with protocol: async");
        } else {
            diag_msg(d, "train.optimizer_state = per_client does not support algorithm.name = "
                        "fednova");
            diag_hint(d, "FedNova's normalisation ||a_i||_1 assumes each local run starts with a "
                         "fresh momentum buffer: use train.optimizer_state: reset");
        }
        return diag_done(d);
    }
    fs_err e = validate_privacy(c, file, d);
    if (!e) e = validate_robust(c, file, d);
    if (!e) e = cfg_personal_validate(c, file, d);
    return e ? e : cfg_vertical_validate(c, file, d);
}

/* ---------------------------------------------------------------------------------------------
 * Renderings
 * ------------------------------------------------------------------------------------------- */

static void json_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(f, "\\%c", *p);
        else if (*p == '\n')
            fputs("\\n", f);
        else if (*p == '\t')
            fputs("\\t", f);
        else if (*p < 0x20)
            fprintf(f, "\\u%04x", *p);
        else
            fputc(*p, f);
    }
    fputc('"', f);
}

/* Does key k hold the same value in a and b? */
static bool key_equal(const cfg_key *k, const cfg *a, const cfg *b)
{
    const char *x = (const char *)a + k->offset, *y = (const char *)b + k->offset;
    switch (k->type) {
    case CFG_T_INT:
        return memcmp(x, y, sizeof(int)) == 0;
    case CFG_T_U64:
        return memcmp(x, y, sizeof(uint64_t)) == 0;
    case CFG_T_FLOAT:
        return memcmp(x, y, sizeof(double)) == 0;
    case CFG_T_STRING:
    case CFG_T_ENUM:
        return strcmp(x, y) == 0;
    case CFG_T_INTLIST: {
        const cfg_int_list *l = (const cfg_int_list *)(const void *)x;
        const cfg_int_list *m = (const cfg_int_list *)(const void *)y;
        return l->n == m->n && memcmp(l->v, m->v, (size_t)l->n * sizeof(int)) == 0;
    }
    }
    return false;
}

char *cfg_to_json(const cfg *c)
{
    return cfg_to_json_diff(c, NULL);
}

char *cfg_to_json_diff(const cfg *c, const cfg *base)
{
    char *buf = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&buf, &size);
    if (!f) {
        fs_error(FS_ENOMEM, "cannot open a memory stream for the JSON");
        return NULL;
    }
    fputc('{', f);
    int written = 0;
    for (int i = 0; cfg_keys[i].path; i++) {
        const cfg_key *k = &cfg_keys[i];
        const char *field = (const char *)c + k->offset;
        if (base && key_equal(k, c, base)) continue;
        if (written++) fputs(", ", f);
        json_string(f, k->path);
        fputs(": ", f);
        switch (k->type) {
        case CFG_T_INT: {
            int v;
            memcpy(&v, field, sizeof v);
            fprintf(f, "%d", v);
            break;
        }
        case CFG_T_U64: {
            uint64_t v;
            memcpy(&v, field, sizeof v);
            fprintf(f, "%" PRIu64, v);
            break;
        }
        case CFG_T_FLOAT: {
            double v;
            memcpy(&v, field, sizeof v);
            if (isfinite(v))
                fprintf(f, "%.17g", v);
            else
                fputs("null", f);
            break;
        }
        case CFG_T_STRING:
        case CFG_T_ENUM:
            json_string(f, field);
            break;
        case CFG_T_INTLIST: {
            const cfg_int_list *l = (const cfg_int_list *)(const void *)field;
            fputc('[', f);
            for (int j = 0; j < l->n; j++) fprintf(f, "%s%d", j ? ", " : "", l->v[j]);
            fputc(']', f);
            break;
        }
        }
    }
    if (c->model.n_layers > 0) { /* only when given: run keys of other scenarios unchanged */
        fputs(written++ ? ", \"model.layers\": [" : "\"model.layers\": [", f);
        for (int i = 0; i < c->model.n_layers; i++) {
            const cfg_layer *l = &c->model.layers[i];
            fprintf(f, "%s{\"type\": ", i ? ", " : "");
            json_string(f, l->type);
            if (l->name[0]) {
                fputs(", \"name\": ", f);
                json_string(f, l->name);
            }
            const char *nm[5] = {"units", "filters", "kernel", "stride", "padding"};
            const int v[5] = {l->units, l->filters, l->kernel, l->stride, l->padding};
            for (int k = 0; k < 5; k++)
                if (v[k]) fprintf(f, ", \"%s\": %d", nm[k], v[k]);
            if (l->rate > 0) fprintf(f, ", \"rate\": %.17g", l->rate);
            fputc('}', f);
        }
        fputc(']', f);
    }
    if (c->vertical.n_parties > 0) {
        fputs(written++ ? ", " : "", f);
        cfg_vertical_json(f, c);
    }
    if (c->model.n_freeze > 0) {
        fputs(written++ ? ", \"model.freeze\": [" : "\"model.freeze\": [", f);
        for (int i = 0; i < c->model.n_freeze; i++) {
            if (i) fputs(", ", f);
            json_string(f, c->model.freeze[i]);
        }
        fputc(']', f);
    }
    fputc('}', f);
    if (fclose(f) != 0) {
        free(buf);
        fs_error(FS_ENOMEM, "cannot write the JSON");
        return NULL;
    }
    return buf;
}

static const char *type_name(cfg_type t)
{
    switch (t) {
    case CFG_T_INT:
        return "integer";
    case CFG_T_U64:
        return "integer (64-bit)";
    case CFG_T_FLOAT:
        return "number";
    case CFG_T_STRING:
        return "string";
    case CFG_T_ENUM:
        return "choice";
    case CFG_T_INTLIST:
        return "integer list";
    }
    return "?";
}

void cfg_print_markdown(FILE *out)
{
    fprintf(out, "# Scenario keys\n\n"
                 "Generated from the key table in sim/config/config.c (cfg_print_markdown); "
                 "do not edit by hand.\n"
                 "Nested mappings give the dotted paths (`train: {lr: 0.1}` sets `train.lr`); "
                 "`--set key.path=value` overrides one key. A top-level `sweep` section is read "
                 "by `fedsim sweep`.\n");
    char section[CFG_STR] = "\x01";
    for (int i = 0; cfg_keys[i].path; i++) {
        const cfg_key *k = &cfg_keys[i];
        char sec[CFG_STR];
        const char *dot = strchr(k->path, '.');
        size_t len = dot ? (size_t)(dot - k->path) : 0;
        memcpy(sec, k->path, len);
        sec[len] = '\0';
        if (strcmp(sec, section) != 0) {
            snprintf(section, sizeof section, "%s", sec);
            fprintf(out,
                    "\n## %s\n\n| key | type | default | allowed | description |\n"
                    "| --- | --- | --- | --- | --- |\n",
                    sec[0] ? sec : "general");
        }
        char allowed[320];
        switch (k->type) {
        case CFG_T_INT:
        case CFG_T_U64:
        case CFG_T_FLOAT:
            range_text(k, allowed, sizeof allowed);
            break;
        case CFG_T_STRING:
            snprintf(allowed, sizeof allowed, "up to %zu characters", k->size - 1);
            break;
        case CFG_T_ENUM:
            choices_text(k->choices, allowed, sizeof allowed, "`");
            break;
        case CFG_T_INTLIST: {
            char r[96];
            range_text(k, r, sizeof r);
            snprintf(allowed, sizeof allowed, "up to %d values, each %s", CFG_LIST_MAX, r);
            break;
        }
        }
        fprintf(out, "| `%s` | %s | `%s` | %s | %s |\n", k->path, type_name(k->type), k->def,
                allowed, k->doc);
        if (strcmp(sec, "model") == 0 &&
            (!cfg_keys[i + 1].path || strncmp(cfg_keys[i + 1].path, "model.", 6) != 0)) {
            fprintf(out,
                    "| `model.layers` | list of layers | `[]` | up to %d entries, each "
                    "`{type: T, name: N, ...}` with T one of dense, conv2d, maxpool, "
                    "avgpool, relu, tanh, sigmoid, flatten, dropout, embedding, lstm and "
                    "the fields units, filters, kernel, stride, padding (a number or "
                    "`same`), rate that T takes | custom: the model layer by layer "
                    "(docs/models.md) |\n",
                    CFG_LAYERS_MAX);
            fprintf(out,
                    "| `model.freeze` | list of layer names | `[]` | up to %d names | "
                    "layers kept fixed during local training and left out of the upload "
                    "(e.g. after model.init_from) |\n",
                    CFG_LAYERS_MAX);
        }
        if (strcmp(sec, "vertical") == 0 &&
            (!cfg_keys[i + 1].path || strncmp(cfg_keys[i + 1].path, "vertical.", 9) != 0))
            cfg_vertical_markdown(out);
    }
}
