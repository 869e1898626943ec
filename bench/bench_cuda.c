/* bench_cuda: the CUDA caching allocator on a replayed training-loop trace (issue 7).
 *
 * The trace (fixed seed) is what a training loop asks of a device allocator: model weights
 * allocated once, then per iteration a forward pass allocating activations of mixed sizes
 * (512 B scalars to 48 MiB feature maps, with per-batch jitter), short-lived temporaries freed
 * at once, and a backward pass freeing the activations in reverse order.
 * It is replayed:
 *   - through al_cuda_malloc / al_cuda_free (the caching allocator, the candidate);
 *   - straight on the backend's own allocate and free (the "raw" baseline: cuMemAlloc and
 *     cuMemFree on the driver; on the simulated device, its first-fit arena).
 * Reported: mean and p50/p99 latency per allocation and per free (each call timed with
 * CLOCK_MONOTONIC, whose own cost is measured and shown), and fragmentation: reserved over
 * allocated bytes at the trace's peak of allocated bytes, and peak reserved over peak allocated.
 *
 * Backend: the simulated device (4 GiB) unless ASTROLAB_CUDA_BACKEND=driver.
 *
 *   bench_cuda [--quick] [--markdown] [--iterations N] */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <astrolab/cuda.h>
#include <astrolab/memory.h>

#include "bench_common.h"

#include "../src/cuda/backend.h"

#define MiB (UINT64_C(1) << 20)
#define SEED 0xC0DA5EEDULL

typedef struct event {
    int id;        /* slot of the block */
    uint64_t size; /* 0: free slot id */
} event;

typedef struct trace {
    event *ev;
    size_t n, cap;
    int slots;
} trace;

static uint64_t trace_state = SEED;
static uint64_t next_rand(void)
{
    trace_state ^= trace_state << 13;
    trace_state ^= trace_state >> 7;
    trace_state ^= trace_state << 17;
    return trace_state;
}

static void push(trace *t, int id, uint64_t size)
{
    if (t->n == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 4096;
        t->ev = realloc(t->ev, t->cap * sizeof *t->ev);
        if (!t->ev) {
            fprintf(stderr, "bench_cuda: out of memory\n");
            exit(1);
        }
    }
    t->ev[t->n++] = (event){id, size};
    if (id + 1 > t->slots)
        t->slots = id + 1;
}

/* Weights, then `iterations` of forward (activations + temporaries) and backward. */
static void make_trace(trace *t, int iterations)
{
    static const uint64_t weights[] = {512, 4096, 64 * 1024, 2 * MiB + 512, 9 * MiB, 36 * MiB};
    static const uint64_t acts[] = {512,     2048,     96 * 1024, 768 * 1024, 3 * MiB / 2,
                                    6 * MiB, 12 * MiB, 24 * MiB,  48 * MiB,   256 * 1024};
    int id = 0;
    for (int layer = 0; layer < 8; layer++)
        for (size_t w = 0; w < sizeof weights / sizeof weights[0]; w++)
            push(t, id++, weights[w]);
    int base = id;
    for (int it = 0; it < iterations; it++) {
        int a = base;
        uint64_t batch = 48 + next_rand() % 17; /* the last batch of an epoch is smaller */
        for (int layer = 0; layer < 12; layer++) {
            for (size_t k = 0; k < sizeof acts / sizeof acts[0]; k++) {
                uint64_t size = acts[k] * batch / 64 + (next_rand() % 8) * 512;
                push(t, a++, size);
                if (k % 3 == 0) { /* a temporary: allocated and freed at once */
                    push(t, a, size / 2 + 512);
                    push(t, a, 0);
                }
            }
        }
        for (int s = a - 1; s >= base; s--)
            push(t, s, 0);
    }
}

typedef struct result {
    double alloc_mean, alloc_p50, alloc_p99; /* ns */
    double free_mean, free_p50, free_p99;    /* ns */
    uint64_t failures;
    double frag_at_peak;     /* reserved / allocated at the peak of allocated */
    double peak_ratio;       /* peak reserved / peak allocated */
    uint64_t peak_allocated; /* bytes */
    uint64_t device_allocs;  /* backend allocations made */
} result;

static void summarize(uint64_t *t, size_t n, double *mean, double *p50, double *p99)
{
    uint64_t sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += t[i];
    qsort(t, n, sizeof *t, cmp_u64);
    *mean = n ? (double)sum / (double)n : 0;
    *p50 = n ? (double)t[n / 2] : 0;
    *p99 = n ? (double)t[n * 99 / 100] : 0;
}

/* Replays the trace; cached selects the caching allocator, else the raw backend. */
static result replay(const trace *t, bool cached, ali_cuda_backend *raw)
{
    result r = {0};
    void **ptr = calloc((size_t)t->slots, sizeof *ptr);
    uint64_t *sizes = calloc((size_t)t->slots, sizeof *sizes);
    uint64_t *ta = malloc(t->n * sizeof *ta), *tf = malloc(t->n * sizeof *tf);
    size_t na = 0, nf = 0;
    uint64_t allocated = 0, peak = 0;
    for (size_t i = 0; i < t->n; i++) {
        const event *e = &t->ev[i];
        uint64_t t0 = now_ns();
        if (e->size) {
            void *p = NULL;
            if (cached) {
                p = al_cuda_malloc(e->size, 0);
            } else {
                uint64_t dp = 0;
                if (raw->malloc(raw, 0, e->size, &dp) == AL_OK)
                    p = (void *)(uintptr_t)dp;
            }
            ta[na++] = now_ns() - t0;
            ptr[e->id] = p;
            sizes[e->id] = p ? e->size : 0;
            r.failures += p == NULL;
            allocated += sizes[e->id];
            if (cached && allocated > peak) {
                peak = allocated;
                al_cuda_stats s;
                if (al_cuda_memory_stats(0, &s) == AL_OK && s.allocated_bytes)
                    r.frag_at_peak = (double)s.reserved_bytes / (double)s.allocated_bytes;
            }
        } else if (ptr[e->id]) {
            if (cached)
                (void)al_cuda_free(ptr[e->id]);
            else
                raw->free(raw, 0, (uintptr_t)ptr[e->id]);
            tf[nf++] = now_ns() - t0;
            allocated -= sizes[e->id];
            ptr[e->id] = NULL;
        }
    }
    for (int s = 0; s < t->slots; s++) {
        if (!ptr[s])
            continue;
        if (cached)
            (void)al_cuda_free(ptr[s]);
        else
            raw->free(raw, 0, (uintptr_t)ptr[s]);
    }
    summarize(ta, na, &r.alloc_mean, &r.alloc_p50, &r.alloc_p99);
    summarize(tf, nf, &r.free_mean, &r.free_p50, &r.free_p99);
    if (cached) {
        al_cuda_stats s;
        if (al_cuda_memory_stats(0, &s) == AL_OK) {
            r.peak_allocated = s.peak_allocated_bytes;
            r.peak_ratio = (double)s.peak_reserved_bytes / (double)s.peak_allocated_bytes;
            r.device_allocs = s.num_device_allocs;
        }
    } else {
        r.peak_allocated = peak;
    }
    free(ptr);
    free(sizes);
    free(ta);
    free(tf);
    return r;
}

static double timer_cost_ns(void)
{
    uint64_t t0 = now_ns(), sink = 0;
    for (int i = 0; i < 100000; i++)
        sink += now_ns();
    return (double)(now_ns() - t0 - (sink & 0)) / 100000.0;
}

int main(int argc, char **argv)
{
    bool markdown = false;
    int iterations = 200;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--quick"))
            iterations = 20;
        else if (!strcmp(argv[i], "--markdown"))
            markdown = true;
        else if (!strcmp(argv[i], "--iterations") && i + 1 < argc)
            iterations = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: bench_cuda [--quick] [--markdown] [--iterations N]\n");
            return 2;
        }
    }
    const char *env = getenv("ASTROLAB_CUDA_BACKEND");
    bool driver = env && !strcmp(env, "driver");
    int rc = driver ? al_cuda_set_backend("driver") : al_cuda_use_simulated(4096 * MiB, 1);
    if (rc != AL_OK) {
        fprintf(stderr, "bench_cuda: CUDA backend unavailable: %s\n", al_cuda_unavailable_reason());
        return 1;
    }
    al_cuda_device_props props;
    if (al_cuda_device_info(0, &props) != AL_OK)
        return 1;
    trace t = {0};
    make_trace(&t, iterations);
    ali_cuda_backend *raw = ali_cuda_backend_current();

    result warm = replay(&t, true, raw); /* cold start: fills the cache */
    result c = replay(&t, true, raw);    /* steady state: the number reported */
    uint64_t steady_allocs = c.device_allocs - warm.device_allocs;
    al_cuda_empty_cache();
    result r = replay(&t, false, raw);
    double tc = timer_cost_ns();

    const char *fmt =
        markdown ? "| %-34s | %12.0f | %12.0f | %12.0f |\n" : "  %-34s %12.0f %12.0f %12.0f\n";
    printf(markdown ? "Device: %s (backend %s); trace: %d iterations, %zu events, peak %.1f "
                      "MiB allocated; timer cost %.0f ns per call (included below).\n\n"
                    : "device: %s (backend %s); trace: %d iterations, %zu events, peak %.1f "
                      "MiB allocated; timer cost %.0f ns per call (included below)\n",
           props.name, al_cuda_backend_name(), iterations, t.n,
           (double)c.peak_allocated / (double)MiB, tc);
    if (markdown)
        printf("| %-34s | %12s | %12s | %12s |\n|---|---:|---:|---:|\n", "operation (ns)", "mean",
               "p50", "p99");
    else
        printf("  %-34s %12s %12s %12s\n", "operation (ns)", "mean", "p50", "p99");
    printf(fmt, "caching al_cuda_malloc", c.alloc_mean, c.alloc_p50, c.alloc_p99);
    printf(fmt, "caching al_cuda_free", c.free_mean, c.free_p50, c.free_p99);
    printf(fmt, driver ? "raw cuMemAlloc" : "raw sim first-fit alloc", r.alloc_mean, r.alloc_p50,
           r.alloc_p99);
    printf(fmt, driver ? "raw cuMemFree" : "raw sim first-fit free", r.free_mean, r.free_p50,
           r.free_p99);
    printf(markdown ? "\nRaw/cached mean: allocation %.1fx, free %.1fx. "
                    : "raw/cached mean: allocation %.1fx, free %.1fx\n",
           r.alloc_mean / c.alloc_mean, r.free_mean / c.free_mean);
    printf(markdown ? "Fragmentation: reserved/allocated at the peak of allocated %.3f; peak "
                      "reserved/peak allocated %.3f. Backend allocations: %llu cold, %llu in "
                      "the steady-state replay. Failed allocations: cached %llu, raw %llu.\n"
                    : "fragmentation: reserved/allocated at peak %.3f; peak reserved/peak "
                      "allocated %.3f; backend allocations %llu cold, %llu steady; failures "
                      "cached %llu raw %llu\n",
           c.frag_at_peak, c.peak_ratio, (unsigned long long)warm.device_allocs,
           (unsigned long long)steady_allocs, (unsigned long long)c.failures,
           (unsigned long long)r.failures);
    free(t.ev);
    al_cuda_empty_cache();
    return 0;
}
