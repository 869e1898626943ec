/* Internals of the logging module (src/log/log.c) for tests and the library itself. Never
 * installed. */
#ifndef ASTROLAB_LOG_INT_H
#define ASTROLAB_LOG_INT_H

#include "astrolab/log.h"

/* Most distinct logger names that can carry their own level at once. */
#define ALI_LOG_MAX_ENTRIES 128

/* Forgets every level set (all loggers back to the WARNING default) and restores the default
 * stderr sink. ASTROLAB_LOG is not read again. For tests: gives each one a clean state. */
void ali_log_reset(void);

#endif /* ASTROLAB_LOG_INT_H */
