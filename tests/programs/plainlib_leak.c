/* A shared library that leaks (LEAK-E), for test_preload.c's leak-through-a-library case. */
#include <stdlib.h>
#include <string.h>

char *plainlib_make_name(int i)
{
    char *s = malloc(32); /* LEAK-E */
    memset(s, 'a' + i % 26, 31);
    s[31] = 0;
    return s;
}
