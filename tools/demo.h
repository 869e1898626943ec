/* The workload of `astrolab demo` (demo_workload.c): a synthetic Gaia-like star catalog built
 * chunk by chunk through the memory manager, a selection, a cross-match that leaks on purpose
 * and a sky-density cache that gives its memory back on request. cmd_demo.c runs these in
 * named scopes and reports each stage. Everything is deterministic: a fixed-seed generator. */
#ifndef ASTROLAB_DEMO_H
#define ASTROLAB_DEMO_H

#include <stdbool.h> /* bool */
#include <stddef.h>  /* size_t */
#include <stdint.h>  /* int64_t, uint64_t */

/* One catalog row, shaped like a Gaia DR3 source. */
struct star {
    int64_t source_id;
    double ra, dec;     /* deg, ICRS */
    double parallax;    /* mas */
    double pmra, pmdec; /* mas/yr */
    float g_mag, bp_mag, rp_mag;
    char designation[32]; /* "Gaia DR3 <source_id>" */
};

/* A cross-identification for a bright star: "HIP 1234". */
struct alias {
    uint32_t row; /* index in its chunk */
    char *name;   /* al_strdup */
};

struct chunk {
    size_t n;           /* rows */
    struct star *stars; /* AL_NEW_ARRAY(struct star, n) */
    size_t n_aliases;
    struct alias *aliases; /* AL_NEW_ARRAY(struct alias, n_aliases), or NULL */
};

struct catalog {
    char *name; /* al_strdup */
    size_t n_rows;
    size_t n_chunks;
    struct chunk *chunks; /* AL_NEW_ARRAY(struct chunk, n_chunks) */
};

/* The splitmix64 generator: tiny, fast, and the same sequence on every machine. */
typedef struct demo_rng {
    uint64_t state;
} demo_rng;

#define DEMO_SEED 0xA57201AB5EED2026ull

/* Called after each chunk with the chunks done so far (for a progress line); may be NULL. */
typedef void (*demo_progress_fn)(void *user, size_t done, size_t total);

/* Builds a catalog of n_rows rows in chunks of chunk_rows. Each chunk is decoded from a
 * big-endian FITS-style row buffer inside its own AL_MEMORY_MANAGEMENT("decode_chunk") scope.
 * Every block it allocates belongs to the caller's current scope. NULL when out of memory
 * (everything allocated so far is freed). */
struct catalog *demo_catalog_build(demo_rng *rng, size_t n_rows, size_t chunk_rows,
                                   demo_progress_fn progress, void *user);
/* Moves every block of the catalog to the enclosing scope (al_scope_keep); returns the number
 * of blocks kept. */
uint64_t demo_catalog_keep(struct catalog *cat);
/* Number of tracked blocks the catalog holds. */
uint64_t demo_catalog_blocks(const struct catalog *cat);
/* Frees the catalog; NULL does nothing. */
void demo_catalog_free(struct catalog *cat);

/* Nearby stars: parallax above a threshold, copied out. */
struct selection {
    double min_parallax; /* mas */
    size_t n;
    struct star *stars; /* AL_NEW_ARRAY(struct star, n) */
    double median_distance_pc;
    double mean_total_pm;     /* mas/yr */
    uint32_t g_histogram[16]; /* stars per G magnitude bin, 6..22 */
};

/* Selects the stars with parallax > min_parallax into a new selection (two blocks: the struct
 * and its rows). Temporaries are freed on the way; the magnitude histogram's scratch is freed
 * by a function deferred with al_scope_defer, so a scope must be current. NULL when out of
 * memory. */
struct selection *demo_select_nearby(const struct catalog *cat, double min_parallax);
void demo_selection_free(struct selection *sel);

/* Cross-match result: close pairs within a radius, found per chunk. */
typedef struct demo_crossmatch {
    double radius_arcsec;
    uint64_t pairs;         /* pairs found */
    uint64_t leaked_blocks; /* match lists deliberately not freed */
    uint64_t leaked_bytes;  /* their requested sizes */
} demo_crossmatch;

/* Finds close pairs within each chunk (sort by declination, sweep). It deliberately "forgets"
 * to free each chunk's match list, as a buggy pipeline stage would: the scope around it must
 * reclaim them. Returns 0, or -1 when out of memory. */
int demo_crossmatch_run(const struct catalog *cat, double radius_arcsec, demo_crossmatch *out);

/* A sky-density map (stars per equal-area cell) that a program would keep as a cache and
 * rebuild on demand. Its release function frees the cells and leaves the struct valid. */
struct sky_cache {
    int width, height; /* cells in RA and in sin(dec) */
    uint32_t *counts;  /* width * height cells; NULL once released */
    uint64_t builds;   /* times the cells were built */
    uint64_t releases; /* times the release function gave them back */
};

/* Allocates the cache (AL_NEW) and builds its cells from the catalog. NULL when out of
 * memory. */
struct sky_cache *demo_sky_cache_new(const struct catalog *cat, int width, int height);
/* The al_release_fn of the cache: frees the cells; returns 0. */
int demo_sky_cache_release(void *cache);
/* Bytes of the cells while built, 0 once released. */
uint64_t demo_sky_cache_bytes(const struct sky_cache *c);

#endif
