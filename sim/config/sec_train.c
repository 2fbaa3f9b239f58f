/* Local training and the server loop: the train.*, algorithm.*, rounds.*, protocol, federation
 * and async.* keys (docs/algorithms.md, docs/systems.md) and their checks. What depends on the
 * algorithm's properties (which uploads it makes, its weights) is checked by the engine against
 * the algorithm table (engine/check_algo.c): this file names no algorithm. */
#include "config/config_int.h"

#include <string.h>

const cfg_key cfg_keys_train[] = {
    K_INT("train.epochs", train.epochs, "5", 0, 10000, "local epochs per round (when steps is 0)"),
    K_INT("train.steps", train.steps, "0", 0, CFG_BIG,
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
    {0},
};

const cfg_key cfg_keys_algorithm[] = {
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
    {0},
};

const cfg_key cfg_keys_rounds[] = {
    K_INT("rounds.count", rounds.count, "50", 1, CFG_BIG, "number of rounds"),
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
    {0},
};

const cfg_key cfg_keys_protocol[] = {
    K_ENUM("protocol", protocol, "sync", "sync|async",
           "server protocol: synchronous rounds, or asynchronous FedBuff (Nguyen et al. 2022)"),
    K_ENUM("federation", federation, "horizontal", "horizontal|vertical",
           "horizontal: clients hold samples (everything above); vertical: a few parties hold "
           "feature columns of the same samples (the vertical.* keys, docs/vertical.md)"),
    {0},
};

const cfg_key cfg_keys_async[] = {
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
    {0},
};

fs_err cfg_check_train(const cfg *c, const char *file, cfg_diag *d)
{
    if (c->train.steps == 0 && c->train.epochs < 1) {
        diag_at_key(d, c, file, cfg_explicit(c, "train.epochs") ? "train.epochs" : "train.steps");
        diag_msg(d, "train.epochs = 0 with train.steps = 0: clients would not train");
        diag_hint(d, "set train.epochs >= 1, or train.steps >= 1 (steps take precedence)");
        return diag_done(d);
    }
    if (strcmp(c->train.nesterov, "true") == 0 && c->train.momentum == 0) {
        diag_at_key(d, c, file, "train.nesterov");
        diag_msg(d, "train.nesterov = true needs train.momentum > 0");
        diag_hint(d, "set train.momentum, e.g. 0.9 (as torch.optim.SGD requires)");
        return diag_done(d);
    }
    if (strcmp(c->train.optimizer_state, "per_client") == 0 && strcmp(c->protocol, "async") == 0) {
        diag_at_key(d, c, file, "train.optimizer_state");
        diag_msg(d, "train.optimizer_state = per_client needs protocol: sync");
        diag_hint(d, "FedBuff trains clients whose updates may later be discarded as stale; "
                     "use train.optimizer_state: reset with protocol: async");
        return diag_done(d);
    }
    return FS_OK;
}
