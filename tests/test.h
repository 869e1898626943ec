/* A small test harness: TEST(name) functions registered at load time, CHECK macros that report
 * file:line and go on, and a check after every test that it left zero live tracked blocks
 * (house style rule 23). Prints "N passed, N failed, N skipped" as its last line. */
#ifndef ASTROLAB_TEST_H
#define ASTROLAB_TEST_H

#include <dirent.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "astrolab/astrolab.h"

typedef void (*test_fn)(void);
typedef struct test_case {
    const char *name;
    test_fn fn;
} test_case;

#define TEST_MAX 512
static test_case test_cases[TEST_MAX];
static int test_count;
static int test_failed_checks;
static const char *test_skipped; /* the reason, once the running test called TEST_SKIP */

#define TEST(name)                                                                                 \
    static void name(void);                                                                        \
    __attribute__((constructor)) static void register_##name(void)                                 \
    {                                                                                              \
        if (test_count < TEST_MAX)                                                                 \
            test_cases[test_count++] = (test_case){#name, name};                                   \
    }                                                                                              \
    static void name(void)

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "  %s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);             \
            test_failed_checks++;                                                                  \
        }                                                                                          \
    } while (0)

#define CHECK_EQ_INT(a, b)                                                                         \
    do {                                                                                           \
        long long va_ = (long long)(a), vb_ = (long long)(b);                                      \
        if (va_ != vb_) {                                                                          \
            fprintf(stderr, "  %s:%d: CHECK failed: %s == %s (%lld != %lld)\n", __FILE__,          \
                    __LINE__, #a, #b, va_, vb_);                                                   \
            test_failed_checks++;                                                                  \
        }                                                                                          \
    } while (0)

#define CHECK_EQ_STR(a, b)                                                                         \
    do {                                                                                           \
        const char *sa_ = (a), *sb_ = (b);                                                         \
        if (!sa_ || !sb_ || strcmp(sa_, sb_) != 0) {                                               \
            fprintf(stderr, "  %s:%d: CHECK failed: %s == %s (\"%s\" != \"%s\")\n", __FILE__,      \
                    __LINE__, #a, #b, sa_ ? sa_ : "(null)", sb_ ? sb_ : "(null)");                 \
            test_failed_checks++;                                                                  \
        }                                                                                          \
    } while (0)

/* Ends the running test as skipped, printing why. A program whose tests all skip exits 77, which
 * CTest reports as skipped (SKIP_RETURN_CODE, tests/CMakeLists.txt); a test that can skip should
 * run as its own CTest entry (// ctest-separate:), or its skip hides among its file's passes. */
#define TEST_SKIP(why)                                                                             \
    do {                                                                                           \
        test_skipped = (why);                                                                      \
        return;                                                                                    \
    } while (0)

/* Drops an allocation's result on purpose (a scope reclaims it); silences warn_unused_result,
 * which a (void) cast does not. */
#define DISCARD(x)                                                                                 \
    do {                                                                                           \
        void *discarded_ = (x);                                                                    \
        (void)discarded_;                                                                          \
    } while (0)

#ifdef ASTROLAB_MEMORY_INT_H
/* Site id of tracked block p (out of line, so the compiler does not see header access as an
 * out-of-bounds read of the user block). */
__attribute__((noinline, unused)) static uint32_t test_site_id(void *p)
{
    void *volatile v = p;
    return ali_block_of(v)->site->id;
}
#endif

/* A path `name` in this test program's own temporary directory, made on first use and removed
 * (with its files) at exit. The result is a static buffer of a rotation of four. */
static char test_tmpdir[64];

static inline void test_tmpdir_remove(void)
{
    char cmd[96];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", test_tmpdir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", test_tmpdir);
}

static inline const char *test_tmp_path(const char *name)
{
    static char bufs[4][256];
    static int next;
    if (!test_tmpdir[0]) {
        snprintf(test_tmpdir, sizeof test_tmpdir, "/tmp/astrolab-test-XXXXXX");
        if (!mkdtemp(test_tmpdir)) {
            perror("mkdtemp");
            exit(1);
        }
        atexit(test_tmpdir_remove);
    }
    char *b = bufs[next++ % 4];
    snprintf(b, 256, "%s/%s", test_tmpdir, name);
    return b;
}

/* The whole of the file at `path`, NUL-terminated; free() it. NULL when it cannot be read. */
__attribute__((unused)) static char *test_slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = NULL;
    size_t n = 0, cap = 0, got;
    do {
        if (cap - n < 4096) {
            char *b = realloc(buf, cap = cap * 2 + 8192);
            if (!b) {
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = b;
        }
        got = fread(buf + n, 1, cap - n - 1, f);
        n += got;
    } while (got > 0);
    fclose(f);
    buf[n] = '\0';
    return buf;
}

/* The entries of directory `dir` other than "." and ".." (0 when it cannot be read): what a
 * writer left beside its output. */
__attribute__((unused)) static int test_dir_entries(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;
    while (d && (e = readdir(d)) != NULL)
        n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
    if (d)
        closedir(d);
    return n;
}

/* A writable copy of the installed file `src` as `name` in the test's directory (test_tmp_path's
 * buffer), or NULL when src is not installed (said on stderr: the caller skips the check). */
static inline const char *test_copy_installed(const char *src, const char *name)
{
    if (access(src, R_OK) != 0) {
        fprintf(stderr, "  (%s is not installed: not checked)\n", src);
        return NULL;
    }
    const char *path = test_tmp_path(name);
    char cmd[1600];
    snprintf(cmd, sizeof cmd, "cp '%.500s' '%.500s' && chmod u+w '%.500s'", src, path, path);
    return system(cmd) == 0 ? path : NULL;
}

/* Live tracked blocks right now. */
static inline uint64_t test_live_blocks(void)
{
    al_memory_stats s;
    return al_get_memory_stats(&s) == AL_OK ? s.live_blocks : UINT64_MAX;
}

/* The memory statistics right now (a failed call fails the running test). */
static inline al_memory_stats test_stats(void)
{
    al_memory_stats s = {0};
    CHECK(al_get_memory_stats(&s) == AL_OK);
    return s;
}

/* Runs the tests named on the command line, or every test but those named with a leading '-'.
 * Exits 1 if any failed or a name matches no test (a typo must not pass by running nothing),
 * 77 (skipped) if every test that ran skipped, else 0. */
static inline int test_main(int argc, char **argv)
{
    int passed = 0, failed = 0, skipped = 0;
    for (int a = 1; a < argc; a++) {
        const char *name = argv[a][0] == '-' ? argv[a] + 1 : argv[a];
        int known = 0;
        for (int i = 0; i < test_count && !known; i++)
            known = strcmp(name, test_cases[i].name) == 0;
        if (!known) {
            fprintf(stderr, "no test named %s\n", name);
            return 1;
        }
    }
    for (int i = 0; i < test_count; i++) {
        int any_named = 0, wanted = 0;
        for (int a = 1; a < argc; a++) {
            if (argv[a][0] == '-') {
                if (strcmp(argv[a] + 1, test_cases[i].name) == 0)
                    wanted = -1;
            } else {
                any_named = 1;
                if (wanted == 0 && strcmp(argv[a], test_cases[i].name) == 0)
                    wanted = 1;
            }
        }
        if (wanted < 0 || (any_named && !wanted))
            continue;
        int before = test_failed_checks;
        uint64_t live_before = test_live_blocks();
        test_skipped = NULL;
        test_cases[i].fn();
        uint64_t live_after = test_live_blocks();
        if (live_after != live_before) {
            fprintf(stderr, "  %s: left %" PRIu64 " live tracked blocks (had %" PRIu64 ")\n",
                    test_cases[i].name, live_after, live_before);
            test_failed_checks++;
        }
        if (test_failed_checks != before) {
            failed++;
            printf("FAIL %s\n", test_cases[i].name);
        } else if (test_skipped) {
            skipped++;
            printf("skip %s: %s\n", test_cases[i].name, test_skipped);
        } else {
            passed++;
            printf("ok   %s\n", test_cases[i].name);
        }
        fflush(stdout);
    }
    printf("%d passed, %d failed, %d skipped\n", passed, failed, skipped);
    return failed ? 1 : skipped && !passed ? 77 : 0;
}

#define TEST_MAIN()                                                                                \
    int main(int argc, char **argv) { return test_main(argc, argv); }

#endif
