/* The peak held by one malloc line (MAKE) through five callers with known shares, for the
 * spread of the sampled stacks' estimates at the peak (bench/preload/sampling.py): each caller
 * keeps its blocks until main frees everything at once, so the peak is their sum, 100 MB, made
 * in 100 rounds of 1% each:
 *   share_60  60,000 blocks of 1000 bytes    share_25  25,000    share_10  10,000
 *   share_4    4,000                          share_1    1,000
 * Knows nothing of AstroLab. */
#include <stdlib.h>

#define BLOCK 1000
void *volatile sink;
static void *kept[100000];
static int n_kept;

__attribute__((noinline)) static void *make_buffer(size_t n)
{
    char *p = malloc(n); /* MAKE */
    if (p)
        p[0] = 1;
    return p;
}

__attribute__((noinline)) static void keep(int n)
{
    for (int i = 0; i < n; i++)
        kept[n_kept++] = make_buffer(BLOCK);
    sink = kept;
}

__attribute__((noinline)) static void share_60(void) { keep(600); }
__attribute__((noinline)) static void share_25(void) { keep(250); }
__attribute__((noinline)) static void share_10(void) { keep(100); }
__attribute__((noinline)) static void share_4(void) { keep(40); }
__attribute__((noinline)) static void share_1(void) { keep(10); }

int main(void)
{
    /* Interleaved in rounds of 1%, so that no caller's blocks sit in one run of the heap. */
    for (int round = 0; round < 100; round++) {
        share_60();
        share_25();
        share_10();
        share_4();
        share_1();
    }
    for (int i = 0; i < n_kept; i++)
        free(kept[i]);
    return 0;
}
