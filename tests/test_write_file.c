/* Tests of al_write_file (src/util/outfile.c), the public face of the library's own way of
 * writing files: beside the destination, flushed, renamed over it; never a damaged file, never
 * a temporary left behind. */
#include <sys/stat.h>
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

TEST_MAIN()
