/* The inputs of a run as a scenario names them: its dataset (loaded or generated), its
 * partition over the population (with feature skew and local test splits) and its device and
 * availability models. Shared by the run (sim.c), the set-up check (setup_check.c) and the
 * CLI, so all three see the same inputs. */
#include <stdio.h>
#include <string.h>

#include "data/dataset.h"
#include "data/partition.h"
#include "data/synthetic.h"
#include "device/avail.h"
#include "device/device.h"
#include "engine/sim.h"

fs_err sim_load_data(const cfg *c, dataset *ds)
{
    if (strcmp(c->data.dataset, "synthetic") == 0) {
        synth_cfg s = {.clients = c->data.synthetic_clients,
                       .alpha = c->data.synthetic_alpha,
                       .beta = c->data.synthetic_beta,
                       .dim = c->data.synthetic_dim,
                       .classes = c->data.synthetic_classes,
                       .size_mean = c->data.synthetic_size_mean,
                       .size_sigma = c->data.synthetic_size_sigma,
                       .min_size = c->data.synthetic_min_size,
                       .lazy = strcmp(c->data.synthetic_lazy, "true") == 0,
                       .iid = strcmp(c->data.synthetic_iid, "true") == 0,
                       .test_fraction = c->data.synthetic_test_fraction,
                       .seed = c->seed};
        return synth_generate(&s, ds);
    }
    fs_err e = ds_check_kind(c->data.path, c->data.dataset);
    if (e) return e;
    e = ds_load(c->data.path, ds);
    const int fm = strcmp(c->data.dataset, "fashion-mnist") == 0;
    if (e == FS_EINPUT && (fm || strcmp(c->data.dataset, "kjv") == 0)) {
        char msg[512]; /* fs_error writes the buffer fs_errmsg returns: copy it first */
        snprintf(msg, sizeof msg, "%s", fs_errmsg());
        return fs_error(FS_EINPUT, "%s (hint: run 'fedsim data import %s --out %s'%s)", msg,
                        c->data.dataset, c->data.path, fm ? ", or 'make run', which does it" : "");
    }
    return e;
}

static fs_err make_partition(const cfg *c, const dataset *ds, partition *p)
{
    const char *k = c->partition.kind;
    uint32_t n = (uint32_t)c->partition.clients;
    const uint32_t kpc = (uint32_t)c->partition.labels_per_client;
    if (ds->lazy) { /* generated on demand: only its natural clients exist */
        if (strcmp(k, "natural") != 0)
            return fs_error(FS_EINPUT,
                            "partition.kind %s: data.synthetic_lazy data can only be "
                            "partitioned naturally (partition.kind: natural)",
                            k);
        memset(p, 0, sizeof *p);
        p->n_clients = ds->lazy->n_clients;
        p->n_samples = ds->train.n;
        p->idx = FS_CALLOC(ds->train.n ? ds->train.n : 1, sizeof *p->idx);
        p->off = FS_CALLOC((size_t)p->n_clients + 1, sizeof *p->off);
        if (!p->idx || !p->off) {
            part_free(p);
            return FS_ENOMEM;
        }
        for (size_t i = 0; i < ds->train.n; i++) p->idx[i] = (uint32_t)i;
        memcpy(p->off, ds->lazy->off, ((size_t)p->n_clients + 1) * sizeof *p->off);
        return FS_OK;
    }
    if (ds->task != DS_CLASSIFY &&
        (strcmp(k, "dirichlet") == 0 || strcmp(k, "shards") == 0 || strcmp(k, "labels") == 0))
        return fs_error(FS_EINPUT,
                        "partition.kind %s needs one label per sample; '%s' is a "
                        "sequence dataset (use natural, iid or quantity)",
                        k, ds->name);
    if (strcmp(k, "iid") == 0) return part_iid(ds->train.n, n, c->seed, p);
    if (strcmp(k, "dirichlet") == 0)
        return part_dirichlet(ds->train.y, ds->train.n, ds->n_classes, n, c->partition.alpha,
                              (uint32_t)c->partition.min_size, c->seed, p);
    if (strcmp(k, "shards") == 0)
        return part_shards(ds->train.y, ds->train.n, ds->n_classes, n, kpc,
                           strcmp(c->partition.shard_assign, "distinct") == 0, c->seed, p);
    if (strcmp(k, "labels") == 0)
        return part_labels(ds->train.y, ds->train.n, ds->n_classes, n, kpc, c->seed, p);
    if (strcmp(k, "quantity") == 0) {
        const char *qd = c->partition.quantity_dist;
        part_qdist d = strcmp(qd, "powerlaw") == 0    ? PART_Q_POWERLAW
                       : strcmp(qd, "dirichlet") == 0 ? PART_Q_DIRICHLET
                                                      : PART_Q_LOGNORMAL;
        double param = d == PART_Q_POWERLAW    ? c->partition.quantity_exponent
                       : d == PART_Q_DIRICHLET ? c->partition.quantity_alpha
                                               : c->partition.quantity_sigma;
        return part_quantity(ds->train.n, n, d, param,
                             (uint32_t)(c->partition.min_size > 0 ? c->partition.min_size : 1),
                             c->seed, p);
    }
    if (strcmp(k, "natural") == 0) {
        if (!ds->train.client || ds->n_natural < 1)
            return fs_error(FS_EINPUT, "partition.kind natural: dataset '%s' has no client ids",
                            ds->name);
        return part_natural(ds->train.client, ds->train.n, (uint32_t)ds->n_natural, p);
    }
    return fs_error(FS_EINPUT, "unknown partition.kind '%s'", k);
}

fs_err sim_make_partition(const cfg *c, const dataset *ds, partition *p)
{
    fs_err e = make_partition(c, ds, p);
    if (e) return e;
    const char *fk = c->partition.feature_skew;
    part_feature_kind kind = strcmp(fk, "noise") == 0      ? PART_FEAT_NOISE
                             : strcmp(fk, "rotation") == 0 ? PART_FEAT_ROTATE
                                                           : PART_FEAT_NONE;
    e = part_set_feature(
        p, ds, kind, kind == PART_FEAT_NOISE ? c->partition.noise_sigma : c->partition.rotation_deg,
        c->seed);
    if (!e && c->partition.local_test_fraction > 0)
        e = part_split_local(p, c->partition.local_test_fraction, c->seed);
    if (e) part_free(p);
    return e;
}

fs_err sim_make_devices(const cfg *c, uint32_t n_clients, dev_model *dev, av_model *av)
{
    dev->seed = c->seed;
    dev->flops = (dev_lognormal){c->devices.flops.median, c->devices.flops.sigma};
    dev->down_bps = (dev_lognormal){c->network.down_bps.median, c->network.down_bps.sigma};
    dev->up_bps = (dev_lognormal){c->network.up_bps.median, c->network.up_bps.sigma};
    dev->latency_s = (dev_lognormal){c->network.latency_s.median, c->network.latency_s.sigma};
    fs_err e = FS_OK;
    if (strcmp(c->devices.model, "tiers") == 0) {
        dev->mode = DEV_TIERS;
        e = dev_load_tiers(dev, c->devices.tiers_file);
    } else if (strcmp(c->devices.model, "trace") == 0) {
        dev->mode = DEV_TRACE;
        if (!c->devices.trace[0])
            return fs_error(FS_EINPUT, "devices.model = trace needs devices.trace (a CSV file)");
        e = dev_load_trace(dev, c->devices.trace);
    }
    if (e) return e;
    static const char *const modes[] = {"always", "bernoulli", "markov", "diurnal", "trace"};
    av_mode am = AV_ALWAYS;
    for (int i = 0; i < 5; i++)
        if (strcmp(c->availability.mode, modes[i]) == 0) am = (av_mode)i;
    e = av_init(av, am, c->seed, n_clients);
    if (e) return e;
    av->p = c->availability.p;
    av->mean_on_s = c->availability.mean_on_s;
    av->mean_off_s = c->availability.mean_off_s;
    av->p_min = c->availability.diurnal_p_min;
    av->p_max = c->availability.diurnal_p_max;
    av->peak_hour = c->availability.diurnal_peak_hour;
    av->slot_s = c->availability.diurnal_slot_s;
    if (am == AV_TRACE) {
        if (!c->availability.trace[0])
            return fs_error(FS_EINPUT, "availability.mode = trace needs availability.trace (a CSV "
                                       "file)");
        e = av_load_trace(av, c->availability.trace, c->availability.trace_period_s);
    }
    return e;
}
