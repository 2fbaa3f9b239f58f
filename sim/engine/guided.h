/* Guided client selection (selection.mode; docs/efficiency.md) for synchronous rounds:
 *   oort             Lai et al., "Oort: Efficient Federated Learning via Guided Participant
 *                    Selection", OSDI 2021: exploit clients of high statistical utility (data
 *                    size x reported training loss) discounted for being slower than a preferred
 *                    round duration T, with a bonus for clients not heard from for long
 *                    (staleness), explore clients never heard from, and a pacer that raises T
 *                    when the exploited utility falls;
 *   power_of_choice  Cho, Wang and Joshi, "Towards Understanding Biased Client Selection in
 *                    Federated Learning", AISTATS 2022: d candidates drawn in proportion to their
 *                    data size, the m with the highest loss kept; the rpow-d variant, which uses
 *                    each client's loss from its last participation (no extra computation).
 * The server's knowledge is only what clients reported: guided_report after a client's update
 * arrived (its loss and samples, its duration from the round start to its arrival); a client
 * that dropped or was late reported nothing. Randomness from (RNG_GUIDED, 0 | 1 | 2, round).
 * Memory: about 50 bytes per client (reports and scratch). */
#ifndef FEDSIM_GUIDED_H
#define FEDSIM_GUIDED_H

#include <stdint.h>

#include "config/config.h"
#include "data/partition.h"
#include "device/avail.h"
#include "util/err.h"

typedef struct guided guided;

/* 1 when selection.mode is not uniform. */
int guided_wanted(const cfg *c);
fs_err guided_new(const cfg *c, uint32_t n_clients, guided **out);
void guided_free(guided *g);
/* Up to m clients online at t with data, into out; returns how many. */
int guided_select(guided *g, av_model *av, const partition *p, uint32_t round, double t, int m,
                  uint32_t *out);
/* A client's update arrived in `round`: its data size, mean training loss (NaN: not trained,
 * e.g. an abandoned round) and the seconds from the round start to its arrival. */
void guided_report(guided *g, uint32_t client, uint32_t round, double samples, double loss,
                   double duration);
/* Oort's pacer, after each round. */
void guided_round_end(guided *g, uint32_t round);
/* Oort's preferred round duration now (NaN before any report). */
double guided_oort_T(const guided *g);

/* Oort's utility of a client (Lai et al. 2021, Algorithm 1, as in FedScale's implementation):
 * stat_norm (its statistical utility n x loss, min-max normalised over the candidates) plus the
 * staleness bonus sqrt(0.1 ln(round) / last_round), times (T / dur)^alpha when dur > T. */
double guided_oort_utility(double stat_norm, double dur, double T, double alpha,
                           uint32_t last_round, uint32_t round);

#endif
