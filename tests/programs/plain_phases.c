/* Two phases for `astrolab run`'s peak (issue 17): the first holds 1 MB at PHASE-1 and 50 KB at
 * PHASE-1B and frees it all; the second holds less (PHASE-2) and keeps it. Between them,
 * TEMPORARY allocates and frees 1000 blocks one at a time (temporaries), and GROW grows one
 * block by realloc. A pause between the phases lets the timeline tell them apart. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

void *volatile sink;

static void pause_ms(int ms)
{
    struct timespec ts = {0, ms * 1000000L};
    nanosleep(&ts, NULL);
}

int main(void)
{
    static void *big[100], *small[50], *kept[200];
    for (int i = 0; i < 100; i++) {
        big[i] = malloc(10000); /* PHASE-1 */
        memset(big[i], 1, 10000);
    }
    for (int i = 0; i < 50; i++)
        small[i] = malloc(1024); /* PHASE-1B */
    pause_ms(30);
    for (int i = 0; i < 100; i++)
        free(big[i]);
    for (int i = 0; i < 50; i++)
        free(small[i]);
    for (int i = 0; i < 1000; i++) {
        char *t = malloc(64); /* TEMPORARY */
        t[0] = (char)i;
        sink = t;
        free(t);
    }
    pause_ms(30);
    for (int i = 0; i < 200; i++)
        kept[i] = malloc(2000); /* PHASE-2 */
    char *g = NULL;
    for (int i = 1; i <= 10; i++)
        g = realloc(g, (size_t)i * 100); /* GROW */
    sink = g;
    sink = kept;
    return 0;
}
