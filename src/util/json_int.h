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

/* Prints o compactly (ali_json_print) and deletes it; NULL (o still deleted) when !ok or out
 * of memory. */
char *ali_json_finish(cJSON *o, bool ok);

/* Prints o, indented when `pretty`, as every JSON document of the library and the CLI should
 * be: valid UTF-8, with each byte of a string that is not part of valid UTF-8 written as
 * \u00XX (the byte read as Latin-1), and each number in the shortest text that reads back to
 * the same double (integers below 2^53 in full). o is left as it is. The result is the
 * caller's to free(); NULL for NULL or out of memory. */
char *ali_json_print(const cJSON *o, bool pretty);

/* The JSON string literal, quotes included, of the n bytes at s (NULs and invalid UTF-8
 * allowed): ", \ and control characters escaped, invalid bytes as in ali_json_print. free()
 * it; NULL when out of memory. */
char *ali_json_quote(const char *s, size_t n);

/* Bytes of the valid UTF-8 sequence (RFC 3629: no overlongs, surrogates or values above
 * U+10FFFF) at the start of the n bytes at s: 1 to 4, or 0 when they do not start one. */
size_t ali_utf8_len(const char *s, size_t n);

#endif
