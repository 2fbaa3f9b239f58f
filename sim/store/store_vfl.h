/* The metrics of vertical runs (docs/vertical.md, docs/metrics.md), beside store.h's: the
 * run's protocol and key size, the `parties` table (one row per party: role, features, IDs,
 * alignment), vertical columns of `rounds` (test_auc, crypto_time_s, stall_s) and the
 * `party_rounds` table (each party's traffic and time per rounds row). Written in the same
 * transactions as the rows they extend. */
#ifndef FEDSIM_STORE_VFL_H
#define FEDSIM_STORE_VFL_H

#include "store/store.h"

/* Create the vertical tables if missing and record federation = 'vertical', protocol and
 * key_bits (0: NULL, no encryption) on the current run. */
fs_err met_vfl_begin(met_store *s, const char *protocol, int key_bits);

typedef struct met_party_info {
    int party;
    const char *name, *role; /* role: active | passive | coordinator */
    long features;           /* features it holds */
    long ids;                /* sample IDs it holds */
    long common;             /* the aligned intersection */
} met_party_info;

fs_err met_vfl_party(met_store *s, const met_party_info *p);

/* The vertical columns of `rounds` row `round` (already inserted; NaN: NULL). */
fs_err met_vfl_round(met_store *s, int round, double test_auc, double crypto_time_s,
                     double stall_s);

typedef struct met_party_row {
    int round, party;
    double bytes_sent, bytes_received;
    double flops, compute_s, crypto_s;
    long dropouts, straggles;
} met_party_row;

fs_err met_vfl_party_round(met_store *s, const met_party_row *r);

#endif
