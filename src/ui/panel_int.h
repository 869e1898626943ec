/* Internals of the panels shared by panel.c (the models) and panel_render.c (text and HTML). */
#ifndef ASTROLAB_PANEL_INT_H
#define ASTROLAB_PANEL_INT_H

#include <cjson/cJSON.h> /* the model */

#include "astrolab/ui.h"

/* Samples of the timeline a panel holds: the last minute at 4 per second. */
#define ALI_UI_PANEL_TIMELINE_MAX 240

/* The loggers whose levels the memory panel shows and the dashboard sets. */
#define ALI_UI_N_LOGGERS 5
extern const char *const ali_ui_loggers[ALI_UI_N_LOGGERS];

struct al_ui_panel {
    const char *name; /* "memory_management" or "system_status" (static) */
    cJSON *model;     /* the panel's figures; every rendering reads only this */
};

/* The system panel's model: ali_sysinfo_json's object with "panel" first and "controls". */
cJSON *ali_ui_system_model(void);
/* Renderings of p->model; free() them. NULL when out of memory. */
char *ali_ui_panel_text(const al_ui_panel *p);
char *ali_ui_panel_html(const al_ui_panel *p);

#endif
