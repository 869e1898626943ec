/* The workload of `astrolab demo`: a synthetic Gaia-like catalog decoded chunk by chunk from
 * big-endian FITS-style rows, a nearby-star selection, a close-pair cross-match that leaks its
 * match lists on purpose, and a sky-density cache with a release function. All memory goes
 * through the tracked allocator so the manager sees it; cmd_demo.c runs and reports it. */
#include <endian.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "astrolab/astrolab.h"
#include "demo.h"

/* -------- The generator: splitmix64 (Steele, Lea and Flood 2014). -------- */

static uint64_t rng_next(demo_rng *r)
{
    uint64_t z = (r->state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Uniform in [0, 1). */
static double rng_uniform(demo_rng *r) { return (double)(rng_next(r) >> 11) * 0x1p-53; }

/* Standard normal, Box-Muller (one of the pair; simplicity over speed). */
static double rng_gauss(demo_rng *r)
{
    double u = rng_uniform(r), v = rng_uniform(r);
    return sqrt(-2.0 * log(1.0 - u)) * cos(2.0 * M_PI * v);
}

/* -------- Rows: the on-disk layout of a FITS binary table, big-endian. --------
 * TFORMs K D D D D D E E E: source_id, ra, dec, parallax, pmra, pmdec, G, BP, RP. */
#define ROW_BYTES (8 + 5 * 8 + 3 * 4)

static void put_f64(uint8_t *p, double v)
{
    uint64_t u;
    memcpy(&u, &v, 8);
    u = htobe64(u);
    memcpy(p, &u, 8);
}

static void put_f32(uint8_t *p, float v)
{
    uint32_t u;
    memcpy(&u, &v, 4);
    u = htobe32(u);
    memcpy(p, &u, 4);
}

static double get_f64(const uint8_t *p)
{
    uint64_t u;
    memcpy(&u, p, 8);
    u = be64toh(u);
    double v;
    memcpy(&v, &u, 8);
    return v;
}

static float get_f32(const uint8_t *p)
{
    uint32_t u;
    memcpy(&u, p, 4);
    u = be32toh(u);
    float v;
    memcpy(&v, &u, 4);
    return v;
}

/* Writes n synthetic rows. Positions are uniform on the sphere; distances 50 pc plus an
 * exponential of mean 1.5 kpc; tangential velocities about 30 km/s; G from 6 to 21 with faint
 * stars far more common. source_id packs an equal-area pixel index above bit 35, as Gaia's
 * HEALPix level-12 index does, with the running row number below. */
static void encode_rows(demo_rng *rng, uint8_t *rows, size_t n, uint64_t first_row)
{
    for (size_t i = 0; i < n; i++) {
        uint8_t *p = rows + i * ROW_BYTES;
        double ra = 360.0 * rng_uniform(rng);
        double sin_dec = 2.0 * rng_uniform(rng) - 1.0;
        double dec = asin(sin_dec) * 180.0 / M_PI;
        double dist = 50.0 - 1500.0 * log(1.0 - rng_uniform(rng));
        double parallax = 1000.0 / dist + 0.05 * rng_gauss(rng);
        double pm = 6329.0 / dist; /* 30 km/s at dist pc, in mas/yr */
        double pmra = pm * rng_gauss(rng), pmdec = pm * rng_gauss(rng);
        float g = (float)(6.0 + 15.0 * pow(rng_uniform(rng), 0.25));
        float color = (float)rng_uniform(rng);
        uint64_t pix = (uint64_t)((sin_dec + 1.0) / 2.0 * 8191.999) * 24576u +
                       (uint64_t)(ra / 360.0 * 24575.999);
        uint64_t id = htobe64(pix << 35 | (first_row + i));
        memcpy(p, &id, 8);
        put_f64(p + 8, ra);
        put_f64(p + 16, dec);
        put_f64(p + 24, parallax);
        put_f64(p + 32, pmra);
        put_f64(p + 40, pmdec);
        put_f32(p + 48, g);
        put_f32(p + 52, g + 0.2f + 0.6f * color);
        put_f32(p + 56, g - 0.5f - 0.6f * color);
    }
}

static void decode_rows(const uint8_t *rows, struct star *out, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const uint8_t *p = rows + i * ROW_BYTES;
        struct star *s = &out[i];
        uint64_t id;
        memcpy(&id, p, 8);
        s->source_id = (int64_t)be64toh(id);
        s->ra = get_f64(p + 8);
        s->dec = get_f64(p + 16);
        s->parallax = get_f64(p + 24);
        s->pmra = get_f64(p + 32);
        s->pmdec = get_f64(p + 40);
        s->g_mag = get_f32(p + 48);
        s->bp_mag = get_f32(p + 52);
        s->rp_mag = get_f32(p + 56);
        snprintf(s->designation, sizeof s->designation, "Gaia DR3 %lld", (long long)s->source_id);
    }
}

/* Bright stars (G < 10) get a Hipparcos-style alias, one al_strdup string each. */
static int add_aliases(struct chunk *ch, uint64_t *next_hip)
{
    size_t bright = 0;
    for (size_t i = 0; i < ch->n; i++)
        bright += ch->stars[i].g_mag < 10.0f;
    if (!bright)
        return 0;
    ch->aliases = AL_NEW_ARRAY(struct alias, bright);
    if (!ch->aliases)
        return -1;
    for (size_t i = 0; i < ch->n; i++) {
        if (ch->stars[i].g_mag >= 10.0f)
            continue;
        char name[32];
        snprintf(name, sizeof name, "HIP %llu", (unsigned long long)(*next_hip)++);
        struct alias *a = &ch->aliases[ch->n_aliases];
        a->row = (uint32_t)i;
        a->name = al_strdup(name);
        if (!a->name)
            return -1;
        ch->n_aliases++;
    }
    return 0;
}

/* Decodes one chunk. The row buffer lives in its own scope: were decoding to fail half-way
 * (a `break` out of the block), the scope would release whatever the chunk had allocated. */
static int load_chunk(demo_rng *rng, struct chunk *ch, size_t n, uint64_t first_row)
{
    ch->stars = AL_NEW_ARRAY(struct star, n);
    if (!ch->stars)
        return -1;
    ch->n = n;
    int rc = -1;
    AL_MEMORY_MANAGEMENT("decode_chunk")
    {
        uint8_t *rows = al_malloc_tagged(n * ROW_BYTES, "fits row buffer");
        if (!rows)
            break;
        encode_rows(rng, rows, n, first_row);
        decode_rows(rows, ch->stars, n);
        al_free(rows);
        rc = 0;
    }
    return rc;
}

struct catalog *demo_catalog_build(demo_rng *rng, size_t n_rows, size_t chunk_rows,
                                   demo_progress_fn progress, void *user)
{
    if (!rng || !n_rows || !chunk_rows)
        return NULL;
    struct catalog *cat = AL_NEW(struct catalog);
    if (!cat)
        return NULL;
    size_t n_chunks = (n_rows + chunk_rows - 1) / chunk_rows;
    cat->name = al_strdup("synthetic Gaia DR3-like catalog");
    cat->chunks = AL_NEW_ARRAY(struct chunk, n_chunks);
    if (!cat->name || !cat->chunks)
        goto fail;
    cat->n_chunks = n_chunks;
    uint64_t next_hip = 1;
    for (size_t c = 0; c < n_chunks; c++) {
        size_t n = n_rows - cat->n_rows < chunk_rows ? n_rows - cat->n_rows : chunk_rows;
        if (load_chunk(rng, &cat->chunks[c], n, cat->n_rows) != 0 ||
            add_aliases(&cat->chunks[c], &next_hip) != 0)
            goto fail;
        cat->n_rows += n;
        if (progress)
            progress(user, c + 1, n_chunks);
    }
    return cat;
fail:
    demo_catalog_free(cat);
    return NULL;
}

uint64_t demo_catalog_blocks(const struct catalog *cat)
{
    if (!cat)
        return 0;
    uint64_t n = 1 + (cat->name != NULL) + (cat->chunks != NULL);
    for (size_t c = 0; c < cat->n_chunks; c++) {
        const struct chunk *ch = &cat->chunks[c];
        n += (ch->stars != NULL) + (ch->aliases != NULL) + ch->n_aliases;
    }
    return n;
}

uint64_t demo_catalog_keep(struct catalog *cat)
{
    if (!cat)
        return 0;
    for (size_t c = 0; c < cat->n_chunks; c++) {
        struct chunk *ch = &cat->chunks[c];
        al_scope_keep(ch->stars);
        al_scope_keep(ch->aliases);
        for (size_t i = 0; i < ch->n_aliases; i++)
            al_scope_keep(ch->aliases[i].name);
    }
    al_scope_keep(cat->chunks);
    al_scope_keep(cat->name);
    al_scope_keep(cat);
    return demo_catalog_blocks(cat);
}

void demo_catalog_free(struct catalog *cat)
{
    if (!cat)
        return;
    for (size_t c = 0; c < cat->n_chunks; c++) {
        struct chunk *ch = &cat->chunks[c];
        for (size_t i = 0; i < ch->n_aliases; i++)
            al_free(ch->aliases[i].name);
        al_free(ch->aliases);
        al_free(ch->stars);
    }
    al_free(cat->chunks);
    al_free(cat->name);
    al_free(cat);
}

/* -------- Selection. -------- */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void free_scratch(void *p) { al_free(p); }

/* Counts per G bin into a scratch histogram whose release is deferred to the scope's end, as
 * code that hands a scratch buffer to several helpers would do. */
static int magnitude_histogram(const struct selection *sel, uint32_t out[16])
{
    uint32_t *hist = AL_NEW_ARRAY(uint32_t, 16);
    if (!hist)
        return -1;
    /* Without a scope (or room to defer) it is freed here instead: same result. */
    bool deferred = al_scope_defer(free_scratch, hist) == AL_OK;
    for (size_t i = 0; i < sel->n; i++) {
        int bin = (int)floorf(sel->stars[i].g_mag) - 6;
        hist[bin < 0 ? 0 : bin > 15 ? 15 : bin]++;
    }
    memcpy(out, hist, 16 * sizeof *hist);
    if (!deferred)
        free_scratch(hist);
    return 0;
}

struct selection *demo_select_nearby(const struct catalog *cat, double min_parallax)
{
    if (!cat)
        return NULL;
    size_t n = 0;
    for (size_t c = 0; c < cat->n_chunks; c++)
        for (size_t i = 0; i < cat->chunks[c].n; i++)
            n += cat->chunks[c].stars[i].parallax > min_parallax;
    struct selection *sel = AL_NEW(struct selection);
    if (!sel)
        return NULL;
    sel->min_parallax = min_parallax;
    double *dist = NULL;
    if (n) {
        sel->stars = AL_NEW_ARRAY(struct star, n);
        dist = AL_NEW_ARRAY(double, n);
        if (!sel->stars || !dist)
            goto fail;
    }
    double pm_sum = 0.0;
    for (size_t c = 0; c < cat->n_chunks; c++) {
        const struct chunk *ch = &cat->chunks[c];
        for (size_t i = 0; i < ch->n; i++) {
            const struct star *s = &ch->stars[i];
            if (s->parallax <= min_parallax)
                continue;
            dist[sel->n] = 1000.0 / s->parallax;
            pm_sum += hypot(s->pmra, s->pmdec);
            sel->stars[sel->n++] = *s;
        }
    }
    if (n) {
        qsort(dist, n, sizeof *dist, cmp_double);
        sel->median_distance_pc = n % 2 ? dist[n / 2] : 0.5 * (dist[n / 2 - 1] + dist[n / 2]);
        sel->mean_total_pm = pm_sum / (double)n;
    }
    AL_FREE(dist);
    if (magnitude_histogram(sel, sel->g_histogram) != 0)
        goto fail;
    return sel;
fail:
    al_free(dist);
    demo_selection_free(sel);
    return NULL;
}

void demo_selection_free(struct selection *sel)
{
    if (!sel)
        return;
    al_free(sel->stars);
    al_free(sel);
}

/* -------- Cross-match: close pairs by a declination sweep. -------- */

struct match {
    uint32_t a, b; /* rows in the chunk */
    float sep_arcsec;
};

static int cmp_dec(const void *a, const void *b, void *stars)
{
    const struct star *s = stars;
    double x = s[*(const uint32_t *)a].dec, y = s[*(const uint32_t *)b].dec;
    return (x > y) - (x < y);
}

/* Angular separation in degrees (haversine: exact for small angles). */
static double separation_deg(const struct star *s, const struct star *t)
{
    const double d2r = M_PI / 180.0;
    double sd = sin((t->dec - s->dec) * d2r / 2), sr = sin((t->ra - s->ra) * d2r / 2);
    double h = sd * sd + cos(s->dec * d2r) * cos(t->dec * d2r) * sr * sr;
    return 2.0 * asin(sqrt(h < 1.0 ? h : 1.0)) / d2r;
}

/* Pairs of one chunk into a new match list (AL_NEW_ARRAY, grown with al_realloc). */
static struct match *chunk_pairs(const struct chunk *ch, double radius_deg, size_t *count)
{
    uint32_t *order = AL_NEW_ARRAY(uint32_t, ch->n);
    size_t cap = 8, n = 0;
    struct match *list = AL_NEW_ARRAY(struct match, cap);
    if (!order || !list) {
        al_free(order);
        al_free(list);
        return NULL;
    }
    for (size_t i = 0; i < ch->n; i++)
        order[i] = (uint32_t)i;
    qsort_r(order, ch->n, sizeof *order, cmp_dec, ch->stars);
    for (size_t i = 0; i < ch->n; i++) {
        const struct star *s = &ch->stars[order[i]];
        for (size_t j = i + 1; j < ch->n; j++) {
            const struct star *t = &ch->stars[order[j]];
            if (t->dec - s->dec > radius_deg)
                break;
            double sep = separation_deg(s, t);
            if (sep > radius_deg)
                continue;
            if (n == cap) {
                /* Doubled here, with the byte count checked as the library's ali_grow_cap
                 * does: the tool sees only the public API, and that helper is internal. */
                struct match *grown = cap <= SIZE_MAX / 2 / sizeof *list
                                          ? al_realloc(list, 2 * cap * sizeof *list)
                                          : NULL;
                if (!grown) {
                    al_free(order);
                    al_free(list);
                    return NULL;
                }
                list = grown;
                cap *= 2;
            }
            list[n++] = (struct match){order[i], order[j], (float)(sep * 3600.0)};
        }
    }
    al_free(order);
    *count = n;
    return list;
}

int demo_crossmatch_run(const struct catalog *cat, double radius_arcsec, demo_crossmatch *out)
{
    if (!cat || !out)
        return -1;
    demo_crossmatch r = {.radius_arcsec = radius_arcsec};
    for (size_t c = 0; c < cat->n_chunks; c++) {
        size_t count = 0;
        struct match *list = chunk_pairs(&cat->chunks[c], radius_arcsec / 3600.0, &count);
        if (!list)
            return -1;
        r.pairs += count;
        /* The deliberate leak: the list is counted and then dropped without al_free, the way
         * a stage that forgets its temporaries would. The scope around this call reclaims it;
         * out->leaked_* record what it must find. */
        r.leaked_blocks++;
        r.leaked_bytes += al_block_size(list);
    }
    *out = r;
    return 0;
}

/* -------- The sky-density cache. -------- */

static int build_cells(struct sky_cache *c, const struct catalog *cat)
{
    c->counts = AL_NEW_ARRAY(uint32_t, (size_t)c->width * (size_t)c->height);
    if (!c->counts)
        return -1;
    for (size_t k = 0; k < cat->n_chunks; k++) {
        const struct chunk *ch = &cat->chunks[k];
        for (size_t i = 0; i < ch->n; i++) {
            const struct star *s = &ch->stars[i];
            double y = (sin(s->dec * M_PI / 180.0) + 1.0) / 2.0;
            int col = (int)(s->ra / 360.0 * c->width), row = (int)(y * c->height);
            col = col < c->width ? col : c->width - 1;
            row = row < c->height ? row : c->height - 1;
            c->counts[(size_t)row * (size_t)c->width + (size_t)col]++;
        }
    }
    c->builds++;
    return 0;
}

struct sky_cache *demo_sky_cache_new(const struct catalog *cat, int width, int height)
{
    if (!cat || width <= 0 || height <= 0)
        return NULL;
    struct sky_cache *c = AL_NEW(struct sky_cache);
    if (!c)
        return NULL;
    c->width = width;
    c->height = height;
    if (build_cells(c, cat) != 0) {
        al_free(c);
        return NULL;
    }
    return c;
}

int demo_sky_cache_release(void *cache)
{
    struct sky_cache *c = cache;
    if (c->counts) {
        AL_FREE(c->counts);
        c->releases++;
    }
    return 0;
}

uint64_t demo_sky_cache_bytes(const struct sky_cache *c)
{
    return c && c->counts ? (uint64_t)c->width * (uint64_t)c->height * sizeof *c->counts : 0;
}
