/* The privacy.* keys (docs/privacy.md) and their checks against the rest: docs/privacy.md says
 * why each refused pair does not combine. The checks that depend on the algorithm's uploads and
 * weights are the engine's (engine/check_algo.c). */
#include "config/config_int.h"

#include <math.h>
#include <string.h>

#include "crypto/paillier.h"
#include "privacy/secagg.h"

const cfg_key cfg_keys_privacy[] = {
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
    {0},
};

fs_err cfg_check_privacy(const cfg *c, const char *file, cfg_diag *d)
{
    const char *mode = c->privacy.mode;
    const bool dp = strcmp(mode, "none") != 0, sa = strcmp(c->privacy.secagg, "none") != 0;
    if ((dp || sa) && strcmp(c->protocol, "sync") != 0) {
        diag_at_key(d, c, file, dp ? "privacy.mode" : "privacy.secagg");
        diag_msg(d, "%s needs protocol: sync", dp ? "privacy.mode" : "privacy.secagg");
        diag_hint(d, "the accountant and secure aggregation work round by round; FedBuff's "
                     "buffered steps are not covered");
        return diag_done(d);
    }
    if (strcmp(c->privacy.adaptive_clip, "true") == 0 && strcmp(mode, "central") != 0) {
        diag_at_key(d, c, file, "privacy.adaptive_clip");
        diag_msg(d, "privacy.adaptive_clip needs privacy.mode = central (it is %s)", mode);
        diag_hint(d, "adaptive clipping (Andrew et al. 2021) is a server-side estimate");
        return diag_done(d);
    }
    if (c->privacy.target_epsilon > 0 && !dp) {
        diag_at_key(d, c, file, "privacy.target_epsilon");
        diag_msg(d, "privacy.target_epsilon is set but privacy.mode = none");
        diag_hint(d, "set privacy.mode: central (or local)");
        return diag_done(d);
    }
    const int m = strcmp(c->privacy.sampling, "poisson") == 0 ||
                          (strcmp(c->privacy.sampling, "auto") == 0 && strcmp(mode, "central") == 0)
                      ? c->rounds.clients_per_round
                      : (int)ceil(c->rounds.clients_per_round * (1.0 + c->rounds.overcommit));
    if (strcmp(c->privacy.secagg, "secagg") == 0 && m > 1000) {
        diag_at_key(d, c, file, "privacy.secagg");
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
        const int k = strcmp(c->privacy.secagg, "secagg_plus") == 0
                          ? sa_plus_neighbours(c->privacy.secagg_neighbours, m)
                          : 0;
        const int holders = k ? k + 1 : m;
        if ((int)thr > holders) {
            diag_at_key(d, c, file, "privacy.secagg_threshold");
            diag_msg(d,
                     "privacy.secagg_threshold = %g exceeds the %d share holders of each client "
                     "(%s, up to %d clients per round)",
                     thr, holders, k ? "secagg_plus: k + 1" : "the complete graph", m);
            diag_hint(d, "use at most %d, a fraction in (0, 1), or 0 for the default", holders);
            return diag_done(d);
        }
    }
    if (strcmp(c->privacy.secagg, "paillier") == 0 && c->privacy.paillier_bits % 2) {
        diag_at_key(d, c, file, "privacy.paillier_bits");
        diag_msg(d, "privacy.paillier_bits = %d is odd: |p| = |q| = |n|/2",
                 c->privacy.paillier_bits);
        diag_hint(d, "use 2048, 3072 or another even size");
        return diag_done(d);
    }
    if (sa && c->privacy.secagg_scale_bits > 0 && c->privacy.secagg_clip > 0 &&
        (double)m * ceil(c->privacy.secagg_clip * ldexp(1.0, c->privacy.secagg_scale_bits)) >
            2147483647.0) {
        diag_at_key(d, c, file, "privacy.secagg_scale_bits");
        diag_msg(d, "%d clients x secagg_clip %g x 2^%d exceeds 2^31: the secure sum would wrap", m,
                 c->privacy.secagg_clip, c->privacy.secagg_scale_bits);
        diag_hint(d, "lower privacy.secagg_scale_bits or privacy.secagg_clip");
        return diag_done(d);
    }
    return FS_OK;
}
