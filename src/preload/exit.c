/* _exit and _Exit: the report of a process that ends without running exit handlers. dash ends
 * every shell that way, so `astrolab run -- sh pipeline.sh` had no report at all and each `sh
 * -c` of a program's system() was listed as untracked; Python's os._exit does the same.
 *
 * The report is written first (report.c for the program, children.c for a process it started)
 * when the process is one a report belongs to: a fork or vfork child that did not exec has
 * another pid and writes nothing, as at exit. Not when this thread is inside the manager: a
 * signal handler calling _exit then may have interrupted code holding the manager's locks, and
 * the process leaves without a report instead of waiting on them. A handler that interrupted
 * another lock holder could still wait: an alarm then ends the process after
 * ALI_EXIT_REPORT_SECONDS (SIGALRM, its default action) instead of leaving it hung. Then the
 * process ends as glibc's _exit ends it: exit_group. */
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "preload_int.h"

#define EXPORT __attribute__((visibility("default")))
#define ALI_EXIT_REPORT_SECONDS 120

void ali_exit_watchdog(void)
{
    signal(SIGALRM, SIG_DFL); /* ending anyway: the program's handler has no more to do */
    alarm(ALI_EXIT_REPORT_SECONDS);
}

static __attribute__((noreturn)) void leave(int status)
{
    if (!ali_preload_inside())
        ali_report_at__exit(status); /* nothing but a pid compare in a fork or vfork child */
    for (;;)
        syscall(SYS_exit_group, status);
}

EXPORT void _exit(int status) { leave(status); }
EXPORT void _Exit(int status) { leave(status); }
