/* Event queue: a 4-ary min-heap of events keyed by (virtual time, sequence number). The
 * sequence number is a global counter, so events scheduled for the same time pop in the order
 * they were scheduled (FIFO), whatever the heap shape. Scheduling returns a handle that can be
 * cancelled in O(log n). Popping never goes back in time (checked). */
#ifndef FEDSIM_EVQ_H
#define FEDSIM_EVQ_H

#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

typedef struct evq_event {
    double time;
    uint64_t seq;
    int kind;
    uint32_t client; /* entity the event concerns */
    uint64_t data;   /* free for the caller */
} evq_event;

/* Handle: slot index + generation, so a stale handle to a reused slot is harmless. */
typedef struct evq_handle {
    uint32_t slot;
    uint32_t gen;
} evq_handle;

/* A heap entry carries its key, so sifting never leaves the heap array: 16 bytes, so the four
 * children of a node share one 64-byte cache line. tag = sequence << 24 | slot: ordering by
 * tag is ordering by sequence (at most 2^24 pending events, 2^40 scheduled in a run). */
typedef struct evq_key {
    double time;
    uint64_t tag;
} evq_key;

#define EVQ_SLOT_BITS 24

typedef struct evq {
    evq_event *ev;     /* slot storage */
    uint32_t *gen;     /* slot generation */
    uint32_t *pos;     /* slot -> heap position, UINT32_MAX when free */
    evq_key *heap;     /* the heap, heap_mem + 3: children 4i+1..4i+4 start on a cache line */
    evq_key *heap_mem; /* its allocation (64-byte aligned) */
    uint32_t *free_ls; /* stack of free slots */
    size_t n, cap, n_free;
    uint64_t next_seq;
    double now; /* time of the last popped event */
} evq;

fs_err evq_init(evq *q, size_t cap_hint);
void evq_free(evq *q);
/* Schedule an event at time >= now. */
fs_err evq_push(evq *q, double time, int kind, uint32_t client, uint64_t data, evq_handle *h);
/* Cancel a scheduled event; returns 1 if it was pending, 0 if already popped or cancelled. */
int evq_cancel(evq *q, evq_handle h);
/* Pop the earliest event; returns 0 when empty. */
int evq_pop(evq *q, evq_event *out);
/* Earliest event without removing it; returns 0 when empty. */
int evq_peek(const evq *q, evq_event *out);
size_t evq_size(const evq *q);
/* Remove everything (time stays). */
void evq_clear(evq *q);

#endif
