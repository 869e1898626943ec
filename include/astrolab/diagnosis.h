/* AstroLab leak diagnosis: what holds memory, how it grows, and what to do about it.
 *
 * A diagnosis reads the manager's per-site counters, so it costs O(call sites + tags), never a
 * walk over the live blocks, and never stops the program: other threads go on allocating while
 * it runs (their figures are then a moment's picture, exact when they are quiet).
 *
 *     al_diagnosis *d = al_diagnose_memory_leaks();
 *     char *text = al_diagnosis_text(d);   // a table of top consumers, then the advice
 *     fputs(text, stderr);
 *     free(text);
 *     al_diagnosis_free(d);
 *
 * Samples and growth. Every al_diagnose_memory_leaks() and every al_memory_snapshot() is a
 * sample: the manager keeps, per call site, its live bytes at the last
 * AL_DIAGNOSIS_WINDOW_MAX + 1 samples (a bounded history in its own bookkeeping memory). A
 * diagnosis's `growth` is the change of each site since the previous sample (for the first one:
 * since the process started); al_snapshot_diff gives the change between two snapshots of the
 * caller's choice.
 *
 * The suspected_leak rule. With K = thresholds.leak_samples (default 3) and the process start
 * counted as a sample of all zeros, site S is a suspected leak at sample n when:
 *   1. its live bytes rose strictly at each of the last K steps (samples n-K .. n);
 *   2. it rose by at least thresholds.leak_min_bytes (default 64 KiB) over those K steps: d_S;
 *   3. the rest of the program is steady: of the m other sites that were active over those K
 *      steps (allocated, or changed their live bytes), at least ceil(m / 2) grew by at most
 *      d_S / 8 (their lower median growth is at most d_S / 8). With m = 0 the rest is steady.
 * A steady working set (allocate and free with a constant live size) never rises at every
 * step, so it is never suspected. A program in which most active sites grow together (a
 * loading phase) fails rule 3, so its loaders are not suspected.
 *
 * Memory of results. An al_diagnosis and an al_snapshot live in the manager's bookkeeping
 * memory (the backing allocator), not in tracked blocks: tracked, they would appear in the very
 * figures they report and move the growth of the site that takes them. Their strings (file,
 * function, tag) are borrowed from the manager's site records, which live as long as the
 * process. Everything in this header is thread-safe. */
#ifndef ASTROLAB_DIAGNOSIS_H
#define ASTROLAB_DIAGNOSIS_H

#include <stddef.h> /* size_t */
#include <stdint.h> /* uint64_t, int64_t, uintptr_t */

#include "astrolab/defs.h" /* AL_API and attributes */

#ifdef __cplusplus
extern "C" {
#endif

/* -------- Thresholds: process-wide, thread-safe. --------
 * Defaults, then the environment (read once, on the first diagnosis or threshold call):
 * ASTROLAB_OBJECT_THRESHOLD (objects), ASTROLAB_MEMORY_WARN_MB (MiB), ASTROLAB_CUDA_WARN_MB
 * (MiB). A value that is not a whole number in range is reported with a WARNING on
 * "astrolab.memory" and the default is kept. al_diagnosis_set_thresholds overrides them all. */

/* Most samples the suspected_leak rule may look back over (K). */
#define AL_DIAGNOSIS_WINDOW_MAX 16

typedef struct al_diagnosis_thresholds {
    uint64_t object_count;            /* objects: a tag with more live blocks is flagged (1000) */
    uint64_t memory_bytes;            /* bytes: high_memory_usage above it (500 MiB) */
    uint64_t cuda_bytes;              /* bytes: cuda_cleanup above it, CUDA allocated (1 GiB) */
    uint64_t leak_min_bytes;          /* bytes: least growth for suspected_leak (64 KiB) */
    uint32_t leak_samples;            /* samples: K of the suspected_leak rule, 2..16 (3) */
    uint32_t top_consumers;           /* rows: most sites listed in top_consumers, growth (20) */
    double cuda_cache_ratio;          /* cuda_cache when reserved > ratio * allocated (2.0) */
    uint64_t cuda_cache_min_bytes;    /* bytes: ... and reserved - allocated above it (256 MiB) */
    double fragmentation_ratio;       /* fragmentation when RSS > ratio * tracked (2.0) */
    uint64_t fragmentation_min_bytes; /* bytes: ... and RSS - tracked above it (64 MiB) */
} al_diagnosis_thresholds;

/* Fills *out with the built-in defaults (the environment not applied). Returns AL_OK, or
 * AL_EINVAL for NULL. */
AL_API AL_NODISCARD int al_diagnosis_thresholds_default(al_diagnosis_thresholds *out);
/* Fills *out with the thresholds in force. Returns AL_OK, or AL_EINVAL for NULL. */
AL_API AL_NODISCARD int al_diagnosis_get_thresholds(al_diagnosis_thresholds *out);
/* Sets every threshold from *t (start from al_diagnosis_get_thresholds and change fields).
 * Returns AL_OK, or AL_EINVAL (logged, naming the field; nothing changed) for NULL, a zero
 * count, leak_samples outside 2..AL_DIAGNOSIS_WINDOW_MAX, or a ratio below 1. */
AL_API AL_NODISCARD int al_diagnosis_set_thresholds(const al_diagnosis_thresholds *t);

/* -------- The diagnosis record: built by the manager, read by the caller. -------- */

/* Every site's live figures at one sample: opaque, see al_memory_snapshot. */
typedef struct al_snapshot al_snapshot;

/* One call site's live memory. `file`, `function` and `tag` are borrowed for the life of the
 * process. Sites of the preload library have `pc` set and, until symbolized, file and function
 * NULL and line 0. */
typedef struct al_diagnosis_site {
    const char *file;          /* __FILE__ of the allocating call, or NULL */
    const char *function;      /* __func__ of the allocating call, or NULL */
    int line;                  /* __LINE__ of the allocating call, or 0 */
    const char *tag;           /* tag of its blocks, never NULL */
    uint64_t bytes;            /* bytes in live blocks */
    uint64_t count;            /* live blocks */
    uint64_t allocations;      /* blocks ever allocated at the site */
    uint64_t reclaimed_blocks; /* blocks that scopes had to reclaim (never freed explicitly) */
    uint64_t reclaimed_bytes;  /* bytes of those blocks */
    uintptr_t pc;              /* return address (preload sites), else 0 */
} al_diagnosis_site;

/* Live memory of one tag, summed over its sites. */
typedef struct al_diagnosis_type {
    const char *tag; /* borrowed for the life of the process */
    uint64_t count;  /* live blocks */
    uint64_t bytes;  /* bytes in live blocks */
    int flagged;     /* 1 when count > thresholds.object_count */
    uint32_t sites;  /* call sites holding live blocks of this tag */
} al_diagnosis_type;

/* One site's change between two samples. */
typedef struct al_diagnosis_growth {
    al_diagnosis_site site; /* the site, with its figures at the later sample */
    int64_t bytes_delta;    /* bytes: later minus earlier */
    int64_t count_delta;    /* blocks: later minus earlier */
} al_diagnosis_growth;

/* Tracked memory beside what the OS and the device say is used. */
typedef struct al_diagnosis_accounting {
    uint64_t tracked_bytes;           /* bytes in live tracked blocks */
    uint64_t peak_bytes;              /* highest tracked_bytes */
    uint64_t live_blocks;             /* live tracked blocks */
    uint64_t rss_bytes;               /* process resident set size */
    uint64_t peak_rss_bytes;          /* its peak */
    int64_t unaccounted_bytes;        /* rss_bytes - tracked_bytes: memory no tracker sees */
    uint64_t cuda_allocated_bytes;    /* device bytes in live CUDA blocks */
    uint64_t cuda_reserved_bytes;     /* device bytes held by the caching allocator */
    uint64_t cuda_device_used_bytes;  /* the device's used memory (total - free), 0: unknown */
    uint64_t cuda_device_total_bytes; /* the device's memory, 0: unknown */
    int64_t cuda_unaccounted_bytes;   /* device used - reserved (0 when used is unknown) */
} al_diagnosis_accounting;

typedef enum al_severity {
    AL_SEVERITY_INFO = 0,     /* worth knowing; nothing is wrong yet */
    AL_SEVERITY_WARNING = 1,  /* act on it: memory is held that should not be */
    AL_SEVERITY_CRITICAL = 2, /* act now: far above a threshold */
} al_severity;

/* Recommendation codes (al_recommendation.code points to one of these strings). */
#define AL_REC_HIGH_OBJECT_COUNT "high_object_count"       /* a flagged tag */
#define AL_REC_HIGH_MEMORY_USAGE "high_memory_usage"       /* tracked > memory threshold */
#define AL_REC_CUDA_CLEANUP "cuda_cleanup"                 /* CUDA allocated > CUDA threshold */
#define AL_REC_SUSPECTED_LEAK "suspected_leak"             /* the rule at the top */
#define AL_REC_CUDA_CACHE "cuda_cache"                     /* reserved far above allocated */
#define AL_REC_FRAGMENTATION "fragmentation"               /* RSS far above tracked bytes */
#define AL_REC_SCOPE_RECLAIMED_LEAK "scope_reclaimed_leak" /* scopes reclaimed a site's blocks */

typedef struct al_recommendation {
    al_severity severity;
    const char *code; /* one of the AL_REC_* strings: static */
    char *message;    /* names the site or tag and the figures; owned by the diagnosis */
    const char *tag;  /* the tag it is about, or NULL */
    const char *file; /* the site it is about, or NULL */
    int line;         /* with file */
} al_recommendation;

/* Every array is sorted: top_consumers and types by bytes, largest first; growth by
 * bytes_delta, largest first (shrinking sites last); recommendations by severity, highest
 * first. */
typedef struct al_diagnosis {
    al_diagnosis_site *top_consumers; /* live sites, at most thresholds.top_consumers */
    size_t n_top_consumers;
    size_t n_sites_live;      /* all sites with live blocks (top_consumers may cut) */
    al_diagnosis_type *types; /* every tag with live blocks */
    size_t n_types;
    al_diagnosis_growth *growth; /* sites that changed, at most thresholds.top_consumers */
    size_t n_growth;
    uint64_t growth_interval_ns; /* ns between the two samples compared */
    al_diagnosis_accounting accounting;
    al_recommendation *recommendations;
    size_t n_recommendations;
    al_diagnosis_thresholds thresholds; /* the thresholds it was judged by */
    uint64_t sample;                    /* number of the sample it reports (1, 2, ...) */
    uint64_t duration_ns;               /* time taken to build it */
} al_diagnosis;

/* -------- Diagnosis: thread-safe. -------- */

/* Takes a sample and diagnoses it: top consumers, types, growth since the previous sample,
 * accounting and recommendations. Free with al_diagnosis_free. NULL when out of memory. */
AL_API AL_NODISCARD al_diagnosis *al_diagnose_memory_leaks(void);
/* As al_diagnose_memory_leaks, with growth measured since snapshot `base` (NULL: since the
 * process started). */
AL_API AL_NODISCARD al_diagnosis *al_diagnose_memory_leaks_since(const al_snapshot *base);
/* Frees d and everything it holds; NULL does nothing. */
AL_API void al_diagnosis_free(al_diagnosis *d);

/* The diagnosis as JSON: {"top_consumers": [{"file", "line", "function", "tag", "bytes",
 * "count", ...}], "types": [{"tag", "count", "bytes", "flagged", ...}], "growth": [{site keys,
 * "bytes_delta", "count_delta"}], "accounting": {...}, "recommendations": [{"severity",
 * "code", "message", ...}]}. A NULL file or function is JSON null. free() the result; NULL
 * for NULL or out of memory. */
AL_API AL_NODISCARD char *al_diagnosis_json(const al_diagnosis *d);
/* The diagnosis for a terminal: accounting, a table of top consumers, types, growth, then
 * the recommendations. free() the result; NULL for NULL or out of memory. */
AL_API AL_NODISCARD char *al_diagnosis_text(const al_diagnosis *d);
/* "info", "warning" or "critical"; static. */
AL_API const char *al_severity_name(al_severity s);

/* -------- Snapshots: thread-safe; a snapshot is immutable once taken. -------- */

/* Records every site's live figures now (a sample, see the top of this header). Free with
 * al_snapshot_free. NULL when out of memory. */
AL_API AL_NODISCARD al_snapshot *al_memory_snapshot(void);
/* A diagnosis of snapshot `b` whose growth is the change from `a` to `b` (a may be NULL: the
 * process start, all zeros). Top consumers, types and accounting are b's; recommendations are
 * judged on b's figures (suspected_leak as of b's sample). Free with al_diagnosis_free. NULL
 * when b is NULL or out of memory. */
AL_API AL_NODISCARD al_diagnosis *al_snapshot_diff(const al_snapshot *a, const al_snapshot *b);
/* Live bytes and blocks of the snapshot, summed over its sites; either pointer may be NULL.
 * Returns AL_OK, or AL_EINVAL for a NULL snapshot. */
AL_API AL_NODISCARD int al_snapshot_totals(const al_snapshot *s, uint64_t *bytes, uint64_t *count);
/* Frees s; NULL does nothing. */
AL_API void al_snapshot_free(al_snapshot *s);

/* -------- Leak report at exit. --------
 * With ASTROLAB_LEAK_REPORT=1 the library prints, at exit, every block still live grouped by
 * call site (count, bytes, tag), largest first, on stderr; with ASTROLAB_LEAK_REPORT=FILE it
 * writes the same as JSON: {"leaks": [{"function", "file", "line", "tag", "count", "bytes"}],
 * "stats": {"current_bytes", "live_blocks", "sites", "rss_bytes", "peak_rss_bytes"}}. The
 * report allocates nothing from the tracked allocator and works when exit() is called from any
 * thread or inside a scope (open scopes are not ended by exit(): their blocks are reported).
 * The environment is read when the library is loaded. A program linked to the static library
 * gets this only when it links the diagnosis in (calls al_diagnose_memory_leaks or
 * al_leak_report_at_exit); the shared library always has it. */

/* Writes the report now: dest "1" or NULL prints the text form on stderr; any other string is
 * a file path for the JSON form. Returns AL_OK, or AL_EIO (logged) when the file cannot be
 * written. */
AL_API AL_NODISCARD int al_leak_report(const char *dest);
/* Arms (dest as for al_leak_report) or, with NULL or "0", disarms the report at exit, as the
 * environment variable does. `dest` is copied (at most 4095 bytes). Returns AL_OK, AL_EINVAL
 * for a longer path, AL_ENOMEM when atexit refused. */
AL_API AL_NODISCARD int al_leak_report_at_exit(const char *dest);

#ifdef __cplusplus
}
#endif
#endif /* ASTROLAB_DIAGNOSIS_H */
