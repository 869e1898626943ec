/* Logging: named loggers with dotted-prefix levels, ASTROLAB_LOG parsing and one sink.
 *
 * The memory manager logs from inside its allocator, and the preload library routes the
 * process's malloc through that allocator, so nothing here may allocate once running: levels
 * live in a fixed static table, messages are formatted in a fixed stack buffer, the default
 * sink uses write(2) and its own UTC calendar arithmetic (gmtime_r may read the time-zone
 * files, which allocates), and thread-local state uses the initial-exec TLS model (the
 * general-dynamic model may allocate on a thread's first access). A thread-local flag drops
 * messages logged while the same thread is already inside al_log (a sink or a formatter that
 * ends up allocating and logging), instead of recursing.
 *
 * Locks: `levels.lock` guards the level table and is held only for lookups and updates, never
 * around foreign code. `sink.lock` is held for reading while a sink runs and for writing while
 * it is swapped, so al_log_set_sink returns only after every call of the old sink has ended.
 * glibc's default read-write lock prefers readers: a thread that logs while another waits to
 * swap the sink is not blocked behind it, so a sink that waits on a lock held by a logging
 * thread cannot deadlock against a pending swap. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "astrolab/error.h"
#include "astrolab/log.h"
#include "log/log_int.h"

#define TLS __attribute__((tls_model("initial-exec"))) _Thread_local

/* Level of every logger that no table entry covers ("astrolab" included, until it is set). */
#define DEFAULT_LEVEL AL_LOG_WARNING
/* Logger used for a NULL name. */
#define ROOT_LOGGER "astrolab"
/* Logger that reports bad ASTROLAB_LOG entries. */
#define SELF_LOGGER "astrolab.log"

typedef struct level_entry {
    char name[AL_LOG_NAME_MAX + 1]; /* a valid logger name, NUL-terminated */
    size_t len;                     /* strlen(name) */
    al_log_level level;
} level_entry;

static struct {
    pthread_rwlock_t lock; /* guards count and entries */
    int count;             /* entries in use, 0..ALI_LOG_MAX_ENTRIES */
    level_entry entries[ALI_LOG_MAX_ENTRIES];
    _Atomic int min_level; /* lowest level over entries and the default: read without the lock
                              by the fast path; written under the write lock */
} levels = {
    .lock = PTHREAD_RWLOCK_INITIALIZER,
    .min_level = DEFAULT_LEVEL,
};

static void stderr_sink(void *user, al_log_level level, const char *logger, const char *message);

static struct {
    pthread_rwlock_t lock; /* read while a sink runs, written to swap fn and user */
    al_log_sink fn;        /* never NULL */
    void *user;
} sink = {
    .lock = PTHREAD_RWLOCK_INITIALIZER,
    .fn = stderr_sink,
    .user = NULL,
};

static pthread_once_t env_once = PTHREAD_ONCE_INIT;
static atomic_bool env_done; /* ASTROLAB_LOG has been applied */
static TLS bool env_reading; /* this thread is applying ASTROLAB_LOG (its warnings log) */
static TLS bool in_log;      /* this thread is inside al_logv: drop nested messages */

static int configure(const char *spec, const char *source);

/* -------- First use: ASTROLAB_LOG. -------- */

static void read_env(void)
{
    env_reading = true;
    const char *spec = getenv("ASTROLAB_LOG");
    if (spec)
        configure(spec, "ASTROLAB_LOG");
    atomic_store_explicit(&env_done, true, memory_order_release);
    env_reading = false;
}

/* Every public call (but the level-name helpers) applies ASTROLAB_LOG first, so levels set by
 * the program always override the environment, whichever call comes first. */
static inline void ensure_env(void)
{
    if (AL_LIKELY(atomic_load_explicit(&env_done, memory_order_acquire)))
        return;
    if (env_reading) /* a warning logged while parsing: pthread_once would deadlock */
        return;
    pthread_once(&env_once, read_env);
}

/* -------- Names and levels. -------- */

static bool name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-';
}

/* Why the `len` bytes at `name` are not a valid logger name, or NULL when they are: dotted
 * components of letters, digits, '_' and '-'; no empty component. */
static const char *name_problem(const char *name, size_t len)
{
    if (len == 0)
        return "empty logger name";
    if (len > AL_LOG_NAME_MAX)
        return "logger name longer than 63 characters";
    bool component_empty = true;
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        if (c == '.') {
            if (component_empty)
                return "empty component in logger name";
            component_empty = true;
        } else if (c == ' ' || c == '\t') {
            return "space in logger name";
        } else if (!name_char(c)) {
            return "logger name may hold only letters, digits, '_', '-' and '.'";
        } else {
            component_empty = false;
        }
    }
    return component_empty ? "empty component in logger name" : NULL;
}

static bool valid_set_level(al_log_level level)
{
    return level == AL_LOG_DEBUG || level == AL_LOG_INFO || level == AL_LOG_WARNING ||
           level == AL_LOG_ERROR || level == AL_LOG_OFF;
}

static bool valid_message_level(al_log_level level)
{
    return level == AL_LOG_DEBUG || level == AL_LOG_INFO || level == AL_LOG_WARNING ||
           level == AL_LOG_ERROR;
}

/* Level of the longest entry that is `name` or a dotted prefix of it; caller holds the lock
 * (either mode). */
static al_log_level lookup_locked(const char *name)
{
    size_t best_len = 0;
    al_log_level best = DEFAULT_LEVEL;
    for (int i = 0; i < levels.count; i++) {
        const level_entry *e = &levels.entries[i];
        if (e->len > best_len && strncmp(name, e->name, e->len) == 0 &&
            (name[e->len] == '\0' || name[e->len] == '.')) {
            best_len = e->len;
            best = e->level;
        }
    }
    return best;
}

static al_log_level effective_level(const char *name)
{
    pthread_rwlock_rdlock(&levels.lock);
    al_log_level level = lookup_locked(name);
    pthread_rwlock_unlock(&levels.lock);
    return level;
}

/* Caller holds the write lock. */
static void update_min_locked(void)
{
    int min = DEFAULT_LEVEL;
    for (int i = 0; i < levels.count; i++)
        if ((int)levels.entries[i].level < min)
            min = (int)levels.entries[i].level;
    atomic_store_explicit(&levels.min_level, min, memory_order_relaxed);
}

/* Sets the level of the valid name at `name` (`len` bytes). AL_ENOMEM when the table is full. */
static int set_level(const char *name, size_t len, al_log_level level)
{
    int rc = AL_OK;
    pthread_rwlock_wrlock(&levels.lock);
    level_entry *found = NULL;
    for (int i = 0; i < levels.count && !found; i++)
        if (levels.entries[i].len == len && memcmp(levels.entries[i].name, name, len) == 0)
            found = &levels.entries[i];
    if (!found && levels.count < ALI_LOG_MAX_ENTRIES) {
        found = &levels.entries[levels.count++];
        memcpy(found->name, name, len);
        found->name[len] = '\0';
        found->len = len;
    }
    if (found) {
        found->level = level;
        update_min_locked();
    } else {
        rc = AL_ENOMEM;
    }
    pthread_rwlock_unlock(&levels.lock);
    return rc;
}

int al_log_set_level(const char *name, al_log_level level)
{
    if (!name || !valid_set_level(level))
        return AL_EINVAL;
    size_t len = strnlen(name, AL_LOG_NAME_MAX + 1);
    if (name_problem(name, len))
        return AL_EINVAL;
    ensure_env();
    return set_level(name, len, level);
}

al_log_level al_log_get_level(const char *name)
{
    ensure_env();
    return effective_level(name ? name : ROOT_LOGGER);
}

int al_log_enabled(al_log_level level, const char *name)
{
    ensure_env();
    if (AL_LIKELY((int)level < atomic_load_explicit(&levels.min_level, memory_order_relaxed)))
        return 0;
    if (!valid_message_level(level))
        return 0;
    return level >= effective_level(name ? name : ROOT_LOGGER);
}

const char *al_log_level_name(al_log_level level)
{
    switch (level) {
    case AL_LOG_DEBUG:
        return "DEBUG";
    case AL_LOG_INFO:
        return "INFO";
    case AL_LOG_WARNING:
        return "WARNING";
    case AL_LOG_ERROR:
        return "ERROR";
    case AL_LOG_OFF:
        return "OFF";
    }
    return "UNKNOWN";
}

/* True when the `n` bytes at `a` equal the lower-case word `b`, ignoring ASCII case
 * (strcasecmp depends on the locale). */
static bool word_eq(const char *a, size_t n, const char *b)
{
    size_t i = 0;
    for (; i < n && b[i]; i++) {
        char c = a[i];
        if (c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        if (c != b[i])
            return false;
    }
    return i == n && b[i] == '\0';
}

static int parse_level(const char *text, size_t n, al_log_level *out)
{
    static const struct {
        const char *word;
        al_log_level level;
    } words[] = {
        {"debug", AL_LOG_DEBUG},  {"info", AL_LOG_INFO},   {"warning", AL_LOG_WARNING},
        {"warn", AL_LOG_WARNING}, {"error", AL_LOG_ERROR}, {"off", AL_LOG_OFF},
    };
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++) {
        if (word_eq(text, n, words[i].word)) {
            *out = words[i].level;
            return AL_OK;
        }
    }
    return AL_EINVAL;
}

int al_log_level_parse(const char *text, al_log_level *out)
{
    if (!text || !out)
        return AL_EINVAL;
    return parse_level(text, strlen(text), out);
}

/* -------- Specs: "name=level,name=level". -------- */

static bool blank(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

/* Trims blanks around [*s, *s + *n). */
static void trim(const char **s, size_t *n)
{
    while (*n > 0 && blank(**s)) {
        (*s)++;
        (*n)--;
    }
    while (*n > 0 && blank((*s)[*n - 1]))
        (*n)--;
}

/* Splits one entry of `n` bytes (trimmed, not empty) into a valid name and level; when it is
 * bad, returns false and, if `source` is not NULL, logs why. */
static bool parse_entry(const char *entry, size_t n, const char *source, const char **name,
                        size_t *name_len, al_log_level *level)
{
    const char *eq = memchr(entry, '=', n);
    if (!eq) {
        if (source)
            al_log(AL_LOG_WARNING, SELF_LOGGER,
                   "%s entry \"%.*s\" skipped: missing '=' (expected NAME=LEVEL)", source, (int)n,
                   entry);
        return false;
    }
    const char *value = eq + 1;
    size_t value_len = n - (size_t)(eq - entry) - 1;
    *name = entry;
    *name_len = (size_t)(eq - entry);
    trim(name, name_len);
    trim(&value, &value_len);
    const char *problem = name_problem(*name, *name_len);
    if (problem) {
        if (source)
            al_log(AL_LOG_WARNING, SELF_LOGGER, "%s entry \"%.*s\" skipped: %s", source, (int)n,
                   entry, problem);
        return false;
    }
    if (parse_level(value, value_len, level) != AL_OK) {
        if (source)
            al_log(AL_LOG_WARNING, SELF_LOGGER,
                   "%s entry \"%.*s\" skipped: unknown level \"%.*s\" (expected debug, info, "
                   "warning, error or off)",
                   source, (int)n, entry, (int)value_len, value);
        return false;
    }
    return true;
}

/* Calls fn(entry, n, source) for each non-blank entry of `spec`; returns how many returned
 * false. Entries are separated by ','; empty ones (",,", a trailing comma) are ignored. */
static int for_each_entry(const char *spec, const char *source,
                          bool (*fn)(const char *entry, size_t n, const char *source))
{
    int failed = 0;
    for (const char *p = spec;;) {
        const char *comma = strchr(p, ',');
        size_t n = comma ? (size_t)(comma - p) : strlen(p);
        const char *entry = p;
        trim(&entry, &n);
        if (n > 0 && !fn(entry, n, source))
            failed++;
        if (!comma)
            return failed;
        p = comma + 1;
    }
}

static bool check_entry(const char *entry, size_t n, const char *source)
{
    const char *name;
    size_t name_len;
    al_log_level level;
    return parse_entry(entry, n, source, &name, &name_len, &level);
}

/* Applies a valid entry; bad ones were reported by check_entry and are skipped quietly. */
static bool apply_entry(const char *entry, size_t n, const char *source)
{
    const char *name;
    size_t name_len;
    al_log_level level;
    if (!parse_entry(entry, n, NULL, &name, &name_len, &level))
        return true;
    if (set_level(name, name_len, level) == AL_OK)
        return true;
    al_log(AL_LOG_WARNING, SELF_LOGGER,
           "%s entry \"%.*s\" skipped: more than %d logger names have levels", source, (int)n,
           entry, ALI_LOG_MAX_ENTRIES);
    return false;
}

/* Every bad entry is reported before any entry applies: with the levels in force before the
 * spec, so "astrolab=error,astrolab.memory=debg" cannot silence the report of its own typo. */
static int configure(const char *spec, const char *source)
{
    int bad = for_each_entry(spec, source, check_entry);
    return bad + for_each_entry(spec, source, apply_entry);
}

int al_log_configure(const char *spec)
{
    if (!spec)
        return AL_EINVAL;
    ensure_env();
    return configure(spec, "log spec");
}

/* -------- Sink. -------- */

/* Room for the time prefix; more than its 26 bytes so the compiler sees no truncation. */
#define TIME_BUF 96

/* Writes "2026-11-25T15:00:00.123Z " (25 bytes and a NUL) into `out`, in UTC, without gmtime_r. */
static void format_time(char out[TIME_BUF])
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    long long secs = (long long)ts.tv_sec;
    long long days = secs / 86400, rem = secs % 86400;
    if (rem < 0) {
        rem += 86400;
        days--;
    }
    /* Civil date from days since 1970-01-01 (H. Hinnant, "chrono-compatible low-level date
     * algorithms", days_from_civil's inverse). */
    long long z = days + 719468;
    long long era = (z >= 0 ? z : z - 146096) / 146097;
    long long doe = z - era * 146097;
    long long yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    long long doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    long long mp = (5 * doy + 2) / 153;
    long long day = doy - (153 * mp + 2) / 5 + 1;
    long long month = mp < 10 ? mp + 3 : mp - 9;
    long long year = yoe + era * 400 + (month <= 2);
    snprintf(out, TIME_BUF, "%04lld-%02lld-%02lldT%02lld:%02lld:%02lld.%03ldZ ", year, month, day,
             rem / 3600, rem / 60 % 60, rem % 60, ts.tv_nsec / 1000000);
}

/* One write(2) per line: lines stay whole when threads log at once (a pipe keeps writes up to
 * PIPE_BUF, 4096 bytes, atomic; a line is at most about 700). */
static void stderr_sink(void *user, al_log_level level, const char *logger, const char *message)
{
    (void)user;
    char line[TIME_BUF + 16 + AL_LOG_NAME_MAX + 2 + AL_LOG_MESSAGE_MAX + 1];
    format_time(line);
    size_t used = strlen(line);
    int n = snprintf(line + used, sizeof line - used, "%s %.*s: %s\n", al_log_level_name(level),
                     AL_LOG_NAME_MAX, logger, message);
    if (n < 0)
        return;
    used += (size_t)n < sizeof line - used ? (size_t)n : sizeof line - used - 1;
    line[used - 1] = '\n';
    const char *p = line;
    while (used > 0) {
        ssize_t w = write(STDERR_FILENO, p, used);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return;
        p += w;
        used -= (size_t)w;
    }
}

al_log_sink al_log_set_sink(al_log_sink fn, void *user, void **old_user)
{
    ensure_env();
    if (in_log) /* called from a sink, which holds the lock for reading: would deadlock */
        return NULL;
    pthread_rwlock_wrlock(&sink.lock);
    al_log_sink old = sink.fn;
    if (old_user)
        *old_user = sink.user;
    sink.fn = fn ? fn : stderr_sink;
    sink.user = fn ? user : NULL;
    pthread_rwlock_unlock(&sink.lock);
    return old;
}

/* -------- Emitting. -------- */

void al_logv(al_log_level level, const char *logger, const char *fmt, va_list ap)
{
    ensure_env();
    if (AL_LIKELY((int)level < atomic_load_explicit(&levels.min_level, memory_order_relaxed)))
        return;
    if (in_log || !valid_message_level(level) || !fmt)
        return;
    if (!logger)
        logger = ROOT_LOGGER;
    int saved_errno = errno; /* callers log between a failing call and their errno check */
    in_log = true;
    if (level >= effective_level(logger)) {
        char message[AL_LOG_MESSAGE_MAX];
        int n = vsnprintf(message, sizeof message, fmt, ap);
        if (n < 0)
            snprintf(message, sizeof message, "(bad log format \"%.100s\")", fmt);
        else if ((size_t)n >= sizeof message)
            memcpy(message + sizeof message - 4, "...", 4);
        pthread_rwlock_rdlock(&sink.lock);
        sink.fn(sink.user, level, logger, message);
        pthread_rwlock_unlock(&sink.lock);
    }
    in_log = false;
    errno = saved_errno;
}

void al_log(al_log_level level, const char *logger, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    al_logv(level, logger, fmt, ap);
    va_end(ap);
}

void ali_log_reset(void)
{
    ensure_env();
    pthread_rwlock_wrlock(&levels.lock);
    levels.count = 0;
    update_min_locked();
    pthread_rwlock_unlock(&levels.lock);
    al_log_set_sink(NULL, NULL, NULL);
}
