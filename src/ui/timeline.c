/* The dashboard's timeline: a sampler thread that records the memory figures (tracked current
 * and peak, live blocks, RSS, CUDA allocated and reserved) into a ring buffer at a fixed
 * interval, 4 per second by default. A sample costs one al_get_memory_stats (no global lock;
 * RSS from /proc/self/statm) and a short critical section, so the host's threads never wait on
 * it for long. The server (server.c) reads the ring for /api/timeline and the memory panel. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "astrolab/astrolab.h"
#include "astrolab/ui.h"
#include "ui_int.h"
#include "util/json_int.h"

static struct {
    pthread_mutex_t lock; /* guards every field below */
    pthread_cond_t wake;  /* signalled by ali_timeline_stop */
    pthread_t thread;     /* the sampler, while running */
    bool running;         /* the sampler thread exists */
    bool stopping;        /* asks the sampler to leave */
    uint32_t interval_ms; /* sampling period */
    ali_ui_sample *ring;  /* capacity samples (C library heap) */
    size_t capacity;      /* slots in ring */
    size_t count;         /* slots used */
    size_t head;          /* next slot to write */
    uint64_t next_seq;    /* sequence number of the next sample */
} tl = {.lock = PTHREAD_MUTEX_INITIALIZER, .wake = PTHREAD_COND_INITIALIZER, .next_seq = 1};

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void ali_timeline_sample_now(ali_ui_sample *out)
{
    memset(out, 0, sizeof *out);
    al_memory_stats s;
    if (al_get_memory_stats(&s) == AL_OK) {
        out->current_bytes = s.current_bytes;
        out->peak_bytes = s.peak_bytes;
        out->live_blocks = s.live_blocks;
        out->rss_bytes = s.rss_bytes;
        out->cuda_allocated_bytes = s.cuda_allocated_bytes;
        out->cuda_reserved_bytes = s.cuda_reserved_bytes;
    }
    out->t_ms = now_ms();
}

static void record(void)
{
    ali_ui_sample smp;
    ali_timeline_sample_now(&smp);
    pthread_mutex_lock(&tl.lock);
    smp.seq = tl.next_seq++;
    tl.ring[tl.head] = smp;
    tl.head = (tl.head + 1) % tl.capacity;
    if (tl.count < tl.capacity)
        tl.count++;
    pthread_mutex_unlock(&tl.lock);
}

static void *sampler_main(void *arg)
{
    (void)arg;
    ali_ui_own_thread();
    struct timespec due;
    clock_gettime(CLOCK_MONOTONIC, &due);
    pthread_mutex_lock(&tl.lock);
    while (!tl.stopping) {
        pthread_mutex_unlock(&tl.lock);
        record();
        pthread_mutex_lock(&tl.lock);
        /* Absolute deadlines: the period does not drift by the time a sample takes. */
        due.tv_nsec += (long)(tl.interval_ms % 1000u) * 1000000L;
        due.tv_sec += tl.interval_ms / 1000u + due.tv_nsec / 1000000000L;
        due.tv_nsec %= 1000000000L;
        while (!tl.stopping && pthread_cond_timedwait(&tl.wake, &tl.lock, &due) != ETIMEDOUT) {
        }
    }
    pthread_mutex_unlock(&tl.lock);
    return NULL;
}

int ali_timeline_start(uint32_t interval_ms, uint32_t capacity)
{
    ali_ui_sample *ring = calloc(capacity, sizeof *ring);
    if (!ring)
        return AL_ENOMEM;
    pthread_mutex_lock(&tl.lock);
    if (tl.running) {
        pthread_mutex_unlock(&tl.lock);
        free(ring);
        return AL_ESTATE;
    }
    tl.ring = ring;
    tl.capacity = capacity;
    tl.count = tl.head = 0;
    tl.interval_ms = interval_ms;
    tl.stopping = false;
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_destroy(&tl.wake);
    pthread_cond_init(&tl.wake, &ca);
    pthread_condattr_destroy(&ca);
    int rc = pthread_create(&tl.thread, NULL, sampler_main, NULL);
    if (rc != 0) {
        tl.ring = NULL;
        tl.capacity = 0;
        pthread_mutex_unlock(&tl.lock);
        free(ring);
        al_log(AL_LOG_ERROR, "astrolab.ui", "cannot start the sampler thread: %s", strerror(rc));
        return AL_EUI;
    }
    tl.running = true;
    pthread_mutex_unlock(&tl.lock);
    return AL_OK;
}

void ali_timeline_stop(void)
{
    pthread_mutex_lock(&tl.lock);
    if (!tl.running) {
        pthread_mutex_unlock(&tl.lock);
        return;
    }
    tl.stopping = true;
    pthread_cond_broadcast(&tl.wake);
    pthread_t t = tl.thread;
    pthread_mutex_unlock(&tl.lock);
    pthread_join(t, NULL);
    pthread_mutex_lock(&tl.lock);
    free(tl.ring);
    tl.ring = NULL;
    tl.capacity = tl.count = tl.head = 0;
    tl.running = false;
    pthread_mutex_unlock(&tl.lock);
}

static bool add_sample(cJSON *arr, const ali_ui_sample *s)
{
    cJSON *o = cJSON_CreateObject();
    if (!o || !cJSON_AddItemToArray(arr, o)) {
        cJSON_Delete(o);
        return false;
    }
    bool ok = cJSON_AddNumberToObject(o, "seq", (double)s->seq) != NULL;
    ok &= cJSON_AddNumberToObject(o, "t_ms", (double)s->t_ms) != NULL;
    ok &= cJSON_AddNumberToObject(o, "current_bytes", (double)s->current_bytes) != NULL;
    ok &= cJSON_AddNumberToObject(o, "peak_bytes", (double)s->peak_bytes) != NULL;
    ok &= cJSON_AddNumberToObject(o, "live_blocks", (double)s->live_blocks) != NULL;
    ok &= cJSON_AddNumberToObject(o, "rss_bytes", (double)s->rss_bytes) != NULL;
    ok &=
        cJSON_AddNumberToObject(o, "cuda_allocated_bytes", (double)s->cuda_allocated_bytes) != NULL;
    ok &= cJSON_AddNumberToObject(o, "cuda_reserved_bytes", (double)s->cuda_reserved_bytes) != NULL;
    return ok;
}

cJSON *ali_timeline_json(uint64_t since, size_t max)
{
    cJSON *o = cJSON_CreateObject();
    cJSON *arr = cJSON_CreateArray();
    if (!o || !arr) {
        cJSON_Delete(o);
        cJSON_Delete(arr);
        return NULL;
    }
    /* Copy under the lock, build JSON outside it: the sampler never waits on cJSON. */
    pthread_mutex_lock(&tl.lock);
    uint32_t interval = tl.interval_ms;
    size_t capacity = tl.capacity, count = tl.count, head = tl.head;
    uint64_t next = tl.next_seq;
    size_t first = 0; /* index (0 = oldest) of the first sample newer than since */
    while (first < count) {
        const ali_ui_sample *s = &tl.ring[(head + capacity - count + first) % capacity];
        if (s->seq > since)
            break;
        first++;
    }
    if (max && count - first > max)
        first = count - max;
    size_t n = count - first;
    ali_ui_sample *copy = n ? malloc(n * sizeof *copy) : NULL;
    for (size_t i = 0; copy && i < n; i++)
        copy[i] = tl.ring[(head + capacity - count + first + i) % capacity];
    pthread_mutex_unlock(&tl.lock);
    if (!cJSON_AddItemToObject(o, "samples", arr)) {
        cJSON_Delete(arr);
        cJSON_Delete(o);
        free(copy);
        return NULL;
    }
    bool ok = !n || copy;
    ok &= cJSON_AddNumberToObject(o, "interval_ms", interval) != NULL;
    ok &= cJSON_AddNumberToObject(o, "capacity", (double)capacity) != NULL;
    ok &= cJSON_AddNumberToObject(o, "next", (double)next) != NULL;
    for (size_t i = 0; ok && i < n; i++)
        ok = add_sample(arr, &copy[i]);
    free(copy);
    if (!ok) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

char *al_ui_timeline_json(uint64_t since)
{
    cJSON *o = ali_timeline_json(since, 0);
    char *s = o ? ali_json_print(o, false) : NULL;
    cJSON_Delete(o);
    return s;
}
