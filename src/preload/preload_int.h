/* Internals of the preload library (src/preload/). Never installed. */
#ifndef ASTROLAB_PRELOAD_INT_H
#define ASTROLAB_PRELOAD_INT_H

#include <stdbool.h>
#include <stdint.h>

/* Marks the calling thread as inside the manager: its allocations become raw (untracked). */
void ali_preload_enter(void);
void ali_preload_leave(void);

/* -------- Call stacks (ASTROLAB_STACK_DEPTH > 1). --------
 * A site made from a stack has a synthetic pc: a hash of its frames with ALI_STACK_BIT set,
 * never a code address; ali_preload_stack gives its frames back. */
#define ALI_STACK_BIT ((uintptr_t)1 << 63)
#define ALI_STACK_MAX 16
/* Copies the frames of synthetic pc `key` (innermost first) into out; returns their number, or
 * 0 when key is not a stack. */
int ali_preload_stack(uintptr_t key, uintptr_t out[ALI_STACK_MAX]);

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

#endif
