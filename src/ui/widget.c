/* al_get_widget_status: can this build serve the dashboard, is CUDA there, is it serving now.
 * The seed's get_widget_status() answered whether its notebook widgets could be shown; here
 * the "widget" is the web dashboard of server.c. */
#include <stdlib.h>

#include "astrolab/astrolab.h"
#include "astrolab/cuda.h"
#include "astrolab/ui.h"
#include "ui_int.h"
#include "util/json_int.h"

int al_get_widget_status(al_widget_status *out)
{
    if (!out)
        return AL_EINVAL;
    al_widget_status ws = {0};
    /* The HTTP server is linked into every build of the library (CMakeLists.txt requires
     * libmicrohttpd), so the dashboard can always be served. */
    ws.available = 1;
    ws.cuda_available = al_cuda_available() ? 1 : 0;
    ws.port = al_ui_port();
    ws.serving = ws.port != 0;
    *out = ws;
    return AL_OK;
}

char *al_widget_status_json(void)
{
    al_widget_status ws;
    if (al_get_widget_status(&ws) != AL_OK)
        return NULL;
    cJSON *o = cJSON_CreateObject();
    bool ok = o && cJSON_AddBoolToObject(o, "available", ws.available) != NULL;
    ok = ok && cJSON_AddBoolToObject(o, "cuda_available", ws.cuda_available) != NULL;
    ok = ok && cJSON_AddBoolToObject(o, "serving", ws.serving) != NULL;
    ok = ok && cJSON_AddNumberToObject(o, "port", ws.port) != NULL;
    char *s = ok ? ali_json_print(o, false) : NULL;
    cJSON_Delete(o);
    return s;
}
