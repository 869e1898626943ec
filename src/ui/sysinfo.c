/* System information for `astrolab status` and the UI's system status panel: host, OS, CPU
 * count, RAM total and available, the process's RSS and peak, and the versions of the
 * libraries linked in. It reads the OS through fixed buffers and never allocates tracked
 * memory, so the manager's own statistics are not disturbed by looking at them. CUDA devices
 * come from <astrolab/cuda.h> (src/cuda/); the panels that show all this live in src/ui/. */
#include <errno.h>
#include <gnu/libc-version.h>
#include <microhttpd.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#if defined(ASTROLAB_BACKING_MIMALLOC)
#include <mimalloc.h> /* mi_version */
#endif

#include "astrolab/astrolab.h"
#include "memory/services_int.h" /* ali_memory_backing_name */
#include "ui_int.h"
#include "util/json_int.h"

/* Reads MemTotal and MemAvailable (kB in the file). MemAvailable exists since Linux 3.14; on
 * older kernels it is estimated as MemFree + Buffers + Cached, as `free` did. */
static int read_meminfo(uint64_t *total, uint64_t *available)
{
    FILE *f = fopen("/proc/meminfo", "re");
    if (!f)
        return AL_EIO;
    unsigned long long mem_total = 0, mem_avail = 0, mem_free = 0, buffers = 0, cached = 0;
    int have_avail = 0;
    char line[256];
    while (fgets(line, sizeof line, f)) {
        unsigned long long kb;
        if (sscanf(line, "MemTotal: %llu kB", &kb) == 1)
            mem_total = kb;
        else if (sscanf(line, "MemAvailable: %llu kB", &kb) == 1)
            mem_avail = kb, have_avail = 1;
        else if (sscanf(line, "MemFree: %llu kB", &kb) == 1)
            mem_free = kb;
        else if (sscanf(line, "Buffers: %llu kB", &kb) == 1)
            buffers = kb;
        else if (sscanf(line, "Cached: %llu kB", &kb) == 1)
            cached = kb;
    }
    fclose(f);
    if (!mem_total)
        return AL_EIO;
    *total = (uint64_t)mem_total * 1024;
    *available = (uint64_t)(have_avail ? mem_avail : mem_free + buffers + cached) * 1024;
    return AL_OK;
}

/* PRETTY_NAME="Debian GNU/Linux 12 (bookworm)" from os-release(5), unquoted; "" if absent. */
static void read_distribution(char *buf, size_t len)
{
    buf[0] = '\0';
    FILE *f = fopen("/etc/os-release", "re");
    if (!f)
        f = fopen("/usr/lib/os-release", "re");
    if (!f)
        return;
    char line[256];
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "PRETTY_NAME=", 12) != 0)
            continue;
        char *v = line + 12;
        v[strcspn(v, "\r\n")] = '\0';
        size_t n = strlen(v);
        if (n >= 2 && (v[0] == '"' || v[0] == '\'') && v[n - 1] == v[0]) {
            v[n - 1] = '\0';
            v++;
        }
        size_t m = strlen(v) < len - 1 ? strlen(v) : len - 1;
        memcpy(buf, v, m);
        buf[m] = '\0';
        break;
    }
    fclose(f);
}

static void add_version(al_system_info *si, const char *name, const char *version)
{
    if (si->n_versions >= AL_SYSTEM_MAX_VERSIONS || !version)
        return;
    al_library_version *e = &si->versions[si->n_versions++];
    snprintf(e->name, sizeof e->name, "%s", name);
    snprintf(e->version, sizeof e->version, "%s", version);
}

/* CFITSIO's version call through the survey module's forwarder (src/survey/cfitsio.c), which
 * loads CFITSIO on first use and answers 0 without it. Weak: this file is also in the preload
 * library, which has no survey module (CMakeLists.txt); there it is NULL. */
extern float ali_ffvers(float *version) __attribute__((weak));

/* The libraries linked into libastrolab, one line each; later modules add theirs here, each
 * reporting the version it runs with, not the one it was built against. */
static void collect_versions(al_system_info *si)
{
    add_version(si, "astrolab", al_version());
    add_version(si, "cjson", cJSON_Version());
    float f = 0;
    if (ali_ffvers && ali_ffvers(&f) > 0) {
        /* MAJOR + MINOR / 100 + MICRO / 10000 as a float: 4.02 is 4.2.0. */
        long v = (long)((double)f * 10000.0 + 0.5);
        char fits[32];
        snprintf(fits, sizeof fits, "%ld.%ld.%ld", v / 10000, v / 100 % 100, v % 100);
        add_version(si, "cfitsio", fits);
    }
    add_version(si, "libmicrohttpd", MHD_get_version());
#if defined(ASTROLAB_BACKING_MIMALLOC)
    /* mi_version() is major * 100 + minor * 10 + patch (209 is 2.0.9). */
    char mi[32];
    int v = mi_version();
    snprintf(mi, sizeof mi, "%d.%d.%d", v / 100, (v % 100) / 10, v % 10);
    add_version(si, "mimalloc", mi);
#endif
    add_version(si, "glibc", gnu_get_libc_version());
}

const char *al_library_versions(char *buf, size_t len)
{
    if (!buf || !len)
        return NULL;
    al_system_info si; /* only n_versions and versions[] are used */
    si.n_versions = 0;
    collect_versions(&si);
    size_t n = 0;
    buf[0] = '\0';
    for (int i = 1; i < si.n_versions && n < len; i++) /* [0] is astrolab itself */
        n += (size_t)snprintf(buf + n, len - n, "%s%s %s", i > 1 ? ", " : "", si.versions[i].name,
                              si.versions[i].version);
    return buf;
}

/* Devices of the selected CUDA backend; a device whose query fails is left out. */
static void read_cuda(al_system_info *si)
{
    si->cuda_available = al_cuda_available() ? 1 : 0;
    snprintf(si->cuda_backend, sizeof si->cuda_backend, "%s", al_cuda_backend_name());
    snprintf(si->cuda_reason, sizeof si->cuda_reason, "%s", al_cuda_unavailable_reason());
    int n = si->cuda_available ? al_cuda_device_count() : 0;
    for (int i = 0; i < n && si->cuda_device_count < AL_CUDA_MAX_DEVICES; i++)
        if (al_cuda_device_info(i, &si->cuda_devices[si->cuda_device_count]) == AL_OK)
            si->cuda_device_count++;
}

int al_get_system_info(al_system_info *out)
{
    if (!out)
        return AL_EINVAL;
    al_system_info si;
    memset(&si, 0, sizeof si);
    int rc = read_meminfo(&si.ram_total_bytes, &si.ram_available_bytes);
    if (rc != AL_OK)
        return rc;
    if (gethostname(si.host, sizeof si.host) != 0)
        snprintf(si.host, sizeof si.host, "unknown");
    si.host[sizeof si.host - 1] = '\0';
    struct utsname u;
    if (uname(&u) == 0)
        snprintf(si.os, sizeof si.os, "%s %s %s", u.sysname, u.release, u.machine);
    else
        snprintf(si.os, sizeof si.os, "unknown (uname: %s)", strerror(errno));
    read_distribution(si.distribution, sizeof si.distribution);
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    si.cpus = n > 0 ? (int)n : 1;
    cpu_set_t set;
    si.cpus_usable = sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set) : si.cpus;
    (void)!al_process_rss(&si.rss_bytes, &si.peak_rss_bytes); /* 0 when unknown */
    si.backing = ali_memory_backing_name();
    collect_versions(&si);
    read_cuda(&si);
    *out = si;
    return AL_OK;
}

static bool add_cuda(cJSON *o, const al_system_info *si)
{
    cJSON *cuda = cJSON_AddObjectToObject(o, "cuda");
    bool ok = cuda != NULL;
    ok &= cJSON_AddBoolToObject(cuda, "available", si->cuda_available) != NULL;
    ok &= cJSON_AddStringToObject(cuda, "backend", si->cuda_backend) != NULL;
    ok &= cJSON_AddStringToObject(cuda, "reason", si->cuda_reason) != NULL;
    cJSON *devices = cJSON_AddArrayToObject(cuda, "devices");
    ok &= devices != NULL;
    for (int i = 0; ok && i < si->cuda_device_count; i++) {
        const al_cuda_device_props *d = &si->cuda_devices[i];
        cJSON *j = cJSON_CreateObject();
        if (!j || !cJSON_AddItemToArray(devices, j)) {
            cJSON_Delete(j);
            return false;
        }
        uint64_t used = d->total_bytes > d->free_bytes ? d->total_bytes - d->free_bytes : 0;
        ok &= cJSON_AddNumberToObject(j, "index", d->index) != NULL;
        ok &= cJSON_AddStringToObject(j, "name", d->name) != NULL;
        ok &= cJSON_AddStringToObject(j, "backend", d->backend) != NULL;
        ok &= cJSON_AddNumberToObject(j, "total_bytes", (double)d->total_bytes) != NULL;
        ok &= cJSON_AddNumberToObject(j, "free_bytes", (double)d->free_bytes) != NULL;
        ok &= cJSON_AddNumberToObject(j, "used_bytes", (double)used) != NULL;
    }
    return ok;
}

cJSON *ali_sysinfo_json(const al_system_info *si)
{
    if (!si)
        return NULL;
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    bool ok = cJSON_AddStringToObject(o, "host", si->host) != NULL;
    ok &= cJSON_AddStringToObject(o, "os", si->os) != NULL;
    ok &= cJSON_AddStringToObject(o, "distribution", si->distribution) != NULL;
    ok &= cJSON_AddNumberToObject(o, "cpus", si->cpus) != NULL;
    ok &= cJSON_AddNumberToObject(o, "cpus_usable", si->cpus_usable) != NULL;
    ok &= cJSON_AddNumberToObject(o, "ram_total_bytes", (double)si->ram_total_bytes) != NULL;
    ok &=
        cJSON_AddNumberToObject(o, "ram_available_bytes", (double)si->ram_available_bytes) != NULL;
    ok &= cJSON_AddNumberToObject(o, "rss_bytes", (double)si->rss_bytes) != NULL;
    ok &= cJSON_AddNumberToObject(o, "peak_rss_bytes", (double)si->peak_rss_bytes) != NULL;
    ok &= cJSON_AddStringToObject(o, "backing_allocator", si->backing ? si->backing : "") != NULL;
    cJSON *versions = cJSON_AddObjectToObject(o, "versions");
    ok &= versions != NULL;
    for (int i = 0; i < si->n_versions; i++)
        ok &= cJSON_AddStringToObject(versions, si->versions[i].name, si->versions[i].version) !=
              NULL;
    ok &= add_cuda(o, si);
    if (!ok) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

char *al_system_info_json(const al_system_info *si)
{
    return si ? ali_json_finish(ali_sysinfo_json(si), true) : NULL;
}
