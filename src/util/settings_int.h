/* The settings table: every ASTROLAB_* environment variable (name, default, range, meaning,
 * where documented), read once, in the manner of mimalloc's options.c. Modules read their
 * settings here instead of calling getenv; <astrolab/settings.h> shows the table to programs.
 * src/util/settings.c. Never installed. */
#ifndef ASTROLAB_SETTINGS_INT_H
#define ASTROLAB_SETTINGS_INT_H

#include <stdbool.h>

/* In the table's order (settings.c). */
typedef enum ali_setting_id {
    ALI_SET_LOG,
    ALI_SET_ABORT_ON_ERROR,
    ALI_SET_CHECK_GUARDS,
    ALI_SET_THREAD_CACHE,
    ALI_SET_FAIL_AFTER,
    ALI_SET_LEAK_REPORT,
    ALI_SET_OBJECT_THRESHOLD,
    ALI_SET_MEMORY_WARN_MB,
    ALI_SET_CUDA_WARN_MB,
    ALI_SET_CUDA_BACKEND,
    ALI_SET_CUDA_SIM_BYTES,
    ALI_SET_CUDA_SIM_DEVICES,
    ALI_SET_CUDA_PINNED_MIN_BYTES,
    ALI_SET_STACK_DEPTH,
    ALI_SET_SAMPLE_BYTES,
    ALI_SET_SAMPLE_SEED,
    ALI_SET_DEBUGINFOD,
    ALI_SET_PRELOAD_LIB,
    ALI_SET_NO_PROGRESS,
    ALI_SET_RUN_REPORT,
    ALI_SET_RUN_PID,
    ALI_SET_RUN_CHILDREN,
    ALI_SET_RUN_UI_FD,
    ALI_SET_RUN_UI_PORT,
    ALI_SET_RUN_UI_HOST,
    ALI_SET_RUN_UI_TOKEN,
    ALI_SET_RUN_WRAPPERS,
    ALI_SET_RUN_OWN,
    ALI_SET_RUN_FAIL_AFTER,
    ALI_SET_RUN_FOLDED,
    ALI_SET_RUN_PPROF,
    ALI_SET_RUN_SUPPRESSIONS,
    ALI_SET_COUNT
} ali_setting_id;

/* The environment's text of setting id (read once, at the first call of any function here),
 * or NULL when it is unset or empty. A text setting's owner parses and reports it. */
const char *ali_setting_text(ali_setting_id id);

/* A number or 0/1 setting: the environment's value when the table accepts it, else the
 * default (a refused value is reported once, as a WARNING on the setting's logger). */
long long ali_setting_int(ali_setting_id id);

/* A choice setting (ASTROLAB_CUDA_BACKEND): the environment's text when it is one of the
 * choices, else the default (a refused value is reported once). */
const char *ali_setting_choice(ali_setting_id id);

/* Records that a call (al_diagnosis_set_thresholds) put `value` (in the setting's unit) in
 * force for setting id: the table then shows it with source "api". */
void ali_setting_from_api(ali_setting_id id, double value);

/* Test seam: reads the environment again, as at first use (refusals are reported again). */
void ali_settings_reload(void);

#endif
