/* Every process: the processes a program starts with fork+exec or system() run with the
 * preload library too (LD_PRELOAD is inherited), and each writes its own report at its exit;
 * the program's report gathers them (`processes`, `untracked_processes`: docs/RUN-REPORT.md).
 *
 * `astrolab run` makes a private directory (ASTROLAB_RUN_CHILDREN). A started process appends
 * "PID<TAB>COMMAND LINE" to its `started` file (O_APPEND keeps lines whole) and, at its exit
 * (on_exit, which gives the exit status), writes PID.json there. When the program itself exits,
 * its report takes every PID.json present as a `processes` entry and names the started
 * processes without one as untracked: still running then, or killed by a signal. A process
 * leaving through _exit (dash does, so every `sh -c` of system()) writes its report there
 * (exit.c). A fork without exec is the same program: it writes nothing, as before. */
#include <cjson/cJSON.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h> /* sockaddr_in, ntohs */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "astrolab/format.h"
#include "astrolab/log.h"
#include "preload_int.h"
#include "util/settings_int.h"

static pid_t child_pid;         /* this process, when it is one the program started */
static char child_dir[4096];    /* astrolab run's directory of their reports */
static char child_report[4200]; /* where it writes its report */

/* This process's command line into out, arguments separated by ARG_SEP (tabs and newlines in
 * them become spaces: the `started` file is one line per process). */
#define ARG_SEP '\x1f' /* ASCII's unit separator */
static void command_line(char *out, size_t len)
{
    int fd = open("/proc/self/cmdline", O_RDONLY | O_CLOEXEC);
    ssize_t n = fd >= 0 ? read(fd, out, len - 1) : 0;
    if (fd >= 0)
        close(fd);
    n = n > 0 ? n : 0;
    out[n] = '\0';
    while (n > 0 && out[n - 1] == '\0')
        n--;
    for (ssize_t i = 0; i < n; i++)
        out[i] = out[i] == '\0' ? ARG_SEP : out[i] == '\t' || out[i] == '\n' ? ' ' : out[i];
}

static void write_child_report(int status, void *arg)
{
    (void)arg;
    static atomic_flag written = ATOMIC_FLAG_INIT; /* at exit, or at _exit: once */
    if (getpid() != child_pid || atomic_flag_test_and_set(&written)) /* a fork of it, or done */
        return;
    /* Outliving the run (started in the background), it finds the directory gone: nobody
     * would read the report, and the failure to write it is no news to the terminal. */
    if (access(child_dir, W_OK) != 0)
        return;
    ali_preload_enter();
    cJSON *doc = ali_report_build();
    cJSON_AddNumberToObject(doc, "exit_status", status);
    ali_report_write(doc, child_report);
    ali_preload_leave();
}

void ali_children_at__exit(int status)
{
    if (getpid() != child_pid) /* a fork or vfork child that has not exec'd */
        return;
    ali_exit_watchdog();
    write_child_report(status, NULL);
}

/* `astrolab run --ui`'s listening socket, which the program keeps open across exec (report.c):
 * a process it started closes its copy, so that the port is free once the program is gone. */
static void close_dashboard_socket(void)
{
    const char *fd_text = ali_setting_text(ALI_SET_RUN_UI_FD);
    const char *port = ali_setting_text(ALI_SET_RUN_UI_PORT);
    int fd = fd_text ? atoi(fd_text) : -1;
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (fd <= 2 || !port || getsockname(fd, (struct sockaddr *)&ss, &len) != 0)
        return;
    int bound = ss.ss_family == AF_INET    ? ntohs(((struct sockaddr_in *)&ss)->sin_port)
                : ss.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
                                           : -1;
    if (bound == atoi(port)) /* that socket, not another file that took its number */
        close(fd);
}

void ali_children_start(void)
{
    close_dashboard_socket();
    const char *dir = ali_setting_text(ALI_SET_RUN_CHILDREN);
    if (!dir)
        return;
    char path[4200], line[1100];
    snprintf(path, sizeof path, "%s/started", dir);
    int fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
    if (fd >= 0) {
        char cmd[1024];
        command_line(cmd, sizeof cmd);
        int n = snprintf(line, sizeof line, "%ld\t%s\n", (long)getpid(), cmd);
        n = n < (int)sizeof line ? n : (int)sizeof line - 1;
        if (write(fd, line, (size_t)n) != n)
            al_log(AL_LOG_DEBUG, "astrolab.memory", "astrolab run: cannot note a child");
        close(fd);
    }
    child_pid = getpid();
    snprintf(child_dir, sizeof child_dir, "%s", dir);
    snprintf(child_report, sizeof child_report, "%s/%ld.json", dir, (long)child_pid);
    on_exit(write_child_report, NULL);
}

/* The report a started process wrote, or NULL. */
static cJSON *read_report(const char *path)
{
    size_t len;
    char *text = al_read_file(path, &len, NULL);
    cJSON *doc = text ? cJSON_ParseWithLength(text, len) : NULL;
    free(text);
    return doc;
}

/* Is pid noted again further on in f (a process that exec'd another program, as `sh -c
 * "exec prog"` does: the last program it ran is the one to name)? Keeps f's position. */
static bool noted_again(FILE *f, long pid)
{
    long at = ftell(f);
    char line[1100];
    bool again = false;
    while (!again && fgets(line, sizeof line, f))
        again = atol(line) == pid && strchr(line, '\t');
    fseek(f, at, SEEK_SET);
    return again;
}

void ali_children_add(cJSON *doc)
{
    const char *dir = ali_setting_text(ALI_SET_RUN_CHILDREN);
    cJSON *tracked = cJSON_AddArrayToObject(doc, "processes");
    cJSON *untracked = cJSON_AddArrayToObject(doc, "untracked_processes");
    char path[4200];
    snprintf(path, sizeof path, "%s/started", dir ? dir : "");
    FILE *f = dir ? fopen(path, "re") : NULL;
    char line[1100];
    while (f && fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = '\0';
        char *tab = strchr(line, '\t');
        long pid = atol(line);
        if (!tab || pid <= 0 || noted_again(f, pid))
            continue;
        snprintf(path, sizeof path, "%s/%ld.json", dir, pid);
        cJSON *report = read_report(path);
        cJSON *e = cJSON_CreateObject();
        cJSON_AddNumberToObject(e, "pid", (double)pid);
        cJSON *argv = cJSON_AddArrayToObject(e, "argv");
        for (char *a = tab + 1; argv && *a;) {
            size_t n = strcspn(a, "\x1f");
            char keep = a[n];
            a[n] = '\0';
            cJSON_AddItemToArray(argv, cJSON_CreateString(a));
            a += n + (keep != '\0');
        }
        if (report) {
            cJSON *st = cJSON_DetachItemFromObject(report, "exit_status");
            cJSON_AddItemToObject(e, "exit_status", st ? st : cJSON_CreateNull());
            cJSON_AddItemToObject(e, "report", report);
            cJSON_AddItemToArray(tracked, e);
        } else {
            cJSON_AddItemToArray(untracked, e);
        }
    }
    if (f)
        fclose(f);
}
