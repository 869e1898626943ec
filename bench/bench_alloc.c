/* bench_alloc: the allocation workload of issue 2, run side by side over several allocators.
 *
 * Workload, per thread (each thread has its own slots): a fixed-seed xoshiro256** stream picks
 * sizes (63 in 64 uniform in 16..256 bytes, 1 in 64 log-uniform in 4 KiB..1 MiB) and slots; the
 * thread fills 10,000 slots, then replaces a random slot `ops` times (free the old block,
 * allocate a new one), then frees everything. Every block gets its size written at both ends
 * and checked before it is freed, so no allocator can skip work. The timed span is all of it.
 *
 * Why one process per allocator: jemalloc and glibc both define malloc, and Debian's
 * libmimalloc.so also exports malloc, so any process that links libmimalloc (and therefore
 * libastrolab with the mimalloc backing) has its malloc replaced. So the driver fork+execs a
 * child per measurement: `bench_alloc_libc` (this file built without the library or mimalloc)
 * for glibc, jemalloc (LD_PRELOAD=libjemalloc.so.2) and talloc, and `bench_alloc` for mimalloc
 * and the tracked allocator. Each child reports which library its malloc came from, so the
 * tables show what really ran. Repeats are interleaved (A B C A B C ...) to spread noise.
 *
 *   bench_alloc [--quick] [--markdown] [--repeats R] [--ops N] [--threads 1,2]
 *               [--config 'LABEL=EXE:ALLOCATOR[:PRELOAD]']...
 *   bench_alloc --child ALLOCATOR THREADS OPS     (one measurement; prints one result line)
 *
 * Without --config the driver runs the configurations available next to its own executable;
 * bench/run.sh adds the system-backing build's configurations. */
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench_common.h"

#ifdef BENCH_HAVE_ASTROLAB
#include <astrolab/memory.h>
#endif
#ifdef BENCH_HAVE_MIMALLOC
#include <mimalloc.h>
#endif
#ifdef BENCH_HAVE_TALLOC
#include <talloc.h>

#endif

#define NSLOTS 10000
#define SEED 0x5EEDA57B0F00DULL
#define DEFAULT_OPS 4000000ULL
#define QUICK_OPS 200000ULL
#define DEFAULT_REPEATS 7
#define QUICK_REPEATS 2
#define MAX_CONFIGS 16
#define MAX_REPEATS 64
#define MAX_THREADS 8

/* -------- Deterministic random stream: splitmix64 seeds xoshiro256**. -------- */

/* -------- The allocators under test: one table row each. -------- */

typedef struct allocator {
    const char *name;
    void *(*thread_begin)(void); /* per-thread context, may return NULL */
    void *(*alloc)(void *ctx, size_t n);
    void (*release)(void *ctx, void *p);
    void (*thread_end)(void *ctx);
} allocator;

static void *no_context(void) { return NULL; }
static void no_end(void *ctx) { (void)ctx; }

static void *libc_alloc(void *ctx, size_t n)
{
    (void)ctx;
    return malloc(n);
}
static void libc_release(void *ctx, void *p)
{
    (void)ctx;
    free(p);
}

#ifdef BENCH_HAVE_MIMALLOC
static void *mi_alloc(void *ctx, size_t n)
{
    (void)ctx;
    return mi_malloc(n);
}
static void mi_release(void *ctx, void *p)
{
    (void)ctx;
    mi_free(p);
}

/* The floor of a block layout: mimalloc with no tracking, each block carrying a header of
 * LAYOUT_HEADER bytes (a size, a site and a magic written, the magic checked on free) and an
 * 8-byte guard written after the user bytes, as the tracked allocator lays its blocks out
 * (48 bytes; 16 for the preload library's lean blocks). What tracking cannot go below with
 * that layout on this workload: docs/PERFORMANCE.md, "The thread cache serves al_malloc". */
#define LAYOUT_MAGIC 0xA57B10C5u
typedef struct layout_header {
    uint64_t size;
    uint32_t site, magic;
} layout_header;

static void *layout_alloc(size_t header, size_t n)
{
    char *raw = mi_malloc(header + n + 8);
    if (!raw)
        return NULL;
    layout_header *h = (layout_header *)(raw + header) - 1;
    *h = (layout_header){n, 1, LAYOUT_MAGIC};
    memset(raw + header + n, 0xAB, 8);
    return raw + header;
}

static void layout_release(size_t header, void *p)
{
    layout_header *h = (layout_header *)p - 1;
    if (h->magic != LAYOUT_MAGIC)
        abort();
    h->magic = 0;
    mi_free((char *)p - header);
}

/* The two layouts' entry points, as the allocator table wants them. */
#define LAYOUT(bytes)                                                                              \
    static void *layout##bytes##_alloc(void *ctx, size_t n)                                        \
    {                                                                                              \
        (void)ctx;                                                                                 \
        return layout_alloc(bytes, n);                                                             \
    }                                                                                              \
    static void layout##bytes##_release(void *ctx, void *p)                                        \
    {                                                                                              \
        (void)ctx;                                                                                 \
        layout_release(bytes, p);                                                                  \
    }
LAYOUT(48)
LAYOUT(16)
#endif

#ifdef BENCH_HAVE_TALLOC
/* Each thread allocates under its own context: talloc is thread-safe only that way. */
static void *talloc_begin(void) { return talloc_new(NULL); }
static void *talloc_alloc(void *ctx, size_t n) { return talloc_size(ctx, n); }
static void talloc_release(void *ctx, void *p)
{
    (void)ctx;
    talloc_free(p);
}
static void talloc_end(void *ctx) { talloc_free(ctx); }
#endif

#ifdef BENCH_HAVE_ASTROLAB
/* Full tracking: per-site and per-tag counters, statistics, header and guard on every block. */
static void *al_alloc(void *ctx, size_t n)
{
    (void)ctx;
    return al_malloc(n);
}
static void al_release(void *ctx, void *p)
{
    (void)ctx;
    al_free(p);
}
/* The same inside one scope per thread: adds the scope's slot table (and, with the mimalloc
 * backing, the scope's private heap). */
static void *al_scope_thread_begin(void) { return al_scope_begin("bench"); }
static void al_scope_thread_end(void *ctx)
{
    if (ctx)
        (void)!al_scope_end(ctx, NULL);
}
#endif

static const allocator allocators[] = {
    {"malloc", no_context, libc_alloc, libc_release, no_end},
#ifdef BENCH_HAVE_MIMALLOC
    {"mimalloc", no_context, mi_alloc, mi_release, no_end},
    {"mimalloc-header48", no_context, layout48_alloc, layout48_release, no_end},
    {"mimalloc-header16", no_context, layout16_alloc, layout16_release, no_end},
#endif
#ifdef BENCH_HAVE_TALLOC
    {"talloc", talloc_begin, talloc_alloc, talloc_release, talloc_end},
#endif
#ifdef BENCH_HAVE_ASTROLAB
    {"al", no_context, al_alloc, al_release, no_end},
    {"al-scope", al_scope_thread_begin, al_alloc, al_release, al_scope_thread_end},
#endif
};

static const allocator *find_allocator(const char *name)
{
    for (size_t i = 0; i < sizeof allocators / sizeof allocators[0]; i++)
        if (strcmp(allocators[i].name, name) == 0)
            return &allocators[i];
    return NULL;
}

/* -------- The workload. -------- */

typedef struct worker {
    const allocator *a;
    unsigned index;
    uint64_t ops;
    uint64_t checksum; /* sum of the sizes freed: equal across allocators */
    int failed;        /* an allocation returned NULL or a block came back damaged */
    pthread_barrier_t *start;
} worker;

static inline void stamp(unsigned char *p, size_t n)
{
    memcpy(p, &n, sizeof n);
    p[n - 1] = (unsigned char)n;
}

static inline int stamp_ok(const unsigned char *p, size_t n)
{
    size_t m;
    memcpy(&m, p, sizeof m);
    return m == n && p[n - 1] == (unsigned char)n;
}

static void *run_worker(void *arg)
{
    worker *w = arg;
    const allocator *a = w->a;
    static _Thread_local void *slots[NSLOTS];
    static _Thread_local size_t sizes[NSLOTS];
    rng r;
    rng_seed(&r, SEED + w->index);
    pthread_barrier_wait(w->start);
    void *ctx = a->thread_begin();
    uint64_t sum = 0;
    for (unsigned i = 0; i < NSLOTS; i++) {
        size_t n = pick_size(&r);
        if (!(slots[i] = a->alloc(ctx, n)))
            goto fail;
        stamp(slots[i], n);
        sizes[i] = n;
    }
    for (uint64_t k = 0; k < w->ops; k++) {
        uint64_t x = rng_next(&r);
        unsigned i = (unsigned)((x >> 32) % NSLOTS);
        size_t n = pick_size(&r);
        if (!stamp_ok(slots[i], sizes[i]))
            goto fail;
        sum += sizes[i];
        a->release(ctx, slots[i]);
        if (!(slots[i] = a->alloc(ctx, n)))
            goto fail;
        stamp(slots[i], n);
        sizes[i] = n;
    }
    for (unsigned i = 0; i < NSLOTS; i++) {
        if (!stamp_ok(slots[i], sizes[i]))
            goto fail;
        sum += sizes[i];
        a->release(ctx, slots[i]);
        slots[i] = NULL;
    }
    a->thread_end(ctx);
    w->checksum = sum;
    return NULL;
fail:
    w->failed = 1;
    return NULL;
}

/* Which shared object serves malloc in this process (glibc, jemalloc or mimalloc). */
static const char *malloc_provider(void)
{
    Dl_info info;
    void *(*fn)(size_t) = malloc;
    if (!dladdr(*(void **)&fn, &info) || !info.dli_fname)
        return "unknown";
    const char *slash = strrchr(info.dli_fname, '/');
    return slash ? slash + 1 : info.dli_fname;
}

#ifdef BENCH_HAVE_ASTROLAB
/* For the tracked allocator: were the statistics exact after the run? */
static const char *tracking_check(const al_memory_stats *before, uint64_t blocks)
{
    al_memory_stats after;
    if (al_get_memory_stats(&after) != AL_OK)
        return "stats-failed";
    if (after.live_blocks != before->live_blocks || after.current_bytes != before->current_bytes ||
        after.total_allocations - before->total_allocations != blocks ||
        after.total_frees - before->total_frees != blocks || after.errors != before->errors)
        return "stats-wrong";
    return "stats-exact";
}
#endif

/* Runs one measurement and prints: RESULT <allocator> <threads> <ns> <checksum> <malloc from>
 * <tracking>. Returns the process exit status. */
static int child_main(const char *name, unsigned threads, uint64_t ops)
{
    const allocator *a = find_allocator(name);
    if (!a) {
        fprintf(stderr, "bench_alloc: allocator %s is not built into this executable\n", name);
        return 2;
    }
    if (threads < 1 || threads > MAX_THREADS) {
        fprintf(stderr, "bench_alloc: threads must be 1..%d\n", MAX_THREADS);
        return 2;
    }
    const char *tracking = "-";
#ifdef BENCH_HAVE_ASTROLAB
    al_memory_stats before;
    int tracked = strncmp(name, "al", 2) == 0;
    if (tracked && al_get_memory_stats(&before) != AL_OK)
        return 1;
#endif
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, threads + 1);
    worker w[MAX_THREADS];
    pthread_t tid[MAX_THREADS];
    for (unsigned t = 0; t < threads; t++) {
        w[t] = (worker){.a = a, .index = t, .ops = ops, .start = &start};
        if (pthread_create(&tid[t], NULL, run_worker, &w[t]) != 0) {
            fprintf(stderr, "bench_alloc: pthread_create failed\n");
            return 1;
        }
    }
    uint64_t t0 = now_ns();
    pthread_barrier_wait(&start);
    uint64_t checksum = 0;
    int failed = 0;
    for (unsigned t = 0; t < threads; t++) {
        pthread_join(tid[t], NULL);
        checksum += w[t].checksum;
        failed |= w[t].failed;
    }
    uint64_t ns = now_ns() - t0;
    pthread_barrier_destroy(&start);
    if (failed) {
        fprintf(stderr, "bench_alloc: %s: allocation failed or a block was damaged\n", name);
        return 1;
    }
#ifdef BENCH_HAVE_ASTROLAB
    if (tracked)
        tracking = tracking_check(&before, (uint64_t)threads * (ops + NSLOTS));
#endif
    printf("RESULT %s %u %llu %llu %s %s\n", name, threads, (unsigned long long)ns,
           (unsigned long long)checksum, malloc_provider(), tracking);
    return 0;
}

/* -------- The driver: fork+exec a child per measurement, interleaved. -------- */

typedef struct config {
    char label[96];
    char exe[512];
    char allocator[32];
    char preload[128]; /* "" or an LD_PRELOAD value */
    char provider[64]; /* reported by the children */
    char tracking[32];
    uint64_t ns[MAX_THREADS + 1][MAX_REPEATS];
    int failed;
} config;

static int parse_config(const char *spec, config *c)
{
    memset(c, 0, sizeof *c);
    const char *eq = strchr(spec, '=');
    if (!eq || eq == spec || (size_t)(eq - spec) >= sizeof c->label)
        return -1;
    memcpy(c->label, spec, (size_t)(eq - spec));
    char rest[768];
    if (snprintf(rest, sizeof rest, "%s", eq + 1) >= (int)sizeof rest)
        return -1;
    char *save = NULL, *exe = strtok_r(rest, ":", &save), *alloc = strtok_r(NULL, ":", &save);
    char *preload = strtok_r(NULL, ":", &save);
    if (!exe || !alloc || strlen(exe) >= sizeof c->exe || strlen(alloc) >= sizeof c->allocator ||
        (preload && strlen(preload) >= sizeof c->preload))
        return -1;
    strcpy(c->exe, exe);
    strcpy(c->allocator, alloc);
    if (preload)
        strcpy(c->preload, preload);
    return 0;
}

/* The checksum a child must report: the workload's stream replayed without allocating. */
static uint64_t expected_checksum(unsigned threads, uint64_t ops)
{
    static uint64_t memo[MAX_THREADS + 1], memo_ops[MAX_THREADS + 1];
    if (memo_ops[threads] == ops && memo[threads])
        return memo[threads];
    uint64_t sum = 0;
    for (unsigned t = 0; t < threads; t++) {
        static size_t sizes[NSLOTS];
        rng r;
        rng_seed(&r, SEED + t);
        for (unsigned i = 0; i < NSLOTS; i++)
            sizes[i] = pick_size(&r);
        for (uint64_t k = 0; k < ops; k++) {
            unsigned i = (unsigned)((rng_next(&r) >> 32) % NSLOTS);
            sum += sizes[i];
            sizes[i] = pick_size(&r);
        }
        for (unsigned i = 0; i < NSLOTS; i++)
            sum += sizes[i];
    }
    memo[threads] = sum;
    memo_ops[threads] = ops;
    return sum;
}

/* True when malloc came from the preloaded library: "libjemalloc.so.2" serves as "libjemalloc". */
static int preload_took(const char *preload, const char *provider)
{
    const char *base = strrchr(preload, '/');
    base = base ? base + 1 : preload;
    size_t stem = strcspn(base, ".");
    return strncmp(base, provider, stem) == 0;
}

/* Runs one child; fills *ns and the config's provider. Returns 0 or -1. */
static int run_child(config *c, unsigned threads, uint64_t ops, uint64_t *ns)
{
    int fd[2];
    if (pipe(fd) != 0)
        return -1;
    char tbuf[16], obuf[32];
    snprintf(tbuf, sizeof tbuf, "%u", threads);
    snprintf(obuf, sizeof obuf, "%llu", (unsigned long long)ops);
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        dup2(fd[1], STDOUT_FILENO);
        close(fd[0]);
        close(fd[1]);
        if (c->preload[0])
            setenv("LD_PRELOAD", c->preload, 1);
        else
            unsetenv("LD_PRELOAD");
        execl(c->exe, c->exe, "--child", c->allocator, tbuf, obuf, (char *)NULL);
        fprintf(stderr, "bench_alloc: cannot run %s: %s\n", c->exe, strerror(errno));
        _exit(127);
    }
    close(fd[1]);
    char line[512] = "";
    FILE *in = fdopen(fd[0], "r");
    int got = in && fgets(line, sizeof line, in) != NULL;
    if (in)
        fclose(in);
    int status = 0;
    waitpid(pid, &status, 0);
    if (!got || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
        return -1;
    char name[32], provider[64], tracking[32];
    unsigned th;
    unsigned long long t, sum;
    if (sscanf(line, "RESULT %31s %u %llu %llu %63s %31s", name, &th, &t, &sum, provider,
               tracking) != 6)
        return -1;
    *ns = t;
    snprintf(c->provider, sizeof c->provider, "%s", provider);
    if (c->preload[0] && !preload_took(c->preload, provider)) {
        fprintf(stderr, "bench_alloc: %s: LD_PRELOAD=%s did not replace malloc (served by %s)\n",
                c->label, c->preload, provider);
        return -1;
    }
    if (strcmp(c->tracking, "stats-wrong") != 0)
        snprintf(c->tracking, sizeof c->tracking, "%s", tracking);
    if (sum != expected_checksum(threads, ops)) {
        fprintf(stderr, "bench_alloc: %s did not run the whole workload\n", c->label);
        return -1;
    }
    return 0;
}

static void print_table(config *cfg, int ncfg, unsigned threads, int repeats, uint64_t ops,
                        int markdown)
{
    uint64_t base = 0, mn;
    for (int i = 0; i < ncfg; i++)
        if (!cfg[i].failed && strcmp(cfg[i].label, "glibc") == 0)
            base = median(cfg[i].ns[threads], repeats, &mn);
    if (markdown) {
        printf("\n**%u thread%s**, %llu replacements per thread, median of %d runs\n\n", threads,
               threads > 1 ? "s" : "", (unsigned long long)ops, repeats);
        printf("| allocator | malloc served by | median ms | min ms | ns/op | x glibc |\n");
        printf("| --- | --- | ---: | ---: | ---: | ---: |\n");
    } else {
        printf("\n%u thread(s), %llu replacements per thread, median of %d runs\n", threads,
               (unsigned long long)ops, repeats);
        printf("%-34s %-22s %10s %10s %8s %8s\n", "allocator", "malloc served by", "median ms",
               "min ms", "ns/op", "x glibc");
    }
    for (int i = 0; i < ncfg; i++) {
        config *c = &cfg[i];
        char label[160];
        snprintf(label, sizeof label, "%s%s%s", c->label,
                 strcmp(c->tracking, "-") && c->tracking[0] ? ", " : "",
                 strcmp(c->tracking, "-") ? c->tracking : "");
        if (c->failed) {
            printf(markdown ? "| %s | failed | | | | |\n" : "%-34s failed\n", c->label);
            continue;
        }
        uint64_t med = median(c->ns[threads], repeats, &mn);
        double per_op = (double)med / (double)(ops + NSLOTS);
        double ratio = base ? (double)med / (double)base : 0.0;
        if (markdown)
            printf("| %s | %s | %.1f | %.1f | %.1f | %.2f |\n", label, c->provider, med / 1e6,
                   mn / 1e6, per_op, ratio);
        else
            printf("%-34s %-22s %10.1f %10.1f %8.1f %8.2f\n", label, c->provider, med / 1e6,
                   mn / 1e6, per_op, ratio);
    }
}

/* The configurations available next to this executable. */
static int default_configs(config *cfg)
{
    char self[512];
    ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
    if (len <= 0)
        return -1;
    self[len] = '\0';
    char *slash = strrchr(self, '/');
    *slash = '\0';
    const char *specs[][2] = {
        {"glibc", "bench_alloc_libc:malloc"},
        {"jemalloc", "bench_alloc_libc:malloc:libjemalloc.so.2"},
#ifdef BENCH_HAVE_MIMALLOC
        {"mimalloc", "bench_alloc:mimalloc"},
#endif
        {"talloc", "bench_alloc_libc:talloc"},
#ifdef BENCH_HAVE_MIMALLOC
        {"al (mimalloc backing)", "bench_alloc:al"},
#else
        {"al (system backing)", "bench_alloc:al"},
#endif
    };
    int n = 0;
    for (size_t i = 0; i < sizeof specs / sizeof specs[0]; i++) {
        char spec[768];
        snprintf(spec, sizeof spec, "%s=%s/%s", specs[i][0], self, specs[i][1]);
        if (parse_config(spec, &cfg[n]) == 0)
            n++;
    }
    return n;
}

static void usage(void)
{
    fprintf(stderr, "usage: bench_alloc [--quick] [--markdown] [--repeats R] [--ops N] "
                    "[--threads 1,2] [--no-defaults] [--config LABEL=EXE:ALLOCATOR[:PRELOAD]]...\n"
                    "       bench_alloc --child ALLOCATOR THREADS OPS\n");
}

int main(int argc, char **argv)
{
    if (argc == 5 && strcmp(argv[1], "--child") == 0)
        return child_main(argv[2], (unsigned)atoi(argv[3]), strtoull(argv[4], NULL, 10));

    static config cfg[MAX_CONFIGS];
    int ncfg = 0, repeats = DEFAULT_REPEATS, markdown = 0, defaults = 1, quick = 0;
    uint64_t ops = 0;
    unsigned thread_list[MAX_THREADS] = {1, 2}, nthreads = 2;
    static config extra[MAX_CONFIGS];
    int nextra = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0) {
            quick = 1;
        } else if (strcmp(argv[i], "--markdown") == 0) {
            markdown = 1;
        } else if (strcmp(argv[i], "--no-defaults") == 0) {
            defaults = 0;
        } else if (strcmp(argv[i], "--repeats") == 0 && i + 1 < argc) {
            repeats = atoi(argv[++i]);
        } else if (strcmp(argv[i], "--ops") == 0 && i + 1 < argc) {
            ops = strtoull(argv[++i], NULL, 10);
        } else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc) {
            nthreads = 0;
            char *save = NULL, list[64];
            snprintf(list, sizeof list, "%s", argv[++i]);
            for (char *t = strtok_r(list, ",", &save); t && nthreads < MAX_THREADS;
                 t = strtok_r(NULL, ",", &save))
                thread_list[nthreads++] = (unsigned)atoi(t);
        } else if (strcmp(argv[i], "--config") == 0 && i + 1 < argc && nextra < MAX_CONFIGS) {
            if (parse_config(argv[++i], &extra[nextra++]) != 0) {
                fprintf(stderr, "bench_alloc: bad --config %s\n", argv[i]);
                return 2;
            }
        } else {
            usage();
            return 2;
        }
    }
    if (quick && repeats == DEFAULT_REPEATS)
        repeats = QUICK_REPEATS;
    if (!ops)
        ops = quick ? QUICK_OPS : DEFAULT_OPS;
    if (repeats < 1 || repeats > MAX_REPEATS) {
        fprintf(stderr, "bench_alloc: repeats must be 1..%d\n", MAX_REPEATS);
        return 2;
    }
    for (unsigned t = 0; t < nthreads; t++)
        if (thread_list[t] < 1 || thread_list[t] > MAX_THREADS) {
            fprintf(stderr, "bench_alloc: threads must be 1..%d\n", MAX_THREADS);
            return 2;
        }
    if (defaults && (ncfg = default_configs(cfg)) < 0)
        return 1;
    for (int i = 0; i < nextra && ncfg < MAX_CONFIGS; i++)
        cfg[ncfg++] = extra[i];

    /* Interleaved: for each repeat, every thread count, every configuration. */
    for (int r = 0; r < repeats; r++) {
        for (unsigned t = 0; t < nthreads; t++) {
            for (int i = 0; i < ncfg; i++) {
                if (cfg[i].failed)
                    continue;
                if (run_child(&cfg[i], thread_list[t], ops, &cfg[i].ns[thread_list[t]][r]) != 0) {
                    fprintf(stderr, "bench_alloc: %s failed on %u thread(s)\n", cfg[i].label,
                            thread_list[t]);
                    cfg[i].failed = 1;
                }
            }
        }
        fprintf(stderr, "bench_alloc: repeat %d/%d done\n", r + 1, repeats);
    }
    for (unsigned t = 0; t < nthreads; t++)
        print_table(cfg, ncfg, thread_list[t], repeats, ops, markdown);
    int failures = 0;
    for (int i = 0; i < ncfg; i++)
        failures += cfg[i].failed || strcmp(cfg[i].tracking, "stats-wrong") == 0;
    return failures ? 1 : 0;
}
