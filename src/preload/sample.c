/* Sampled call stacks (issue 17 item 1): full stacks for a byte-weighted Poisson sample of the
 * program's allocations, scaled back to unbiased estimates, the method of jemalloc's and
 * tcmalloc's heap profilers and Go's pprof. preload.c keeps the per-thread countdown (one
 * subtract and branch per allocation) and calls ali_sample_take for the allocation that
 * crosses it, with the block marked (LEAN_SAMPLED); this file keeps the stacks, their
 * estimates and the sampled blocks still live. The exact per-site counters (site.c) are not
 * touched: each figure here is an estimate, except with ASTROLAB_SAMPLE_BYTES=0 (`astrolab run
 * --stacks all`), where every allocation is sampled with weight 1 and every figure is exact.
 *
 * An allocation of s bytes is sampled with probability p = 1 - exp(-s/S) (S the mean
 * interval): the countdown is exponential, so memoryless. It then stands for 1/p allocations and
 * s/p bytes, which makes every sum of weights an unbiased estimate of the sum it samples.
 * Its weight is remembered with the block (a table by address), so its free takes the same
 * weight off the stack's live estimate. report.c and profile.c read the stacks at exit,
 * calibrated to the sites' exact counters (calibrate); peak.c copies the live estimates when it
 * copies the sites' counters at a new high. */
#include <math.h>
#include <pthread.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "memory/memory_int.h"
#include "preload_int.h"
#include "util/settings_int.h"

typedef struct sampled_block {
    uintptr_t block; /* the lean_block's address; 0: empty slot */
    uint32_t stack;  /* index in st.items */
    double count, bytes;
} sampled_block;

static struct {
    pthread_mutex_t lock; /* guards every field below */
    ali_sample_stack *items;
    size_t n, cap;
    uint32_t *index;       /* open addressing by stack_hash: item index + 1; 0: empty */
    size_t index_cap;      /* a power of two, at least twice n */
    sampled_block *blocks; /* open addressing, linear probing; cap a power of two */
    size_t nblocks, blocks_cap;
    uint64_t samples; /* allocations sampled */
} st = {.lock = PTHREAD_MUTEX_INITIALIZER};

/* -------- The countdown: settings, and the draw of each thread's next count -------- */
static int64_t interval = 512 * 1024;   /* ASTROLAB_SAMPLE_BYTES; 0: every allocation */
static uint64_t seed;                   /* ASTROLAB_SAMPLE_SEED, or from time and pid */
static _Atomic uint64_t threads_seeded; /* each thread gets its own stream */
ALI_TLS int64_t ali_sample_left = -1;   /* bytes to the thread's next sample */
static ALI_TLS uint64_t rng;            /* xorshift64* state; 0: not seeded yet */

static uint64_t splitmix(uint64_t x)
{
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

void ali_sample_configure(void)
{
    interval = (int64_t)ali_setting_int(ALI_SET_SAMPLE_BYTES);
    seed = ali_setting_text(ALI_SET_SAMPLE_SEED)
               ? (uint64_t)ali_setting_int(ALI_SET_SAMPLE_SEED)
               : splitmix((uint64_t)ali_now_ns() ^ (uint64_t)getpid() << 32) >> 11; /* JSON-exact */
}

void ali_sample_settings(int64_t *interval_out, uint64_t *seed_out)
{
    *interval_out = interval;
    *seed_out = seed;
}

/* Bytes to the next sample: exponential of mean `interval`; -1 (every allocation) at 0. */
static int64_t next_count(void)
{
    if (interval == 0)
        return -1;
    uint64_t x = rng;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    rng = x;
    double u = (double)(((x * 0x2545F4914F6CDD1Dull) >> 11) + 1) * 0x1.0p-53; /* (0, 1] */
    return (int64_t)(-log(u) * (double)interval);
}

bool ali_sample_crossed(uintptr_t block, uint32_t site, uint64_t size, uintptr_t pc, bool unwind)
{
    if (AL_UNLIKELY(!rng)) { /* the thread's first allocation: draw its first count */
        uint64_t k = atomic_fetch_add_explicit(&threads_seeded, 1, memory_order_relaxed);
        rng = splitmix(seed + k * 0x9E3779B97F4A7C15ull) | 1;
        if (interval > 0 && (ali_sample_left += 1 + next_count()) >= 0)
            return false; /* -1 at start: so that even a first malloc(0) comes here */
    }
    ali_sample_left = next_count();
    if (!unwind)
        return false;
    ali_preload_enter();
    uintptr_t frames[ALI_STACK_MAX];
    int depth = ali_preload_unwind_from(pc, frames, ALI_STACK_MAX);
    if (depth == 0) {
        frames[0] = pc; /* the caller's frame not found: the return address alone */
        depth = 1;
    }
    bool taken = ali_sample_take(block, site, size, interval, frames, depth);
    ali_preload_leave();
    return taken;
}

/* -------- The stacks and the sampled blocks -------- */
static inline size_t slot_of(uintptr_t block, size_t cap)
{
    return (size_t)((block >> 4) * 0x9E3779B97F4A7C15ull >> 20) & (cap - 1);
}

/* Room for one more sampled block; lock held. False when out of memory. */
static bool blocks_room(void)
{
    if ((st.nblocks + 1) * 4 <= st.blocks_cap * 3)
        return true;
    size_t cap = st.blocks_cap ? st.blocks_cap * 2 : 1024;
    sampled_block *b = ali_internal_calloc(cap, sizeof *b);
    if (!b)
        return false;
    for (size_t i = 0; i < st.blocks_cap; i++) {
        if (!st.blocks[i].block)
            continue;
        size_t j = slot_of(st.blocks[i].block, cap);
        while (b[j].block)
            j = (j + 1) & (cap - 1);
        b[j] = st.blocks[i];
    }
    ali_internal_free(st.blocks);
    st.blocks = b;
    st.blocks_cap = cap;
    return true;
}

static size_t stack_hash(const uintptr_t *frames, int n, uint32_t site)
{
    uint64_t h = 0xcbf29ce484222325ull ^ site;
    for (int i = 0; i < n; i++)
        h = (h ^ frames[i]) * 0x100000001b3ull;
    return (size_t)(h ^ (h >> 29));
}

/* Rebuilds the index with room for twice the stacks; lock held. False when out of memory. */
static bool index_grow(void)
{
    size_t cap = st.index_cap ? st.index_cap * 2 : 256;
    uint32_t *x = ali_internal_calloc(cap, sizeof *x);
    if (!x)
        return false;
    for (size_t i = 0; i < st.n; i++) {
        size_t j = stack_hash(st.items[i].pc, st.items[i].n, st.items[i].site) & (cap - 1);
        while (x[j])
            j = (j + 1) & (cap - 1);
        x[j] = (uint32_t)i + 1;
    }
    ali_internal_free(st.index);
    st.index = x;
    st.index_cap = cap;
    return true;
}

/* The index of the stack with these frames, added when new; -1 out of memory. Lock held. A
 * program has thousands of distinct stacks, and --stacks all looks one up per allocation. */
static long stack_index(const uintptr_t *frames, int n, uint32_t site)
{
    if ((st.n + 1) * 2 > st.index_cap && !index_grow())
        return -1;
    size_t mask = st.index_cap - 1, j = stack_hash(frames, n, site) & mask;
    for (; st.index[j]; j = (j + 1) & mask) {
        const ali_sample_stack *s = &st.items[st.index[j] - 1];
        if (s->site == site && s->n == n && memcmp(s->pc, frames, (size_t)n * sizeof *frames) == 0)
            return (long)(st.index[j] - 1);
    }
    if (st.n == st.cap) {
        size_t cap = st.cap * 2 + 64;
        ali_sample_stack *r = ali_internal_realloc(st.items, cap * sizeof *r);
        if (!r)
            return -1;
        st.items = r;
        st.cap = cap;
    }
    ali_sample_stack *s = &st.items[st.n];
    memset(s, 0, sizeof *s);
    s->site = site;
    s->n = n;
    memcpy(s->pc, frames, (size_t)n * sizeof *frames);
    st.index[j] = (uint32_t)st.n + 1;
    return (long)st.n++;
}

bool ali_sample_take(uintptr_t block, uint32_t site, uint64_t size, int64_t interval,
                     const uintptr_t *frames, int n)
{
    /* The weight: 1/p allocations, size/p bytes; p = 1 with every allocation sampled. */
    double p = interval > 0 ? -expm1(-(double)size / (double)interval) : 1.0;
    double count = p > 0 ? 1.0 / p : 1.0, bytes = p > 0 ? (double)size / p : 0.0;
    pthread_mutex_lock(&st.lock);
    long i = blocks_room() ? stack_index(frames, n, site) : -1;
    if (i >= 0) {
        ali_sample_stack *s = &st.items[i];
        s->samples++;
        s->alloc_count += count;
        s->alloc_bytes += bytes;
        s->live_count += count;
        s->live_bytes += bytes;
        size_t j = slot_of(block, st.blocks_cap);
        while (st.blocks[j].block)
            j = (j + 1) & (st.blocks_cap - 1);
        st.blocks[j] = (sampled_block){block, (uint32_t)i, count, bytes};
        st.nblocks++;
        st.samples++;
    }
    pthread_mutex_unlock(&st.lock);
    return i >= 0;
}

void ali_sample_first_stack(uint32_t site, uintptr_t pc)
{
    uintptr_t frames[ALI_STACK_MAX];
    int n = ali_preload_unwind_from(pc, frames, ALI_STACK_MAX);
    if (n == 0)
        return;
    pthread_mutex_lock(&st.lock);
    (void)stack_index(frames, n, site); /* out of memory: the site shows its own frames */
    pthread_mutex_unlock(&st.lock);
}

void ali_sample_free(uintptr_t block)
{
    pthread_mutex_lock(&st.lock);
    size_t cap = st.blocks_cap, j = cap ? slot_of(block, cap) : 0;
    while (cap && st.blocks[j].block && st.blocks[j].block != block)
        j = (j + 1) & (cap - 1);
    if (cap && st.blocks[j].block == block) {
        ali_sample_stack *s = &st.items[st.blocks[j].stack];
        s->live_count -= st.blocks[j].count;
        s->live_bytes -= st.blocks[j].bytes;
        /* Backward-shift deletion: the entries after j that probed past it move up. */
        size_t hole = j;
        for (size_t k = (j + 1) & (cap - 1); st.blocks[k].block; k = (k + 1) & (cap - 1)) {
            size_t home = slot_of(st.blocks[k].block, cap);
            if (((k - home) & (cap - 1)) >= ((k - hole) & (cap - 1))) {
                st.blocks[hole] = st.blocks[k];
                hole = k;
            }
        }
        st.blocks[hole].block = 0;
        st.nblocks--;
    }
    pthread_mutex_unlock(&st.lock);
}

void ali_sample_peak_copy(void)
{
    pthread_mutex_lock(&st.lock);
    for (size_t i = 0; i < st.n; i++) {
        st.items[i].peak_count = st.items[i].live_count;
        st.items[i].peak_bytes = st.items[i].live_bytes;
    }
    pthread_mutex_unlock(&st.lock);
}

static int by_site(const void *a, const void *b)
{
    uint32_t x = ((const ali_sample_stack *)a)->site, y = ((const ali_sample_stack *)b)->site;
    return x < y ? -1 : x > y;
}

/* Scales one figure of the stacks s[0..k-1] of a site so that they add up to the site's exact
 * figure: each keeps its share of the site's estimate. A figure no sample saw stays 0. */
static void scale(ali_sample_stack *s, size_t k, size_t offset, double exact)
{
    double sum = 0;
    for (size_t i = 0; i < k; i++)
        sum += *(double *)((char *)&s[i] + offset);
    for (size_t i = 0; i < k && sum > 0; i++) {
        double *f = (double *)((char *)&s[i] + offset);
        *f = exact > 0 ? *f / sum * exact : 0;
    }
}

/* The ratio estimator: the stacks of each site share its exact figures (site.c's counters, and
 * peak.c's copy at the peak) in proportion to their estimates. A site reached from one stack is
 * then exact, and the error of a site's stacks is that of their shares, not of the sum: with
 * one sample per S bytes a stack's own estimate has a relative error of about
 * 1/sqrt(its bytes / S), which this keeps only where one site has several stacks. */
static void calibrate(ali_sample_stack *s, size_t n, const ali_peak_site *peak, uint32_t npeak)
{
    qsort(s, n, sizeof *s, by_site);
    for (size_t i = 0, k; i < n; i += k) {
        for (k = 1; i + k < n && s[i + k].site == s[i].site; k++)
            ;
        uint32_t id = s[i].site;
        ali_site_totals t;
        ali_site_totals_get(id, &t);
        scale(s + i, k, offsetof(ali_sample_stack, alloc_count), (double)t.allocs);
        scale(s + i, k, offsetof(ali_sample_stack, alloc_bytes), (double)t.alloc_bytes);
        scale(s + i, k, offsetof(ali_sample_stack, live_count), (double)t.live_count);
        scale(s + i, k, offsetof(ali_sample_stack, live_bytes), (double)t.live_bytes);
        if (peak && id < npeak) {
            scale(s + i, k, offsetof(ali_sample_stack, peak_count), (double)peak[id].count);
            scale(s + i, k, offsetof(ali_sample_stack, peak_bytes), (double)peak[id].bytes);
        }
    }
}

ali_sample_stack *ali_sample_stacks(size_t *n, uint64_t *samples)
{
    /* The peak first: taking it may copy the present state, stacks included. */
    uint32_t npeak = 0;
    int64_t peak_bytes;
    uint64_t peak_ns;
    const ali_peak_site *peak = ali_peak_get(&npeak, &peak_bytes, &peak_ns);
    pthread_mutex_lock(&st.lock);
    ali_sample_stack *copy = ali_internal_calloc(st.n ? st.n : 1, sizeof *copy);
    *n = copy ? st.n : 0;
    *samples = st.samples;
    if (copy && st.n)
        memcpy(copy, st.items, st.n * sizeof *copy);
    pthread_mutex_unlock(&st.lock);
    if (copy)
        calibrate(copy, *n, peak, npeak);
    return copy;
}

void ali_sample_fork_prepare(void) { pthread_mutex_lock(&st.lock); }

void ali_sample_fork_done(void) { pthread_mutex_unlock(&st.lock); }
