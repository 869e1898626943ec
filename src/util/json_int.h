/* Small cJSON helpers shared by the modules' JSON forms; src/util/json.c. Never installed. */
#ifndef ASTROLAB_JSON_INT_H
#define ASTROLAB_JSON_INT_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One unsigned field of a record, under its JSON key. */
typedef struct ali_json_u64 {
    const char *key;
    uint64_t value;
} ali_json_u64;

/* Adds every field to o as a JSON number; false when out of memory. */
bool ali_json_add_u64s(cJSON *o, const ali_json_u64 *fields, size_t n);

/* Prints o compactly and deletes it; NULL (o still deleted) when !ok or out of memory. */
char *ali_json_finish(cJSON *o, bool ok);

#endif
