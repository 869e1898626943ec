/* A program that knows nothing of AstroLab: large calloc blocks must cost RSS only for the pages
 * written (as glibc's do: fresh mappings), and read as zeros even where a freed block's memory
 * was dirty. Exits 0 when both hold, 1 (with a message) when not. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static long rss_kib(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long size = 0, resident = 0;
    if (!f || fscanf(f, "%ld %ld", &size, &resident) != 2)
        resident = -1;
    if (f)
        fclose(f);
    return resident * 4;
}

static int all_zero(const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i])
            return 0;
    return 1;
}

int main(void)
{
    /* Dirty memory reused by calloc reads as zeros, at every size and offset. */
    size_t sizes[] = {100, 5000, 1 << 20, (1 << 20) + 123, 8 << 20, (8 << 20) + 4097};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        unsigned char *d = malloc(sizes[i]);
        if (!d)
            return 1;
        memset(d, 0xa5, sizes[i]);
        free(d);
        unsigned char *z = calloc(1, sizes[i]);
        if (!z || !all_zero(z, sizes[i])) {
            fprintf(stderr, "calloc(%zu) after a dirty free is not zero\n", sizes[i]);
            return 1;
        }
        free(z);
    }
    long before = rss_kib();
    size_t big = (size_t)256 << 20;
    char *a = calloc(1, big), *b = calloc(big, 1);
    if (!a || !b)
        return 1;
    a[100] = 1;
    b[big - 1] = 1;
    long grown = rss_kib() - before;
    printf("two calloc(256 MiB), one byte written in each: RSS grew %ld KiB\n", grown);
    if (grown > 32 * 1024) {
        fprintf(stderr, "RSS grew %ld KiB for two untouched 256 MiB callocs\n", grown);
        return 1;
    }
    free(a);
    free(b);
    return 0;
}
