/* The lists `astrolab run` hands the preload library in its settings: --wrapper names and --own
 * patterns (comma-separated), --suppressions files (one path a line). One splitter for all. */
#include <string.h>

#include "preload_int.h"

bool ali_preload_each_item(const char *list, char sep,
                           bool (*fn)(const char *item, int i, void *arg), void *arg)
{
    char seps[2] = {sep, '\0'};
    for (int i = 0; list && *list;) {
        size_t n = strcspn(list, seps);
        char item[4096];
        if (n && n < sizeof item) {
            memcpy(item, list, n);
            item[n] = '\0';
            if (fn(item, i++, arg))
                return true;
        }
        list += n + (list[n] == sep);
    }
    return false;
}
