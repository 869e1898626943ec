/* The misuses caught in the program (double and invalid frees, overwritten guards and
 * headers): the run report's `errors` (docs/RUN-REPORT.md). The manager reports each on the
 * astrolab.memory logger at ERROR; the preload library's log sink keeps a copy of each such
 * message (the first ERRORS_KEPT) and passes every record on to the sink it replaced. Nothing
 * here allocates: a sink may run inside malloc or free. */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "astrolab/log.h"
#include "preload_int.h"

#define ERRORS_KEPT 100

static struct {
    pthread_mutex_t lock; /* guards every field below */
    char message[ERRORS_KEPT][512];
    size_t n;
    al_log_sink next; /* the sink replaced, called for every record */
    void *next_user;
} errs = {.lock = PTHREAD_MUTEX_INITIALIZER};

static void keep(void *user, al_log_level level, const char *logger, const char *message)
{
    (void)user;
    if (level == AL_LOG_ERROR && logger && strcmp(logger, "astrolab.memory") == 0) {
        pthread_mutex_lock(&errs.lock);
        if (errs.n < ERRORS_KEPT)
            snprintf(errs.message[errs.n++], sizeof errs.message[0], "%s", message);
        pthread_mutex_unlock(&errs.lock);
    }
    if (errs.next)
        errs.next(errs.next_user, level, logger, message);
}

void ali_errors_start(void) { errs.next = al_log_set_sink(keep, NULL, &errs.next_user); }

/* The kind of misuse a message reports, by the words the manager uses for it. */
static const char *kind_of(const char *m)
{
    if (strstr(m, "double free"))
        return "double_free";
    if (strstr(m, "use after free"))
        return "use_after_free";
    if (strstr(m, "guard bytes"))
        return "overflow";
    if (strstr(m, "header was overwritten"))
        return "overwritten_header";
    if (strstr(m, "free of") || strstr(m, "realloc of"))
        return "invalid_free";
    return "error";
}

cJSON *ali_errors_json(void)
{
    cJSON *arr = cJSON_CreateArray();
    pthread_mutex_lock(&errs.lock);
    for (size_t i = 0; arr && i < errs.n; i++) {
        const char *m = errs.message[i];
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "kind", kind_of(m));
        /* "... allocated at plain_misuse.c:12 in main() and already freed" */
        const char *at = strstr(m, "allocated at ");
        if (at) {
            at += 13;
            size_t n = strlen(at);
            const char *ends[] = {" and already", " were overwritten", ";", " ("};
            for (int k = 0; k < 4; k++) {
                const char *end = strstr(at, ends[k]);
                if (end && (size_t)(end - at) < n)
                    n = (size_t)(end - at);
            }
            char site[512];
            snprintf(site, sizeof site, "%.*s", (int)n, at);
            cJSON_AddStringToObject(e, "site", site);
        } else {
            cJSON_AddNullToObject(e, "site");
        }
        cJSON_AddStringToObject(e, "message", m);
        cJSON_AddItemToArray(arr, e);
    }
    pthread_mutex_unlock(&errs.lock);
    return arr;
}
