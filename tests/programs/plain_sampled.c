/* Sampled stacks for `astrolab run` (issue 17 item 1): one malloc line (MAKE) reached from three
 * callers with known byte totals, so that the sampled stacks tell the callers apart and their
 * estimates can be checked against the exact figures:
 *   keep_small    40000 blocks of   256 bytes = 10,240,000, kept to the end (live at exit)
 *   churn_medium  20000 blocks of  1024 bytes = 20,480,000, each freed at once
 *   churn_large    1000 blocks of 65536 bytes = 65,536,000, each freed at once
 * Knows nothing of AstroLab. */
#include <stdlib.h>
#include <string.h>

void *volatile sink;
static void *kept[40000];

__attribute__((noinline)) static void *make_buffer(size_t n)
{
    char *p = malloc(n); /* MAKE */
    if (p)
        p[0] = 1;
    return p;
}

__attribute__((noinline)) static void keep_small(void)
{
    for (int i = 0; i < 40000; i++)
        kept[i] = make_buffer(256);
    sink = kept;
}

__attribute__((noinline)) static void churn_medium(void)
{
    for (int i = 0; i < 20000; i++) {
        sink = make_buffer(1024);
        free(sink);
    }
}

__attribute__((noinline)) static void churn_large(void)
{
    for (int i = 0; i < 1000; i++) {
        sink = make_buffer(65536);
        free(sink);
    }
}

int main(void)
{
    churn_medium();
    keep_small();
    churn_large();
    return 0;
}
