/* A program that knows nothing of AstroLab and makes the dynamic loader allocate for it: it
 * dlopens a library and keeps it (no dlclose), and a thread leaves through pthread_exit, which
 * loads libgcc_s to unwind. The loader keeps those records until dlclose or exit; they are the
 * C runtime's, never the program's leaks at the lines below (valgrind calls them reachable, or
 * frees them at exit). The program's own leak, LEAK-D, is reported as usual. */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

static void *volatile sink;

static void *leave(void *arg) { pthread_exit(arg); /* PTHREAD-EXIT */ }

int main(void)
{
    void *lib = dlopen("libplainlib_leak.so", RTLD_NOW); /* DLOPEN */
    if (!lib) {
        fprintf(stderr, "%s\n", dlerror());
        return 1;
    }
    pthread_t t;
    if (pthread_create(&t, NULL, leave, NULL) != 0 || pthread_join(t, NULL) != 0)
        return 1;
    for (int i = 0; i < 3; i++)
        sink = malloc(48); /* LEAK-D */
    sink = NULL;
    return 0;
}
