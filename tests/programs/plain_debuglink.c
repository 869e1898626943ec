/* A program that knows nothing of AstroLab, built with a build ID and its debug information
 * moved to a separate file that its .gnu_debuglink names (objcopy --only-keep-debug, then
 * --strip-debug --add-gnu-debuglink; tests/CMakeLists.txt), as a pipeline's own programs
 * often ship: 5 blocks of 200 bytes leaked from one line, which the report must name by file
 * and line, read from that file. */
#include <stdio.h>
#include <stdlib.h>

static void *volatile sink;

int main(void)
{
    for (int i = 0; i < 5; i++) {
        char *p = malloc(200); /* LEAK-L */
        if (!p)
            return 1;
        snprintf(p, 200, "leaked block %d", i);
        sink = p;
    }
    sink = NULL;
    return 0;
}
