/* Scopes: the C form of the seed's `with memory_management():`.
 *
 * A scope owns the tracked blocks its thread allocates while it is the innermost scope. Each
 * owned block sits in a slot of the scope's chunked slot table, so the scope can find its
 * leftovers at the end without a list walk on every free. On the owner thread a freed slot goes
 * on a free list (kept in the slots themselves, as odd values); another thread frees by
 * exchanging its slot with 0, and those holes are swept up when the table would grow. With the
 * mimalloc backing each scope has its own heap, so the leftovers go in one heap destroy.
 * Site counters are in site.c; the registry hook in registry.c. */
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "astrolab/log.h"
#include "backing.h"
#include "front_int.h"
#include "memory_int.h"

#include "scope_int.h"
#include "util/grow_int.h"

ALI_TLS al_scope *ali_tls_scope;
static ALI_TLS bool tls_exit_hooked;

/* glibc runs these thread-exit destructors before pthread key destructors, so open scopes end
 * while mimalloc's per-thread heaps (torn down by its key destructor) are still alive. */
extern int __cxa_thread_atexit_impl(void (*fn)(void *), void *obj, void *dso);
extern void *__dso_handle;

static void thread_exit_hook(void *unused)
{
    (void)unused;
    ali_scope_thread_exit();
}

/* Ends a thread's forgotten scopes when it exits. Not on the main thread: there exit() would
 * free memory that later atexit handlers (and the leak report) may still read. */
static void hook_thread_exit(void)
{
    tls_exit_hooked = true;
    if (gettid() != getpid())
        __cxa_thread_atexit_impl(thread_exit_hook, NULL, &__dso_handle);
}

al_scope *al_scope_current(void) { return ali_tls_scope; }
const char *al_scope_name(const al_scope *s) { return s ? s->name : NULL; }
const char *ali_chunk_scope_name(const ali_chunk *c) { return c->scope->name; }

static unsigned self_tid(void)
{
    ali_shard *sh = ali_shard_self();
    return sh ? sh->tid : 0;
}

bool ali_scope_on_owner_thread(const al_scope *s) { return s->tid == self_tid(); }

/* Ended scopes are pooled, not freed, so that ending one twice (or one that an out-of-order
 * end already ended) reads valid memory and is reported, not followed. */
static struct {
    pthread_mutex_t lock; /* guards head */
    al_scope *head;
} scope_pool = {.lock = PTHREAD_MUTEX_INITIALIZER};

static al_scope *scope_alloc(void)
{
    pthread_mutex_lock(&scope_pool.lock);
    al_scope *s = scope_pool.head;
    if (s)
        scope_pool.head = s->pool_next;
    pthread_mutex_unlock(&scope_pool.lock);
    if (!s)
        return ali_internal_calloc(1, sizeof *s);
    memset((char *)s, 0, offsetof(al_scope, open));
    s->pool_next = NULL;
    return s;
}

void ali_block_watch(ali_block *b)
{
    ali_block_flags_set(b, ALI_BLOCK_WATCHED);
    if (b->chunk)
        atomic_fetch_add(&b->chunk->scope->watched, 1);
}

al_scope *al_scope_begin_ex(const char *name, const al_scope_options *opts)
{
    al_scope *s = scope_alloc();
    if (!s) {
        al_log(AL_LOG_ERROR, ALI_LOGGER, "scope %s: out of memory for the scope", name);
        return NULL;
    }
    snprintf(s->name, sizeof s->name, "%s", name ? name : "scope");
    if (opts)
        s->opts = *opts;
    s->tid = self_tid();
    if (!tls_exit_hooked)
        hook_thread_exit();
    s->heap = backing_heap_new();
    s->parent = ali_tls_scope;
    s->t0 = ali_now_ns();
    pthread_mutex_init(&s->remote_lock, NULL);
    atomic_store(&s->open, 1);
    ali_tls_scope = s;
    al_log(AL_LOG_DEBUG, ALI_LOGGER, "scope %s: begin (parent %s, budget %llu bytes%s)", s->name,
           s->parent ? s->parent->name : "none", (unsigned long long)s->opts.budget_bytes,
           s->opts.policy == AL_SCOPE_REPORT_ONLY ? ", report-only" : "");
    return s;
}

al_scope *al_scope_begin(const char *name) { return al_scope_begin_ex(name, NULL); }

bool ali_scope_refuse(al_scope *s, uint64_t bytes, int64_t live, const al_site *loc)
{
    ali_where where;
    ali_memory_error("allocation of %llu bytes at %s refused: scope %s would own %lld bytes, "
                     "above its budget of %llu",
                     (unsigned long long)bytes, ali_where_loc(&where, loc), s->name,
                     (long long)live, (unsigned long long)s->opts.budget_bytes);
    return false;
}

void ali_scope_uncharge(al_scope *s, uint64_t bytes)
{
    s->owner_balance -= (int64_t)bytes;
    s->bytes_allocated -= bytes < s->bytes_allocated ? bytes : s->bytes_allocated;
}

/* Collects the holes left by other threads' frees onto the free list. */
static void sweep_holes(al_scope *s)
{
    for (uint32_t i = 0; i < s->nslots; i++) {
        _Atomic(uintptr_t) *slot = ali_scope_slot_at(s, i);
        if (atomic_load_explicit(slot, memory_order_relaxed) == 0) {
            atomic_store_explicit(slot, (s->free_head << 1) | 1, memory_order_relaxed);
            s->free_head = (uintptr_t)i + 1;
        }
    }
    atomic_store_explicit(&s->remote_frees, 0, memory_order_relaxed);
}

/* The pool of chunks of ended scopes (see ali_chunk). */
static struct {
    pthread_mutex_t lock; /* guards head */
    ali_chunk *head;
} pool = {.lock = PTHREAD_MUTEX_INITIALIZER};

static ali_chunk *chunk_get(void)
{
    pthread_mutex_lock(&pool.lock);
    ali_chunk *c = pool.head;
    if (c)
        pool.head = c->next;
    pthread_mutex_unlock(&pool.lock);
    return c ? c : ali_internal_calloc(1, sizeof *c);
}

static void chunk_put(ali_chunk *c)
{
    atomic_fetch_add(&c->gen, 1);
    c->scope = NULL;
    pthread_mutex_lock(&pool.lock);
    c->next = pool.head;
    pool.head = c;
    pthread_mutex_unlock(&pool.lock);
}

static bool grow(al_scope *s)
{
    if (s->nchunks == s->dir_cap) {
        size_t cap;
        if (!ali_grow_cap(s->dir_cap, s->nchunks + 1, 4, sizeof *s->dir, &cap))
            return false;
        ali_chunk **d = ali_internal_realloc(s->dir, cap * sizeof *d);
        if (!d)
            return false;
        s->dir = d;
        s->dir_cap = cap;
    }
    ali_chunk *c = chunk_get();
    if (!c)
        return false;
    c->scope = s;
    c->base = (uint32_t)(s->nchunks * ALI_CHUNK_SLOTS);
    s->dir[s->nchunks++] = c;
    return true;
}

bool ali_scope_slot_slow(al_scope *s, uint32_t *index)
{
    if (atomic_load_explicit(&s->remote_pending, memory_order_relaxed) >= ALI_SCOPE_REMOTE_DRAIN)
        ali_scope_drain_remote(s);
    if (!s->free_head && s->nslots == s->nchunks * ALI_CHUNK_SLOTS &&
        atomic_load_explicit(&s->remote_frees, memory_order_relaxed) > s->nslots / 4)
        sweep_holes(s);
    if (s->free_head) {
        *index = ali_scope_pop_free(s);
        return true;
    }
    if (s->nslots == s->nchunks * ALI_CHUNK_SLOTS && !grow(s))
        return false;
    *index = s->nslots++;
    return true;
}

void ali_scope_release(ali_block *b)
{
    al_scope *s = b->chunk->scope;
    if (s->tid == self_tid()) {
        ali_scope_release_owned(s, b);
        return;
    }
    /* Another thread's free: the slot becomes a hole (0) that the owner sweeps up later. */
    if (ali_scope_outside_heap(s, b))
        atomic_fetch_sub_explicit(&s->outside, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&s->remote_freed_bytes, b->size, memory_order_relaxed);
    ali_scope_tally_remote(s, b->site, (int64_t)b->size);
    atomic_exchange_explicit(&b->chunk->slots[b->slot], 0, memory_order_relaxed);
    atomic_fetch_add_explicit(&s->remote_frees, 1, memory_order_relaxed);
    b->chunk = NULL;
}

void ali_scope_moved(ali_block *b)
{
    atomic_store_explicit(&b->chunk->slots[b->slot], (uintptr_t)b, memory_order_relaxed);
}

void *al_scope_keep(void *p)
{
    if (!p)
        return NULL;
    ali_block *b = ali_block_check(p, NULL, "al_scope_keep");
    if (!b || !b->chunk)
        return p;
    al_scope *s = b->chunk->scope;
    if (s->tid != self_tid()) {
        ali_memory_error("al_scope_keep(%p): the block belongs to scope %s of another thread; "
                         "unchanged",
                         p, s->name);
        return p;
    }
    if (ali_scope_outside_heap(s, b))
        atomic_fetch_sub_explicit(&s->outside, 1, memory_order_relaxed);
    ali_scope_tally_bump(s, b->site, -1, -(int64_t)b->size);
    ali_scope_slot_clear_owner(s, b);
    s->owner_balance -= (int64_t)b->size;
    s->kept_blocks++;
    if (ali_block_flags(b) & ALI_BLOCK_IN_HEAP) {
        s->kept_in_heap++;
        ali_block_flags_clear(b, ALI_BLOCK_IN_HEAP); /* survives the heap via mi_heap_delete */
    }
    al_scope *parent = s->parent;
    if (parent) {
        if (ali_scope_adopt(parent, b))
            parent->owner_balance += (int64_t)b->size;
        else
            al_log(AL_LOG_WARNING, ALI_LOGGER,
                   "al_scope_keep(%p): out of memory for scope %s's slot table; the block now "
                   "belongs to the process",
                   p, parent->name);
    }
    return p;
}

int al_scope_defer(void (*fn)(void *), void *arg)
{
    al_scope *s = ali_tls_scope;
    if (!fn)
        return AL_EINVAL;
    if (!s)
        return AL_ESCOPE;
    if (s->ndefers == s->defers_cap) {
        size_t cap;
        if (!ali_grow_cap(s->defers_cap, s->ndefers + 1, 8, sizeof *s->defers, &cap))
            return AL_ENOMEM;
        deferred *d = ali_internal_realloc(s->defers, cap * sizeof *d);
        if (!d)
            return AL_ENOMEM;
        s->defers = d;
        s->defers_cap = cap;
    }
    s->defers[s->ndefers++] = (deferred){fn, arg};
    return AL_OK;
}

/* The walk below merges consecutive blocks of one site into one tally entry for the DEBUG log
 * and the diagnosis's reclaim counters. */

static void tally_flush(al_scope *s, tally *t, bool report_only)
{
    if (!t->site || !t->blocks)
        return;
    ali_site_reclaimed(t->site, (uint64_t)t->blocks, (uint64_t)t->bytes);
    if (al_log_enabled(AL_LOG_DEBUG, ALI_LOGGER)) {
        ali_where where;
        al_log(AL_LOG_DEBUG, ALI_LOGGER, "scope %s: %s %llu block(s), %llu bytes (tag %s) from %s",
               s->name, report_only ? "would reclaim" : "reclaimed", (unsigned long long)t->blocks,
               (unsigned long long)t->bytes, t->site->tag, ali_where_site(&where, t->site));
    }
    t->blocks = t->bytes = 0;
}

/* The fast end: every owned block is in the scope's heap and none is watched, so the per-site
 * tally says what is left and one heap destroy frees it, without visiting a block. */
_Atomic uint64_t ali_scope_fast_ends; /* scopes that ended by tally and heap destroy */

static bool reclaim_by_tally(al_scope *s, al_scope_report *r)
{
    if (!s->heap || s->opts.policy == AL_SCOPE_REPORT_ONLY || s->kept_in_heap ||
        atomic_load(&s->outside) || atomic_load(&s->watched) || atomic_load(&s->tally_lost))
        return false;
    ali_scope_drain_remote(s);
    if (atomic_load(&s->tally_lost))
        return false;
    ali_shard *sh = ali_shard_self();
    int64_t bytes = 0, blocks = 0;
    for (size_t i = 0; i < s->tally_cap; i++) {
        tally *t = &s->tally[i];
        if (!t->site || t->blocks <= 0)
            continue;
        if (sh)
            ali_account(sh, t->site, -t->bytes, -t->blocks);
        bytes += t->bytes;
        blocks += t->blocks;
        tally_flush(s, t, false);
    }
    r->reclaimed_blocks = (uint64_t)blocks;
    r->reclaimed_bytes = (uint64_t)bytes;
    backing_heap_destroy(s->heap);
    atomic_fetch_add_explicit(&ali_scope_fast_ends, 1, memory_order_relaxed);
    return true;
}

/* Releases (or, report-only, passes on) every block the scope still owns. */
static void reclaim(al_scope *s, al_scope_report *r)
{
    if (reclaim_by_tally(s, r))
        return;
    bool report_only = s->opts.policy == AL_SCOPE_REPORT_ONLY;
    bool destroy_heap = s->heap && !report_only && s->kept_in_heap == 0;
    tally t = {0};
    int64_t bytes = 0, blocks = 0;
    for (uint32_t i = 0; i < s->nslots; i++) {
        uintptr_t v = atomic_exchange_explicit(ali_scope_slot_at(s, i), 0, memory_order_relaxed);
        if (v == 0 || (v & 1))
            continue;
        ali_block *b = (ali_block *)v;
        if (b->site != t.site) {
            tally_flush(s, &t, report_only);
            t.site = b->site;
        }
        t.blocks++;
        t.bytes += (int64_t)b->size;
        r->reclaimed_blocks++;
        r->reclaimed_bytes += b->size;
        b->chunk = NULL;
        if (report_only) {
            ali_block_flags_clear(b, ALI_BLOCK_IN_HEAP); /* the heap is deleted: blocks migrate */
            if (s->parent && ali_scope_adopt(s->parent, b))
                s->parent->owner_balance += (int64_t)b->size;
            continue;
        }
        if (AL_UNLIKELY(ali_block_flags(b) & ALI_BLOCK_WATCHED))
            ali_registry_on_free(b + 1);
        ali_site_account(b->site, -(int64_t)b->size, -1);
        bytes += (int64_t)b->size;
        blocks++;
        b->magic = ALI_MAGIC_FREED;
        if (!(destroy_heap && (ali_block_flags(b) & ALI_BLOCK_IN_HEAP)))
            ali_block_release_raw(b);
    }
    tally_flush(s, &t, report_only);
    ali_shard *sh = ali_shard_self();
    if (sh && blocks)
        ali_stats_change(sh, -bytes, -blocks);
    if (s->heap) {
        if (destroy_heap)
            backing_heap_destroy(s->heap);
        else
            backing_heap_delete(s->heap); /* survivors move to the thread's default heap */
    }
}

static void scope_free(al_scope *s)
{
    for (size_t i = 0; i < s->nchunks; i++)
        chunk_put(s->dir[i]);
    ali_internal_free(s->dir);
    ali_internal_free(s->defers);
    ali_internal_free(s->tally);
    ali_internal_free(s->remote);
    pthread_mutex_destroy(&s->remote_lock);
    atomic_store(&s->open, 0);
    pthread_mutex_lock(&scope_pool.lock);
    s->pool_next = scope_pool.head;
    scope_pool.head = s;
    pthread_mutex_unlock(&scope_pool.lock);
}

/* Ends the innermost scope s of the calling thread. */
static void end_innermost(al_scope *s, al_scope_report *out)
{
    al_scope_report r;
    memset(&r, 0, sizeof r);
    while (s->ndefers) {
        deferred d = s->defers[--s->ndefers];
        d.fn(d.arg);
        r.cleanups_run++;
    }
    ali_tls_scope = s->parent; /* from here on, allocations belong to the parent */
    reclaim(s, &r);
    snprintf(r.name, sizeof r.name, "%s", s->name);
    r.bytes_allocated = s->bytes_allocated;
    r.bytes_freed =
        s->owner_freed_bytes + atomic_load_explicit(&s->remote_freed_bytes, memory_order_relaxed);
    r.peak_bytes = s->peak;
    r.blocks_allocated = s->blocks_allocated;
    r.kept_blocks = s->kept_blocks;
    r.policy = s->opts.policy;
    r.duration_ns = ali_now_ns() - s->t0;
    al_log(AL_LOG_DEBUG, ALI_LOGGER,
           "scope %s: end: allocated %llu bytes in %llu blocks, freed %llu, peak %llu, %s %llu "
           "blocks (%llu bytes), kept %llu, %llu cleanups, %.3f ms",
           r.name, (unsigned long long)r.bytes_allocated, (unsigned long long)r.blocks_allocated,
           (unsigned long long)r.bytes_freed, (unsigned long long)r.peak_bytes,
           r.policy == AL_SCOPE_REPORT_ONLY ? "would reclaim" : "reclaimed",
           (unsigned long long)r.reclaimed_blocks, (unsigned long long)r.reclaimed_bytes,
           (unsigned long long)r.kept_blocks, (unsigned long long)r.cleanups_run,
           (double)r.duration_ns / 1e6);
    scope_free(s);
    if (out)
        *out = r;
}

int al_scope_end(al_scope *s, al_scope_report *out)
{
    if (!s)
        return AL_EINVAL;
    if (!atomic_load(&s->open)) {
        ali_memory_error("al_scope_end(%p): the scope has already ended", (void *)s);
        return AL_ESCOPE;
    }
    if (s->tid != self_tid()) {
        ali_memory_error("al_scope_end(%s): called from thread %u, but the scope belongs to "
                         "thread %u; nothing done",
                         s->name, self_tid(), s->tid);
        return AL_ESCOPE;
    }
    int rc = AL_OK;
    al_scope *inner = ali_tls_scope;
    while (inner && inner != s)
        inner = inner->parent;
    if (!inner) {
        ali_memory_error("al_scope_end(%s): the scope is not open on this thread (already "
                         "ended?)",
                         s->name);
        return AL_ESCOPE;
    }
    while (ali_tls_scope != s) {
        ali_memory_error("al_scope_end(%s): scope %s inside it is still open; ending it first",
                         s->name, ali_tls_scope->name);
        end_innermost(ali_tls_scope, NULL);
        rc = AL_ESCOPE;
    }
    end_innermost(s, out);
    return rc;
}

void ali_scope_autoend(al_scope **s)
{
    if (*s)
        (void)!al_scope_end(*s, NULL); /* misuse is logged and counted */
}

void ali_scope_thread_exit(void)
{
    while (ali_tls_scope) {
        al_log(AL_LOG_WARNING, ALI_LOGGER, "scope %s still open when its thread exited; ending it",
               ali_tls_scope->name);
        end_innermost(ali_tls_scope, NULL);
    }
}
