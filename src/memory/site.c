/* Call-site records and the per-thread statistics shards that count bytes per site.
 *
 * A static al_site (made by the allocation macros) caches a pointer to its runtime record, so
 * the hot path resolves a site with one load and one compare. Counters live in per-thread
 * shards, in pages indexed by site id; only the owning thread writes them (relaxed atomics,
 * plain moves on x86), readers sum over shards. Shards are never freed: a thread's shard is
 * handed to the next new thread when it exits, so its counts stay in the totals. The global
 * byte balance and peak are in stats.c; scope ownership in scope.c. */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "astrolab/log.h"
#include "front_int.h"
#include "memory_int.h"
#include "util/assert_int.h"
#include "util/grow_int.h"

#define PAGE_SITES ALI_PAGE_SITES
#define DIR_PAGES ALI_DIR_PAGES

static struct {
    pthread_mutex_t lock;              /* guards creation of sites and tags (the slow path) */
    ali_site *_Atomic *dir[DIR_PAGES]; /* id -> record, two levels; entries published once */
    _Atomic uint32_t count;            /* sites created */
    /* Hash of (loc, tag) and (pc, tag) -> site, under lock. */
    ali_site **table;
    size_t table_cap;
    /* Interned tag strings, under lock. */
    char **tags;
    size_t ntags, tags_cap;
} sites = {.lock = PTHREAD_MUTEX_INITIALIZER};

static ali_shard *_Atomic shard_list;
static _Atomic unsigned next_tid = 1;
ALI_TLS ali_shard *ali_tls_shard;
static pthread_key_t shard_key;
static pthread_once_t shard_key_once = PTHREAD_ONCE_INIT;

/* -------- Sites -------- */

static uint64_t hash_site(const void *loc, uintptr_t pc, const char *tag)
{
    uint64_t h = (uintptr_t)loc * 0x9E3779B97F4A7C15ull ^ pc * 0xC2B2AE3D27D4EB4Full;
    for (const char *t = tag; *t; t++)
        h = (h ^ (unsigned char)*t) * 0x100000001B3ull;
    return h ^ (h >> 29);
}

static const char *intern_tag(const char *tag)
{
    for (size_t i = 0; i < sites.ntags; i++)
        if (strcmp(sites.tags[i], tag) == 0)
            return sites.tags[i];
    if (sites.ntags == sites.tags_cap) {
        size_t cap;
        if (!ali_grow_cap(sites.tags_cap, sites.ntags + 1, 64, sizeof *sites.tags, &cap))
            return NULL;
        char **t = ali_internal_realloc(sites.tags, cap * sizeof *t);
        if (!t)
            return NULL;
        sites.tags = t;
        sites.tags_cap = cap;
    }
    char *copy = ali_internal_strdup(tag);
    if (!copy)
        return NULL;
    sites.tags[sites.ntags++] = copy;
    return copy;
}

static bool table_grow(void)
{
    size_t cap; /* a power of two: doubled from 1024 */
    if (!ali_grow_cap(sites.table_cap, sites.table_cap + 1, 1024, sizeof *sites.table, &cap))
        return false;
    ali_site **t = ali_internal_calloc(cap, sizeof *t);
    if (!t)
        return false;
    for (size_t i = 0; i < sites.table_cap; i++) {
        ali_site *s = sites.table[i];
        if (!s)
            continue;
        size_t j = hash_site(s->loc, s->pc, s->tag) & (cap - 1);
        while (t[j])
            j = (j + 1) & (cap - 1);
        t[j] = s;
    }
    ali_internal_free(sites.table);
    sites.table = t;
    sites.table_cap = cap;
    return true;
}

static bool publish_id(ali_site *s)
{
    uint32_t id = atomic_load_explicit(&sites.count, memory_order_relaxed);
    if (id >= DIR_PAGES * PAGE_SITES)
        return false;
    ali_site *_Atomic *page = sites.dir[id / PAGE_SITES];
    if (!page) {
        page = ali_internal_calloc(PAGE_SITES, sizeof *page);
        if (!page)
            return false;
        sites.dir[id / PAGE_SITES] = page;
    }
    s->id = id;
    atomic_store_explicit(&page[id % PAGE_SITES], s, memory_order_release);
    atomic_store_explicit(&sites.count, id + 1, memory_order_release);
    return true;
}

/* Finds or creates the record for (loc, pc, tag); caller holds the lock. A new record keeps
 * tag_ptr, the caller's pointer, as the key of the lock-free cache check. */
static ali_site *lookup_locked(const al_site *loc, uintptr_t pc, const char *tag,
                               const char *tag_ptr)
{
    assert(ali_mutex_held(&sites.lock));
    if ((sites.count + 1) * 2 > sites.table_cap && !table_grow())
        return NULL;
    size_t j = hash_site(loc, pc, tag) & (sites.table_cap - 1);
    for (ali_site *s; (s = sites.table[j]) != NULL; j = (j + 1) & (sites.table_cap - 1))
        if (s->loc == loc && s->pc == pc && strcmp(s->tag, tag) == 0)
            return s;
    ali_site *s = ali_internal_calloc(1, sizeof *s);
    const char *interned = intern_tag(tag);
    if (!s || !interned) {
        ali_internal_free(s);
        return NULL;
    }
    /* Fill the record before publish_id makes it visible to lock-free readers
     * (ali_site_by_id: the metrics and snapshots). */
    s->loc = loc;
    s->pc = pc;
    s->tag = interned;
    s->tag_ptr = tag_ptr;
    if (!publish_id(s)) {
        ali_internal_free(s);
        return NULL;
    }
    sites.table[j] = s;
    return s;
}

ali_site *ali_site_resolve(al_site *loc, const char *tag)
{
    ali_site *rt = __atomic_load_n((ali_site **)&loc->rt, __ATOMIC_ACQUIRE);
    const char *name = tag ? tag : loc->tag ? loc->tag : "untagged";
    pthread_mutex_lock(&sites.lock);
    ali_site *s = lookup_locked(loc, 0, name, tag);
    pthread_mutex_unlock(&sites.lock);
    if (!s)
        return NULL;
    /* The record first resolved is cached; a site that passes many different tags takes this
     * locked path for the others. */
    if (!rt)
        __atomic_store_n((ali_site **)&loc->rt, s, __ATOMIC_RELEASE);
    return s;
}

ali_site *ali_site_for_pc(uintptr_t pc, const char *tag)
{
    pthread_mutex_lock(&sites.lock);
    ali_site *s = lookup_locked(NULL, pc, tag ? tag : "untagged", tag);
    pthread_mutex_unlock(&sites.lock);
    return s;
}

void ali_site_lock(void) { pthread_mutex_lock(&sites.lock); }
void ali_site_unlock(void) { pthread_mutex_unlock(&sites.lock); }

uint32_t ali_site_count(void) { return atomic_load_explicit(&sites.count, memory_order_acquire); }

ali_site *ali_site_by_id(uint32_t id)
{
    if (id >= ali_site_count())
        return NULL;
    return atomic_load_explicit(&sites.dir[id / PAGE_SITES][id % PAGE_SITES], memory_order_acquire);
}

/* -------- Shards -------- */

static ALI_TLS bool retired; /* this thread's shard was retired: its exit has begun */

bool ali_shard_retired(void) { return retired; }

static void shard_retire(void *arg)
{
    ali_shard *sh = arg;
    retired = true;
    ali_thread_cache_empty(sh);
    ali_stats_publish(sh);
    ali_tls_shard = NULL;
    atomic_store_explicit(&sh->in_use, false, memory_order_release);
}

static void make_key(void) { pthread_key_create(&shard_key, shard_retire); }

ali_shard *ali_shard_attach(void)
{
    pthread_once(&shard_key_once, make_key);
    ali_shard *sh;
    for (sh = atomic_load_explicit(&shard_list, memory_order_acquire); sh; sh = sh->next) {
        bool idle = false;
        if (atomic_compare_exchange_strong(&sh->in_use, &idle, true))
            break;
    }
    if (!sh) {
        sh = ali_internal_calloc(1, sizeof *sh);
        if (!sh)
            return NULL;
        sh->pages = ali_internal_calloc(DIR_PAGES, sizeof *sh->pages);
        if (!sh->pages) {
            ali_internal_free(sh);
            return NULL;
        }
        sh->free_guess = UINT32_MAX; /* no site has this id: the first free looks up */
        atomic_store(&sh->in_use, true);
        sh->next = atomic_load(&shard_list);
        while (!atomic_compare_exchange_weak(&shard_list, &sh->next, sh))
            ;
    }
    if (retired && sh->cache)
        ali_thread_cache_drop(sh); /* an idle shard's (empty) cache: not for an exiting thread */
    sh->tid = atomic_fetch_add(&next_tid, 1);
    ali_tls_shard = sh;
    pthread_setspecific(shard_key, sh);
    return sh;
}

ali_shard *ali_shard_first(void) { return atomic_load_explicit(&shard_list, memory_order_acquire); }

unsigned al_thread_id(void)
{
    ali_shard *sh = ali_shard_self();
    return sh ? sh->tid : 0;
}

ali_site_counters *ali_counters_page(ali_shard *sh, uint32_t id, bool create)
{
    ali_site_counters *_Atomic *slot = &sh->pages[id / PAGE_SITES];
    ali_site_counters *page = atomic_load_explicit(slot, memory_order_acquire);
    if (!page) {
        if (!create)
            return NULL;
        page = ali_internal_calloc(PAGE_SITES, sizeof *page);
        if (!page)
            return NULL;
        atomic_store_explicit(slot, page, memory_order_release);
    }
    return &page[id % PAGE_SITES];
}

void ali_account_resize(ali_site *from, uint64_t old_size, ali_site *to, uint64_t new_size)
{
    if (from)
        ali_site_account(from, -(int64_t)old_size, -1);
    ali_site_account(to, (int64_t)new_size, 1);
    ali_shard *sh = ali_shard_self();
    if (sh)
        ali_stats_change(sh, (int64_t)new_size - (int64_t)old_size, 0);
}

void ali_site_account(ali_site *site, int64_t bytes, int64_t count)
{
    ali_shard *sh = ali_shard_self();
    ali_site_counters *c = sh ? ali_counters_of(sh, site->id, true) : NULL;
    if (AL_UNLIKELY(!c))
        return; /* out of memory for the counter page: the block is still tracked globally */
    ali_flow_bump(&c->flow, bytes, count);
}

void ali_site_reclaimed(ali_site *site, uint64_t blocks, uint64_t bytes)
{
    ali_shard *sh = ali_shard_self();
    ali_site_counters *c = sh ? ali_counters_of(sh, site->id, true) : NULL;
    if (!c)
        return;
    ALI_BUMP(c->reclaimed, blocks);
    ALI_BUMP(c->reclaimed_bytes, bytes);
}

void ali_site_totals_get(uint32_t id, ali_site_totals *out)
{
    memset(out, 0, sizeof *out);
    for (ali_shard *sh = ali_shard_first(); sh; sh = sh->next) {
        ali_site_counters *c = ali_counters_of(sh, id, false);
        if (!c)
            continue;
        out->live_count += ali_flow_live(&c->flow);
        out->live_bytes += ali_flow_bytes(&c->flow);
        out->allocs += atomic_load_explicit(&c->flow.allocs, memory_order_relaxed);
        out->alloc_bytes += atomic_load_explicit(&c->flow.alloc_bytes, memory_order_relaxed);
        out->reclaimed += atomic_load_explicit(&c->reclaimed, memory_order_relaxed);
        out->reclaimed_bytes += atomic_load_explicit(&c->reclaimed_bytes, memory_order_relaxed);
    }
}

const char *ali_where_format(ali_where *w, const char *file, const char *function, int line,
                             uintptr_t pc)
{
    if (!file && !function) {
        if (pc)
            snprintf(w->text, sizeof w->text, "address %#" PRIxPTR, pc);
        else
            snprintf(w->text, sizeof w->text, "an unknown site");
        return w->text;
    }
    const char *base = file ? file : "?";
    const char *slash = strrchr(base, '/');
    base = slash ? slash + 1 : base;
    if (line > 0)
        snprintf(w->text, sizeof w->text, "%s:%d in %s()", base, line, function ? function : "?");
    else /* no line information: file is the object (a program without debug information) */
        snprintf(w->text, sizeof w->text, "%s() in %s", function ? function : "?", base);
    return w->text;
}
