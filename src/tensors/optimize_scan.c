/* The scans behind al_tensordict_optimize_memory: integer ranges, float32 round-trip proofs
 * (exact and within a tolerance) and the distinct-string table used for dictionary encoding.
 * Each reads every element once, in runs (tensor.c's walker), with typed loops so that a
 * 10^7-row column goes at memory speed. Planning and rewriting are in optimize.c. */
#include <math.h>
#include <string.h>

#include "tensors_int.h"

/* -------- Integer ranges -------- */

typedef struct range_ctx {
    al_dtype d;
    int64_t min;   /* smallest value (signed types) */
    int64_t max;   /* largest value (signed types) */
    uint64_t umax; /* largest value (unsigned types) */
} range_ctx;

#define RANGE_LOOP(T, lo, hi)                                                                      \
    for (int64_t i = 0; i < n; i++) {                                                              \
        T v_;                                                                                      \
        memcpy(&v_, pa + i * sa, sizeof v_);                                                       \
        lo = v_ < lo ? v_ : lo;                                                                    \
        hi = v_ > hi ? v_ : hi;                                                                    \
    }

static int range_run(char *pa, char *pb, int64_t n, int64_t sa, int64_t sb, void *user)
{
    (void)pb, (void)sb;
    range_ctx *c = user;
    int64_t lo = c->min, hi = c->max;
    uint64_t ulo = 0, uhi = c->umax;
    switch (c->d) {
    case AL_DTYPE_INT8:
        RANGE_LOOP(int8_t, lo, hi);
        break;
    case AL_DTYPE_INT16:
        RANGE_LOOP(int16_t, lo, hi);
        break;
    case AL_DTYPE_INT32:
        RANGE_LOOP(int32_t, lo, hi);
        break;
    case AL_DTYPE_INT64:
        RANGE_LOOP(int64_t, lo, hi);
        break;
    case AL_DTYPE_UINT8:
        RANGE_LOOP(uint8_t, ulo, uhi);
        break;
    case AL_DTYPE_UINT16:
        RANGE_LOOP(uint16_t, ulo, uhi);
        break;
    case AL_DTYPE_UINT32:
        RANGE_LOOP(uint32_t, ulo, uhi);
        break;
    case AL_DTYPE_UINT64:
        RANGE_LOOP(uint64_t, ulo, uhi);
        break;
    default:
        break;
    }
    c->min = lo, c->max = hi, c->umax = uhi;
    return 0;
}

al_dtype ali_scan_int_target(const al_tensor *t)
{
    range_ctx c = {t->dtype, INT64_MAX, INT64_MIN, 0};
    ali_walk(t, NULL, range_run, &c);
    bool is_signed = ali_dtype_is_signed(t->dtype);
    int64_t min = is_signed && c.min < 0 ? c.min : 0;
    uint64_t max = is_signed ? (c.max > 0 ? (uint64_t)c.max : 0) : c.umax;
    return al_dtype_narrowest_int(t->dtype, min, max);
}

/* -------- float64 -> float32 proofs -------- */

/* Chunks let a column that fails early stop early without a branch per element. */
#define CHUNK 1024

static int exact_run(char *pa, char *pb, int64_t n, int64_t sa, int64_t sb, void *user)
{
    (void)pb, (void)sb, (void)user;
    for (int64_t at = 0; at < n; at += CHUNK) {
        int64_t end = at + CHUNK < n ? at + CHUNK : n;
        uint64_t bad = 0;
        for (int64_t i = at; i < end; i++) {
            double x, y;
            memcpy(&x, pa + i * sa, sizeof x);
            y = (double)(float)x;
            uint64_t bx, by;
            memcpy(&bx, &x, sizeof bx);
            memcpy(&by, &y, sizeof by);
            bad |= bx ^ by;
        }
        if (bad)
            return 1;
    }
    return 0;
}

bool ali_scan_f32_exact(const al_tensor *t)
{
    return t->dtype == AL_DTYPE_FLOAT64 && ali_walk(t, NULL, exact_run, NULL) == 0;
}

typedef struct within_ctx {
    double tol, max_rel;
} within_ctx;

static int within_run(char *pa, char *pb, int64_t n, int64_t sa, int64_t sb, void *user)
{
    (void)pb, (void)sb;
    within_ctx *c = user;
    for (int64_t i = 0; i < n; i++) {
        double x;
        memcpy(&x, pa + i * sa, sizeof x);
        if (!isfinite(x))
            continue; /* NaN and infinities survive float32 as themselves */
        double y = (double)(float)x;
        if (isinf(y))
            return 1;
        double rel = x != 0 ? fabs(x - y) / fabs(x) : 0;
        if (rel > c->tol)
            return 1;
        if (rel > c->max_rel)
            c->max_rel = rel;
    }
    return 0;
}

bool ali_scan_f32_within(const al_tensor *t, double tol, double *max_rel)
{
    within_ctx c = {tol, 0};
    if (t->dtype != AL_DTYPE_FLOAT64 || !(tol >= 0) || ali_walk(t, NULL, within_run, &c))
        return false;
    *max_rel = c.max_rel;
    return true;
}

/* -------- Distinct strings -------- */

int ali_strtab_init(ali_strtab *tab, size_t limit, size_t width)
{
    size_t cap = 16;
    while (cap < limit * 2)
        cap *= 2;
    memset(tab, 0, sizeof *tab);
    tab->keys = al_calloc(cap, sizeof *tab->keys);
    tab->codes = tab->keys ? al_malloc(cap * sizeof *tab->codes) : NULL;
    if (!tab->codes) {
        al_free(tab->keys);
        tab->keys = NULL;
        return AL_ENOMEM;
    }
    tab->cap = cap;
    tab->limit = limit;
    tab->width = width;
    return AL_OK;
}

void ali_strtab_free(ali_strtab *tab)
{
    al_free(tab->keys);
    al_free(tab->codes);
    memset(tab, 0, sizeof *tab);
}

static uint64_t hash_bytes(const char *p, size_t n)
{
    uint64_t h = 0x9E3779B97F4A7C15ull ^ n;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        h = (h ^ w) * 0xFF51AFD7ED558CCDull;
        h ^= h >> 32;
    }
    uint64_t tail = 0;
    memcpy(&tail, p + i, n - i);
    h = (h ^ tail) * 0xC4CEB9FE1A85EC53ull;
    return h ^ (h >> 29);
}

int64_t ali_strtab_code(ali_strtab *tab, const char *p)
{
    size_t i = (size_t)hash_bytes(p, tab->width) & (tab->cap - 1);
    while (tab->keys[i]) {
        if (memcmp(tab->keys[i], p, tab->width) == 0)
            return tab->codes[i];
        i = (i + 1) & (tab->cap - 1);
    }
    if (tab->count >= tab->limit)
        return -1;
    tab->keys[i] = p;
    tab->codes[i] = (uint32_t)tab->count;
    return (int64_t)tab->count++;
}

typedef struct strings_ctx {
    ali_strtab *tab;
    size_t max_len;
    bool overflow;
    bool binary;
} strings_ctx;

static int strings_run(char *pa, char *pb, int64_t n, int64_t sa, int64_t sb, void *user)
{
    (void)pb, (void)sb;
    strings_ctx *c = user;
    size_t w = c->tab->width;
    for (int64_t i = 0; i < n; i++) {
        const char *p = pa + i * sa;
        size_t len = ali_str_len(p, w);
        if (len > c->max_len)
            c->max_len = len;
        if (!c->binary && len > 0 && memchr(p, '\0', len - 1))
            c->binary = true;
        if (!c->overflow && ali_strtab_code(c->tab, p) < 0)
            c->overflow = true;
    }
    return 0;
}

int64_t ali_scan_strings(const al_tensor *t, ali_strtab *tab, size_t *max_len, bool *binary)
{
    strings_ctx c = {tab, 0, false, false};
    ali_walk(t, NULL, strings_run, &c);
    *max_len = c.max_len;
    *binary = c.binary;
    return c.overflow ? -1 : (int64_t)tab->count;
}
