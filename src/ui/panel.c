/* The UI's two panels as models: al_ui_memory_management (stats, timeline, top consumers,
 * recommendations, registry, log levels, actions) and al_ui_system_status (host, OS, CPUs, RAM,
 * process RSS, CUDA devices, versions, controls). A model is a cJSON tree built once; the JSON
 * rendering prints it and panel_render.c renders text and HTML from the same tree. System
 * figures come from sysinfo.c, the timeline from timeline.c. Models live in the C library's
 * heap (see <astrolab/ui.h>: the dashboard must not show up in its own figures). */
#include <stdlib.h>
#include <string.h>

#include "astrolab/astrolab.h"
#include "astrolab/ui.h"
#include "memory/reports_int.h"
#include "panel_int.h"
#include "ui_int.h"
#include "util/json_int.h"

/* The actions both panels offer: name, HTTP method and path, what it does. */
static const struct {
    const char *name, *method, *path, *description;
} actions[] = {
    {"force_cleanup", "POST", "/api/cleanup",
     "run every release function, empty the CUDA cache, return free memory to the OS"},
    {"empty_cuda_cache", "POST", "/api/cuda/empty_cache",
     "give the CUDA caching allocator's free segments back to the device"},
    {"reset_peak", "POST", "/api/reset_peak", "set the peak figures to the current ones"},
    {"snapshot", "POST", "/api/snapshot",
     "take a snapshot; reply: the diagnosis of the change since the previous one"},
    {"set_log_level", "POST", "/api/log_level?name=LOGGER&level=LEVEL",
     "set a logger's level (debug, info, warning, error, off)"},
};

const char *const ali_ui_loggers[ALI_UI_N_LOGGERS] = {
    "astrolab", "astrolab.memory", "astrolab.cuda", "astrolab.tensors", "astrolab.ui",
};

cJSON *ali_ui_actions_json(void)
{
    cJSON *arr = cJSON_CreateArray();
    for (size_t i = 0; arr && i < sizeof actions / sizeof actions[0]; i++) {
        cJSON *o = cJSON_CreateObject();
        if (!o || !cJSON_AddItemToArray(arr, o)) {
            cJSON_Delete(o);
            cJSON_Delete(arr);
            return NULL;
        }
        bool ok = cJSON_AddStringToObject(o, "name", actions[i].name) != NULL;
        ok &= cJSON_AddStringToObject(o, "method", actions[i].method) != NULL;
        ok &= cJSON_AddStringToObject(o, "path", actions[i].path) != NULL;
        ok &= cJSON_AddStringToObject(o, "description", actions[i].description) != NULL;
        if (!ok) {
            cJSON_Delete(arr);
            return NULL;
        }
    }
    return arr;
}

/* Adds j (a report's object, owned from here; NULL: out of memory) under key. */
static bool add_item(cJSON *o, const char *key, cJSON *j)
{
    if (!j || !cJSON_AddItemToObject(o, key, j)) {
        cJSON_Delete(j);
        return false;
    }
    return true;
}

/* Moves diagnosis member `key` into o. */
static bool move_member(cJSON *o, cJSON *diag, const char *key)
{
    cJSON *item = cJSON_DetachItemFromObjectCaseSensitive(diag, key);
    if (!item || !cJSON_AddItemToObject(o, key, item)) {
        cJSON_Delete(item);
        return false;
    }
    return true;
}

static bool add_diagnosis(cJSON *o)
{
    al_diagnosis *d = al_diagnose_memory_leaks();
    cJSON *diag = ali_diagnosis_cjson(d);
    al_diagnosis_free(d);
    if (!diag)
        return false;
    bool ok = move_member(o, diag, "top_consumers") && move_member(o, diag, "recommendations") &&
              move_member(o, diag, "accounting");
    cJSON_Delete(diag);
    return ok;
}

/* The timeline member: the sampler's newest samples, or one sample taken now. */
static bool add_timeline(cJSON *o, size_t timeline_max)
{
    cJSON *t = ali_timeline_json(0, timeline_max);
    if (!t || !cJSON_AddItemToObject(o, "timeline", t)) {
        cJSON_Delete(t);
        return false;
    }
    cJSON *samples = cJSON_GetObjectItemCaseSensitive(t, "samples");
    if (cJSON_GetArraySize(samples) > 0)
        return true;
    ali_ui_sample s;
    ali_timeline_sample_now(&s);
    cJSON *j = cJSON_CreateObject();
    if (!j || !cJSON_AddItemToArray(samples, j)) {
        cJSON_Delete(j);
        return false;
    }
    bool ok = cJSON_AddNumberToObject(j, "seq", 0) != NULL;
    ok &= cJSON_AddNumberToObject(j, "t_ms", (double)s.t_ms) != NULL;
    ok &= cJSON_AddNumberToObject(j, "current_bytes", (double)s.current_bytes) != NULL;
    ok &= cJSON_AddNumberToObject(j, "peak_bytes", (double)s.peak_bytes) != NULL;
    ok &= cJSON_AddNumberToObject(j, "live_blocks", (double)s.live_blocks) != NULL;
    ok &= cJSON_AddNumberToObject(j, "rss_bytes", (double)s.rss_bytes) != NULL;
    ok &=
        cJSON_AddNumberToObject(j, "cuda_allocated_bytes", (double)s.cuda_allocated_bytes) != NULL;
    ok &= cJSON_AddNumberToObject(j, "cuda_reserved_bytes", (double)s.cuda_reserved_bytes) != NULL;
    return ok;
}

static bool add_log_levels(cJSON *o)
{
    cJSON *levels = cJSON_AddObjectToObject(o, "log_levels");
    bool ok = levels != NULL;
    for (int i = 0; ok && i < ALI_UI_N_LOGGERS; i++)
        ok =
            cJSON_AddStringToObject(levels, ali_ui_loggers[i],
                                    al_log_level_name(al_log_get_level(ali_ui_loggers[i]))) != NULL;
    return ok;
}

/* Adds the panel's actions under `key` and hands the model out, or frees it on any failure. */
static cJSON *finish_with_actions(cJSON *o, bool ok, const char *key)
{
    cJSON *acts = ok ? ali_ui_actions_json() : NULL;
    if (!acts || !cJSON_AddItemToObject(o, key, acts)) {
        cJSON_Delete(acts);
        ok = false;
    }
    if (!ok) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

cJSON *ali_ui_memory_model(size_t timeline_max)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    bool ok = cJSON_AddStringToObject(o, "panel", "memory_management") != NULL;
    ok = ok && add_item(o, "stats", ali_memory_stats_cjson());
    ok = ok && add_timeline(o, timeline_max);
    ok = ok && add_diagnosis(o);
    ok = ok && add_item(o, "registry", ali_registry_cjson(200)); /* registrations, objects */
    ok = ok && add_log_levels(o);
    return finish_with_actions(o, ok, "actions");
}

cJSON *ali_ui_system_model(void)
{
    al_system_info si;
    if (al_get_system_info(&si) != AL_OK)
        return NULL;
    cJSON *info = ali_sysinfo_json(&si);
    cJSON *o = cJSON_CreateObject();
    bool ok = info && o && cJSON_AddStringToObject(o, "panel", "system_status") != NULL;
    /* The figures in sysinfo's order, after "panel". */
    for (cJSON *c = info ? info->child : NULL; ok && c; c = info->child) {
        cJSON_DetachItemViaPointer(info, c);
        char *key = c->string;
        c->string = NULL;
        ok = cJSON_AddItemToObject(o, key, c);
        if (!ok)
            cJSON_Delete(c);
        cJSON_free(key);
    }
    cJSON_Delete(info);
    return finish_with_actions(o, ok, "controls");
}

/* -------- The public panel handle. -------- */

static al_ui_panel *panel_wrap(const char *name, cJSON *model)
{
    if (!model)
        return NULL;
    al_ui_panel *p = calloc(1, sizeof *p);
    if (!p) {
        cJSON_Delete(model);
        return NULL;
    }
    p->name = name;
    p->model = model;
    return p;
}

al_ui_panel *al_ui_memory_management(void)
{
    return panel_wrap("memory_management", ali_ui_memory_model(ALI_UI_PANEL_TIMELINE_MAX));
}

al_ui_panel *al_ui_system_status(void)
{
    return panel_wrap("system_status", ali_ui_system_model());
}

const char *al_ui_panel_name(const al_ui_panel *p) { return p ? p->name : NULL; }

void al_ui_panel_free(al_ui_panel *p)
{
    if (!p)
        return;
    cJSON_Delete(p->model);
    free(p);
}

char *al_ui_panel_render(const al_ui_panel *p, al_ui_format format)
{
    if (!p)
        return NULL;
    switch (format) {
    case AL_UI_JSON:
        return ali_json_print(p->model, true);
    case AL_UI_TEXT:
        return ali_ui_panel_text(p);
    case AL_UI_HTML:
        return ali_ui_panel_html(p);
    }
    return NULL;
}
