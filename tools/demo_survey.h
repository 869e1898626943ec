/* The survey stages of `astrolab demo` (demo_survey.c): a Gaia-like FITS catalog loaded,
 * described, optimized, cleaned and diagnosed, and the real Tycho-2 data when installed. */
#ifndef ASTROLAB_DEMO_SURVEY_H
#define ASTROLAB_DEMO_SURVEY_H

#include "demo_out.h" /* demo_out */

/* Runs the stages through o (printing text, or adding one object per stage to o->stages when
 * json); sets o->failed when a self-check fails. Returns 0, or -1 after reporting a failure on
 * stderr. */
int demo_survey_stages(demo_out *o);

#endif
