/* Debug-build checks of the preconditions that comments state ("caller holds the lock", "owner
 * thread only", "must hold the cleanup guard"), in the manner of SQLite's
 * assert(sqlite3_mutex_held(...)): plain assert(), so builds with NDEBUG (RelWithDebInfo and
 * Release, what users get) compile them out, arguments included; `make test-debug` runs the
 * memory tests with them. Never installed. */
#ifndef ASTROLAB_ASSERT_INT_H
#define ASTROLAB_ASSERT_INT_H

#include <assert.h>  /* assert */
#include <errno.h>   /* EBUSY */
#include <pthread.h> /* pthread_mutex_t */
#include <stdbool.h> /* bool */

/* True when some thread holds m. A pthread mutex cannot say which thread holds it, so this
 * catches a call made without taking the lock, not one made while another thread has it. For
 * assert() only: when m was free, it is left locked, and the assert aborts. */
static inline bool ali_mutex_held(pthread_mutex_t *m) { return pthread_mutex_trylock(m) == EBUSY; }

#endif
