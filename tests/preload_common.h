/* What the tests of whole-program mode share (test_preload*.c): running a test program under
 * `astrolab run`, reading its JSON report, and finding a site by a marker comment in the
 * program's source (tests/programs/). */
#ifndef ASTROLAB_TESTS_PRELOAD_COMMON_H
#define ASTROLAB_TESTS_PRELOAD_COMMON_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "run_common.h"
#include "test.h"

#define BUILD ASTROLAB_BUILD_DIR
#define PROGRAMS ASTROLAB_TESTS_DIR "/programs"

/* Line of the first line of `file` holding `marker`. */
static inline int marker_line(const char *file, const char *marker)
{
    char path[512], line[512];
    snprintf(path, sizeof path, "%s/%s", PROGRAMS, file);
    FILE *f = fopen(path, "r");
    int n = 0, found = 0;
    while (f && fgets(line, sizeof line, f)) {
        n++;
        if (strstr(line, marker)) {
            found = n;
            break;
        }
    }
    if (f)
        fclose(f);
    return found;
}

/* Runs `astrolab run --report REPORT -- PROGRAM` (a program built in tests/); stderr goes to
 * errfile. Returns the raw wait status. */
static inline int run_program(const char *program, const char *report, const char *errfile)
{
    char prog[512];
    snprintf(prog, sizeof prog, "%s/tests/%s", BUILD, program);
    return start_run(true, NULL, NULL, errfile,
                     (const char *[]){"--report", report, "--", prog, NULL});
}

static inline cJSON *load_json(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    static char buf[1 << 20];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    return cJSON_Parse(buf);
}

/* Runs `astrolab run OPTS... --report REPORT -- tests/PROGRAM` (OPTS NULL-terminated, at most
 * 8; NULL: none), stderr to errfile, and checks that it exited with `code`; returns the report
 * (cJSON_Delete it), or NULL, the check failed, when there is none. *status (may be NULL) gets
 * the wait status. */
static inline cJSON *run_report_with(const char *const *opts, const char *program,
                                     const char *report, const char *errfile, int code, int *status)
{
    char prog[512];
    snprintf(prog, sizeof prog, "%s/tests/%s", BUILD, program);
    const char *args[13];
    int n = 0;
    for (; opts && opts[n] && n < 8; n++)
        args[n] = opts[n];
    args[n++] = "--report", args[n++] = report, args[n++] = "--", args[n++] = prog;
    args[n] = NULL;
    int st = start_run(true, NULL, NULL, errfile, args);
    if (status)
        *status = st;
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == code);
    cJSON *doc = load_json(report);
    CHECK(doc != NULL);
    return doc;
}

/* run_report_with, no options. */
static inline cJSON *run_report(const char *program, const char *report, const char *errfile,
                                int code, int *status)
{
    return run_report_with(NULL, program, report, errfile, code, status);
}

/* As run_program with one environment variable set for the run. */
static inline int run_program_env(const char *program, const char *report, const char *errfile,
                                  const char *name, const char *value)
{
    setenv(name, value, 1);
    int status = run_program(program, report, errfile);
    unsetenv(name);
    return status;
}

static inline char *slurp(const char *path)
{
    static char buf[1 << 16];
    FILE *f = fopen(path, "r");
    size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
    if (f)
        fclose(f);
    buf[n] = 0;
    return buf;
}

/* The entry of `list` (site entries with "file" and "line") at file:line, or NULL. */
static inline const cJSON *entry_at_line(const cJSON *list, const char *file, int line)
{
    const cJSON *e;
    cJSON_ArrayForEach(e, list)
    {
        const char *f = cJSON_GetStringValue(cJSON_GetObjectItem(e, "file"));
        if (f && strstr(f, file) && cJSON_GetObjectItem(e, "line")->valueint == line)
            return e;
    }
    return NULL;
}

/* The leak entry at file:line, or NULL. */
static inline const cJSON *leak_at(const cJSON *doc, const char *file, int line)
{
    return entry_at_line(cJSON_GetObjectItem(doc, "leaks"), file, line);
}

static inline int preload_built(void) { return access(BUILD "/libastrolab_preload.so", R_OK) == 0; }

static inline void check_leak(const cJSON *doc, const char *file, const char *marker, int count,
                              int bytes)
{
    int line = marker_line(file, marker);
    const cJSON *l = leak_at(doc, file, line);
    if (!l)
        fprintf(stderr, "  no leak reported at %s:%d (%s)\n", file, line, marker);
    CHECK(l != NULL);
    if (l) {
        CHECK_EQ_INT(cJSON_GetObjectItem(l, "count")->valueint, count);
        CHECK_EQ_INT(cJSON_GetObjectItem(l, "bytes")->valueint, bytes);
    }
}

static inline void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

/* Does entry e's `stack` hold function fn? */
static inline bool stack_has(const cJSON *e, const char *fn)
{
    const cJSON *f;
    cJSON_ArrayForEach(f, cJSON_GetObjectItem(e, "stack"))
    {
        const char *name = cJSON_GetStringValue(cJSON_GetObjectItem(f, "function"));
        if (name && strcmp(name, fn) == 0)
            return true;
    }
    return false;
}

static inline int run_args(const char *errfile, const char *const *args)
{
    return start_run(true, NULL, NULL, errfile, args);
}

static inline double number(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItem(o, key);
    return cJSON_IsNumber(v) ? v->valuedouble : -1;
}

/* Every test file's main: skips when the preload library is not built (sanitizer builds). */
#define PRELOAD_TEST_MAIN()                                                                        \
    int main(int argc, char **argv)                                                                \
    {                                                                                              \
        if (!preload_built()) {                                                                    \
            printf("the preload library is not built in this configuration (sanitizer build)\n");  \
            return 77;                                                                             \
        }                                                                                          \
        return test_main(argc, argv);                                                              \
    }

#endif
