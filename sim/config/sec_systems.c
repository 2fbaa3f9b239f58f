/* The simulated systems: devices.*, network.*, availability.* and dropout.* (docs/systems.md).
 * Their ranges are in the table; nothing to check across keys. */
#include "config/config_int.h"

const cfg_key cfg_keys_devices[] = {
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
    {0},
};

const cfg_key cfg_keys_network[] = {
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
    {0},
};

const cfg_key cfg_keys_availability[] = {
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
    {0},
};

const cfg_key cfg_keys_dropout[] = {
    K_FLT("dropout.p", dropout.p, "0.05", 0, 1, 0,
          "probability that a selected client drops out before uploading"),
    K_FLT("dropout.hazard_per_s", dropout.hazard_per_s, "0", 0, 1e6, 0,
          "failure rate while a client works (per second, exponential time to failure)"),
    {0},
};
