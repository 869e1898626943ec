/* A program whose blocks live at exit are of every kind the exit scan (src/preload/reach.c)
 * tells apart: lost (nothing points to them), kept by globals, kept through a chain of blocks,
 * kept only by an interior pointer, kept by another kept block, lost in memory that was freed
 * and handed out again, an aligned block reached through
 * a pointer into it and one to its start, an aligned block kept only by a pointer into it, a big
 * block whose mapping is split in two and a block kept only from its far end, a lost cycle, and
 * a lost block whose address lingers in dead stack slots.
 * The marked
 * lines are the sites test_preload checks. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

struct node {
    struct node *next;
    char pad[24];
};

void *volatile sink;
void *kept[3]; /* globals with external linkage: roots the compiler keeps */
struct node *head;
char *inner;
void *far[3];
char *big;

/* Blocks freed and their memory handed out again, then lost: nothing the allocator keeps of the
 * freed blocks may make the new ones look reachable. */
__attribute__((noinline)) static void reuse(void)
{
    void *volatile freed[5];
    for (int i = 0; i < 5; i++)
        freed[i] = malloc(72);
    for (int i = 0; i < 5; i++) {
        free(freed[i]);
        freed[i] = NULL;
    }
    for (int i = 0; i < 5; i++)
        sink = malloc(72); /* REUSED */
}

__attribute__((noinline)) static void lose(void)
{
    for (int i = 0; i < 5; i++)
        sink = malloc(40); /* LOST */
}

__attribute__((noinline)) static void keep(void)
{
    for (int i = 0; i < 3; i++)
        kept[i] = malloc(48);       /* KEPT */
    *(void **)kept[0] = malloc(16); /* NESTED */
}

__attribute__((noinline)) static void chain(void)
{
    for (int i = 0; i < 4; i++) {
        struct node *n = malloc(sizeof *n); /* CHAIN */
        n->next = head;
        head = n;
    }
}

__attribute__((noinline)) static void interior(void)
{
    char *p = malloc(100); /* INTERIOR */
    inner = p + 50;
}

__attribute__((noinline)) static void aligned(void)
{
    char *p = NULL;
    if (posix_memalign((void **)&p, 64, 200) == 0) { /* ALIGNED */
        far[0] = p + 8;                              /* scanned first: a pointer into it */
        far[1] = p;                                  /* then one to its start */
    }
}

__attribute__((noinline)) static void aligned_inside(void)
{
    char *p = aligned_alloc(64, 500); /* ALIGNED_INSIDE */
    far[2] = p + 100;                 /* the only pointer: into the middle */
}

/* A big block whose mapping madvise splits in two: still one block, kept by a global. */
__attribute__((noinline)) static void split(void)
{
    size_t n = 16u << 20;
    char *p = malloc(n); /* SPLIT */
    char *mid = (char *)(((uintptr_t)p + (4u << 20)) & ~(uintptr_t)4095);
    madvise(mid, 1u << 20, MADV_NOHUGEPAGE);
    memset(p, 0, n);
    *(void **)(p + n - 64) = malloc(24); /* BEHIND_SPLIT: kept through the far end of SPLIT */
    big = p;
}

__attribute__((noinline)) static void cycle(void)
{
    struct node *a = malloc(sizeof *a), *b = malloc(sizeof *b); /* CYCLE */
    a->next = b;
    b->next = a;
    sink = a; /* escapes, so the compiler keeps both; main clears it */
}

/* A lost block whose address lingers in dead stack slots below main's frame, where the exit
 * path's frames (libc's, the report's) then lie: the scan starts at main's frame, as valgrind's
 * does, so they do not keep it. */
__attribute__((noinline)) static void stale(void)
{
    volatile uintptr_t area[2048];
    uintptr_t p = (uintptr_t)malloc(56); /* STALE */
    for (size_t i = 0; i < sizeof area / sizeof area[0]; i++)
        area[i] = p;
}

/* Overwrites the dead stack frames below main's, where copies of the lost pointers may linger
 * and would make them look reachable. */
__attribute__((noinline)) static void scrub_stack(void)
{
    volatile char area[16384];
    memset((char *)area, 0, sizeof area);
}

int main(void)
{
    reuse();
    lose();
    keep();
    chain();
    interior();
    aligned();
    aligned_inside();
    split();
    cycle();
    sink = NULL;
    scrub_stack();
    stale();
    return 0;
}
