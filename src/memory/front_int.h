/* The interface of the allocation worker to a front end: al_malloc and friends (alloc.c) and
 * the preload library's malloc, which lays its own lean blocks for the program but sends what
 * the lean path cannot serve (a call inside a scope, under fault injection or a limit), and the
 * frees and reallocs of blocks in the manager's format, through this worker. With it, the
 * sites the preload makes from return addresses and the hooks it installs. Private to
 * src/memory/ and src/preload/. Never installed. */
#ifndef ASTROLAB_FRONT_INT_H
#define ASTROLAB_FRONT_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "astrolab/memory.h"
#include "block_int.h"
#include "memory_int.h"

/* -------- The allocation worker (alloc.c). -------- */

/* Allocates n bytes (align 0: the default) at `site`, owned by the calling thread's scope;
 * reports and returns NULL on failure. loc may be NULL. */
void *ali_alloc(size_t n, size_t align, bool zero, ali_site *site, const al_site *loc);
/* al_free's worker: the inlined common case, else the full check; loc may be NULL. */
void ali_free(void *p, const al_site *loc);
/* Resizes live block b (n > 0) and moves it to site rt; NULL (b unchanged) on failure. */
void *ali_realloc_block(ali_block *b, size_t n, ali_site *rt, const al_site *loc);
/* Validates p as a live block; reports and returns NULL when it is not. */
ali_block *ali_block_check(const void *p, const al_site *loc, const char *op);

/* -------- Sites by return address (site.c). -------- */

/* Record for a return address (the preload library's sites). */
ali_site *ali_site_for_pc(uintptr_t pc, const char *tag);
/* Take and release the site table's lock (around fork). */
void ali_site_lock(void);
void ali_site_unlock(void);

/* Describes runtime site s (NULL: unknown) as ali_where_site does, but names a return address
 * through the symbolizer the preload installed (cached for the process), as the diagnosis
 * does. Returns w->text. May allocate: only where the preload's allocations are raw. */
const char *ali_where_symbolized(ali_where *w, const ali_site *s);

/* -------- What the preload library installs. -------- */

/* Whole-program mode (`astrolab run`): advice speaks to a program that knows nothing of the
 * library's API (no al_* calls, no AL_* macros). Set once, before the first diagnosis. */
void ali_recommend_for_whole_programs(void);
/* Function, file and line of a return address. Returns 0 when found; the strings must live as
 * long as the process. Called from the exit report, so it must not allocate through the
 * tracked allocator. NULL until the preload library sets it. */
extern int (*ali_site_symbolize_hook)(uintptr_t pc, const char **function, const char **file,
                                      int *line);

#endif
