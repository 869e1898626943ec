/* The caching allocator's data structures: the ordered set of cached free blocks (a treap keyed
 * by size then address, so best fit is one descent, as PyTorch's std::set<Block*> gives), the
 * map from device address to active block (open addressing, linear probing), and the
 * bookkeeping memory they live in. The allocator itself is in caching.c.
 *
 * Bookkeeping comes from the backing allocator (ali_internal_*), not the tracked one: a tracked
 * allocation can run the hard-limit cleanup, which empties this cache through the memory
 * module's hook and so would take the device lock we already hold; and cached blocks outliving
 * a scope must not be reclaimed by it. Records are counted here instead, and can be made to
 * fail for tests of the error paths (ali_cuda_rec_fail_after). */
#include <stdlib.h>
#include <string.h>

#include "cuda/cuda_int.h"
#include "memory/services_int.h"
#include "util/grow_int.h"

static struct {
    _Atomic uint64_t live;       /* records allocated and not freed */
    _Atomic uint64_t fail_after; /* 0: off; else the countdown to the failing allocation */
} rec;

void *ali_cuda_rec_alloc(size_t n)
{
    uint64_t f = atomic_load_explicit(&rec.fail_after, memory_order_relaxed);
    if (AL_UNLIKELY(f) && atomic_fetch_sub(&rec.fail_after, 1) == 1)
        return NULL;
    void *p = ali_internal_calloc(1, n);
    if (p)
        atomic_fetch_add_explicit(&rec.live, 1, memory_order_relaxed);
    return p;
}

void ali_cuda_rec_free(void *p)
{
    if (!p)
        return;
    atomic_fetch_sub_explicit(&rec.live, 1, memory_order_relaxed);
    ali_internal_free(p);
}

uint64_t ali_cuda_rec_live(void) { return atomic_load(&rec.live); }

void ali_cuda_rec_fail_after(uint64_t n) { atomic_store(&rec.fail_after, n); }

/* -------- Treap of free blocks. -------- */

static int key_cmp(const ali_cuda_block *a, const ali_cuda_block *b)
{
    if (a->size != b->size)
        return a->size < b->size ? -1 : 1;
    return a->ptr < b->ptr ? -1 : a->ptr > b->ptr;
}

/* Splits t into keys < k (*l) and keys >= k (*r). */
static void tsplit(ali_cuda_block *t, const ali_cuda_block *k, ali_cuda_block **l,
                   ali_cuda_block **r)
{
    if (!t) {
        *l = *r = NULL;
    } else if (key_cmp(t, k) < 0) {
        tsplit(t->right, k, &t->right, r);
        *l = t;
    } else {
        tsplit(t->left, k, l, &t->left);
        *r = t;
    }
}

/* Joins l and r, every key of l below every key of r. */
static ali_cuda_block *tmerge(ali_cuda_block *l, ali_cuda_block *r)
{
    if (!l || !r)
        return l ? l : r;
    if (l->prio > r->prio) {
        l->right = tmerge(l->right, r);
        return l;
    }
    r->left = tmerge(l, r->left);
    return r;
}

void ali_cuda_tree_insert(ali_cuda_device *d, int pool, ali_cuda_block *b)
{
    d->rng ^= d->rng << 13;
    d->rng ^= d->rng >> 17;
    d->rng ^= d->rng << 5;
    b->prio = d->rng;
    b->left = b->right = NULL;
    ali_cuda_block *l, *r;
    tsplit(d->free_tree[pool], b, &l, &r);
    d->free_tree[pool] = tmerge(tmerge(l, b), r);
    d->pool_cached[pool]++;
    d->st.cached_blocks++;
}

void ali_cuda_tree_remove(ali_cuda_device *d, int pool, ali_cuda_block *b)
{
    ali_cuda_block **link = &d->free_tree[pool];
    while (*link && *link != b)
        link = key_cmp(b, *link) < 0 ? &(*link)->left : &(*link)->right;
    if (!*link)
        return; /* not cached: the invariant check reports it */
    *link = tmerge(b->left, b->right);
    b->left = b->right = NULL;
    d->pool_cached[pool]--;
    d->st.cached_blocks--;
}

ali_cuda_block *ali_cuda_tree_best_fit(ali_cuda_device *d, int pool, uint64_t size)
{
    ali_cuda_block *t = d->free_tree[pool], *best = NULL;
    while (t) {
        if (t->size >= size) {
            best = t;
            t = t->left;
        } else {
            t = t->right;
        }
    }
    return best;
}

void ali_cuda_tree_walk(ali_cuda_block *root, void (*fn)(ali_cuda_block *, void *), void *arg)
{
    if (!root)
        return;
    ali_cuda_tree_walk(root->left, fn, arg);
    fn(root, arg);
    ali_cuda_tree_walk(root->right, fn, arg);
}

/* -------- Active map: device address -> block. -------- */

static uint64_t slot_of(uint64_t ptr, uint64_t cap)
{
    return ((ptr >> 9) * 0x9E3779B97F4A7C15ull) >> 7 & (cap - 1);
}

bool ali_cuda_map_reserve(ali_cuda_active_map *m)
{
    if ((m->count + 1) * 4 <= m->cap * 3)
        return true;
    size_t cap; /* a power of two: doubled from 64 */
    if (!ali_grow_cap(m->cap, m->cap + 1, 64, sizeof *m->slots, &cap))
        return false;
    ali_cuda_block **slots = ali_cuda_rec_alloc(cap * sizeof *slots);
    if (!slots)
        return false;
    for (uint64_t i = 0; i < m->cap; i++) {
        ali_cuda_block *b = m->slots[i];
        if (!b)
            continue;
        uint64_t s = slot_of(b->ptr, cap);
        while (slots[s])
            s = (s + 1) & (cap - 1);
        slots[s] = b;
    }
    ali_cuda_rec_free(m->slots);
    m->slots = slots;
    m->cap = cap;
    return true;
}

void ali_cuda_map_put(ali_cuda_active_map *m, ali_cuda_block *b)
{
    uint64_t s = slot_of(b->ptr, m->cap);
    while (m->slots[s])
        s = (s + 1) & (m->cap - 1);
    m->slots[s] = b;
    m->count++;
}

static uint64_t find_slot(const ali_cuda_active_map *m, uint64_t ptr)
{
    if (!m->cap)
        return UINT64_MAX;
    for (uint64_t s = slot_of(ptr, m->cap);; s = (s + 1) & (m->cap - 1)) {
        if (!m->slots[s])
            return UINT64_MAX;
        if (m->slots[s]->ptr == ptr)
            return s;
    }
}

ali_cuda_block *ali_cuda_map_get(const ali_cuda_active_map *m, uint64_t ptr)
{
    uint64_t s = find_slot(m, ptr);
    return s == UINT64_MAX ? NULL : m->slots[s];
}

/* Removes with backward-shift deletion, so lookups never need tombstones. */
ali_cuda_block *ali_cuda_map_take(ali_cuda_active_map *m, uint64_t ptr)
{
    uint64_t s = find_slot(m, ptr);
    if (s == UINT64_MAX)
        return NULL;
    ali_cuda_block *found = m->slots[s];
    uint64_t mask = m->cap - 1, hole = s;
    for (uint64_t j = (s + 1) & mask; m->slots[j]; j = (j + 1) & mask) {
        uint64_t home = slot_of(m->slots[j]->ptr, m->cap);
        /* Move j into the hole unless its home lies cyclically in (hole, j]. */
        bool stays = hole <= j ? (home > hole && home <= j) : (home > hole || home <= j);
        if (!stays) {
            m->slots[hole] = m->slots[j];
            hole = j;
        }
    }
    m->slots[hole] = NULL;
    m->count--;
    return found;
}

void ali_cuda_map_clear(ali_cuda_active_map *m)
{
    ali_cuda_rec_free(m->slots);
    memset(m, 0, sizeof *m);
}
