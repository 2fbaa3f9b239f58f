/* Private set intersection for entity alignment in vertical federated learning: the
 * Diffie-Hellman protocol (Meadows, IEEE S&P 1986; Huberman, Franklin and Hogg, EC 1999) over
 * ristretto255 (libsodium), semi-honest, two parties A and B with lists of unique 64-bit
 * sample IDs.
 *
 *   H(id) = ristretto255_from_hash(SHA-512("fedsim-psi-v1" || session || id)), session and id
 *           as 8 little-endian bytes each (the session tag keeps two runs' points unrelated).
 *   Each party draws a secret scalar (a, b) and a secret random order of its own list.
 *   1. A -> B: a H(x) for each of A's IDs, in A's secret order        (message A1, n_a points)
 *      B -> A: b H(y) for each of B's IDs, in B's secret order        (message B1, n_b points)
 *   2. B -> A: b (a H(x)) for each point of A1, in A1's order         (message B2, n_a points)
 *      A -> B: a (b H(y)) for each point of B1, in B1's order         (message A2, n_b points)
 *   3. A compares B2 (its own IDs, doubly blinded, positions it can map back) with the
 *      a b H(y) it computed for A2; B does the same with A2 and B2. a b H(x) = a b H(y) iff
 *      x = y (up to hash collisions, negligible). Each party outputs the indices of its own
 *      intersection members sorted by their doubly blinded point, so both outputs list the
 *      common IDs in the same order (row k of A's list is row k of B's).
 *   Two message rounds (1 and 2 can each go both ways at once); every message carries a
 *   PSI_HEADER_BYTES count plus 32 bytes per point.
 *
 * What each side sees (semi-honest, under the decisional Diffie-Hellman assumption in
 * ristretto255 with SHA-512 as a random oracle):
 *   - A sees B1 (n_b points that look random without b: they reveal n_b and nothing about
 *     B's IDs), B2 (its own IDs blinded twice, in its own order: it learns which of its IDs
 *     B holds, that is the intersection's members and size), and computes A2 itself.
 *     Because B shuffled B1, A does not learn where the common IDs sit in B's list, nor
 *     anything about B's IDs outside the intersection (their doubly blinded values look
 *     random).
 *   - B sees the mirror image: n_a, and which of its own IDs A holds.
 *   Neither learns the other's scalar. Not covered: a malicious party may put any IDs it
 *   likes in its list (inherent to PSI) or send malformed points (refused with FS_EDATA);
 *   both parties learn the output (a one-sided variant would withhold message A2).
 *
 * IDs must be unique within a party's list: a duplicate is refused with FS_EINPUT (two rows
 * with one ID cannot be aligned, and equal blinded points would tell the other side that the
 * ID repeats). Scalar multiplications and hashing run over OpenMP threads; the output does not
 * depend on the thread count. Randomness (scalars, orders) comes from a cr_src (crand.h). */
#ifndef FEDSIM_PSI_H
#define FEDSIM_PSI_H

#include <stddef.h>
#include <stdint.h>

#include "crypto/crand.h"
#include "util/err.h"

enum {
    PSI_POINT_BYTES = 32, /* an encoded ristretto255 element */
    PSI_HEADER_BYTES = 8, /* per message: the number of points */
};

/* One party's work and traffic. Bytes are the messages as above; cpu_s is thread CPU time of
 * the party's own computation summed over threads (clock_gettime). The engine charges time
 * from the counts (hashes, scalar multiplications) or from cpu_s, and bytes to the network. */
typedef struct psi_cost {
    uint64_t bytes_sent, bytes_received;
    uint64_t msgs_sent;
    uint64_t hashes;      /* hash-to-group evaluations (SHA-512 + from_hash) */
    uint64_t scalarmults; /* ristretto255 scalar multiplications */
    double cpu_s;
} psi_cost;

typedef struct psi_party psi_party;

/* A party with n unique IDs (n may be 0): hashes every ID to the group, draws its scalar and
 * its send order. */
fs_err psi_party_new(const uint64_t *ids, size_t n, uint64_t session, cr_src *rnd, psi_party **out);
void psi_party_free(psi_party *p);
size_t psi_party_size(const psi_party *p);
const psi_cost *psi_party_cost(const psi_party *p);

/* Step 1: msg (n PSI_POINT_BYTES points) = own points times own scalar, in the send order. */
fs_err psi_blind(psi_party *me, const uint8_t **msg_out);
/* Step 2: msg (m points) = the other party's step-1 message times own scalar, same order.
 * The party keeps a copy for step 3. FS_EDATA if a received point is not a valid element. */
fs_err psi_double_blind(psi_party *me, const uint8_t *theirs, size_t m, const uint8_t **msg_out);
/* Step 3: reply (n points) is the other party's step-2 message (own points, doubly blinded, in
 * own send order). *idx (malloc'd, caller frees) gets the indices into own ids of the common
 * IDs, ordered by doubly blinded point; *count their number. Needs steps 1 and 2 done. */
fs_err psi_intersect(psi_party *me, const uint8_t *reply, size_t n, size_t **idx, size_t *count);

/* H(id) for a session. */
void psi_hash_id(uint64_t session, uint64_t id, uint8_t point[PSI_POINT_BYTES]);

/* The whole protocol in-process between A and B. */
typedef struct psi_result {
    size_t count;          /* |A ∩ B| */
    size_t *idx_a, *idx_b; /* aligned: ids_a[idx_a[k]] == ids_b[idx_b[k]] for k < count */
    psi_cost cost[2];      /* [0] party A, [1] party B */
    int rounds;            /* message rounds: 2 */
} psi_result;

fs_err psi_run(const uint64_t *ids_a, size_t na, const uint64_t *ids_b, size_t nb, uint64_t session,
               cr_src *rnd_a, cr_src *rnd_b, psi_result *res);
void psi_result_free(psi_result *r);

#endif
