/* Which leaks are the program's own, and suppressions: the `origin` and `suppressed` keys of
 * the run report's leak entries (docs/RUN-REPORT.md).
 *
 * Origin: a leak is the program's when a frame of its stack lies in the program's executable
 * or in an object `astrolab run --own` names (a library shipped as part of the program, as
 * astrometry.net keeps its code in libastrometry.so.0), else it was made entirely inside other
 * libraries (the report summarizes those).
 *
 * Suppressions are LeakSanitizer's format (`leak:PATTERN` lines; `#` comments and blank lines
 * ignored), read from the files `astrolab run --suppressions FILE` names
 * (ASTROLAB_RUN_SUPPRESSIONS, one path per line, checked by the CLI) and from the default list
 * below. A pattern matches a frame's function, object (module) or source file name, as a
 * substring; `*` matches any run of characters, `^` at the start and `$` at the end anchor it,
 * as in LeakSanitizer (sanitizer_common's TemplateMatch). A matched leak is kept in the report,
 * marked with the pattern that matched it. */
#include <cjson/cJSON.h>
#include <errno.h> /* program_invocation_name */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "memory/services_int.h"
#include "preload_int.h"
#include "util/settings_int.h"

/* The default list: one-time allocations that common system libraries make for the life of
 * the process and never free, by design. Each entry says why. Only libraries, never a
 * program's own code: a program's leak is never suppressed by default. */
static const char *const default_list[] = {
    /* GnuTLS and libcurl-gnutls allocate their global state (cipher tables, the system trust
     * store) once, at initialization, and keep it until exit (Open MPI loads libcurl-gnutls
     * through its plugins). */
    "libgnutls.so",
    /* libgcrypt's secure memory pool and its random-number state: allocated once, kept. */
    "libgcrypt.so",
    /* Open MPI's plugins (mca_*) and libraries register their components and parameters at
     * MPI_Init and leave them to the process's end, the way valgrind's openmpi suppression
     * files list them. */
    "^mca_",
    "libopen-pal.so",
    "libopen-rte.so",
    /* hwloc's topology, built once by Open MPI's initialization. */
    "libhwloc.so",
    /* The dynamic loader's and libdl's own records of loaded objects (dlopen). */
    "^ld-linux",
    "^_dl_",
    /* fontconfig's cache of the font configuration, loaded once per process. */
    "libfontconfig.so",
};

#define MAX_PATTERNS 1024

static struct {
    bool loaded;
    size_t n;
    char *pattern[MAX_PATTERNS]; /* bookkeeping memory, kept to exit */
} sup;

/* Does text match glob p, whose only special character is '*'? */
static bool glob(const char *p, const char *t)
{
    for (; *p && *p != '*'; p++, t++)
        if (*p != *t)
            return false;
    if (!*p)
        return !*t;
    while (*p == '*')
        p++;
    for (;; t++) {
        if (glob(p, t))
            return true;
        if (!*t)
            return false;
    }
}

/* Does text match the LeakSanitizer template tmpl: a substring match unless anchored by '^'
 * at its start or '$' at its end, '*' matching any run of characters? */
static bool template_match(const char *tmpl, const char *text)
{
    char p[512];
    size_t len = strlen(tmpl);
    bool start = len && tmpl[0] == '^', end = len > (size_t)start && tmpl[len - 1] == '$';
    if (!text || len + 3 > sizeof p)
        return false;
    snprintf(p, sizeof p, "%s%.*s%s", start ? "" : "*", (int)(len - start - end), tmpl + start,
             end ? "" : "*");
    return glob(p, text);
}

static void add(const char *pattern)
{
    if (sup.n < MAX_PATTERNS && (sup.pattern[sup.n] = ali_internal_strdup(pattern)) != NULL)
        sup.n++;
}

/* Reads one suppression file's `leak:` patterns (the CLI checked it before the run). */
static void read_file(const char *path)
{
    FILE *f = fopen(path, "re");
    char line[1024];
    while (f && fgets(line, sizeof line, f)) {
        char *s = line + strspn(line, " \t");
        s[strcspn(s, "\r\n")] = '\0';
        if (strncmp(s, "leak:", 5) == 0 && s[5])
            add(s + 5);
    }
    if (f)
        fclose(f);
}

static bool read_one(const char *path, int i, void *arg)
{
    (void)i, (void)arg;
    read_file(path);
    return false;
}

static void load(void)
{
    if (sup.loaded)
        return;
    sup.loaded = true;
    for (size_t i = 0; i < sizeof default_list / sizeof default_list[0]; i++)
        add(default_list[i]);
    ali_preload_each_item(ali_setting_text(ALI_SET_RUN_SUPPRESSIONS), '\n', read_one, NULL);
}

const char *ali_suppression_match(const ali_symbol *frames, int n)
{
    load();
    for (size_t p = 0; p < sup.n; p++)
        for (int i = 0; i < n; i++)
            if (template_match(sup.pattern[p], frames[i].function) ||
                template_match(sup.pattern[p], frames[i].object) ||
                (frames[i].file[0] && template_match(sup.pattern[p], frames[i].file)))
                return sup.pattern[p];
    return NULL;
}

/* Calls fn(pattern, i, arg) for each `--own` pattern (ASTROLAB_RUN_OWN: comma-separated
 * LeakSanitizer templates, matched as suppressions are) until it returns true; true then. */
static bool each_own(bool (*fn)(const char *pattern, int i, void *arg), void *arg)
{
    return ali_preload_each_item(ali_setting_text(ALI_SET_RUN_OWN), ',', fn, arg);
}

#define OWN_MAX 64             /* --own patterns whose use is told (the rest still work) */
static bool own_used[OWN_MAX]; /* the i-th pattern matched a frame's object (report time) */

static bool own_matches(const char *pattern, int i, void *object)
{
    if (!template_match(pattern, object))
        return false;
    if (i < OWN_MAX)
        own_used[i] = true;
    return true;
}

/* Whether object (a base name) is one `--own` names. */
static bool owned(const char *object) { return each_own(own_matches, (void *)object); }

static bool add_unused(const char *pattern, int i, void *arr)
{
    if (i < OWN_MAX && !own_used[i])
        cJSON_AddItemToArray(arr, cJSON_CreateString(pattern));
    return false;
}

cJSON *ali_own_unused_json(void)
{
    cJSON *arr = cJSON_CreateArray();
    if (arr)
        each_own(add_unused, arr);
    return arr;
}

bool ali_frames_in_program(const ali_symbol *frames, int n)
{
    /* The executable's names: the file's, and the one its frames carry, which is dladdr's for
     * the main program, argv[0] (sh for /bin/dash, python3 for python3.11). */
    static char exe[256], invoked[256];
    if (!exe[0]) {
        char path[4096];
        ssize_t len = readlink("/proc/self/exe", path, sizeof path - 1);
        path[len > 0 ? len : 0] = '\0';
        snprintf(exe, sizeof exe, "%s", ali_preload_base_name(path));
        snprintf(invoked, sizeof invoked, "%s",
                 program_invocation_name ? ali_preload_base_name(program_invocation_name) : "");
    }
    for (int i = 0; i < n; i++)
        if (frames[i].object[0] &&
            (strcmp(frames[i].object, exe) == 0 ||
             (invoked[0] && strcmp(frames[i].object, invoked) == 0) || owned(frames[i].object)))
            return true;
    return false;
}
