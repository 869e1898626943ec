/* AstroLab settings: every ASTROLAB_* environment variable the library and the `astrolab` tool
 * read, with its value in force and where that value came from, for programs and tools that
 * show their configuration (`astrolab status` prints this table).
 *
 *     al_setting_info s;
 *     for (int i = 0; i < al_setting_count(); i++)
 *         if (al_setting_get(i, &s) == AL_OK)
 *             printf("%s=%s (%s)\n", s.name, s.value, s.source);
 *
 * The environment is read once, at the first use of any setting; later changes to the
 * environment are not seen. Every call here is thread-safe. */
#ifndef ASTROLAB_SETTINGS_H
#define ASTROLAB_SETTINGS_H

#include "astrolab/defs.h"  /* AL_API and attributes */
#include "astrolab/error.h" /* AL_OK, AL_EINVAL */

#ifdef __cplusplus
extern "C" {
#endif

/* Bytes of al_setting_info.value, NUL included: a longer value is cut to fit. */
#define AL_SETTING_VALUE_LEN 256

/* One setting. The const char * fields are static text, valid for the life of the process. */
typedef struct al_setting_info {
    const char *name;                 /* "ASTROLAB_CHECK_GUARDS" */
    char value[AL_SETTING_VALUE_LEN]; /* in force, as text; "" when unset with no default */
    const char *default_value;        /* "" when the setting has none (it is off when unset) */
    const char *source;               /* "default", "environment", or "api" (set by a call such
                                         as al_diagnosis_set_thresholds) */
    const char *meaning;              /* one line: what it does, its values and unit */
    const char *documented;           /* where it is documented: "README.md" */
} al_setting_info;

/* Number of settings; they are numbered 0..al_setting_count()-1, always in the same order. */
AL_API int al_setting_count(void);

/* Fills *out with setting i. Returns AL_OK; AL_EINVAL (out untouched) when out is NULL or i is
 * not in 0..al_setting_count()-1. A value the environment gives but the setting refuses (not a
 * number, out of range: reported once as a WARNING) is shown as the default, source
 * "default". */
AL_API AL_NODISCARD int al_setting_get(int i, al_setting_info *out);

#ifdef __cplusplus
}
#endif
#endif /* ASTROLAB_SETTINGS_H */
