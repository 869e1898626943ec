/* Tests of `astrolab run` as a command (tools/cmd_run.c, src/preload/): misuse reports,
 * crashes, bad arguments, signals, the report's path, children, fault injection and the
 * dashboard inside the program. */
#include <arpa/inet.h>
#include <ctype.h>
#include <fcntl.h>
#include <math.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "preload_common.h"

TEST(test_run_reports_double_free_and_overflow_naming_the_site)
{
    if (!preload_built())
        return;
    const char *err = test_tmp_path("misuse.err"), *report = test_tmp_path("misuse.json");
    int status = run_program("plain_misuse", report, err);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    char *text = slurp(err), want[128];
    snprintf(want, sizeof want, "plain_misuse.c:%d in main() and already freed (double free)",
             marker_line("plain_misuse.c", "TWICE"));
    CHECK(strstr(text, "free of 0x") != NULL);
    CHECK(strstr(text, want) != NULL);
    snprintf(want, sizeof want, "plain_misuse.c:%d in main() and already freed (double free)",
             marker_line("plain_misuse.c", "MOVED"));
    CHECK(strstr(text, want) != NULL);          /* the old pointer of a realloc that moved */
    CHECK(strstr(text, "guard bytes") == NULL); /* guards are off by default */
    status = run_program_env("plain_misuse", report, err, "ASTROLAB_CHECK_GUARDS", "1");
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    text = slurp(err);
    snprintf(want, sizeof want, "plain_misuse.c:%d in main() were overwritten",
             marker_line("plain_misuse.c", "OVERFLOW"));
    CHECK(strstr(text, "guard bytes after the 10-byte block allocated at") != NULL);
    CHECK(strstr(text, want) != NULL);
    CHECK(strstr(text, "already freed (double free)") != NULL);
    /* The report's `errors`: each misuse with its kind and the allocating site, as many as
     * stats.errors counts. */
    cJSON *doc = load_json(report);
    const cJSON *errors = doc ? cJSON_GetObjectItem(doc, "errors") : NULL;
    CHECK(cJSON_GetArraySize(errors) == 3 && /* two double frees, one overflow */
          number(cJSON_GetObjectItem(doc, "stats"), "errors") == 3);
    const char *kinds[] = {"double_free", "overflow"}, *markers[] = {"TWICE", "OVERFLOW"};
    for (int k = 0; k < 2; k++) {
        char site[64];
        snprintf(site, sizeof site, "plain_misuse.c:%d in main()",
                 marker_line("plain_misuse.c", markers[k]));
        bool found = false;
        const cJSON *e;
        cJSON_ArrayForEach(e, errors)
        {
            const char *kind = cJSON_GetStringValue(cJSON_GetObjectItem(e, "kind"));
            const char *at = cJSON_GetStringValue(cJSON_GetObjectItem(e, "site"));
            found |= kind && at && strcmp(kind, kinds[k]) == 0 && strcmp(at, site) == 0;
        }
        if (!found)
            fprintf(stderr, "  no %s error at %s in the report\n", kinds[k], site);
        CHECK(found);
    }
    cJSON_Delete(doc);
    unlink(err);
    unlink(report);
}

TEST(test_run_reports_a_crash_clearly)
{
    const char *report = test_tmp_path("crash.json"), *err = test_tmp_path("crash.err");
    int status = run_program("plain_crash", report, err);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 128 + 11);
    CHECK(strstr(slurp(err), "killed by signal 11") != NULL);
}

TEST(test_run_rejects_bad_arguments)
{
    const char *report = test_tmp_path("missing.json"), *err = test_tmp_path("miss.err");
    int status = run_program("no_such_program", report, err);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 127);
    CHECK(strstr(slurp(err), "cannot run") != NULL);
}

/* -------- The run command's own behaviour -------- */

TEST(test_run_loads_no_dashboard_libraries_unless_asked)
{
    /* libmicrohttpd, and gnutls and p11-kit behind it, were linked into every tracked program:
     * about 700 blocks (109 KiB) made before main. They are loaded with --ui only now. */
    const char *report = test_tmp_path("bare.json"), *err = test_tmp_path("bare.err");
    int status = run_args(err, (const char *[]){"--report", report, "--", "/bin/true", NULL});
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    cJSON *doc = load_json(report);
    const cJSON *rt = cJSON_GetObjectItem(doc, "runtime");
    CHECK(rt != NULL);
    if (rt)
        CHECK(cJSON_GetObjectItem(rt, "live_blocks")->valueint < 50);
    cJSON_Delete(doc);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "ldd %s/libastrolab_preload.so | grep -q -e microhttpd -e gnutls",
             BUILD);
    CHECK(system(cmd) != 0);
}

TEST(test_run_forwards_termination_signals_to_the_program)
{
    const char *err = test_tmp_path("term.err"), *pidfile = test_tmp_path("term.pid");
    char script[600];
    snprintf(script, sizeof script, "echo $$ > %s; exec sleep 30", pidfile);
    int sigs[] = {SIGTERM, SIGHUP, SIGINT, SIGQUIT};
    for (int i = 0; i < 4; i++) {
        unlink(pidfile);
        pid_t run = start_run(false, NULL, NULL, err,
                              (const char *[]){"--", "/bin/sh", "-c", script, NULL});
        long child = 0;
        for (int t = 0; t < 500 && child == 0; t++) {
            FILE *f = fopen(pidfile, "r");
            if (!f || fscanf(f, "%ld", &child) != 1)
                child = 0;
            if (f)
                fclose(f);
            if (!child)
                usleep(10000);
        }
        CHECK(child > 0);
        usleep(100000); /* past the exec of sleep */
        kill(run, sigs[i]);
        int status = 0;
        waitpid(run, &status, 0);
        CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 128 + sigs[i]);
        bool gone = false;
        for (int t = 0; t < 200 && !gone; t++) {
            gone = child > 0 && kill((pid_t)child, 0) != 0;
            if (!gone)
                usleep(10000);
        }
        CHECK(gone); /* it used to run on, orphaned */
        if (!gone && child > 0)
            kill((pid_t)child, SIGKILL);
    }
}

TEST(test_run_report_path_is_fixed_and_checked_before_the_program_runs)
{
    const char *err = test_tmp_path("rel.err");
    char dir[512], marker[600], script[700], rel[600];
    snprintf(dir, sizeof dir, "%s", test_tmp_path("reldir"));
    CHECK_EQ_INT(mkdir(dir, 0700), 0);
    /* A program that changes directory still writes the report where it was asked for. */
    int status = start_run(true, dir, NULL, err,
                           (const char *[]){"--report", "rel.json", "--", "/bin/sh", "-c",
                                            "cd / && exec " BUILD "/tests/plain_leaky", NULL});
    CHECK(WIFEXITED(status));
    snprintf(rel, sizeof rel, "%s/rel.json", dir);
    CHECK(access(rel, R_OK) == 0);
    CHECK(access("/rel.json", F_OK) != 0);
    /* A directory that cannot take it, or no name: refused before the program runs. */
    snprintf(marker, sizeof marker, "%s/ran", dir);
    snprintf(script, sizeof script, "touch %s", marker);
    status = run_args(err, (const char *[]){"--report", "/nonexistent/dir/r.json", "--", "/bin/sh",
                                            "-c", script, NULL});
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 1);
    CHECK(strstr(slurp(err), "/nonexistent/dir") != NULL);
    status = run_args(err, (const char *[]){"--report", "", "--", "/bin/sh", "-c", script, NULL});
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 2);
    CHECK(access(marker, F_OK) != 0);
    /* An option where the file name should be is not taken for one: `--report -- true` made a
     * file named "--". */
    status = run_args(err, (const char *[]){"--report", "--", "/bin/sh", "-c", script, NULL});
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 2);
    CHECK(strstr(slurp(err), "--report needs a file name") != NULL);
    status = run_args(err, (const char *[]){"--report", "--html", rel, "--", "true", NULL});
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 2);
    /* Two outputs in one file: the second would replace the first. */
    status = run_args(err, (const char *[]){"--report", rel, "--html", rel, "--", "true", NULL});
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 2);
    CHECK(strstr(slurp(err), "--report and --html name the same file") != NULL);
    /* A report asked for and not written (its directory removed during the run) is said, with
     * why; the exit status stays the program's. */
    char gone[600], removal[700], eqdir_report[700];
    snprintf(gone, sizeof gone, "%s/gone", dir);
    CHECK_EQ_INT(mkdir(gone, 0700), 0);
    snprintf(removal, sizeof removal, "rmdir %s", gone);
    snprintf(eqdir_report, sizeof eqdir_report, "%s/r.json", gone);
    status = run_args(err, (const char *[]){"--report", eqdir_report, "--", "/bin/sh", "-c",
                                            removal, NULL});
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    CHECK(strstr(slurp(err), "was removed while /bin/sh ran") != NULL);
    CHECK(access(marker, F_OK) != 0);
    /* --OPT=VALUE, as GNU tools take it. */
    char eq[700];
    snprintf(eq, sizeof eq, "--report=%s/eq.json", dir);
    status = run_args(err, (const char *[]){eq, "--", "true", NULL});
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    snprintf(eq, sizeof eq, "%s/eq.json", dir);
    CHECK(access(eq, R_OK) == 0);
}

TEST(test_run_error_exitcode_fails_a_run_with_caught_errors)
{
    const char *err = test_tmp_path("errs.err");
    const char *prog = BUILD "/tests/plain_misuse";
    int status = run_args(err, (const char *[]){"--", prog, NULL});
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0); /* the program's status, by default */
    CHECK(strstr(slurp(err), "errors caught: ") != NULL);
    status = run_args(err, (const char *[]){"--error-exitcode", "3", "--", prog, NULL});
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 3);
    status = run_args(err, (const char *[]){"--error-exitcode", "3", "--", "/bin/true", NULL});
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0); /* no errors: the program's */
    status = run_args(err, (const char *[]){"--error-exitcode", "0", "--", prog, NULL});
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 2);
}

TEST(test_run_says_what_it_cannot_see)
{
    const char *err = test_tmp_path("see.err");
    int status = run_args(err, (const char *[]){"--", "/sbin/ldconfig", "-p", NULL});
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    CHECK(strstr(slurp(err), "is statically linked") != NULL);
    const char *script = test_tmp_path("s.sh");
    FILE *f = fopen(script, "w");
    fputs("#!/bin/sh\nexit 0\n", f);
    fclose(f);
    chmod(script, 0755);
    status = run_args(err, (const char *[]){"--", script, NULL});
    CHECK(strstr(slurp(err), "is a script for /bin/sh") != NULL);
    CHECK(strstr(slurp(err), "may have called _exit") == NULL);
    /* Children started with fork+exec are named as not in the report. */
    status = run_args(err, (const char *[]){"--", "/bin/sh", "-c",
                                            "/bin/true; /bin/true; exec /bin/true", NULL});
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    CHECK(strstr(slurp(err), "processes /bin/sh started: 2 tracked") != NULL);
}

TEST(test_run_reports_every_process_the_program_starts)
{
    const char *report = test_tmp_path("children.json"), *err = test_tmp_path("children.err");
    int status;
    cJSON *doc = run_report("plain_children", report, err, 0, &status);
    if (!doc)
        return;
    check_leak(doc, "plain_children.c", "/* PARENT-LEAK */", 1, 50);
    CHECK(leak_at(doc, "plain_children.c", marker_line("plain_children.c", "/* CHILD-LEAK */")) ==
          NULL);
    /* The fork+exec child: its own report, pid, argv and exit status. */
    const cJSON *procs = cJSON_GetObjectItem(doc, "processes");
    const cJSON *untracked = cJSON_GetObjectItem(doc, "untracked_processes");
    CHECK(cJSON_GetArraySize(procs) >= 1);
    const cJSON *p, *child = NULL;
    cJSON_ArrayForEach(p, procs)
    {
        const cJSON *argv = cJSON_GetObjectItem(p, "argv");
        const char *a1 = cJSON_GetStringValue(cJSON_GetArrayItem(argv, 1));
        if (a1 && strcmp(a1, "child") == 0)
            child = p;
    }
    CHECK(child != NULL);
    if (child) {
        CHECK(number(child, "pid") > 0 && number(child, "exit_status") == 7);
        CHECK(
            strstr(cJSON_GetStringValue(cJSON_GetArrayItem(cJSON_GetObjectItem(child, "argv"), 0)),
                   "plain_children") != NULL);
        check_leak(cJSON_GetObjectItem(child, "report"), "plain_children.c", "/* CHILD-LEAK */", 3,
                   300);
    }
    /* The one that left through _exit wrote its report there, with its status; the one killed
     * by a signal is named as untracked, with its command line; the vfork child that left
     * through _exit without exec wrote nothing. */
    const cJSON *quick = NULL;
    int vfork_children = 0;
    cJSON_ArrayForEach(p, procs)
    {
        const char *a1 =
            cJSON_GetStringValue(cJSON_GetArrayItem(cJSON_GetObjectItem(p, "argv"), 1));
        if (a1 && strcmp(a1, "quick") == 0)
            quick = p;
        vfork_children += !a1; /* the parent's own command line, as a vfork child has it */
    }
    CHECK(quick != NULL);
    if (quick) {
        CHECK(number(quick, "exit_status") == 5);
        check_leak(cJSON_GetObjectItem(quick, "report"), "plain_children.c", "/* QUICK-LEAK */", 1,
                   10);
    }
    CHECK_EQ_INT(vfork_children, 0);
    CHECK_EQ_INT(cJSON_GetArraySize(procs), 2);
    bool killed = false;
    cJSON_ArrayForEach(p, untracked)
    {
        const char *a1 =
            cJSON_GetStringValue(cJSON_GetArrayItem(cJSON_GetObjectItem(p, "argv"), 1));
        killed |= a1 && strcmp(a1, "killed") == 0 && number(p, "pid") > 0;
    }
    CHECK(killed);
    CHECK_EQ_INT(cJSON_GetArraySize(untracked), 1);
    CHECK(strstr(slurp(err), "processes ") != NULL && strstr(slurp(err), "2 tracked") != NULL);
    CHECK(strstr(slurp(err), "not tracked") != NULL && strstr(slurp(err), " killed\n") != NULL);
    cJSON_Delete(doc);
}

TEST(test_run_reports_a_program_that_leaves_through__exit)
{
    /* dash ends through _exit, so `astrolab run -- sh script` had no report; each `sh -c` that
     * forks (a compound command) was untracked. */
    const char *report = test_tmp_path("sh.json"), *err = test_tmp_path("sh.err");
    char cmd[600];
    snprintf(cmd, sizeof cmd, "%s/tests/plain_children child; exit 4", BUILD);
    int status = start_run(true, NULL, NULL, err,
                           (const char *[]){"--report", report, "--", "/bin/sh", "-c", cmd, NULL});
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 4);
    cJSON *doc = load_json(report);
    CHECK(doc != NULL);
    CHECK(strstr(slurp(err), "wrote no report") == NULL);
    CHECK(strstr(slurp(err), "== astrolab run: /bin/sh ==") != NULL);
    const cJSON *procs = doc ? cJSON_GetObjectItem(doc, "processes") : NULL;
    CHECK_EQ_INT(cJSON_GetArraySize(procs), 1); /* the child, tracked */
    if (cJSON_GetArraySize(procs) == 1)
        check_leak(cJSON_GetObjectItem(cJSON_GetArrayItem(procs, 0), "report"), "plain_children.c",
                   "/* CHILD-LEAK */", 3, 300);
    cJSON_Delete(doc);
}

TEST(test_run_says_nothing_more_for_a_process_that_outlives_it)
{
    /* A process started in the background and still running when the program exits: when it
     * ends, the run's directory is gone, and it used to print "the report was not written" on
     * the terminal long after the run. */
    const char *err = test_tmp_path("late.err");
    int status = run_args(err, (const char *[]){"--", "/bin/sh", "-c",
                                                "(sleep 0.3; exec /bin/true) & exit 0", NULL});
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    usleep(800 * 1000); /* the background process has ended, writing to the same stderr */
    CHECK(strstr(slurp(err), "was not written") == NULL);
    CHECK(strstr(slurp(err), "ERROR") == NULL);
}

TEST(test_run_fault_injection_reaches_the_program_only_when_asked)
{
    const char *err = test_tmp_path("fail.err");
    const char *prog = BUILD "/tests/plain_leaky";
    int status =
        start_run(true, NULL, "ASTROLAB_FAIL_AFTER=1", err, (const char *[]){"--", prog, NULL});
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 3); /* plain_leaky's own status */
    CHECK(strstr(slurp(err), "injected failure") == NULL);
    status = run_args(err, (const char *[]){"--fail-after", "1", "--", prog, NULL});
    CHECK(strstr(slurp(err), "injected failure") != NULL); /* an allocation of it failed */
    /* The program's N-th allocation, not that of each process it starts: sh makes fewer than
     * 500, each plain_leaky thousands. */
    status = run_args(err, (const char *[]){"--fail-after", "500", "--", "/bin/sh", "-c",
                                            BUILD "/tests/plain_leaky; " BUILD "/tests/plain_leaky",
                                            NULL});
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 3);
    CHECK(strstr(slurp(err), "injected failure") == NULL);
}

TEST(test_run_ui_refuses_a_taken_port_before_running)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    CHECK_EQ_INT(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    CHECK_EQ_INT(listen(fd, 1), 0);
    socklen_t len = sizeof a;
    getsockname(fd, (struct sockaddr *)&a, &len);
    char port[16], marker[600], script[700];
    snprintf(port, sizeof port, "%u", ntohs(a.sin_port));
    snprintf(marker, sizeof marker, "%s", test_tmp_path("ui-ran"));
    snprintf(script, sizeof script, "touch %s", marker);
    const char *err = test_tmp_path("uiport.err");
    int status = run_args(err, (const char *[]){"--ui", port, "--", "/bin/sh", "-c", script, NULL});
    close(fd);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 1);
    CHECK(access(marker, F_OK) != 0);
    CHECK(strstr(slurp(err), "cannot serve the dashboard") != NULL);
    CHECK(strstr(slurp(err), "dashboard at http") == NULL);
    status = run_args(err, (const char *[]){"--ui", "192.0.2.1:8123", "--", "/bin/sh", "-c", script,
                                            NULL});
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 1); /* not this machine's address */
    CHECK(access(marker, F_OK) != 0);
}

/* One HTTP request on loopback; returns the status code and copies the body. */
static int http(int port, const char *request, char *body, size_t len)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    if (write(fd, request, strlen(request)) < 0) {
        close(fd);
        return -1;
    }
    static char buf[1 << 16];
    size_t n = 0;
    ssize_t got;
    while (n < sizeof buf - 1 && (got = read(fd, buf + n, sizeof buf - 1 - n)) > 0)
        n += (size_t)got;
    close(fd);
    buf[n] = 0;
    int status = 0;
    sscanf(buf, "HTTP/1.%*d %d", &status);
    const char *b = strstr(buf, "\r\n\r\n");
    snprintf(body, len, "%s", b ? b + 4 : "");
    return status;
}

/* Starts `astrolab run --ui 0 -- ARGV...` (NULL-terminated, at most 6) with stderr to errfile;
 * returns its pid. */
static pid_t start_ui_run(const char *errfile, const char *const *argv)
{
    char exe[512];
    snprintf(exe, sizeof exe, "%s/astrolab", BUILD);
    const char *args[12] = {exe, "run", "--ui", "0", "--"};
    for (int i = 0; argv[i] && i < 6; i++)
        args[5 + i] = argv[i];
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open(errfile, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        dup2(fd, 2);
        execv(exe, (char *const *)args);
        _exit(99);
    }
    return pid;
}

/* GET `path` from the dashboard whose URL and token the run printed in errfile: the HTTP
 * status, or -1 while no URL is printed yet; *port and token[33] get the URL's. */
static int ui_get(const char *errfile, const char *path, char *body, size_t len, int *port,
                  char token[33])
{
    const char *t = strstr(slurp(errfile), "?token=");
    const char *at = strstr(slurp(errfile), "http://127.0.0.1:");
    if (!t || !at)
        return -1;
    *port = atoi(at + strlen("http://127.0.0.1:"));
    snprintf(token, 33, "%.32s", t + 7);
    char get[256];
    snprintf(get, sizeof get,
             "GET %s?token=%s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n", path,
             token);
    return http(*port, get, body, len);
}

TEST(test_run_ui_goes_on_serving_when_the_program_execs_another)
{
    /* bash runs the last command of `bash -c` with exec, and a shell script may end with exec:
     * the new image, the same process, serves the dashboard again on the same socket, where
     * it reported "listen_fd 3 is not a listening TCP socket" twice. */
    const char *err = test_tmp_path("ui-exec.err");
    char cmd[600], body[1 << 16], token[33];
    snprintf(cmd, sizeof cmd, "/bin/true; exec %s/tests/plain_slow", BUILD);
    pid_t pid = start_ui_run(err, (const char *[]){"/bin/sh", "-c", cmd, NULL});
    double allocations = 0;
    int port = 0;
    for (int i = 0; i < 150 && allocations < 1000; i++) {
        usleep(20000);
        if (ui_get(err, "/api/stats", body, sizeof body, &port, token) != 200)
            continue;
        cJSON *stats = cJSON_Parse(body);
        const cJSON *n = stats ? cJSON_GetObjectItem(stats, "total_allocations") : NULL;
        allocations = n ? n->valuedouble : 0;
        cJSON_Delete(stats);
    }
    CHECK(allocations >= 1000); /* plain_slow's figures: sh makes a few dozen allocations */
    int st = 0;
    waitpid(pid, &st, 0);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    CHECK(strstr(slurp(err), "not a listening") == NULL);
    CHECK(strstr(slurp(err), "ERROR") == NULL);
}

TEST(test_run_ui_serves_the_dashboard_from_inside_the_program)
{
    /* --ui 0: the CLI binds a free port, prints it, and the program serves on that very
     * socket (no other process can take the port in between). */
    const char *err = test_tmp_path("ui.err");
    int port = 0;
    char prog[512];
    snprintf(prog, sizeof prog, "%s/tests/plain_slow", BUILD);
    pid_t pid = start_ui_run(err, (const char *[]){prog, NULL});
    char body[1 << 16], token[33] = "";
    int status = -1;
    /* Every endpoint, reads included, needs the token the CLI prints with the URL. */
    for (int i = 0; i < 100 && status != 200; i++) {
        usleep(20000);
        status = ui_get(err, "/api/stats", body, sizeof body, &port, token);
    }
    CHECK_EQ_INT(status, 200);
    CHECK(port > 0);
    cJSON *stats = cJSON_Parse(body);
    CHECK(stats && cJSON_GetObjectItem(stats, "total_allocations")->valuedouble > 0);
    cJSON_Delete(stats);
    /* Actions need the token printed by the CLI. */
    CHECK_EQ_INT(http(port,
                      "POST /api/snapshot HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: "
                      "0\r\nConnection: close\r\n\r\n",
                      body, sizeof body),
                 403);
    const char *text = slurp(err);
    const char *tok = strstr(text, "?token=");
    CHECK(tok != NULL);
    if (tok) {
        char req[256];
        snprintf(req, sizeof req,
                 "POST /api/snapshot?token=%.32s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: "
                 "0\r\nConnection: close\r\n\r\n",
                 tok + 7);
        CHECK_EQ_INT(http(port, req, body, sizeof body), 200);
    }
    char diag[256];
    snprintf(diag, sizeof diag,
             "GET /api/diagnosis?token=%s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
             token);
    for (int i = 0; i < 20; i++) /* dashboard work the program's figures must not show */
        http(port, diag, body, sizeof body);
    int st = 0;
    waitpid(pid, &st, 0);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    /* The same program without the dashboard: the counts differ by the first connection's few
     * blocks (made before the server calls back), not by the dashboard's thousands. */
    const char *report = test_tmp_path("ui-base.json"), *base_err = test_tmp_path("ui-base.err");
    run_program("plain_slow", report, base_err);
    cJSON *doc = load_json(report);
    double base = doc ? cJSON_GetObjectItem(cJSON_GetObjectItem(doc, "stats"), "total_allocations")
                            ->valuedouble
                      : -1;
    cJSON_Delete(doc);
    text = slurp(err);
    const char *at = strstr(text, "allocations ");
    double with_ui = -1;
    if (at) {
        char digits[32];
        size_t n = 0;
        for (at += 12; n + 1 < sizeof digits && (isdigit((unsigned char)*at) || *at == ','); at++)
            if (*at != ',')
                digits[n++] = *at;
        digits[n] = '\0';
        with_ui = atof(digits);
    }
    if (!(base > 20000 && with_ui >= base && with_ui - base < 100))
        fprintf(stderr, "  allocations without the dashboard %.0f, with it %.0f\n", base, with_ui);
    CHECK(base > 20000 && with_ui >= base && with_ui - base < 100);
}

PRELOAD_TEST_MAIN()
