/* The diagnosis thresholds: one settings table (environment name, default, valid range,
 * meaning), read once on first use, and their API. The rules that use them are in
 * recommend.c and snapshot.c (suspected_leak). */
#include <errno.h>
#include <pthread.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "astrolab/log.h"
#include "diagnosis_int.h"
#include "util/assert_int.h"

#define MIB (1024.0 * 1024.0)

typedef enum { KIND_U64, KIND_U32, KIND_RATIO } setting_kind;

typedef struct setting {
    const char *field; /* field name, for messages */
    const char *env;   /* environment variable, or NULL: API only */
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
    {"object_count", "ASTROLAB_OBJECT_THRESHOLD", KIND_U64, AT(object_count), 1000, 1, 1e15, 1,
     "live objects of one tag above which the tag is flagged (high_object_count)"},
    {"memory_bytes", "ASTROLAB_MEMORY_WARN_MB", KIND_U64, AT(memory_bytes), 500, 1, 1 << 24, MIB,
     "MiB of tracked memory above which high_memory_usage is raised"},
    {"cuda_bytes", "ASTROLAB_CUDA_WARN_MB", KIND_U64, AT(cuda_bytes), 1024, 1, 1 << 24, MIB,
     "MiB of allocated CUDA memory above which cuda_cleanup is raised"},
    {"leak_min_bytes", NULL, KIND_U64, AT(leak_min_bytes), 64 * 1024, 1, 1e18, 1,
     "least growth over the window for suspected_leak"},
    {"leak_samples", NULL, KIND_U32, AT(leak_samples), 3, 2, AL_DIAGNOSIS_WINDOW_MAX, 1,
     "consecutive rising samples for suspected_leak"},
    {"top_consumers", NULL, KIND_U32, AT(top_consumers), 20, 1, 1e9, 1,
     "rows in top_consumers and growth"},
    {"cuda_cache_ratio", NULL, KIND_RATIO, AT(cuda_cache_ratio), 2.0, 1, 1e9, 1,
     "cuda_cache when reserved exceeds this multiple of allocated"},
    {"cuda_cache_min_bytes", NULL, KIND_U64, AT(cuda_cache_min_bytes), 256 * MIB, 1, 1e18, 1,
     "cuda_cache only when reserved - allocated exceeds this"},
    {"fragmentation_ratio", NULL, KIND_RATIO, AT(fragmentation_ratio), 2.0, 1, 1e9, 1,
     "fragmentation when RSS exceeds this multiple of tracked bytes"},
    {"fragmentation_min_bytes", NULL, KIND_U64, AT(fragmentation_min_bytes), 64 * MIB, 1, 1e18, 1,
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

/* Parses a whole decimal number in the setting's range; false when it is not one. */
static bool parse_env(const setting *s, const char *text, double *out)
{
    errno = 0;
    char *end;
    unsigned long long v = strtoull(text, &end, 10);
    if (errno || end == text || *end != '\0' || text[0] == '-' || text[0] == '+')
        return false;
    if ((double)v < s->min || (double)v > s->max)
        return false;
    *out = (double)v * s->unit;
    return true;
}

static void load_locked(void)
{
    assert(ali_mutex_held(&settings.lock));
    (void)!al_diagnosis_thresholds_default(&settings.current); /* fails only for NULL */
    for (size_t i = 0; i < N_SETTINGS; i++) {
        const setting *s = &table[i];
        const char *text = s->env ? getenv(s->env) : NULL;
        if (!text)
            continue;
        double v;
        if (parse_env(s, text, &v))
            put(&settings.current, s, v);
        else
            al_log(AL_LOG_WARNING, ALI_LOGGER,
                   "%s=\"%s\" is not a whole number from %.0f to %.0f (%s); keeping the default "
                   "%.0f",
                   s->env, text, s->min, s->max, s->meaning, s->def);
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
    return AL_OK;
}
