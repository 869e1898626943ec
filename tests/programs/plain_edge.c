/* A program that exercises the malloc family's edges under the preload library: memory from
 * glibc's own allocator freed with free(), aligned allocations, malloc_usable_size,
 * reallocarray, and fork. Exits 0 when every check holds, else the number of the failed one. */
#include <errno.h>
#include <malloc.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern void *__libc_malloc(size_t);
void *volatile sink; /* stores escape through here: no malloc is optimised away */

int main(void)
{
    /* 1: memory allocated outside the preload (glibc's own allocator) freed and resized. */
    char *old = __libc_malloc(64);
    strcpy(old, "from glibc");
    old = realloc(old, 128);
    if (!old || strcmp(old, "from glibc") != 0)
        return 1;
    free(old);
    free(__libc_malloc(10));
    /* 2: alignment. */
    void *p = NULL;
    if (posix_memalign(&p, 64, 100) != 0 || (uintptr_t)p % 64)
        return 2;
    free(p);
    void *q = aligned_alloc(4096, 8192);
    void *r = memalign(256, 10);
    void *v = valloc(10);
    void *pv = pvalloc(10);
    if (!q || (uintptr_t)q % 4096 || !r || (uintptr_t)r % 256 || !v || (uintptr_t)v % 4096 || !pv ||
        (uintptr_t)pv % 4096)
        return 3;
    free(q);
    free(r);
    free(v);
    free(pv);
    /* 3 too: glibc's memalign rounds an alignment up to a power of two; posix_memalign refuses.
     * The odd alignments are read from volatiles: clang rejects constant ones at compile time
     * (-Wnon-power-of-two-alignment). */
    volatile size_t align24 = 24, align0 = 0;
    void *odd = memalign(align24, 10), *none = memalign(align0, 10);
    if (!odd || (uintptr_t)odd % 32 || !none || posix_memalign(&p, align24, 10) != EINVAL)
        return 3;
    free(odd);
    free(none);
    /* 4: usable size and reallocarray. */
    char *u = malloc(100);
    if (malloc_usable_size(u) < 100)
        return 4;
    u = reallocarray(u, 10, 30);
    if (!u || malloc_usable_size(u) < 300)
        return 5;
    volatile size_t huge = SIZE_MAX / 2;
    if (reallocarray(u, huge, 4) != NULL)
        return 6;
    free(u);
    /* 7: fork: the child keeps allocating. */
    pid_t pid = fork();
    if (pid == 0) {
        for (int i = 0; i < 1000; i++)
            free(sink = malloc((size_t)i + 1));
        _exit(0);
    }
    int status;
    waitpid(pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        return 7;
    /* 8: a planted leak after fork, LEAK-D. */
    sink = malloc(777); /* LEAK-D */
    return 0;
}
