/* The settings table: every ASTROLAB_* environment variable, read once (at the first use of
 * any), checked against the table, and shown through <astrolab/settings.h>. The model is
 * mimalloc's options.c: one table of name, default and meaning, instead of getenv calls spread
 * over the modules. ASTROLAB_LOG is read by the log module itself (the settings report refusals
 * through it); the table still lists it. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "astrolab/cuda.h" /* AL_CUDA_MAX_DEVICES */
#include "astrolab/log.h"
#include "astrolab/settings.h"
#include "util/assert_int.h"
#include "util/settings_int.h"

typedef enum { KIND_TEXT, KIND_NUMBER, KIND_CHOICE } setting_kind;

typedef struct setting {
    const char *name;
    setting_kind kind;
    const char *def;     /* default as text; "" when none */
    long long min, max;  /* KIND_NUMBER: accepted range (0..1 for a switch) */
    const char *choices; /* KIND_CHOICE: accepted values, comma-separated */
    const char *logger;  /* where a refused value is reported */
    const char *meaning; /* one line, for al_setting_get */
    const char *documented;
} setting;

#define MEM "astrolab.memory"
#define CUDA "astrolab.cuda"
#define README "README.md"
#define RUN_INTERNAL "internal: set by `astrolab run` for its preload library (tools/cmd_run.c)"

static const setting table[ALI_SET_COUNT] = {
    [ALI_SET_LOG] = {"ASTROLAB_LOG", KIND_TEXT, "", 0, 0, NULL, "astrolab.log",
                     "logger levels, e.g. astrolab.memory=debug,astrolab=warning", README},
    [ALI_SET_ABORT_ON_ERROR] = {"ASTROLAB_ABORT_ON_ERROR", KIND_NUMBER, "0", 0, 1, NULL, MEM,
                                "1: abort on an invalid free, double free or overwritten guard",
                                README},
    [ALI_SET_CHECK_GUARDS] = {"ASTROLAB_CHECK_GUARDS", KIND_NUMBER, "1", 0, 1, NULL, MEM,
                              "1: check the guard bytes after each block on free; under "
                              "astrolab run the program's own blocks default to 0 (no guard)",
                              README},
    [ALI_SET_THREAD_CACHE] = {"ASTROLAB_THREAD_CACHE", KIND_NUMBER, "1", 0, 1, NULL, MEM,
                              "1: each thread keeps up to 4 freed blocks of each 8-byte size "
                              "class under 1 KiB for its next allocations (counted freed); 0: "
                              "every free gives its block back at once",
                              README},
    [ALI_SET_FAIL_AFTER] = {"ASTROLAB_FAIL_AFTER", KIND_TEXT, "", 0, 0, NULL, MEM,
                            "n[,repeat]: the n-th tracked allocation fails (fault injection)",
                            README},
    [ALI_SET_LEAK_REPORT] = {"ASTROLAB_LEAK_REPORT", KIND_TEXT, "", 0, 0, NULL, MEM,
                             "1: print the blocks live at exit; a path: write them there as JSON",
                             README},
    [ALI_SET_OBJECT_THRESHOLD] = {"ASTROLAB_OBJECT_THRESHOLD", KIND_NUMBER, "1000", 1,
                                  1000000000000000LL, NULL, MEM,
                                  "live objects of one tag above which diagnosis flags the tag",
                                  README},
    [ALI_SET_MEMORY_WARN_MB] = {"ASTROLAB_MEMORY_WARN_MB", KIND_NUMBER, "500", 1, 1 << 24, NULL,
                                MEM, "MiB of tracked memory above which diagnosis warns", README},
    [ALI_SET_CUDA_WARN_MB] = {"ASTROLAB_CUDA_WARN_MB", KIND_NUMBER, "1024", 1, 1 << 24, NULL, MEM,
                              "MiB of CUDA memory above which diagnosis recommends a cleanup",
                              README},
    [ALI_SET_CUDA_BACKEND] = {"ASTROLAB_CUDA_BACKEND", KIND_CHOICE, "auto", 0, 0,
                              "auto,driver,sim,none", CUDA,
                              "CUDA backend: auto (the driver when it loads), driver, sim, none",
                              README},
    [ALI_SET_CUDA_SIM_BYTES] = {"ASTROLAB_CUDA_SIM_BYTES", KIND_NUMBER, "1073741824", 1LL << 20,
                                1LL << 46, NULL, CUDA, "capacity of each simulated device, bytes",
                                README},
    [ALI_SET_CUDA_SIM_DEVICES] = {"ASTROLAB_CUDA_SIM_DEVICES", KIND_NUMBER, "1", 1,
                                  AL_CUDA_MAX_DEVICES, NULL, CUDA, "number of simulated devices",
                                  README},
    [ALI_SET_CUDA_PINNED_MIN_BYTES] = {"ASTROLAB_CUDA_PINNED_MIN_BYTES", KIND_NUMBER, "1048576", 0,
                                       1LL << 46, NULL, CUDA,
                                       "driver backend: copies from this size on are staged "
                                       "through pinned memory; 0: never",
                                       README},
    [ALI_SET_STACK_DEPTH] = {"ASTROLAB_STACK_DEPTH", KIND_NUMBER, "1", 1, 16, NULL, MEM,
                             "astrolab run: frames per call site (1: the caller alone)", README},
    [ALI_SET_SAMPLE_BYTES] = {"ASTROLAB_SAMPLE_BYTES", KIND_NUMBER, "524288", 0, 1099511627776LL,
                              NULL, MEM,
                              "astrolab run: mean bytes between allocations whose full stack is "
                              "sampled (0: every allocation, exact)",
                              "docs/RUN-REPORT.md"},
    [ALI_SET_SAMPLE_SEED] = {"ASTROLAB_SAMPLE_SEED", KIND_NUMBER, "", 0, 9007199254740991LL, NULL,
                             MEM,
                             "astrolab run: seed of the stack sampling (unset: from the time "
                             "and pid)",
                             "docs/RUN-REPORT.md"},
    [ALI_SET_DEBUGINFOD] = {"ASTROLAB_DEBUGINFOD", KIND_NUMBER, "0", 0, 1, NULL, MEM,
                            "astrolab run: 1: debug information missing here may be fetched "
                            "from the servers in DEBUGINFOD_URLS (network); 0: this machine's",
                            README},
    [ALI_SET_PRELOAD_LIB] = {"ASTROLAB_PRELOAD_LIB", KIND_TEXT, "", 0, 0, NULL, "astrolab",
                             "where astrolab run finds libastrolab_preload.so", README},
    [ALI_SET_NO_PROGRESS] = {"ASTROLAB_NO_PROGRESS", KIND_TEXT, "", 0, 0, NULL, "astrolab",
                             "set and not 0: the tool draws no progress bar on the terminal",
                             "tools/cli.h"},
    [ALI_SET_RUN_REPORT] = {"ASTROLAB_RUN_REPORT", KIND_TEXT, "", 0, 0, NULL, MEM,
                            "where the preload library writes the run's report", RUN_INTERNAL},
    [ALI_SET_RUN_PID] = {"ASTROLAB_RUN_PID", KIND_TEXT, "", 0, 0, NULL, MEM,
                         "process the report belongs to (children of it write their own)",
                         RUN_INTERNAL},
    [ALI_SET_RUN_CHILDREN] = {"ASTROLAB_RUN_CHILDREN", KIND_TEXT, "", 0, 0, NULL, MEM,
                              "1: child processes write reports too", RUN_INTERNAL},
    [ALI_SET_RUN_UI_FD] = {"ASTROLAB_RUN_UI_FD", KIND_TEXT, "", 0, 0, NULL, MEM,
                           "listening socket of astrolab run --ui", RUN_INTERNAL},
    [ALI_SET_RUN_UI_PORT] = {"ASTROLAB_RUN_UI_PORT", KIND_TEXT, "", 0, 0, NULL, MEM,
                             "dashboard port of astrolab run --ui", RUN_INTERNAL},
    [ALI_SET_RUN_UI_HOST] = {"ASTROLAB_RUN_UI_HOST", KIND_TEXT, "", 0, 0, NULL, MEM,
                             "dashboard address of astrolab run --ui", RUN_INTERNAL},
    [ALI_SET_RUN_UI_TOKEN] = {"ASTROLAB_RUN_UI_TOKEN", KIND_TEXT, "", 0, 0, NULL, MEM,
                              "dashboard access token of astrolab run --ui", RUN_INTERNAL},
    [ALI_SET_RUN_WRAPPERS] = {"ASTROLAB_RUN_WRAPPERS", KIND_TEXT, "", 0, 0, NULL, MEM,
                              "astrolab run --wrapper: allocation wrappers' names, comma-separated",
                              RUN_INTERNAL},
    [ALI_SET_RUN_OWN] = {"ASTROLAB_RUN_OWN", KIND_TEXT, "", 0, 0, NULL, MEM,
                         "astrolab run --own: objects (libraries) whose frames count as the "
                         "program's, comma-separated",
                         RUN_INTERNAL},
    [ALI_SET_RUN_FAIL_AFTER] = {"ASTROLAB_RUN_FAIL_AFTER", KIND_TEXT, "", 0, 0, NULL, MEM,
                                "astrolab run --fail-after: the program's allocation that fails",
                                RUN_INTERNAL},
    [ALI_SET_RUN_FOLDED] = {"ASTROLAB_RUN_FOLDED", KIND_TEXT, "", 0, 0, NULL, MEM,
                            "astrolab run --folded: where the preload library writes folded "
                            "stacks",
                            RUN_INTERNAL},
    [ALI_SET_RUN_PPROF] = {"ASTROLAB_RUN_PPROF", KIND_TEXT, "", 0, 0, NULL, MEM,
                           "astrolab run --pprof: where the preload library writes the pprof "
                           "profile",
                           RUN_INTERNAL},
    [ALI_SET_RUN_SUPPRESSIONS] = {"ASTROLAB_RUN_SUPPRESSIONS", KIND_TEXT, "", 0, 0, NULL, MEM,
                                  "astrolab run --suppressions: the files, one path a line",
                                  RUN_INTERNAL},
};

static struct {
    pthread_mutex_t lock;              /* guards every field below */
    bool loaded;                       /* the environment was read */
    const char *env[ALI_SET_COUNT];    /* the environment's text; NULL: unset, empty */
    bool refused[ALI_SET_COUNT];       /* env[] was not a value the table accepts */
    bool api[ALI_SET_COUNT];           /* a call set the value in force */
    char api_value[ALI_SET_COUNT][32]; /* that value, as text */
} st = {.lock = PTHREAD_MUTEX_INITIALIZER};

/* A whole decimal number of digits only (strtoll alone takes "-1", "+5" and blanks). */
static bool parse_number(const char *text, long long min, long long max, long long *out)
{
    if (*text < '0' || *text > '9')
        return false;
    errno = 0;
    char *end;
    long long v = strtoll(text, &end, 10);
    if (errno || *end != '\0' || v < min || v > max)
        return false;
    *out = v;
    return true;
}

static bool is_choice(const setting *s, const char *text)
{
    size_t n = strlen(text);
    for (const char *c = s->choices; *c;) {
        size_t len = strcspn(c, ",");
        if (len == n && strncasecmp(c, text, n) == 0)
            return true;
        c += len + (c[len] == ',');
    }
    return false;
}

static void load_locked(void)
{
    assert(ali_mutex_held(&st.lock));
    for (int i = 0; i < ALI_SET_COUNT; i++) {
        const setting *s = &table[i];
        const char *text = getenv(s->name);
        st.env[i] = text && *text ? text : NULL;
        long long v;
        st.refused[i] =
            st.env[i] && ((s->kind == KIND_NUMBER && !parse_number(text, s->min, s->max, &v)) ||
                          (s->kind == KIND_CHOICE && !is_choice(s, text)));
    }
    st.loaded = true;
}

/* Reads the environment when not yet done (or again, when `again`), and reports the values
 * refused. The reports are written after the lock is released: a log sink may call back. */
static void load(bool again)
{
    const char *refused[ALI_SET_COUNT] = {NULL};
    pthread_mutex_lock(&st.lock);
    bool loading = again || !st.loaded;
    if (loading) {
        load_locked();
        for (int i = 0; i < ALI_SET_COUNT; i++)
            refused[i] = st.refused[i] ? st.env[i] : NULL;
    }
    pthread_mutex_unlock(&st.lock);
    for (int i = 0; loading && i < ALI_SET_COUNT; i++) {
        const setting *s = &table[i];
        if (!refused[i])
            continue;
        if (s->kind == KIND_NUMBER)
            al_log(AL_LOG_WARNING, s->logger,
                   "%s=\"%s\" is not a whole number from %lld to %lld (%s); keeping the default "
                   "%s",
                   s->name, refused[i], s->min, s->max, s->meaning, s->def);
        else
            al_log(AL_LOG_WARNING, s->logger, "%s=\"%s\" is not one of %s; keeping the default %s",
                   s->name, refused[i], s->choices, s->def);
    }
}

/* The environment's accepted text of setting i, or NULL. */
static const char *accepted(int i)
{
    load(false);
    pthread_mutex_lock(&st.lock);
    const char *text = st.refused[i] ? NULL : st.env[i];
    pthread_mutex_unlock(&st.lock);
    return text;
}

const char *ali_setting_text(ali_setting_id id) { return accepted(id); }

long long ali_setting_int(ali_setting_id id)
{
    const char *text = accepted(id);
    return strtoll(text ? text : table[id].def, NULL, 10);
}

const char *ali_setting_choice(ali_setting_id id)
{
    const char *text = accepted(id);
    return text ? text : table[id].def;
}

void ali_setting_from_api(ali_setting_id id, double value)
{
    pthread_mutex_lock(&st.lock);
    st.api[id] = true;
    snprintf(st.api_value[id], sizeof st.api_value[id], "%.17g", value);
    pthread_mutex_unlock(&st.lock);
}

void ali_settings_reload(void) { load(true); }

int al_setting_count(void) { return ALI_SET_COUNT; }

int al_setting_get(int i, al_setting_info *out)
{
    if (!out || i < 0 || i >= ALI_SET_COUNT)
        return AL_EINVAL;
    const setting *s = &table[i];
    memset(out, 0, sizeof *out);
    out->name = s->name;
    out->default_value = s->def;
    out->meaning = s->meaning;
    out->documented = s->documented;
    load(false);
    pthread_mutex_lock(&st.lock);
    if (st.api[i]) {
        snprintf(out->value, sizeof out->value, "%s", st.api_value[i]);
        out->source = "api";
    } else if (st.env[i] && !st.refused[i]) {
        /* The dashboard's access token is a secret: say only that it is set. */
        snprintf(out->value, sizeof out->value, "%s",
                 i == ALI_SET_RUN_UI_TOKEN ? "(set, not shown)" : st.env[i]);
        out->source = "environment";
    } else {
        snprintf(out->value, sizeof out->value, "%s", s->def);
        out->source = "default";
    }
    pthread_mutex_unlock(&st.lock);
    return AL_OK;
}
