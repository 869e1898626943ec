/* The preload library (libastrolab_preload.so): routes an unmodified program's whole malloc
 * family through the memory manager, as `astrolab run -- PROGRAM` sets it up with LD_PRELOAD.
 *
 * Call sites come from the caller's return address, cached per thread so the hot path takes no
 * lock. The program's blocks carry a lean 16-byte header (below); allocations inside a scope or
 * while fault injection or limits are armed take the manager's full path. Allocations made while
 * the manager itself is busy (re-entry from the C library during
 * a report, dlsym, libdw) become "raw" blocks: same header, magic ALI_MAGIC_RAW, untracked.
 * Pointers the manager never gave out (memory from before the preload took over, or from
 * glibc's own __libc_malloc) go back to glibc. Symbolization and the exit report are in
 * report.c beside this file. */
#include <dlfcn.h>
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <mimalloc.h>

#include "astrolab/log.h"
#include "memory/backing.h"
#include "memory/front_int.h"
#include "memory/memory_int.h"
#include "preload_int.h"
#include "util/settings_int.h"

#define EXPORT __attribute__((visibility("default")))
#define CALLER ((uintptr_t)__builtin_return_address(0))
#define CFA ((uintptr_t)__builtin_dwarf_cfa()) /* the caller's stack pointer before the call */

/* glibc's own allocator, for pointers that did not come from us. */
extern void *__libc_malloc(size_t);
extern void __libc_free(void *);
extern void *__libc_realloc(void *, size_t);

static ALI_TLS int in_manager; /* >0 while the manager or the reporter runs on this thread */

void ali_preload_enter(void) { in_manager++; }
void ali_preload_leave(void) { in_manager--; }
bool ali_preload_inside(void) { return in_manager > 0; }

/* -------- Sites by return address: a per-thread direct-mapped cache over site.c -------- */
#define PC_CACHE 512
typedef struct pc_entry {
    uintptr_t pc;
    const char *tag; /* the static tag strings below: compared by pointer */
    ali_site *site;
} pc_entry;
static ALI_TLS pc_entry pc_cache[PC_CACHE];

static inline pc_entry *cache_entry(uintptr_t pc, const char *tag)
{
    return &pc_cache[(pc ^ (pc >> 9) ^ (uintptr_t)tag) & (PC_CACHE - 1)];
}

static inline bool cache_hit(const pc_entry *e, uintptr_t pc, const char *tag)
{
    return e->pc == pc && e->tag == tag;
}

static bool ready;
static ali_site *site_of(uintptr_t pc, const char *tag)
{
    pc_entry *e = cache_entry(pc, tag);
    if (AL_LIKELY(cache_hit(e, pc, tag)))
        return e->site;
    ali_site *s = ali_site_for_pc(pc, tag);
    /* A caller in libc is not cached once main runs: each such allocation takes the slow
     * path, which files it at the program's frame behind it (runtime.c). */
    if (s && !(ready && tag != ali_tag_libc && ali_preload_in_runtime(pc)))
        *e = (pc_entry){pc, tag, s};
    return s;
}

/* Until the preload's constructor runs, allocations come from the constructors of shared
 * libraries (the C runtime's, our own dependencies'): their sites are tagged "before-main"
 * and the report counts them apart from the program's leaks. */
const char ali_tag_libc[] = "libc";
static const char TAG_INIT[] = "before-main";
/* -------- Deeper call stacks: ASTROLAB_STACK_DEPTH=N (1..16; 1, the default, is the caller's
 * return address alone, at no unwinding cost). With N > 1 each allocation unwinds with
 * libunwind (a few hundred ns), and the site is the N innermost frames from the caller on, so
 * allocations through a wrapper (xmalloc, operator new) are told apart by who called it. */
static int stack_depth = 1;

/* The site of a stack (innermost first): a synthetic pc hashed from its frames. */
static inline uintptr_t stack_key(const uintptr_t *frames, int n);

static ali_site *site_of_stack(const uintptr_t *frames, int n, const char *tag)
{
    uintptr_t key = stack_key(frames, n);
    if (cache_hit(cache_entry(key, tag), key, tag))
        return cache_entry(key, tag)->site; /* seen on this thread: its frames are remembered */
    ali_site *s = site_of(key, tag);
    if (s)
        ali_preload_stack_remember(key, frames, n);
    return s;
}

/* The site of the N innermost frames from the caller's return address `pc` on. */
static ali_site *stack_site_of(uintptr_t pc, const char *tag)
{
    uintptr_t frames[ALI_STACK_MAX];
    int depth = ali_preload_unwind_from(pc, frames, stack_depth);
    if (depth == 0) /* the caller's frame was not found: fall back to the return address */
        return site_of(pc, tag);
    return site_of_stack(frames, depth, tag);
}

/* -------- Wrappers (wrappers.c): an allocation made inside xmalloc is filed under the first
 * frame outside the wrappers, with the wrappers' frames kept in the site's stack. `cfa` is the
 * canonical frame address of the exported entry point (malloc...), from which wrappers.c reads
 * the callers of known wrappers without unwinding. Return addresses that are not in a wrapper
 * are cached per thread as plain sites (site_of) and never come here again; a wrapper's are
 * never cached, so each allocation through a wrapper takes this path. */
/* A per-thread cache of wrappers.c's classifications, so that the common case (one wrapper
 * whose caller is read at a known offset) costs two loads, a hash and the site cache's probe
 * (wrapped_fast) instead of the slow path's table lookups: measured on perl, whose every
 * allocation goes through Perl_safesysmalloc (docs/PERFORMANCE.md). */
#define WRAP_CACHE 256
typedef struct wrap_entry {
    uintptr_t pc;
    int32_t off;
    uint8_t kind; /* ali_wrap_kind */
} wrap_entry;
static ALI_TLS wrap_entry wrap_cache[WRAP_CACHE];

static inline wrap_entry *wrap_slot(uintptr_t pc)
{
    return &wrap_cache[(pc ^ (pc >> 10)) & (WRAP_CACHE - 1)];
}

static inline uintptr_t stack_key(const uintptr_t *frames, int n)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (int i = 0; i < n; i++)
        h = (h ^ frames[i]) * 0x100000001b3ull;
    return ((uintptr_t)h >> 1) | ALI_STACK_BIT;
}

static ali_site *wrapped_site(uintptr_t pc, uintptr_t cfa, const char *tag)
{
    if (ali_preload_in_runtime(pc))
        return NULL;
    uintptr_t frames[ALI_STACK_MAX], at = pc;
    int n = 0;
    frames[n++] = pc;
    for (uintptr_t from = pc; n < ALI_STACK_MAX; from = at) {
        at = ali_wrapper_caller(from, &cfa);
        int32_t off = 0;
        ali_wrap_kind k = ali_wrapper_lookup(from, &off);
        if (k != ALI_WRAP_UNKNOWN)
            *wrap_slot(from) = (wrap_entry){from, off, (uint8_t)k};
        if (!at)
            break;
        frames[n++] = at;
    }
    return n > 1 ? site_of_stack(frames, n, tag) : NULL;
}

/* The site of an allocation through one wrapper whose caller is no wrapper, from the caches
 * alone; NULL when they do not know (the slow path then finds it and fills them). */
static inline ali_site *wrapped_fast(uintptr_t pc, uintptr_t cfa, const char *tag)
{
    const wrap_entry *w = wrap_slot(pc);
    if (w->pc != pc || w->kind != ALI_WRAP_FAST)
        return NULL;
    uintptr_t frames[2] = {pc, *(const uintptr_t *)(cfa + (uintptr_t)w->off - sizeof(uintptr_t))};
    const wrap_entry *c = wrap_slot(frames[1]);
    if (c->pc != frames[1] || c->kind != ALI_WRAP_NOT)
        return NULL;
    uintptr_t key = stack_key(frames, 2);
    pc_entry *e = cache_entry(key, tag);
    return cache_hit(e, key, tag) ? e->site : NULL;
}

/* The site of an allocation whose caller's return address is pc (cfa as above). */
static ali_site *site_for(uintptr_t pc, uintptr_t cfa, const char *tag)
{
    if (stack_depth > 1 && ready)
        return stack_site_of(pc, tag);
    ali_site *s = ready ? wrapped_site(pc, cfa, tag) : NULL;
    return s ? s : site_of(pc, tag);
}

static const char TAG_MALLOC[] = "malloc", TAG_CALLOC[] = "calloc", TAG_REALLOC[] = "realloc",
                  TAG_ALIGNED[] = "aligned", TAG_STRDUP[] = "strdup";

/* -------- Lean blocks: the program's own mallocs --------
 * A program's block needs what the report shows (size and site) and what a double free needs (a
 * magic that outlives the free), not the scope and registry fields of the manager's 48-byte
 * header. 16 bytes sit on the user pointer's own cache line, where the full header spans two
 * lines at three of four offsets (bench/preload.sh: 0.48 s -> 0.30 s of preloaded run on 10
 * million allocations, docs/PERFORMANCE.md). Both headers end in their magic at p - 4, so one
 * load tells them apart. mimalloc reuses a freed block's first word for its free
 * list: `size` is lost once freed, `site` and `magic` are not. */
/* lean_block is in preload_int.h: the exit scan (reach.c) reads it too. */

/* Guard bytes after lean blocks: only with ASTROLAB_CHECK_GUARDS=1 (read in preload_init; the
 * magic says which blocks have them, so blocks from before that keep working). Writing and
 * checking them touches the block's last cache line on every malloc and free, a line a program
 * that fills only the start of its blocks never touches: measured in docs/PERFORMANCE.md.
 * Overflows are valgrind's and AddressSanitizer's job; ours here is accounting and leaks, as
 * heaptrack's is. */
static uint32_t lean_live = LEAN_LIVE;

static inline size_t lean_guard_size(uint32_t magic)
{
    return lean_is_guarded(magic) ? ALI_GUARD_SIZE : 0;
}

static inline bool lean_guard_intact(const lean_block *h)
{
    if (!lean_is_guarded(h->magic) || h->size > ALI_GUARD_MAX)
        return true;
    uint64_t g;
    memcpy(&g, (const char *)(h + 1) + h->size, sizeof g);
    return g == 0x0101010101010101ull * ALI_GUARD_BYTE;
}

static inline void lean_guard_write(lean_block *h)
{
    if (lean_is_guarded(h->magic) && h->size <= ALI_GUARD_MAX)
        memset((char *)(h + 1) + h->size, ALI_GUARD_BYTE, ALI_GUARD_SIZE);
}

/* "file:line in function()" (or the object) of site `id`, for error messages; allocates. */
static const char *describe_site(uint32_t id, ali_where *w)
{
    return ali_where_symbolized(w, ali_site_by_id(id));
}

/* The largest size any lean block has had: a free whose header claims more was overwritten
 * (checked in full, against mimalloc's size, only then). */
static _Atomic uint64_t lean_max_size;

static void raise_max_size(uint64_t n)
{
    uint64_t seen = atomic_load_explicit(&lean_max_size, memory_order_relaxed);
    while (n > seen && !atomic_compare_exchange_weak(&lean_max_size, &seen, n))
        ;
}

/* The thread's last block allocated: freed before the next allocation, it is a temporary
 * (peak.c). One store per allocation, one compare per free. Kept complemented: the exit scan
 * (reach.c) reads thread-local storage as a root, and a plain pointer would keep the block
 * "reachable". */
static ALI_TLS uintptr_t last_block;
extern ALI_TLS ali_temp_counts *ali_tls_temps; /* peak.c */

static inline void count_temporary(uint32_t site)
{
    ali_temp_counts *c = ali_tls_temps;
    if (AL_LIKELY(c && site < c->cap))
        ALI_BUMP(c->n[site], 1);
    else
        ali_temporary_slow(site);
}

/* -------- Sampled stacks (sample.c): each thread counts down the bytes it allocates
 * (ali_sample_left, one subtract and branch per allocation); the allocation that takes the count
 * below zero goes to sample.c, which unwinds its stack and draws the next count. -------- */
static __attribute__((noinline)) void sample_slow(lean_block *h, uintptr_t pc)
{
    if (ali_sample_crossed((uintptr_t)h, h->site, h->size, pc, ready))
        h->magic |= 1; /* LEAN_SAMPLED, LEAN_SAMPLED_GUARDED */
}

static inline void *lean_alloc(ali_shard *sh, size_t n, size_t align, bool zero, ali_site *site,
                               uintptr_t pc)
{
    size_t total;
    uint32_t live = lean_live;
    if (AL_UNLIKELY(__builtin_add_overflow(n, sizeof(lean_block) + lean_guard_size(live), &total) ||
                    total > PTRDIFF_MAX))
        return NULL;
    lean_block *h;
    if (AL_LIKELY(!align))
        h = zero ? backing_zalloc(NULL, total, 0) : mi_malloc(total); /* large: pages untouched */
    else if (!(h = mi_malloc_aligned_at(total, align, sizeof *h)) || zero)
        h = backing_zero(h, total);
    if (AL_UNLIKELY(!h))
        return NULL;
    if (AL_UNLIKELY(total >= ALI_HUGE_MIN) && (align || !zero))
        ali_huge_add(h, total, NULL); /* backing_zalloc registered its own */
    h->size = n;
    h->site = site->id;
    h->magic = live;
    lean_guard_write(h);
    if (AL_UNLIKELY(n > atomic_load_explicit(&lean_max_size, memory_order_relaxed)))
        raise_max_size(n);
    if (AL_LIKELY(sh != NULL))
        ali_account(sh, site, (int64_t)n, 1);
    if (AL_UNLIKELY((ali_sample_left -= (int64_t)n) < 0))
        sample_slow(h, pc);
    last_block = ~(uintptr_t)h;
    return h + 1;
}

/* False (reported) when the block's header or the guard after it was overwritten (an overflow
 * from the block before, or out of this one): the block is then kept. A site id that does not
 * exist would index the counters out of bounds. */
static bool lean_check(void *p, const char *op)
{
    lean_block *h = lean_of(p);
    ali_shard *sh = ali_tls_shard;
    bool header_ok = ((sh && h->site == sh->free_guess) || h->site < ali_site_count()) &&
                     (h->size <= atomic_load_explicit(&lean_max_size, memory_order_relaxed) ||
                      h->size <= mi_usable_size(h) - sizeof *h);
    if (AL_LIKELY(header_ok && lean_guard_intact(h)))
        return true;
    in_manager++; /* the symbolizer's allocations are not the program's */
    ali_where at;
    if (!header_ok)
        ali_memory_error("%s of %p: the block's header was overwritten (a heap buffer overflow "
                         "from the block before it?); the block is kept",
                         op, p);
    else {
        ali_memory_error("%s of %p: guard bytes after the %llu-byte block allocated at %s were "
                         "overwritten (heap buffer overflow); the block is kept",
                         op, p, (unsigned long long)h->size, describe_site(h->site, &at));
    }
    in_manager--;
    return false;
}

static inline void lean_free(void *p)
{
    lean_block *h = lean_of(p);
    ali_shard *sh = ali_tls_shard;
    uint32_t site = h->site;
    uint64_t size = h->size;
    /* The common case checks little more: the site is the one the thread's last free had, and
     * the size is one a block has had (an overflow into the header writes neither sensibly). */
    if (AL_UNLIKELY(!sh || site != sh->free_guess || !lean_guard_intact(h) ||
                    size > atomic_load_explicit(&lean_max_size, memory_order_relaxed)) &&
        !lean_check(p, "free"))
        return;
    if (AL_UNLIKELY(h->magic & 1))
        ali_sample_free((uintptr_t)h);
    h->magic = LEAN_FREED;
    if (AL_UNLIKELY(!sh))
        sh = ali_shard_self();
    if (AL_UNLIKELY(~(uintptr_t)h == last_block)) {
        last_block = 0;
        count_temporary(site);
    }
    if (AL_LIKELY(sh != NULL)) {
        /* At the thread's own high since its last publish: maybe the process's peak. */
        if (AL_UNLIKELY(sh->pending == sh->pending_max) && size)
            ali_peak_turn();
        ali_account_free(sh, site, size);
    }
    backing_free(h);
}

/* Resizes lean block p (n > 0) and moves it to `site`; NULL (p unchanged) on failure. */
static void *lean_resize(void *p, size_t n, ali_site *site, uintptr_t pc)
{
    if (!lean_check(p, "realloc"))
        return NULL;
    lean_block *h = lean_of(p);
    uint32_t live = h->magic;
    size_t total;
    if (__builtin_add_overflow(n, sizeof(lean_block) + lean_guard_size(live), &total) ||
        total > PTRDIFF_MAX)
        return NULL;
    uint64_t old = h->size;
    uint32_t old_site = h->site;
    ali_shard *sh = ali_tls_shard;
    if (n < old && sh && sh->pending == sh->pending_max)
        ali_peak_turn();
    /* Freed first: when the block moves, mimalloc frees the old one, and a later free of the old
     * pointer must be reported as the double free it is. The copy keeps the magic; set below. */
    h->magic = LEAN_FREED;
    lean_block *moved = backing_realloc(NULL, h, total, 0); /* default alignment, as glibc's */
    if (!moved) {
        h->magic = live;
        return NULL;
    }
    if (live & 1) { /* the old allocation's sample ends; the new size may be sampled below */
        ali_sample_free((uintptr_t)h);
        live &= ~1u;
    }
    h = moved;
    if (n > atomic_load_explicit(&lean_max_size, memory_order_relaxed))
        raise_max_size(n);
    h->size = n;
    h->site = site->id;
    h->magic = live;
    lean_guard_write(h);
    ali_account_resize(ali_site_by_id(old_site), old, site, n);
    if ((ali_sample_left -= (int64_t)n) < 0)
        sample_slow(h, pc);
    last_block = ~(uintptr_t)h;
    return h + 1;
}

/* -------- Raw (untracked) blocks, for re-entry -------- */
static void *raw_alloc(size_t n, size_t align)
{
    size_t total;
    if (__builtin_add_overflow(n, sizeof(ali_block) + ALI_GUARD_SIZE, &total))
        return NULL;
    char *raw = backing_malloc(NULL, total, align > 16 ? align : 0);
    if (!raw)
        return NULL;
    ali_block *b = (ali_block *)(raw + sizeof(ali_block)) - 1;
    memset(b, 0, sizeof *b);
    b->size = n;
    b->magic = ALI_MAGIC_RAW;
    return b + 1;
}

/* Any allocation: raw on re-entry, full-header in a scope or while fault injection or limits
 * are armed, else lean. */
static __attribute__((noinline)) void *alloc_slow(size_t n, size_t align, bool zero, uintptr_t pc,
                                                  uintptr_t cfa, const char *tag)
{
    if (AL_UNLIKELY(in_manager)) {
        void *p = raw_alloc(n, align);
        if (p && zero)
            memset(p, 0, n);
        return p;
    }
    in_manager++;
    const char *t = AL_LIKELY(ready) ? tag : TAG_INIT;
    ali_site *site = site_for(pc, cfa, t);
    if (site && ready && stack_depth == 1 && ali_preload_in_runtime(pc)) {
        uintptr_t at = ali_preload_program_frame(pc); /* the program's call into libc */
        ali_site *mine = at ? site_of(at, ali_tag_libc) : NULL;
        site = mine ? mine : site;
    }
    /* A site's first allocation after main: its stack, once (the slow path meets every new
     * site; the exchange keeps other threads from unwinding it again). Before the block is
     * made, not after: unwinding after it, with the new block's address live in a register,
     * left a copy of that address where the exit scan found it (where exactly was not
     * established), and a lost block counted as reachable in gcc -O3 builds. */
    if (site && ready && stack_depth == 1 &&
        !atomic_load_explicit(&site->stack_noted, memory_order_relaxed) &&
        !atomic_exchange_explicit(&site->stack_noted, 1, memory_order_relaxed))
        ali_sample_first_stack(site->id, pc);
    void *p = NULL;
    if (AL_UNLIKELY(!site))
        p = NULL;
    else if (AL_LIKELY(!ali_scope_current() && !ali_gates_now()))
        p = lean_alloc(ali_shard_self(), n, align, zero, site, pc);
    else
        p = ali_alloc(n, align, zero, site, NULL);
    in_manager--;
    if (!p)
        errno = ENOMEM;
    return p;
}

/* An allocation through a wrapper the thread's caches know (wrapped_fast), else the slow
 * path. Out of line: the plain hot path stays small. */
static __attribute__((noinline)) void *alloc_wrapped(size_t n, size_t align, bool zero,
                                                     uintptr_t pc, uintptr_t cfa, const char *tag)
{
    ali_shard *sh = ali_tls_shard;
    ali_site *site;
    if (!in_manager && stack_depth == 1 && sh && !ali_scope_current() && !ali_gates_now() &&
        (site = wrapped_fast(pc, cfa, tag)) != NULL) {
        void *p = lean_alloc(sh, n, align, zero, site, pc);
        if (AL_UNLIKELY(!p))
            errno = ENOMEM;
        return p;
    }
    return alloc_slow(n, align, zero, pc, cfa, tag);
}

/* The hot path, inlined into each entry point: a site this thread has seen, a lean block. It
 * calls nothing that can allocate (the thread's shard exists once its cache holds the site),
 * so it needs no re-entry mark. */
static inline __attribute__((always_inline)) void *
alloc(size_t n, size_t align, bool zero, uintptr_t pc, uintptr_t cfa, const char *tag)
{
    align = align > 16 ? align : 0;
    pc_entry *e = cache_entry(pc, tag);
    ali_shard *sh = ali_tls_shard;
    if (AL_LIKELY(cache_hit(e, pc, tag) && !in_manager && stack_depth == 1 && sh &&
                  !ali_scope_current() && !ali_gates_now())) {
        void *p = lean_alloc(sh, n, align, zero, e->site, pc);
        if (AL_UNLIKELY(!p))
            errno = ENOMEM;
        return p;
    }
    return alloc_wrapped(n, align, zero, pc, cfa, tag);
}

/* What a pointer is: ours (lean, full-header tracked, raw), a lean block already freed, or
 * glibc's. */
enum kind { FOREIGN, LEAN, LEAN_FREE, TRACKED, RAW };
static enum kind kind_of(const void *p)
{
    if (((uintptr_t)p & 15) != 0 || !backing_owns(p))
        return FOREIGN;
    switch (((const uint32_t *)p)[-1]) {
    case LEAN_LIVE:
    case LEAN_GUARDED:
    case LEAN_SAMPLED:
    case LEAN_SAMPLED_GUARDED:
        return LEAN;
    case LEAN_FREED:
        return LEAN_FREE;
    case ALI_MAGIC_RAW:
        return RAW;
    default:
        return TRACKED; /* ali_free validates it and reports what it is not */
    }
}

/* A free or realloc of a lean block already freed. */
static void report_freed(void *p, const char *op)
{
    in_manager++;
    ali_where at;
    if (lean_of(p)->site < ali_site_count())
        describe_site(lean_of(p)->site, &at);
    else
        ali_where_site(&at, NULL);
    ali_memory_error("%s of %p: the block was allocated at %s and already freed (%s)", op, p,
                     at.text, strcmp(op, "free") == 0 ? "double free" : "use after free");
    in_manager--;
}

static inline void release(void *p)
{
    /* The common case first: our block, its magic on p's own page (the read cannot fault). */
    uintptr_t in_page = (uintptr_t)p & (ALI_MIN_PAGE - 1);
    if (AL_LIKELY((in_page & 15) == 0 && in_page >= sizeof(lean_block))) {
        uint32_t magic = ((const uint32_t *)p)[-1];
        if (AL_LIKELY(magic == LEAN_LIVE || magic == LEAN_GUARDED)) {
            lean_free(p);
            return;
        }
        if (magic == ALI_MAGIC_LIVE && in_page >= sizeof(ali_block)) {
            in_manager++;
            ali_free(p, NULL);
            in_manager--;
            return;
        }
    }
    switch (kind_of(p)) {
    case FOREIGN:
        __libc_free(p);
        return;
    case LEAN:
        lean_free(p);
        return;
    case LEAN_FREE:
        report_freed(p, "free");
        return;
    case RAW:
        ali_block_of(p)->magic = ALI_MAGIC_FREED;
        backing_free(ali_block_of(p));
        return;
    case TRACKED:
        break;
    }
    in_manager++;
    ali_free(p, NULL);
    in_manager--;
}

static size_t usable(void *p)
{
    static size_t (*libc_usable)(void *);
    enum kind k = kind_of(p);
    if (k == LEAN)
        return lean_of(p)->size;
    if (k != FOREIGN)
        return ali_block_of(p)->size;
    if (!libc_usable) {
        in_manager++;
        libc_usable = (size_t(*)(void *))dlsym(RTLD_NEXT, "malloc_usable_size");
        in_manager--;
    }
    return libc_usable ? libc_usable(p) : 0;
}

static void *resize(void *p, size_t n, uintptr_t pc, uintptr_t cfa)
{
    if (!p)
        return alloc(n, 0, false, pc, cfa, TAG_REALLOC);
    if (n == 0) {
        release(p);
        return NULL;
    }
    enum kind k = kind_of(p);
    if (k == LEAN_FREE) {
        report_freed(p, "realloc");
        return NULL;
    }
    if (k == LEAN && !in_manager) {
        in_manager++;
        ali_site *site = site_for(pc, cfa, TAG_REALLOC);
        void *q = site ? lean_resize(p, n, site, pc) : NULL;
        in_manager--;
        if (!q)
            errno = ENOMEM;
        return q;
    }
    if (k == TRACKED && !in_manager) {
        in_manager++;
        ali_site *site = site_for(pc, cfa, TAG_REALLOC);
        ali_block *b = site ? ali_block_check(p, NULL, "realloc") : NULL;
        void *q = b ? ali_realloc_block(b, n, site, NULL) : NULL;
        in_manager--;
        return q;
    }
    /* Raw or foreign blocks move by copy into a block of the current kind. */
    size_t old = usable(p);
    void *q = alloc(n, 0, false, pc, cfa, TAG_REALLOC);
    if (!q)
        return NULL;
    memcpy(q, p, old < n ? old : n);
    release(p);
    return q;
}

/* -------- The exported malloc family -------- */
EXPORT void *malloc(size_t n) { return alloc(n, 0, false, CALLER, CFA, TAG_MALLOC); }

EXPORT void free(void *p)
{
    if (p)
        release(p);
}

EXPORT void *calloc(size_t n, size_t size)
{
    size_t total;
    if (__builtin_mul_overflow(n, size, &total)) {
        errno = ENOMEM;
        return NULL;
    }
    return alloc(total, 0, true, CALLER, CFA, TAG_CALLOC);
}

EXPORT void *realloc(void *p, size_t n) { return resize(p, n, CALLER, CFA); }

EXPORT void *reallocarray(void *p, size_t n, size_t size)
{
    size_t total;
    if (__builtin_mul_overflow(n, size, &total)) {
        errno = ENOMEM;
        return NULL;
    }
    return resize(p, total, CALLER, CFA);
}

/* As glibc's memalign: an alignment that is not a power of two is rounded up to one (0 and
 * the small ones give malloc's 16); one too large to round fails with EINVAL. */
static void *aligned(size_t align, size_t n, uintptr_t pc, uintptr_t cfa)
{
    if (align > ((size_t)1 << 62)) {
        errno = EINVAL;
        return NULL;
    }
    while (align & (align - 1))
        align += align & -align; /* up to the next power of two */
    return alloc(n, align, false, pc, cfa, TAG_ALIGNED);
}

EXPORT int posix_memalign(void **out, size_t align, size_t n)
{
    if (align < sizeof(void *) || (align & (align - 1)) != 0)
        return EINVAL;
    void *p = aligned(align, n, CALLER, CFA);
    if (!p)
        return ENOMEM;
    *out = p;
    return 0;
}

EXPORT void *aligned_alloc(size_t align, size_t n) { return aligned(align, n, CALLER, CFA); }

EXPORT void *memalign(size_t align, size_t n) { return aligned(align, n, CALLER, CFA); }

EXPORT void *valloc(size_t n) { return aligned((size_t)sysconf(_SC_PAGESIZE), n, CALLER, CFA); }

EXPORT void *pvalloc(size_t n)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    if (n > SIZE_MAX - page) {
        errno = ENOMEM;
        return NULL;
    }
    size_t rounded = (n + page - 1) & ~(page - 1);
    return aligned(page, rounded ? rounded : page, CALLER, CFA);
}

EXPORT size_t malloc_usable_size(void *p) { return p ? usable(p) : 0; }

EXPORT char *strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = alloc(n, 0, false, CALLER, CFA, TAG_STRDUP);
    if (d)
        memcpy(d, s, n);
    return d;
}

EXPORT char *strndup(const char *s, size_t max)
{
    size_t n = strnlen(s, max);
    char *d = alloc(n + 1, 0, false, CALLER, CFA, TAG_STRDUP);
    if (d) {
        memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}

/* -------- The dashboard's threads (astrolab run --ui): their mallocs are the manager's own,
 * raw like the report's, so the program's figures are the program's. -------- */
static ALI_TLS bool own_thread;

static void mark_own_thread(void)
{
    if (!own_thread) {
        own_thread = true;
        in_manager++; /* never undone: the thread is the dashboard's until it ends */
    }
}

/* -------- fork: no lock may be held across it -------- */
/* The other prepare handlers may run after ours, with these locks held: the forking thread's
 * allocations meanwhile are raw, so none waits for a lock it holds. */
static void before_fork(void)
{
    in_manager++;
    ali_wrapper_fork_prepare();
    ali_sample_fork_prepare();
    ali_preload_stacks_lock();
    ali_site_lock();
}

static void after_fork(void)
{
    ali_site_unlock();
    ali_preload_stacks_unlock();
    ali_sample_fork_done();
    ali_wrapper_fork_done();
    in_manager--;
}

__attribute__((constructor)) static void preload_init(void)
{
    pthread_atfork(before_fork, after_fork, after_fork);
    /* The same setting as the library's guard check, with another default: the program's own
     * blocks carry guards only when ASTROLAB_CHECK_GUARDS=1 is given (settings.c says so). */
    if (ali_setting_text(ALI_SET_CHECK_GUARDS) && ali_setting_int(ALI_SET_CHECK_GUARDS) == 1)
        lean_live = LEAN_GUARDED;
    long long depth = ali_setting_int(ALI_SET_STACK_DEPTH); /* the table accepts 1..16 */
    stack_depth = depth < ALI_STACK_MAX ? (int)depth : ALI_STACK_MAX;
    ali_sample_configure();
    ali_own_thread_hook = mark_own_thread;
    ali_recommend_for_whole_programs();
    ali_peak_start();
    ali_errors_start();
    ali_run_timeline_start();
    ali_preload_report_init();
    ready = true;
}
