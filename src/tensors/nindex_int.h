/* A hash index from names to positions in an array its owner keeps (the entries of a
 * tensordict, the columns of a survey's metadata, the fields of a CSV header), so that a lookup
 * by name is O(1) expected however many names there are: a linear scan made a CSV of 200,000
 * columns take minutes to load. Open addressing with linear probing, at most half full; each
 * slot keeps its name's hash, so growing needs no names and a probe compares names only on a
 * full hash match. The index holds no names: callers compare the candidates it returns.
 * Implemented in nindex.c. */
#ifndef ASTROLAB_NINDEX_INT_H
#define ASTROLAB_NINDEX_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct ali_nslot {
    uint64_t hash; /* of the name at pos1 - 1 */
    size_t pos1;   /* position + 1; 0: empty */
} ali_nslot;

typedef struct ali_nindex {
    ali_nslot *slots; /* cap slots, or NULL */
    size_t cap;       /* a power of two, or 0 */
    size_t count;     /* positions held */
    bool untracked;   /* slots from the C library (bookkeeping), not the memory manager */
} ali_nindex;

/* FNV-1a of name[0..n). With `escaped`, name is a tensordict key component: a '\' makes the
 * next byte literal and is not hashed itself, so a component hashes as the name it stands for. */
uint64_t ali_name_hash(const char *name, size_t n, bool escaped);
/* Makes room for `want` positions in all (rehashing what it holds). AL_OK, or AL_ENOMEM with
 * the index unchanged. */
int ali_nindex_reserve(ali_nindex *x, size_t want);
/* Adds position pos under hash h; room must have been reserved. */
void ali_nindex_put(ali_nindex *x, uint64_t h, size_t pos);
/* The positions stored under hash h, one per call: start with *cursor = 0; returns pos + 1, or
 * 0 when there are no more. */
size_t ali_nindex_next(const ali_nindex *x, uint64_t h, size_t *cursor);
/* Forgets every position, keeping the slots (never allocates). */
void ali_nindex_clear(ali_nindex *x);
void ali_nindex_free(ali_nindex *x);

#endif
