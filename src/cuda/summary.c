/* Statistics of the CUDA caching allocator: the counters' upkeep, al_cuda_memory_stats and its
 * JSON form, the text table of al_cuda_memory_summary, and the memory module's stats hook. The
 * counters themselves are updated by caching.c under each device's lock. */
#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cuda/cuda_int.h"
#include "util/format_int.h"
#include "util/json_int.h"
#include "util/memstream_int.h"

/* ali_fmt_bytes, returning buf for use inside one printf. */
static const char *cuda_bytes(uint64_t n, char *buf, size_t len)
{
    ali_fmt_bytes(n, buf, len);
    return buf;
}

void ali_cuda_stats_touch(ali_cuda_device *d)
{
    if (d->st.allocated_bytes > d->st.peak_allocated_bytes)
        d->st.peak_allocated_bytes = d->st.allocated_bytes;
    if (d->st.reserved_bytes > d->st.peak_reserved_bytes)
        d->st.peak_reserved_bytes = d->st.reserved_bytes;
}

static void count_split(ali_cuda_block *b, void *arg)
{
    al_cuda_stats *s = arg;
    if (b->prev || b->next) {
        s->inactive_split_blocks++;
        s->inactive_split_bytes += b->size;
    }
}

void ali_cuda_device_stats(ali_cuda_device *d, al_cuda_stats *out)
{
    *out = d->st;
    out->cached_bytes = d->st.reserved_bytes - d->st.allocated_bytes;
    out->inactive_split_blocks = out->inactive_split_bytes = 0;
    for (int p = 0; p < ALI_POOLS; p++)
        ali_cuda_tree_walk(d->free_tree[p], count_split, out);
}

static void stats_add(al_cuda_stats *sum, const al_cuda_stats *s)
{
    uint64_t *a = (uint64_t *)sum;
    const uint64_t *b = (const uint64_t *)s;
    for (size_t i = 0; i < sizeof *s / sizeof(uint64_t); i++)
        a[i] += b[i];
}

int al_cuda_memory_stats(int device, al_cuda_stats *out)
{
    if (!out)
        return AL_EINVAL;
    al_cuda_stats s;
    memset(&s, 0, sizeof s);
    if (device == AL_CUDA_ALL_DEVICES) {
        int n = ali_cuda_ensure();
        for (int i = 0; i < n; i++) {
            al_cuda_stats one;
            pthread_mutex_lock(&ali_cuda.dev[i].lock);
            ali_cuda_device_stats(&ali_cuda.dev[i], &one);
            pthread_mutex_unlock(&ali_cuda.dev[i].lock);
            stats_add(&s, &one);
        }
        *out = s;
        return AL_OK;
    }
    int rc;
    ali_cuda_device *d = ali_cuda_device_lock(device, &rc);
    if (!d)
        return rc;
    ali_cuda_device_stats(d, &s);
    pthread_mutex_unlock(&d->lock);
    *out = s;
    return AL_OK;
}

void al_cuda_reset_peak_memory_stats(int device)
{
    int n = ali_cuda_ensure();
    for (int i = 0; i < n; i++) {
        if (device != AL_CUDA_ALL_DEVICES && device != i)
            continue;
        ali_cuda_device *d = &ali_cuda.dev[i];
        pthread_mutex_lock(&d->lock);
        d->st.peak_allocated_bytes = d->st.allocated_bytes;
        d->st.peak_reserved_bytes = d->st.reserved_bytes;
        pthread_mutex_unlock(&d->lock);
    }
}

/* The diagnosis's accounting: device memory used (total - free) and total, summed over the
 * devices, once a backend is in use (no dlopen here). Returns 0 when known. */
int ali_cuda_device_memory(uint64_t *used_bytes, uint64_t *total_bytes)
{
    if (!atomic_load(&ali_cuda.selected))
        return -1;
    uint64_t used = 0, total = 0;
    int n = atomic_load(&ali_cuda.ndevices);
    for (int i = 0; i < n; i++) {
        al_cuda_device_props p;
        if (al_cuda_device_info(i, &p) != AL_OK)
            return -1;
        used += p.total_bytes - p.free_bytes;
        total += p.total_bytes;
    }
    *used_bytes = used;
    *total_bytes = total;
    return n > 0 ? 0 : -1;
}

/* al_reset_peak_memory_stats's part: only once a backend is in use (no dlopen here). */
void ali_cuda_reset_peaks_if_used(void)
{
    if (atomic_load(&ali_cuda.selected))
        al_cuda_reset_peak_memory_stats(AL_CUDA_ALL_DEVICES);
}

void ali_cuda_fill_memory_stats(al_memory_stats *out)
{
    if (!atomic_load(&ali_cuda.selected))
        return;
    int n = atomic_load(&ali_cuda.ndevices);
    for (int i = 0; i < n; i++) {
        ali_cuda_device *d = &ali_cuda.dev[i];
        pthread_mutex_lock(&d->lock);
        out->cuda_allocated_bytes += d->st.allocated_bytes;
        out->cuda_reserved_bytes += d->st.reserved_bytes;
        out->cuda_peak_allocated_bytes += d->st.peak_allocated_bytes;
        pthread_mutex_unlock(&d->lock);
    }
}

/* Field names and offsets, shared by the JSON form. */
#define FIELD(name)                                                                                \
    {                                                                                              \
#name, offsetof(al_cuda_stats, name)                                                       \
    }
static const struct {
    const char *name;
    size_t offset;
} fields[] = {
    FIELD(allocated_bytes),      FIELD(reserved_bytes),   FIELD(peak_allocated_bytes),
    FIELD(peak_reserved_bytes),  FIELD(active_blocks),    FIELD(cached_blocks),
    FIELD(num_alloc_retries),    FIELD(num_ooms),         FIELD(num_segments),
    FIELD(requested_bytes),      FIELD(cached_bytes),     FIELD(inactive_split_blocks),
    FIELD(inactive_split_bytes), FIELD(num_allocs),       FIELD(num_frees),
    FIELD(num_device_allocs),    FIELD(num_device_frees),
};
_Static_assert(sizeof fields / sizeof fields[0] == sizeof(al_cuda_stats) / sizeof(uint64_t),
               "every al_cuda_stats field has a JSON name");

char *al_cuda_memory_stats_json(int device)
{
    al_cuda_stats s;
    if (al_cuda_memory_stats(device, &s) != AL_OK || !al_cuda_available())
        return NULL;
    cJSON *o = cJSON_CreateObject();
    bool ok = o && cJSON_AddNumberToObject(o, "device", device) &&
              cJSON_AddStringToObject(o, "backend", al_cuda_backend_name());
    for (size_t i = 0; ok && i < sizeof fields / sizeof fields[0]; i++) {
        uint64_t v;
        memcpy(&v, (const char *)&s + fields[i].offset, sizeof v);
        ok = cJSON_AddNumberToObject(o, fields[i].name, (double)v) != NULL;
    }
    char *text = ok ? ali_json_print(o, false) : NULL;
    cJSON_Delete(o);
    return text;
}

/* -------- The summary table. -------- */

static void row_bytes(FILE *f, const char *label, uint64_t all, uint64_t small, uint64_t large,
                      const char *peak)
{
    char a[24], s[24], l[24];
    fprintf(f, "| %-20s | %12s | %12s | %12s | %12s |\n", label, cuda_bytes(all, a, sizeof a),
            cuda_bytes(small, s, sizeof s), cuda_bytes(large, l, sizeof l), peak);
}

static void row_count(FILE *f, const char *label, uint64_t all, const char *small,
                      const char *large)
{
    fprintf(f, "| %-20s | %12llu | %12s | %12s | %12s |\n", label, (unsigned long long)all, small,
            large, "");
}

/* One device's section. Lock held. */
static void device_section(FILE *f, ali_cuda_device *d)
{
    al_cuda_device_props p;
    char tot[24], fr[24], peak[24], num[2][24];
    al_cuda_stats s;
    ali_cuda_device_stats(d, &s);
    if (ali_cuda.backend->props(ali_cuda.backend, d->index, &p) != AL_OK)
        snprintf(p.name, sizeof p.name, "(properties unavailable)");
    fprintf(f, "device %d: %s, %s total, %s free\n", d->index, p.name,
            cuda_bytes(p.total_bytes, tot, sizeof tot), cuda_bytes(p.free_bytes, fr, sizeof fr));
    fprintf(f, "| %-20s | %12s | %12s | %12s | %12s |\n", "metric", "all", "small pool",
            "large pool", "peak");
    fprintf(f, "|----------------------|--------------|--------------|--------------|"
               "--------------|\n");
    row_bytes(f, "allocated", s.allocated_bytes, d->pool_allocated[0], d->pool_allocated[1],
              cuda_bytes(s.peak_allocated_bytes, peak, sizeof peak));
    row_bytes(f, "reserved", s.reserved_bytes, d->pool_reserved[0], d->pool_reserved[1],
              cuda_bytes(s.peak_reserved_bytes, peak, sizeof peak));
    row_bytes(f, "cached (free)", s.cached_bytes, d->pool_reserved[0] - d->pool_allocated[0],
              d->pool_reserved[1] - d->pool_allocated[1], "");
    char req[24];
    fprintf(f, "| %-20s | %12s | %12s | %12s | %12s |\n", "requested",
            cuda_bytes(s.requested_bytes, req, sizeof req), "", "", "");
    const uint64_t *per_pool[] = {d->pool_active, d->pool_cached, d->pool_segments};
    const char *labels[] = {"active blocks", "cached blocks", "segments"};
    const uint64_t totals[] = {s.active_blocks, s.cached_blocks, s.num_segments};
    for (int i = 0; i < 3; i++) {
        snprintf(num[0], sizeof num[0], "%llu", (unsigned long long)per_pool[i][0]);
        snprintf(num[1], sizeof num[1], "%llu", (unsigned long long)per_pool[i][1]);
        row_count(f, labels[i], totals[i], num[0], num[1]);
    }
    row_count(f, "inactive split", s.inactive_split_blocks, "", "");
    fprintf(f, "| %-20s | %12s | %12s | %12s | %12s |\n", "inactive split bytes",
            cuda_bytes(s.inactive_split_bytes, num[0], sizeof num[0]), "", "", "");
    row_count(f, "allocs", s.num_allocs, "", "");
    row_count(f, "frees", s.num_frees, "", "");
    row_count(f, "device allocs", s.num_device_allocs, "", "");
    row_count(f, "device frees", s.num_device_frees, "", "");
    row_count(f, "alloc retries", s.num_alloc_retries, "", "");
    row_count(f, "OOMs", s.num_ooms, "", "");
    if (d->limit) {
        char lim[24];
        fprintf(f, "| %-20s | %12s | %12s | %12s | %12s |\n", "limit",
                cuda_bytes(d->limit, lim, sizeof lim), "", "", "");
    }
}

char *al_cuda_memory_summary(void)
{
    int n = ali_cuda_ensure();
    if (n == 0)
        return NULL;
    ali_memstream m;
    FILE *f = ali_memstream_open(&m);
    if (!f)
        return NULL;
    fprintf(f, "CUDA caching allocator summary (backend %s, %d device(s))\n",
            al_cuda_backend_name(), n);
    for (int i = 0; i < n; i++) {
        ali_cuda_device *d = &ali_cuda.dev[i];
        pthread_mutex_lock(&d->lock);
        if (i < atomic_load(&ali_cuda.ndevices))
            device_section(f, d);
        pthread_mutex_unlock(&d->lock);
    }
    return ali_memstream_finish(&m);
}
