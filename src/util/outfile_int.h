/* Output files that are never damaged: every file the library writes (saved FITS tables, the
 * leak report, `astrolab run`'s report) is written under a temporary name beside its
 * destination, flushed to disk, then renamed over it, the way SQLite's journal, rsync and
 * careful editors do. A crash, a kill, a full disk or a failed allocation at any moment leaves
 * the old file (and an input that is also the output) byte for byte as it was.
 * src/util/outfile.c. Never installed.
 *
 * The temporary file lives in a private directory (mode 0700) made beside the destination,
 * so that a writer that opens files by name, such as CFITSIO, can create it without a race
 * against another user of a shared directory. Nothing here allocates: the leak report at exit
 * uses it too. A kill between begin and commit leaves that directory behind (named
 * ".<name>.astrolab-XXXXXX"), never a damaged destination. */
#ifndef ASTROLAB_OUTFILE_INT_H
#define ASTROLAB_OUTFILE_INT_H

#include <limits.h>    /* PATH_MAX */
#include <stdbool.h>   /* bool */
#include <stddef.h>    /* size_t */
#include <sys/types.h> /* mode_t */

#include "astrolab/error.h" /* al_error */

typedef struct ali_outfile {
    char path[PATH_MAX]; /* the destination, as given */
    char dir[PATH_MAX];  /* the private temporary directory beside it */
    char tmp[PATH_MAX];  /* the file being written, inside dir (same base name as path) */
    int fd;              /* open for writing, or -1 (the writer opens tmp by name) */
    bool had_old;        /* the destination existed: its mode is given to the new file */
    mode_t old_mode;
} ali_outfile;

/* Prepares to replace `path`: refuses a destination that exists and is not a regular file (a
 * device, FIFO, directory or symbolic link: replacing it would destroy what it is), makes the
 * private directory, and, when open_fd, creates tmp and opens it in o->fd. AL_OK, or AL_EIO
 * (AL_EINVAL for a bad path) with err naming the file and the system's reason. */
int ali_outfile_begin(ali_outfile *o, const char *path, bool open_fd, al_error *err);

/* Writes all of buf to o->fd, retrying short writes and EINTR. AL_OK or AL_EIO (with errno's
 * text, "No space left on device" on a full disk). */
int ali_outfile_write(ali_outfile *o, const void *buf, size_t len, al_error *err);

/* Flushes tmp to disk, gives it the old file's mode, renames it over the destination and
 * flushes the directory. On failure the destination is untouched and tmp is removed. AL_OK or
 * AL_EIO naming the file and the reason. Either way o is finished. */
int ali_outfile_commit(ali_outfile *o, al_error *err);

/* Removes tmp and the private directory; the destination is untouched. Safe after a failed
 * begin or a commit (does nothing then). Keeps errno. */
void ali_outfile_abort(ali_outfile *o);

/* The text of errno `e` for messages: strerror's, or "an unknown error" for 0 (a writer that
 * failed without setting errno). Static, thread-safe. */
const char *ali_outfile_reason(int e);

#endif
