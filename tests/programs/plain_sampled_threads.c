/* Sampled stacks across threads, for `astrolab run` (issue 17 item 1): four threads each make
 * 100,000 rounds of malloc (100-399 bytes, every third block kept), realloc(NULL, 64) and
 * realloc to 200 bytes then free: 1,200,000 allocations in all (the growing realloc counts as
 * one), 133,336 blocks live at exit (33,334 per thread). Knows nothing of AstroLab. */
#include <pthread.h>
#include <stdlib.h>

void *volatile sink[4];

__attribute__((noinline)) static void *work(void *arg)
{
    long k = (long)arg;
    for (int i = 0; i < 100000; i++) {
        void *p = malloc(100 + (size_t)(i % 300)); /* WORK */
        sink[k] = p;
        if (i % 3)
            free(p);
        p = realloc(NULL, 64);
        sink[k] = p;
        p = realloc(p, 200);
        sink[k] = p; /* else gcc -O3 drops the realloc and free as a pair that does nothing */
        free(p);
    }
    return arg;
}

int main(void)
{
    pthread_t t[4];
    for (long i = 0; i < 4; i++)
        if (pthread_create(&t[i], NULL, work, (void *)i) != 0)
            return 1;
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    return 0;
}
