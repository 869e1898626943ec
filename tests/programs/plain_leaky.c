/* A program that knows nothing of AstroLab: allocation-heavy, two threads, realloc chains,
 * and three planted leaks at lines marked LEAK-A, LEAK-B and LEAK-C (test_preload.c finds the
 * lines by those markers). Exits with status 3. */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Stores escape through here, so the compiler cannot drop a malloc/free pair. */
void *volatile sink;

static void *worker(void *arg)
{
    size_t n = (size_t)(uintptr_t)arg;
    for (size_t i = 0; i < n; i++) {
        char *p = malloc(16 + i % 200);
        p[0] = (char)i;
        sink = p;
        free(p);
    }
    return NULL;
}

__attribute__((noinline)) static void leak_a(void)
{
    for (int i = 0; i < 10; i++) {
        char *p = malloc(100); /* LEAK-A */
        memset(p, 1, 100);
        sink = p;
    }
}

__attribute__((noinline)) static void leak_b(void)
{
    for (int i = 0; i < 5; i++) {
        int *p = calloc(50, sizeof(int)); /* LEAK-B */
        p[0] = i;
        sink = p;
    }
}

__attribute__((noinline)) static void leak_c(void)
{
    for (int i = 0; i < 3; i++) {
        char *p = NULL;
        for (size_t n = 8; n <= 4096; n *= 2)
            p = realloc(p, n); /* LEAK-C */
        p[0] = 0;
        sink = p;
    }
}

int main(void)
{
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        pthread_create(&t[i], NULL, worker, (void *)(uintptr_t)200000);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    leak_a();
    leak_b();
    leak_c();
    char *s = strdup("freed");
    sink = s;
    free(s);
    return 3;
}
