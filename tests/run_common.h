/* Running `astrolab run` from the tests (test_preload.c, test_run_html.c): the CLI in
 * ASTROLAB_BUILD_DIR, started in a child with its output redirected. */
#ifndef ASTROLAB_TESTS_RUN_COMMON_H
#define ASTROLAB_TESTS_RUN_COMMON_H

#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

/* Starts `astrolab run ARGS...` (NULL-terminated, at most 12) in `cwd` (NULL: here) with
 * stderr to errfile (stdout to /dev/null) and one optional NAME=VALUE in its environment; returns
 * the pid, or waits and returns the wait status when `wait_for` is true. */
static inline int start_run(bool wait_for, const char *cwd, const char *env, const char *errfile,
                            const char *const *args)
{
    const char *argv[16] = {ASTROLAB_BUILD_DIR "/astrolab", "run"};
    int n = 2;
    for (; args[n - 2] && n < 15; n++)
        argv[n] = args[n - 2];
    argv[n] = NULL;
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open(errfile, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        dup2(fd, 2);
        int out = open("/dev/null", O_WRONLY);
        dup2(out, 1);
        setenv("LD_LIBRARY_PATH", ASTROLAB_BUILD_DIR "/tests", 1); /* plainlib_*.so */
        if (cwd && chdir(cwd) != 0)
            _exit(98);
        if (env)
            putenv((char *)env);
        setpgid(0, 0); /* its own group: a signal to it is not the terminal's */
        execv(argv[0], (char *const *)argv);
        _exit(99);
    }
    if (!wait_for)
        return pid;
    int status = 0;
    waitpid(pid, &status, 0);
    return status;
}

#endif
