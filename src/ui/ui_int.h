/* Internals of the UI module shared between src/ui/ files: the system panel's model, text
 * buffers, the timeline, assets, routes and the server's parts. Never installed. */
#ifndef ASTROLAB_UI_INT_H
#define ASTROLAB_UI_INT_H

#include <stdbool.h> /* bool */
#include <stddef.h>  /* size_t */
#include <stdint.h>  /* uint64_t */

#include <cjson/cJSON.h> /* ali_sysinfo_json */

#include "astrolab/defs.h" /* AL_PRINTF */
#include "astrolab/ui.h"   /* al_system_info */

/* -------- System information (sysinfo.c): al_get_system_info of <astrolab/ui.h>, and the
 * model behind al_system_info_json and the system panel. -------- */

/* *si as the JSON object al_system_info_json prints. The caller owns the result
 * (cJSON_Delete). NULL for NULL or when out of memory. */
cJSON *ali_sysinfo_json(const al_system_info *si);

/* -------- Text buffers (strbuf.c): growable strings in the C library's heap (untracked, see
 * <astrolab/ui.h>). After a failed append the buffer is marked failed and later appends do
 * nothing; ali_strbuf_take then returns NULL. -------- */
typedef struct ali_strbuf {
    char *data;  /* NUL-terminated while not failed */
    size_t len;  /* bytes used, NUL excluded */
    size_t cap;  /* bytes allocated */
    bool failed; /* an allocation failed */
} ali_strbuf;

void ali_strbuf_printf(ali_strbuf *b, const char *fmt, ...) AL_PRINTF(2, 3);
void ali_strbuf_append(ali_strbuf *b, const char *s, size_t n);
/* Appends s with &, <, >, " and ' escaped for HTML text and attributes. */
void ali_strbuf_html(ali_strbuf *b, const char *s);
/* The string (the caller frees it), or NULL when an append failed; the buffer is emptied. */
char *ali_strbuf_take(ali_strbuf *b);
void ali_strbuf_release(ali_strbuf *b);

/* -------- Timeline (timeline.c): the sampler thread and its ring buffer. -------- */

/* One sample of the figures the dashboard charts. */
typedef struct ali_ui_sample {
    uint64_t seq;           /* 1, 2, ...: never reused while the process lives */
    uint64_t t_ms;          /* ms since the Unix epoch */
    uint64_t current_bytes; /* al_memory_stats fields at that moment */
    uint64_t peak_bytes;
    uint64_t live_blocks;
    uint64_t rss_bytes;
    uint64_t cuda_allocated_bytes;
    uint64_t cuda_reserved_bytes;
} ali_ui_sample;

/* Starts the sampler (one sample at once, then every interval_ms). Returns AL_OK, AL_ESTATE
 * when running, AL_ENOMEM, AL_EUI (thread creation failed). */
int ali_timeline_start(uint32_t interval_ms, uint32_t capacity);
/* Stops the sampler and frees the ring; nothing when it is not running. */
void ali_timeline_stop(void);
/* Takes one sample of the figures now (seq 0). */
void ali_timeline_sample_now(ali_ui_sample *out);
/* The samples with seq > since, at most `max` of the newest (0: no cap), as the JSON object of
 * al_ui_timeline_json. NULL when out of memory. */
cJSON *ali_timeline_json(uint64_t since, size_t max);

/* -------- Embedded assets (assets.c and the generated ui_assets_data.c). -------- */
typedef struct ali_ui_asset {
    const char *path;          /* "/", "/app.js", "/vendor/uPlot.iife.min.js" */
    const char *content_type;  /* "text/html; charset=utf-8" ... */
    const unsigned char *data; /* the file's bytes, compiled in */
    size_t len;                /* bytes */
} ali_ui_asset;

/* The asset whose path is exactly `path`, or NULL. Never touches the filesystem. */
const ali_ui_asset *ali_ui_asset_find(const char *path);

/* -------- Panels (panel.c): the models behind al_ui_memory_management and
 * al_ui_system_status, also used by the HTTP routes. -------- */

/* The memory actions, as the "actions" / "controls" array of the panels. */
cJSON *ali_ui_actions_json(void);
/* The memory panel's model, with at most `timeline_max` samples. NULL when out of memory. */
cJSON *ali_ui_memory_model(size_t timeline_max);

/* -------- Prometheus exposition (metrics.c). -------- */
/* Appends the whole exposition to b. */
void ali_ui_metrics_write(ali_strbuf *b);

/* -------- HTTP routes (routes.c), independent of the server library (server.c). -------- */

/* Largest request body accepted; larger gets 413. No route reads a body: arguments travel in
 * the query string. */
#define ALI_UI_BODY_MAX 4096
#define ALI_UI_STR_(x) #x
#define ALI_UI_STR(x) ALI_UI_STR_(x)
/* The message of that 413, from the gate (gate.c) or the server (server.c), whichever sees it. */
#define ALI_UI_BODY_TOO_LARGE                                                                      \
    "request body too large (at most " ALI_UI_STR(ALI_UI_BODY_MAX) " bytes)"

typedef struct ali_ui_request {
    const char *method; /* "GET", "HEAD", "POST", ... */
    const char *path;   /* URL path, query string excluded, percent-decoded */
    bool token_ok;      /* the request carried the right token */
    bool open_reads;    /* GET and HEAD of the routes need no token (al_ui_options.open_reads) */
    /* Query argument `key` (decoded), or NULL when absent. */
    const char *(*arg)(const struct ali_ui_request *rq, const char *key);
    void *conn; /* the server's connection, for arg */
} ali_ui_request;

typedef struct ali_ui_reply {
    unsigned status;                  /* HTTP status */
    const char *content_type;         /* static string */
    char *body;                       /* owned (free()), or NULL with static_body */
    const unsigned char *static_body; /* an embedded asset */
    size_t len;                       /* bytes of the body */
    const char *allow;                /* for 405: the Allow header; else NULL */
} ali_ui_reply;

/* Whether the route at `path` may take milliseconds or more (a diagnosis, /proc, release
 * functions): server.c answers those on a worker thread. */
bool ali_ui_route_is_slow(const char *path);
/* Answers rq: always fills *out (a JSON error when out of memory, with a static body). */
void ali_ui_route(const ali_ui_request *rq, ali_ui_reply *out);
/* Fills *out with the JSON error {"error": {"status", "message"}}. */
void ali_ui_reply_error(ali_ui_reply *out, unsigned status, const char *message);
/* Forgets the snapshot kept by POST /api/snapshot (al_ui_stop calls it). */
void ali_ui_routes_reset(void);

/* Marks the calling thread as one of the dashboard's (server.c): under `astrolab run --ui` its
 * malloc-family calls are not counted as the program's. */
void ali_ui_own_thread(void);

struct MHD_Connection;
/* Per-request state, from the first call of the handler to the completion callback. */
typedef struct ali_ui_pending {
    size_t body;  /* body bytes received */
    bool too_big; /* body over ALI_UI_BODY_MAX: the rest is discarded, then 413 */
    /* A slow route runs on a worker while the connection is suspended (workers.c). */
    struct ali_ui_pending *next; /* in the workers' queue */
    struct MHD_Connection *conn;
    ali_ui_request rq;  /* what the worker answers */
    ali_ui_reply reply; /* the worker's answer, sent once the connection resumes */
    _Atomic bool ready; /* reply is filled: the handler's next call sends it */
} ali_ui_pending;
/* workers.c: slow routes answered on worker threads while their connection is suspended. */
int ali_ui_workers_start(void);
/* Lets the workers finish what is queued (resuming each connection), then joins them. */
void ali_ui_workers_stop(void);
/* Queues st (route rq) for a worker, suspending connection c; false when the workers are
 * stopping (the caller answers on its own thread). */
bool ali_ui_offload(ali_ui_pending *st, struct MHD_Connection *c, const ali_ui_request *rq);

/* gate.c: the front door. Takes ownership of listen_fd (bound and listening) and hands each
 * connection whose request head is complete and sound to `daemon` (MHD_add_connection); at
 * most per_ip waiting connections from one address (0: no limit). AL_OK, AL_EIO or AL_ENOMEM
 * (listen_fd is then still the caller's). */
struct MHD_Daemon;
int ali_ui_gate_start(int listen_fd, struct MHD_Daemon *daemon, unsigned per_ip);
/* Stops the gate's thread, closing the listening socket and the connections still waiting. */
void ali_ui_gate_stop(void);

#endif
