/* Internals shared by the cleanup registry (registry.c), the comprehensive cleanup (cleanup.c)
 * and the limits (limits.c). Never installed; the rest of the manager reaches the registry only
 * through the hooks in services_int.h and memory_int.h. */
#ifndef ASTROLAB_REGISTRY_INT_H
#define ASTROLAB_REGISTRY_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "astrolab/memory.h"
#include "services_int.h"

/* Counts of one pass over the release functions. */
typedef struct ali_release_counts {
    uint64_t run;    /* release functions called */
    uint64_t failed; /* of those, the ones that returned non-zero */
} ali_release_counts;

/* Calls registered release functions, lowest priority number first (then oldest first), and
 * adds to *counts. Before each call, stops when `enough(ctx)` is true (`enough` may be NULL:
 * run them all). A function whose object was freed or unregistered meanwhile is skipped.
 * Passes are serialized: with wait false, returns false at once when another thread's pass is
 * under way; also false (reported) when out of memory for the pass's snapshot. The caller must
 * hold the cleanup guard (ali_cleanup_enter, services_int.h). */
bool ali_registry_release(bool wait, bool (*enough)(void *ctx), void *ctx,
                          ali_release_counts *counts);

/* Empties the CUDA cache (when the CUDA module set its hook) and gives the backing store's free
 * memory back to the OS. Returns the device bytes released. */
uint64_t ali_cleanup_give_back(void);

#endif
