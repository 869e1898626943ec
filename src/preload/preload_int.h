/* Internals of the preload library (src/preload/). Never installed. */
#ifndef ASTROLAB_PRELOAD_INT_H
#define ASTROLAB_PRELOAD_INT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "astrolab/error.h" /* al_error */

/* The header of the program's blocks (preload.c explains the design). */
typedef struct lean_block {
    uint64_t size;  /* bytes requested */
    uint32_t site;  /* site id */
    uint32_t magic; /* LEAN_LIVE or LEAN_GUARDED (| 1: sampled); LEAN_FREED once freed */
} lean_block;
_Static_assert(sizeof(lean_block) == 16, "lean header keeps 16-byte alignment");
#define LEAN_LIVE 0xA57B1EA4u
#define LEAN_GUARDED 0xA57B1EA6u /* live, with guard bytes after the user bytes */
#define LEAN_FREED 0xDEADF1EAu
/* A live block whose allocation was sampled (sample.c): its free takes its weight off its
 * stack's live estimate. LEAN_LIVE | 1 and LEAN_GUARDED | 1, so the guard test is one mask. */
#define LEAN_SAMPLED 0xA57B1EA5u
#define LEAN_SAMPLED_GUARDED 0xA57B1EA7u
static inline bool lean_is_live(uint32_t magic) { return (magic & ~3u) == LEAN_LIVE; }
static inline bool lean_is_guarded(uint32_t magic) { return (magic & ~1u) == LEAN_GUARDED; }

static inline lean_block *lean_of(const void *p) { return (lean_block *)p - 1; }

/* Blocks and bytes of one site that the exit scan reached (reach.c). */
typedef struct ali_reach_site {
    uint64_t count, bytes;
} ali_reach_site;

/* Which live blocks the program can still reach, per site id (an array of n_sites, freed with
 * ali_internal_free), or NULL when the scan could not run (out of memory, no /proc/self/maps).
 * Roots are every writable private mapping outside the heap (globals, thread stacks, the
 * calling thread's stack above its stack pointer, glibc's own heap); a block is reached through
 * a pointer to its start, from a root or from a reached block. Run at exit, inside the manager
 * (its allocations raw), with the program's other threads stopped or idle. */
ali_reach_site *ali_preload_reachable(uint32_t n_sites);

/* Marks the calling thread as inside the manager: its allocations become raw (untracked). */
void ali_preload_enter(void);
void ali_preload_leave(void);
/* True while the calling thread is inside the manager or the reporter (between enter and
 * leave): a signal handler running then must not take the manager's locks. */
bool ali_preload_inside(void);

/* -------- Call stacks (ASTROLAB_STACK_DEPTH > 1). --------
 * A site made from a stack has a synthetic pc: a hash of its frames with ALI_STACK_BIT set,
 * never a code address; ali_preload_stack gives its frames back. */
#define ALI_STACK_BIT ((uintptr_t)1 << 63)
#define ALI_STACK_MAX 16
/* Copies the frames of synthetic pc `key` (innermost first) into out; returns their number, or
 * 0 when key is not a stack. */
int ali_preload_stack(uintptr_t key, uintptr_t out[ALI_STACK_MAX]);
/* Remembers the frames of synthetic pc `key` (once; out of memory, the site keeps its first
 * frame only). */
void ali_preload_stack_remember(uintptr_t key, const uintptr_t *frames, int n);
/* Unwinds the calling thread's stack and copies into frames the frames from return address pc
 * outward, at most max (<= ALI_STACK_MAX); returns their number, 0 when pc is not on the stack. */
int ali_preload_unwind_from(uintptr_t pc, uintptr_t *frames, int max);
/* Held across fork (stack_sites.c's lock). */
void ali_preload_stacks_lock(void);
void ali_preload_stacks_unlock(void);

/* Reads ASTROLAB_RUN_REPORT / ASTROLAB_RUN_PID and registers the exit report. */
void ali_preload_report_init(void);

/* Where a return address points: function, source file and line (0 when unknown), object. */
typedef struct ali_symbol {
    char function[160];
    char file[256];
    int line;
    char object[160];
} ali_symbol;

/* Names `pc` (a return address: the call is the instruction before it). Cached; thread-safe.
 * Returns 0 when at least the object was found. */
int ali_symbolize(uintptr_t pc, ali_symbol *out);
/* True when return address `pc` lies in the C runtime (ld.so or libc), by dladdr alone. */
bool ali_symbol_in_runtime(uintptr_t pc);

/* The name of the function holding return address pc and its code's size in bytes (its ELF
 * symbol's); 0 when found. Cached by libdwfl; takes the symbolizer's lock. */
int ali_symbol_function(uintptr_t pc, char *function, size_t len, uint64_t *code_size);

/* -------- Allocation wrappers (wrappers.c) -------- */
typedef enum ali_wrap_kind {
    ALI_WRAP_UNKNOWN = 0, /* not classified yet */
    ALI_WRAP_NOT,         /* not a wrapper: the site is here */
    ALI_WRAP_FAST,        /* a wrapper whose caller is read at a known CFA offset */
    ALI_WRAP_SLOW,        /* a wrapper whose caller is found by unwinding */
} ali_wrap_kind;
/* Is function `function` (code_size bytes of code, 0: unknown) an allocation wrapper? */
bool ali_wrapper_function(const char *function, uint64_t code_size);
/* Is the function holding return address pc a wrapper (symbolizes it; no table)? */
bool ali_wrapper_at(uintptr_t pc);
/* The table's classification of return address pc (no lock); *cfa_off set when known. */
ali_wrap_kind ali_wrapper_lookup(uintptr_t pc, int32_t *cfa_off);
/* When return address pc lies in a wrapper, the wrapper's own return address, with *cfa (the
 * CFA of the function pc returns from; 0: unknown) moved to the wrapper's CFA; else 0.
 * Classifies pc the first time (symbolizes and unwinds: slow). Call inside the manager. */
uintptr_t ali_wrapper_caller(uintptr_t pc, uintptr_t *cfa);
/* The frame that names a stack of n frames (innermost first): the first outside the
 * allocation wrappers, the outermost when every frame is a wrapper's. */
int ali_wrapper_named_frame(const uintptr_t *pc, int n);
void ali_wrapper_fork_prepare(void);
void ali_wrapper_fork_done(void);

/* -------- Sampled stacks (sample.c) -------- */
/* One sampled stack: its frames from the allocation's caller on (innermost first), the site its
 * allocations were counted at, and the estimates its samples make (weights summed). */
typedef struct ali_sample_stack {
    uintptr_t pc[ALI_STACK_MAX];
    int n;
    uint32_t site;                   /* the immediate site's id (site.c) */
    uint64_t samples;                /* allocations sampled here */
    double alloc_count, alloc_bytes; /* since start */
    double live_count, live_bytes;   /* now */
    double peak_count, peak_bytes;   /* at the peak's copy (peak.c) */
} ali_sample_stack;
/* Records the sampled allocation of size bytes at `block` (a lean block marked LEAN_SAMPLED)
 * of site `site`, with mean interval `interval` (0: every allocation, weight 1) and its frames.
 * False when out of memory (the block is then not marked). Call inside the manager. */
bool ali_sample_take(uintptr_t block, uint32_t site, uint64_t size, int64_t interval,
                     const uintptr_t *frames, int n);
/* Records the stack of the first allocation of site `site` (made from return address pc) as a
 * stack of that site with no weight: every site then has a stack to show, even one no sample
 * reached (a leak of a few blocks). Call inside the manager, once per site. */
void ali_sample_first_stack(uint32_t site, uintptr_t pc);
/* A sampled block is freed (or moved by realloc): its weight leaves its stack's live figures. */
void ali_sample_free(uintptr_t block);
/* Copies every stack's live estimates as its peak estimates (peak.c, at each peak copy). */
void ali_sample_peak_copy(void);
/* A copy of every sampled stack (*n of them, by site; ali_internal_free it), and the samples
 * taken. The stacks of a site share its exact figures in proportion to their estimates. */
ali_sample_stack *ali_sample_stacks(size_t *n, uint64_t *samples);
/* The sampling in force: mean interval in bytes (0: every allocation), the seed. */
void ali_sample_settings(int64_t *interval, uint64_t *seed);
/* Reads ASTROLAB_SAMPLE_BYTES and ASTROLAB_SAMPLE_SEED (the preload library's constructor). */
void ali_sample_configure(void);
/* Bytes the calling thread may still allocate before its next sample: each allocation of n
 * bytes subtracts n, and the one that takes it below zero calls ali_sample_crossed. */
extern
    __attribute__((tls_model("initial-exec"))) _Thread_local int64_t ali_sample_left; /* ALI_TLS */
/* The allocation of `size` bytes at `block` (lean block of site `site`, made from return
 * address pc) took the count below zero: draws the next count and, when unwind (after main),
 * records the allocation's stack. True when recorded: mark the block LEAN_SAMPLED. */
bool ali_sample_crossed(uintptr_t block, uint32_t site, uint64_t size, uintptr_t pc, bool unwind);
void ali_sample_fork_prepare(void);
void ali_sample_fork_done(void);

/* -------- The peak and the temporaries (peak.c) -------- */
typedef struct ali_peak_site {
    int64_t count, bytes; /* live at the peak */
} ali_peak_site;
/* Notes the preload library's start (the origin of every time_ns in the report). */
void ali_peak_start(void);
/* Nanoseconds since ali_peak_start. */
uint64_t ali_peak_since_start(void);
/* A free or shrink is about to lower the balance from the calling thread's own high: copies
 * every site's live figures when the process's balance is a new high (peak.c says when). */
void ali_peak_turn(void);
/* The copy at the peak: *n entries by site id (borrowed; valid until the next call), the
 * balance it was taken at and when. Copies the present state first when it is the highest. */
const ali_peak_site *ali_peak_get(uint32_t *n, int64_t *bytes, uint64_t *time_ns);

/* Temporaries by site id, per thread. */
typedef struct ali_temp_counts {
    uint32_t cap;         /* entries in n */
    _Atomic uint64_t n[]; /* blocks freed with no allocation of their thread in between */
} ali_temp_counts;
/* Counts one temporary at site when the thread's array has no room for it (or none yet). */
void ali_temporary_slow(uint32_t site);
/* Temporaries counted at site, summed over threads. */
uint64_t ali_temporaries_of(uint32_t site);

/* -------- Memory over time (timeline.c) -------- */
typedef struct ali_run_timeline_row {
    uint64_t time_ns;       /* since ali_peak_start */
    uint64_t current_bytes; /* tracked balance */
    uint64_t rss_bytes;     /* the process's resident set */
} ali_run_timeline_row;
/* Takes the first row and starts sampling (stats.c's publish hook). */
void ali_run_timeline_start(void);
/* Adds the peak's row (peak bytes at peak_ns) and the last, and returns every row (*n; borrowed,
 * valid while no thread publishes). */
const ali_run_timeline_row *ali_run_timeline_get(size_t *n, uint64_t peak_ns, int64_t peak);
/* The process's tracked balance now (every thread's, unpublished included). */
int64_t ali_stats_current_balance(void);

/* Writes the folded stacks (live at the peak) to folded_path and the gzipped pprof profile to
 * pprof_path (either NULL or "": not written), each beside its destination and renamed over
 * it (profile.c). AL_OK, or an error code with err saying which file and why. */
int ali_profile_write(const char *folded_path, const char *pprof_path, al_error *err);

/* -------- Origin and suppressions (suppress.c) -------- */
/* The suppression pattern (borrowed, valid to exit) that matches a frame of the n frames, or
 * NULL: --suppressions files and the default list. */
const char *ali_suppression_match(const ali_symbol *frames, int n);
/* Calls fn(item, i, arg) for the i-th non-empty item of `list` (items separated by `sep`; one
 * over 4 KiB is skipped) until it returns true; true then, false at the end (items.c). */
bool ali_preload_each_item(const char *list, char sep,
                           bool (*fn)(const char *item, int i, void *arg), void *arg);
/* Does a frame lie in the program's executable, or in an object `--own` names? */
bool ali_frames_in_program(const ali_symbol *frames, int n);

/* -------- The report (report.c) and the processes the program starts (children.c) -------- */
typedef struct cJSON cJSON;
/* The `--own` patterns no frame matched so far, and the `--wrapper` names no allocating
 * function matched (wrappers.c): the report's `unused_own` and `unused_wrappers`. */
cJSON *ali_own_unused_json(void);
cJSON *ali_wrappers_unused_json(void);
/* The run report of this process (stats, leaks, peak...); the caller owns it. Run inside the
 * manager. */
cJSON *ali_report_build(void);
/* Writes doc (and frees it) to path, beside it and renamed over it; logs a failure. */
void ali_report_write(cJSON *doc, const char *path);
/* In a process the program started (fork+exec, system()): notes it and arranges for its own
 * report at its exit. */
void ali_children_start(void);
/* Adds `processes` and `untracked_processes` to the program's report doc. */
void ali_children_add(cJSON *doc);
/* The report of a process leaving through _exit (exit.c), which runs no exit handler: the
 * program's (report.c) or a started process's (children.c), each written once. */
void ali_report_at__exit(int status);
void ali_children_at__exit(int status);
/* Before a report at _exit: ends the process with SIGALRM should the report wait on a lock
 * for long (exit.c). */
void ali_exit_watchdog(void);

/* Keeps the misuse errors the manager logs (errors.c): install once, at start. */
void ali_errors_start(void);
/* `errors`: [{"kind", "site", "message"}...] of the errors kept; the caller owns it. */
cJSON *ali_errors_json(void);

/* The part of path after its last '/' (path itself without one; "" for NULL). */
const char *ali_preload_base_name(const char *path);
/* Is the object at path (or of that base name) the C runtime: libc.so.* or ld-linux*? */
bool ali_preload_runtime_name(const char *path);
/* runtime.c: is return address pc in libc's or ld.so's code? (Ranges found once.) */
bool ali_preload_in_runtime(uintptr_t pc);
/* The first frame outside the runtime above return address pc on this thread's stack (the
 * program's call into libc), or 0 when every frame is the runtime's or the dynamic loader
 * made the allocation (its records are the runtime's). Unwinds: slow path only. */
uintptr_t ali_preload_program_frame(uintptr_t pc);
/* The tag of blocks the runtime allocated for the program (at the program's frame). */
extern const char ali_tag_libc[];

#endif
