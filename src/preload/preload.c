/* The preload library (libastrolab_preload.so): routes an unmodified program's whole malloc
 * family through the memory manager, as `astrolab run -- PROGRAM` sets it up with LD_PRELOAD.
 *
 * Call sites come from the caller's return address, cached per thread so the hot path takes no
 * lock. Allocations made while the manager itself is busy (re-entry from the C library during
 * a report, dlsym, libdw) become "raw" blocks: same header, magic ALI_MAGIC_RAW, untracked.
 * Pointers the manager never gave out (memory from before the preload took over, or from
 * glibc's own __libc_malloc) go back to glibc. Symbolization and the exit report are in
 * report.c beside this file. */
#include <dlfcn.h>
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libunwind.h>

#include "astrolab/log.h"
#include "memory/backing.h"
#include "memory/memory_int.h"
#include "preload_int.h"

#define EXPORT __attribute__((visibility("default")))
#define CALLER ((uintptr_t)__builtin_return_address(0))

/* glibc's own allocator, for pointers that did not come from us. */
extern void *__libc_malloc(size_t);
extern void __libc_free(void *);
extern void *__libc_realloc(void *, size_t);

static ALI_TLS int in_manager; /* >0 while the manager or the reporter runs on this thread */

void ali_preload_enter(void) { in_manager++; }
void ali_preload_leave(void) { in_manager--; }

/* -------- Sites by return address: a per-thread direct-mapped cache over site.c -------- */
#define PC_CACHE 512
typedef struct pc_entry {
    uintptr_t pc;
    ali_site *site;
} pc_entry;
static ALI_TLS pc_entry pc_cache[PC_CACHE];

static pc_entry *cache_entry(uintptr_t pc, const char *tag)
{
    return &pc_cache[(pc ^ (pc >> 9) ^ (uintptr_t)tag) & (PC_CACHE - 1)];
}

static ali_site *site_of(uintptr_t pc, const char *tag)
{
    pc_entry *e = cache_entry(pc, tag);
    if (AL_LIKELY(e->pc == pc && e->site && e->site->tag_ptr == tag))
        return e->site;
    ali_site *s = ali_site_for_pc(pc, tag);
    if (s) { /* tags here are the static strings below: the record keeps the pointer */
        e->pc = pc;
        e->site = s;
    }
    return s;
}

/* Until the preload's constructor runs, allocations come from the constructors of shared
 * libraries (the C runtime's, our own dependencies'): their sites are tagged "before-main"
 * and the report counts them apart from the program's leaks. */
static bool ready;
static const char TAG_INIT[] = "before-main";
/* -------- Deeper call stacks: ASTROLAB_STACK_DEPTH=N (1..16; 1, the default, is the caller's
 * return address alone, at no unwinding cost). With N > 1 each allocation unwinds with
 * libunwind (a few hundred ns), and the site is the N innermost frames from the caller on, so
 * allocations through a wrapper (xmalloc, operator new) are told apart by who called it. */
static int stack_depth = 1;

static struct {
    pthread_mutex_t lock; /* guards every field below */
    struct stack_rec {
        uintptr_t key;
        int n;
        uintptr_t pc[ALI_STACK_MAX];
    } * items;
    size_t n, cap;
} stacks = {.lock = PTHREAD_MUTEX_INITIALIZER};

int ali_preload_stack(uintptr_t key, uintptr_t out[ALI_STACK_MAX])
{
    if (!(key & ALI_STACK_BIT))
        return 0;
    int n = 0;
    pthread_mutex_lock(&stacks.lock);
    for (size_t i = 0; i < stacks.n; i++)
        if (stacks.items[i].key == key) {
            n = stacks.items[i].n;
            memcpy(out, stacks.items[i].pc, (size_t)n * sizeof *out);
            break;
        }
    pthread_mutex_unlock(&stacks.lock);
    return n;
}

static void remember_stack(uintptr_t key, void *const *frames, int n)
{
    pthread_mutex_lock(&stacks.lock);
    for (size_t i = 0; i < stacks.n; i++)
        if (stacks.items[i].key == key) {
            pthread_mutex_unlock(&stacks.lock);
            return;
        }
    if (stacks.n == stacks.cap) {
        size_t cap = stacks.cap ? stacks.cap * 2 : 256;
        struct stack_rec *r = ali_internal_realloc(stacks.items, cap * sizeof *r);
        if (!r) {
            pthread_mutex_unlock(&stacks.lock);
            return; /* the site still counts; its report shows the first frame only */
        }
        stacks.items = r;
        stacks.cap = cap;
    }
    struct stack_rec *r = &stacks.items[stacks.n++];
    r->key = key;
    r->n = n;
    for (int i = 0; i < n; i++)
        r->pc[i] = (uintptr_t)frames[i];
    pthread_mutex_unlock(&stacks.lock);
}

/* The site of the N innermost frames from the caller's return address `pc` on. */
static ali_site *stack_site_of(uintptr_t pc, const char *tag)
{
    void *buf[ALI_STACK_MAX + 8];
    int n = unw_backtrace(buf, ALI_STACK_MAX + 8), k = 0;
    while (k < n && (uintptr_t)buf[k] != pc)
        k++;
    if (k == n) /* the caller's frame was not found: fall back to the return address */
        return site_of(pc, tag);
    int depth = n - k < stack_depth ? n - k : stack_depth;
    uint64_t h = 0xcbf29ce484222325ull;
    for (int i = 0; i < depth; i++)
        h = (h ^ (uintptr_t)buf[k + i]) * 0x100000001b3ull;
    uintptr_t key = ((uintptr_t)h >> 1) | ALI_STACK_BIT;
    pc_entry *e = cache_entry(key, tag);
    if (e->pc == key && e->site && e->site->tag_ptr == tag)
        return e->site; /* seen on this thread: its frames are remembered */
    ali_site *s = site_of(key, tag);
    if (s)
        remember_stack(key, buf + k, depth);
    return s;
}

static const char TAG_MALLOC[] = "malloc", TAG_CALLOC[] = "calloc", TAG_REALLOC[] = "realloc",
                  TAG_ALIGNED[] = "aligned", TAG_STRDUP[] = "strdup";

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

static void *alloc(size_t n, size_t align, bool zero, uintptr_t pc, const char *tag)
{
    if (AL_UNLIKELY(in_manager)) {
        void *p = raw_alloc(n, align);
        if (p && zero)
            memset(p, 0, n);
        return p;
    }
    in_manager++;
    const char *t = AL_LIKELY(ready) ? tag : TAG_INIT;
    ali_site *site = stack_depth > 1 && ready ? stack_site_of(pc, t) : site_of(pc, t);
    void *p = site ? ali_alloc(n, align > 16 ? align : 0, zero, site, NULL) : NULL;
    in_manager--;
    if (!p)
        errno = ENOMEM;
    return p;
}

/* What a pointer is: ours and tracked, ours and raw, or glibc's. */
enum kind { FOREIGN, TRACKED, RAW };
static enum kind kind_of(const void *p)
{
    if (((uintptr_t)p & 15) != 0 || !backing_owns(p))
        return FOREIGN;
    uint32_t magic = ali_block_of(p)->magic;
    return magic == ALI_MAGIC_RAW ? RAW : TRACKED;
}

static void release(void *p)
{
    /* The common case first: our tracked block, its header on p's own page (no fault). */
    uintptr_t in_page = (uintptr_t)p & 4095;
    if (AL_LIKELY((in_page & 15) == 0 && in_page >= sizeof(ali_block) &&
                  ali_block_of(p)->magic == ALI_MAGIC_LIVE)) {
        in_manager++;
        ali_free(p, NULL);
        in_manager--;
        return;
    }
    switch (kind_of(p)) {
    case FOREIGN:
        __libc_free(p);
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
    if (kind_of(p) != FOREIGN)
        return ali_block_of(p)->size;
    if (!libc_usable) {
        in_manager++;
        libc_usable = (size_t(*)(void *))dlsym(RTLD_NEXT, "malloc_usable_size");
        in_manager--;
    }
    return libc_usable ? libc_usable(p) : 0;
}

static void *resize(void *p, size_t n, uintptr_t pc)
{
    if (!p)
        return alloc(n, 0, false, pc, TAG_REALLOC);
    if (n == 0) {
        release(p);
        return NULL;
    }
    enum kind k = kind_of(p);
    if (k == TRACKED && !in_manager) {
        in_manager++;
        ali_site *site = site_of(pc, TAG_REALLOC);
        ali_block *b = site ? ali_block_check(p, NULL, "realloc") : NULL;
        void *q = b ? ali_realloc_block(b, n, site, NULL) : NULL;
        in_manager--;
        return q;
    }
    /* Raw or foreign blocks move by copy into a block of the current kind. */
    size_t old = usable(p);
    void *q = alloc(n, 0, false, pc, TAG_REALLOC);
    if (!q)
        return NULL;
    memcpy(q, p, old < n ? old : n);
    release(p);
    return q;
}

/* -------- The exported malloc family -------- */
EXPORT void *malloc(size_t n) { return alloc(n, 0, false, CALLER, TAG_MALLOC); }

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
    return alloc(total, 0, true, CALLER, TAG_CALLOC);
}

EXPORT void *realloc(void *p, size_t n) { return resize(p, n, CALLER); }

EXPORT void *reallocarray(void *p, size_t n, size_t size)
{
    size_t total;
    if (__builtin_mul_overflow(n, size, &total)) {
        errno = ENOMEM;
        return NULL;
    }
    return resize(p, total, CALLER);
}

static void *aligned(size_t align, size_t n, uintptr_t pc)
{
    if (align == 0 || (align & (align - 1)) != 0)
        return NULL;
    return alloc(n, align, false, pc, TAG_ALIGNED);
}

EXPORT int posix_memalign(void **out, size_t align, size_t n)
{
    if (align < sizeof(void *) || (align & (align - 1)) != 0)
        return EINVAL;
    void *p = aligned(align, n, CALLER);
    if (!p)
        return ENOMEM;
    *out = p;
    return 0;
}

EXPORT void *aligned_alloc(size_t align, size_t n)
{
    void *p = aligned(align, n, CALLER);
    if (!p)
        errno = align && !(align & (align - 1)) ? ENOMEM : EINVAL;
    return p;
}

EXPORT void *memalign(size_t align, size_t n) { return aligned(align, n, CALLER); }

EXPORT void *valloc(size_t n) { return aligned((size_t)sysconf(_SC_PAGESIZE), n, CALLER); }

EXPORT void *pvalloc(size_t n)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    if (n > SIZE_MAX - page) {
        errno = ENOMEM;
        return NULL;
    }
    size_t rounded = (n + page - 1) & ~(page - 1);
    return aligned(page, rounded ? rounded : page, CALLER);
}

EXPORT size_t malloc_usable_size(void *p) { return p ? usable(p) : 0; }

EXPORT char *strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = alloc(n, 0, false, CALLER, TAG_STRDUP);
    if (d)
        memcpy(d, s, n);
    return d;
}

EXPORT char *strndup(const char *s, size_t max)
{
    size_t n = strnlen(s, max);
    char *d = alloc(n + 1, 0, false, CALLER, TAG_STRDUP);
    if (d) {
        memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}

/* -------- fork: no lock may be held across it -------- */
static void before_fork(void) { ali_site_lock(); }
static void after_fork(void) { ali_site_unlock(); }

__attribute__((constructor)) static void preload_init(void)
{
    pthread_atfork(before_fork, after_fork, after_fork);
    const char *depth = getenv("ASTROLAB_STACK_DEPTH");
    if (depth && *depth) {
        char *end;
        long d = strtol(depth, &end, 10);
        if (*end || d < 1 || d > ALI_STACK_MAX)
            al_log(AL_LOG_WARNING, "astrolab.memory",
                   "ASTROLAB_STACK_DEPTH=%s: expected 1..%d frames; using 1", depth, ALI_STACK_MAX);
        else
            stack_depth = (int)d;
    }
    ali_preload_report_init();
    ready = true;
}
