/* The one log sink of the tests: the messages of one logger (or all) at one level or above, as
 * "LEVEL logger: message" lines in log_text (while they fit), with their count, the WARNING and
 * ERROR counts, the first and the last message; thread-safe. capture_begin installs it for
 * every message, capture_only for `logger` (exact name; NULL: all) from level `min`;
 * capture_end puts the previous sink back. The figures stay readable after capture_end. */
#ifndef ASTROLAB_LOG_CAPTURE_H
#define ASTROLAB_LOG_CAPTURE_H

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "astrolab/log.h"

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static const char *log_only;         /* the logger captured; NULL: all */
static al_log_level log_min;         /* the lowest level captured */
static char log_text[16384];         /* "LEVEL logger: message\n" for each, while they fit */
static size_t log_used;              /* bytes of log_text */
static int log_count;                /* messages captured */
static int log_warnings, log_errors; /* of which WARNING, and ERROR or above */
static al_log_level log_last_level;  /* the last message's level */
static char log_last_logger[AL_LOG_NAME_MAX + 1];
static char log_first[AL_LOG_MESSAGE_MAX]; /* the first message captured */
static char log_last[AL_LOG_MESSAGE_MAX];  /* the last one */

static void capture_sink(void *user, al_log_level level, const char *logger, const char *message)
{
    (void)user;
    if (level < log_min || (log_only && strcmp(logger, log_only) != 0))
        return;
    pthread_mutex_lock(&log_lock);
    if (log_count++ == 0)
        snprintf(log_first, sizeof log_first, "%s", message);
    log_warnings += level == AL_LOG_WARNING;
    log_errors += level >= AL_LOG_ERROR;
    log_last_level = level;
    snprintf(log_last_logger, sizeof log_last_logger, "%s", logger);
    snprintf(log_last, sizeof log_last, "%s", message);
    int n = snprintf(log_text + log_used, sizeof log_text - log_used, "%s %s: %s\n",
                     al_log_level_name(level), logger, message);
    if (n > 0 && (size_t)n < sizeof log_text - log_used)
        log_used += (size_t)n;
    pthread_mutex_unlock(&log_lock);
}

static al_log_sink old_sink;
static void *old_user;

static inline void capture_only(const char *logger, al_log_level min)
{
    pthread_mutex_lock(&log_lock);
    log_only = logger;
    log_min = min;
    log_text[0] = log_first[0] = log_last[0] = log_last_logger[0] = '\0';
    log_used = 0;
    log_count = log_warnings = log_errors = 0;
    log_last_level = AL_LOG_DEBUG;
    pthread_mutex_unlock(&log_lock);
    old_sink = al_log_set_sink(capture_sink, NULL, &old_user);
}

static inline void capture_begin(void) { capture_only(NULL, AL_LOG_DEBUG); }

static inline void capture_end(void) { al_log_set_sink(old_sink, old_user, NULL); }

/* Whether any captured line contains `text`. */
static inline int captured(const char *text) { return strstr(log_text, text) != NULL; }

#endif
