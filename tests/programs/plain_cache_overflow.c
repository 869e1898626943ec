/* A program that overflows a block into the header of the block after it, writing a plausible
 * size there, then frees that block and asks for a block of the size it wrote: the preload
 * library's thread cache must not hand the small block out for the large size (it files blocks
 * by what mimalloc says they hold, not by their headers). Prints "wrong size" when it did, and
 * exits 0 either way. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(void)
{
    /* Two neighbours: lean blocks of 32 bytes sit 48 bytes apart in one mimalloc page. */
    void *volatile big = malloc(200); /* a size of 100 is then one a block has had: */
    free(big);                        /* the free takes it for a real one */
    char *blocks[64];
    char *a = NULL, *b = NULL;
    for (int i = 0; i < 64; i++)
        blocks[i] = malloc(32);
    for (int i = 0; i < 64 && !b; i++)
        for (int j = 0; j < 64 && !b; j++)
            if (blocks[j] == blocks[i] + 48)
                a = blocks[i], b = blocks[j];
    if (!b) {
        puts("no neighbours");
        return 0;
    }
    uint64_t claimed = 100;
    memcpy(a + 32, &claimed, sizeof claimed); /* OVERFLOW: past a, over b's size */
    volatile uintptr_t freed = (uintptr_t)b;  /* compared as a number: the compiler may not */
    free(b);                                  /* assume a fresh block differs from it */
    char *c = malloc(100);
    fprintf(stderr, "plain_cache_overflow: freed %#lx, then malloc(100) gave %p\n",
            (unsigned long)freed, (void *)c);
    if ((uintptr_t)c == freed)
        fputs("plain_cache_overflow: the 32-byte block came back for 100 bytes: wrong size\n",
              stderr);
    else
        memset(c, 1, 100);
    uintptr_t skip = freed;
    for (int i = 0; i < 64; i++)
        if ((uintptr_t)blocks[i] != skip)
            free(blocks[i]);
    if ((uintptr_t)c != freed)
        free(c);
    puts("end");
    return 0;
}
