/* Output of the later `astrolab demo` stages (demo_survey.c, demo_run.c): each step is a titled
 * block of "key value" lines on a terminal, or one object under the document's "stages" with
 * --json. Self-checks set `failed`; the demo's exit status reports it. */
#ifndef ASTROLAB_DEMO_OUT_H
#define ASTROLAB_DEMO_OUT_H

#include <stdbool.h> /* bool */
#include <stdint.h>  /* uint64_t */

#include <cjson/cJSON.h> /* cJSON */

typedef struct demo_out {
    bool json;
    cJSON *stages; /* where each step's object goes (json) */
    cJSON *step;   /* the current step's object */
    bool failed;   /* a self-check failed or a step could not run */
} demo_out;

/* Starts step `key` ("== part: key: title ==" on a terminal). */
void demo_step(demo_out *o, const char *part, const char *key, const char *title);
/* A byte figure, a count, a number with its unit, a text, a self-check (sets failed when !ok). */
void demo_put_bytes(demo_out *o, const char *key, uint64_t v);
void demo_put_count(demo_out *o, const char *key, uint64_t v);
void demo_put_number(demo_out *o, const char *key, double v, const char *unit);
void demo_put_text(demo_out *o, const char *key, const char *text);
void demo_put_check(demo_out *o, const char *key, bool ok);
/* The manager's statistics now (one line, or the stats object). */
void demo_put_stats(demo_out *o);

#endif
