/* Allocation wrappers for `astrolab run` (issue 17, "wrappers are not sites"): two levels
 * (xmalloc calls my_alloc, which calls malloc), a wrapper that also does work (counted_alloc
 * counts and zeroes), a realloc wrapper, a function that is not a wrapper by name (make_table,
 * a wrapper only with --wrapper make_table), a wide-string duplicator (my_wcsdup: a wrapper by
 * name, as python's _PyMem_RawWcsdup), and the same wrappers called from two threads.
 * Every block leaks; the lines marked SITE-* are where the report must file them. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

void *volatile sink;
static size_t counted;

__attribute__((noinline)) static void *my_alloc(size_t n)
{
    void *p = malloc(n); /* INNER */
    if (!p)
        abort();
    return p;
}

__attribute__((noinline)) void *xmalloc(size_t n)
{
    void *p = my_alloc(n); /* OUTER */
    sink = p;
    return p;
}

__attribute__((noinline)) void *counted_alloc(size_t n)
{
    counted += n;
    void *p = calloc(1, n);
    if (p)
        memset(p, 0, n);
    return p;
}

__attribute__((noinline)) void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n);
    if (!q)
        abort();
    return q;
}

__attribute__((noinline)) void *make_table(size_t n) { return malloc(n); /* TABLE */ }

__attribute__((noinline)) wchar_t *my_wcsdup(const wchar_t *s)
{
    size_t n = wcslen(s) + 1;
    wchar_t *p = malloc(n * sizeof *p); /* WIDE */
    if (p)
        wmemcpy(p, s, n);
    return p;
}

__attribute__((noinline)) static void two_levels(void)
{
    for (int i = 0; i < 4; i++)
        sink = xmalloc(100); /* SITE-A */
}

__attribute__((noinline)) static void with_work(void)
{
    for (int i = 0; i < 3; i++)
        sink = counted_alloc(64); /* SITE-B */
}

__attribute__((noinline)) static void grows(void)
{
    void *p = xmalloc(10);    /* SITE-C0 */
    sink = xrealloc(p, 1000); /* SITE-C */
}

__attribute__((noinline)) static void tables(void)
{
    for (int i = 0; i < 2; i++)
        sink = make_table(48); /* SITE-D */
}

__attribute__((noinline)) static void wide(void) { sink = my_wcsdup(L"wide"); /* SITE-W */ }

static void *worker(void *arg)
{
    (void)arg;
    for (int i = 0; i < 5; i++)
        sink = xmalloc(200); /* SITE-E */
    return NULL;
}

int main(void)
{
    two_levels();
    with_work();
    grows();
    tables();
    wide();
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        pthread_create(&t[i], NULL, worker, NULL);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    return (int)(counted != 192);
}
