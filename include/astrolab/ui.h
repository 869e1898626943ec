/* AstroLab UI: the memory management panel, the system status panel, the widget status, and a
 * live web dashboard served from inside the host process.
 *
 * Panels are models: built once from the manager's figures, then rendered as text (for a
 * terminal), HTML (a fragment for a page) or JSON, all three from the same model, so the three
 * never disagree.
 *
 *     al_ui_panel *p = al_ui_memory_management();
 *     char *text = al_ui_panel_render(p, AL_UI_TEXT);
 *     fputs(text, stdout);
 *     free(text);
 *     al_ui_panel_free(p);
 *
 * The dashboard is an HTTP server (GNU libmicrohttpd) in a background thread with a sampler
 * thread beside it that records the memory figures into a ring buffer (the timeline):
 *
 *     al_ui_options o;
 *     al_ui_options_init(&o);
 *     o.port = 8765;
 *     if (al_ui_serve(&o, &err) == AL_OK) {
 *         char *url = al_ui_url();          // "http://127.0.0.1:8765/?token=..."
 *         printf("dashboard: %s\n", url);   // the library never prints: the program does
 *         free(url);
 *     }
 *     ...
 *     al_ui_stop();
 *
 * It binds 127.0.0.1 unless told otherwise, and logs a WARNING (logger astrolab.ui) when bound
 * to any other address. Every endpoint, reads and /metrics included, needs the random token of
 * the URL, as `?token=` or `Authorization: Bearer TOKEN` (a Prometheus scrape sends it as a
 * bearer token), else 403; only the page and its files are served without it (they hold no
 * figures; the page reads the token from its own URL). Setting open_reads lets GET and HEAD
 * requests through without the token; actions always need it. Code addresses are never sent:
 * a site with no symbol is shown as module+offset ("libfoo.so+0x1234"), so replies do not
 * reveal where ASLR placed the program.
 *
 * Endpoints. GET: / (the page), /api/stats, /api/diagnosis, /api/system, /api/widget,
 * /api/timeline[?since=SEQ], /api/memory (the memory panel's JSON), /metrics (Prometheus text).
 * POST: /api/cleanup, /api/cuda/empty_cache, /api/snapshot, /api/reset_peak,
 * /api/log_level?name=LOGGER&level=LEVEL. Errors are JSON {"error": {"status", "message"}}:
 * 400 bad argument (also: two Host or Content-Length headers, a Content-Length that is not a
 * whole number), 403 no or wrong token, 404 unknown path, 405 wrong method (with Allow), 413
 * body over 4 KiB. Nothing outside the assets compiled into the library is ever served.
 *
 * Load. A pool of 4 server threads serves up to 1024 connections (bound beyond loopback, at
 * most 64 from one client address), and closes a connection idle for 10 s, so idle or slow clients
 * cannot lock others out. Slow requests (a diagnosis, /api/system, the actions that release memory)
 * are answered by 2 worker threads while their connection waits, so they never hold up the fast
 * ones.
 *
 * Memory. Panels, the timeline, the server and its replies use the C library's allocator, not
 * the tracked one: tracked, a dashboard polling the figures would show up in them. A request to
 * /api/diagnosis or /api/memory takes a diagnosis sample (see <astrolab/diagnosis.h>). */
#ifndef ASTROLAB_UI_H
#define ASTROLAB_UI_H

#include <stdint.h> /* uint16_t, uint32_t, uint64_t */

#include "astrolab/cuda.h"  /* al_cuda_device_props, AL_CUDA_MAX_DEVICES */
#include "astrolab/defs.h"  /* AL_API and attributes */
#include "astrolab/error.h" /* al_error */

#ifdef __cplusplus
extern "C" {
#endif

/* -------- Panels: thread-safe; a panel is immutable once built. -------- */
typedef struct al_ui_panel al_ui_panel;

typedef enum al_ui_format {
    AL_UI_TEXT = 0, /* plain text for a terminal, lines of at most 100 columns */
    AL_UI_HTML = 1, /* an HTML fragment (<section class="al-panel">), every value escaped */
    AL_UI_JSON = 2, /* the model itself, as a JSON object */
} al_ui_format;

/* The memory management panel: "stats" (as al_memory_stats_json), "timeline" (the sampler's
 * last minute, or one sample taken now when no dashboard runs), "top_consumers" and
 * "recommendations" (a diagnosis taken now), "registry" {"registrations"}, "log_levels" and
 * "actions" [{"name", "method", "path", "description"}]. Free with al_ui_panel_free; NULL when
 * out of memory. */
AL_API AL_NODISCARD al_ui_panel *al_ui_memory_management(void);
/* The system status panel: "host", "os", "distribution", "cpus", "cpus_usable",
 * "ram_total_bytes", "ram_available_bytes", "rss_bytes", "peak_rss_bytes",
 * "backing_allocator", "versions" {name: version}, "cuda" {"available", "backend", "reason",
 * "devices": [{"index", "name", "backend", "total_bytes", "free_bytes", "used_bytes"}]} and
 * "controls" (the memory actions, as in the memory panel). Free with al_ui_panel_free; NULL
 * when out of memory or /proc/meminfo cannot be read. */
AL_API AL_NODISCARD al_ui_panel *al_ui_system_status(void);
/* "memory_management" or "system_status"; static. NULL for NULL. */
AL_API const char *al_ui_panel_name(const al_ui_panel *p);
/* Renders p; free() the result. NULL for NULL, an unknown format, or out of memory. */
AL_API AL_NODISCARD char *al_ui_panel_render(const al_ui_panel *p, al_ui_format format);
/* Frees p; NULL does nothing. */
AL_API void al_ui_panel_free(al_ui_panel *p);

/* -------- System information: thread-safe; each call reads the OS afresh into the caller's
 * record and allocates no tracked memory, so looking does not disturb the figures. The CUDA
 * part asks <astrolab/cuda.h>, which selects its backend on first use. -------- */

/* Entries of al_system_info.versions. */
#define AL_SYSTEM_MAX_VERSIONS 16

/* One library libastrolab runs with, at its run-time version. */
typedef struct al_library_version {
    char name[24];    /* "astrolab", "cjson", "cfitsio", "libmicrohttpd", "mimalloc", "glibc" */
    char version[32]; /* as the library reports it at run time: "1.7.15" */
} al_library_version;

/* The machine and this process, as `astrolab status` and al_ui_system_status show them. */
typedef struct al_system_info {
    char host[256];               /* gethostname(); "unknown" when it fails */
    char os[256];                 /* uname: "Linux 6.1.0-18-amd64 x86_64" */
    char distribution[128];       /* PRETTY_NAME of /etc/os-release; "" when unknown */
    int cpus;                     /* online processors */
    int cpus_usable;              /* processors this process may run on (affinity mask) */
    uint64_t ram_total_bytes;     /* bytes: MemTotal of /proc/meminfo */
    uint64_t ram_available_bytes; /* bytes: MemAvailable of /proc/meminfo */
    uint64_t rss_bytes;           /* bytes: this process's resident set; 0 when unknown */
    uint64_t peak_rss_bytes;      /* bytes: its peak; 0 when unknown */
    const char *backing;          /* static: allocator under the manager, "mimalloc" or "system" */
    int n_versions;               /* entries used in versions[]; [0] is astrolab itself */
    al_library_version versions[AL_SYSTEM_MAX_VERSIONS];
    int cuda_available;    /* 1: al_cuda_available(), a backend with a device is selected */
    char cuda_backend[8];  /* "driver", "sim" or "none" */
    char cuda_reason[160]; /* why CUDA is not available; "" when it is */
    int cuda_device_count; /* entries used in cuda_devices[] (a device whose query fails is
                              left out) */
    al_cuda_device_props cuda_devices[AL_CUDA_MAX_DEVICES]; /* name, total and free bytes */
} al_system_info;

/* Fills *out from the OS. Returns AL_OK, AL_EINVAL for NULL, or AL_EIO when /proc/meminfo
 * cannot be read (then *out is left unchanged). */
AL_API AL_NODISCARD int al_get_system_info(al_system_info *out);
/* *si as the JSON object of `astrolab status --json` and /api/system: "host", "os",
 * "distribution", "cpus", "cpus_usable", "ram_total_bytes", "ram_available_bytes", "rss_bytes",
 * "peak_rss_bytes", "backing_allocator", "versions" {name: version}, "cuda" {"available",
 * "backend", "reason", "devices": [{"index", "name", "backend", "total_bytes", "free_bytes",
 * "used_bytes"}]}. free() it; NULL for NULL or out of memory. */
AL_API AL_NODISCARD char *al_system_info_json(const al_system_info *si);

/* -------- Widget status: thread-safe. -------- */
typedef struct al_widget_status {
    int available;      /* 1: this build can serve the dashboard (HTTP server linked in) */
    int cuda_available; /* 1: al_cuda_available() */
    int serving;        /* 1: the dashboard is being served now */
    uint16_t port;      /* its port while serving, else 0 */
} al_widget_status;

/* Fills *out. Returns AL_OK, or AL_EINVAL for NULL. */
AL_API AL_NODISCARD int al_get_widget_status(al_widget_status *out);
/* The widget status as JSON {"available", "cuda_available", "serving", "port"}; free() it.
 * NULL when out of memory. */
AL_API AL_NODISCARD char *al_widget_status_json(void);

/* -------- The dashboard: al_ui_serve and al_ui_stop are serialized with each other; the
 * accessors are thread-safe. One dashboard per process. -------- */
typedef struct al_ui_options {
    const char *host;            /* IPv4 or IPv6 literal to bind; NULL: "127.0.0.1" */
    uint16_t port;               /* 0: any free port (read it back with al_ui_port) */
    uint32_t sample_interval_ms; /* timeline sampling period, 10..60000 (250: 4 per second) */
    uint32_t timeline_capacity;  /* samples kept, 16..1000000 (2400: 10 min at 4/s) */
    const char *token;           /* NULL: 32 random hex digits; else 16..64 of [A-Za-z0-9_-] */
    int open_reads;              /* 1: GET/HEAD need no token (actions still do); default 0 */
    int listen_fd; /* a bound, listening TCP socket to serve on instead of binding host and port:
                      closed when the dashboard stops, the caller's still when al_ui_serve
                      fails; -1 (default; 0, standard input, also means none) */
} al_ui_options;

/* Fills *o with the defaults above. NULL does nothing. */
AL_API void al_ui_options_init(al_ui_options *o);
/* Starts the sampler and the HTTP server in background threads; `opts` may be NULL (defaults)
 * and its strings are copied. Returns AL_OK; AL_EINVAL (bad option, named in err), AL_ESTATE
 * (already serving), AL_EUI (cannot bind or start: address in use...; err says why),
 * AL_ENOMEM. `err` may be NULL. */
AL_API AL_NODISCARD int al_ui_serve(const al_ui_options *opts, al_error *err);
/* Stops the server (finishing replies under way) and the sampler and forgets the token.
 * Returns AL_OK, or AL_ESTATE when nothing is being served. */
AL_API int al_ui_stop(void);
/* The dashboard's URL with its token ("http://127.0.0.1:8765/?token=..."; IPv6 hosts in
 * brackets); free() it. NULL when not serving or out of memory. */
AL_API AL_NODISCARD char *al_ui_url(void);
/* The bound port, or 0 when not serving. */
AL_API uint16_t al_ui_port(void);

/* -------- The timeline: the sampler's ring buffer, thread-safe. -------- */

/* The samples newer than sequence number `since` (0: all kept) as JSON {"interval_ms",
 * "capacity", "next", "samples": [{"seq", "t_ms", "current_bytes", "peak_bytes",
 * "live_blocks", "rss_bytes", "cuda_allocated_bytes", "cuda_reserved_bytes"}]}, oldest first;
 * t_ms is milliseconds since the Unix epoch. With no sampler running, samples is empty. free()
 * the result; NULL when out of memory. */
AL_API AL_NODISCARD char *al_ui_timeline_json(uint64_t since);

/* Prometheus text exposition (format 0.0.4) of the process and the manager: process_* metrics
 * and astrolab_* metrics, each with # HELP and # TYPE. free() it; NULL when out of memory. */
AL_API AL_NODISCARD char *al_ui_metrics_text(void);

#ifdef __cplusplus
}
#endif
#endif /* ASTROLAB_UI_H */
