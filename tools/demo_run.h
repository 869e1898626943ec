/* The whole-program stage of `astrolab demo` (demo_run.c): `astrolab run` on a real program
 * from Debian's packages that knows nothing of AstroLab. */
#ifndef ASTROLAB_DEMO_RUN_H
#define ASTROLAB_DEMO_RUN_H

#include <stdbool.h> /* bool */

#include <cjson/cJSON.h> /* cJSON */

/* Runs the stage, printing text, or adding its object to `stages` when json. Sets *failed when
 * a self-check fails. Skipped, with a note, where the preload library is not built (sanitizer
 * builds) or perl is missing. */
void demo_run_stage(bool json, cJSON *stages, bool *failed);

#endif
