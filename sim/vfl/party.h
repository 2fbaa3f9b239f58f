/* The parties of a vertical run (docs/vertical.md): who holds which features and which sample
 * IDs, and the aligned data each ends up with. Owns each party's feature group, its ID list,
 * and, after alignment, its columns of the common samples (training and test rows apart);
 * only the active party gets the labels. Nothing here is shared between parties but what the
 * protocols send, except that the simulation keeps them in one process. */
#ifndef FEDSIM_VFL_PARTY_H
#define FEDSIM_VFL_PARTY_H

#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "crypto/crand.h"
#include "data/dataset.h"
#include "util/err.h"
#include "vfl/clock.h"

typedef enum vfl_role { VFL_ACTIVE = 0, VFL_PASSIVE, VFL_COORD } vfl_role;

/* IDs only one party has start here (party k: VFL_UNIQUE_BASE + k 2^32 + j): never a sample. */
#define VFL_UNIQUE_BASE (1ull << 40)

typedef struct vfl_party {
    char name[CFG_PARTY_NAME];
    vfl_role role;
    int cfg_index;  /* entry in vertical.parties; -1 for the implicit coordinator */
    int n_feat;     /* features it holds (0 for a coordinator) */
    int in[3];      /* their shape: (1, 1, n_feat), or (C, rows, cols) of a pixel block */
    uint32_t *feat; /* (n_feat) indices into a dataset sample, in the order of `in` */
    uint64_t *ids;  /* (n_ids) its sample IDs: dataset samples (train i: i, test j: n_train + j)
                     * and IDs only it has */
    size_t n_ids;
    float *xtr, *xte; /* (n_train, n_feat), (n_test, n_feat): its columns of the common
                       * samples, in the aligned order */
} vfl_party;

typedef struct vfl_data {
    int n; /* parties, the coordinator included */
    vfl_party p[VCLK_MAX_PARTIES];
    int active, coord; /* indices (coord -1: none) */
    int n_classes;
    size_t n_train, n_test; /* common samples of the training and test splits */
    int32_t *ytr, *yte;     /* the active party's labels of them */
    size_t n_common;        /* the intersection, both splits */
    double psi_s;           /* virtual time of the alignment */
    double psi_bytes;       /* its traffic, all parties */
} vfl_data;

/* The parties of c with their feature groups checked against ds: a feature (or pixel) outside
 * the sample, owned twice, or owned by nobody is an error at the party's field (or the list)
 * as file:line:col in d; likewise a dataset the algorithm cannot use. With hetero_lr and
 * encryption, a coordinator is added when the scenario names none ("coordinator", with the
 * default device and link). Then every party's ID list (coverage, unique_ids, drawn from
 * (seed, RNG_VFL_DATA, party, 1)). */
fs_err vfl_parties_setup(const cfg *c, const dataset *ds, const char *file, vfl_data *v,
                         cfg_diag *d);

/* Device and link of party i (the scenario's medians where the entry gives none). */
void vfl_party_device(const cfg *c, const vfl_data *v, int i, vclk_party *out);

/* A crypto randomness source for party i and purpose (vertical.randomness: system or keyed). */
fs_err vfl_crand(const cfg *c, int party, uint64_t purpose, cr_src *s);

/* Entity alignment, one call: the common sample IDs of all data parties, by DH-PSI between
 * the active party and each passive party in turn (crypto/psi.h; vertical.psi: false computes
 * it in the clear at no cost), its operations and messages recorded on the clock k and
 * replayed as one set-up step (its time in v->psi_s). Both sides order the intersection by ID,
 * which each knows for its own members, so row r is the same sample everywhere. Then each
 * party gathers its columns of the common samples and the active party its labels. An empty
 * intersection is an error (FS_EINPUT with a message in d). */
fs_err vfl_align(const cfg *c, const dataset *ds, const char *file, vfl_data *v, vclk *k,
                 cfg_diag *d);

/* The centralised baseline's data (vertical.central): one active party holding every data
 * party's columns of the aligned samples side by side (in party order, flattened: in =
 * (1, 1, total)) and the labels; no other party. v is left unchanged. */
fs_err vfl_data_join(const vfl_data *v, vfl_data *out);

void vfl_data_free(vfl_data *v);

#endif
