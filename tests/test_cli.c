/* Tests of the astrolab command-line tool: runs the built binary (ASTROLAB_BUILD_DIR/astrolab)
 * in a child process and checks its exit status, its stdout and stderr, and its JSON parsed
 * back with cJSON; also the public calls it is built on: the system information that `status`
 * prints (<astrolab/ui.h>) and the formatters of <astrolab/format.h>. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fitsio.h>

#include "test.h"
#include "util/json_int.h"

#define ASTROLAB_BIN ASTROLAB_BUILD_DIR "/astrolab"

typedef struct cli_result {
    int status; /* exit status; 128 + signal when killed */
    char *out;  /* stdout, NUL-terminated (malloc) */
    char *err;  /* stderr */
} cli_result;

static char *slurp(FILE *f)
{
    fflush(f);
    long n = ftell(f);
    char *buf = malloc((size_t)(n > 0 ? n : 0) + 1);
    if (!buf)
        return NULL;
    rewind(f);
    size_t got = n > 0 ? fread(buf, 1, (size_t)n, f) : 0;
    buf[got] = '\0';
    fclose(f);
    return buf;
}

/* Runs astrolab with the NULL-terminated arguments (at most 14); `env` ("NAME=value") may be
 * NULL. */
static cli_result run_cli_env(const char *env, const char *arg, ...)
{
    const char *argv[16] = {ASTROLAB_BIN};
    int argc = 1;
    va_list ap;
    va_start(ap, arg);
    for (const char *a = arg; a && argc < 15; a = va_arg(ap, const char *))
        argv[argc++] = a;
    va_end(ap);
    argv[argc] = NULL;

    cli_result r = {.status = -1};
    FILE *out = tmpfile(), *err = tmpfile();
    if (!out || !err) {
        fprintf(stderr, "  tmpfile failed\n");
        exit(1);
    }
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(fileno(out), STDOUT_FILENO);
        dup2(fileno(err), STDERR_FILENO);
        if (env)
            putenv((char *)env);
        execv(ASTROLAB_BIN, (char *const *)argv);
        fprintf(stderr, "exec %s failed\n", ASTROLAB_BIN);
        _exit(127);
    }
    int ws = 0;
    if (pid > 0 && waitpid(pid, &ws, 0) == pid)
        r.status = WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws);
    fseek(out, 0, SEEK_END);
    fseek(err, 0, SEEK_END);
    r.out = slurp(out);
    r.err = slurp(err);
    if (r.status != 0 && r.status != 1 && r.status != 2)
        fprintf(stderr, "  astrolab %s exited %d; stderr:\n%s\n", arg ? arg : "", r.status,
                r.err ? r.err : "");
    return r;
}

#define run_cli(...) run_cli_env(NULL, __VA_ARGS__, (const char *)NULL)

static void cli_result_free(cli_result *r)
{
    free(r->out);
    free(r->err);
}

static int contains(const char *hay, const char *needle)
{
    return hay && needle && strstr(hay, needle) != NULL;
}

/* A number member of obj (-1 when absent or not a number). */
static double num(const cJSON *obj, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    return cJSON_IsNumber(v) ? v->valuedouble : -1.0;
}

/* -------- Top level: help, version, usage errors. -------- */

TEST(test_help_lists_the_working_commands_and_exits_0)
{
    cli_result r = run_cli("--help");
    CHECK_EQ_INT(r.status, 0);
    CHECK(contains(r.out, "usage: astrolab"));
    CHECK(contains(r.out, "  status "));
    CHECK(contains(r.out, "  demo "));
    CHECK(contains(r.out, "--version"));
    CHECK_EQ_STR(r.err, "");
    cli_result_free(&r);

    cli_result h = run_cli("help");
    CHECK_EQ_INT(h.status, 0);
    CHECK(contains(h.out, "usage: astrolab"));
    cli_result_free(&h);
}

TEST(test_command_help_shows_its_usage_and_options)
{
    const char *cmds[] = {"status", "demo"};
    for (size_t i = 0; i < 2; i++) {
        char usage[64];
        snprintf(usage, sizeof usage, "usage: astrolab %s [--json]", cmds[i]);
        cli_result a = run_cli(cmds[i], "--help");
        CHECK_EQ_INT(a.status, 0);
        CHECK(contains(a.out, usage));
        CHECK(contains(a.out, "--json"));
        cli_result b = run_cli("help", cmds[i]);
        CHECK_EQ_INT(b.status, 0);
        CHECK_EQ_STR(a.out, b.out);
        cli_result_free(&a);
        cli_result_free(&b);
    }
}

TEST(test_no_arguments_prints_usage_on_stderr_and_exits_2)
{
    cli_result r = run_cli(NULL);
    CHECK_EQ_INT(r.status, 2);
    CHECK(contains(r.err, "usage: astrolab"));
    CHECK_EQ_STR(r.out, "");
    cli_result_free(&r);
}

TEST(test_version_prints_the_library_version)
{
    char want[64];
    snprintf(want, sizeof want, "astrolab %s\n", al_version());
    const char *flags[] = {"--version", "-V"};
    for (size_t i = 0; i < 2; i++) {
        cli_result r = run_cli(flags[i]);
        CHECK_EQ_INT(r.status, 0);
        CHECK(r.out && strncmp(r.out, want, strlen(want)) == 0);
        CHECK(contains(r.out, "cjson "));
        cli_result_free(&r);
    }
}

TEST(test_unknown_command_exits_2_naming_it)
{
    cli_result r = run_cli("frobnicate");
    CHECK_EQ_INT(r.status, 2);
    CHECK(contains(r.err, "unknown command 'frobnicate'"));
    CHECK(contains(r.err, "astrolab --help"));
    CHECK_EQ_STR(r.out, "");
    cli_result_free(&r);

    cli_result h = run_cli("help", "frobnicate");
    CHECK_EQ_INT(h.status, 2);
    CHECK(contains(h.err, "unknown command 'frobnicate'"));
    cli_result_free(&h);
}

TEST(test_unknown_options_exit_2_naming_them)
{
    cli_result top = run_cli("--frob");
    CHECK_EQ_INT(top.status, 2);
    CHECK(contains(top.err, "unknown option '--frob'"));
    cli_result_free(&top);

    cli_result st = run_cli("status", "--frob");
    CHECK_EQ_INT(st.status, 2);
    CHECK(contains(st.err, "astrolab status: unknown option '--frob'"));
    CHECK(contains(st.err, "astrolab status --help"));
    CHECK_EQ_STR(st.out, "");
    cli_result_free(&st);

    cli_result arg = run_cli("status", "extra");
    CHECK_EQ_INT(arg.status, 2);
    CHECK(contains(arg.err, "unexpected argument 'extra'"));
    cli_result_free(&arg);

    cli_result demo = run_cli("demo", "-x");
    CHECK_EQ_INT(demo.status, 2);
    CHECK(contains(demo.err, "astrolab demo: unknown option '-x'"));
    CHECK_EQ_STR(demo.out, "");
    cli_result_free(&demo);
}

/* -------- status. -------- */

TEST(test_status_text_shows_every_key)
{
    cli_result r = run_cli("status");
    CHECK_EQ_INT(r.status, 0);
    const char *keys[] = {"host:", "os:",       "cpus:",     "ram total:", "ram available:",
                          "rss:",  "peak rss:", "versions:", "cuda:"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        char line[32];
        snprintf(line, sizeof line, "\n%s", keys[i]);
        if (!(strncmp(r.out ? r.out : "", keys[i], strlen(keys[i])) == 0 ||
              contains(r.out, line))) {
            fprintf(stderr, "  status lacks a line starting with '%s'\n", keys[i]);
            CHECK(0);
        }
    }
    CHECK(contains(r.out, "iB") || contains(r.out, " B\n")); /* human sizes */
    CHECK(contains(r.out, "astrolab "));
    CHECK_EQ_STR(r.err, "");
    cli_result_free(&r);
}

TEST(test_status_json_has_every_key_with_sane_values)
{
    cli_result r = run_cli("status", "--json");
    CHECK_EQ_INT(r.status, 0);
    cJSON *j = cJSON_Parse(r.out);
    CHECK(j != NULL);
    CHECK(cJSON_IsString(cJSON_GetObjectItemCaseSensitive(j, "host")));
    CHECK(cJSON_IsString(cJSON_GetObjectItemCaseSensitive(j, "os")));
    CHECK(num(j, "cpus") >= 1);
    CHECK(num(j, "ram_total_bytes") > 0);
    CHECK(num(j, "ram_available_bytes") > 0);
    CHECK(num(j, "ram_available_bytes") <= num(j, "ram_total_bytes"));
    CHECK(num(j, "rss_bytes") > 0);
    CHECK(num(j, "peak_rss_bytes") >= num(j, "rss_bytes"));
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, "versions");
    CHECK(cJSON_IsObject(v));
    const cJSON *ours = cJSON_GetObjectItemCaseSensitive(v, "astrolab");
    CHECK(cJSON_IsString(ours) && strcmp(ours->valuestring, al_version()) == 0);
    CHECK(cJSON_IsString(cJSON_GetObjectItemCaseSensitive(v, "cjson")));
    const cJSON *cuda = cJSON_GetObjectItemCaseSensitive(j, "cuda");
    CHECK(cJSON_IsBool(cJSON_GetObjectItemCaseSensitive(cuda, "available")));
    CHECK(cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(cuda, "devices")));
    cJSON_Delete(j);
    cli_result_free(&r);
}

TEST(test_status_json_lists_the_devices_of_the_cuda_backend)
{
    cli_result r = run_cli_env("ASTROLAB_CUDA_BACKEND=sim", "status", "--json", (const char *)NULL);
    CHECK_EQ_INT(r.status, 0);
    cJSON *j = cJSON_Parse(r.out);
    const cJSON *cuda = cJSON_GetObjectItemCaseSensitive(j, "cuda");
    CHECK(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(cuda, "available")));
    CHECK_EQ_STR(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(cuda, "backend")), "sim");
    const cJSON *devices = cJSON_GetObjectItemCaseSensitive(cuda, "devices");
    CHECK_EQ_INT(cJSON_GetArraySize(devices), 1);
    const cJSON *d = cJSON_GetArrayItem(devices, 0);
    CHECK(num(d, "index") == 0);
    CHECK(num(d, "total_bytes") > 0);
    CHECK(num(d, "free_bytes") <= num(d, "total_bytes"));
    CHECK(num(d, "used_bytes") == num(d, "total_bytes") - num(d, "free_bytes"));
    CHECK(cJSON_IsString(cJSON_GetObjectItemCaseSensitive(d, "name")));
    cJSON_Delete(j);
    cli_result_free(&r);

    cli_result none = run_cli_env("ASTROLAB_CUDA_BACKEND=none", "status", (const char *)NULL);
    CHECK_EQ_INT(none.status, 0);
    CHECK(contains(none.out, "\ncuda:              not available"));
    cli_result_free(&none);
}

TEST(test_status_shows_each_setting_in_force_and_where_it_came_from)
{
    cli_result r = run_cli_env("ASTROLAB_STACK_DEPTH=3", "status", "--json", (const char *)NULL);
    CHECK_EQ_INT(r.status, 0);
    cJSON *j = cJSON_Parse(r.out);
    const cJSON *settings = cJSON_GetObjectItemCaseSensitive(j, "settings");
    CHECK_EQ_INT(cJSON_GetArraySize(settings), al_setting_count());
    int seen = 0;
    const cJSON *s;
    cJSON_ArrayForEach(s, settings)
    {
        const char *name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(s, "name"));
        const char *value = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(s, "value"));
        const char *source = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(s, "source"));
        CHECK(name && value && source);
        if (name && strcmp(name, "ASTROLAB_STACK_DEPTH") == 0) {
            CHECK_EQ_STR(value, "3");
            CHECK_EQ_STR(source, "environment");
            seen++;
        } else if (name && strcmp(name, "ASTROLAB_OBJECT_THRESHOLD") == 0) {
            CHECK_EQ_STR(value, "1000");
            CHECK_EQ_STR(source, "default");
            seen++;
        }
    }
    CHECK_EQ_INT(seen, 2);
    cJSON_Delete(j);
    cli_result_free(&r);

    cli_result text = run_cli_env("ASTROLAB_CHECK_GUARDS=0", "status", (const char *)NULL);
    CHECK_EQ_INT(text.status, 0);
    CHECK(contains(text.out, "\nsettings:\n"));
    CHECK(contains(text.out, "\n  ASTROLAB_CHECK_GUARDS            0            environment\n"));
    cli_result_free(&text);
}

TEST(test_system_info_reads_the_machine_and_refuses_null)
{
    CHECK_EQ_INT(al_get_system_info(NULL), AL_EINVAL);
    CHECK(al_system_info_json(NULL) == NULL);
    al_system_info si;
    CHECK_EQ_INT(al_get_system_info(&si), AL_OK);
    CHECK(si.host[0] != '\0');
    CHECK(strncmp(si.os, "Linux ", 6) == 0);
    CHECK(si.cpus >= 1 && si.cpus_usable >= 1 && si.cpus_usable <= si.cpus);
    CHECK(si.ram_total_bytes > si.ram_available_bytes && si.ram_available_bytes > 0);
    CHECK(si.rss_bytes > 0 && si.peak_rss_bytes >= si.rss_bytes);
    CHECK(si.n_versions >= 3);
    CHECK_EQ_STR(si.versions[0].name, "astrolab");
    CHECK_EQ_STR(si.versions[0].version, al_version());
    char *text = al_system_info_json(&si);
    cJSON *j = text ? cJSON_Parse(text) : NULL;
    CHECK(j != NULL);
    CHECK_EQ_INT((long long)num(j, "cpus"), si.cpus);
    CHECK_EQ_INT((long long)num(j, "ram_total_bytes"), (long long)si.ram_total_bytes);
    CHECK_EQ_STR(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "host")), si.host);
    CHECK_EQ_STR(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "backing_allocator")),
                 si.backing);
    cJSON_Delete(j);
    free(text);
}

/* -------- demo. -------- */

TEST(test_demo_prints_every_section_and_passes_its_self_checks)
{
    cli_result r = run_cli("demo");
    CHECK_EQ_INT(r.status, 0);
    const char *sections[] = {"== 1. baseline:",
                              "== 2. load_catalog:",
                              "== 3. select_nearby:",
                              "== 4. crossmatch:",
                              "== 5. cache_cleanup:",
                              "== 6. diagnosis:",
                              "teardown:",
                              "scope report \"crossmatch\"",
                              "reclaimed blocks",
                              "al_force_comprehensive_cleanup():",
                              "memory statistics:",
                              "== whole program: run_perl:",
                              "every self-check passed"};
    for (size_t i = 0; i < sizeof sections / sizeof sections[0]; i++)
        if (!contains(r.out, sections[i])) {
            fprintf(stderr, "  demo output lacks '%s'\n", sections[i]);
            CHECK(0);
        }
    CHECK(!contains(r.out, "NO (self-check failed)"));
    /* stderr is not a terminal here: no progress line. */
    CHECK(!contains(r.err, "loading catalog"));
    cli_result_free(&r);
}

static const cJSON *stage(const cJSON *doc, const char *name)
{
    return cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(doc, "stages"), name);
}

/* Every al_scope_report field, under its own name. */
static void check_scope_json(const cJSON *scope, const char *name)
{
    CHECK(cJSON_IsObject(scope));
    CHECK_EQ_STR(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(scope, "name")), name);
    const char *keys[] = {"bytes_allocated",  "bytes_freed",      "peak_bytes",
                          "reclaimed_blocks", "reclaimed_bytes",  "cleanups_run",
                          "duration_ns",      "blocks_allocated", "kept_blocks"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        CHECK(num(scope, keys[i]) >= 0);
    CHECK(cJSON_IsString(cJSON_GetObjectItemCaseSensitive(scope, "policy")));
}

TEST(test_demo_json_has_every_stage_and_shows_the_leak_reclaimed)
{
    cli_result r = run_cli("demo", "--json");
    CHECK_EQ_INT(r.status, 0);
    cJSON *doc = cJSON_Parse(r.out);
    CHECK(doc != NULL);
    CHECK(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(doc, "ok")));
    const char *stages[] = {"baseline",      "load_catalog", "select_nearby", "crossmatch",
                            "cache_cleanup", "diagnosis",    "teardown"};
    for (size_t i = 0; i < sizeof stages / sizeof stages[0]; i++) {
        const cJSON *s = stage(doc, stages[i]);
        CHECK(cJSON_IsObject(s));
        if (strcmp(stages[i], "diagnosis") != 0)
            CHECK(num(cJSON_GetObjectItemCaseSensitive(s, "stats"), "total_allocations") >= 0);
    }
    const cJSON *load = stage(doc, "load_catalog");
    check_scope_json(cJSON_GetObjectItemCaseSensitive(load, "scope"), "load_catalog");
    CHECK(num(load, "rows") == 200000);
    CHECK(num(cJSON_GetObjectItemCaseSensitive(load, "scope"), "kept_blocks") ==
          num(load, "kept_blocks"));

    const cJSON *sel = stage(doc, "select_nearby");
    const cJSON *sel_scope = cJSON_GetObjectItemCaseSensitive(sel, "scope");
    check_scope_json(sel_scope, "select_nearby");
    CHECK(num(sel_scope, "cleanups_run") == 1);
    CHECK(num(sel_scope, "kept_blocks") == 2);
    CHECK(num(sel, "selected") > 0);

    const cJSON *cm = stage(doc, "crossmatch");
    const cJSON *cm_scope = cJSON_GetObjectItemCaseSensitive(cm, "scope");
    check_scope_json(cm_scope, "crossmatch");
    CHECK(num(cm_scope, "reclaimed_blocks") > 0);
    CHECK(num(cm_scope, "reclaimed_blocks") == num(cm, "leaked_blocks"));
    CHECK(num(cm_scope, "reclaimed_bytes") == num(cm, "leaked_bytes"));
    CHECK(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(cm, "leak_reclaimed")));

    const cJSON *cache = stage(doc, "cache_cleanup");
    const cJSON *cleanup = cJSON_GetObjectItemCaseSensitive(cache, "cleanup");
    CHECK(num(cleanup, "callbacks_run") >= 1);
    CHECK(num(cleanup, "bytes_released") >= num(cache, "cache_bytes"));
    CHECK(num(cleanup, "rss_before_bytes") > 0);
    CHECK(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(cache, "registration_dropped")));

    const cJSON *diag = cJSON_GetObjectItemCaseSensitive(stage(doc, "diagnosis"), "report");
    CHECK(cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(diag, "top_consumers")));
    CHECK(cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(diag, "recommendations")));

    /* Whole-program mode on perl, unless this build has no preload library (sanitizers). */
    const cJSON *run = stage(doc, "run_perl");
    CHECK(cJSON_IsObject(run));
    if (!cJSON_GetObjectItemCaseSensitive(run, "skipped")) {
        CHECK(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(run, "exit_status_passed_through")));
        CHECK(num(run, "allocations") >= 100000);
        const char *top =
            cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(run, "live_at_exit_1"));
        /* Named by perl's own function, not its allocation wrapper (issue 17). */
        CHECK(top && strstr(top, "from Perl_") && strstr(top, "() in perl") &&
              !strstr(top, "Perl_safesys"));
        const char *rec =
            cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(run, "first_recommendation"));
        CHECK(rec && strstr(rec, "allocated at Perl_") && !strstr(rec, "Perl_safesys"));
    }

    const cJSON *td = stage(doc, "teardown");
    CHECK(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(td, "back_to_baseline")));
    CHECK(num(cJSON_GetObjectItemCaseSensitive(td, "stats"), "live_blocks") ==
          num(cJSON_GetObjectItemCaseSensitive(stage(doc, "baseline"), "stats"), "live_blocks"));
    cJSON_Delete(doc);
    cli_result_free(&r);
}

TEST(test_demo_workload_is_deterministic)
{
    double figures[2][4];
    for (int run = 0; run < 2; run++) {
        cli_result r = run_cli("demo", "--json");
        cJSON *doc = cJSON_Parse(r.out);
        CHECK(doc != NULL);
        figures[run][0] = num(stage(doc, "load_catalog"), "aliases");
        figures[run][1] = num(stage(doc, "select_nearby"), "selected");
        figures[run][2] = num(stage(doc, "crossmatch"), "pairs");
        figures[run][3] = num(stage(doc, "crossmatch"), "leaked_bytes");
        cJSON_Delete(doc);
        cli_result_free(&r);
    }
    for (int i = 0; i < 4; i++) {
        CHECK(figures[0][i] > 0);
        CHECK(figures[0][i] == figures[1][i]);
    }
}

/* Allocation failure at sampled points of the demo (ASTROLAB_FAIL_AFTER=n): the demo either
 * copes or stops with exit 1 and an error naming what failed; never a crash, and (under ASan)
 * never a leak. */
TEST(test_demo_fails_cleanly_when_allocations_fail)
{
    cli_result full = run_cli("demo", "--json");
    cJSON *doc = cJSON_Parse(full.out);
    double total =
        num(cJSON_GetObjectItemCaseSensitive(stage(doc, "teardown"), "stats"), "total_allocations");
    cJSON_Delete(doc);
    cli_result_free(&full);
    CHECK(total > 100);
    uint64_t points[24];
    int np = 0;
    for (uint64_t n = 1; n <= 6; n++)
        points[np++] = n;
    for (int k = 1; k <= 16; k++)
        points[np++] = (uint64_t)(total * k / 17.0);
    points[np++] = (uint64_t)total;
    int failures = 0;
    for (int i = 0; i < np; i++) {
        char env[64];
        snprintf(env, sizeof env, "ASTROLAB_FAIL_AFTER=%llu", (unsigned long long)points[i]);
        cli_result r = run_cli_env(env, "demo", (const char *)NULL);
        if (r.status != 0 && r.status != 1)
            fprintf(stderr, "  %s: exit %d\n", env, r.status);
        CHECK(r.status == 0 || r.status == 1);
        if (r.status == 1) {
            failures++;
            CHECK(contains(r.err, "astrolab demo: error: "));
        }
        if (points[i] == 1)
            CHECK_EQ_INT(r.status, 1);
        cli_result_free(&r);
    }
    CHECK(failures >= 6);
}

/* -------- survey head: nothing lost, nothing wrong. -------- */

/* Writes n bytes to test-directory file `name`; returns its path (a test_tmp_path buffer). */
static const char *write_file(const char *name, const char *bytes, size_t n)
{
    const char *path = test_tmp_path(name);
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL);
    if (f) {
        CHECK(fwrite(bytes, 1, n, f) == n);
        fclose(f);
    }
    return path;
}

/* A check of its own, not al_utf8_len's: whether s is valid UTF-8 (RFC 3629). */
static int is_utf8(const char *str)
{
    const unsigned char *s = (const unsigned char *)str;
    while (s && *s) {
        int len = *s < 0x80             ? 1
                  : (*s & 0xE0) == 0xC0 ? 2
                  : (*s & 0xF0) == 0xE0 ? 3
                  : (*s & 0xF8) == 0xF0 ? 4
                                        : 0;
        if (len == 0 || (len == 2 && *s < 0xC2))
            return 0;
        uint32_t cp = len == 1 ? *s : *s & (0x7F >> len);
        for (int i = 1; i < len; i++) {
            if ((s[i] & 0xC0) != 0x80)
                return 0;
            cp = cp << 6 | (s[i] & 0x3F);
        }
        if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
            (cp >= 0xD800 && cp <= 0xDFFF))
            return 0;
        s += len;
    }
    return s != NULL;
}

/* Whether python3's json module takes text, when python3 is there (1 when it is not). */
static int python_json_accepts(const char *text)
{
    if (system("python3 -c '' 2>/dev/null") != 0)
        return 1;
    const char *path = write_file("py.json", text, strlen(text));
    char cmd[512];
    snprintf(cmd, sizeof cmd,
             "python3 -c 'import json,sys; json.load(open(sys.argv[1], encoding=\"utf-8\"))' %s",
             path);
    return system(cmd) == 0;
}

TEST(test_survey_head_shows_a_5_kb_value_whole)
{
    static char csv[6000];
    char big[5001];
    memset(big, 'x', 5000);
    big[4999] = 'y'; /* the end, to see it is not cut */
    big[5000] = '\0';
    int n = snprintf(csv, sizeof csv, "id,name\n1,%s\n2,short\n", big);
    const char *path = write_file("big.csv", csv, (size_t)n);
    cli_result t = run_cli("survey", "head", path);
    CHECK_EQ_INT(t.status, 0);
    CHECK(contains(t.out, big));
    CHECK(contains(t.out, "\tshort\n"));
    cli_result_free(&t);

    cli_result j = run_cli("survey", "head", path, "--json");
    CHECK_EQ_INT(j.status, 0);
    cJSON *doc = cJSON_Parse(j.out);
    const cJSON *rows = cJSON_GetObjectItemCaseSensitive(doc, "rows");
    CHECK_EQ_STR(cJSON_GetStringValue(cJSON_GetArrayItem(cJSON_GetArrayItem(rows, 0), 1)), big);
    CHECK_EQ_STR(cJSON_GetStringValue(cJSON_GetArrayItem(cJSON_GetArrayItem(rows, 1), 1)), "short");
    cJSON_Delete(doc);
    cli_result_free(&j);
}

/* A FITS table (HDU 1) with float32 and float64 columns and a string column of bytes that are
 * not UTF-8 (Latin-1 "café", 0xFF 0xFE), as Tycho-2's binary strings have. */
static const char *write_fits_fixture(void)
{
    al_error err;
    al_tensordict *td = al_tensordict_new(2, AL_CPU, &err);
    int64_t shape[1] = {2};
    const float f32[2] = {-1.45f, 48.371128f};
    const double f64[2] = {48.371127880, 55.218067};
    const char names[2][8] = {"caf\xe9", "\xff\xfeok"};
    al_tensor *a = al_tensor_from_buffer(AL_DTYPE_FLOAT32, 0, 1, shape, f32, &err);
    al_tensor *b = al_tensor_from_buffer(AL_DTYPE_FLOAT64, 0, 1, shape, f64, &err);
    al_tensor *c = al_tensor_from_buffer(AL_DTYPE_STRING, 8, 1, shape, names, &err);
    CHECK(td && a && b && c);
    CHECK_EQ_INT(al_tensordict_set(td, "f32", a, 0, &err), AL_OK);
    CHECK_EQ_INT(al_tensordict_set(td, "f64", b, 0, &err), AL_OK);
    CHECK_EQ_INT(al_tensordict_set(td, "name", c, 0, &err), AL_OK);
    const char *path = test_tmp_path("fixture.fits");
    CHECK_EQ_INT(al_survey_save_fits(td, path, NULL, &err), AL_OK);
    al_tensor_free(a);
    al_tensor_free(b);
    al_tensor_free(c);
    al_tensordict_free(td);
    return path;
}

/* CFITSIO is loaded on first use (src/survey/cfitsio.c). Where the library found is not CFITSIO
 * (tests/programs/stub_libcfitsio.c, first on LD_LIBRARY_PATH under CFITSIO's soname), a FITS
 * command fails naming why, CSV still works, and the version line leaves CFITSIO out. */
TEST(test_survey_says_why_when_cfitsio_cannot_be_loaded)
{
    char fits[256], csv[256], dir[256], link[320], env[300];
    snprintf(fits, sizeof fits, "%s", write_fits_fixture());
    snprintf(csv, sizeof csv, "%s", write_file("plain.csv", "id\n1\n", 5));
    snprintf(dir, sizeof dir, "%s", test_tmp_path("no_cfitsio"));
    mkdir(dir, 0755);
    snprintf(link, sizeof link, "%s/libcfitsio.so.%d", dir, CFITSIO_SONAME);
    unlink(link);
    CHECK(symlink(ASTROLAB_BUILD_DIR "/tests/libstub_libcfitsio.so", link) == 0);
    snprintf(env, sizeof env, "LD_LIBRARY_PATH=%s", dir);

    cli_result r = run_cli_env(env, "survey", "info", fits, (const char *)NULL);
    CHECK_EQ_INT(r.status, 1);
    CHECK(contains(r.err, "CFITSIO could not be loaded"));
    CHECK(contains(r.err, "has no ffasfm"));
    CHECK_EQ_STR(r.out, "");
    cli_result_free(&r);
    cli_result c = run_cli_env(env, "survey", "head", csv, (const char *)NULL);
    CHECK_EQ_INT(c.status, 0);
    CHECK_EQ_STR(c.out, "id\n1\n");
    cli_result_free(&c);
    cli_result v = run_cli_env(env, "--version", (const char *)NULL);
    CHECK_EQ_INT(v.status, 0);
    CHECK(!contains(v.out, "cfitsio") && contains(v.out, "cjson"));
    cli_result_free(&v);
    cli_result real = run_cli("--version"); /* and the real one, found without the stand-in */
    CHECK(contains(real.out, "cfitsio 4."));
    cli_result_free(&real);
    unlink(link);
    rmdir(dir);
}

TEST(test_survey_json_is_valid_utf8_with_other_bytes_as_latin1)
{
    /* Latin-1 values (the loader takes only UTF-8 column names). */
    static const char latin1[] = "id,name\n1,\xc5ngstr\xf6m\n2,caf\xe9\n";
    char csv[256], fits[256]; /* test_tmp_path's buffers are reused */
    snprintf(csv, sizeof csv, "%s", write_file("latin1.csv", latin1, sizeof latin1 - 1));
    snprintf(fits, sizeof fits, "%s", write_fits_fixture());
    const char *runs[][6] = {{"survey", "head", csv, "--json"},
                             {"survey", "info", csv, "--json"},
                             {"survey", "head", fits, "--hdu", "1", "--json"},
                             {"survey", "info", fits, "--hdu", "1", "--json"}};
    for (size_t i = 0; i < sizeof runs / sizeof runs[0]; i++) {
        const char **r = runs[i];
        cli_result c = run_cli(r[0], r[1], r[2], r[3], r[4], r[5]);
        CHECK_EQ_INT(c.status, 0);
        if (!is_utf8(c.out) || !python_json_accepts(c.out))
            fprintf(stderr, "  astrolab %s %s %s: not UTF-8 JSON:\n%s\n", r[0], r[1], r[3], c.out);
        CHECK(is_utf8(c.out));
        CHECK(python_json_accepts(c.out));
        /* The library's "caf\\u00e9" may reach stdout parsed and printed again as UTF-8. */
        CHECK(strcmp(r[1], "info") == 0 || contains(c.out, "caf\\u00e9"));
        cli_result_free(&c);
    }
    cli_result h = run_cli("survey", "head", csv, "--json");
    cJSON *doc = cJSON_Parse(h.out);
    const cJSON *row = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(doc, "rows"), 0);
    CHECK_EQ_STR(cJSON_GetStringValue(cJSON_GetArrayItem(row, 1)), "\xc3\x85ngstr\xc3\xb6m");
    cJSON_Delete(doc);
    cli_result_free(&h);
    /* The table shows each byte that is not UTF-8 as \xNN, and valid UTF-8 as it is. */
    cli_result t = run_cli("survey", "head", fits, "--hdu", "1");
    CHECK_EQ_INT(t.status, 0);
    CHECK(contains(t.out, "caf\\xe9") && contains(t.out, "\\xff\\xfeok"));
    cli_result_free(&t);
}

TEST(test_survey_head_prints_the_shortest_exact_numbers_of_each_type)
{
    const char *fits = write_fits_fixture();
    cli_result t = run_cli("survey", "head", fits, "--columns", "f32,f64");
    CHECK_EQ_INT(t.status, 0);
    CHECK_EQ_STR(t.out, "f32\tf64\n-1.45\t48.37112788\n48.371128\t55.218067\n");
    cli_result_free(&t);
    cli_result j = run_cli("survey", "head", fits, "--columns", "f32,f64", "--json");
    CHECK_EQ_INT(j.status, 0);
    CHECK(contains(j.out, "[-1.45, 48.37112788]"));
    CHECK(contains(j.out, "[48.371128, 55.218067]"));
    cli_result_free(&j);
}

/* Runs astrolab ARGS under ASTROLAB_FAIL_AFTER=n for n = 1, 2, ... until 20 runs in a row
 * succeed: each run must print exactly the undisturbed output and exit 0, or exit 1 with an
 * error and nothing on stdout. Then the same with ",repeat" at a few points. */
static void sweep_failures(const char *a1, const char *a2, const char *a3, const char *a4)
{
    cli_result full = run_cli(a1, a2, a3, a4);
    CHECK_EQ_INT(full.status, 0);
    int ok_in_a_row = 0, failed = 0;
    for (int n = 1; n <= 2000 && ok_in_a_row < 20; n++) {
        for (int repeat = 0; repeat < 2; repeat++) {
            char env[64];
            snprintf(env, sizeof env, "ASTROLAB_FAIL_AFTER=%d%s", n, repeat ? ",repeat" : "");
            cli_result r = run_cli_env(env, a1, a2, a3, a4, (const char *)NULL);
            int good = r.status == 0 ? strcmp(r.out, full.out) == 0
                                     : r.status == 1 && r.out[0] == '\0' &&
                                           contains(r.err, "astrolab survey: error: ");
            if (!good)
                fprintf(stderr, "  %s %s %s: exit %d, stdout:\n%s\nstderr:\n%s\n", env, a2,
                        a4 ? a4 : "", r.status, r.out, r.err);
            CHECK(good);
            if (!repeat) {
                ok_in_a_row = r.status == 0 ? ok_in_a_row + 1 : 0;
                failed += r.status != 0;
            }
            cli_result_free(&r);
        }
    }
    CHECK(failed > 0);
    CHECK_EQ_INT(ok_in_a_row, 20);
    cli_result_free(&full);
}

TEST(test_survey_head_under_allocation_failure_prints_all_or_nothing)
{
    static const char csv[] = "source_id,ra,name,flag\n1,44.5,a,1\n2,,bb,0\n3,45.5,,1\n";
    char p[256];
    snprintf(p, sizeof p, "%s", write_file("fail.csv", csv, sizeof csv - 1));
    sweep_failures("survey", "head", p, "--json");
    sweep_failures("survey", "head", p, NULL);
}

TEST(test_numbers_on_the_command_line_are_parsed_strictly)
{
    static const char csv[] = "id\n1\n2\n";
    char path[256];
    snprintf(path, sizeof path, "%s", write_file("n.csv", csv, sizeof csv - 1));
    char fits[256];
    snprintf(fits, sizeof fits, "%s", write_fits_fixture());
    const char *bad_n[] = {"", "1x", "-1", " 1", "+1", "99999999999999999999"};
    for (size_t i = 0; i < sizeof bad_n / sizeof bad_n[0]; i++) {
        cli_result r = run_cli("survey", "head", path, "-n", bad_n[i]);
        CHECK_EQ_INT(r.status, 2);
        CHECK(contains(r.err, "-n needs a whole number"));
        CHECK_EQ_STR(r.out, "");
        cli_result_free(&r);
    }
    const char *bad_hdu[] = {"", "-1", "2147483648", "4294967298", "99999999999999999999"};
    for (size_t i = 0; i < sizeof bad_hdu / sizeof bad_hdu[0]; i++) {
        cli_result r = run_cli("survey", "head", fits, "--hdu", bad_hdu[i]);
        CHECK_EQ_INT(r.status, 2);
        CHECK(contains(r.err, "--hdu needs"));
        CHECK_EQ_STR(r.out, "");
        cli_result_free(&r);
    }
    cli_result two = run_cli("survey", "head", fits, "--hdu", "2"); /* primary and table only */
    CHECK_EQ_INT(two.status, 1);
    CHECK_EQ_STR(two.out, "");
    cli_result_free(&two);
    cli_result zero = run_cli("survey", "head", path, "-n", "0");
    CHECK_EQ_INT(zero.status, 0);
    CHECK_EQ_STR(zero.out, "id\n");
    cli_result_free(&zero);
    const char *hdus[] = {"5", "0", "CATALOG"};
    for (size_t i = 0; i < 3; i++) {
        cli_result r = run_cli("survey", "info", path, "--hdu", hdus[i]);
        CHECK_EQ_INT(r.status, 1);
        CHECK(contains(r.err, "CSV, which has no HDUs"));
        CHECK_EQ_STR(r.out, "");
        cli_result_free(&r);
    }
    const char *bad_port[] = {"", "65536", "1x", "-1", "host:", "4294967376"};
    for (size_t i = 0; i < sizeof bad_port / sizeof bad_port[0]; i++) {
        cli_result d = run_cli("demo", "--ui", bad_port[i]);
        CHECK_EQ_INT(d.status, 2);
        CHECK(contains(d.err, "PORT"));
        CHECK_EQ_STR(d.out, "");
        cli_result_free(&d);
        cli_result r = run_cli("run", "--ui", bad_port[i], "--", "true");
        CHECK_EQ_INT(r.status, 2);
        CHECK(contains(r.err, "PORT"));
        cli_result_free(&r);
    }
}

TEST(test_version_names_each_library_once)
{
    cli_result r = run_cli("--version");
    CHECK_EQ_INT(r.status, 0);
    const char *libs[] = {"cjson ", "cfitsio ", "libmicrohttpd ", "glibc "};
    for (size_t i = 0; i < sizeof libs / sizeof libs[0]; i++) {
        const char *at = r.out ? strstr(r.out, libs[i]) : NULL;
        CHECK(at != NULL);
        CHECK(at && !strstr(at + 1, libs[i]));
    }
    const char *first = r.out ? strstr(r.out, al_version()) : NULL;
    CHECK(first && !strstr(first + 1, al_version()));
    char buf[512];
    CHECK(al_library_versions(buf, sizeof buf) == buf && contains(r.out, buf));
    CHECK(al_library_versions(NULL, 8) == NULL && al_library_versions(buf, 0) == NULL);
    CHECK(al_library_versions(buf, 8) == buf && strlen(buf) == 7);
    cli_result_free(&r);
}

TEST(test_help_help_works_and_the_command_table_keeps_its_columns)
{
    cli_result h = run_cli("help", "help");
    CHECK_EQ_INT(h.status, 0);
    CHECK(contains(h.out, "usage: astrolab help [COMMAND]"));
    cli_result_free(&h);
    cli_result a = run_cli("help", "--help"), b = run_cli("--help");
    CHECK_EQ_INT(a.status, 0);
    CHECK(contains(a.out, "usage: astrolab help [COMMAND]"));
    /* Every command's summary starts in one column, and no line passes 100 columns. */
    const char *table = b.out ? strstr(b.out, "Commands:\n") : NULL;
    CHECK(table != NULL);
    int column = -1, rows = 0;
    for (const char *line = table ? table + 10 : ""; *line == ' '; line = strchr(line, '\n') + 1) {
        const char *end = strchr(line, '\n');
        CHECK(end && end - line <= 100);
        const char *name_end = line + 2 + strcspn(line + 2, " ");
        int at = (int)(name_end + strspn(name_end, " ") - line);
        CHECK(column < 0 || at == column);
        column = at;
        rows++;
    }
    CHECK_EQ_INT(rows, 6);
    cli_result_free(&a);
    cli_result_free(&b);
}

/* The public helpers under the output above (<astrolab/format.h>): sizes and counts for people,
 * shortest exact numbers, UTF-8 JSON. */
TEST(test_number_and_json_helpers_write_exact_valid_text)
{
    char buf[AL_FORMAT_LEN];
    CHECK_EQ_STR(al_format_bytes(0, buf, sizeof buf), "0 bytes");
    CHECK_EQ_STR(al_format_bytes(1, buf, sizeof buf), "1 byte");
    CHECK_EQ_STR(al_format_bytes(1536, buf, sizeof buf), "1.5 KiB");
    CHECK_EQ_STR(al_format_bytes(12u << 20, buf, sizeof buf), "12 MiB");
    CHECK_EQ_STR(al_format_bytes(UINT64_MAX, buf, sizeof buf), "16 EiB");
    CHECK_EQ_STR(al_format_count(1234567, buf, sizeof buf), "1,234,567");
    CHECK_EQ_STR(al_format_count(UINT64_MAX, buf, sizeof buf), "18,446,744,073,709,551,615");
    CHECK_EQ_STR(al_format_count(1234567, buf, 4), "1,2"); /* cut to fit, NUL included */
    CHECK(al_format_bytes(1, NULL, 8) == NULL && al_format_count(1, buf, 0) == NULL);
    CHECK(al_format_double(1, NULL, 8) == NULL && al_format_float(1, buf, 0) == NULL);
    CHECK_EQ_STR(al_format_double(48.371127880, buf, sizeof buf), "48.37112788");
    CHECK_EQ_STR(al_format_double(55.218067, buf, sizeof buf), "55.218067");
    CHECK_EQ_STR(al_format_double(0.1 + 0.2, buf, sizeof buf), "0.30000000000000004");
    /* needs 16 digits, not 17 */
    CHECK_EQ_STR(al_format_double(1.234567890123456, buf, sizeof buf), "1.234567890123456");
    CHECK_EQ_STR(al_format_float(-1.45f, buf, sizeof buf), "-1.45");
    CHECK_EQ_STR(al_format_float(16777217.0f, buf, sizeof buf), "16777216");
    CHECK(strtof(al_format_float(0.1f + 0.2f, buf, sizeof buf), NULL) == 0.1f + 0.2f);
    CHECK_EQ_STR(al_format_double(NAN, buf, sizeof buf), "nan");

    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "sum", 0.1 + 0.2); /* cJSON alone prints 0.3 */
    cJSON_AddNumberToObject(o, "big", 1e15 + 1);
    cJSON_AddNumberToObject(o, "nan", NAN);
    cJSON_AddStringToObject(o, "s", "caf\xe9 \xc3\xa9 \xed\xa0\x80");
    char *text = ali_json_print(o, false);
    CHECK_EQ_STR(text, "{\"sum\":0.30000000000000004,\"big\":1000000000000001,\"nan\":null,"
                       "\"s\":\"caf\\u00e9 \xc3\xa9 \\u00ed\\u00a0\\u0080\"}");
    CHECK(cJSON_IsNumber(cJSON_GetObjectItem(o, "sum"))); /* o is left as it was */
    free(text);
    cJSON_Delete(o);
    /* al_json_format: the same writing of any JSON text; one value and nothing after it. */
    text = al_json_format("[0.30000000000000004, 1e2, \"caf\xe9\"]", 0, NULL);
    CHECK_EQ_STR(text, "[0.30000000000000004,100,\"caf\\u00e9\"]");
    free(text);
    text = al_json_format("{\"a\": [1]}", 1, NULL);
    CHECK_EQ_STR(text, "{\n\t\"a\":\t[1]\n}");
    free(text);
    al_error err;
    CHECK(al_json_format(NULL, 0, &err) == NULL);
    CHECK_EQ_INT(err.code, AL_EINVAL);
    CHECK(al_json_format("", 0, NULL) == NULL);
    CHECK(al_json_format("{\"a\": 1} 2", 0, &err) == NULL);
    CHECK_EQ_INT(err.code, AL_EJSON);
    CHECK_EQ_STR(err.message, "not one JSON value: stops at byte 9 of 10");
    CHECK(al_json_format("[1,", 1, &err) == NULL && err.code == AL_EJSON);
    CHECK(strstr(al_strerror(AL_EJSON), "JSON") != NULL);
    char *q = al_json_quote("a\0\"\\\x01\xe9", 6);
    CHECK_EQ_STR(q, "\"a\\u0000\\\"\\\\\\u0001\\u00e9\"");
    free(q);
    CHECK(al_json_quote(NULL, 0) == NULL);
    CHECK_EQ_INT(al_utf8_len("\xf4\x90\x80\x80", 4), 0); /* above U+10FFFF */
    CHECK_EQ_INT(al_utf8_len("\xf0\x9f\x98\x80", 4), 4);
    CHECK_EQ_INT(al_utf8_len("\xc0\x80", 2), 0); /* overlong */
    CHECK_EQ_INT(al_utf8_len("\xe2\x82", 2), 0); /* cut short */
    CHECK_EQ_INT(al_utf8_len(NULL, 4), 0);
}

/* /metrics: every value in its shortest exact form (no "55.218066999999998"). */
TEST(test_metrics_values_are_the_shortest_that_read_back)
{
    char *text = al_ui_metrics_text();
    CHECK(text != NULL);
    int values = 0;
    for (char *line = text; line && *line;
         line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
        if (*line == '#')
            continue;
        const char *sp = strrchr(line, ' ');
        size_t n = strcspn(sp ? sp + 1 : "", "\n");
        if (!sp || n == 0 || n >= 40)
            continue;
        char value[40], shortest[AL_FORMAT_LEN];
        memcpy(value, sp + 1, n);
        value[n] = '\0';
        double v = strtod(value, NULL);
        if (!isfinite(v))
            continue;
        al_format_double(v, shortest, sizeof shortest);
        if (strlen(value) > strlen(shortest))
            fprintf(stderr, "  metrics: %.*s\n", (int)strcspn(line, "\n"), line);
        CHECK(strlen(value) <= strlen(shortest));
        values++;
    }
    CHECK(values > 10);
    free(text);
}

/* `run` keeps the caller's whole LD_PRELOAD after its own (it was cut at 8 KiB), and refuses a
 * --report path it would have to cut (and so unlink another file). */
TEST(test_run_keeps_long_ld_preload_and_refuses_a_report_path_it_would_cut)
{
    static char env[16000], want[16000];
    char lib[128];
    int n = snprintf(env, sizeof env, "LD_PRELOAD=");
    for (int i = 0; i < 600; i++) /* absent libraries: ld.so warns and goes on */
        n += snprintf(env + n, sizeof env - (size_t)n, "%s/no/such/lib%04d.so", i ? ":" : "", i);
    snprintf(lib, sizeof lib, "/no/such/lib%04d.so", 599);
    cli_result r =
        run_cli_env(env, "run", "--", "sh", "-c", "printf %s \"$LD_PRELOAD\"", (const char *)NULL);
    if (r.status == 1 && contains(r.err, "preload library was not found")) {
        fprintf(stderr, "  (no preload library in this build: LD_PRELOAD part skipped)\n");
    } else {
        CHECK_EQ_INT(r.status, 0);
        snprintf(want, sizeof want, ":%s", env + strlen("LD_PRELOAD="));
        CHECK(contains(r.out, want)); /* every entry, after ours */
        CHECK(contains(r.out, lib));
        CHECK(contains(r.out, "libastrolab_preload.so:"));
    }
    cli_result_free(&r);

    static char path[5000];
    memset(path, 'a', sizeof path - 1);
    path[0] = '/';
    path[sizeof path - 1] = '\0';
    cli_result p = run_cli("run", "--report", path, "--", "true");
    CHECK_EQ_INT(p.status, 2);
    CHECK(contains(p.err, "--report: the path is longer than"));
    cli_result_free(&p);
}

/* survey info's column table: a name longer than its old 24-column field (Gaia has them) keeps
 * every later cell in its column. */
TEST(test_survey_info_table_keeps_long_names_in_their_column)
{
    static const char csv[] = "source_id,phot_bp_mean_flux_over_error,ra\n1,2.5,3\n";
    char path[256];
    snprintf(path, sizeof path, "%s", write_file("long.csv", csv, sizeof csv - 1));
    cli_result r = run_cli("survey", "info", path);
    CHECK_EQ_INT(r.status, 0);
    const char *head = r.out ? strstr(r.out, "\ncolumn ") : NULL;
    CHECK(head != NULL);
    long want = head ? (long)(strstr(head, "dtype") - head) : -1;
    const char *names[] = {"\nsource_id ", "\nphot_bp_mean_flux_over_error ", "\nra "};
    for (size_t i = 0; i < 3; i++) {
        const char *line = r.out ? strstr(r.out, names[i]) : NULL;
        CHECK(line != NULL);
        const char *cell =
            line ? line + strlen(names[i]) + strspn(line + strlen(names[i]), " ") : NULL;
        CHECK(line && cell - line == want);
    }
    cli_result_free(&r);
}

/* -------- survey optimize -o: outputs are never damaged (issue 13) -------- */

TEST(test_optimize_refuses_outputs_it_would_damage)
{
    static const char csv[] = "id,mag\n1,10.5\n2,11.25\n";
    char in[256];
    snprintf(in, sizeof in, "%s", write_file("opt.csv", csv, sizeof csv - 1));
    /* A CSV would get FITS under its own name. */
    cli_result r = run_cli("survey", "optimize", in, "-o", in);
    CHECK_EQ_INT(r.status, 1);
    CHECK(contains(r.err, "writes FITS, not CSV"));
    cli_result_free(&r);
    FILE *f = fopen(in, "rb");
    char back[64] = "";
    CHECK(f && fread(back, 1, sizeof back - 1, f) == sizeof csv - 1);
    if (f)
        fclose(f);
    CHECK(strcmp(back, csv) == 0);
    /* A device, a FIFO: refused, not replaced by a regular file. */
    r = run_cli("survey", "optimize", in, "-o", "/dev/null");
    CHECK_EQ_INT(r.status, 1);
    CHECK(contains(r.err, "is a character device, not a regular file"));
    cli_result_free(&r);
    struct stat sb;
    CHECK(stat("/dev/null", &sb) == 0 && S_ISCHR(sb.st_mode));
    const char *fifo = test_tmp_path("opt.fifo");
    CHECK_EQ_INT(mkfifo(fifo, 0600), 0);
    r = run_cli("survey", "optimize", in, "-o", fifo);
    CHECK_EQ_INT(r.status, 1);
    CHECK(contains(r.err, "is a FIFO"));
    cli_result_free(&r);
    /* A FITS output of a CSV input is written, and replaced whole on a second run. */
    const char *out = test_tmp_path("opt.fits");
    r = run_cli("survey", "optimize", in, "-o", out);
    CHECK_EQ_INT(r.status, 0);
    cli_result_free(&r);
    CHECK(stat(out, &sb) == 0 && S_ISREG(sb.st_mode) && sb.st_size % 2880 == 0);
}

TEST(test_optimize_in_place_keeps_every_hdu_of_a_real_index)
{
    const char *path =
        test_copy_installed("/usr/share/astrometry/index-tycho2-16.littleendian.fits", "t16.fits");
    if (!path)
        return;
    cli_result r = run_cli("survey", "optimize", path, "-o", path, "--json");
    CHECK_EQ_INT(r.status, 0);
    cli_result_free(&r);
    /* astrometry.net's own count of its HDUs: 14, as before (it was 2). */
    r = run_cli("survey", "info", path, "--hdu", "13", "--json");
    CHECK_EQ_INT(r.status, 0);
    cli_result_free(&r);
    r = run_cli("survey", "info", path, "--hdu", "14");
    CHECK(r.status != 0);
    cli_result_free(&r);
}

TEST(test_fail_after_takes_only_a_count)
{
    static const char csv[] = "a\n1\n";
    char path[256];
    snprintf(path, sizeof path, "%s", write_file("fa.csv", csv, sizeof csv - 1));
    const char *bad[] = {"ASTROLAB_FAIL_AFTER=-1", "ASTROLAB_FAIL_AFTER=+5",
                         "ASTROLAB_FAIL_AFTER= 5", "ASTROLAB_FAIL_AFTER=99999999999999999999"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cli_result r = run_cli_env(bad[i], "survey", "info", path, (const char *)NULL);
        CHECK_EQ_INT(r.status, 0);
        CHECK(contains(r.err, "expected a count"));
        cli_result_free(&r);
    }
}

/* -------- report merge: the per-rank reports of `astrolab run` under MPI. -------- */

TEST(test_report_merge_tells_leaks_on_every_rank_from_one_ranks)
{
    char r0[256], r1[256];
    const char rep0[] = "{\"stats\": {\"current_bytes\": 100, \"peak_bytes\": 100},"
                        " \"leaks\": [{\"function\": \"f\", \"file\": \"a.c\", \"line\": 3,"
                        " \"count\": 1, \"bytes\": 100}]}";
    const char rep1[] = "{\"stats\": {\"current_bytes\": 300, \"peak_bytes\": 300},"
                        " \"leaks\": [{\"function\": \"f\", \"file\": \"a.c\", \"line\": 3,"
                        " \"count\": 1, \"bytes\": 100}, {\"function\": \"g\", \"file\":"
                        " \"b.c\", \"line\": 9, \"count\": 2, \"bytes\": 200}]}";
    snprintf(r0, sizeof r0, "%s", write_file("r.0.json", rep0, sizeof rep0 - 1));
    snprintf(r1, sizeof r1, "%s", write_file("r.1.json", rep1, sizeof rep1 - 1));
    cli_result j = run_cli("report", "merge", r0, r1, "--json");
    CHECK_EQ_INT(j.status, 0);
    CHECK(contains(j.out, "\"peak_rank\":1"));
    CHECK(contains(j.out, "\"function\":\"g\""));
    CHECK(contains(j.out, "\"ranks\":[1],\"on_every_rank\":false"));
    CHECK(contains(j.out, "\"ranks\":[0,1],\"on_every_rank\":true"));
    cli_result_free(&j);
    cli_result t = run_cli("report", "merge", r0, r1);
    CHECK_EQ_INT(t.status, 0);
    CHECK(contains(t.out, "on rank 1 only") && contains(t.out, "every rank"));
    cli_result_free(&t);
    cli_result h = run_cli("report", "--help");
    CHECK_EQ_INT(h.status, 0);
    CHECK(contains(h.out, "usage: astrolab report merge FILES... [--json]"));
    cli_result_free(&h);
    cli_result none = run_cli("report", "merge");
    CHECK_EQ_INT(none.status, 2);
    cli_result_free(&none);
    cli_result same = run_cli("report", "merge", r0, r0);
    CHECK_EQ_INT(same.status, 1); /* rank 0 twice */
    cli_result_free(&same);
    cli_result bad = run_cli("report", "merge", write_file("x.json", "{", 1));
    CHECK_EQ_INT(bad.status, 1);
    cli_result_free(&bad);
}

TEST_MAIN()
