/* An allocation-heavy program that knows nothing of AstroLab, for bench/preload.sh: N million
 * allocations of mixed sizes over a working set of SLOTS blocks (default 4096, about 1 MiB; 64
 * keeps it in the CPU's first-level cache), and three planted leaks at the lines marked
 * LEAK-1, LEAK-2 and LEAK-3 (10, 20 and 30 blocks of 64, 128 and 256 bytes).
 *
 *   leak_workload [MILLIONS] [SLOTS] */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void *volatile sink; /* stores escape through here: no malloc is optimised away */

__attribute__((noinline)) static void leak_one(void) { sink = malloc(64); /* LEAK-1 */ }

__attribute__((noinline)) static void leak_two(void) { sink = calloc(1, 128); /* LEAK-2 */ }

__attribute__((noinline)) static void leak_three(void) { sink = malloc(256); /* LEAK-3 */ }

int main(int argc, char **argv)
{
    long millions = argc > 1 ? atol(argv[1]) : 10;
    uint64_t x = 42;
    enum { SLOTS_MAX = 4096 };
    static void *slot[SLOTS_MAX];
    long slots = argc > 2 ? atol(argv[2]) : SLOTS_MAX;
    if (slots < 1 || slots > SLOTS_MAX)
        slots = SLOTS_MAX;
    for (long i = 0; i < millions * 1000000; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        size_t k = x % (size_t)slots;
        free(slot[k]);
        slot[k] = malloc(16 + (x >> 32) % 496);
        ((char *)slot[k])[0] = 1;
    }
    for (long k = 0; k < slots; k++) {
        free(slot[k]);
        slot[k] = NULL; /* no stale pointer may make a leak look reachable */
    }
    for (int i = 0; i < 10; i++)
        leak_one();
    for (int i = 0; i < 20; i++)
        leak_two();
    for (int i = 0; i < 30; i++)
        leak_three();
    printf("done\n");
    return 0;
}
