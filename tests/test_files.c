/* Tests of whole files: al_write_file (src/util/outfile.c), the public face of the library's
 * own way of writing files (beside the destination, flushed, renamed over it; never a damaged
 * file, never a temporary left behind), and al_read_file (src/util/infile.c). */
// ctest-separate: test_read_file_says_when_the_file_does_not_fit_in_memory
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "astrolab/format.h"
#include "test.h"

/* Whether the file at `path` holds exactly `want`. */
static bool holds(const char *path, const char *want)
{
    char *text = test_slurp(path);
    bool same = text && strcmp(text, want) == 0;
    free(text);
    return same;
}

/* A fresh directory of its own under the test's one. */
static const char *fresh_dir(const char *name)
{
    const char *dir = test_tmp_path(name);
    CHECK(mkdir(dir, 0755) == 0);
    return dir;
}

TEST(test_write_file_creates_and_replaces_keeping_the_mode)
{
    const char *dir = fresh_dir("w1");
    char path[600];
    snprintf(path, sizeof path, "%s/out.txt", dir);
    al_error err;
    CHECK_EQ_INT(al_write_file(path, "first", 5, &err), AL_OK);
    CHECK(holds(path, "first"));
    mode_t mask = umask(0);
    umask(mask);
    struct stat sb;
    CHECK(stat(path, &sb) == 0 && (sb.st_mode & 07777) == (0666 & ~mask));
    CHECK(chmod(path, 0640) == 0);
    CHECK_EQ_INT(al_write_file(path, "second, longer", 14, NULL), AL_OK);
    CHECK(holds(path, "second, longer"));
    CHECK(stat(path, &sb) == 0 && (sb.st_mode & 07777) == 0640);
    CHECK_EQ_INT(al_write_file(path, NULL, 0, &err), AL_OK); /* an empty file */
    CHECK(stat(path, &sb) == 0 && sb.st_size == 0);
    CHECK_EQ_INT(test_dir_entries(dir), 1); /* no temporary left beside it */
}

TEST(test_write_file_refuses_what_is_not_a_regular_file_and_leaves_it)
{
    const char *dir = fresh_dir("w2");
    char sub[600], link[600], target[600];
    snprintf(sub, sizeof sub, "%s/sub", dir);
    snprintf(target, sizeof target, "%s/target", dir);
    snprintf(link, sizeof link, "%s/link", dir);
    CHECK(mkdir(sub, 0755) == 0);
    CHECK_EQ_INT(al_write_file(target, "kept", 4, NULL), AL_OK);
    CHECK(symlink(target, link) == 0);
    al_error err;
    CHECK_EQ_INT(al_write_file(sub, "x", 1, &err), AL_EIO);
    CHECK(strstr(err.message, sub) != NULL && strstr(err.message, "a directory") != NULL);
    CHECK_EQ_INT(al_write_file(link, "x", 1, &err), AL_EIO);
    CHECK(strstr(err.message, "a symbolic link") != NULL);
    CHECK(holds(target, "kept"));
    CHECK_EQ_INT(test_dir_entries(sub), 0);
    CHECK_EQ_INT(test_dir_entries(dir), 3);
}

TEST(test_write_file_names_a_bad_path_or_argument)
{
    al_error err;
    CHECK_EQ_INT(al_write_file("/no/such/dir/out.txt", "x", 1, &err), AL_EIO);
    CHECK(strstr(err.message, "/no/such/dir/out.txt") != NULL);
    CHECK_EQ_INT(al_write_file("", "x", 1, &err), AL_EINVAL);
    CHECK_EQ_INT(al_write_file(NULL, "x", 1, &err), AL_EINVAL);
    CHECK_EQ_INT(al_write_file("dir/", "x", 1, &err), AL_EINVAL);
    CHECK_EQ_INT(al_write_file("..", "x", 1, &err), AL_EINVAL);
    const char *path = test_tmp_path("w3.txt");
    CHECK_EQ_INT(al_write_file(path, NULL, 3, &err), AL_EINVAL);
    CHECK(access(path, F_OK) != 0); /* nothing made */
}

TEST(test_read_file_reads_what_was_written_whole)
{
    const char *dir = fresh_dir("read");
    char path[512];
    snprintf(path, sizeof path, "%s/big.bin", dir);
    size_t n = 300000; /* past one read's buffer, with NUL bytes inside */
    char *buf = malloc(n);
    CHECK(buf != NULL);
    if (!buf)
        return;
    for (size_t i = 0; i < n; i++)
        buf[i] = (char)(i * 7);
    CHECK_EQ_INT(al_write_file(path, buf, n, NULL), AL_OK);
    size_t len = 0;
    char *text = al_read_file(path, &len, NULL);
    CHECK(text != NULL && len == n && memcmp(text, buf, n) == 0 && text[n] == '\0');
    free(text);
    free(buf);

    snprintf(path, sizeof path, "%s/empty", dir);
    CHECK_EQ_INT(al_write_file(path, "", 0, NULL), AL_OK);
    text = al_read_file(path, &len, NULL);
    CHECK(text != NULL && len == 0 && text[0] == '\0');
    free(text);
    text = al_read_file("/proc/self/status", NULL, NULL); /* says size 0: read to its end */
    CHECK(text != NULL && strstr(text, "VmRSS") != NULL);
    free(text);
}

TEST(test_read_file_names_what_it_cannot_read)
{
    const char *dir = fresh_dir("unreadable");
    char path[512];
    al_error err;
    snprintf(path, sizeof path, "%s/missing.json", dir);
    CHECK(al_read_file(path, NULL, &err) == NULL);
    CHECK_EQ_INT(err.code, AL_EIO);
    CHECK(strstr(err.message, path) && strstr(err.message, "No such file"));
    CHECK(al_read_file(dir, NULL, &err) == NULL); /* a directory */
    CHECK_EQ_INT(err.code, AL_EIO);
    CHECK(strstr(err.message, "Is a directory") != NULL);
    CHECK(al_read_file("", NULL, &err) == NULL);
    CHECK_EQ_INT(err.code, AL_EINVAL);
    CHECK(al_read_file(NULL, NULL, NULL) == NULL);
}

/* The sanitizers reserve terabytes of address space for their shadow memory: under them a limit
 * on it cannot stand in for running out of memory. */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define SANITIZED 1
#endif
#endif

#ifndef SANITIZED
/* In a child whose address space is limited to 64 MiB more than it uses, so that the file's
 * 256 MiB cannot be held: al_read_file says so, AL_ENOMEM, and returns nothing. */
static int read_past_memory(const char *path)
{
    long pages = 0;
    FILE *statm = fopen("/proc/self/statm", "r");
    if (!statm || fscanf(statm, "%ld", &pages) != 1)
        return 2;
    fclose(statm);
    rlim_t room = (rlim_t)pages * (rlim_t)sysconf(_SC_PAGESIZE) + ((rlim_t)64 << 20);
    struct rlimit rl;
    if (getrlimit(RLIMIT_AS, &rl) != 0)
        return 3;
    rl.rlim_cur = rl.rlim_max != RLIM_INFINITY && rl.rlim_max < room ? rl.rlim_max : room;
    if (setrlimit(RLIMIT_AS, &rl) != 0) /* the soft limit only: within any inherited hard one */
        return 3;
    al_error err;
    char *text = al_read_file(path, NULL, &err);
    if (text)
        return 4;
    if (err.code != AL_ENOMEM || !strstr(err.message, path) ||
        !strstr(err.message, "out of memory while reading it")) {
        fprintf(stderr, "  code %d: %s\n", err.code, err.message);
        return 5;
    }
    return 0;
}
#endif

TEST(test_read_file_says_when_the_file_does_not_fit_in_memory)
{
#ifdef SANITIZED
    TEST_SKIP("a limit on the address space cannot stand in for no memory under a sanitizer");
#else
    const char *dir = fresh_dir("too_big");
    char path[512];
    snprintf(path, sizeof path, "%s/sparse.bin", dir);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    CHECK(fd >= 0 && ftruncate(fd, (off_t)256 << 20) == 0); /* sparse: nothing on disk */
    if (fd >= 0)
        close(fd);
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0)
        _exit(read_past_memory(path));
    int status = 0;
    CHECK(pid > 0 && waitpid(pid, &status, 0) == pid);
    CHECK(WIFEXITED(status));
    CHECK_EQ_INT(WEXITSTATUS(status), 0);
    unlink(path);
#endif
}

TEST_MAIN()
