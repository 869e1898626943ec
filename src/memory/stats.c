/* The global statistics: byte balance, peak, counts, RSS from the OS, and their JSON form.
 *
 * Allocation and free touch only the calling thread's shard (site.c). The global balance is
 * updated in batches of AL_STATS_BATCH_BYTES: a thread publishes its pending balance with one
 * atomic add, and the highest balance it reached since the last publish becomes a peak
 * candidate. With one thread this makes the peak exact; readers add every thread's unpublished
 * balance, so current_bytes is exact whenever threads are quiet. */
#include <cjson/cJSON.h>
#include <fcntl.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "memory_int.h"
#include "reports_int.h"
#include "util/json_int.h"

static struct {
    _Atomic int64_t published; /* sum of every shard's published balance */
    _Atomic int64_t peak;      /* highest balance seen at a publish, or set by a reset */
    _Atomic uint64_t errors;   /* errors reported by the manager */
} g;

void (*ali_own_thread_hook)(void);

static const ali_device_hooks no_device;
static const ali_device_hooks *_Atomic device_hooks = &no_device;

const ali_device_hooks *ali_memory_set_device_hooks(const ali_device_hooks *hooks)
{
    return atomic_exchange_explicit(&device_hooks, hooks ? hooks : &no_device,
                                    memory_order_acq_rel);
}

const ali_device_hooks *ali_device_hooks_get(void)
{
    return atomic_load_explicit(&device_hooks, memory_order_acquire);
}

uint64_t ali_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void peak_raise(int64_t candidate)
{
    int64_t old = atomic_load_explicit(&g.peak, memory_order_relaxed);
    while (candidate > old &&
           !atomic_compare_exchange_weak_explicit(&g.peak, &old, candidate, memory_order_relaxed,
                                                  memory_order_relaxed))
        ;
}

void (*ali_stats_publish_hook)(int64_t balance);

void ali_stats_publish(ali_shard *sh)
{
    int64_t before = atomic_fetch_add_explicit(&g.published, sh->pending, memory_order_relaxed);
    peak_raise(before + sh->pending_max);
    int64_t after = before + sh->pending;
    sh->pending = 0;
    sh->pending_max = 0;
    if (ali_stats_publish_hook)
        ali_stats_publish_hook(after);
}

int64_t ali_stats_current(void)
{
    int64_t sum = 0;
    for (ali_shard *sh = ali_shard_first(); sh; sh = sh->next)
        sum += ali_flow_bytes(&sh->flow);
    return sum;
}

void ali_stats_error(void) { atomic_fetch_add_explicit(&g.errors, 1, memory_order_relaxed); }

/* Value in kB of the /proc/self/status line starting with `key`, or 0. */
static uint64_t status_kb(const char *text, const char *key)
{
    const char *line = strstr(text, key);
    return line ? strtoull(line + strlen(key), NULL, 10) : 0;
}

/* Reads /proc/self/status with open/read into a stack buffer: no stdio, so no allocation, and
 * the exit report and the preload library may call it. */
int al_process_rss(uint64_t *rss_bytes, uint64_t *peak_rss_bytes)
{
    char text[4096];
    size_t len = 0;
    int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        ssize_t got;
        while (len < sizeof text - 1 && (got = read(fd, text + len, sizeof text - 1 - len)) > 0)
            len += (size_t)got;
        close(fd);
    }
    text[len] = '\0';
    uint64_t rss = status_kb(text, "VmRSS:") * 1024, peak = status_kb(text, "VmHWM:") * 1024;
    if (!peak) {
        struct rusage ru;
        if (getrusage(RUSAGE_SELF, &ru) == 0)
            peak = (uint64_t)ru.ru_maxrss * 1024;
    }
    if (rss_bytes)
        *rss_bytes = rss;
    if (peak_rss_bytes)
        *peak_rss_bytes = peak;
    return rss || peak ? AL_OK : AL_EIO;
}

/* al_get_memory_stats's RSS figures, read from the OS at most once per ALI_RSS_SAMPLE_NS: the
 * read of /proc/self/status costs 20 to 36 us on the development VM, ten times the rest of the
 * call, and a caller polling the stats (a dashboard, a Python loop) would spend its time there.
 * Redis samples used_memory_rss in its cron for the same reason. */
#define ALI_RSS_SAMPLE_NS 1000000u
static struct {
    pthread_mutex_t lock; /* guards the three fields */
    uint64_t at_ns, rss, peak;
} rss_sample = {.lock = PTHREAD_MUTEX_INITIALIZER};

static void sampled_rss(uint64_t *rss, uint64_t *peak)
{
    uint64_t now = ali_now_ns();
    /* trylock: a thread holding the lock at a fork would leave it locked in the child forever;
     * there, and while another thread refreshes, the figures are read directly. */
    if (pthread_mutex_trylock(&rss_sample.lock) != 0) {
        (void)!al_process_rss(rss, peak);
        return;
    }
    if (!rss_sample.at_ns || now - rss_sample.at_ns >= ALI_RSS_SAMPLE_NS) {
        (void)!al_process_rss(&rss_sample.rss, &rss_sample.peak); /* 0 when the OS says nothing */
        rss_sample.at_ns = now;
    }
    *rss = rss_sample.rss;
    *peak = rss_sample.peak;
    pthread_mutex_unlock(&rss_sample.lock);
}

int al_get_memory_stats(al_memory_stats *out)
{
    if (!out)
        return AL_EINVAL;
    al_memory_stats s;
    memset(&s, 0, sizeof s);
    int64_t current = 0, live = 0, unpublished_max = 0;
    ali_shard *self = ali_shard_self();
    for (ali_shard *sh = ali_shard_first(); sh; sh = sh->next) {
        current += ali_flow_bytes(&sh->flow);
        live += ali_flow_live(&sh->flow);
        s.total_allocations += atomic_load_explicit(&sh->flow.allocs, memory_order_relaxed);
        s.total_frees += atomic_load_explicit(&sh->flow.frees, memory_order_relaxed);
    }
    /* The caller's own unpublished high-water mark is known exactly. */
    if (self)
        unpublished_max =
            atomic_load_explicit(&g.published, memory_order_relaxed) + self->pending_max;
    int64_t peak = atomic_load_explicit(&g.peak, memory_order_relaxed);
    if (unpublished_max > peak)
        peak = unpublished_max;
    if (current > peak)
        peak = current;
    s.current_bytes = current > 0 ? (uint64_t)current : 0;
    s.peak_bytes = peak > 0 ? (uint64_t)peak : 0;
    s.live_blocks = live > 0 ? (uint64_t)live : 0;
    s.errors = atomic_load_explicit(&g.errors, memory_order_relaxed);
    sampled_rss(&s.rss_bytes, &s.peak_rss_bytes);
    const ali_device_hooks *dev = ali_device_hooks_get();
    if (dev->fill_stats)
        dev->fill_stats(&s);
    s.current_mb = (double)s.current_bytes / (1024.0 * 1024.0);
    s.peak_mb = (double)s.peak_bytes / (1024.0 * 1024.0);
    s.cuda_memory_allocated = (double)s.cuda_allocated_bytes / (1024.0 * 1024.0);
    *out = s;
    return AL_OK;
}

void al_reset_peak_memory_stats(void)
{
    ali_shard *self = ali_shard_self();
    if (self)
        ali_stats_publish(self);
    atomic_store_explicit(&g.peak, ali_stats_current(), memory_order_relaxed);
    const ali_device_hooks *dev = ali_device_hooks_get();
    if (dev->reset_peaks)
        dev->reset_peaks();
}

#define FIELD(name, type)                                                                          \
    {                                                                                              \
#name, offsetof(al_memory_stats, name), type                                               \
    }
static const al_memory_stats_field fields[] = {
    FIELD(current_bytes, 0),
    FIELD(peak_bytes, 0),
    FIELD(live_blocks, 0),
    FIELD(total_allocations, 0),
    FIELD(total_frees, 0),
    FIELD(rss_bytes, 0),
    FIELD(peak_rss_bytes, 0),
    FIELD(cuda_allocated_bytes, 0),
    FIELD(cuda_reserved_bytes, 0),
    FIELD(cuda_peak_allocated_bytes, 0),
    FIELD(errors, 0),
    FIELD(current_mb, 1),
    FIELD(peak_mb, 1),
    FIELD(cuda_memory_allocated, 1),
};
#undef FIELD
_Static_assert(sizeof fields / sizeof fields[0] * sizeof(uint64_t) == sizeof(al_memory_stats),
               "every field of al_memory_stats is in the table");

const al_memory_stats_field *al_memory_stats_fields(size_t *n)
{
    *n = sizeof fields / sizeof fields[0];
    return fields;
}

cJSON *ali_memory_stats_cjson(void)
{
    al_memory_stats s;
    if (al_get_memory_stats(&s) != AL_OK)
        return NULL;
    cJSON *o = cJSON_CreateObject();
    bool ok = o != NULL;
    for (size_t i = 0; ok && i < sizeof fields / sizeof fields[0]; i++) {
        const char *at = (const char *)&s + fields[i].offset;
        if (fields[i].is_double)
            ok = cJSON_AddNumberToObject(o, fields[i].name, *(const double *)at) != NULL;
        else
            ok = ali_json_add_u64s(o, &(ali_json_u64){fields[i].name, *(const uint64_t *)at}, 1);
    }
    if (!ok) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

char *al_memory_stats_json(void) { return ali_json_finish(ali_memory_stats_cjson(), true); }
