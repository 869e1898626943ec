/* A program with two heap mistakes, for whole-program mode: a double free (reported, and the
 * program goes on) and, when run with ASTROLAB_CHECK_GUARDS=1, a write one byte past a block
 * (reported at the block's free). Exits 0 when it reaches its end. */
#include <stdio.h>
#include <stdlib.h>

void *volatile sink; /* loads and stores through here: the compiler cannot pair them up */

int main(void)
{
    sink = malloc(24); /* TWICE */
    free(sink);
    free(sink);                        /* the double free */
    void *volatile stale = malloc(16); /* MOVED */
    void *moved = realloc(stale, 100000);
    sink = moved;
    if (moved != stale)
        free(stale); /* the block realloc moved away: a double free, reported */
    free(moved);
    sink = malloc(10);                /* OVERFLOW */
    ((char *volatile)sink)[10] = 'x'; /* one past the end */
    free(sink);
    for (int i = 0; i < 1000; i++) /* the manager keeps working after both */
        free(sink = malloc((size_t)i + 1));
    puts("end");
    return 0;
}
