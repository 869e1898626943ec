/* Internals of the UI module shared between src/ui/ files and the astrolab CLI: what the
 * system status panel shows (host, OS, CPUs, RAM, process RSS, library versions). Never
 * installed; the CLI links the static library to reach it. */
#ifndef ASTROLAB_UI_INT_H
#define ASTROLAB_UI_INT_H

#include <stdint.h> /* uint64_t */

#include <cjson/cJSON.h> /* ali_sysinfo_json */

#include "astrolab/cuda.h" /* al_cuda_device_props, AL_CUDA_MAX_DEVICES */

/* -------- System information (sysinfo.c): reads the OS, never allocates tracked memory.
 * Every call is thread-safe: each reads the OS afresh into the caller's struct. The CUDA part
 * asks <astrolab/cuda.h>, which selects its backend on first use (ASTROLAB_CUDA_BACKEND). */

#define ALI_SYSINFO_MAX_VERSIONS 16

/* One linked library and its version, both static strings or copies in the struct. */
typedef struct ali_version_entry {
    char name[24];    /* "astrolab", "cjson", "mimalloc", "glibc", ... */
    char version[32]; /* as the library reports it at run time */
} ali_version_entry;

typedef struct ali_sysinfo {
    char host[256];               /* gethostname() */
    char os[256];                 /* uname: "Linux 6.1.0-18-amd64 x86_64" */
    char distribution[128];       /* PRETTY_NAME of /etc/os-release; "" when unknown */
    int cpus;                     /* online processors */
    int cpus_usable;              /* processors this process may run on (affinity mask) */
    uint64_t ram_total_bytes;     /* MemTotal of /proc/meminfo */
    uint64_t ram_available_bytes; /* MemAvailable of /proc/meminfo */
    uint64_t rss_bytes;           /* this process's resident set size */
    uint64_t peak_rss_bytes;      /* its peak */
    const char *backing;          /* backing allocator under the manager: "mimalloc", "system" */
    int n_versions;               /* entries used in versions[] */
    ali_version_entry versions[ALI_SYSINFO_MAX_VERSIONS];
    int cuda_available;    /* al_cuda_available(): a backend with a device is selected */
    char cuda_backend[8];  /* "driver", "sim" or "none" */
    char cuda_reason[160]; /* why CUDA is not available; "" when it is */
    int cuda_device_count; /* entries used in cuda_devices[] */
    al_cuda_device_props cuda_devices[AL_CUDA_MAX_DEVICES]; /* name, total and free bytes */
} ali_sysinfo;

/* Fills *out from the OS. Returns AL_OK, AL_EINVAL for NULL, or AL_EIO when /proc/meminfo
 * cannot be read (then *out is left unchanged). */
int ali_sysinfo_get(ali_sysinfo *out);

/* The JSON object of `astrolab status --json` and /api/system: host, os, distribution, cpus,
 * cpus_usable, ram_total_bytes, ram_available_bytes, rss_bytes, peak_rss_bytes,
 * backing_allocator, versions {name: version}, cuda {available, backend, reason, devices:
 * [{index, name, backend, total_bytes, free_bytes, used_bytes}]}. The caller owns the result
 * (cJSON_Delete). NULL for NULL or when out of memory. */
cJSON *ali_sysinfo_json(const ali_sysinfo *si);

#endif
