// ctest-labels: threads
/* Tests of the logging module (src/log/log.c): levels, prefix inheritance, ASTROLAB_LOG specs,
 * sinks, truncation and threads. Tests that need ASTROLAB_LOG read on first use, or the real
 * stderr sink, run this binary again as a child process (ASTROLAB_LOG_TEST_CHILD=mode). */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "log/log_int.h"
#include "log_capture.h"
#include "test.h"

/* -------- The capture (log_capture.h), on clean levels. -------- */

static void fresh_capture(void)
{
    ali_log_reset();
    capture_begin();
}

static void fresh_end(void)
{
    capture_end();
    ali_log_reset();
}

/* -------- Levels. -------- */

TEST(test_every_logger_defaults_to_warning)
{
    fresh_capture();
    CHECK_EQ_INT(al_log_get_level("astrolab"), AL_LOG_WARNING);
    CHECK_EQ_INT(al_log_get_level("astrolab.memory"), AL_LOG_WARNING);
    CHECK_EQ_INT(al_log_get_level("elsewhere"), AL_LOG_WARNING);
    CHECK_EQ_INT(al_log_get_level(NULL), AL_LOG_WARNING);
    al_log(AL_LOG_INFO, "astrolab.memory", "hidden");
    al_log(AL_LOG_WARNING, "astrolab.memory", "shown");
    CHECK_EQ_INT(log_count, 1);
    CHECK_EQ_STR(log_last, "shown");
    fresh_end();
}

TEST(test_messages_below_the_logger_level_are_dropped)
{
    fresh_capture();
    CHECK_EQ_INT(al_log_set_level("astrolab.t", AL_LOG_INFO), AL_OK);
    CHECK_EQ_INT(al_log_get_level("astrolab.t"), AL_LOG_INFO);
    al_log(AL_LOG_DEBUG, "astrolab.t", "debug");
    al_log(AL_LOG_INFO, "astrolab.t", "info");
    al_log(AL_LOG_WARNING, "astrolab.t", "warning");
    al_log(AL_LOG_ERROR, "astrolab.t", "error");
    CHECK_EQ_INT(log_count, 3);
    CHECK_EQ_STR(log_text, "INFO astrolab.t: info\nWARNING astrolab.t: warning\n"
                           "ERROR astrolab.t: error\n");
    CHECK_EQ_INT(al_log_set_level("astrolab.t", AL_LOG_OFF), AL_OK);
    al_log(AL_LOG_ERROR, "astrolab.t", "silenced");
    CHECK_EQ_INT(log_count, 3);
    fresh_end();
}

TEST(test_prefix_covers_children_but_not_lookalike_names)
{
    fresh_capture();
    CHECK_EQ_INT(al_log_set_level("astrolab", AL_LOG_DEBUG), AL_OK);
    CHECK_EQ_INT(al_log_get_level("astrolab"), AL_LOG_DEBUG);
    CHECK_EQ_INT(al_log_get_level("astrolab.memory"), AL_LOG_DEBUG);
    CHECK_EQ_INT(al_log_get_level("astrolab.memory.deep"), AL_LOG_DEBUG);
    CHECK_EQ_INT(al_log_get_level("astrolabx"), AL_LOG_WARNING);
    CHECK_EQ_INT(al_log_get_level("astrolabx.memory"), AL_LOG_WARNING);
    CHECK_EQ_INT(al_log_get_level("astro"), AL_LOG_WARNING);
    al_log(AL_LOG_DEBUG, "astrolab.memory", "child");
    al_log(AL_LOG_DEBUG, "astrolabx", "lookalike");
    CHECK_EQ_INT(log_count, 1);
    CHECK_EQ_STR(log_last_logger, "astrolab.memory");
    fresh_end();
}

TEST(test_child_level_set_before_its_prefix_survives_the_prefix)
{
    fresh_capture();
    CHECK_EQ_INT(al_log_set_level("astrolab.memory", AL_LOG_ERROR), AL_OK);
    CHECK_EQ_INT(al_log_set_level("astrolab", AL_LOG_DEBUG), AL_OK);
    CHECK_EQ_INT(al_log_get_level("astrolab.memory"), AL_LOG_ERROR);
    CHECK_EQ_INT(al_log_get_level("astrolab.memory.scope"), AL_LOG_ERROR);
    CHECK_EQ_INT(al_log_get_level("astrolab.cuda"), AL_LOG_DEBUG);
    CHECK_EQ_INT(al_log_get_level("astrolab"), AL_LOG_DEBUG);
    fresh_end();
}

TEST(test_child_level_set_after_its_prefix_overrides_the_prefix)
{
    fresh_capture();
    CHECK_EQ_INT(al_log_set_level("astrolab", AL_LOG_DEBUG), AL_OK);
    CHECK_EQ_INT(al_log_set_level("astrolab.memory", AL_LOG_ERROR), AL_OK);
    CHECK_EQ_INT(al_log_get_level("astrolab.memory"), AL_LOG_ERROR);
    CHECK_EQ_INT(al_log_get_level("astrolab.memory.scope"), AL_LOG_ERROR);
    CHECK_EQ_INT(al_log_get_level("astrolab.cuda"), AL_LOG_DEBUG);
    /* Setting the child again is how its level changes. */
    CHECK_EQ_INT(al_log_set_level("astrolab.memory", AL_LOG_INFO), AL_OK);
    CHECK_EQ_INT(al_log_get_level("astrolab.memory"), AL_LOG_INFO);
    fresh_end();
}

TEST(test_set_level_rejects_bad_names_and_levels)
{
    fresh_capture();
    char long_name[AL_LOG_NAME_MAX + 2];
    memset(long_name, 'n', sizeof long_name - 1);
    long_name[sizeof long_name - 1] = '\0'; /* 64 characters */
    const char *bad[] = {NULL,        "",          "astro lab",  "astrolab..memory",
                         ".astrolab", "astrolab.", "astrolab=x", long_name};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECK_EQ_INT(al_log_set_level(bad[i], AL_LOG_DEBUG), AL_EINVAL);
    CHECK_EQ_INT(al_log_set_level("astrolab", (al_log_level)15), AL_EINVAL);
    CHECK_EQ_INT(al_log_set_level("astrolab", (al_log_level)0), AL_EINVAL);
    CHECK_EQ_INT(al_log_get_level("astrolab"), AL_LOG_WARNING);
    long_name[AL_LOG_NAME_MAX] = '\0'; /* 63 characters: the longest accepted */
    CHECK_EQ_INT(al_log_set_level(long_name, AL_LOG_ERROR), AL_OK);
    CHECK_EQ_INT(al_log_get_level(long_name), AL_LOG_ERROR);
    CHECK_EQ_INT(al_log_set_level("my-app_2.sub", AL_LOG_INFO), AL_OK);
    CHECK_EQ_INT(log_count, 0);
    fresh_end();
}

TEST(test_set_level_reports_a_full_table_and_still_updates_known_names)
{
    fresh_capture();
    char name[32];
    for (int i = 0; i < ALI_LOG_MAX_ENTRIES; i++) {
        snprintf(name, sizeof name, "full.n%d", i);
        CHECK_EQ_INT(al_log_set_level(name, AL_LOG_ERROR), AL_OK);
    }
    CHECK_EQ_INT(al_log_set_level("full.extra", AL_LOG_ERROR), AL_ENOMEM);
    CHECK_EQ_INT(al_log_get_level("full.extra"), AL_LOG_WARNING);
    CHECK_EQ_INT(al_log_set_level("full.n7", AL_LOG_DEBUG), AL_OK);
    CHECK_EQ_INT(al_log_get_level("full.n7"), AL_LOG_DEBUG);
    CHECK_EQ_INT(al_log_configure("full.extra=info"), 1);
    CHECK(captured("\"full.extra=info\" skipped: more than 128 logger names"));
    fresh_end();
}

TEST(test_enabled_follows_the_effective_level)
{
    fresh_capture();
    CHECK(!al_log_enabled(AL_LOG_DEBUG, "astrolab.memory"));
    CHECK(!al_log_enabled(AL_LOG_INFO, "astrolab.memory"));
    CHECK(al_log_enabled(AL_LOG_WARNING, "astrolab.memory"));
    CHECK(al_log_enabled(AL_LOG_ERROR, NULL));
    CHECK_EQ_INT(al_log_set_level("astrolab.memory", AL_LOG_DEBUG), AL_OK);
    CHECK(al_log_enabled(AL_LOG_DEBUG, "astrolab.memory"));
    CHECK(al_log_enabled(AL_LOG_DEBUG, "astrolab.memory.scope"));
    CHECK(!al_log_enabled(AL_LOG_DEBUG, "astrolab.cuda"));
    CHECK(!al_log_enabled(AL_LOG_DEBUG, "astrolab"));
    CHECK_EQ_INT(al_log_set_level("astrolab", AL_LOG_OFF), AL_OK);
    CHECK(!al_log_enabled(AL_LOG_ERROR, "astrolab.cuda"));
    CHECK(al_log_enabled(AL_LOG_ERROR, "astrolab.memory"));
    /* OFF and unknown values are not message levels. */
    CHECK(!al_log_enabled(AL_LOG_OFF, "astrolab.memory"));
    CHECK(!al_log_enabled((al_log_level)15, "astrolab.memory"));
    fresh_end();
}

TEST(test_level_names_print_and_parse_ignoring_case)
{
    CHECK_EQ_STR(al_log_level_name(AL_LOG_DEBUG), "DEBUG");
    CHECK_EQ_STR(al_log_level_name(AL_LOG_INFO), "INFO");
    CHECK_EQ_STR(al_log_level_name(AL_LOG_WARNING), "WARNING");
    CHECK_EQ_STR(al_log_level_name(AL_LOG_ERROR), "ERROR");
    CHECK_EQ_STR(al_log_level_name(AL_LOG_OFF), "OFF");
    CHECK_EQ_STR(al_log_level_name((al_log_level)15), "UNKNOWN");
    static const struct {
        const char *text;
        al_log_level level;
    } good[] = {
        {"debug", AL_LOG_DEBUG},  {"DeBuG", AL_LOG_DEBUG},     {"INFO", AL_LOG_INFO},
        {"warn", AL_LOG_WARNING}, {"WARNING", AL_LOG_WARNING}, {"Error", AL_LOG_ERROR},
        {"off", AL_LOG_OFF},
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        al_log_level out = 0;
        CHECK_EQ_INT(al_log_level_parse(good[i].text, &out), AL_OK);
        CHECK_EQ_INT(out, good[i].level);
        /* Printing and parsing round-trip. */
        CHECK_EQ_INT(al_log_level_parse(al_log_level_name(good[i].level), &out), AL_OK);
        CHECK_EQ_INT(out, good[i].level);
    }
    const char *bad[] = {"", "verbose", "warnings", "war", "debug ", "10", "UNKNOWN"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        al_log_level out = AL_LOG_INFO;
        CHECK_EQ_INT(al_log_level_parse(bad[i], &out), AL_EINVAL);
        CHECK_EQ_INT(out, AL_LOG_INFO);
    }
    al_log_level out;
    CHECK_EQ_INT(al_log_level_parse(NULL, &out), AL_EINVAL);
    CHECK_EQ_INT(al_log_level_parse("debug", NULL), AL_EINVAL);
}

/* -------- Specs (ASTROLAB_LOG syntax). -------- */

TEST(test_configure_applies_every_valid_entry)
{
    fresh_capture();
    CHECK_EQ_INT(al_log_configure("astrolab.memory=debug,astrolab=error"), 0);
    CHECK_EQ_INT(al_log_get_level("astrolab.memory"), AL_LOG_DEBUG);
    CHECK_EQ_INT(al_log_get_level("astrolab.cuda"), AL_LOG_ERROR);
    CHECK_EQ_INT(al_log_configure(" astrolab.cuda = Info ,, astrolab.ui=WARN,"), 0);
    CHECK_EQ_INT(al_log_get_level("astrolab.cuda"), AL_LOG_INFO);
    CHECK_EQ_INT(al_log_get_level("astrolab.ui"), AL_LOG_WARNING);
    CHECK_EQ_INT(al_log_configure(""), 0);
    CHECK_EQ_INT(al_log_configure("astrolab.cuda=off"), 0);
    CHECK_EQ_INT(al_log_get_level("astrolab.cuda"), AL_LOG_OFF);
    CHECK_EQ_INT(al_log_configure(NULL), AL_EINVAL);
    CHECK_EQ_INT(log_count, 0);
    fresh_end();
}

TEST(test_configure_reports_each_malformed_entry_and_applies_the_rest)
{
    fresh_capture();
    char spec[256];
    snprintf(spec, sizeof spec,
             "nolevel,astrolab.a=loud,=debug,astro lab=info,%s=debug,astrolab..b=info,"
             "astrolab.b=error",
             "n234567890123456789012345678901234567890123456789012345678901234"); /* 64 */
    CHECK_EQ_INT(al_log_configure(spec), 6);
    CHECK_EQ_INT(log_count, 6);
    CHECK(captured("WARNING astrolab.log: log spec entry \"nolevel\" skipped: missing '='"));
    CHECK(captured("entry \"astrolab.a=loud\" skipped: unknown level \"loud\""));
    CHECK(captured("entry \"=debug\" skipped: empty logger name"));
    CHECK(captured("entry \"astro lab=info\" skipped: space in logger name"));
    CHECK(captured("=debug\" skipped: logger name longer than 63 characters"));
    CHECK(captured("entry \"astrolab..b=info\" skipped: empty component in logger name"));
    CHECK_EQ_INT(al_log_get_level("astrolab.a"), AL_LOG_WARNING);
    CHECK_EQ_INT(al_log_get_level("astrolab.b"), AL_LOG_ERROR);
    CHECK_EQ_INT(al_log_get_level("astrolab"), AL_LOG_WARNING);
    fresh_end();
}

TEST(test_configure_reports_mistakes_before_its_own_levels_apply)
{
    fresh_capture();
    /* Raising astrolab (and so astrolab.log) to ERROR must not hide the typo's warning. */
    CHECK_EQ_INT(al_log_configure("astrolab=error,astrolab.memory=debg"), 1);
    CHECK(captured("\"astrolab.memory=debg\" skipped: unknown level \"debg\""));
    CHECK_EQ_INT(al_log_get_level("astrolab"), AL_LOG_ERROR);
    /* Its reports are ordinary messages of "astrolab.log", which its level can silence. */
    CHECK_EQ_INT(al_log_configure("astrolab.x=nope"), 1);
    CHECK_EQ_INT(log_count, 1);
    fresh_end();
}

/* -------- Sinks and messages. -------- */

TEST(test_sink_receives_level_logger_and_formatted_text)
{
    fresh_capture();
    al_log(AL_LOG_ERROR, "astrolab.tensors", "batch %d of %s: %.1f MiB", 3, "catalog", 2.5);
    CHECK_EQ_INT(log_count, 1);
    CHECK_EQ_INT(log_last_level, AL_LOG_ERROR);
    CHECK_EQ_STR(log_last_logger, "astrolab.tensors");
    CHECK_EQ_STR(log_last, "batch 3 of catalog: 2.5 MiB");
    al_log(AL_LOG_WARNING, NULL, "root");
    CHECK_EQ_STR(log_last_logger, "astrolab");
    al_log(AL_LOG_OFF, "astrolab", "OFF is not a message level");
    CHECK_EQ_INT(log_count, 2);
    fresh_end();
}

static void other_sink(void *user, al_log_level level, const char *logger, const char *message)
{
    (void)level, (void)logger, (void)message;
    ++*(int *)user;
}

TEST(test_set_sink_returns_the_previous_one_and_null_restores_stderr)
{
    fresh_capture();
    int other_count = 0;
    void *old_user = &old_user;
    al_log_sink old = al_log_set_sink(other_sink, &other_count, &old_user);
    CHECK(old == capture_sink);
    CHECK(old_user == NULL);
    al_log(AL_LOG_ERROR, "astrolab.t", "to other");
    CHECK_EQ_INT(other_count, 1);
    CHECK_EQ_INT(log_count, 0);
    al_log_sink stderr_sink = al_log_set_sink(NULL, NULL, &old_user);
    CHECK(stderr_sink == other_sink);
    CHECK(old_user == &other_count);
    old = al_log_set_sink(capture_sink, NULL, &old_user); /* the default is back */
    CHECK(old != NULL && old != other_sink && old != capture_sink);
    CHECK(old_user == NULL);
    al_log(AL_LOG_ERROR, "astrolab.t", "to capture");
    CHECK_EQ_INT(log_count, 1);
    CHECK_EQ_INT(other_count, 1);
    fresh_end();
}

TEST(test_long_message_is_truncated_and_ends_in_dots)
{
    fresh_capture();
    char big[2000];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    al_log(AL_LOG_ERROR, "astrolab.t", "%s", big);
    CHECK_EQ_INT(strlen(log_last), AL_LOG_MESSAGE_MAX - 1);
    CHECK_EQ_STR(log_last + AL_LOG_MESSAGE_MAX - 4, "...");
    CHECK(log_last[AL_LOG_MESSAGE_MAX - 5] == 'a' && log_last[0] == 'a');
    /* The longest message that fits arrives whole. */
    big[AL_LOG_MESSAGE_MAX - 1] = '\0';
    al_log(AL_LOG_ERROR, "astrolab.t", "%s", big);
    CHECK_EQ_STR(log_last, big);
    fresh_end();
}

static void logging_sink(void *user, al_log_level level, const char *logger, const char *message)
{
    (void)user;
    capture_sink(NULL, level, logger, message);
    al_log(AL_LOG_ERROR, "astrolab.t", "nested from the sink"); /* dropped, not recursed */
}

TEST(test_message_logged_from_inside_the_sink_is_dropped)
{
    fresh_capture();
    al_log_set_sink(logging_sink, NULL, NULL);
    al_log(AL_LOG_ERROR, "astrolab.t", "outer");
    al_log(AL_LOG_ERROR, "astrolab.t", "second");
    CHECK_EQ_INT(log_count, 2);
    CHECK_EQ_STR(log_text, "ERROR astrolab.t: outer\nERROR astrolab.t: second\n");
    fresh_end();
}

static al_log_sink swap_result = capture_sink;

static void swapping_sink(void *user, al_log_level level, const char *logger, const char *message)
{
    capture_sink(user, level, logger, message);
    swap_result = al_log_set_sink(other_sink, NULL, NULL); /* refused: it would deadlock */
}

TEST(test_set_sink_from_inside_a_sink_is_refused)
{
    fresh_capture();
    al_log_set_sink(swapping_sink, NULL, NULL);
    al_log(AL_LOG_ERROR, "astrolab.t", "first");
    CHECK(swap_result == NULL);
    al_log(AL_LOG_ERROR, "astrolab.t", "second"); /* still reaches swapping_sink */
    CHECK_EQ_INT(log_count, 2);
    CHECK(al_log_set_sink(NULL, NULL, NULL) == swapping_sink);
    fresh_end();
}

TEST(test_log_leaves_errno_unchanged)
{
    fresh_capture();
    errno = ERANGE;
    al_log(AL_LOG_ERROR, "astrolab.t", "%s", "kept");
    CHECK_EQ_INT(errno, ERANGE);
    al_log(AL_LOG_DEBUG, "astrolab.t", "%s", "filtered");
    CHECK_EQ_INT(errno, ERANGE);
    fresh_end();
}

/* -------- Threads. -------- */

enum { THREAD_MESSAGES = 3000 };

static struct {
    atomic_int errors_seen;   /* ERROR messages received, both sinks together */
    atomic_int debug_seen;    /* DEBUG messages received */
    atomic_int bad_messages;  /* messages that arrived garbled */
    atomic_int in_a;          /* calls of sink_a running now */
    atomic_int swap_failures; /* sink_a still running after the swap away from it returned */
    atomic_bool stop;
} th;

static void check_message(al_log_level level, const char *logger, const char *message)
{
    int t, i;
    char tail;
    if (strcmp(logger, "astrolab.threads.w") != 0 ||
        sscanf(message, "thread %d message %d%c", &t, &i, &tail) != 2 || t < 0 || t > 1 || i < 0 ||
        i >= THREAD_MESSAGES)
        atomic_fetch_add(&th.bad_messages, 1);
    atomic_fetch_add(level == AL_LOG_ERROR ? &th.errors_seen : &th.debug_seen, 1);
}

static void sink_a(void *user, al_log_level level, const char *logger, const char *message)
{
    (void)user;
    atomic_fetch_add(&th.in_a, 1);
    check_message(level, logger, message);
    atomic_fetch_sub(&th.in_a, 1);
}

static void sink_b(void *user, al_log_level level, const char *logger, const char *message)
{
    (void)user;
    check_message(level, logger, message);
}

static void *writer(void *arg)
{
    int t = (int)(intptr_t)arg;
    for (int i = 0; i < THREAD_MESSAGES; i++) {
        al_log(AL_LOG_ERROR, "astrolab.threads.w", "thread %d message %d", t, i);
        if (al_log_enabled(AL_LOG_DEBUG, "astrolab.threads.w"))
            al_log(AL_LOG_DEBUG, "astrolab.threads.w", "thread %d message %d", t, i);
    }
    return NULL;
}

static void *changer(void *arg)
{
    (void)arg;
    for (unsigned n = 0; !atomic_load(&th.stop); n++) {
        (void)!al_log_set_level("astrolab.threads", n % 2 ? AL_LOG_DEBUG : AL_LOG_ERROR);
        (void)!al_log_set_level("astrolab", n % 3 ? AL_LOG_INFO : AL_LOG_WARNING);
        al_log_set_sink(n % 2 ? sink_a : sink_b, NULL, NULL);
        if (n % 2 == 0 && atomic_load(&th.in_a) != 0)
            atomic_fetch_add(&th.swap_failures, 1);
        sched_yield();
    }
    return NULL;
}

TEST(test_threads_log_while_levels_and_sinks_change)
{
    fresh_capture();
    memset(&th, 0, sizeof th);
    al_log_set_sink(sink_a, NULL, NULL);
    pthread_t writers[2], change;
    CHECK_EQ_INT(pthread_create(&change, NULL, changer, NULL), 0);
    for (int t = 0; t < 2; t++)
        CHECK_EQ_INT(pthread_create(&writers[t], NULL, writer, (void *)(intptr_t)t), 0);
    for (int t = 0; t < 2; t++)
        pthread_join(writers[t], NULL);
    atomic_store(&th.stop, true);
    pthread_join(change, NULL);
    CHECK_EQ_INT(atomic_load(&th.errors_seen), 2 * THREAD_MESSAGES);
    CHECK(atomic_load(&th.debug_seen) <= 2 * THREAD_MESSAGES);
    CHECK_EQ_INT(atomic_load(&th.bad_messages), 0);
    CHECK_EQ_INT(atomic_load(&th.swap_failures), 0);
    fresh_end();
}

/* -------- Child processes: ASTROLAB_LOG on first use and the stderr sink. -------- */

enum { CHILD_LINES = 200 };

static void *child_writer(void *arg)
{
    int t = (int)(intptr_t)arg;
    char pad[401];
    memset(pad, 'a' + t, sizeof pad - 1);
    pad[sizeof pad - 1] = '\0';
    for (int i = 0; i < CHILD_LINES; i++)
        al_log(AL_LOG_WARNING, "astrolab.child", "thread %d line %d %s", t, i, pad);
    return NULL;
}

/* Runs in the child; returns its exit status (0: every check held). */
static int child_main(const char *mode)
{
    int failed = 0;
#define CHILD_CHECK(c) (!(c) ? printf("child check failed: %s\n", #c), failed++ : 0)
    if (strcmp(mode, "env") == 0) {
        /* The first call of all: the environment applies before it, so the program wins. */
        CHILD_CHECK(al_log_set_level("astrolab.tensors", AL_LOG_ERROR) == AL_OK);
        CHILD_CHECK(al_log_get_level("astrolab.tensors") == AL_LOG_ERROR);
        CHILD_CHECK(al_log_get_level("astrolab.memory") == AL_LOG_DEBUG);
        CHILD_CHECK(al_log_get_level("astrolab.memory.scope") == AL_LOG_DEBUG);
        CHILD_CHECK(al_log_get_level("astrolab.cuda") == AL_LOG_ERROR);
        CHILD_CHECK(al_log_get_level("other") == AL_LOG_WARNING);
        al_log(AL_LOG_DEBUG, "astrolab.memory", "child debug line");
        al_log(AL_LOG_WARNING, "astrolab.cuda", "must not appear");
    } else if (strcmp(mode, "threads") == 0) {
        pthread_t t[2];
        for (int i = 0; i < 2; i++)
            pthread_create(&t[i], NULL, child_writer, (void *)(intptr_t)i);
        for (int i = 0; i < 2; i++)
            pthread_join(t[i], NULL);
    } else {
        CHILD_CHECK(!"unknown child mode");
    }
#undef CHILD_CHECK
    fflush(stdout);
    return failed ? 1 : 0;
}

/* Runs this binary in `mode` with ASTROLAB_LOG=`spec` (NULL: unset); returns its exit status
 * and its stderr in a malloc'ed string the caller frees (NULL on failure). */
static int run_child(const char *mode, const char *spec, char **err_text)
{
    *err_text = NULL;
    int fds[2];
    if (pipe(fds) != 0)
        return -1;
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        dup2(fds[1], STDERR_FILENO);
        close(fds[0]);
        close(fds[1]);
        setenv("ASTROLAB_LOG_TEST_CHILD", mode, 1);
        if (spec)
            setenv("ASTROLAB_LOG", spec, 1);
        else
            unsetenv("ASTROLAB_LOG");
        execl("/proc/self/exe", "test_log", (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    size_t cap_bytes = 1 << 20, used = 0;
    char *text = malloc(cap_bytes);
    ssize_t n;
    while (text && used < cap_bytes - 1 &&
           ((n = read(fds[0], text + used, cap_bytes - 1 - used)) > 0 || (n < 0 && errno == EINTR)))
        used += n > 0 ? (size_t)n : 0;
    close(fds[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    if (text)
        text[used] = '\0';
    *err_text = text;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* "2026-11-25T15:00:00.123Z LEVEL logger: text" with the time within a minute of now (UTC). */
static int line_is_well_formed(const char *line, const char *level_logger)
{
    int y, mo, d, h, mi, s, ms, used = 0;
    if (sscanf(line, "%4d-%2d-%2dT%2d:%2d:%2d.%3dZ %n", &y, &mo, &d, &h, &mi, &s, &ms, &used) !=
            7 ||
        used != 25)
        return 0;
    struct tm tm = {.tm_year = y - 1900,
                    .tm_mon = mo - 1,
                    .tm_mday = d,
                    .tm_hour = h,
                    .tm_min = mi,
                    .tm_sec = s};
    long long diff = (long long)timegm(&tm) - (long long)time(NULL);
    if (diff < -60 || diff > 60)
        return 0;
    return strncmp(line + used, level_logger, strlen(level_logger)) == 0;
}

TEST(test_astrolab_log_is_read_on_first_use_and_bad_entries_warn_on_stderr)
{
    int failed_before = test_failed_checks;
    char *err = NULL;
    int rc = run_child("env", "astrolab.memory=debug, astrolab=error,bogus,astrolab.x=shout", &err);
    CHECK_EQ_INT(rc, 0);
    CHECK(err != NULL);
    if (!err)
        return;
    CHECK(strstr(err, "WARNING astrolab.log: ASTROLAB_LOG entry \"bogus\" skipped: missing '='"));
    CHECK(strstr(err, "WARNING astrolab.log: ASTROLAB_LOG entry \"astrolab.x=shout\" skipped: "
                      "unknown level \"shout\""));
    CHECK(strstr(err, "DEBUG astrolab.memory: child debug line\n"));
    CHECK(!strstr(err, "must not appear"));
    int lines = 0;
    for (char *line = err; *line; lines++) {
        char *end = strchr(line, '\n');
        CHECK(end != NULL);
        if (!end)
            break;
        CHECK(line_is_well_formed(line, "WARNING astrolab.log: ") ||
              line_is_well_formed(line, "DEBUG astrolab.memory: "));
        line = end + 1;
    }
    CHECK_EQ_INT(lines, 3);
    if (test_failed_checks != failed_before)
        fprintf(stderr, "  child stderr:\n%s", err);
    free(err);
}

TEST(test_stderr_sink_keeps_lines_from_threads_whole)
{
    char *err = NULL;
    CHECK_EQ_INT(run_child("threads", NULL, &err), 0);
    CHECK(err != NULL);
    if (!err)
        return;
    int lines = 0, bad = 0, per_thread[2] = {0, 0};
    for (char *line = err; *line; lines++) {
        char *end = strchr(line, '\n');
        if (!end) {
            bad++;
            break;
        }
        *end = '\0';
        const char *text = strstr(line, "astrolab.child: ");
        int t = -1, i = -1, used = 0;
        if (!line_is_well_formed(line, "WARNING astrolab.child: ") || !text ||
            sscanf(text, "astrolab.child: thread %d line %d %n", &t, &i, &used) != 2 || t < 0 ||
            t > 1 || strlen(text + used) != 400 || strspn(text + used, t ? "b" : "a") != 400)
            bad++;
        else
            per_thread[t]++;
        line = end + 1;
    }
    CHECK_EQ_INT(bad, 0);
    CHECK_EQ_INT(lines, 2 * CHILD_LINES);
    CHECK_EQ_INT(per_thread[0], CHILD_LINES);
    CHECK_EQ_INT(per_thread[1], CHILD_LINES);
    free(err);
}

int main(int argc, char **argv)
{
    const char *mode = getenv("ASTROLAB_LOG_TEST_CHILD");
    if (mode)
        return child_main(mode);
    return test_main(argc, argv);
}
