/* For `astrolab run --html` (issue 17, item 5): a peak held through an allocation wrapper
 * (xmalloc, so the peak's site has a stack of two frames or more), temporaries, and a leak made
 * in a function whose name is hostile to an HTML page: it closes a script element, opens an
 * element with an event handler, holds an entity and the start of a comment. The assembler
 * takes any characters but '"' and '\' in a quoted symbol name, and the report names the
 * function as the symbol table spells it. Exits 0. */
#include <stdlib.h>
#include <string.h>

void *volatile sink;

__attribute__((noinline)) static void *xmalloc(size_t n)
{
    void *p = malloc(n);
    if (!p)
        abort();
    return p;
}

/* 80 blocks of 4000 bytes, all live at the peak, then freed. */
__attribute__((noinline)) void build_catalogue(void)
{
    static void *rows[80];
    for (int i = 0; i < 80; i++) {
        rows[i] = xmalloc(4000); /* CATALOGUE */
        memset(rows[i], 1, 4000);
    }
    for (int i = 0; i < 80; i++)
        free(rows[i]);
}

/* gcc hands the name to the assembler as written, so it must carry the assembler's quotes;
 * clang's integrated assembler quotes it itself and would keep ours in the name. */
#ifdef __clang__
#define HOSTILE_SYMBOL "</script><img src=x onerror=alert(1)>&amp;'<!--"
#else
#define HOSTILE_SYMBOL "\"</script><img src=x onerror=alert(1)>&amp;'<!--\""
#endif
void *hostile_leak(size_t n) __asm__(HOSTILE_SYMBOL);

__attribute__((noinline)) void *hostile_leak(size_t n)
{
    void *p = malloc(n); /* HOSTILE */
    sink = p;
    return p;
}

int main(void)
{
    build_catalogue();
    for (int i = 0; i < 500; i++) {
        char *t = malloc(48); /* TEMPORARY */
        t[0] = (char)i;
        sink = t;
        free(t);
    }
    /* The size through a volatile: with a constant, gcc -O3 clones the function for it
     * (hostile_leak.constprop.0), and the report would name the clone. */
    volatile size_t leak_size = 700;
    for (int i = 0; i < 3; i++)
        sink = hostile_leak(leak_size);
    return 0;
}
