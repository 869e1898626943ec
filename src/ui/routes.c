/* The dashboard's HTTP routes: a fixed table of (path, method, handler), the JSON read
 * endpoints, the actions, /metrics and the embedded page. Every route needs the token (reads
 * too, unless opened with al_ui_options.open_reads); the page and its files do not. It knows
 * nothing of the HTTP library: server.c parses requests into ali_ui_request, checks the token and
 * the body size, and sends the ali_ui_reply built here. Paths match exactly; anything else is 404,
 * so no request can name a file (there is no filesystem access here at all). */
#include <ctype.h>
#include <dlfcn.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "astrolab/astrolab.h"
#include "astrolab/cuda.h"
#include "astrolab/ui.h"
#include "memory/reports_int.h"
#include "panel_int.h"
#include "ui_int.h"
#include "util/json_int.h"

#define JSON_TYPE "application/json"
#define TEXT_TYPE "text/plain; charset=utf-8"
#define HTML_TYPE "text/html; charset=utf-8"
#define METRICS_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* The snapshot POST /api/snapshot diffs against. */
static struct {
    pthread_mutex_t lock; /* guards last */
    al_snapshot *last;    /* the previous dashboard snapshot, or NULL */
} snaps = {.lock = PTHREAD_MUTEX_INITIALIZER};

static const char oom_body[] = "{\"error\":{\"status\":503,\"message\":\"out of memory\"}}";

static void reply_oom(ali_ui_reply *out)
{
    free(out->body);
    *out = (ali_ui_reply){.status = 503,
                          .content_type = JSON_TYPE,
                          .static_body = (const unsigned char *)oom_body,
                          .len = sizeof oom_body - 1};
}

void ali_ui_reply_error(ali_ui_reply *out, unsigned status, const char *message)
{
    memset(out, 0, sizeof *out);
    cJSON *o = cJSON_CreateObject();
    cJSON *e = o ? cJSON_AddObjectToObject(o, "error") : NULL;
    bool ok = e && cJSON_AddNumberToObject(e, "status", status) &&
              cJSON_AddStringToObject(e, "message", message);
    char *s = ok ? ali_json_print(o, false) : NULL;
    cJSON_Delete(o);
    if (!s) {
        reply_oom(out);
        return;
    }
    *out = (ali_ui_reply){.status = status, .content_type = JSON_TYPE, .body = s, .len = strlen(s)};
}

/* Takes ownership of text (NULL: out of memory). */
static void reply_text(ali_ui_reply *out, const char *type, char *text)
{
    if (!text) {
        reply_oom(out);
        return;
    }
    *out = (ali_ui_reply){.status = 200, .content_type = type, .body = text, .len = strlen(text)};
}

/* Takes ownership of o (NULL: out of memory). */
static void reply_json(ali_ui_reply *out, cJSON *o)
{
    char *s = o ? ali_json_print(o, false) : NULL;
    cJSON_Delete(o);
    reply_text(out, JSON_TYPE, s);
}

/* A panel in the format asked by ?format=json|text|html (default json). */
static void reply_panel(const ali_ui_request *rq, ali_ui_reply *out, al_ui_panel *p)
{
    const char *f = rq->arg(rq, "format");
    al_ui_format fmt = AL_UI_JSON;
    const char *type = JSON_TYPE;
    if (f && strcmp(f, "text") == 0)
        fmt = AL_UI_TEXT, type = TEXT_TYPE;
    else if (f && strcmp(f, "html") == 0)
        fmt = AL_UI_HTML, type = HTML_TYPE;
    else if (f && strcmp(f, "json") != 0) {
        al_ui_panel_free(p);
        ali_ui_reply_error(out, 400, "format must be json, text or html");
        return;
    }
    /* The panels render JSON formatted; the API sends the model compact. */
    char *s = !p                  ? NULL
              : fmt == AL_UI_JSON ? ali_json_print(p->model, false)
                                  : al_ui_panel_render(p, fmt);
    al_ui_panel_free(p);
    reply_text(out, type, s);
}

/* Parses a whole decimal number in 0..max; false for anything else. */
static bool parse_u64(const char *s, uint64_t max, uint64_t *out)
{
    if (!s || !*s || *s == '-' || *s == '+')
        return false;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end || v > max)
        return false;
    *out = v;
    return true;
}

/* -------- Addresses. -------- */

/* Writes where `pc` lies without revealing where ASLR put it: "libfoo.so+0x1234" for an
 * address inside a loaded object (named by its file's base name), else "[address]". */
static void where_in_module(uintptr_t pc, char *buf, size_t len)
{
    Dl_info info;
    if (!dladdr((void *)pc, &info) || !info.dli_fname || !info.dli_fbase) {
        snprintf(buf, len, "[address]");
        return;
    }
    const char *slash = strrchr(info.dli_fname, '/');
    const char *name = slash ? slash + 1 : info.dli_fname;
    /* The name lands in JSON and HTML as is: keep it to characters neither escapes. */
    size_t n = strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._+-");
    if (n == 0 || name[n] != '\0')
        name = *info.dli_fname ? "?" : "main";
    snprintf(buf, len, "%s+%#" PRIxPTR, name, pc - (uintptr_t)info.dli_fbase);
}

/* Rewrites every hexadecimal number of 5 digits or more ("0x7f3a12c0") in the reply's body
 * with where_in_module: the diagnosis names a site by its code address when it has no symbol
 * (the "address" field, "address 0x..." in messages), in JSON, text and HTML alike. */
static void scrub_addresses(ali_ui_reply *out)
{
    if (!out->body)
        return;
    ali_strbuf b = {0};
    const char *s = out->body, *done = s;
    for (const char *p = s; *p; p++) {
        if (p[0] != '0' || (p[1] != 'x' && p[1] != 'X') || (p > s && isalnum((unsigned char)p[-1])))
            continue;
        size_t n = strspn(p + 2, "0123456789abcdefABCDEF");
        if (n < 5 || n > 16 || isalnum((unsigned char)p[2 + n]))
            continue;
        char where[96];
        where_in_module((uintptr_t)strtoull(p + 2, NULL, 16), where, sizeof where);
        ali_strbuf_append(&b, done, (size_t)(p - done));
        ali_strbuf_append(&b, where, strlen(where));
        p += 1 + n;
        done = p + 1;
    }
    if (done == s)
        return;
    ali_strbuf_append(&b, done, strlen(done));
    char *t = ali_strbuf_take(&b);
    if (!t) {
        reply_oom(out);
        return;
    }
    free(out->body);
    out->body = t;
    out->len = strlen(t);
}

/* -------- Read endpoints. -------- */

static void get_stats(const ali_ui_request *rq, ali_ui_reply *out)
{
    (void)rq;
    reply_text(out, JSON_TYPE, al_memory_stats_json());
}

static void get_diagnosis(const ali_ui_request *rq, ali_ui_reply *out)
{
    (void)rq;
    al_diagnosis *d = al_diagnose_memory_leaks();
    char *s = d ? al_diagnosis_json(d) : NULL;
    al_diagnosis_free(d);
    reply_text(out, JSON_TYPE, s);
}

static void get_system(const ali_ui_request *rq, ali_ui_reply *out)
{
    reply_panel(rq, out, al_ui_system_status());
}

static void get_memory(const ali_ui_request *rq, ali_ui_reply *out)
{
    reply_panel(rq, out, al_ui_memory_management());
}

static void get_widget(const ali_ui_request *rq, ali_ui_reply *out)
{
    (void)rq;
    reply_text(out, JSON_TYPE, al_widget_status_json());
}

static void get_timeline(const ali_ui_request *rq, ali_ui_reply *out)
{
    uint64_t since = 0, max = 0;
    const char *a = rq->arg(rq, "since"), *m = rq->arg(rq, "max");
    if (a && !parse_u64(a, UINT64_MAX, &since)) {
        ali_ui_reply_error(out, 400, "since must be a whole number (a sample's seq)");
        return;
    }
    if (m && !parse_u64(m, 1000000, &max)) {
        ali_ui_reply_error(out, 400, "max must be a whole number from 0 to 1000000");
        return;
    }
    reply_json(out, ali_timeline_json(since, (size_t)max));
}

static void get_metrics(const ali_ui_request *rq, ali_ui_reply *out)
{
    (void)rq;
    reply_text(out, METRICS_TYPE, al_ui_metrics_text());
}

/* -------- Actions (the token was checked by the dispatcher). -------- */

static void post_cleanup(const ali_ui_request *rq, ali_ui_reply *out)
{
    (void)rq;
    al_cleanup_result r = al_force_comprehensive_cleanup();
    al_log(AL_LOG_INFO, "astrolab.ui", "dashboard: force cleanup ran %llu release functions",
           (unsigned long long)r.callbacks_run);
    reply_text(out, JSON_TYPE, al_cleanup_result_json(&r));
}

static void post_empty_cache(const ali_ui_request *rq, ali_ui_reply *out)
{
    (void)rq;
    int available = al_cuda_available();
    uint64_t released = available ? al_cuda_empty_cache() : 0;
    al_cuda_stats st;
    if (al_cuda_memory_stats(AL_CUDA_ALL_DEVICES, &st) != AL_OK)
        memset(&st, 0, sizeof st);
    cJSON *o = cJSON_CreateObject();
    bool ok = o && cJSON_AddBoolToObject(o, "cuda_available", available);
    ok = ok && cJSON_AddNumberToObject(o, "bytes_released", (double)released);
    ok = ok && cJSON_AddNumberToObject(o, "allocated_bytes", (double)st.allocated_bytes);
    ok = ok && cJSON_AddNumberToObject(o, "reserved_bytes", (double)st.reserved_bytes);
    if (!ok) {
        cJSON_Delete(o);
        o = NULL;
    }
    reply_json(out, o);
}

static void post_reset_peak(const ali_ui_request *rq, ali_ui_reply *out)
{
    (void)rq;
    al_reset_peak_memory_stats();
    reply_text(out, JSON_TYPE, al_memory_stats_json());
}

/* Takes a snapshot; replies with its totals and the diagnosis of the change since the previous
 * dashboard snapshot (since the process start for the first). */
static void post_snapshot(const ali_ui_request *rq, ali_ui_reply *out)
{
    (void)rq;
    al_snapshot *now = al_memory_snapshot();
    if (!now) {
        reply_oom(out);
        return;
    }
    pthread_mutex_lock(&snaps.lock);
    al_snapshot *prev = snaps.last;
    al_diagnosis *d = al_snapshot_diff(prev, now);
    cJSON *dj = ali_diagnosis_cjson(d);
    al_diagnosis_free(d);
    if (!dj) {
        pthread_mutex_unlock(&snaps.lock);
        al_snapshot_free(now);
        reply_oom(out);
        return;
    }
    snaps.last = now;
    pthread_mutex_unlock(&snaps.lock);
    al_snapshot_free(prev);
    uint64_t bytes = 0, blocks = 0;
    (void)!al_snapshot_totals(now, &bytes, &blocks);
    cJSON *o = cJSON_CreateObject();
    bool ok = o && cJSON_AddNumberToObject(o, "bytes", (double)bytes);
    ok = ok && cJSON_AddNumberToObject(o, "blocks", (double)blocks);
    ok = ok && cJSON_AddBoolToObject(o, "since_previous", prev != NULL);
    if (ok && cJSON_AddItemToObject(o, "diff", dj))
        dj = NULL;
    else
        ok = false;
    cJSON_Delete(dj);
    if (!ok) {
        cJSON_Delete(o);
        o = NULL;
    }
    reply_json(out, o);
}

static void post_log_level(const ali_ui_request *rq, ali_ui_reply *out)
{
    const char *name = rq->arg(rq, "name"), *level = rq->arg(rq, "level");
    if (!name)
        name = "astrolab";
    al_log_level lv;
    if (!level || al_log_level_parse(level, &lv) != AL_OK) {
        ali_ui_reply_error(out, 400, "level must be one of debug, info, warning, error, off");
        return;
    }
    if (al_log_set_level(name, lv) != AL_OK) {
        ali_ui_reply_error(out, 400,
                           "name must be a logger name such as astrolab.memory "
                           "(dot-separated letters, digits, '_' and '-')");
        return;
    }
    cJSON *o = cJSON_CreateObject();
    bool ok = o && cJSON_AddStringToObject(o, "name", name);
    ok = ok && cJSON_AddStringToObject(o, "level", al_log_level_name(al_log_get_level(name)));
    if (!ok) {
        cJSON_Delete(o);
        o = NULL;
    }
    reply_json(out, o);
}

void ali_ui_routes_reset(void)
{
    pthread_mutex_lock(&snaps.lock);
    al_snapshot *s = snaps.last;
    snaps.last = NULL;
    pthread_mutex_unlock(&snaps.lock);
    al_snapshot_free(s);
}

/* -------- Dispatch. -------- */

static const struct route {
    const char *path;
    bool post; /* POST (an action, needs the token); else GET and HEAD */
    void (*handler)(const ali_ui_request *rq, ali_ui_reply *out);
    bool sites; /* the reply names allocation sites: scrub_addresses */
    bool slow;  /* ali_ui_route_is_slow */
} routes[] = {
    {"/api/stats", false, get_stats, false, false},
    {"/api/diagnosis", false, get_diagnosis, true, true},
    {"/api/system", false, get_system, false, true},
    {"/api/memory", false, get_memory, true, true},
    {"/api/widget", false, get_widget, false, false},
    {"/api/timeline", false, get_timeline, false, false},
    {"/metrics", false, get_metrics, false, false},
    {"/api/cleanup", true, post_cleanup, false, true},
    {"/api/cuda/empty_cache", true, post_empty_cache, false, true},
    {"/api/reset_peak", true, post_reset_peak, false, false},
    {"/api/snapshot", true, post_snapshot, true, true},
    {"/api/log_level", true, post_log_level, false, false},
};

bool ali_ui_route_is_slow(const char *path)
{
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++)
        if (strcmp(routes[i].path, path) == 0)
            return routes[i].slow;
    return false;
}

void ali_ui_route(const ali_ui_request *rq, ali_ui_reply *out)
{
    memset(out, 0, sizeof *out);
    bool get = strcmp(rq->method, "GET") == 0 || strcmp(rq->method, "HEAD") == 0;
    bool post = strcmp(rq->method, "POST") == 0;
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
        if (strcmp(routes[i].path, rq->path) != 0)
            continue;
        if (routes[i].post ? !post : !get) {
            ali_ui_reply_error(out, 405,
                               routes[i].post ? "use POST for this action"
                                              : "use GET for this endpoint");
            out->allow = routes[i].post ? "POST" : "GET, HEAD";
            return;
        }
        if (routes[i].post && !rq->token_ok) {
            ali_ui_reply_error(out, 403,
                               "actions need the dashboard's token: ?token=TOKEN or "
                               "Authorization: Bearer TOKEN");
            return;
        }
        if (!rq->token_ok && !rq->open_reads) {
            ali_ui_reply_error(out, 403,
                               "the dashboard's figures need its token: ?token=TOKEN or "
                               "Authorization: Bearer TOKEN");
            return;
        }
        routes[i].handler(rq, out);
        if (routes[i].sites)
            scrub_addresses(out);
        return;
    }
    const ali_ui_asset *a = ali_ui_asset_find(rq->path);
    if (a) {
        if (!get) {
            ali_ui_reply_error(out, 405, "use GET for the page and its files");
            out->allow = "GET, HEAD";
            return;
        }
        *out = (ali_ui_reply){.status = 200,
                              .content_type = a->content_type,
                              .static_body = a->data,
                              .len = a->len};
        return;
    }
    ali_ui_reply_error(out, 404, "no such endpoint or file");
}
