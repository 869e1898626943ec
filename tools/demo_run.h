/* The whole-program stage of `astrolab demo` (demo_run.c): `astrolab run` on a real program
 * from Debian's packages that knows nothing of AstroLab. */
#ifndef ASTROLAB_DEMO_RUN_H
#define ASTROLAB_DEMO_RUN_H

#include "demo_out.h" /* demo_out */

/* Runs the stage through o (printing text, or adding its object to o->stages when json); sets
 * o->failed when a self-check fails. Skipped, with a note, where the preload library is not built
 * (sanitizer builds) or perl is missing. */
void demo_run_stage(demo_out *o);

#endif
