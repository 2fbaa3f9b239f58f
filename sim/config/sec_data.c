/* The data.* and partition.* keys (docs/datasets.md) and their checks against each other and
 * against the round size. */
#include "config/config_int.h"

#include <string.h>

const cfg_key cfg_keys_data[] = {
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
    {0},
};

const cfg_key cfg_keys_partition[] = {
    K_ENUM("partition.kind", partition.kind, "dirichlet",
           "iid|dirichlet|shards|labels|quantity|natural",
           "how samples are split among clients: shards (McMahan et al. 2017), labels (#C=k of "
           "NIID-Bench), natural: the dataset's own clients (docs/datasets.md)"),
    K_INT("partition.clients", partition.clients, "1000", 1, CFG_BIG, "number of clients"),
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
    {0},
};

fs_err cfg_check_data(const cfg *c, const char *file, cfg_diag *d)
{
    bool synthetic = strcmp(c->data.dataset, "synthetic") == 0;
    if (synthetic && strcmp(c->partition.kind, "natural") != 0) {
        diag_at_key(d, c, file, "partition.kind");
        diag_msg(d, "partition.kind = %s cannot be used with data.dataset = synthetic",
                 c->partition.kind);
        diag_hint(d, "synthetic(alpha, beta) data comes in natural clients: use partition.kind: "
                     "natural (or leave it out)");
        return diag_done(d);
    }
    if (synthetic && c->partition.clients != c->data.synthetic_clients) {
        diag_at_key(d, c, file, "partition.clients");
        diag_msg(d, "partition.clients = %d but data.synthetic_clients = %d", c->partition.clients,
                 c->data.synthetic_clients);
        diag_hint(d, "with data.dataset = synthetic the clients are the generator's; set "
                     "data.synthetic_clients and leave partition.clients out");
        return diag_done(d);
    }
    if (!synthetic && strcmp(c->partition.kind, "natural") == 0 &&
        strcmp(c->data.dataset, "fashion-mnist") == 0) {
        diag_at_key(d, c, file, "partition.kind");
        diag_msg(d, "partition.kind = natural needs a dataset with natural clients");
        diag_hint(d, "fashion-mnist has none: use iid, dirichlet, shards, labels or quantity, or "
                     "data.dataset: kjv, synthetic or file");
        return diag_done(d);
    }
    if (!synthetic && c->data.path[0] == '\0') {
        diag_at_key(d, c, file, "data.path");
        diag_msg(d, "data.path is empty but data.dataset = %s reads a file", c->data.dataset);
        diag_hint(d, "set data.path to an HDF5 dataset, e.g. datasets/fashion-mnist.h5");
        return diag_done(d);
    }
    if (c->rounds.clients_per_round > c->partition.clients) {
        diag_at_key(d, c, file, "rounds.clients_per_round");
        diag_msg(d, "rounds.clients_per_round = %d exceeds partition.clients = %d",
                 c->rounds.clients_per_round, c->partition.clients);
        diag_hint(d, "a round cannot aggregate more clients than exist");
        return diag_done(d);
    }
    return FS_OK;
}
