/* The tracked allocator: malloc, calloc, realloc, free and friends over the backing store.
 *
 * One worker (ali_alloc / ali_free_block) does the accounting; the public functions only
 * choose arguments. Each block carries a 48-byte header (block_int.h) and an 8-byte guard
 * after the user bytes. Failure is NULL with an ERROR on "astrolab.memory"; the manager never
 * aborts unless ASTROLAB_ABORT_ON_ERROR=1. Scope ownership is in scope.c, site counters in
 * site.c, the global balance in stats.c; blocks kept for reuse and the thread caches in kept.c. */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc_int.h"
#include "astrolab/log.h"
#include "backing.h"
#include "front_int.h"
#include "memory_int.h"
#include "scope_int.h"
#include "thread_cache_int.h"
#include "util/assert_int.h"
#include "util/settings_int.h"

atomic_uint ali_gates; /* ALI_GATE_* (memory_int.h) */

/* ASTROLAB_CHECK_GUARDS=0 skips the check on free (the guard is still written): the check
 * reads a second cache line per free, measured at about a third of the tracked free's cost on
 * bench_alloc's workload. */
int ali_check_guards = 1;

__attribute__((constructor)) static void guards_from_env(void)
{
    ali_check_guards = (int)ali_setting_int(ALI_SET_CHECK_GUARDS);
}

/* -------- Errors -------- */

const char *ali_memory_backing_name(void) { return ALI_BACKING_NAME; }

static _Atomic int abort_on_error = -1; /* -1: ASTROLAB_ABORT_ON_ERROR not read yet */

void ali_abort_if_asked(void)
{
    int a = atomic_load_explicit(&abort_on_error, memory_order_relaxed);
    if (a < 0) {
        a = ali_setting_int(ALI_SET_ABORT_ON_ERROR) == 1;
        atomic_store_explicit(&abort_on_error, a, memory_order_relaxed);
    }
    if (a)
        abort();
}

void ali_memory_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    al_logv(AL_LOG_ERROR, ALI_LOGGER, fmt, ap);
    va_end(ap);
    ali_stats_error();
    ali_abort_if_asked();
}

/* -------- Internal memory (bookkeeping; never tracked) -------- */

void *ali_internal_alloc(size_t n)
{
    if (AL_UNLIKELY(ali_gates_now() & ALI_GATE_INTERNAL_FAULT) && ali_fault_internal_fails())
        return NULL;
    return backing_malloc(NULL, n, 0);
}

void *ali_internal_calloc(size_t n, size_t size)
{
    size_t total;
    if (__builtin_mul_overflow(n, size, &total))
        return NULL;
    void *p = ali_internal_alloc(total);
    if (p)
        memset(p, 0, total);
    return p;
}

void ali_internal_free(void *p)
{
    if (p)
        backing_free(p);
}

/* -------- Allocation -------- */

void *ali_alloc_fail(size_t n, const al_site *loc, const char *why)
{
    ali_where where;
    ali_memory_error("allocation of %zu bytes at %s failed: %s", n, ali_where_loc(&where, loc),
                     why);
    errno = ENOMEM;
    return NULL;
}

/* The one allocation worker, inlined into each public entry point (measured: the chain of
 * out-of-line calls per operation cost about a tenth of the tracked path). */
static inline __attribute__((always_inline)) void *
alloc_in(al_scope *scope, size_t n, size_t align, bool zero, ali_site *site, const al_site *loc)
{
    if (AL_UNLIKELY(!admitted(scope, n, site, loc)))
        return NULL;
    unsigned align_log2 = 0;
    if (align > 16)
        align_log2 = (unsigned)__builtin_ctzl(align);
    size_t front = front_space(align_log2), total;
    if (AL_UNLIKELY(!raw_size(n, front, &total)))
        return ali_alloc_fail(n, loc, "size overflows");
    if (AL_UNLIKELY(scope && !ali_scope_charge(scope, n, loc)))
        return NULL; /* scope.c reported it */
    void *heap = scope ? scope->heap : NULL;
    char *raw = zero ? backing_zalloc(heap, total, align_log2 ? align : 0)
                     : backing_malloc(heap, total, align_log2 ? align : 0);
    if (AL_UNLIKELY(!raw)) {
        if (scope)
            ali_scope_uncharge(scope, n);
        return ali_alloc_fail(n, loc, "out of memory");
    }
    ali_block *b = (ali_block *)(raw + front) - 1;
    ali_shard *sh = ali_shard_self();
    b->size = n;
    b->site = site;
    b->chunk = NULL;
    b->free_site = NULL;
    b->slot = 0;
    b->tid = sh ? sh->tid : 0;
    b->flags = heap ? ALI_BLOCK_IN_HEAP : 0;
    b->align_log2 = (uint8_t)align_log2;
    b->chunk_gen = 0;
    b->magic = ALI_MAGIC_LIVE;
    guard_write(b);
    if (scope && AL_UNLIKELY(!ali_scope_adopt(scope, b))) {
        ali_scope_uncharge(scope, n);
        b->magic = ALI_MAGIC_FREED;
        backing_free(raw);
        return ali_alloc_fail(n, loc, "out of memory for the scope's slot table");
    }
    if (AL_LIKELY(sh != NULL))
        ali_account(sh, site, (int64_t)n, 1);
    return b + 1;
}

void *ali_alloc_in(al_scope *scope, size_t n, size_t align, bool zero, ali_site *site,
                   const al_site *loc)
{
    assert(!scope || ali_scope_on_owner_thread(scope));
    return alloc_in(scope, n, align, zero, site, loc);
}

void *ali_alloc(size_t n, size_t align, bool zero, ali_site *site, const al_site *loc)
{
    return alloc_in(ali_scope_current(), n, align, zero, site, loc);
}

ALI_NO_SANITIZE static void peek_header(const void *p, ali_block *out)
{
    const volatile ali_block *b = ali_block_of(p);
    out->site = b->site;
    out->free_site = b->free_site;
    out->size = b->size;
    out->magic = b->magic;
}

ali_block *ali_block_check(const void *p, const al_site *loc, const char *op)
{
    ali_where where, first;
    if (AL_UNLIKELY(((uintptr_t)p & 15) != 0 || !backing_owns(p))) {
        ali_memory_error("%s of %p at %s: pointer was not allocated by the memory manager", op, p,
                         ali_where_loc(&where, loc));
        return NULL;
    }
    ali_block *b = ali_block_of(p);
    uint32_t magic = peek_magic(p);
    if (AL_LIKELY(magic == ALI_MAGIC_LIVE)) {
        if (AL_UNLIKELY(b->chunk && !ali_scope_owns(b))) {
            ali_memory_error("%s of %p at %s: the block's scope already released it when the "
                             "scope ended (use after the end of its scope)",
                             op, p, ali_where_loc(&where, loc));
            return NULL;
        }
        if (AL_LIKELY(guard_intact(b)))
            return b;
        ali_where alloc_at;
        ali_memory_error("%s at %s: guard bytes after the %llu-byte block (tag %s) allocated at "
                         "%s were overwritten (heap buffer overflow)",
                         op, ali_where_loc(&where, loc), (unsigned long long)b->size,
                         b->site ? b->site->tag : "?", ali_where_site(&alloc_at, b->site));
        return NULL;
    }
    ali_where_loc(&where, loc);
    if (magic == ALI_MAGIC_FREED || magic == ALI_MAGIC_KEPT || magic == ALI_MAGIC_CACHED) {
        ali_block freed;
        ali_where alloc_at;
        peek_header(p, &freed);
        ali_memory_error("double free: %s of %p at %s; the block was allocated at %s and already "
                         "freed at %s",
                         op, p, where.text, ali_where_site(&alloc_at, freed.site),
                         ali_where_loc(&first, freed.free_site));
        return NULL;
    }
    ali_memory_error("%s of %p at %s: pointer was not allocated by the memory manager (or its "
                     "header was overwritten)",
                     op, p, where.text);
    return NULL;
}

void ali_block_release_raw(ali_block *b) { backing_free(raw_of(b)); }

void ali_free_block(ali_block *b, const al_site *loc)
{
    if (AL_UNLIKELY(ali_block_flags(b) & ALI_BLOCK_WATCHED))
        ali_registry_on_free(b + 1);
    if (b->chunk)
        ali_scope_release(b);
    b->free_site = loc;
    account_freed(b, ALI_MAGIC_FREED);
    backing_free(raw_of(b));
}

__attribute__((noinline)) void *ali_malloc_fresh(size_t n, al_site *site)
{
    return alloc_in(ali_scope_current(), n, 0, false, ali_site_get(site, NULL), site);
}

void *al_malloc_tagged_at(size_t n, const char *tag, al_site *site)
{
    return ali_alloc(n, 0, false, ali_site_get(site, tag), site);
}

void *al_calloc_at(size_t n, size_t size, al_site *site)
{
    size_t total;
    if (AL_UNLIKELY(__builtin_mul_overflow(n, size, &total))) {
        ali_where where;
        ali_memory_error("calloc(%zu, %zu) at %s: size overflows", n, size,
                         ali_where_loc(&where, site));
        errno = ENOMEM;
        return NULL;
    }
    return ali_alloc(total, 0, true, ali_site_get(site, NULL), site);
}

void *al_malloc_aligned_at(size_t n, size_t align, const char *tag, al_site *site)
{
    if (align == 0 || (align & (align - 1)) != 0 || align > ((size_t)1 << 24)) {
        ali_where where;
        ali_memory_error("aligned allocation at %s: alignment %zu is not a power of two up to "
                         "16 MiB",
                         ali_where_loc(&where, site), align);
        errno = EINVAL;
        return NULL;
    }
    return ali_alloc(n, align <= 16 ? 0 : align, false, ali_site_get(site, tag), site);
}

/* Out of line: the cache's fast path (al_free_at) calls it for what it does not serve, and
 * inlined there it would give that path a stack frame. */
__attribute__((noinline)) void ali_free(void *p, const al_site *site)
{
    if (!p)
        return;
    /* Fast path inlined: a live, intact block watched by nobody, owned by no scope or by a
     * scope of this thread that still holds it. */
    ali_block *b = ali_block_of(p);
    if (AL_LIKELY(live_on_page(p) && !(ali_block_flags(b) & ALI_BLOCK_WATCHED))) {
        ali_shard *sh = ali_shard_self();
        if (b->chunk) {
            /* The owner's check: the slot still holds b (else its scope ended: the slow path
             * reports the stale free), and the scope is this thread's. */
            if (AL_UNLIKELY(!sh || !ali_scope_owns(b) || b->chunk->scope->tid != sh->tid))
                goto slow;
            ali_scope_release_owned(b->chunk->scope, b);
        }
        if (AL_LIKELY(sh != NULL))
            ali_account_free(sh, b->site->id, b->size);
        b->free_site = site;
        b->magic = ALI_MAGIC_FREED;
        backing_free(raw_of(b));
        return;
    }
slow:
    b = ali_block_check(p, site, "free");
    if (b)
        ali_free_block(b, site);
}

/* -------- al_malloc and al_free: the thread cache's fast paths (thread_cache_int.h) --------
 * Each calls nothing on its way, so that the compiler keeps it free of a stack frame: whatever
 * would need a call (a scope current, a site not resolved yet or with a tag of its own, fault
 * injection or a limit armed, a counters page not made yet, a balance due for publishing, a
 * block that is not a plain live one, an empty bin or a full one) takes the general path (kept.c)
 * or the worker. Measured: docs/PERFORMANCE.md, "The thread cache serves al_malloc". */

void *al_malloc_at(size_t n, al_site *site)
{
    ali_shard *sh = ali_tls_shard;
    if (AL_UNLIKELY(ali_tls_scope != NULL))
        return ali_malloc_fresh(n, site); /* a scope's blocks are its own */
    ali_site *rt = (ali_site *)__atomic_load_n(&site->rt, __ATOMIC_ACQUIRE);
    ali_thread_cache *c;
    if (AL_UNLIKELY(!sh || !(c = sh->cache) || n - 1 >= AL_CACHE_MAX || !rt || ali_gates_now() ||
                    sh->pending + (int64_t)n > (int64_t)AL_STATS_BATCH_BYTES))
        return ali_cache_malloc_general(n, site);
    /* The counters of the thread's previous cached allocation's site, guessed as ali_account_free
     * guesses a free's: the directory walk's loads (measured: a third of this function's time in
     * a loop making arrays at one line) then overlap with the cache's. The guessed site was
     * checked when it became the guess: a record without a tag of its own. */
    ali_site_counters *ctr = sh->alloc_guess_c;
    if (AL_UNLIKELY(rt != sh->alloc_guess)) {
        if (rt->tag_ptr || !(ctr = ali_counters_made(sh, rt->id)))
            return ali_cache_malloc_general(n, site);
        sh->alloc_guess = rt;
        sh->alloc_guess_c = ctr;
    }
    cache_bin *bin = bin_of(c, n);
    if (!bin->n)
        return ali_malloc_fresh(n, site);
    ali_flow_bump(&ctr->flow, (int64_t)n, 1);
    (void)ali_stats_add(sh, (int64_t)n, 1); /* not due for publishing: checked above */
    return revive_header(resized(bin_take(bin), n), rt, sh->tid);
}

void *al_malloc_cached_at(size_t n, al_site *site) { return al_malloc_at(n, site); }

void al_free_at(void *p, al_site *site)
{
    if (AL_UNLIKELY(ali_tls_scope != NULL))
        return ali_free(p, site); /* mostly its own blocks: no cache */
    ali_shard *sh = ali_tls_shard;
    ali_thread_cache *c;
    if (AL_UNLIKELY(!sh || !(c = sh->cache) || !p || !live_on_page(p)))
        return ali_cache_free_general(p, site);
    ali_block *b = ali_block_of(p);
    if (!cacheable(b))
        return ali_free(p, site); /* a scope's, a watched or a large block */
    if (AL_UNLIKELY(!ali_check_guards))
        return ali_cache_free_general(p, site); /* asks what the block holds */
    size_t n = b->size;
    uint32_t id = b->site->id;
    cache_bin *bin;
    ali_site_counters *ctr;
    if (AL_UNLIKELY((bin = bin_of(c, n))->n == CACHE_PER_BIN ||
                    sh->pending - (int64_t)n < -(int64_t)AL_STATS_BATCH_BYTES ||
                    !(ctr = ali_free_counters_made(sh, id))))
        return ali_cache_free_general(p, site);
    b->free_site = site;
    b->magic = ALI_MAGIC_CACHED;
    bin_put(bin, b);
    ali_flow_bump(&ctr->flow, -(int64_t)n, -1);
    (void)ali_stats_add(sh, -(int64_t)n, -1); /* not due for publishing: checked above */
}

void al_free_cached_at(void *p, al_site *site) { al_free_at(p, site); }

/* Moves a block to a new size through allocate-copy-free, into scope `into`. */
static void *realloc_by_copy(ali_block *b, size_t n, al_scope *into, ali_site *site,
                             const al_site *loc)
{
    size_t align = b->align_log2 ? (size_t)1 << b->align_log2 : 0;
    void *q = ali_alloc_in(into, n, align, false, site, loc);
    if (!q)
        return NULL;
    memcpy(q, b + 1, b->size < n ? b->size : n);
    ali_free_block(b, loc);
    return q;
}

void *al_realloc_at(void *p, size_t n, al_site *site)
{
    if (!p)
        return al_malloc_at(n, site);
    ali_block *b = ali_block_check(p, site, "realloc");
    if (!b)
        return NULL;
    if (n == 0) {
        ali_free_block(b, site);
        return NULL;
    }
    ali_site *rt = ali_site_get(site, b->site ? b->site->tag : NULL);
    if (!rt)
        return ali_alloc_fail(n, site, "out of memory for the site record");
    return ali_realloc_block(b, n, rt, site);
}

void *ali_realloc_block(ali_block *b, size_t n, ali_site *rt, const al_site *site)
{
    al_scope *owner = b->chunk ? b->chunk->scope : NULL;
    /* A block keeps its owner, except that a scope's block reallocated by another thread moves
     * to that thread's current scope: a scope's slots and heap belong to its own thread. */
    if (owner && !ali_scope_on_owner_thread(owner))
        return realloc_by_copy(b, n, ali_scope_current(), rt, site);
    if (!ALI_BACKING_HAS_HEAPS && b->align_log2) /* no aligned realloc in the C library */
        return realloc_by_copy(b, n, owner, rt, site);
    /* A registered or weakly referenced block resizes in place only when it fits its backing
     * block; else it moves by copy, whose free drops the registrations before the memory goes
     * (a backing realloc would free the old block first, under a running release function). */
    size_t front = front_space(b->align_log2), total;
    if (!raw_size(n, front, &total))
        return ali_alloc_fail(n, site, "size overflows");
    bool watched = __atomic_load_n(&b->flags, __ATOMIC_RELAXED) & ALI_BLOCK_WATCHED;
    if (AL_UNLIKELY(watched) && total > backing_usable(raw_of(b)))
        return realloc_by_copy(b, n, owner, rt, site);
    if (AL_UNLIKELY((ali_gates_now() & ALI_GATE_FAULT)) && ali_fault_should_fail(rt->tag, owner))
        return ali_alloc_fail(n, site, "injected failure (al_memory_fail_after)");
    int64_t delta = (int64_t)n - (int64_t)b->size;
    if (AL_UNLIKELY((ali_gates_now() & ALI_GATE_LIMITS)) && delta > 0 &&
        !ali_limits_admit((uint64_t)delta, site))
        return NULL;
    if (owner && delta > 0 && !ali_scope_charge(owner, (uint64_t)delta, site))
        return NULL;
    ali_block saved = *b;
    void *heap = (ali_block_flags(b) & ALI_BLOCK_IN_HEAP) ? owner->heap : NULL;
    size_t align = b->align_log2 ? (size_t)1 << b->align_log2 : 0;
    /* Freed first: when the block moves, the backing store frees the old one, and a later free
     * of the old pointer must be reported as the double free it is (the copy is `saved`). */
    if (!watched) {
        b->free_site = site;
        b->magic = ALI_MAGIC_FREED;
    }
    char *raw = watched ? raw_of(b) : backing_realloc(heap, raw_of(b), total, align);
    if (!raw) {
        b->magic = ALI_MAGIC_LIVE;
        if (owner && delta > 0)
            ali_scope_uncharge(owner, (uint64_t)delta);
        return ali_alloc_fail(n, site, "out of memory");
    }
    ali_block *nb = (ali_block *)(raw + front) - 1;
    *nb = saved; /* the backing store may have overwritten the header's first word */
    ali_account_resize(saved.site, saved.size, rt, n);
    if (owner)
        ali_scope_resized(owner, saved.site, saved.size, rt, n);
    nb->site = rt;
    nb->size = n;
    guard_write(nb);
    if (owner && delta < 0)
        ali_scope_uncharge(owner, (uint64_t)-delta);
    if (nb != b && nb->chunk)
        ali_scope_moved(nb);
    return nb + 1;
}

char *al_strndup_at(const char *s, size_t n, al_site *site)
{
    if (!s)
        return NULL;
    size_t len = strnlen(s, n);
    char *d = ali_alloc(len + 1, 0, false, ali_site_get(site, NULL), site);
    if (d) {
        memcpy(d, s, len);
        d[len] = '\0';
    }
    return d;
}

char *al_strdup_at(const char *s, al_site *site) { return al_strndup_at(s, SIZE_MAX, site); }

int al_owns(const void *p)
{
    if (!p || ((uintptr_t)p & 15) != 0 || !backing_owns(p))
        return 0;
    if (peek_magic(p) != ALI_MAGIC_LIVE)
        return 0;
    const ali_block *b = ali_block_of(p);
    return !b->chunk || ali_scope_owns(b);
}

size_t al_block_size(const void *p) { return al_owns(p) ? ali_block_of(p)->size : 0; }

int al_block_get_info(const void *p, al_block_info *out)
{
    if (!out)
        return AL_EINVAL;
    if (!al_owns(p))
        return AL_EBADPTR;
    const ali_block *b = ali_block_of(p);
    al_block_info i = {
        .size = b->size,
        .tag = b->site ? b->site->tag : "untagged",
        .file = b->site && b->site->loc ? b->site->loc->file : NULL,
        .line = b->site && b->site->loc ? b->site->loc->line : 0,
        .function = b->site && b->site->loc ? b->site->loc->function : NULL,
        .scope = b->chunk ? ali_chunk_scope_name(b->chunk) : NULL,
        .thread = b->tid,
    };
    *out = i;
    return AL_OK;
}

/* -------- Plain functions, for callers that need a function pointer. -------- */
static al_site plain_site = {"(function pointer)", "al_malloc", 0, NULL, 0};
void *(al_malloc)(size_t n) { return al_malloc_at(n, &plain_site); }
void *(al_calloc)(size_t n, size_t size) { return al_calloc_at(n, size, &plain_site); }
void *(al_realloc)(void *p, size_t n) { return al_realloc_at(p, n, &plain_site); }
void(al_free)(void *p) { al_free_at(p, &plain_site); }
char *(al_strdup)(const char *s) { return al_strdup_at(s, &plain_site); }

void *ali_internal_realloc(void *p, size_t n)
{
    if (AL_UNLIKELY(ali_gates_now() & ALI_GATE_INTERNAL_FAULT) && ali_fault_internal_fails())
        return NULL;
    return backing_realloc(NULL, p, n, 0);
}

char *ali_internal_strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = ali_internal_alloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
}
