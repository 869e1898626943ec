/* al_survey_info_json: what `astrolab survey info` shows, as JSON: the survey's metadata
 * (meta.c), each entry's type, shape, unit, role and missing values (counted as survey.h's
 * "Missing values" defines them: al_survey_missing, al_survey_null_mask), and memory_info. */
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "survey/survey_int.h"
#include "tensors/memory_info_int.h"
#include "util/json_int.h"

typedef struct info_ctx {
    const al_tensordict *td;
    const al_survey_meta *meta;
    cJSON *columns;
    bool oom;
} info_ctx;

const al_tensor *al_survey_null_mask(const al_tensordict *td, const char *key)
{
    const al_tensordict *masks = td && key ? al_tensordict_get_dict(td, "_null") : NULL;
    const al_tensor *m = masks ? al_tensordict_borrow(masks, key) : NULL;
    return m && al_tensor_dtype(m) == AL_DTYPE_BOOL ? m : NULL;
}

int al_survey_missing(const al_tensordict *td, const char *key, int64_t *count)
{
    if (!td || !key || !count)
        return AL_EINVAL;
    const al_tensor *t = al_tensordict_borrow(td, key);
    if (!t)
        return AL_ENOTFOUND;
    if (al_tensor_device(t).type != AL_DEVICE_CPU)
        return AL_EUNSUPPORTED;
    const al_tensor *mask = al_survey_null_mask(td, key);
    al_dtype dt = al_tensor_dtype(t);
    bool fp = dt == AL_DTYPE_FLOAT32 || dt == AL_DTYPE_FLOAT64;
    int64_t n = al_tensor_numel(t), missing = 0;
    if (mask && al_tensor_numel(mask) != n)
        mask = NULL; /* not this column's shape: not its mask */
    const uint8_t *mp = mask && al_tensor_is_contiguous(mask) ? al_tensor_data(mask) : NULL;
    const void *tp = fp && al_tensor_is_contiguous(t) ? al_tensor_data(t) : NULL;
    int nd = al_tensor_ndim(t);
    const int64_t *shape = al_tensor_shape(t);
    for (int64_t i = 0; i < n && (fp || mask); i++) {
        bool miss = false;
        int64_t idx[AL_TENSOR_MAX_DIMS];
        if ((mask && !mp) || (fp && !tp)) { /* a strided view: element by element */
            int64_t r = i;
            for (int d = nd - 1; d >= 0; d--) {
                idx[d] = shape[d] ? r % shape[d] : 0;
                r = shape[d] ? r / shape[d] : 0;
            }
        }
        if (mask) {
            if (mp)
                miss = mp[i] != 0;
            else {
                int64_t v = 0;
                miss = al_tensor_get_int64(mask, idx, &v) == AL_OK && v != 0;
            }
        }
        if (!miss && fp) {
            double v = 0;
            if (tp)
                v = dt == AL_DTYPE_FLOAT64 ? ((const double *)tp)[i] : ((const float *)tp)[i];
            else if (al_tensor_get_double(t, idx, &v) != AL_OK)
                v = 0;
            miss = isnan(v);
        }
        missing += miss;
    }
    *count = missing;
    return AL_OK;
}

static int add_column(const char *path, const al_tensordict_entry *e, void *user)
{
    info_ctx *c = user;
    if (strncmp(path, "_null.", 6) == 0)
        return 0; /* shown as its column's "nulls" */
    const al_survey_column *mc = c->meta ? al_survey_column_find(c->td, path) : NULL;
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
    int64_t nulls = 0;
    if (al_survey_missing(c->td, path, &nulls) != AL_OK)
        nulls = 0;
    /* The name as in the file: the key's text (a direct entry's own name). */
    size_t n = al_tensordict_key_name(path, NULL, 0);
    char *name = malloc(n + 1);
    if (name)
        al_tensordict_key_name(path, name, n + 1);
    bool ok = name && cJSON_AddStringToObject(o, "name", name) &&
              cJSON_AddStringToObject(o, "dtype", al_dtype_name(dt)) &&
              cJSON_AddItemToObject(o, "shape", shape) &&
              cJSON_AddStringToObject(o, "unit", mc ? mc->unit : "") &&
              cJSON_AddStringToObject(o, "role", mc ? mc->role : "") &&
              cJSON_AddStringToObject(o, "format", mc ? mc->format : "") &&
              cJSON_AddNumberToObject(o, "nulls", (double)nulls);
    free(name);
    if (dt == AL_DTYPE_STRING && ok)
        ok = cJSON_AddNumberToObject(o, "width",
                                     (double)al_tensor_itemsize(e->dictionary ? e->dictionary
                                                                              : t)) != NULL;
    c->oom |= !ok;
    return ok ? 0 : 1;
}

/* The document al_survey_info_json prints, built once: memory_info is the tensors module's
 * object, embedded as it is. NULL when out of memory. */
static cJSON *info_cjson(const al_tensordict *td)
{
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
    int stopped = 0;
    ok = ok && al_tensordict_foreach(td, add_column, &c, &stopped) == AL_OK && !stopped && !c.oom;
    cJSON *mi = ok ? ali_tensordict_memory_info_cjson(td) : NULL;
    if (mi && !cJSON_AddItemToObject(doc, "memory_info", mi)) {
        cJSON_Delete(mi);
        mi = NULL;
    }
    if (!mi) {
        cJSON_Delete(doc);
        return NULL;
    }
    return doc;
}

char *al_survey_info_json(const al_tensordict *td)
{
    cJSON *doc = td ? info_cjson(td) : NULL;
    char *out = doc ? ali_json_print(doc, false) : NULL;
    cJSON_Delete(doc);
    return out;
}
