/* Whole files read into memory (al_read_file in <astrolab/format.h>): the reports that
 * `astrolab run` and the tools read back. A memory stream grows as the file is read, so no
 * size is taken from fstat (a /proc file or a pipe says 0, a growing file says too little). */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "astrolab/format.h"
#include "util/outfile_int.h" /* ali_outfile_reason */

char *al_read_file(const char *path, size_t *len, al_error *err)
{
    if (!path || !*path) {
        al_error_set(err, AL_EINVAL, "'%s': not a file name", path ? path : "");
        return NULL;
    }
    FILE *f = fopen(path, "re");
    if (!f) {
        al_error_set(err, AL_EIO, "%s: cannot open: %s", path, ali_outfile_reason(errno));
        return NULL;
    }
    char *text = NULL;
    size_t n = 0;
    FILE *mem = open_memstream(&text, &n);
    char buf[65536];
    size_t got;
    bool stored = mem != NULL;
    while (stored && (got = fread(buf, 1, sizeof buf, f)) > 0)
        stored = fwrite(buf, 1, got, mem) == got;
    int read_errno = ferror(f) ? (errno ? errno : EIO) : 0;
    fclose(f);
    if (mem && fclose(mem) != 0)
        stored = false;
    if (read_errno) {
        free(text);
        al_error_set(err, AL_EIO, "%s: cannot read: %s", path, ali_outfile_reason(read_errno));
        return NULL;
    }
    if (!stored || !text) {
        free(text);
        al_error_set(err, AL_ENOMEM, "%s: out of memory while reading it", path);
        return NULL;
    }
    if (len)
        *len = n;
    return text;
}
