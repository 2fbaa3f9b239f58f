/* 4-ary min-heap event queue (see evq.h). Children of position i are 4i+1..4i+4. A 4-ary heap
 * halves the depth of a binary one; with 16-byte entries a node's four children share a
 * cache line. */
#include "engine/evq.h"

#include <stdlib.h>
#include <string.h>

#define D     4
#define NOPOS UINT32_MAX

static inline int before(const evq_key *x, const evq_key *y)
{
    return x->time < y->time || (x->time == y->time && x->tag < y->tag);
}

static inline uint32_t slot_of(const evq_key *k)
{
    return (uint32_t)(k->tag & ((1u << EVQ_SLOT_BITS) - 1));
}

static inline void place(evq *q, size_t i, evq_key k)
{
    q->heap[i] = k;
    q->pos[slot_of(&k)] = (uint32_t)i;
}

static void sift_up(evq *q, size_t i)
{
    evq_key k = q->heap[i];
    while (i > 0) {
        size_t p = (i - 1) / D;
        if (!before(&k, &q->heap[p])) break;
        place(q, i, q->heap[p]);
        i = p;
    }
    place(q, i, k);
}

static void sift_down(evq *q, size_t i)
{
    evq_key k = q->heap[i];
    for (;;) {
        size_t c = D * i + 1;
        if (c >= q->n) break;
        size_t best = c, end = c + D < q->n ? c + D : q->n;
        for (size_t j = c + 1; j < end; j++)
            if (before(&q->heap[j], &q->heap[best])) best = j;
        if (!before(&q->heap[best], &k)) break;
        place(q, i, q->heap[best]);
        i = best;
    }
    place(q, i, k);
}

static fs_err grow(evq *q)
{
    size_t nc = q->cap ? q->cap * 2 : 64;
    if (nc > UINT32_MAX - 1) return fs_error(FS_ENOMEM, "event queue over 4 billion events");
    evq_event *ev = realloc(q->ev, nc * sizeof *ev);
    if (ev) q->ev = ev;
    uint32_t *g = realloc(q->gen, nc * sizeof *g);
    if (g) q->gen = g;
    uint32_t *p = realloc(q->pos, nc * sizeof *p);
    if (p) q->pos = p;
    if (nc > (1u << EVQ_SLOT_BITS))
        return fs_error(FS_ENOMEM, "event queue: more than 2^24 pending events");
    evq_key *h = aligned_alloc(64, ((nc + 3) * sizeof *h + 63) & ~(size_t)63);
    if (h) {
        if (q->heap) memcpy(h + 3, q->heap, q->n * sizeof *h);
        free(q->heap_mem);
        q->heap_mem = h;
        q->heap = h + 3;
    }
    uint32_t *f = realloc(q->free_ls, nc * sizeof *f);
    if (f) q->free_ls = f;
    if (!ev || !g || !p || !h || !f) return fs_error(FS_ENOMEM, "event queue: out of memory");
    /* new slots are free; push them so that the lowest index is reused first */
    for (size_t s = nc; s-- > q->cap;) {
        q->gen[s] = 0;
        q->pos[s] = NOPOS;
        q->free_ls[q->n_free++] = (uint32_t)s;
    }
    q->cap = nc;
    return FS_OK;
}

fs_err evq_init(evq *q, size_t cap_hint)
{
    memset(q, 0, sizeof *q);
    while (q->cap < cap_hint)
        if (grow(q)) {
            evq_free(q);
            return FS_ENOMEM;
        }
    return FS_OK;
}

void evq_free(evq *q)
{
    free(q->ev);
    free(q->gen);
    free(q->pos);
    free(q->heap_mem);
    free(q->free_ls);
    memset(q, 0, sizeof *q);
}

fs_err evq_push(evq *q, double time, int kind, uint32_t client, uint64_t data, evq_handle *h)
{
    FS_CHECK(time >= q->now); /* virtual time never goes backwards */
    if (q->n_free == 0 && grow(q)) return FS_ENOMEM;
    uint32_t s = q->free_ls[--q->n_free];
    q->ev[s] = (evq_event){time, q->next_seq, kind, client, data};
    q->gen[s]++;
    FS_CHECK(q->next_seq < (UINT64_C(1) << (64 - EVQ_SLOT_BITS)));
    place(q, q->n++, (evq_key){time, (q->next_seq++ << EVQ_SLOT_BITS) | s});
    sift_up(q, q->n - 1);
    if (h) *h = (evq_handle){s, q->gen[s]};
    return FS_OK;
}

static void remove_at(evq *q, size_t i)
{
    uint32_t s = slot_of(&q->heap[i]);
    q->pos[s] = NOPOS;
    q->gen[s]++; /* invalidates handles */
    q->free_ls[q->n_free++] = s;
    q->n--;
    if (i == q->n) return;
    /* the last entry fills the hole: it moves up or down, never both */
    evq_key moved = q->heap[q->n];
    place(q, i, moved);
    if (i > 0 && before(&moved, &q->heap[(i - 1) / D]))
        sift_up(q, i);
    else
        sift_down(q, i);
}

int evq_cancel(evq *q, evq_handle h)
{
    if (h.slot >= q->cap || q->gen[h.slot] != h.gen || q->pos[h.slot] == NOPOS) return 0;
    remove_at(q, q->pos[h.slot]);
    return 1;
}

int evq_pop(evq *q, evq_event *out)
{
    if (q->n == 0) return 0;
    uint32_t s = slot_of(&q->heap[0]);
    *out = q->ev[s];
    FS_CHECK(out->time >= q->now);
    q->now = out->time;
    remove_at(q, 0);
    return 1;
}

int evq_peek(const evq *q, evq_event *out)
{
    if (q->n == 0) return 0;
    *out = q->ev[slot_of(&q->heap[0])];
    return 1;
}

size_t evq_size(const evq *q)
{
    return q->n;
}

void evq_clear(evq *q)
{
    while (q->n) remove_at(q, q->n - 1);
}
