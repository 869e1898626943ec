/* Allocates for about two seconds and exits: long enough for test_preload to query the
 * dashboard that `astrolab run --ui` serves from inside it. */
#include <stdlib.h>
#include <time.h>

void *volatile sink;

int main(void)
{
    struct timespec nap = {0, 10 * 1000 * 1000};
    for (int i = 0; i < 200; i++) {
        for (int j = 0; j < 100; j++)
            free(sink = malloc(64 + (size_t)j));
        sink = malloc(1000); /* grows: something for the dashboard to show */
        nanosleep(&nap, NULL);
    }
    return 0;
}
