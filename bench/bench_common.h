/* What the benchmarks share: a monotonic clock, the fixed-seed random stream (splitmix64
 * seeding xoshiro256**), the allocation workload's size mix, and median/minimum of repeats.
 * Header-only (static inline): each bench/bench_*.c is its own executable. */
#ifndef ASTROLAB_BENCH_COMMON_H
#define ASTROLAB_BENCH_COMMON_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static inline uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static inline uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

typedef struct rng {
    uint64_t s[4];
} rng;

static inline void rng_seed(rng *r, uint64_t seed)
{
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix64(&seed);
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

/* xoshiro256** */
static inline uint64_t rng_next(rng *r)
{
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

/* The allocation workload's sizes: 63 in 64 uniform in 16..256 bytes; 1 in 64 is
 * 2^e + [0, 2^e) for e in 12..19, i.e. 4 KiB..1 MiB. */
static inline size_t pick_size(rng *r)
{
    uint64_t x = rng_next(r);
    if ((x & 63) != 0)
        return 16 + (size_t)((x >> 8) % 241);
    unsigned e = 12 + (unsigned)((x >> 8) & 7);
    return ((size_t)1 << e) + (size_t)((x >> 16) & (((uint64_t)1 << e) - 1));
}

static inline int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* Median of v[0..n) (mean of the middle two when n is even); *min gets the smallest (may be
 * NULL). v is left as it was. 0 for n < 1 or out of memory. */
static inline uint64_t median(const uint64_t *v, int n, uint64_t *min)
{
    uint64_t *s = n > 0 ? malloc((size_t)n * sizeof *s) : NULL;
    if (min)
        *min = 0;
    if (!s)
        return 0;
    memcpy(s, v, (size_t)n * sizeof *v);
    qsort(s, (size_t)n, sizeof *s, cmp_u64);
    if (min)
        *min = s[0];
    uint64_t m = n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
    free(s);
    return m;
}

/* alloc_at(site, n): one of 100 distinct call sites, each a case of a switch made of A(i), a
 * macro the including file defines as `case (i): return <an allocation of n bytes>;` (each
 * expansion is its own call site; give each its own tag where they share a line). */
#define BENCH_X10_(A, d)                                                                           \
    A(10 * (d) + 0)                                                                                \
    A(10 * (d) + 1)                                                                                \
    A(10 * (d) + 2)                                                                                \
    A(10 * (d) + 3)                                                                                \
    A(10 * (d) + 4)                                                                                \
    A(10 * (d) + 5)                                                                                \
    A(10 * (d) + 6)                                                                                \
    A(10 * (d) + 7)                                                                                \
    A(10 * (d) + 8)                                                                                \
    A(10 * (d) + 9)
#define BENCH_SITES_100(A)                                                                         \
    static void *alloc_at(int site, size_t n)                                                      \
    {                                                                                              \
        switch (site) {                                                                            \
            BENCH_X10_(A, 0)                                                                       \
            BENCH_X10_(A, 1)                                                                       \
            BENCH_X10_(A, 2)                                                                       \
            BENCH_X10_(A, 3)                                                                       \
            BENCH_X10_(A, 4)                                                                       \
            BENCH_X10_(A, 5)                                                                       \
            BENCH_X10_(A, 6)                                                                       \
            BENCH_X10_(A, 7)                                                                       \
            BENCH_X10_(A, 8)                                                                       \
            BENCH_X10_(A, 9)                                                                       \
        }                                                                                          \
        return NULL;                                                                               \
    }

#endif
