/* bench_ui: what a running dashboard costs the host program. The allocation workload of
 * bench_alloc (fixed-seed sizes, 63 in 64 uniform in 16..256 bytes, 1 in 64 log-uniform in
 * 4 KiB..1 MiB; 10,000 slots filled, then `ops` random replacements, then everything freed)
 * runs through the tracked allocator, alternately:
 *   off: no dashboard;
 *   on:  the dashboard served (al_ui_serve: sampler at 4 samples/s and the HTTP thread) and one
 *        client polling it as the page does: /api/stats and /api/timeline every 500 ms,
 *        /api/memory (a diagnosis) and /api/system every 2 s.
 * Runs alternate (off on off on ...) to spread the machine's noise; the medians are compared.
 *
 *   bench_ui [--quick] [--repeats R] [--ops N] */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <astrolab/memory.h>
#include <astrolab/ui.h>

#include "bench_common.h"

#define SLOTS 10000

/* -------- The workload (as bench_alloc's, one thread). -------- */

static void put(void *p, size_t n)
{
    memcpy(p, &n, sizeof n);
    memcpy((char *)p + n - sizeof n, &n, sizeof n);
}

static int check(void *p, size_t *n)
{
    size_t a, b;
    memcpy(&a, p, sizeof a);
    memcpy(&b, (char *)p + a - sizeof b, sizeof b);
    *n = a;
    return a == b;
}

/* Returns the workload's wall time in ns. */
static uint64_t workload(uint64_t ops)
{
    rng r;
    uint64_t seed = 42;
    for (int i = 0; i < 4; i++)
        r.s[i] = splitmix64(&seed);
    void **slot = calloc(SLOTS, sizeof *slot);
    uint64_t t0 = now_ns();
    for (int i = 0; i < SLOTS; i++) {
        size_t n = pick_size(&r);
        slot[i] = al_malloc(n);
        put(slot[i], n);
    }
    for (uint64_t k = 0; k < ops; k++) {
        uint64_t i = rng_next(&r) % SLOTS;
        size_t n;
        if (!check(slot[i], &n))
            abort();
        al_free(slot[i]);
        n = pick_size(&r);
        slot[i] = al_malloc(n);
        put(slot[i], n);
    }
    for (int i = 0; i < SLOTS; i++)
        al_free(slot[i]);
    uint64_t t = now_ns() - t0;
    free(slot);
    return t;
}

/* -------- The polling client. -------- */

static atomic_bool polling;
static uint64_t poller_cpu_ns; /* the client's own CPU time, set when it stops */
static uint64_t server_cpu_ns; /* CPU of the sampler and HTTP threads, summed over "on" runs */
static uint64_t on_wall_ns;    /* wall time of the "on" workloads, summed */

static uint64_t cpu_ns(int who)
{
    struct rusage ru;
    getrusage(who, &ru);
    return (uint64_t)ru.ru_utime.tv_sec * 1000000000u + (uint64_t)ru.ru_utime.tv_usec * 1000u +
           (uint64_t)ru.ru_stime.tv_sec * 1000000000u + (uint64_t)ru.ru_stime.tv_usec * 1000u;
}
static atomic_ulong requests, failures;

static int get(uint16_t port, const char *path)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return -1;
    }
    char req[256], buf[65536];
    int n = snprintf(req, sizeof req,
                     "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n", path);
    if (send(fd, req, (size_t)n, MSG_NOSIGNAL) != n) {
        close(fd);
        return -1;
    }
    int status = 0;
    ssize_t got, total = 0;
    while ((got = recv(fd, buf, sizeof buf - 1, 0)) > 0) {
        if (total == 0) {
            buf[got] = '\0';
            sscanf(buf, "HTTP/1.1 %d", &status);
        }
        total += got;
    }
    close(fd);
    return status;
}

static void *poller(void *arg)
{
    uint16_t port = (uint16_t)(uintptr_t)arg;
    for (unsigned tick = 0; atomic_load(&polling); tick++) {
        const char *paths[4] = {"/api/stats", "/api/timeline?max=40", "/api/memory", "/api/system"};
        int n = tick % 4 == 0 ? 4 : 2;
        for (int i = 0; i < n; i++) {
            atomic_fetch_add(&requests, 1);
            if (get(port, paths[i]) != 200)
                atomic_fetch_add(&failures, 1);
        }
        usleep(500 * 1000);
    }
    poller_cpu_ns = cpu_ns(RUSAGE_THREAD);
    return NULL;
}

static uint64_t run_on(uint64_t ops)
{
    al_ui_options o;
    al_ui_options_init(&o);
    o.open_reads = 1; /* the poller sends no token, as a page before issue 14 did */
    al_error err;
    if (al_ui_serve(&o, &err) != AL_OK) {
        fprintf(stderr, "bench_ui: %s\n", err.message);
        exit(1);
    }
    atomic_store(&polling, true);
    pthread_t t;
    pthread_create(&t, NULL, poller, (void *)(uintptr_t)al_ui_port());
    usleep(100 * 1000); /* the client's first round is under way */
    uint64_t self0 = cpu_ns(RUSAGE_SELF), main0 = cpu_ns(RUSAGE_THREAD);
    uint64_t ns = workload(ops);
    atomic_store(&polling, false);
    pthread_join(t, NULL);
    /* Everything but this thread and the client: the sampler and the HTTP thread. The client's
     * CPU before self0 (its first 100 ms) is small and counted against the server here. */
    uint64_t others = cpu_ns(RUSAGE_SELF) - self0 - (cpu_ns(RUSAGE_THREAD) - main0);
    server_cpu_ns += others > poller_cpu_ns ? others - poller_cpu_ns : 0;
    on_wall_ns += ns;
    al_ui_stop();
    return ns;
}

int main(int argc, char **argv)
{
    int repeats = 7;
    uint64_t ops = 20000000;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0)
            repeats = 3, ops = 2000000;
        else if (strcmp(argv[i], "--repeats") == 0 && i + 1 < argc)
            repeats = atoi(argv[++i]);
        else if (strcmp(argv[i], "--ops") == 0 && i + 1 < argc)
            ops = strtoull(argv[++i], NULL, 10);
        else {
            fprintf(stderr, "usage: bench_ui [--quick] [--repeats R] [--ops N]\n");
            return 2;
        }
    }
    if (repeats < 1 || repeats > 100)
        repeats = 7;
    uint64_t off[100], on[100];
    workload(ops / 10); /* warm the allocator's pages */
    for (int r = 0; r < repeats; r++) {
        off[r] = workload(ops);
        on[r] = run_on(ops);
        fprintf(stderr, "  run %d: off %.3f s, on %.3f s\n", r + 1, off[r] / 1e9, on[r] / 1e9);
    }
    qsort(off, (size_t)repeats, sizeof off[0], cmp_u64);
    qsort(on, (size_t)repeats, sizeof on[0], cmp_u64);
    double moff = off[repeats / 2] / 1e9, mon = on[repeats / 2] / 1e9;
    printf("| workload | runs | dashboard off (median) | on, 1 client polling (median) | "
           "overhead | requests served |\n|---|---|---|---|---|---|\n");
    printf("| %llu replacements, 10,000 slots | %d + %d | %.3f s (%.1f ns/op) | %.3f s "
           "(%.1f ns/op) | %+.2f%% | %lu (%lu failed) |\n",
           (unsigned long long)ops, repeats, repeats, moff, moff * 1e9 / (double)ops, mon,
           mon * 1e9 / (double)ops, 100.0 * (mon - moff) / moff, atomic_load(&requests),
           atomic_load(&failures));
    printf("min: off %.3f s, on %.3f s (%+.2f%%)\n", off[0] / 1e9, on[0] / 1e9,
           100.0 * ((double)on[0] - (double)off[0]) / (double)off[0]);
    printf("dashboard threads' CPU (sampler + HTTP server): %.1f ms over %.2f s of workload = "
           "%.3f%% of one core\n",
           server_cpu_ns / 1e6, on_wall_ns / 1e9,
           100.0 * (double)server_cpu_ns / (double)on_wall_ns);
    return atomic_load(&failures) ? 1 : 0;
}
