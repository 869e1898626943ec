/* A program that crashes after allocating: astrolab run must say so clearly. */
#include <signal.h>
#include <stdlib.h>

int main(void)
{
    volatile char *p = malloc(10);
    p[0] = 1;
    raise(SIGSEGV);
    return 0;
}
