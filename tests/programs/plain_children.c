/* Processes started by a program under `astrolab run` (issue 17, "every process"): the parent
 * starts itself with fork+exec as a child that leaks 3 blocks of 100 bytes (CHILD-LEAK) and
 * exits 7, and through system() as one that leaves through _exit (no exit handler runs: it
 * cannot be tracked); the parent leaks one block of 50 bytes (PARENT-LEAK). */
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
        sink = malloc(10);
        _exit(0);
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
    int rc = system(cmd);
    sink = malloc(50); /* PARENT-LEAK */
    return WIFEXITED(status) && WEXITSTATUS(status) == 7 && rc == 0 ? 0 : 1;
}
