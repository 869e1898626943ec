/* Tests of `astrolab run --html FILE` (tools/run_html.c): the page holds the run's report as
 * data, escaped so that no name can end its script element, inlines everything it needs, and
 * is written whole or not at all. tests/browser/run_html.mjs opens it in Chromium. */
#include <cjson/cJSON.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "run_common.h"
#include "test.h"

#define BUILD ASTROLAB_BUILD_DIR

/* The function name tests/programs/plain_html.c gives its leaking function. */
#define HOSTILE "</script><img src=x onerror=alert(1)>&amp;'<!--"

/* Runs `astrolab run ARGS...` (NULL-terminated, at most 12) with stderr to errfile; returns
 * the wait status. ASTROLAB_STACK_DEPTH=8 gives the flame graphs depth. */
static int run_args(const char *errfile, const char *const *args)
{
    return start_run(true, NULL, "ASTROLAB_STACK_DEPTH=8", errfile, args);
}

static int count(const char *text, const char *needle)
{
    int n = 0;
    for (const char *p = text; (p = strstr(p, needle)) != NULL; p += strlen(needle))
        n++;
    return n;
}

/* Entries of directory `dir` other than . and .. */
/* The text of <script type="application/json" id="ID"> in page, parsed; NULL when absent.
 * *raw gets whether the text held a '<' (it must not: see put_json_data). */
static cJSON *embedded(const char *page, const char *id, bool *raw_lt)
{
    char open[128];
    snprintf(open, sizeof open, "<script type=\"application/json\" id=\"%s\">", id);
    const char *at = strstr(page, open);
    if (!at)
        return NULL;
    at += strlen(open);
    const char *end = strstr(at, "</script>");
    if (!end)
        return NULL;
    *raw_lt = memchr(at, '<', (size_t)(end - at)) != NULL;
    return cJSON_ParseWithLength(at, (size_t)(end - at));
}

/* Every "://" in the page is one of these: XML namespaces d3 names, and the comments that
 * credit the libraries. None is fetched. */
static bool urls_are_known(const char *page)
{
    static const char *const known[] = {"http://www.w3.org/", "https://d3js.org",
                                        "https://github.com/leeoniya/uPlot"};
    for (const char *p = page; (p = strstr(p, "://")) != NULL; p += 3) {
        bool ok = false;
        for (size_t k = 0; !ok && k < sizeof known / sizeof *known; k++) {
            const char *scheme = strchr(known[k], ':');
            size_t before = (size_t)(scheme - known[k]);
            ok = (size_t)(p - page) >= before &&
                 strncmp(p - before, known[k], strlen(known[k])) == 0;
        }
        if (!ok) {
            fprintf(stderr, "  unexpected URL near: %.60s\n", p > page + 10 ? p - 10 : page);
            return false;
        }
    }
    return true;
}

TEST(test_run_html_page_holds_the_report_as_escaped_data_and_loads_nothing)
{
    const char *dir = test_tmp_path("page");
    CHECK(mkdir(dir, 0755) == 0);
    char page_path[300], report[300], err[300];
    snprintf(page_path, sizeof page_path, "%s/page.html", dir);
    snprintf(report, sizeof report, "%s/page.json", dir);
    snprintf(err, sizeof err, "%s/page.err", dir);
    int status = run_args(err, (const char *[]){"--html", page_path, "--report", report, "--",
                                                BUILD "/tests/plain_html", NULL});
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    char *page = test_slurp(page_path), *json = test_slurp(report);
    CHECK(page != NULL && json != NULL);
    if (!page || !json) {
        free(page);
        free(json);
        return;
    }
    /* The data: the report, whole, with no '<' left in it; the hostile name among the leaks. */
    bool raw_lt = true;
    cJSON *data = embedded(page, "astrolab-report", &raw_lt), *doc = cJSON_Parse(json);
    CHECK(data != NULL && doc != NULL);
    CHECK(!raw_lt);
    CHECK(cJSON_Compare(data, doc, true));
    bool named = false;
    const cJSON *l;
    cJSON_ArrayForEach(l, cJSON_GetObjectItem(data, "leaks"))
    {
        const char *f = cJSON_GetStringValue(cJSON_GetObjectItem(l, "function"));
        named |= f && strcmp(f, HOSTILE) == 0;
    }
    CHECK(named);
    CHECK(strstr(page, "</script><img") == NULL);
    CHECK(strstr(page, "\\u003c/script\\u003e\\u003cimg src=x onerror=alert(1)\\u003e\\u0026amp;'"
                       "\\u003c!--") != NULL);
    cJSON *cmd = embedded(page, "astrolab-command", &raw_lt);
    CHECK(cJSON_GetArraySize(cmd) == 1 &&
          strcmp(cJSON_GetStringValue(cJSON_GetArrayItem(cmd, 0)), BUILD "/tests/plain_html") == 0);
    cJSON_Delete(cmd);
    cJSON_Delete(data);
    cJSON_Delete(doc);
    /* Everything inline: every script element closes where it should (two of data, four of
     * code), nothing is loaded from elsewhere, and the page's policy forbids it anyway. */
    CHECK_EQ_INT(count(page, "<script"), 6);
    CHECK_EQ_INT(count(page, "</script>"), 6);
    CHECK(strstr(page, "<script src") == NULL && strstr(page, "<link rel=\"stylesheet\"") == NULL);
    CHECK(strstr(page, "src=\"//") == NULL && strstr(page, "src=\"http") == NULL);
    CHECK(strstr(page, "href=\"//") == NULL && strstr(page, "href=\"http") == NULL);
    CHECK(strstr(page, "url(http") == NULL && strstr(page, "url(//") == NULL);
    CHECK(strstr(page, "@import") == NULL);
    CHECK(urls_are_known(page));
    CHECK(strstr(page, "content=\"default-src 'none';") != NULL);
    /* The libraries and the page's own code are in it. */
    CHECK(strstr(page, "https://d3js.org v7.9.2") != NULL);
    CHECK(strstr(page, "d3-flame-graph") != NULL && strstr(page, "uPlot") != NULL);
    CHECK(strstr(page, "function buildTree(") != NULL);
    /* Nothing left beside it: the page, the report and the stderr file only. */
    CHECK_EQ_INT(test_dir_entries(dir), 3);
    free(page);
    free(json);
}

TEST(test_run_html_unwritable_path_fails_naming_it_and_leaves_no_file)
{
    const char *err = test_tmp_path("bad.err");
    /* Checked before the program runs: a missing directory, a directory as the file. */
    int status =
        run_args(err, (const char *[]){"--html", "/no/such/dir/p.html", "--", "true", NULL});
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 1);
    char *text = test_slurp(err);
    CHECK(text && strstr(text, "--html /no/such/dir/p.html: directory /no/such/dir") != NULL);
    free(text);
    const char *dir = test_tmp_path("adir");
    CHECK(mkdir(dir, 0755) == 0);
    status = run_args(err, (const char *[]){"--html", dir, "--", "true", NULL});
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 1);
    text = test_slurp(err);
    CHECK(text && strstr(text, "exists and is not a regular file") != NULL);
    free(text);
    status = run_args(err, (const char *[]){"--html", NULL});
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 2);
    text = test_slurp(err);
    CHECK(text && strstr(text, "--html needs a file name") != NULL);
    free(text);

    /* Found only after the run: the program puts a directory where the page goes. The run
     * fails naming the page, and leaves neither a page nor a temporary file beside it. */
    const char *sub = test_tmp_path("late");
    CHECK(mkdir(sub, 0755) == 0);
    char page_path[300];
    snprintf(page_path, sizeof page_path, "%s/page.html", sub);
    status = run_args(err, (const char *[]){"--html", page_path, "--", "mkdir", page_path, NULL});
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 1);
    text = test_slurp(err);
    char want[800];
    snprintf(want, sizeof want, "--html %s: cannot write the page: %s: is a directory", page_path,
             page_path);
    CHECK(text && strstr(text, want) != NULL);
    free(text);
    CHECK_EQ_INT(test_dir_entries(sub), 1);       /* the program's directory only */
    CHECK_EQ_INT(test_dir_entries(page_path), 0); /* still empty */
    /* No report to draw from (a program killed runs no exit handler): said, no page, and the
     * exit status is still the program's. */
    CHECK(rmdir(page_path) == 0);
    status =
        run_args(err, (const char *[]){"--html", page_path, "--", "sh", "-c", "kill -9 $$", NULL});
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 128 + 9);
    text = test_slurp(err);
    snprintf(want, sizeof want, "--html %s: no report to draw it from", page_path);
    CHECK(text && strstr(text, want) != NULL);
    free(text);
    CHECK_EQ_INT(test_dir_entries(sub), 0);
}

TEST(test_run_html_replaces_an_old_page_keeping_its_mode)
{
    const char *page_path = test_tmp_path("old.html"), *err = test_tmp_path("old.err");
    FILE *f = fopen(page_path, "w");
    CHECK(f != NULL);
    if (!f)
        return;
    fputs("old page", f);
    fclose(f);
    CHECK(chmod(page_path, 0640) == 0);
    int status = run_args(err, (const char *[]){"--html", page_path, "--", "true", NULL});
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    char *page = test_slurp(page_path);
    CHECK(page && strncmp(page, "<!doctype html>", 15) == 0);
    free(page);
    struct stat sb;
    CHECK(stat(page_path, &sb) == 0 && (sb.st_mode & 07777) == 0640);
}

int main(int argc, char **argv)
{
    if (access(BUILD "/libastrolab_preload.so", R_OK) != 0) {
        printf("the preload library is not built in this configuration (sanitizer build)\n");
        return 77;
    }
    return test_main(argc, argv);
}
