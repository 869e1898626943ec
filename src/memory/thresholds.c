/* The diagnosis thresholds: one table (field, environment setting, default, valid range,
 * meaning), read once on first use, and their API. Three come from the environment through
 * the settings table (util/settings_int.h), which checks and reports their values. The rules
 * that use them are in recommend.c and snapshot.c (suspected_leak). */
#include <errno.h>
#include <pthread.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "astrolab/log.h"
#include "diagnosis_int.h"
#include "util/assert_int.h"
#include "util/settings_int.h"

#define MIB (1024.0 * 1024.0)

typedef enum { KIND_U64, KIND_U32, KIND_RATIO } setting_kind;

typedef struct setting {
    const char *field; /* field name, for messages */
    int env;           /* its environment variable (ali_setting_id), or -1: API only */
    setting_kind kind;
    size_t offset;   /* in al_diagnosis_thresholds */
    double def;      /* default, in `unit`s */
    double min, max; /* valid range, in `unit`s */
    double unit;     /* bytes per unit of the environment value (1: a plain number) */
    const char *meaning;
} setting;

#define AT(f) offsetof(al_diagnosis_thresholds, f)

/* The seed's defaults: 1,000 objects, 500 MB, CUDA 1 GB (MiB here, as current_mb is). */
static const setting table[] = {
    {"object_count", ALI_SET_OBJECT_THRESHOLD, KIND_U64, AT(object_count), 1000, 1, 1e15, 1,
     "live objects of one tag above which the tag is flagged (high_object_count)"},
    {"memory_bytes", ALI_SET_MEMORY_WARN_MB, KIND_U64, AT(memory_bytes), 500, 1, 1 << 24, MIB,
     "MiB of tracked memory above which high_memory_usage is raised"},
    {"cuda_bytes", ALI_SET_CUDA_WARN_MB, KIND_U64, AT(cuda_bytes), 1024, 1, 1 << 24, MIB,
     "MiB of allocated CUDA memory above which cuda_cleanup is raised"},
    {"leak_min_bytes", -1, KIND_U64, AT(leak_min_bytes), 64 * 1024, 1, 1e18, 1,
     "least growth over the window for suspected_leak"},
    {"leak_samples", -1, KIND_U32, AT(leak_samples), 3, 2, AL_DIAGNOSIS_WINDOW_MAX, 1,
     "consecutive rising samples for suspected_leak"},
    {"top_consumers", -1, KIND_U32, AT(top_consumers), 20, 1, 1e9, 1,
     "rows in top_consumers and growth"},
    {"cuda_cache_ratio", -1, KIND_RATIO, AT(cuda_cache_ratio), 2.0, 1, 1e9, 1,
     "cuda_cache when reserved exceeds this multiple of allocated"},
    {"cuda_cache_min_bytes", -1, KIND_U64, AT(cuda_cache_min_bytes), 256 * MIB, 1, 1e18, 1,
     "cuda_cache only when reserved - allocated exceeds this"},
    {"fragmentation_ratio", -1, KIND_RATIO, AT(fragmentation_ratio), 2.0, 1, 1e9, 1,
     "fragmentation when RSS exceeds this multiple of tracked bytes"},
    {"fragmentation_min_bytes", -1, KIND_U64, AT(fragmentation_min_bytes), 64 * MIB, 1, 1e18, 1,
     "fragmentation only when RSS - tracked exceeds this"},
};
#define N_SETTINGS (sizeof table / sizeof table[0])

static struct {
    pthread_mutex_t lock;            /* guards current and loaded */
    al_diagnosis_thresholds current; /* in force */
    bool loaded;                     /* the environment was read */
} settings = {.lock = PTHREAD_MUTEX_INITIALIZER};

static void put(al_diagnosis_thresholds *t, const setting *s, double v)
{
    char *p = (char *)t + s->offset;
    switch (s->kind) {
    case KIND_U64: {
        uint64_t u = (uint64_t)v;
        memcpy(p, &u, sizeof u);
        break;
    }
    case KIND_U32: {
        uint32_t u = (uint32_t)v;
        memcpy(p, &u, sizeof u);
        break;
    }
    case KIND_RATIO:
        memcpy(p, &v, sizeof v);
        break;
    }
}

static double get(const al_diagnosis_thresholds *t, const setting *s)
{
    const char *p = (const char *)t + s->offset;
    switch (s->kind) {
    case KIND_U64: {
        uint64_t u;
        memcpy(&u, p, sizeof u);
        return (double)u;
    }
    case KIND_U32: {
        uint32_t u;
        memcpy(&u, p, sizeof u);
        return u;
    }
    case KIND_RATIO:
    default: {
        double d;
        memcpy(&d, p, sizeof d);
        return d;
    }
    }
}

int al_diagnosis_thresholds_default(al_diagnosis_thresholds *out)
{
    if (!out)
        return AL_EINVAL;
    memset(out, 0, sizeof *out);
    for (size_t i = 0; i < N_SETTINGS; i++)
        put(out, &table[i], table[i].def * table[i].unit);
    return AL_OK;
}

static void load_locked(void)
{
    assert(ali_mutex_held(&settings.lock));
    (void)!al_diagnosis_thresholds_default(&settings.current); /* fails only for NULL */
    for (size_t i = 0; i < N_SETTINGS; i++) {
        const setting *s = &table[i];
        /* The settings table checked the text (and reported a refusal); its ranges are these. */
        if (s->env >= 0 && ali_setting_text((ali_setting_id)s->env))
            put(&settings.current, s, (double)ali_setting_int((ali_setting_id)s->env) * s->unit);
    }
    settings.loaded = true;
}

void ali_diagnosis_thresholds(al_diagnosis_thresholds *out)
{
    pthread_mutex_lock(&settings.lock);
    if (!settings.loaded)
        load_locked();
    *out = settings.current;
    pthread_mutex_unlock(&settings.lock);
}

void ali_diagnosis_settings_reload(void)
{
    ali_settings_reload();
    pthread_mutex_lock(&settings.lock);
    load_locked();
    pthread_mutex_unlock(&settings.lock);
}

int al_diagnosis_get_thresholds(al_diagnosis_thresholds *out)
{
    if (!out)
        return AL_EINVAL;
    ali_diagnosis_thresholds(out);
    return AL_OK;
}

int al_diagnosis_set_thresholds(const al_diagnosis_thresholds *t)
{
    if (!t) {
        al_log(AL_LOG_ERROR, ALI_LOGGER, "al_diagnosis_set_thresholds: NULL thresholds");
        return AL_EINVAL;
    }
    for (size_t i = 0; i < N_SETTINGS; i++) {
        const setting *s = &table[i];
        /* The table's ranges are in the environment's units (MiB); the API takes bytes, so a
         * scaled field may go down to one byte. */
        double v = get(t, s), lo = s->unit == 1 ? s->min : 1, hi = s->max * s->unit;
        if (!(v >= lo && v <= hi)) { /* also refuses NaN */
            al_log(AL_LOG_ERROR, ALI_LOGGER,
                   "al_diagnosis_set_thresholds: %s = %g is outside %g..%g (%s); nothing changed",
                   s->field, v, lo, hi, s->meaning);
            return AL_EINVAL;
        }
    }
    pthread_mutex_lock(&settings.lock);
    settings.current = *t;
    settings.loaded = true;
    pthread_mutex_unlock(&settings.lock);
    for (size_t i = 0; i < N_SETTINGS; i++)
        if (table[i].env >= 0)
            ali_setting_from_api((ali_setting_id)table[i].env, get(t, &table[i]) / table[i].unit);
    return AL_OK;
}
