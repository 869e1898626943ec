/* AstroLab logging: named loggers ("astrolab.memory", "astrolab.cuda", "astrolab.tensors",
 * "astrolab.ui", ...), four levels, prefix inheritance and one pluggable sink.
 *
 * The library prints nothing except through this module. A logger's effective level is the
 * level set on its longest dotted prefix (or itself); the root "astrolab" defaults to WARNING.
 * ASTROLAB_LOG="astrolab.memory=debug,astrolab=warning" is read once, on first use (the first call
 * of any function below but the level-name helpers, so levels set by the program override it);
 * bad entries are reported through the logger "astrolab.log" at WARNING and skipped.
 *
 * Nothing here allocates: levels live in a fixed table, messages are formatted on the stack. So
 * the memory manager may log from inside its allocator. A message logged by a thread that is
 * already inside al_log (a sink or format argument that logs) is dropped instead of recursing.
 *
 * Example:
 *     al_log_set_level("astrolab.memory", AL_LOG_DEBUG);
 *     al_log(AL_LOG_INFO, "astrolab.memory", "scope %s ended", name);
 */
#ifndef ASTROLAB_LOG_H
#define ASTROLAB_LOG_H

#include <stdarg.h> /* va_list */

#include "astrolab/defs.h" /* AL_API, AL_PRINTF */

#ifdef __cplusplus
extern "C" {
#endif

/* -------- Levels and logger names. Every call here is thread-safe. -------- */
typedef enum al_log_level {
    AL_LOG_DEBUG = 10,
    AL_LOG_INFO = 20,
    AL_LOG_WARNING = 30,
    AL_LOG_ERROR = 40,
    AL_LOG_OFF = 100, /* for al_log_set_level only: silences the logger */
} al_log_level;

/* Longest logger name accepted, NUL excluded; longer names are refused with AL_EINVAL. A name
 * is dot-separated components of letters, digits, '_' and '-' ("astrolab.memory"). */
#define AL_LOG_NAME_MAX 63
/* One message is formatted into a fixed stack buffer of this size (never allocates); longer
 * messages are truncated and end in "...". */
#define AL_LOG_MESSAGE_MAX 512

/* Sets the level of `name` and of every logger below it (a prefix "astrolab" covers
 * "astrolab.memory" but not "astrolabx"), unless a longer prefix has its own level: the longest
 * prefix with a level wins, whatever the order of the calls, so setting "astrolab" after
 * "astrolab.memory" leaves "astrolab.memory" at its own level. Levels are never removed; set
 * the child again to change it. Returns AL_OK, AL_EINVAL (NULL or invalid name, level not one
 * of the five) or AL_ENOMEM (128 distinct names already have levels). */
AL_API AL_NODISCARD int al_log_set_level(const char *name, al_log_level level);

/* Returns the effective level of logger `name` (NULL: "astrolab"): AL_LOG_WARNING when no
 * prefix of it has a level. */
AL_API al_log_level al_log_get_level(const char *name);

/* True when a message at `level` on `name` (NULL: "astrolab") would reach the sink: guard costly
 * formatting. A level below every level set returns 0 at once, without taking a lock. */
AL_API int al_log_enabled(al_log_level level, const char *name);

/* Parses a spec such as "astrolab.memory=debug,astrolab=warning" (the ASTROLAB_LOG syntax) and
 * applies every valid entry in order; each bad entry (no '=', bad name, unknown level, table
 * full) is logged at WARNING on "astrolab.log" naming it, and skipped. Bad entries are reported
 * before any entry applies, so a spec cannot silence the report of its own mistakes. Blanks
 * around names and levels, and empty entries, are ignored. Returns the number of bad entries
 * (0 when all applied), or AL_EINVAL for a NULL spec. */
AL_API AL_NODISCARD int al_log_configure(const char *spec);

/* Returns "DEBUG", "INFO", "WARNING", "ERROR" or "OFF" ("UNKNOWN" for other values); static. */
AL_API const char *al_log_level_name(al_log_level level);

/* Parses a level name, case-insensitive ("debug", "info", "WARN", "warning", "error", "off").
 * Returns AL_OK and sets *out, or AL_EINVAL (NULL, or any other text: *out untouched). */
AL_API AL_NODISCARD int al_log_level_parse(const char *text, al_log_level *out);

/* -------- Sink: one per process. -------- */

/* Receives every enabled message. `message` is NUL-terminated and valid only during the call.
 * It may be called from any thread at once; the sink must not call al_log itself. */
typedef void (*al_log_sink)(void *user, al_log_level level, const char *logger,
                            const char *message);

/* Installs `sink` (NULL restores the default stderr sink: "2026-11-25T15:00:00.123Z WARNING
 * astrolab.memory: text", UTC, one write(2) per line so threads' lines do not interleave).
 * Returns once no call of the previous sink is running any more (so its `user` may be freed).
 * Returns the previous sink; *old_user (may be NULL) gets its data. Called from inside a sink it
 * would deadlock, so there it changes nothing and returns NULL. */
AL_API al_log_sink al_log_set_sink(al_log_sink sink, void *user, void **old_user);

/* -------- Emitting. -------- */

/* Formats and sends a message to the sink if `level` (DEBUG..ERROR) is enabled for `logger`
 * (NULL: "astrolab"). Leaves errno as it found it. */
AL_API void al_log(al_log_level level, const char *logger, const char *fmt, ...) AL_PRINTF(3, 4);

/* As al_log, with a va_list. */
AL_API void al_logv(al_log_level level, const char *logger, const char *fmt, va_list ap)
    AL_PRINTF(3, 0);

#ifdef __cplusplus
}
#endif
#endif /* ASTROLAB_LOG_H */
