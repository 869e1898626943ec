/* Allocates through a wrapper from two callers, leaking from both: with ASTROLAB_STACK_DEPTH=2
 * `astrolab run` tells the callers apart (lines marked CALLER-A and CALLER-B); with the default
 * depth both land on the wrapper's line (WRAPPER). */
#include <stdlib.h>
#include <string.h>

void *volatile sink;

__attribute__((noinline)) static void *xmalloc(size_t n)
{
    void *p = malloc(n); /* WRAPPER */
    if (!p)
        abort();
    return p;
}

__attribute__((noinline)) static void load_rows(void)
{
    for (int i = 0; i < 3; i++)
        sink = xmalloc(100); /* CALLER-A */
}

__attribute__((noinline)) static void load_names(void)
{
    for (int i = 0; i < 2; i++)
        sink = xmalloc(40); /* CALLER-B */
}

int main(void)
{
    load_rows();
    load_names();
    return 0;
}
