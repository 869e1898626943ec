/* A program whose memory at exit is hard to scan: threads that keep mapping and unmapping
 * regions while it exits, and a writable private mapping of a 1-byte file that runs past the
 * file's end (reading there raises SIGBUS). The exit scan of `astrolab run` must neither crash
 * nor hang on it. Exits 0. */
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

void *volatile sink;

static void *churn(void *arg)
{
    (void)arg;
    for (;;) {
        char *m = mmap(NULL, 4 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (m == MAP_FAILED)
            continue;
        memset(m, 1, 4 << 20);
        usleep(200);
        munmap(m, 4 << 20);
    }
    return NULL;
}

int main(void)
{
    char path[] = "/tmp/astrolab-hostile-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0 || write(fd, "x", 1) != 1)
        return 1;
    char *m = mmap(NULL, 1 << 16, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    unlink(path);
    close(fd);
    if (m == MAP_FAILED)
        return 1;
    m[0] = 'y';        /* one page present; the other 15 lie past the file's end */
    sink = malloc(64); /* LIVE */
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, churn, NULL);
    usleep(20000);
    return 0; /* exit with the threads still churning */
}
