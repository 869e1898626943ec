/* Growing arrays: the one rule every growable table in the library follows (double, with a
 * floor, never overflow), so each caller only chooses its allocator. Never installed.
 *
 *     size_t cap;
 *     if (!ali_grow_cap(t->cap, t->n + 1, 16, sizeof *t->items, &cap))
 *         return AL_ENOMEM;                       // the byte count would overflow size_t
 *     item *grown = al_realloc(t->items, cap * sizeof *t->items);
 *     if (!grown) return AL_ENOMEM;
 *     t->items = grown, t->cap = cap;
 */
#ifndef ASTROLAB_GROW_INT_H
#define ASTROLAB_GROW_INT_H

#include <stdbool.h> /* bool */
#include <stddef.h>  /* size_t */
#include <stdint.h>  /* SIZE_MAX */

/* The capacity (in elements) to grow an array of `cap` elements of `elem` bytes to so that it
 * holds at least `need`: `cap` doubled (at least `floor`, at least `need`). True with *out
 * set, *out >= need and *out * elem representable in size_t; false when no such capacity
 * exists (need * elem overflows), *out untouched. Callers grow only when need > cap. */
static inline bool ali_grow_cap(size_t cap, size_t need, size_t floor, size_t elem, size_t *out)
{
    size_t max = elem ? SIZE_MAX / elem : SIZE_MAX;
    if (need > max)
        return false;
    size_t next = cap > max / 2 ? max : cap * 2;
    if (next < floor)
        next = floor > max ? max : floor;
    if (next < need)
        next = need;
    *out = next;
    return true;
}

#endif
