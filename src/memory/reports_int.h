/* The memory manager's JSON reports as cJSON objects, for the modules that place them in their
 * own documents (the dashboard's panels and routes in src/ui/, the preload report): each is
 * built once and printed once, never printed and parsed back. The public `_json()` calls print
 * these same objects. Never installed. */
#ifndef ASTROLAB_MEMORY_REPORTS_INT_H
#define ASTROLAB_MEMORY_REPORTS_INT_H

#include <stddef.h> /* size_t */

#include <cjson/cJSON.h>

#include "astrolab/diagnosis.h" /* al_diagnosis */

/* The object of al_memory_stats_json. The caller owns it (cJSON_Delete); NULL when out of
 * memory. */
cJSON *ali_memory_stats_cjson(void);
/* The object of al_diagnosis_json(d); NULL for NULL or out of memory. */
cJSON *ali_diagnosis_cjson(const al_diagnosis *d);
/* The object of al_registry_json(max); NULL when out of memory. */
cJSON *ali_registry_cjson(size_t max);

#endif
