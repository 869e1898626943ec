/* Backend selection and the device-level calls: which backend serves the allocator (the
 * environment on first use, or al_cuda_set_backend / al_cuda_use_simulated), device queries,
 * and the host-device copies. The caching allocator is in caching.c, statistics in summary.c.
 *
 * Nothing here runs at load time: the driver is opened on the first call that needs to know
 * (al_cuda_available, al_cuda_malloc...), never by the memory module's hooks. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "astrolab/log.h"
#include "cuda/cuda_int.h"
#include "util/settings_int.h"

ali_cuda_state ali_cuda = {
    .select_lock = PTHREAD_MUTEX_INITIALIZER,
    .dev = {[0 ... AL_CUDA_MAX_DEVICES - 1] = {.lock = PTHREAD_MUTEX_INITIALIZER}},
};

ali_cuda_backend *ali_cuda_backend_current(void)
{
    ali_cuda_ensure();
    return ali_cuda.backend;
}

/* Swaps in `nb` (NULL: none). select_lock held. Refused while any block is active. */
static int swap_backend(ali_cuda_backend *nb, const char *reason)
{
    for (int i = 0; i < AL_CUDA_MAX_DEVICES; i++)
        pthread_mutex_lock(&ali_cuda.dev[i].lock);
    int rc = AL_OK;
    for (int i = 0; i < AL_CUDA_MAX_DEVICES; i++)
        if (ali_cuda.dev[i].st.active_blocks)
            rc = AL_ESTATE;
    if (rc == AL_OK) {
        for (int i = 0; i < AL_CUDA_MAX_DEVICES; i++)
            ali_cuda_device_reset(&ali_cuda.dev[i]);
        if (ali_cuda.backend && ali_cuda.backend->destroy)
            ali_cuda.backend->destroy(ali_cuda.backend);
        ali_cuda.backend = nb;
        int n = nb ? (nb->ndevices < AL_CUDA_MAX_DEVICES ? nb->ndevices : AL_CUDA_MAX_DEVICES) : 0;
        for (int i = 0; i < n; i++)
            ali_cuda.dev[i].index = i;
        atomic_store(&ali_cuda.ndevices, n);
        snprintf(ali_cuda.reason, sizeof ali_cuda.reason, "%s", nb ? "" : reason);
        atomic_store(&ali_cuda.selected, true);
    }
    for (int i = AL_CUDA_MAX_DEVICES - 1; i >= 0; i--)
        pthread_mutex_unlock(&ali_cuda.dev[i].lock);
    return rc;
}

/* Makes the backend `name` names and swaps it in. select_lock held. */
static int select_named(const char *name)
{
    char reason[200] = "";
    ali_cuda_backend *nb = NULL;
    int rc;
    if (!strcasecmp(name, "none")) {
        snprintf(reason, sizeof reason, "CUDA switched off (backend none)");
        rc = AL_OK;
    } else if (!strcasecmp(name, "sim")) {
        rc = ali_cuda_sim_new((uint64_t)ali_setting_int(ALI_SET_CUDA_SIM_BYTES),
                              (int)ali_setting_int(ALI_SET_CUDA_SIM_DEVICES), &nb);
        if (rc != AL_OK)
            snprintf(reason, sizeof reason, "simulated device: %s", al_strerror(rc));
    } else if (!strcasecmp(name, "driver") || !strcasecmp(name, "auto")) {
        rc = ali_cuda_driver_open(&nb, reason, sizeof reason);
    } else {
        return AL_EINVAL;
    }
    int src = swap_backend(nb, reason);
    if (src != AL_OK) {
        if (nb && nb->destroy)
            nb->destroy(nb);
        return src;
    }
    if (!nb)
        al_log(AL_LOG_INFO, ALI_CUDA_LOGGER, "CUDA not available: %s", reason);
    else
        al_log(AL_LOG_INFO, ALI_CUDA_LOGGER, "CUDA backend %s with %d device(s)", nb->name,
               nb->ndevices);
    return rc == AL_OK || rc == AL_ECUDA_UNAVAILABLE ? rc
           : rc == AL_ENOMEM                         ? AL_ENOMEM
                                                     : AL_ECUDA_UNAVAILABLE;
}

int ali_cuda_ensure(void)
{
    if (AL_LIKELY(atomic_load_explicit(&ali_cuda.selected, memory_order_acquire)))
        return atomic_load_explicit(&ali_cuda.ndevices, memory_order_acquire);
    pthread_mutex_lock(&ali_cuda.select_lock);
    if (!atomic_load(&ali_cuda.selected)) {
        /* The settings table refused (and reported) any other name. */
        (void)select_named(ali_setting_choice(ALI_SET_CUDA_BACKEND));
    }
    pthread_mutex_unlock(&ali_cuda.select_lock);
    return atomic_load(&ali_cuda.ndevices);
}

int al_cuda_set_backend(const char *name)
{
    if (!name)
        return AL_EINVAL;
    pthread_mutex_lock(&ali_cuda.select_lock);
    int rc = select_named(name);
    pthread_mutex_unlock(&ali_cuda.select_lock);
    if (rc == AL_EINVAL)
        al_log(AL_LOG_ERROR, ALI_CUDA_LOGGER,
               "al_cuda_set_backend(\"%s\"): expected driver, sim, auto or none", name);
    return rc;
}

int al_cuda_use_simulated(uint64_t capacity_bytes, int ndevices)
{
    ali_cuda_backend *nb = NULL;
    int rc = ali_cuda_sim_new(capacity_bytes, ndevices, &nb);
    if (rc == AL_EINVAL)
        al_log(AL_LOG_ERROR, ALI_CUDA_LOGGER,
               "al_cuda_use_simulated(%llu, %d): need at least 1 MiB and 1..%d devices",
               (unsigned long long)capacity_bytes, ndevices, AL_CUDA_MAX_DEVICES);
    if (rc != AL_OK)
        return rc;
    pthread_mutex_lock(&ali_cuda.select_lock);
    rc = swap_backend(nb, "");
    pthread_mutex_unlock(&ali_cuda.select_lock);
    if (rc != AL_OK) {
        nb->destroy(nb);
        al_log(AL_LOG_ERROR, ALI_CUDA_LOGGER,
               "al_cuda_use_simulated: refused while device blocks are allocated");
    }
    return rc;
}

int al_cuda_available(void) { return ali_cuda_ensure() > 0; }

int al_cuda_device_count(void) { return ali_cuda_ensure(); }

const char *al_cuda_backend_name(void)
{
    return ali_cuda_ensure() > 0 ? ali_cuda.backend->name : "none";
}

const char *al_cuda_unavailable_reason(void)
{
    ali_cuda_ensure();
    return ali_cuda.reason;
}

/* Locks device `device` when it exists in the current backend; returns it, or NULL with rc. */
ali_cuda_device *ali_cuda_device_lock(int device, int *rc)
{
    int n = ali_cuda_ensure();
    if (n == 0) {
        *rc = AL_ECUDA_UNAVAILABLE;
        return NULL;
    }
    if (device < 0 || device >= n) {
        *rc = AL_EINVAL;
        return NULL;
    }
    ali_cuda_device *d = &ali_cuda.dev[device];
    pthread_mutex_lock(&d->lock);
    if (device >= atomic_load(&ali_cuda.ndevices)) { /* the backend changed meanwhile */
        pthread_mutex_unlock(&d->lock);
        *rc = AL_ECUDA_UNAVAILABLE;
        return NULL;
    }
    *rc = AL_OK;
    return d;
}

int al_cuda_device_info(int device, al_cuda_device_props *out)
{
    int rc;
    if (!out)
        return AL_EINVAL;
    ali_cuda_device *d = ali_cuda_device_lock(device, &rc);
    if (!d)
        return rc;
    al_cuda_device_props p;
    rc = ali_cuda.backend->props(ali_cuda.backend, device, &p);
    pthread_mutex_unlock(&d->lock);
    if (rc == AL_OK)
        *out = p;
    return rc;
}

/* -------- Copies. -------- */

/* Device holding [p, p + n) inside one of its segments, or -1 (logged, naming the pointer). */
static int device_of_range(uint64_t p, size_t n, const char *op)
{
    int ndev = ali_cuda_ensure();
    for (int i = 0; i < ndev; i++) {
        ali_cuda_device *d = &ali_cuda.dev[i];
        bool found = false;
        pthread_mutex_lock(&d->lock);
        for (ali_cuda_segment *s = d->segments; s && !found; s = s->next)
            found = p >= s->base && p - s->base < s->size && n <= s->size - (p - s->base);
        pthread_mutex_unlock(&d->lock);
        if (found)
            return i;
    }
    al_log(AL_LOG_ERROR, ALI_CUDA_LOGGER,
           "%s: device range 0x%llx + %zu bytes is not inside memory of the CUDA allocator", op,
           (unsigned long long)p, n);
    return -1;
}

static int copy_check(const void *a, const void *b)
{
    if (ali_cuda_ensure() == 0)
        return AL_ECUDA_UNAVAILABLE;
    return a && b ? AL_OK : AL_EINVAL;
}

int al_cuda_memcpy_htod(void *dst, const void *src, size_t n)
{
    int rc = copy_check(dst, src), dev;
    if (rc != AL_OK || n == 0)
        return rc;
    if ((dev = device_of_range((uintptr_t)dst, n, "al_cuda_memcpy_htod")) < 0)
        return AL_EINVAL;
    rc = ali_cuda.backend->memcpy_htod(ali_cuda.backend, dev, (uintptr_t)dst, src, n);
    return rc == AL_OK ? rc : AL_ECUDA;
}

int al_cuda_memcpy_dtoh(void *dst, const void *src, size_t n)
{
    int rc = copy_check(dst, src), dev;
    if (rc != AL_OK || n == 0)
        return rc;
    if ((dev = device_of_range((uintptr_t)src, n, "al_cuda_memcpy_dtoh")) < 0)
        return AL_EINVAL;
    rc = ali_cuda.backend->memcpy_dtoh(ali_cuda.backend, dev, dst, (uintptr_t)src, n);
    return rc == AL_OK ? rc : AL_ECUDA;
}

int al_cuda_memcpy_dtod(void *dst, const void *src, size_t n)
{
    int rc = copy_check(dst, src), dev;
    if (rc != AL_OK || n == 0)
        return rc;
    if ((dev = device_of_range((uintptr_t)dst, n, "al_cuda_memcpy_dtod")) < 0 ||
        device_of_range((uintptr_t)src, n, "al_cuda_memcpy_dtod") < 0)
        return AL_EINVAL;
    rc = ali_cuda.backend->memcpy_dtod(ali_cuda.backend, dev, (uintptr_t)dst, (uintptr_t)src, n);
    return rc == AL_OK ? rc : AL_ECUDA;
}
