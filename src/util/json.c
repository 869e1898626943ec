/* Small cJSON helpers shared by the modules' JSON forms (stats, cleanup results). */
#include "util/json_int.h"

bool ali_json_add_u64s(cJSON *o, const ali_json_u64 *fields, size_t n)
{
    bool ok = true;
    for (size_t i = 0; i < n; i++)
        ok &= cJSON_AddNumberToObject(o, fields[i].key, (double)fields[i].value) != NULL;
    return ok;
}

char *ali_json_finish(cJSON *o, bool ok)
{
    char *text = ok && o ? cJSON_PrintUnformatted(o) : NULL;
    cJSON_Delete(o);
    return text;
}
