/* Output files written beside their destination and renamed over it: outfile_int.h has the
 * contract. No call here allocates, so the leak report at exit and the preload library can use
 * it from any state. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "astrolab/format.h"
#include "util/outfile_int.h"

const char *ali_outfile_reason(int e)
{
    const char *s = e ? strerrordesc_np(e) : NULL;
    return s ? s : "an unknown error";
}

static const char *kind_of(mode_t m)
{
    return S_ISLNK(m)    ? "a symbolic link"
           : S_ISDIR(m)  ? "a directory"
           : S_ISFIFO(m) ? "a FIFO"
           : S_ISCHR(m)  ? "a character device"
           : S_ISBLK(m)  ? "a block device"
           : S_ISSOCK(m) ? "a socket"
                         : "not a regular file";
}

/* A destination that exists must be a regular file, not reached through a symbolic link. */
static int check_dest(ali_outfile *o, al_error *err)
{
    struct stat sb;
    if (lstat(o->path, &sb) != 0) {
        if (errno == ENOENT)
            return AL_OK;
        return al_error_set(err, AL_EIO, "%s: cannot check the output file: %s", o->path,
                            ali_outfile_reason(errno));
    }
    if (!S_ISREG(sb.st_mode))
        return al_error_set(err, AL_EIO, "%s: is %s, not a regular file: refusing to replace it",
                            o->path, kind_of(sb.st_mode));
    o->had_old = true;
    o->old_mode = sb.st_mode & 07777;
    return AL_OK;
}

int ali_outfile_begin(ali_outfile *o, const char *path, bool open_fd, al_error *err)
{
    memset(o, 0, sizeof *o);
    o->fd = -1;
    size_t n = path ? strlen(path) : 0;
    if (n == 0 || path[n - 1] == '/')
        return al_error_set(err, AL_EINVAL, "'%s': not a file name", path ? path : "");
    if (n >= sizeof o->path)
        return al_error_set(err, AL_EINVAL, "%.64s...: path too long", path);
    memcpy(o->path, path, n + 1);
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    int dlen = slash ? (int)(slash - path) : 0;
    if (strcmp(base, ".") == 0 || strcmp(base, "..") == 0)
        return al_error_set(err, AL_EINVAL, "'%s': not a file name", path);
    int rc = check_dest(o, err);
    if (rc != AL_OK)
        return rc;
    /* ".<base>.astrolab-XXXXXX" must fit NAME_MAX: long base names are cut in the dir's name. */
    int w = snprintf(o->dir, sizeof o->dir, "%.*s%s.%.200s.astrolab-XXXXXX", dlen, path,
                     slash ? "/" : "", base);
    if (w < 0 || (size_t)w >= sizeof o->dir)
        return al_error_set(err, AL_EINVAL, "%.64s...: path too long", path);
    if (!mkdtemp(o->dir)) {
        int e = errno;
        o->dir[0] = '\0';
        return al_error_set(err, AL_EIO, "%s: cannot create a temporary file beside it: %s", path,
                            ali_outfile_reason(e));
    }
    w = snprintf(o->tmp, sizeof o->tmp, "%s/%s", o->dir, base);
    if (w < 0 || (size_t)w >= sizeof o->tmp) {
        ali_outfile_abort(o);
        return al_error_set(err, AL_EINVAL, "%.64s...: path too long", path);
    }
    if (open_fd) {
        o->fd = open(o->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (o->fd < 0) {
            int e = errno;
            ali_outfile_abort(o);
            return al_error_set(err, AL_EIO, "%s: cannot create a temporary file beside it: %s",
                                path, ali_outfile_reason(e));
        }
    }
    return AL_OK;
}

int ali_outfile_write(ali_outfile *o, const void *buf, size_t len, al_error *err)
{
    const char *p = buf;
    while (len > 0) {
        ssize_t w = write(o->fd, p, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return al_error_set(err, AL_EIO, "%s: cannot write: %s", o->path,
                                ali_outfile_reason(w < 0 ? errno : ENOSPC));
        p += w;
        len -= (size_t)w;
    }
    return AL_OK;
}

/* fsync of the file (opened by name when the writer closed it), then close. */
static int flush_tmp(ali_outfile *o, al_error *err)
{
    int fd = o->fd >= 0 ? o->fd : open(o->tmp, O_RDONLY | O_CLOEXEC);
    o->fd = -1;
    if (fd < 0)
        return al_error_set(err, AL_EIO, "%s: cannot reopen the written file: %s", o->path,
                            ali_outfile_reason(errno));
    int rc = AL_OK;
    if (fsync(fd) != 0)
        rc = al_error_set(err, AL_EIO, "%s: cannot flush to disk: %s", o->path,
                          ali_outfile_reason(errno));
    if (close(fd) != 0 && rc == AL_OK)
        rc = al_error_set(err, AL_EIO, "%s: cannot write: %s", o->path, ali_outfile_reason(errno));
    return rc;
}

/* The directory entry of the rename is durable only once the directory itself is flushed. */
static void flush_parent(const ali_outfile *o)
{
    char parent[PATH_MAX];
    const char *slash = strrchr(o->path, '/');
    if (!slash)
        snprintf(parent, sizeof parent, ".");
    else
        snprintf(parent, sizeof parent, "%.*s", slash == o->path ? 1 : (int)(slash - o->path),
                 o->path);
    int fd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        (void)fsync(fd); /* some file systems refuse fsync on directories: nothing to do then */
        close(fd);
    }
}

int ali_outfile_commit(ali_outfile *o, al_error *err)
{
    int rc = flush_tmp(o, err);
    if (rc == AL_OK && o->had_old && chmod(o->tmp, o->old_mode) != 0)
        rc = al_error_set(err, AL_EIO, "%s: cannot give the new file the old one's mode: %s",
                          o->path, ali_outfile_reason(errno));
    /* Checked again: the destination may have been replaced since begin. */
    struct stat sb;
    if (rc == AL_OK && lstat(o->path, &sb) == 0 && !S_ISREG(sb.st_mode))
        rc = al_error_set(err, AL_EIO, "%s: is %s, not a regular file: refusing to replace it",
                          o->path, kind_of(sb.st_mode));
    if (rc == AL_OK && rename(o->tmp, o->path) != 0)
        rc = al_error_set(err, AL_EIO, "%s: cannot replace it: %s", o->path,
                          ali_outfile_reason(errno));
    if (rc == AL_OK)
        o->tmp[0] = '\0';
    ali_outfile_abort(o);
    if (rc == AL_OK)
        flush_parent(o);
    return rc;
}

void ali_outfile_abort(ali_outfile *o)
{
    int saved = errno;
    if (o->fd >= 0)
        close(o->fd);
    o->fd = -1;
    if (o->tmp[0])
        unlink(o->tmp);
    o->tmp[0] = '\0';
    if (o->dir[0])
        rmdir(o->dir);
    o->dir[0] = '\0';
    errno = saved;
}

int al_write_file(const char *path, const void *buf, size_t len, al_error *err)
{
    if (!buf && len)
        return al_error_set(err, AL_EINVAL, "al_write_file: no buffer for %zu bytes", len);
    ali_outfile o;
    int rc = ali_outfile_begin(&o, path, true, err);
    if (rc == AL_OK)
        rc = ali_outfile_write(&o, buf, len, err);
    return rc == AL_OK ? ali_outfile_commit(&o, err) : (ali_outfile_abort(&o), rc);
}
