/* Processes started by a program under `astrolab run` (issue 17, "every process"): the parent
 * starts itself with fork+exec as a child that leaks 3 blocks of 100 bytes (CHILD-LEAK) and
 * exits 7; through system() as one that leaks a block of 10 bytes (QUICK-LEAK) and leaves
 * through _exit (no exit handler runs: its report is written there); as one killed by a signal
 * (it cannot be tracked); and with vfork as a child that leaves through _exit at once (a vfork
 * child that has not exec'd writes nothing). The parent leaks one block of 50 bytes
 * (PARENT-LEAK). */
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

void *volatile sink;

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "child") == 0) {
        for (int i = 0; i < 3; i++)
            sink = malloc(100); /* CHILD-LEAK */
        return 7;
    }
    if (argc > 1 && strcmp(argv[1], "quick") == 0) {
        sink = malloc(10); /* QUICK-LEAK */
        _exit(5);
    }
    if (argc > 1 && strcmp(argv[1], "killed") == 0) {
        sink = malloc(20);
        raise(SIGKILL);
    }
    pid_t pid = fork();
    if (pid == 0) {
        execl(argv[0], argv[0], "child", (char *)NULL);
        _exit(127);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "exec %s quick", argv[0]);
    int quick = system(cmd);
    snprintf(cmd, sizeof cmd, "exec %s killed", argv[0]);
    int killed = system(cmd);
    int vstatus = -1;
    pid_t v = vfork();
    if (v == 0)
        _exit(0);
    if (v > 0)
        waitpid(v, &vstatus, 0);
    sink = malloc(50); /* PARENT-LEAK */
    bool as_planned = WIFEXITED(status) && WEXITSTATUS(status) == 7 && WIFEXITED(quick) &&
                      WEXITSTATUS(quick) == 5 && killed != 0 && v > 0 && vstatus == 0;
    return as_planned ? 0 : 1;
}
