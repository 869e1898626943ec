/* A program that knows nothing of AstroLab and leaks through the C library: blocks that libc's
 * asprintf, realpath and getline allocate for it and that it never frees. valgrind reports each
 * as definitely lost at the line below that called into libc; so must `astrolab run`. A FILE
 * left open stays reachable from libc's own list (not a leak of the program's, as valgrind says
 * "still reachable"). The markers name the lines the tests look for. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void leak_asprintf(int i)
{
    char *s = NULL;
    if (asprintf(&s, "star %d of the catalog", i) < 0) /* LEAK-ASPRINTF */
        exit(1);
    s = NULL;
}

static void leak_realpath(void)
{
    char *p = realpath("/", NULL); /* LEAK-REALPATH */
    if (!p)
        exit(1);
    p = NULL;
}

static void leak_getline(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    if (!f)
        exit(1);
    char *line = NULL;
    size_t cap = 0;
    if (getline(&line, &cap, f) < 0) /* LEAK-GETLINE */
        exit(1);
    fclose(f);
    line = NULL;
}

int main(void)
{
    for (int i = 0; i < 5; i++)
        leak_asprintf(i);
    for (int i = 0; i < 3; i++)
        leak_realpath();
    leak_getline();
    FILE *kept = fopen("/proc/self/stat", "r"); /* never closed: libc keeps it reachable */
    if (!kept || fgetc(kept) == EOF)
        return 1;
    char *ok = NULL;
    if (asprintf(&ok, "freed") < 0)
        return 1;
    free(ok);
    return 0;
}
