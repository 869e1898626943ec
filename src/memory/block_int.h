/* The block header of the tracked allocator: its layout, magics, guard bytes and flags.
 * Private to src/memory/ and the preload library, which reads the headers of the blocks it
 * frees; backing.h includes it to place aligned blocks. Never installed. */
#ifndef ASTROLAB_BLOCK_INT_H
#define ASTROLAB_BLOCK_INT_H

#include <stdint.h>

#include "astrolab/memory.h"

typedef struct ali_chunk ali_chunk;
typedef struct ali_site ali_site;

/* -------- Block header: directly before every user pointer. --------
 * 48 bytes keep user pointers aligned for max_align_t. A freed block's first 16 bytes belong to
 * the backing allocator (mimalloc's free list, glibc's tcache next and key), so what a
 * double-free report needs (free_site, site, size, magic) sits after them. */
typedef struct ali_block {
    uint32_t slot;            /* index of this block in chunk->slots */
    uint32_t tid;             /* allocating thread's small id */
    ali_chunk *chunk;         /* owner scope's slot chunk; NULL: owned by the process */
    const al_site *free_site; /* set when freed: for double-free reports */
    ali_site *site;           /* allocating site (with its tag) */
    uint64_t size;            /* bytes requested */
    uint16_t flags;           /* ALI_BLOCK_* */
    uint8_t align_log2;       /* alignment asked for (0: default) */
    uint8_t chunk_gen;        /* chunk->gen when the block entered it (see ali_chunk) */
    uint32_t magic;           /* ALI_MAGIC_LIVE, _FREED, _KEPT or _CACHED */
} ali_block;

#define ALI_HEADER_SIZE sizeof(ali_block)
_Static_assert(ALI_HEADER_SIZE % 16 == 0, "block header must keep 16-byte alignment");

#define ALI_MAGIC_LIVE 0xA57B10C5u
#define ALI_MAGIC_FREED 0xDEADF4EEu
#define ALI_MAGIC_KEPT 0xDEADF4EFu   /* freed in every count, memory kept (al_free_keep) */
#define ALI_MAGIC_CACHED 0xDEADF4F0u /* freed in every count, in a thread cache (kept.c) */
#define ALI_MAGIC_RAW 0xA57B1A3Bu    /* untracked block of the preload library's re-entry path */
#define ALI_GUARD_SIZE 8
#define ALI_GUARD_BYTE 0xAB
#define ALI_GUARD_MAX (256u * 1024u) /* larger blocks carry no guard (see alloc.c) */

enum {
    ALI_BLOCK_IN_HEAP = 1u << 0, /* lives in its owner scope's private heap */
    ALI_BLOCK_WATCHED = 1u << 1, /* registered or weakly referenced: tell the registry on free */
};

/* The smallest page size of any platform we run on: a read within the same 4 KiB-aligned
 * window as a valid address cannot fault, whatever the real page size (a multiple of it). */
#define ALI_MIN_PAGE ((uintptr_t)4096)

static inline ali_block *ali_block_of(const void *p) { return (ali_block *)p - 1; }

/* Block flags change on any thread (the registry marks a block watched while its owner may
 * clear its heap bit), so they are read and changed atomically. */
static inline uint16_t ali_block_flags(const ali_block *b)
{
    return __atomic_load_n(&b->flags, __ATOMIC_RELAXED);
}
static inline void ali_block_flags_set(ali_block *b, uint16_t f)
{
    __atomic_fetch_or(&b->flags, f, __ATOMIC_RELAXED);
}
static inline void ali_block_flags_clear(ali_block *b, uint16_t f)
{
    __atomic_fetch_and(&b->flags, (uint16_t)~f, __ATOMIC_RELAXED);
}
static inline void *ali_block_user(ali_block *b) { return b + 1; }

#endif
