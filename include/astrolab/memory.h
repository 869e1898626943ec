/* AstroLab memory manager: tracked allocation, statistics, scopes, the cleanup registry, weak
 * references, forced cleanup, limits and fault injection. One manager per process.
 *
 * Every tracked block knows its requested size, its tag (a type name such as "struct star"),
 * the call site that allocated it, the scope that owns it and the thread that allocated it.
 * Live bytes and counts are kept per call site as allocations happen, so that statistics and
 * diagnosis cost O(call sites), never a walk over the live blocks.
 *
 *     AL_MEMORY_MANAGEMENT("load") {
 *         struct star *s = AL_NEW_ARRAY(struct star, n);   // tag "struct star", owned by "load"
 *         ...
 *         result = al_scope_keep(summary);                  // outlives the scope
 *     }                                                     // s is released here
 *
 * Diagnosis (al_diagnose_memory_leaks) lives in <astrolab/diagnosis.h>, included below. */
#ifndef ASTROLAB_MEMORY_H
#define ASTROLAB_MEMORY_H

#include <stddef.h> /* size_t */
#include <stdint.h> /* uint64_t */

#include "astrolab/defs.h"  /* AL_API and attributes */
#include "astrolab/error.h" /* AL_OK, AL_E* */

#ifdef __cplusplus
extern "C" {
#endif

/* -------- Call sites: created by the macros below, one static record per call site. --------
 * The macros capture __FILE__, __LINE__ and __func__ into a static record at compile time, so
 * attributing an allocation costs no run-time lookup. Records must have static storage. */
typedef struct al_site {
    const char *file;     /* __FILE__ of the call */
    const char *function; /* __func__ of the call */
    int line;             /* __LINE__ of the call */
    const char *tag;      /* tag fixed at the site (AL_NEW's type name), or NULL */
    void *volatile rt;    /* private: the manager's record for this site */
} al_site;

#define AL_SITE_TAGGED_(tag_)                                                                      \
    (__extension__({                                                                               \
        static al_site al_site_ = {__FILE__, __func__, __LINE__, tag_, 0};                         \
        &al_site_;                                                                                 \
    }))
/* The call site of the macro's expansion, as an `al_site *`. */
#define AL_HERE AL_SITE_TAGGED_(NULL)

/* -------- Allocation: thread-safe; any thread may free any block. --------
 * Blocks are aligned for max_align_t. Allocation failure (out of memory, a hard limit, a
 * scope budget or an injected fault) returns NULL and logs at ERROR on "astrolab.memory"
 * naming the site. A request above PTRDIFF_MAX bytes fails so (errno ENOMEM). Blocks untagged
 * by their site get the tag "untagged". */

/* Tracked malloc: `n` bytes, uninitialised. NULL on failure. Free with al_free. al_malloc(0)
 * returns a distinct live block of size 0 (not NULL), to free like any other. */
#define al_malloc(n) al_malloc_at((n), AL_HERE)
/* Tracked calloc: zeroed. When n * size overflows size_t: NULL, errno ENOMEM, and an ERROR
 * logged and counted in al_memory_stats.errors. al_calloc(0, size) is as al_malloc(0). */
#define al_calloc(n, size) al_calloc_at((n), (size), AL_HERE)
/* Tracked realloc. al_realloc(NULL, n) is al_malloc(n), even for n == 0; al_realloc(p, 0) frees
 * p and returns NULL. On failure returns NULL and leaves p valid and unchanged. The block moves
 * to this site and keeps its alignment. */
#define al_realloc(p, n) al_realloc_at((p), (n), AL_HERE)
/* Tracked free; al_free(NULL) does nothing. Foreign pointers, double frees and overwritten
 * guard bytes are reported (ERROR, naming the allocating and freeing sites) and ignored. */
#define al_free(p) al_free_at((p), AL_HERE)
/* Tracked strdup; NULL for a NULL argument or on failure. */
#define al_strdup(s) al_strdup_at((s), AL_HERE)
/* Tracked malloc with a tag (copied by the manager; any string will do). */
#define al_malloc_tagged(n, tag) al_malloc_tagged_at((n), (tag), AL_HERE)
/* Tracked allocation of `n` bytes aligned to `align`, a power of two from 1 to 16 MiB (1 << 24;
 * every block is 16-aligned anyway); free with al_free. Any other `align` (0, 48, 1 << 25)
 * returns NULL with errno EINVAL, and an ERROR logged and counted. */
#define al_malloc_aligned(n, align) al_malloc_aligned_at((n), (align), NULL, AL_HERE)
/* One zeroed T, tagged with T's name ("struct star"). */
#define AL_NEW(T) ((T *)al_calloc_at(1, sizeof(T), AL_SITE_TAGGED_(#T)))
/* `n` zeroed T, tagged with T's name; NULL when n * sizeof(T) overflows. */
#define AL_NEW_ARRAY(T, n) ((T *)al_calloc_at((n), sizeof(T), AL_SITE_TAGGED_(#T)))
/* Frees p and sets it to NULL. */
#define AL_FREE(p) ((void)(al_free_at((p), AL_HERE), (p) = NULL))

/* The workers behind the macros: `site` must point to a record with static storage. */
AL_API AL_NODISCARD AL_MALLOC AL_ALLOC_SIZE(1) void *al_malloc_at(size_t n, al_site *site);
AL_API AL_NODISCARD AL_MALLOC AL_ALLOC_SIZE2(1, 2) void *al_calloc_at(size_t n, size_t size,
                                                                      al_site *site);
AL_API AL_NODISCARD AL_ALLOC_SIZE(2) void *al_realloc_at(void *p, size_t n, al_site *site);
AL_API void al_free_at(void *p, al_site *site);
AL_API AL_NODISCARD AL_MALLOC char *al_strdup_at(const char *s, al_site *site);
AL_API AL_NODISCARD AL_MALLOC char *al_strndup_at(const char *s, size_t n, al_site *site);
AL_API AL_NODISCARD AL_MALLOC AL_ALLOC_SIZE(1) void *al_malloc_tagged_at(size_t n, const char *tag,
                                                                         al_site *site);
/* `tag` may be NULL (the site's tag, or "untagged"). `align` as for al_malloc_aligned. */
AL_API AL_NODISCARD AL_MALLOC AL_ALLOC_SIZE(1) void *al_malloc_aligned_at(size_t n, size_t align,
                                                                          const char *tag,
                                                                          al_site *site);

/* The same operations as plain functions, for callers that need a function pointer; their
 * blocks are attributed to the site "(function pointer)". */
AL_API AL_NODISCARD AL_MALLOC AL_ALLOC_SIZE(1) void *(al_malloc)(size_t n);
AL_API AL_NODISCARD AL_MALLOC AL_ALLOC_SIZE2(1, 2) void *(al_calloc)(size_t n, size_t size);
AL_API AL_NODISCARD AL_ALLOC_SIZE(2) void *(al_realloc)(void *p, size_t n);
AL_API void(al_free)(void *p);
AL_API AL_NODISCARD AL_MALLOC char *(al_strdup)(const char *s);

/* True when p is a live block of this manager (interior pointers are not). */
AL_API int al_owns(const void *p);
/* Requested size of live block p; 0 for NULL or a pointer the manager does not own. */
AL_API size_t al_block_size(const void *p);

/* What the manager knows of one live block. Strings are borrowed and live as long as the
 * process (sites and tags are never freed). */
typedef struct al_block_info {
    size_t size;          /* bytes requested */
    const char *tag;      /* tag, never NULL */
    const char *file;     /* allocating call site */
    int line;             /* allocating call site */
    const char *function; /* allocating call site */
    const char *scope;    /* name of the owning scope, or NULL when the process owns it */
    unsigned thread;      /* small id of the allocating thread (al_thread_id()) */
} al_block_info;

/* Fills *out for live block p. Returns AL_OK, or AL_EBADPTR for a pointer not owned. */
AL_API AL_NODISCARD int al_block_get_info(const void *p, al_block_info *out);

/* Keeping freed blocks for reuse, for a caller with a cache of its own (as numpy's default
 * handler keeps one; for a cache per thread, see al_malloc_cached below). al_free_keep frees live
 * block p in every count, exactly as al_free at `site` would (its site's and the process's; a
 * second free of p is reported as a double free), but keeps its memory; stores its size in *size
 * (may be NULL). Returns AL_OK; AL_EBADPTR for a pointer that is not a live block (reported as a
 * misuse, like a bad free); AL_ESCOPE for a block a scope owns and AL_ESTATE for a registered or
 * weakly referenced one: al_free those; AL_EINVAL, unreported, for NULL. */
AL_API AL_NODISCARD int al_free_keep(void *p, al_site *site, size_t *size);
/* Counts kept block p allocated again, at `site`, with its old size, owned by the process
 * whatever scope is current, and returns it. NULL when the allocation is refused (a hard
 * limit, an injected failure, no memory for the site's record: reported as al_malloc reports
 * them) or p is not a kept block; p then stays kept. */
AL_API AL_NODISCARD void *al_reuse_kept(void *p, al_site *site);
/* Gives the memory of kept block p back. */
AL_API void al_release_kept(void *p);

/* The thread cache. al_free keeps a freed block of at most AL_CACHE_MAX bytes (owned by no
 * scope, not registered) in the calling thread's cache, up to 4 of each 8-byte size class, and
 * al_malloc takes one of the class when there is one, as glibc's tcache and mimalloc do. The
 * block is freed in every count when cached, and counted allocated at the new site when taken,
 * which is refused as a fresh one would be (hard limits, injected failures). A second free of a
 * cached block is reported as a double free; al_reuse_kept and al_release_kept refuse it. While
 * a scope is current the cache is bypassed both ways. A block whose header straddles a 4 KiB
 * page boundary (a user pointer within 48 bytes of one) is freed, not cached. The cache is
 * emptied when the thread exits (a process's exit simply ends it) and by al_cache_flush; under
 * AddressSanitizer its blocks are poisoned. ASTROLAB_THREAD_CACHE=0 turns it off (every free
 * then gives its block back at once). al_malloc_cached and al_free_cached are al_malloc and
 * al_free, kept for the programs that call them. */
#define AL_CACHE_MAX 1024
#define al_malloc_cached(n) al_malloc_cached_at((n), AL_HERE)
#define al_free_cached(p) al_free_cached_at((p), AL_HERE)
AL_API AL_NODISCARD void *al_malloc_cached_at(size_t n, al_site *site);
AL_API void al_free_cached_at(void *p, al_site *site);
/* Gives the calling thread's cached blocks back to the system (their counts do not change). */
AL_API void al_cache_flush(void);

/* The calling thread's small id, as recorded in blocks (1, 2, 3...; never 0). */
AL_API unsigned al_thread_id(void);

/* -------- Statistics: callable from any thread; takes no global lock. --------
 * Byte figures count the sizes the program asked for, not the allocator's rounding. With one
 * allocating thread every figure is exact. With several, totals are exact whenever the threads
 * are quiet, and peak_bytes may differ from the instantaneous peak by at most
 * AL_STATS_BATCH_BYTES per allocating thread (threads publish their balance in batches). */
#define AL_STATS_BATCH_BYTES (256u * 1024u)

typedef struct al_memory_stats {
    uint64_t current_bytes;             /* bytes in live tracked blocks */
    uint64_t peak_bytes;                /* highest current_bytes since start or last reset */
    uint64_t live_blocks;               /* live tracked blocks */
    uint64_t total_allocations;         /* blocks ever allocated (realloc moves count once) */
    uint64_t total_frees;               /* blocks ever freed or reclaimed */
    uint64_t rss_bytes;                 /* resident set size, from the OS (up to 1 ms old) */
    uint64_t peak_rss_bytes;            /* its peak, from the OS (up to 1 ms old) */
    uint64_t cuda_allocated_bytes;      /* device bytes in live CUDA blocks */
    uint64_t cuda_reserved_bytes;       /* device bytes held by the caching allocator */
    uint64_t cuda_peak_allocated_bytes; /* highest cuda_allocated_bytes */
    uint64_t errors;                    /* invalid frees, double frees, corruptions, failures */
    double current_mb;                  /* current_bytes in MiB */
    double peak_mb;                     /* peak_bytes in MiB */
    double cuda_memory_allocated;       /* cuda_allocated_bytes in MiB */
} al_memory_stats;

/* Fills *out. Returns AL_OK, or AL_EINVAL for NULL. */
AL_API AL_NODISCARD int al_get_memory_stats(al_memory_stats *out);
/* Sets peak_bytes (and the CUDA peak) to the current figures. */
AL_API void al_reset_peak_memory_stats(void);
/* One field of al_memory_stats: its name (the key in al_memory_stats_json and in Python's
 * get_memory_stats), its offset in the struct, and its type. */
typedef struct al_memory_stats_field {
    const char *name;
    size_t offset;
    int is_double; /* 1: double; 0: uint64_t */
} al_memory_stats_field;
/* Every field of al_memory_stats, in declaration order; *n gets their number (n not NULL).
 * A binding that builds its own dictionary of the figures walks this table. */
AL_API const al_memory_stats_field *al_memory_stats_fields(size_t *n);
/* Every field of al_memory_stats as a JSON object under the same names; free() the result.
 * NULL when out of memory. */
AL_API AL_NODISCARD char *al_memory_stats_json(void);
/* Resident set size and its peak from the OS, in bytes, read now (al_get_memory_stats reuses a
 * reading up to a millisecond old); either pointer may be NULL. Returns AL_OK, or AL_EIO (both
 * set to 0) when the OS reports neither. */
AL_API AL_NODISCARD int al_process_rss(uint64_t *rss_bytes, uint64_t *peak_rss_bytes);

/* -------- Scopes: per thread; end a scope on the thread that began it. --------
 * While a scope is the calling thread's current (innermost) scope, the tracked blocks that
 * thread allocates belong to it. al_scope_end runs the scope's deferred functions (newest
 * first), then releases every block it still owns (logging each site at DEBUG), then fills the
 * report. Ending a scope that is not the innermost on its thread is an error (AL_ESCOPE,
 * logged); the scopes above it are ended first, innermost first, so no state is lost. */
typedef struct al_scope al_scope;

typedef enum al_scope_policy {
    AL_SCOPE_RECLAIM = 0,     /* release the blocks still owned at the end (default) */
    AL_SCOPE_REPORT_ONLY = 1, /* release nothing; report what would be reclaimed; blocks pass
                                 to the enclosing scope */
} al_scope_policy;

typedef struct al_scope_options {
    al_scope_policy policy; /* AL_SCOPE_RECLAIM by default */
    uint64_t budget_bytes;  /* 0: none; else live bytes the scope may own at once */
} al_scope_options;

#define AL_SCOPE_NAME_MAX 64

typedef struct al_scope_report {
    char name[AL_SCOPE_NAME_MAX]; /* the scope's name, truncated */
    uint64_t bytes_allocated;     /* bytes allocated while it was the thread's current scope */
    uint64_t bytes_freed;         /* of those, bytes freed explicitly (any thread) */
    uint64_t peak_bytes;          /* highest live bytes owned by the scope */
    uint64_t reclaimed_blocks;    /* blocks released (or, report-only, that would have been) */
    uint64_t reclaimed_bytes;     /* bytes of those blocks */
    uint64_t cleanups_run;        /* deferred functions run */
    uint64_t duration_ns;         /* from begin to end */
    uint64_t blocks_allocated;    /* blocks allocated in it */
    uint64_t kept_blocks;         /* blocks handed out with al_scope_keep */
    int policy;                   /* al_scope_policy */
} al_scope_report;

/* Begins a scope named `name` (copied; NULL gives "scope") on the calling thread. Returns NULL
 * when out of memory. End it with al_scope_end. */
AL_API AL_NODISCARD al_scope *al_scope_begin(const char *name);
/* As al_scope_begin, with a policy and a byte budget; `opts` may be NULL. */
AL_API AL_NODISCARD al_scope *al_scope_begin_ex(const char *name, const al_scope_options *opts);
/* Ends `s` and frees it; `out` may be NULL. Returns AL_OK, AL_EINVAL for NULL, AL_ESCOPE when
 * called from another thread (nothing done) or out of order (inner scopes ended first). */
AL_API AL_NODISCARD int al_scope_end(al_scope *s, al_scope_report *out);
/* The calling thread's innermost scope, or NULL. Borrowed: valid until that scope ends. */
AL_API al_scope *al_scope_current(void);
/* The scope's name; borrowed, valid until the scope ends. */
AL_API const char *al_scope_name(const al_scope *s);
/* Runs fn(arg) when the current scope ends, before its blocks are released. Returns AL_OK,
 * AL_ESCOPE when no scope is current, AL_ENOMEM. */
AL_API AL_NODISCARD int al_scope_defer(void (*fn)(void *), void *arg);
/* Moves p to the enclosing scope of its owner (or to the process when there is none) and
 * returns p. Cannot fail; al_scope_keep(NULL) returns NULL and does nothing. Blocks owned by
 * the process, or called from a thread other than the owner's, are returned unchanged. */
AL_API void *al_scope_keep(void *p);

/* Private: the cleanup handler of AL_MEMORY_MANAGEMENT. */
AL_API void ali_scope_autoend(al_scope **s);

/* Runs the following block inside a scope named `name`, ending it on every way out of the
 * block: falling through, `break`, `continue`, `return` and `goto` out. The block is a one-pass
 * loop: `break` and `continue` inside it both leave the block, not an enclosing loop. If the
 * scope cannot begin (out of memory) the block still runs, unscoped. Blocks nest; the hidden
 * variables are named per use (__COUNTER__), so nesting does not warn under -Wshadow. The outer
 * loop runs the block once; the inner one holds the scope, ended by its cleanup handler when
 * the inner loop is left (`unused`: clang's -Wunused-variable does not count that handler as
 * a use). */
/* clang-format off */
#define AL_MEMORY_MANAGEMENT(name) AL_MEMORY_MANAGEMENT_EX(name, NULL)
#define AL_MEMORY_MANAGEMENT_EX(name, opts) AL_MM_BLOCK_((name), (opts), __COUNTER__)
#define AL_MM_CAT_(a, b) AL_MM_CAT2_(a, b)
#define AL_MM_CAT2_(a, b) a##b
#define AL_MM_BLOCK_(name, opts, n)                                                             \
    for (int AL_MM_CAT_(al_mm_once_, n) = 1; AL_MM_CAT_(al_mm_once_, n);                        \
         AL_MM_CAT_(al_mm_once_, n) = 0)                                                        \
        for (al_scope *AL_MM_CAT_(al_mm_scope_, n)                                              \
                 __attribute__((cleanup(ali_scope_autoend), unused)) =                          \
                 al_scope_begin_ex(name, opts);                                                 \
             AL_MM_CAT_(al_mm_once_, n); AL_MM_CAT_(al_mm_once_, n) = 0)
/* clang-format on */

/* -------- Registry and weak references: thread-safe. --------
 * The registry holds objects weakly: it never keeps one alive. Freeing a tracked object with
 * al_free drops its registrations and clears its weak references. */
typedef uint64_t al_handle; /* 0 is never a valid handle */

/* Gives back reclaimable memory held by `obj` (caches, temporaries) while obj stays valid.
 * Returns 0 on success; any other value counts as a failure. */
typedef int (*al_release_fn)(void *obj);

/* Default priority of al_register_for_cleanup: lower runs first under soft-limit pressure. */
#define AL_PRIORITY_DEFAULT 100

/* Registers obj (borrowed) with its release function and type name (copied). Returns a
 * handle, or 0 on a NULL argument or out of memory. */
AL_API AL_NODISCARD al_handle al_register_for_cleanup(void *obj, al_release_fn release,
                                                      const char *type);
/* As al_register_for_cleanup with a priority: cheapest to rebuild gets the lowest number. */
AL_API AL_NODISCARD al_handle al_register_for_cleanup_priority(void *obj, al_release_fn release,
                                                               const char *type, int priority);
/* Removes a registration. Returns AL_OK or AL_ENOTFOUND (already gone). */
AL_API AL_NODISCARD int al_unregister(al_handle h);
/* Number of live registrations. */
AL_API size_t al_registry_count(void);
/* The registrations as JSON: {"registrations": N, "objects": [{"handle", "type", "address",
 * "priority", "bytes" (the object's tracked size, 0 if untracked), "running"}...]}, at most
 * `max` objects listed. free() it; NULL when out of memory. */
AL_API AL_NODISCARD char *al_registry_json(size_t max);

typedef struct al_weak al_weak;
/* A weak reference to tracked block `obj`. NULL when obj is not a live tracked block or when
 * out of memory. Release with al_weak_release. */
AL_API AL_NODISCARD al_weak *al_weak_ref(void *obj);
/* The object, or NULL once it was freed. The pointer is not pinned: the caller must know the
 * object cannot be freed by another thread while it uses it. */
AL_API void *al_weak_get(const al_weak *w);
/* Releases the reference (not the object); NULL does nothing. */
AL_API void al_weak_release(al_weak *w);

/* -------- Forced cleanup and limits: thread-safe. -------- */
typedef struct al_cleanup_result {
    int success;                  /* 1 when every release function returned 0 */
    uint64_t callbacks_run;       /* release functions called */
    uint64_t callbacks_failed;    /* of those, the ones that returned non-zero */
    uint64_t bytes_released;      /* drop in tracked current_bytes during the cleanup */
    uint64_t cuda_bytes_released; /* device bytes the CUDA cache gave back */
    uint64_t rss_before_bytes;    /* process RSS before */
    uint64_t rss_after_bytes;     /* process RSS after */
    uint64_t duration_ns;         /* wall time of the cleanup */
} al_cleanup_result;

/* Calls every registered release function, empties the CUDA cache and returns free memory to
 * the OS. A failing release function is counted and logged; the others still run. */
AL_API al_cleanup_result al_force_comprehensive_cleanup(void);
/* The result as a JSON object under the field names above; free() it. NULL on NULL or OOM. */
AL_API AL_NODISCARD char *al_cleanup_result_json(const al_cleanup_result *r);

/* Sets the soft and hard limits on tracked current bytes (0: none). Crossing the soft limit
 * runs release functions by priority until usage is back under it, and logs a WARNING (at most
 * once per al_memory_set_soft_interval). An allocation that would cross the hard limit first
 * runs the comprehensive cleanup, then fails with an ERROR naming its site. Returns AL_EINVAL
 * when both are set and soft > hard. */
AL_API AL_NODISCARD int al_memory_set_limit(uint64_t soft_bytes, uint64_t hard_bytes);
/* Current limits; either pointer may be NULL. */
AL_API void al_memory_get_limit(uint64_t *soft_bytes, uint64_t *hard_bytes);
/* Minimum time between two soft-limit cleanups, in ns (default 100 ms). */
AL_API void al_memory_set_soft_interval(uint64_t ns);

/* -------- Fault injection: for tests of error paths, in the manner of sqlite3_memdebug_fail.
 * Counting is process-wide; with a tag or a scope, only matching allocations count. -------- */
typedef struct al_fail_spec {
    uint64_t after;  /* the after-th next matching allocation fails (1: the next); 0 disarms */
    int repeat;      /* 0: fail once; 1: every matching allocation from then on fails */
    const char *tag; /* NULL, or only allocations with this tag count (copied) */
    const al_scope *scope; /* NULL, or only allocations owned by this scope count */
} al_fail_spec;

/* Arms fault injection: the n-th next tracked allocation fails (once, or with repeat every one
 * from then on). n == 0 disarms. Also set at start-up by ASTROLAB_FAIL_AFTER=n. */
AL_API void al_memory_fail_after(uint64_t n, int repeat);
/* As al_memory_fail_after with a tag or scope filter. Returns AL_EINVAL for NULL. */
AL_API AL_NODISCARD int al_memory_fail_set(const al_fail_spec *spec);
/* Number of allocations failed by injection since start. */
AL_API uint64_t al_memory_fail_count(void);

#ifdef __cplusplus
}
#endif

#include "astrolab/diagnosis.h"

#endif /* ASTROLAB_MEMORY_H */
