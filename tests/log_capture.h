/* A log sink for tests (test_limits.c, test_registry.c): every message, as "LEVEL logger:
 * message" lines in log_text, with WARNING and ERROR counts; thread-safe. capture_begin
 * installs it, capture_end puts the previous sink back. */
#ifndef ASTROLAB_LOG_CAPTURE_H
#define ASTROLAB_LOG_CAPTURE_H

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "astrolab/log.h"

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static char log_text[8192];
static int log_warnings, log_errors;

static void capture(void *user, al_log_level level, const char *logger, const char *message)
{
    (void)user;
    pthread_mutex_lock(&log_lock);
    if (level == AL_LOG_WARNING)
        log_warnings++;
    if (level >= AL_LOG_ERROR)
        log_errors++;
    size_t used = strlen(log_text);
    snprintf(log_text + used, sizeof log_text - used, "%s %s: %s\n", al_log_level_name(level),
             logger, message);
    pthread_mutex_unlock(&log_lock);
}

static al_log_sink old_sink;
static void *old_user;

static void capture_begin(void)
{
    log_text[0] = '\0';
    log_warnings = log_errors = 0;
    old_sink = al_log_set_sink(capture, NULL, &old_user);
}

static void capture_end(void) { al_log_set_sink(old_sink, old_user, NULL); }

#endif
