/* The comprehensive cleanup: every registered release function (registry.c), the CUDA cache
 * (through the hook the CUDA module sets) and the backing store's purge, which gives free pages
 * back to the OS; and its result as JSON. The soft and hard limits (limits.c) call it too. */
#include <cjson/cJSON.h>

#include "astrolab/log.h"
#include "backing.h"
#include "memory_int.h"
#include "registry_int.h"
#include "util/assert_int.h"
#include "util/json_int.h"

uint64_t ali_cleanup_give_back(void)
{
    const ali_device_hooks *dev = ali_device_hooks_get();
    uint64_t cuda = dev->release ? dev->release() : 0;
    /* mimalloc: mi_collect(true); system: malloc_trim(0). */
    backing_purge();
    return cuda;
}

void ali_cleanup_comprehensive(al_cleanup_result *out)
{
    assert(ali_cleanup_held());
    al_cleanup_result r = {0};
    uint64_t t0 = ali_now_ns();
    (void)!al_process_rss(&r.rss_before_bytes, NULL); /* 0 when the OS says nothing */
    int64_t before = ali_stats_current();

    ali_release_counts counts = {0};
    bool complete = ali_registry_release(true, NULL, NULL, &counts);
    r.cuda_bytes_released = ali_cleanup_give_back();

    int64_t after = ali_stats_current();
    (void)!al_process_rss(&r.rss_after_bytes, NULL);
    r.callbacks_run = counts.run;
    r.callbacks_failed = counts.failed;
    r.bytes_released = after < before ? (uint64_t)(before - after) : 0;
    r.success = complete && counts.failed == 0;
    r.duration_ns = ali_now_ns() - t0;
    al_log(AL_LOG_INFO, ALI_LOGGER,
           "comprehensive cleanup: %llu release function(s) run, %llu failed; %llu tracked bytes "
           "and %llu CUDA bytes released; RSS %llu -> %llu bytes in %.3f ms",
           (unsigned long long)r.callbacks_run, (unsigned long long)r.callbacks_failed,
           (unsigned long long)r.bytes_released, (unsigned long long)r.cuda_bytes_released,
           (unsigned long long)r.rss_before_bytes, (unsigned long long)r.rss_after_bytes,
           (double)r.duration_ns / 1e6);
    *out = r;
}

al_cleanup_result al_force_comprehensive_cleanup(void)
{
    al_cleanup_result r = {0};
    if (!ali_cleanup_enter()) {
        al_log(AL_LOG_WARNING, ALI_LOGGER,
               "al_force_comprehensive_cleanup called from inside a release function or a "
               "cleanup: ignored");
        return r;
    }
    ali_cleanup_comprehensive(&r);
    ali_cleanup_leave();
    return r;
}

char *al_cleanup_result_json(const al_cleanup_result *r)
{
    if (!r)
        return NULL;
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    const ali_json_u64 fields[] = {
        {"callbacks_run", r->callbacks_run},       {"callbacks_failed", r->callbacks_failed},
        {"bytes_released", r->bytes_released},     {"cuda_bytes_released", r->cuda_bytes_released},
        {"rss_before_bytes", r->rss_before_bytes}, {"rss_after_bytes", r->rss_after_bytes},
        {"duration_ns", r->duration_ns},
    };
    bool ok = cJSON_AddBoolToObject(o, "success", r->success != 0) != NULL;
    ok &= ali_json_add_u64s(o, fields, sizeof fields / sizeof fields[0]);
    return ali_json_finish(o, ok);
}
