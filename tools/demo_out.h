/* Output of every `astrolab demo` stage (cmd_demo.c, demo_survey.c, demo_run.c): each step is a
 * titled block of "label value" lines on a terminal, or one object under the document's
 * "stages" with --json. Self-checks set `failed`; a JSON node that could not be made sets
 * `oom`. The demo's exit status reports both. */
#ifndef ASTROLAB_DEMO_OUT_H
#define ASTROLAB_DEMO_OUT_H

#include <stdbool.h> /* bool */
#include <stdint.h>  /* uint64_t */

#include <cjson/cJSON.h> /* cJSON */

#include "astrolab/memory.h" /* al_memory_stats */

typedef struct demo_out {
    bool json;
    cJSON *doc;    /* the JSON document (json) */
    cJSON *stages; /* doc.stages: where each step's object goes (json) */
    cJSON *step;   /* the current step's object */
    int section;   /* text: the number of the last numbered step */
    bool oom;      /* a JSON node could not be made: the document is incomplete */
    bool failed;   /* a self-check failed or a step could not run */
} demo_out;

/* Notes whether `node`, just made for the document, exists (sets oom when it does not). */
void demo_track(demo_out *o, const void *node);
/* Starts step `key`: "== part: key: title ==" on a terminal, or "== N. key: title ==" when
 * part is NULL. */
void demo_step(demo_out *o, const char *part, const char *key, const char *title);
/* "INDENT LABEL VALUE" on stdout, the layout of every figure. */
void demo_line(const char *indent, const char *label, const char *value);
/* A figure under `key` in JSON; shown as `label` (NULL: the key) on a terminal: bytes, a count,
 * a number with its unit, a text, a self-check (which sets failed when !ok). */
void demo_put_bytes(demo_out *o, const char *key, const char *label, uint64_t v);
void demo_put_count(demo_out *o, const char *key, const char *label, uint64_t v);
void demo_put_number(demo_out *o, const char *key, const char *label, double v, const char *unit);
void demo_put_text(demo_out *o, const char *key, const char *label, const char *text);
void demo_put_check(demo_out *o, const char *key, const char *label, bool ok);
/* Adds `text`, a JSON report of the library (freed here), under key (json only). */
void demo_put_raw(demo_out *o, const char *key, char *text);
/* The manager's statistics now (a block of lines, or the stats object); copied to *keep when
 * keep is not NULL. */
void demo_put_stats(demo_out *o, al_memory_stats *keep);

#endif
