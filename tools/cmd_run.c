/* `astrolab run [--report FILE.json] -- PROGRAM ARGS...`: runs an unmodified program with the
 * preload library (src/preload/) routing its malloc family through the manager, passes its
 * exit status through, and prints (tools/run_summary.c) the report the library wrote at the
 * program's exit. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "astrolab/job.h"
#include "cli.h"
#include "run_html.h"

#define CMD "run"

typedef struct run_opts {
    const char *report;     /* --report FILE, or NULL: a temporary file */
    const char *fail_after; /* --fail-after N for the program, or NULL: none (see child()) */
    int error_exitcode;     /* --error-exitcode N: exit N when errors were caught; 0: never */
    char **argv;            /* the program and its arguments */
    const char *ui_host;    /* --ui: NULL for loopback, else ui_host_buf */
    bool ui;                /* --ui given */
    uint16_t ui_port;       /* --ui's port (0: any free one, known once bound) */
    char ui_host_buf[256];
    char wrappers[2048]; /* --wrapper NAME...: comma-separated, for ASTROLAB_RUN_WRAPPERS */
    char own[2048];      /* --own OBJECT...: comma-separated, for ASTROLAB_RUN_OWN */
    const char *folded;  /* --folded FILE, or NULL */
    const char *pprof;   /* --pprof FILE, or NULL */
    char folded_abs[PATH_MAX], pprof_abs[PATH_MAX]; /* their absolute paths, once checked */
    char suppressions[8192];  /* --suppressions FILE...: absolute paths, one a line */
    const char *html;         /* --html FILE, or NULL (run_html.c) */
    char html_abs[PATH_MAX];  /* its absolute path, once checked */
    const char *sample_bytes; /* --sample-bytes N ("0": --stacks all), for ASTROLAB_SAMPLE_BYTES */
} run_opts;

/* Checks suppression file `path` (LeakSanitizer's format: `leak:PATTERN` lines, `#` comments,
 * other `type:` lines ignored, as LeakSanitizer's leak checker ignores them) and adds its
 * absolute path to o->suppressions for the preload library (src/preload/suppress.c). */
static int add_suppressions(run_opts *o, const char *path)
{
    char real[PATH_MAX];
    FILE *f = realpath(path, real) ? fopen(real, "re") : NULL;
    if (!f)
        return cli_fail(CMD, "--suppressions %s: %s", path, strerror(errno));
    char line[1024];
    int n = 0, bad = 0;
    while (!bad && fgets(line, sizeof line, f)) {
        n++;
        char *s = line + strspn(line, " \t");
        s[strcspn(s, "\r\n")] = '\0';
        size_t type = strspn(s, "abcdefghijklmnopqrstuvwxyz_");
        if (*s && *s != '#' && (type == 0 || s[type] != ':' || !s[type + 1]))
            bad = n;
    }
    fclose(f);
    if (bad)
        return cli_usage_error(CMD,
                               "--suppressions %s:%d: not a suppression (expected leak:PATTERN, "
                               "as LeakSanitizer's files have)",
                               path, bad);
    size_t used = strlen(o->suppressions);
    if (used + strlen(real) + 2 > sizeof o->suppressions)
        return cli_usage_error(CMD, "--suppressions: too many files");
    snprintf(o->suppressions + used, sizeof o->suppressions - used, "%s%s", used ? "\n" : "", real);
    return CLI_EXIT_OK;
}

/* The value of the option being parsed: the text after '=' in --OPT=VALUE (`inline_value`),
 * else the next argument, which *i then moves past; NULL when there is none, or when the next
 * argument is another option (`--report --html x` would make a file named "--html"). */
static const char *option_value(int argc, char **argv, int *i, const char *inline_value)
{
    if (inline_value)
        return inline_value;
    if (*i + 1 >= argc || strncmp(argv[*i + 1], "--", 2) == 0)
        return NULL;
    return argv[++*i];
}

static int parse(int argc, char **argv, run_opts *o)
{
    memset(o, 0, sizeof *o);
    int i = 1;
    for (; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0) {
            i++;
            break;
        }
        /* --OPT=VALUE is --OPT VALUE, as GNU tools take it. */
        char opt[32];
        const char *eq = strncmp(argv[i], "--", 2) == 0 ? strchr(argv[i], '=') : NULL;
        const char *arg = argv[i], *inline_value = NULL;
        if (eq && (size_t)(eq - argv[i]) < sizeof opt) {
            snprintf(opt, sizeof opt, "%.*s", (int)(eq - argv[i]), argv[i]);
            arg = opt;
            inline_value = eq + 1;
        }
        if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
            cli_print_command_help(cli_find_command(CMD));
            return -1;
        }
        if (strcmp(arg, "--ui") == 0) {
            const char *v = option_value(argc, argv, &i, inline_value);
            if (!v)
                return cli_usage_error(CMD, "--ui needs [HOST:]PORT");
            int rc = cli_parse_ui_address(CMD, v, o->ui_host_buf, sizeof o->ui_host_buf,
                                          &o->ui_host, &o->ui_port);
            o->ui = true;
            if (rc != CLI_EXIT_OK)
                return rc;
            continue;
        }
        if (strcmp(arg, "--error-exitcode") == 0 || strcmp(arg, "--fail-after") == 0) {
            bool fail = arg[2] == 'f';
            int64_t v;
            const char *text = option_value(argc, argv, &i, inline_value);
            if (!text)
                return cli_usage_error(CMD, "%s needs a number", arg);
            int rc = cli_parse_int(CMD, arg, text, 1, fail ? INT64_MAX : 255, &v);
            if (rc != CLI_EXIT_OK)
                return rc;
            if (fail)
                o->fail_after = text;
            else
                o->error_exitcode = (int)v;
            continue;
        }
        if (strcmp(arg, "--sample-bytes") == 0 || strcmp(arg, "--stacks") == 0) {
            bool stacks = strcmp(arg, "--stacks") == 0;
            const char *v = option_value(argc, argv, &i, inline_value);
            int64_t n;
            int rc = CLI_EXIT_OK;
            if (stacks && (!v || (strcmp(v, "all") != 0 && strcmp(v, "sampled") != 0)))
                return cli_usage_error(CMD, "--stacks needs 'all' or 'sampled'%s%s%s",
                                       v ? ", not '" : "", v ? v : "", v ? "'" : "");
            if (!stacks && !v)
                return cli_usage_error(CMD, "--sample-bytes needs a number of bytes");
            if (!stacks && (rc = cli_parse_int(CMD, "--sample-bytes", v, 1, INT64_C(1) << 40,
                                               &n)) != CLI_EXIT_OK)
                return rc;
            const char *value = stacks ? (strcmp(v, "all") == 0 ? "0" : NULL) : v;
            if (value && o->sample_bytes && strcmp(value, o->sample_bytes) != 0)
                return cli_usage_error(CMD, "--stacks all and --sample-bytes exclude each other");
            o->sample_bytes = value ? value : o->sample_bytes;
            continue;
        }
        if (strcmp(arg, "--wrapper") == 0 || strcmp(arg, "--own") == 0) {
            bool wrapper = arg[2] == 'w';
            const char *what = wrapper ? "function" : "object";
            const char *name = option_value(argc, argv, &i, inline_value);
            if (!name || !*name)
                return cli_usage_error(CMD, "%s needs %s name", arg,
                                       wrapper ? "a function" : "an object (library)");
            if (strpbrk(name, ", \t\n"))
                return cli_usage_error(CMD,
                                       "%s '%s': one %s name, without commas or blanks (repeat "
                                       "%s for more)",
                                       arg, name, what, arg);
            char *list = wrapper ? o->wrappers : o->own;
            size_t used = strlen(list), cap = wrapper ? sizeof o->wrappers : sizeof o->own;
            if (used + strlen(name) + 2 > cap)
                return cli_usage_error(CMD, "%s: too many names (%zu bytes at most)", arg, cap - 1);
            snprintf(list + used, cap - used, "%s%s", used ? "," : "", name);
            continue;
        }
        if (strcmp(arg, "--folded") == 0 || strcmp(arg, "--pprof") == 0 ||
            strcmp(arg, "--html") == 0 || strcmp(arg, "--report") == 0) {
            const char *file = option_value(argc, argv, &i, inline_value);
            if (!file || !*file)
                return cli_usage_error(CMD, "%s needs a file name", arg);
            /* A cut path would name another file, which cmd_run would unlink. */
            if (strlen(file) >= PATH_MAX)
                return cli_usage_error(CMD, "%s: the path is longer than %d bytes", arg,
                                       PATH_MAX - 1);
            *(arg[2] == 'f'   ? &o->folded
              : arg[2] == 'p' ? &o->pprof
              : arg[2] == 'h' ? &o->html
                              : &o->report) = file;
            continue;
        }
        if (strcmp(arg, "--suppressions") == 0) {
            const char *file = option_value(argc, argv, &i, inline_value);
            if (!file || !*file)
                return cli_usage_error(CMD, "--suppressions needs a file name");
            int rc = add_suppressions(o, file);
            if (rc != CLI_EXIT_OK)
                return rc;
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

static void child(const run_opts *o, const char *ld, const char *report, const char *children,
                  const char *token, int ui_fd)
{
    char pid[32];
    snprintf(pid, sizeof pid, "%ld", (long)getpid());
    setenv("LD_PRELOAD", ld, 1);
    setenv("ASTROLAB_RUN_REPORT", report, 1);
    setenv("ASTROLAB_RUN_CHILDREN", children, 1);
    setenv("ASTROLAB_RUN_PID", pid, 1);
    if (o->folded)
        setenv("ASTROLAB_RUN_FOLDED", o->folded_abs, 1);
    else
        unsetenv("ASTROLAB_RUN_FOLDED");
    if (o->pprof)
        setenv("ASTROLAB_RUN_PPROF", o->pprof_abs, 1);
    else
        unsetenv("ASTROLAB_RUN_PPROF");
    if (o->suppressions[0])
        setenv("ASTROLAB_RUN_SUPPRESSIONS", o->suppressions, 1);
    else
        unsetenv("ASTROLAB_RUN_SUPPRESSIONS");
    if (o->wrappers[0])
        setenv("ASTROLAB_RUN_WRAPPERS", o->wrappers, 1);
    else
        unsetenv("ASTROLAB_RUN_WRAPPERS");
    if (o->own[0])
        setenv("ASTROLAB_RUN_OWN", o->own, 1);
    else
        unsetenv("ASTROLAB_RUN_OWN");
    if (o->sample_bytes)
        setenv("ASTROLAB_SAMPLE_BYTES", o->sample_bytes, 1);
    /* Fault injection reaches the program only when asked for with --fail-after: an
     * ASTROLAB_FAIL_AFTER meant for astrolab itself (a test's) must not fail the program. */
    if (o->fail_after)
        setenv("ASTROLAB_RUN_FAIL_AFTER", o->fail_after, 1); /* the program's alone (report.c) */
    else
        unsetenv("ASTROLAB_RUN_FAIL_AFTER");
    unsetenv("ASTROLAB_FAIL_AFTER");
    if (o->ui) {
        char port[8];
        snprintf(port, sizeof port, "%u", o->ui_port);
        setenv("ASTROLAB_RUN_UI_PORT", port, 1);
        setenv("ASTROLAB_RUN_UI_TOKEN", token, 1);
        char fd[16];
        snprintf(fd, sizeof fd, "%d", ui_fd);
        setenv("ASTROLAB_RUN_UI_FD", fd, 1);
        fcntl(ui_fd, F_SETFD, 0); /* inherited by the program; the preload marks it again */
        if (o->ui_host)
            setenv("ASTROLAB_RUN_UI_HOST", o->ui_host, 1);
    }
    execvp(o->argv[0], o->argv);
    fprintf(stderr, "astrolab run: cannot run '%s': %s\n", o->argv[0], strerror(errno));
    _exit(errno == ENOENT ? 127 : 126);
}

/* Under MPI (a rank in the launcher's environment) each rank writes its own report: "r.json"
 * becomes "r.<rank>.json" (a name without ".json" gets ".<rank>" appended), the files that
 * `astrolab report merge` reads. */
static const char *rank_base(const char *base, char *buf, size_t len)
{
    int rank = al_job_rank_from_env();
    if (rank < 0)
        return base;
    size_t n = strlen(base);
    int json = n > 5 && strcmp(base + n - 5, ".json") == 0;
    if ((size_t)snprintf(buf, len, "%.*s.%d%s", (int)(json ? n - 5 : n), base, rank,
                         json ? ".json" : "") >= len)
        return NULL;
    return buf;
}

/* The directory part of path into dir ("." for a bare name, "/" for one in the root). */
static void dir_of(const char *path, char *dir, size_t len)
{
    const char *slash = strrchr(path, '/');
    snprintf(dir, len, "%.*s", slash ? (int)(slash - path) + (slash == path) : 1,
             slash ? path : ".");
}

/* --report FILE (or --folded, --pprof: `opt`) as an absolute path, checked before the program
 * starts: a program that calls chdir would otherwise write it elsewhere, and a directory that
 * cannot take it would be found only after the run. */
static int absolute_output(const char *opt, const char *given, char *out, size_t len)
{
    char dir[PATH_MAX], real[PATH_MAX], ranked[NAME_MAX + 16];
    const char *slash = strrchr(given, '/');
    const char *base = slash ? slash + 1 : given;
    if (!*base || strcmp(base, ".") == 0 || strcmp(base, "..") == 0)
        return cli_usage_error(CMD, "%s '%s' names a directory, not a file", opt, given);
    if (!(base = rank_base(base, ranked, sizeof ranked)))
        return cli_usage_error(CMD, "%s: the file name is too long", opt);
    dir_of(given, dir, sizeof dir);
    if (!realpath(dir, real))
        return cli_fail(CMD, "%s %s: directory %s: %s", opt, given, dir, strerror(errno));
    if (access(real, W_OK | X_OK) != 0)
        return cli_fail(CMD, "%s %s: cannot write in %s: %s", opt, given, real, strerror(errno));
    if ((size_t)snprintf(out, len, "%s/%s", strcmp(real, "/") ? real : "", base) >= len)
        return cli_usage_error(CMD, "%s: the path is too long", opt);
    struct stat sb;
    if (lstat(out, &sb) == 0 && !S_ISREG(sb.st_mode))
        return cli_fail(CMD, "%s %s: exists and is not a regular file", opt, given);
    return CLI_EXIT_OK;
}

/* Binds and listens on --ui's address before the program runs and before a URL is printed:
 * a port already taken or a host that is not this machine's fails here. The program serves on
 * this very socket (inherited, ASTROLAB_RUN_UI_FD), so no one can take the port in between.
 * Returns the socket, or -1 after printing why. */
static int bind_ui(const run_opts *o)
{
    char port[8];
    snprintf(port, sizeof port, "%u", o->ui_port);
    const char *host = o->ui_host ? o->ui_host : "127.0.0.1";
    struct addrinfo hints = {.ai_flags = AI_PASSIVE | AI_NUMERICSERV, .ai_socktype = SOCK_STREAM},
                    *ai = NULL;
    int gai = getaddrinfo(host, port, &hints, &ai);
    if (gai != 0)
        return cli_fail(CMD, "--ui %s:%s: %s", host, port, gai_strerror(gai));
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1, err = 0;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, 128) != 0)
        err = errno;
    freeaddrinfo(ai);
    if (err) {
        if (fd >= 0)
            close(fd);
        cli_fail(CMD, "cannot serve the dashboard on %s port %s: %s", host, port, strerror(err));
        return -1;
    }
    return fd;
}

/* Signals sent to astrolab (kill -TERM, a job manager's SIGHUP) go on to the program, which
 * would otherwise run on, orphaned; those the terminal sends reach the program by itself (same
 * process group: si_code SI_KERNEL), and are not sent twice. */
static volatile sig_atomic_t program_pid;

static void forward(int sig, siginfo_t *info, void *uctx)
{
    (void)uctx;
    if (program_pid > 0 && (!info || info->si_code != SI_KERNEL))
        kill(program_pid, sig);
}

static const int forwarded[] = {SIGTERM, SIGINT, SIGHUP, SIGQUIT};

static void forward_signals(bool on, struct sigaction old[4])
{
    struct sigaction sa = {.sa_sigaction = forward, .sa_flags = SA_SIGINFO | SA_RESTART};
    sigemptyset(&sa.sa_mask);
    for (int i = 0; i < 4; i++)
        sigaction(forwarded[i], on ? &sa : &old[i], on ? &old[i] : NULL);
}

/* Lines in the `started` file of the children directory (children.c): the processes the
 * program started (fork+exec, system()). */
static int count_children(const char *dir)
{
    char path[PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/started", dir);
    FILE *f = fopen(path, "re");
    int n = 0, c;
    while (f && (c = getc(f)) != EOF)
        n += c == '\n';
    if (f)
        fclose(f);
    return n;
}

/* Makes the private directory the started processes write to, with its empty `started` file;
 * 0, or -1 after printing why. */
static int make_children_dir(char *dir, size_t len)
{
    snprintf(dir, len, "%s/astrolab-run-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(dir))
        return cli_fail(CMD, "cannot create a temporary directory: %s", strerror(errno)), -1;
    char path[PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/started", dir);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        cli_fail(CMD, "cannot create %s: %s", path, strerror(errno));
        rmdir(dir);
        return -1;
    }
    close(fd);
    return 0;
}

/* Removes the children directory and what the processes wrote in it. */
static void remove_children_dir(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        char path[PATH_MAX + 300];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        unlink(path);
    }
    if (d)
        closedir(d);
    rmdir(dir);
}

/* Where the program's report is read from: --report's absolute path, or a temporary file. */
static int report_path(const run_opts *o, char *report, size_t len)
{
    if (o->report)
        return absolute_output("--report", o->report, report, len);
    snprintf(report, len, "%s/astrolab-run-XXXXXX.json",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    int fd = mkstemps(report, 5);
    if (fd < 0)
        return cli_fail(CMD, "cannot create a temporary report file: %s", strerror(errno));
    close(fd);
    unlink(report); /* present afterwards only if the program wrote it */
    return CLI_EXIT_OK;
}

/* Prints what the report (or its absence) says; returns the errors the manager caught. */
/* Whether the directory that holds file `path` still exists. */
static bool dir_exists(const char *path)
{
    char dir[PATH_MAX];
    dir_of(path, dir, sizeof dir);
    struct stat st;
    return stat(dir, &st) == 0 && S_ISDIR(st.st_mode);
}

static int summarize(const run_opts *o, const char *report, const struct stat *old, int status,
                     run_program_kind kind, bool *read)
{
    struct stat now;
    bool written =
        stat(report, &now) == 0 && (!old || now.st_ino != old->st_ino || now.st_dev != old->st_dev);
    cJSON *doc = written ? cli_read_json_file(report) : NULL;
    int errors = 0;
    *read = doc != NULL;
    if (doc) {
        run_print_summary(doc, o->argv[0]);
        run_print_children(doc, o->argv[0]);
        run_print_unused(doc);
        errors = (int)run_num(cJSON_GetObjectItemCaseSensitive(doc, "stats"), "errors");
        if (errors > 0)
            fprintf(stderr,
                    "errors caught: %d (double or invalid frees, overwritten guards: see the "
                    "messages above)%s\n",
                    errors,
                    o->error_exitcode ? "" : "; --error-exitcode N makes them fail the run");
        cJSON_Delete(doc);
    } else if (WIFSIGNALED(status)) {
        fprintf(stderr,
                "astrolab run: %s was killed by signal %d (%s) before it could exit: no leak "
                "report was written\n",
                o->argv[0], WTERMSIG(status), strsignal(WTERMSIG(status)));
    } else if (!dir_exists(report)) {
        fprintf(stderr, "astrolab run: no report: the directory of %s was removed while %s ran\n",
                report, o->argv[0]);
    } else if (!(WIFEXITED(status) && WEXITSTATUS(status) >= 126) && kind != RUN_PROGRAM_STATIC &&
               kind != RUN_PROGRAM_SCRIPT) {
        fprintf(stderr,
                "astrolab run: %s wrote no report: it exec'd a program that did not run with the "
                "preload library (statically linked, or set-user-ID), or ended with a raw exit "
                "system call\n",
                o->argv[0]);
    }
    return errors;
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
                        "the preload library was not found (looked beside this program, in the "
                        "installed tree relative to it, and at %s; set ASTROLAB_PRELOAD_LIB)",
                        ASTROLAB_PRELOAD_INSTALLED);
    char report[PATH_MAX], children[PATH_MAX + 16];
    if ((rc = report_path(&o, report, sizeof report)) != CLI_EXIT_OK)
        return rc;
    if ((o.folded && (rc = absolute_output("--folded", o.folded, o.folded_abs,
                                           sizeof o.folded_abs)) != CLI_EXIT_OK) ||
        (o.pprof && (rc = absolute_output("--pprof", o.pprof, o.pprof_abs, sizeof o.pprof_abs)) !=
                        CLI_EXIT_OK))
        return rc;
    if (o.html &&
        (rc = absolute_output("--html", o.html, o.html_abs, sizeof o.html_abs)) != CLI_EXIT_OK)
        return rc;
    /* One file for two outputs: the last written would silently replace the other. */
    const char *outputs[4][2] = {{"--report", o.report ? report : NULL},
                                 {"--folded", o.folded ? o.folded_abs : NULL},
                                 {"--pprof", o.pprof ? o.pprof_abs : NULL},
                                 {"--html", o.html ? o.html_abs : NULL}};
    for (int a = 0; a < 4; a++)
        for (int b = a + 1; b < 4; b++)
            if (outputs[a][1] && outputs[b][1] && strcmp(outputs[a][1], outputs[b][1]) == 0)
                return cli_usage_error(CMD, "%s and %s name the same file, %s", outputs[a][0],
                                       outputs[b][0], outputs[a][1]);
    bool temporary = o.report == NULL;
    /* An old --report FILE stays until the program's report replaces it (renamed into place,
     * so a new inode): a run that writes none leaves it, and is told apart by that inode. */
    struct stat old_report;
    bool had_old = !temporary && stat(report, &old_report) == 0;
    if (make_children_dir(children, sizeof children) != 0)
        return CLI_EXIT_FAILURE;
    char note[512];
    run_program_kind kind = run_program_inspect(o.argv[0], note, sizeof note);
    if (note[0])
        fprintf(stderr, "astrolab run: note: %s\n", note);
    char token[33] = "";
    int ui_fd = -1;
    if (o.ui) {
        if ((ui_fd = bind_ui(&o)) < 0) {
            remove_children_dir(children);
            return CLI_EXIT_FAILURE;
        }
        struct sockaddr_storage ss; /* --ui 0: the port the system chose */
        socklen_t len = sizeof ss;
        if (getsockname(ui_fd, (struct sockaddr *)&ss, &len) == 0)
            o.ui_port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                                       : ((struct sockaddr_in *)&ss)->sin_port);
        if (make_token(token) != 0) {
            close(ui_fd);
            remove_children_dir(children);
            return cli_fail(CMD, "cannot draw a random token for the dashboard: %s",
                            strerror(errno));
        }
        const char *h = o.ui_host ? o.ui_host : "127.0.0.1";
        bool v6 = strchr(h, ':') != NULL;
        fprintf(stderr, "astrolab run: dashboard at http://%s%s%s:%u/?token=%s while %s runs\n",
                v6 ? "[" : "", h, v6 ? "]" : "", o.ui_port, token, o.argv[0]);
    }
    char *ld = preload_list(preload);
    if (!ld) {
        remove_children_dir(children);
        return cli_fail(CMD, "out of memory");
    }
    struct sigaction old[4];
    forward_signals(true, old); /* before fork: a signal in between is not lost */
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        forward_signals(false, old);
        child(&o, ld, report, children, token, ui_fd);
    }
    free(ld);
    if (ui_fd >= 0)
        close(ui_fd); /* the program's now */
    program_pid = pid;
    int status = 0;
    while (pid > 0 && waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    program_pid = 0;
    forward_signals(false, old);
    if (pid < 0) {
        remove_children_dir(children);
        return cli_fail(CMD, "fork failed: %s", strerror(errno));
    }
    bool summarized = false;
    int errors = summarize(&o, report, had_old ? &old_report : NULL, status, kind, &summarized);
    /* A page asked for and not written fails a run that otherwise succeeded. */
    bool html_failed = o.html && (summarized ? run_html_write(CMD, report, o.argv, o.html_abs)
                                             : cli_fail(CMD, "--html %s: no report to draw it from",
                                                        o.html)) != CLI_EXIT_OK;
    int n_children = summarized ? 0 : count_children(children);
    if (n_children > 0)
        fprintf(stderr,
                "astrolab run: %d process%s that %s started (fork+exec, system()) ran with the "
                "preload library too; %s not in this report\n",
                n_children, n_children == 1 ? "" : "es", o.argv[0],
                n_children == 1 ? "it is" : "they are");
    remove_children_dir(children);
    if (temporary)
        unlink(report);
    if (errors > 0 && o.error_exitcode)
        return o.error_exitcode;
    /* A page asked for and not written fails a run that otherwise succeeded. A report not
     * written is said (summarize), but the exit status stays the program's (SPEC §6): a
     * statically linked program never writes one. */
    if (html_failed && WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return CLI_EXIT_FAILURE;
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : CLI_EXIT_FAILURE;
}
