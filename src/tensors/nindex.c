/* The name index of nindex_int.h: open addressing, linear probing, at most half full. Used by
 * tensordict.c (entries), src/survey/meta.c (column metadata) and src/survey/csv.c (duplicate
 * header names). */
#include <stdlib.h>
#include <string.h>

#include "astrolab/error.h"
#include "astrolab/memory.h"
#include "tensors/nindex_int.h"

uint64_t ali_name_hash(const char *name, size_t n, bool escaped)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++) {
        if (escaped && name[i] == '\\' && i + 1 < n)
            i++;
        h = (h ^ (uint8_t)name[i]) * 0x100000001b3ull;
    }
    return h ^ (h >> 29);
}

static void put_slot(ali_nslot *slots, size_t cap, uint64_t h, size_t pos1)
{
    size_t i = (size_t)h & (cap - 1);
    while (slots[i].pos1)
        i = (i + 1) & (cap - 1);
    slots[i] = (ali_nslot){h, pos1};
}

int ali_nindex_reserve(ali_nindex *x, size_t want)
{
    if (want <= x->cap / 2)
        return AL_OK;
    size_t cap = x->cap ? x->cap : 16;
    while (cap / 2 < want) {
        if (cap > SIZE_MAX / 2 / sizeof(ali_nslot))
            return AL_ENOMEM;
        cap *= 2;
    }
    ali_nslot *s = x->untracked ? calloc(cap, sizeof *s) : al_calloc(cap, sizeof *s);
    if (!s)
        return AL_ENOMEM;
    for (size_t i = 0; i < x->cap; i++)
        if (x->slots[i].pos1)
            put_slot(s, cap, x->slots[i].hash, x->slots[i].pos1);
    ali_nindex_free(x);
    x->slots = s;
    x->cap = cap;
    for (size_t i = 0; i < cap; i++)
        x->count += s[i].pos1 != 0;
    return AL_OK;
}

void ali_nindex_put(ali_nindex *x, uint64_t h, size_t pos)
{
    put_slot(x->slots, x->cap, h, pos + 1);
    x->count++;
}

size_t ali_nindex_next(const ali_nindex *x, uint64_t h, size_t *cursor)
{
    if (!x->cap)
        return 0;
    /* The cursor counts probes: slot (h + cursor) mod cap; an empty slot ends the chain. */
    for (size_t k = *cursor; k < x->cap; k++) {
        const ali_nslot *s = &x->slots[((size_t)h + k) & (x->cap - 1)];
        if (!s->pos1)
            break;
        if (s->hash == h) {
            *cursor = k + 1;
            return s->pos1;
        }
    }
    *cursor = x->cap;
    return 0;
}

void ali_nindex_clear(ali_nindex *x)
{
    if (x->slots)
        memset(x->slots, 0, x->cap * sizeof *x->slots);
    x->count = 0;
}

void ali_nindex_free(ali_nindex *x)
{
    if (x->untracked)
        free(x->slots);
    else
        al_free(x->slots);
    x->slots = NULL;
    x->cap = 0;
    x->count = 0;
}
