/* `astrolab run [--report FILE.json] -- PROGRAM ARGS...`: runs an unmodified program with the
 * preload library (src/preload/) routing its malloc family through the manager, passes its
 * exit status through, and prints the statistics, the leaks grouped by call site and the
 * recommendations that the library wrote at the program's exit. */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"

#define CMD "run"

typedef struct run_opts {
    const char *report;  /* --report FILE, or NULL: a temporary file */
    char **argv;         /* the program and its arguments */
    const char *ui_host; /* --ui: NULL for loopback, else ui_host_buf */
    uint16_t ui_port;    /* --ui: 0 when no dashboard */
    char ui_host_buf[256];
} run_opts;

static int parse(int argc, char **argv, run_opts *o)
{
    memset(o, 0, sizeof *o);
    int i = 1;
    for (; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0) {
            i++;
            break;
        }
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            cli_print_command_help(cli_find_command(CMD));
            return -1;
        }
        if (strcmp(argv[i], "--ui") == 0) {
            if (i + 1 >= argc)
                return cli_usage_error(CMD, "--ui needs [HOST:]PORT");
            int rc = cli_parse_ui_address(CMD, argv[++i], o->ui_host_buf, sizeof o->ui_host_buf,
                                          &o->ui_host, &o->ui_port);
            if (rc != CLI_EXIT_OK)
                return rc;
            if (o->ui_port == 0) /* the URL is printed before the program binds it */
                return cli_usage_error(CMD, "--ui needs a port other than 0");
            continue;
        }
        if (strcmp(argv[i], "--report") == 0) {
            if (i + 1 >= argc)
                return cli_usage_error(CMD, "--report needs a file name");
            o->report = argv[++i];
            /* A cut path would name another file, which cmd_run would unlink. */
            if (strlen(o->report) >= PATH_MAX)
                return cli_usage_error(CMD, "--report: the path is longer than %d bytes",
                                       PATH_MAX - 1);
            continue;
        }
        if (argv[i][0] == '-')
            return cli_usage_error(CMD, "unknown option '%s'", argv[i]);
        break; /* the program, without "--" */
    }
    if (i >= argc)
        return cli_usage_error(CMD, "no program given (astrolab run -- PROGRAM ARGS...)");
    o->argv = argv + i;
    return CLI_EXIT_OK;
}

/* 32 hex digits from the kernel's random source, for the dashboard's token. */
static int make_token(char out[33])
{
    unsigned char raw[16];
    if (getrandom(raw, sizeof raw, 0) != (ssize_t)sizeof raw)
        return -1;
    for (int i = 0; i < 16; i++)
        snprintf(out + 2 * i, 3, "%02x", raw[i]);
    return 0;
}

/* LD_PRELOAD for the program: ours first, then the caller's whole list (any length). NULL
 * when out of memory; free() it. */
static char *preload_list(const char *preload)
{
    const char *old = getenv("LD_PRELOAD");
    size_t n = strlen(preload) + (old ? strlen(old) + 1 : 0) + 1;
    char *ld = malloc(n);
    if (ld)
        snprintf(ld, n, "%s%s%s", preload, old && *old ? ":" : "", old && *old ? old : "");
    return ld;
}

static void child(const run_opts *o, const char *ld, const char *report, const char *token)
{
    char pid[32];
    snprintf(pid, sizeof pid, "%ld", (long)getpid());
    setenv("LD_PRELOAD", ld, 1);
    setenv("ASTROLAB_RUN_REPORT", report, 1);
    setenv("ASTROLAB_RUN_PID", pid, 1);
    if (o->ui_port) {
        char port[8];
        snprintf(port, sizeof port, "%u", o->ui_port);
        setenv("ASTROLAB_RUN_UI_PORT", port, 1);
        setenv("ASTROLAB_RUN_UI_TOKEN", token, 1);
        if (o->ui_host)
            setenv("ASTROLAB_RUN_UI_HOST", o->ui_host, 1);
    }
    execvp(o->argv[0], o->argv);
    fprintf(stderr, "astrolab run: cannot run '%s': %s\n", o->argv[0], strerror(errno));
    _exit(errno == ENOENT ? 127 : 126);
}

static cJSON *read_report(const char *path)
{
    FILE *f = fopen(path, "re");
    if (!f)
        return NULL;
    char *text = NULL;
    size_t cap = 0, len = 0;
    for (;;) {
        if (len + 4096 > cap) {
            cap = cap ? cap * 2 : 65536;
            char *t = realloc(text, cap);
            if (!t)
                break;
            text = t;
        }
        size_t got = fread(text + len, 1, cap - len - 1, f);
        len += got;
        if (got == 0)
            break;
    }
    fclose(f);
    cJSON *doc = NULL;
    if (text) {
        text[len] = '\0';
        doc = cJSON_Parse(text);
    }
    free(text);
    return doc;
}

static double num(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(v) ? v->valuedouble : 0;
}

static const char *str(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : "";
}

/* The summary, on stderr so the program's own output stays clean. */
static void print_summary(const cJSON *doc, const char *program)
{
    char a[32], b[32], c[32], d[32], e[32];
    const cJSON *st = cJSON_GetObjectItemCaseSensitive(doc, "stats");
    fprintf(stderr, "\n== astrolab run: %s ==\n", program);
    fprintf(stderr, "allocations %s, frees %s, peak %s, live at exit %s in %s blocks\n",
            cli_format_count((uint64_t)num(st, "total_allocations"), a, sizeof a),
            cli_format_count((uint64_t)num(st, "total_frees"), b, sizeof b),
            cli_format_bytes((uint64_t)num(st, "peak_bytes"), c, sizeof c),
            cli_format_bytes((uint64_t)num(st, "current_bytes"), d, sizeof d),
            cli_format_count((uint64_t)num(st, "live_blocks"), e, sizeof e));
    fprintf(stderr, "peak RSS %s\n",
            cli_format_bytes((uint64_t)num(st, "peak_rss_bytes"), a, sizeof a));
    const cJSON *leaks = cJSON_GetObjectItemCaseSensitive(doc, "leaks");
    int n = cJSON_GetArraySize(leaks);
    if (n == 0)
        fprintf(stderr, "no leaks: every block was freed\n");
    else
        fprintf(stderr, "leaks (blocks live at exit; lost: no pointer reaches them), largest "
                        "first:\n");
    int shown = 0;
    const cJSON *l;
    cJSON_ArrayForEach(l, leaks)
    {
        if (shown++ == 25) {
            fprintf(stderr, "  ... and %d more sites (see --report)\n", n - 25);
            break;
        }
        const char *file = str(l, "file");
        const char *slash = strrchr(file, '/');
        char where[300];
        if (*file)
            snprintf(where, sizeof where, "%s:%d", slash ? slash + 1 : file, (int)num(l, "line"));
        else
            snprintf(where, sizeof where, "%s", str(l, "object"));
        char lost[64] = "";
        if (cJSON_GetObjectItemCaseSensitive(l, "lost_count"))
            snprintf(lost, sizeof lost, ", %s lost",
                     cli_format_count((uint64_t)num(l, "lost_count"), c, sizeof c));
        fprintf(stderr, "  %10s in %8s blocks%-14s  %s (%s)\n",
                cli_format_bytes((uint64_t)num(l, "bytes"), a, sizeof a),
                cli_format_count((uint64_t)num(l, "count"), b, sizeof b), lost, str(l, "function"),
                where);
        const cJSON *frame;
        int depth = 0;
        cJSON_ArrayForEach(frame, cJSON_GetObjectItemCaseSensitive(l, "stack"))
        {
            if (depth++ == 0)
                continue; /* the first frame is the line above */
            const char *ff = str(frame, "file");
            const char *fs = strrchr(ff, '/');
            fprintf(stderr, "  %32s called from %s (%s:%d)\n", "", str(frame, "function"),
                    fs ? fs + 1 : ff, (int)num(frame, "line"));
        }
    }
    const cJSON *rt = cJSON_GetObjectItemCaseSensitive(doc, "runtime");
    if (num(rt, "live_blocks") > 0)
        fprintf(stderr,
                "(not counted as leaks: %s in %s blocks kept by the C runtime or made by library "
                "constructors before main)\n",
                cli_format_bytes((uint64_t)num(rt, "live_bytes"), a, sizeof a),
                cli_format_count((uint64_t)num(rt, "live_blocks"), b, sizeof b));
    if (n > 0 && cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(rt, "reach_scanned")))
        fprintf(stderr, "(lost blocks are not told from reachable ones: the exit scan could not "
                        "read the program's memory, e.g. process_vm_readv is not allowed here)\n");
    const cJSON *r;
    cJSON_ArrayForEach(r, cJSON_GetObjectItemCaseSensitive(doc, "recommendations"))
        fprintf(stderr, "%s [%s] %s\n", str(r, "severity"), str(r, "code"), str(r, "message"));
}

int cmd_run(int argc, char **argv)
{
    run_opts o;
    int rc = parse(argc, argv, &o);
    if (rc < 0)
        return CLI_EXIT_OK;
    if (rc != CLI_EXIT_OK)
        return rc;
    char preload[PATH_MAX];
    if (cli_find_preload(preload, sizeof preload) != 0)
        return cli_fail(CMD,
                        "the preload library was not found (looked beside this program "
                        "and at %s; set ASTROLAB_PRELOAD_LIB)",
                        ASTROLAB_PRELOAD_INSTALLED);
    char report[PATH_MAX];
    bool temporary = o.report == NULL;
    if (temporary) {
        snprintf(report, sizeof report, "%s/astrolab-run-XXXXXX.json",
                 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
        int fd = mkstemps(report, 5);
        if (fd < 0)
            return cli_fail(CMD, "cannot create a temporary report file: %s", strerror(errno));
        close(fd);
    } else {
        snprintf(report, sizeof report, "%s", o.report);
    }
    /* An old --report FILE stays until the program's report replaces it (renamed into place,
     * so a new inode): a run that writes none leaves it, and is told apart by that inode. */
    struct stat old_report;
    bool had_old = !temporary && stat(report, &old_report) == 0;
    if (temporary)
        unlink(report); /* present afterwards only if the program wrote it */
    char token[33] = "";
    if (o.ui_port) {
        if (make_token(token) != 0)
            return cli_fail(CMD, "cannot draw a random token for the dashboard: %s",
                            strerror(errno));
        const char *h = o.ui_host ? o.ui_host : "127.0.0.1";
        bool v6 = strchr(h, ':') != NULL;
        fprintf(stderr, "astrolab run: dashboard at http://%s%s%s:%u/?token=%s while %s runs\n",
                v6 ? "[" : "", h, v6 ? "]" : "", o.ui_port, token, o.argv[0]);
    }
    char *ld = preload_list(preload);
    if (!ld)
        return cli_fail(CMD, "out of memory");
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0)
        child(&o, ld, report, token);
    free(ld);
    if (pid < 0)
        return cli_fail(CMD, "fork failed: %s", strerror(errno));
    struct sigaction ignore = {.sa_handler = SIG_IGN}, old_int, old_quit;
    sigaction(SIGINT, &ignore, &old_int); /* the program gets ^C; we stay to report */
    sigaction(SIGQUIT, &ignore, &old_quit);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGQUIT, &old_quit, NULL);
    struct stat now;
    bool written = stat(report, &now) == 0 &&
                   (!had_old || now.st_ino != old_report.st_ino || now.st_dev != old_report.st_dev);
    cJSON *doc = written ? read_report(report) : NULL;
    if (doc) {
        print_summary(doc, o.argv[0]);
        cJSON_Delete(doc);
    } else if (WIFSIGNALED(status)) {
        fprintf(stderr,
                "astrolab run: %s was killed by signal %d (%s) before it could exit: no leak "
                "report was written\n",
                o.argv[0], WTERMSIG(status), strsignal(WTERMSIG(status)));
    } else if (!(WIFEXITED(status) && WEXITSTATUS(status) >= 126)) {
        fprintf(stderr,
                "astrolab run: %s wrote no report (it may have called _exit or exec'd "
                "a static program)\n",
                o.argv[0]);
    }
    if (temporary)
        unlink(report);
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : CLI_EXIT_FAILURE;
}
