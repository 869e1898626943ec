/* leaky_child: a program that test_diagnosis runs with ASTROLAB_LEAK_REPORT set. It leaks from
 * known sites and then leaves in the way argv[1] names:
 *   main        returns from main;
 *   thread      a second thread calls exit() while main waits for it;
 *   scope       calls exit() inside an AL_MEMORY_MANAGEMENT scope that owns blocks;
 *   none        frees everything, then returns;
 *   thresholds  prints the diagnosis thresholds in force (read from the environment).
 * For every leaking site it prints on stdout "SITE <count> <bytes> <line> <function> <file>
 * <tag>" (the tag last: it may hold spaces), so the test knows what the report must say.
 * It links the shared library, as a program would. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <astrolab/memory.h>

struct star {
    double ra, dec;
    float mag;
    int id;
};

static void site_line(unsigned long long count, unsigned long long bytes, int line,
                      const char *function, const char *tag)
{
    printf("SITE %llu %llu %d %s %s %s\n", count, bytes, line, function, __FILE__, tag);
    fflush(stdout);
}

static void leak_stars(void)
{
    int line = 0;
    for (int i = 0; i < 3; i++) {
        line = __LINE__ + 1;
        struct star *s = AL_NEW(struct star);
        if (s)
            s->id = i;
    }
    site_line(3, 3 * sizeof(struct star), line, __func__, "struct star");
}

static void leak_catalog(void)
{
    int line = __LINE__ + 1;
    char *rows = al_malloc_tagged(5000, "catalog rows");
    if (rows)
        rows[0] = 1;
    site_line(1, 5000, line, __func__, "catalog rows");
}

static void leak_names(void)
{
    int line = 0;
    for (int i = 0; i < 4; i++) {
        line = __LINE__ + 1;
        char *name = al_strdup("name-xx");
        (void)name;
    }
    site_line(4, 4 * 8, line, __func__, "untagged");
}

/* A tag that JSON must escape. */
static void leak_odd_tag(void)
{
    int line = __LINE__ + 1;
    void *p = al_malloc_tagged(16, "odd \"tag\" \\ with\ttab");
    (void)p;
    site_line(1, 16, line, __func__, "odd \"tag\" \\ with\ttab");
}

static void free_properly(void)
{
    void *p = al_malloc(12345);
    al_free(p);
}

static void *exit_from_thread(void *arg)
{
    (void)arg;
    int line = 0;
    for (int i = 0; i < 2; i++) {
        line = __LINE__ + 1;
        void *p = al_malloc_tagged(700, "thread block");
        (void)p;
    }
    site_line(2, 1400, line, __func__, "thread block");
    exit(0);
}

static void leak_in_scope(void)
{
    int line = 0;
    for (int i = 0; i < 6; i++) {
        line = __LINE__ + 1;
        void *p = al_malloc_tagged(100, "scoped");
        (void)p;
    }
    site_line(6, 600, line, __func__, "scoped");
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "main";
    if (strcmp(mode, "thresholds") == 0) {
        al_diagnosis_thresholds t;
        if (al_diagnosis_get_thresholds(&t) != AL_OK)
            return 1;
        printf("THRESHOLDS %llu %llu %llu\n", (unsigned long long)t.object_count,
               (unsigned long long)t.memory_bytes, (unsigned long long)t.cuda_bytes);
        return 0;
    }
    free_properly();
    if (strcmp(mode, "none") == 0)
        return 0;
    leak_stars();
    leak_catalog();
    leak_names();
    leak_odd_tag();
    if (strcmp(mode, "thread") == 0) {
        pthread_t t;
        if (pthread_create(&t, NULL, exit_from_thread, NULL) != 0)
            return 1;
        pthread_join(t, NULL);
        return 1; /* not reached: the thread exits the process */
    }
    if (strcmp(mode, "scope") == 0) {
        AL_MEMORY_MANAGEMENT("doomed")
        {
            leak_in_scope();
            exit(0);
        }
    }
    return 0;
}
