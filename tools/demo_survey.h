/* The survey stages of `astrolab demo` (demo_survey.c): a Gaia-like FITS catalog loaded,
 * described, optimized, cleaned and diagnosed, and the real Tycho-2 data when installed. */
#ifndef ASTROLAB_DEMO_SURVEY_H
#define ASTROLAB_DEMO_SURVEY_H

#include <stdbool.h> /* bool */

#include <cjson/cJSON.h> /* cJSON */

/* Runs the stages, printing text, or adding one object per stage to `stages` when json. Sets
 * *failed when a self-check fails. Returns 0, or -1 after reporting a failure on stderr. */
int demo_survey_stages(bool json, cJSON *stages, bool *failed);

#endif
