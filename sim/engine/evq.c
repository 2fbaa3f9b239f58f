/* 4-ary min-heap event queue (see evq.h). Children of position i are 4i+1..4i+4. A 4-ary heap
 * halves the depth of a binary one and keeps siblings in one cache line of slot indices. */
#include "engine/evq.h"

#include <stdlib.h>
#include <string.h>

#define D 4
#define NOPOS UINT32_MAX

static inline int before(const evq *q, uint32_t a, uint32_t b)
{
    const evq_event *x = &q->ev[a], *y = &q->ev[b];
    return x->time < y->time || (x->time == y->time && x->seq < y->seq);
}

static inline void place(evq *q, size_t i, uint32_t slot)
{
    q->heap[i] = slot;
    q->pos[slot] = (uint32_t)i;
}

static void sift_up(evq *q, size_t i)
{
    uint32_t s = q->heap[i];
    while (i > 0) {
        size_t p = (i - 1) / D;
        if (!before(q, s, q->heap[p])) break;
        place(q, i, q->heap[p]);
        i = p;
    }
    place(q, i, s);
}

static void sift_down(evq *q, size_t i)
{
    uint32_t s = q->heap[i];
    for (;;) {
        size_t c = D * i + 1;
        if (c >= q->n) break;
        size_t best = c, end = c + D < q->n ? c + D : q->n;
        for (size_t k = c + 1; k < end; k++)
            if (before(q, q->heap[k], q->heap[best])) best = k;
        if (!before(q, q->heap[best], s)) break;
        place(q, i, q->heap[best]);
        i = best;
    }
    place(q, i, s);
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
    uint32_t *h = realloc(q->heap, nc * sizeof *h);
    if (h) q->heap = h;
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
    free(q->heap);
    free(q->free_ls);
    memset(q, 0, sizeof *q);
}

fs_err evq_push(evq *q, double time, int kind, uint32_t client, uint64_t data, evq_handle *h)
{
    FS_CHECK(time >= q->now); /* virtual time never goes backwards */
    if (q->n_free == 0 && grow(q)) return FS_ENOMEM;
    uint32_t s = q->free_ls[--q->n_free];
    q->ev[s] = (evq_event){time, q->next_seq++, kind, client, data};
    q->gen[s]++;
    place(q, q->n++, s);
    sift_up(q, q->n - 1);
    if (h) *h = (evq_handle){s, q->gen[s]};
    return FS_OK;
}

static void remove_at(evq *q, size_t i)
{
    uint32_t s = q->heap[i];
    q->pos[s] = NOPOS;
    q->gen[s]++; /* invalidates handles */
    q->free_ls[q->n_free++] = s;
    q->n--;
    if (i == q->n) return;
    uint32_t moved = q->heap[q->n];
    place(q, i, moved);
    sift_down(q, i);
    sift_up(q, q->pos[moved]);
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
    uint32_t s = q->heap[0];
    *out = q->ev[s];
    FS_CHECK(out->time >= q->now);
    q->now = out->time;
    remove_at(q, 0);
    return 1;
}

int evq_peek(const evq *q, evq_event *out)
{
    if (q->n == 0) return 0;
    *out = q->ev[q->heap[0]];
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
