/* al_survey_info_json: what `astrolab survey info` shows, as JSON: the survey's metadata
 * (meta.c), each entry's type, shape, unit, role and missing values, and memory_info. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "survey/survey_int.h"
#include "util/json_int.h"

typedef struct info_ctx {
    const al_tensordict *td;
    const al_survey_meta *meta;
    cJSON *columns;
    bool oom;
} info_ctx;

static const al_survey_column *meta_column(const al_survey_meta *m, const char *name)
{
    for (size_t i = 0; m && i < m->n_columns; i++)
        if (strcmp(m->columns[i].name, name) == 0)
            return &m->columns[i];
    return NULL;
}

/* Missing values of entry `name`: the number of set bytes of its mask, or -1 without one. */
static int64_t count_nulls(const al_tensordict *td, const char *name)
{
    char key[320];
    snprintf(key, sizeof key, "_null.%s", name);
    const al_tensor *mask = al_tensordict_borrow(td, key);
    if (!mask || al_tensor_dtype(mask) != AL_DTYPE_BOOL || !al_tensor_is_contiguous(mask))
        return -1;
    const uint8_t *p = al_tensor_data(mask);
    int64_t n = 0, len = al_tensor_numel(mask);
    for (int64_t i = 0; i < len; i++)
        n += p[i] != 0;
    return n;
}

static int add_column(const char *path, const al_tensordict_entry *e, void *user)
{
    info_ctx *c = user;
    if (strncmp(path, "_null.", 6) == 0)
        return 0; /* shown as its column's "nulls" */
    const al_survey_column *mc = meta_column(c->meta, path);
    cJSON *o = cJSON_CreateObject();
    cJSON *shape = cJSON_CreateArray();
    if (!o || !shape || !cJSON_AddItemToArray(c->columns, o)) {
        cJSON_Delete(o);
        cJSON_Delete(shape);
        c->oom = true;
        return 1;
    }
    const al_tensor *t = e->tensor;
    for (int d = 0; d < al_tensor_ndim(t); d++)
        cJSON_AddItemToArray(shape, cJSON_CreateNumber((double)al_tensor_shape(t)[d]));
    al_dtype dt = e->dictionary ? AL_DTYPE_STRING : al_tensor_dtype(t);
    int64_t nulls = count_nulls(c->td, path);
    bool ok = cJSON_AddStringToObject(o, "name", path) &&
              cJSON_AddStringToObject(o, "dtype", al_dtype_name(dt)) &&
              cJSON_AddItemToObject(o, "shape", shape) &&
              cJSON_AddStringToObject(o, "unit", mc ? mc->unit : "") &&
              cJSON_AddStringToObject(o, "role", mc ? mc->role : "") &&
              cJSON_AddStringToObject(o, "format", mc ? mc->format : "") &&
              cJSON_AddNumberToObject(o, "nulls", nulls < 0 ? 0 : (double)nulls);
    if (dt == AL_DTYPE_STRING && ok)
        ok = cJSON_AddNumberToObject(o, "width",
                                     (double)al_tensor_itemsize(e->dictionary ? e->dictionary
                                                                              : t)) != NULL;
    c->oom |= !ok;
    return ok ? 0 : 1;
}

char *al_survey_info_json(const al_tensordict *td)
{
    if (!td)
        return NULL;
    const al_survey_meta *m = al_survey_info(td);
    cJSON *doc = cJSON_CreateObject();
    info_ctx c = {td, m, NULL, false};
    bool ok = doc != NULL;
    ok = ok && cJSON_AddStringToObject(doc, "survey", m ? m->survey : "") &&
         cJSON_AddStringToObject(doc, "path", m ? m->path : "") &&
         cJSON_AddStringToObject(doc, "format", m ? m->format : "") &&
         cJSON_AddNumberToObject(doc, "hdu", m ? m->hdu : -1) &&
         cJSON_AddStringToObject(doc, "extname", m ? m->extname : "") &&
         cJSON_AddNumberToObject(doc, "rows", (double)al_tensordict_batch_size(td)) &&
         cJSON_AddNumberToObject(doc, "file_rows", m ? (double)m->file_rows : 0) &&
         (c.columns = cJSON_AddArrayToObject(doc, "columns")) != NULL;
    ok = ok && al_tensordict_foreach(td, add_column, &c) == 0 && !c.oom;
    char *mi = ok ? al_tensordict_memory_info_json(td) : NULL;
    cJSON *mj = mi ? cJSON_Parse(mi) : NULL;
    free(mi);
    ok = ok && mj && cJSON_AddItemToObject(doc, "memory_info", mj);
    if (!ok && mj && !cJSON_IsInvalid(mj) && doc && !cJSON_GetObjectItem(doc, "memory_info"))
        cJSON_Delete(mj);
    char *out = ok ? ali_json_print(doc, false) : NULL;
    cJSON_Delete(doc);
    return out;
}
