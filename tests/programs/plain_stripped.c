/* A program that knows nothing of AstroLab, linked stripped (-s: no symbol table, no debug
 * information), as Debian ships source-extractor, SWarp and solve-field: 7 blocks of 300 bytes
 * leaked from one site with no name to give it. The report must name that site by its object
 * and its offset in it ("plain_stripped+0x..."), the same in every run whatever the address
 * randomization, not by a raw address.
 *
 * Built a second time as plain_debuglink (tests/CMakeLists.txt): with a build ID and its debug
 * information moved to a separate file its .gnu_debuglink names, as a pipeline's own programs
 * often ship; the report must then name the site by file and line, read from that file. */
#include <stdio.h>
#include <stdlib.h>

static void *volatile sink;

int main(void)
{
    for (int i = 0; i < 7; i++) {
        char *p = malloc(300); /* LEAK-S */
        if (!p)
            return 1;
        snprintf(p, 300, "leaked block %d", i);
        sink = p;
    }
    sink = NULL;
    return 0;
}
