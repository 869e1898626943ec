/* al_mpi_survey_load and al_mpi_first_row: each rank loads its part of a catalog through
 * al_survey_load's partition options (<astrolab/survey.h>: row ranges, csv_byte_start/stop,
 * csv_types, null_masks). A FITS table is cut by rows. A CSV file is cut by bytes: rank r's
 * nominal cut b_r = r * size / P is moved to the next record start. Whether b_r lies inside a
 * quoted field is the parity of the '"' before it: each rank counts the quotes of its own
 * nominal range and an MPI_Exscan sums them, so every byte is read once for the cut, and once
 * by the load. CSV types are then agreed (csv_schema.c). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mpi/mpi_int.h"

/* Bytes read at a time while cutting. */
#define CUT_BLOCK (1u << 20)

/* Reads the next block of [from, to) of fd into buf (at most CUT_BLOCK bytes): *got > 0 bytes,
 * or AL_EIO (err filled) when the read fails or the file ends before `to`. */
static int read_block(int fd, const char *path, int64_t from, int64_t to, char *buf, ssize_t *got,
                      al_error *err)
{
    size_t want = to - from < CUT_BLOCK ? (size_t)(to - from) : CUT_BLOCK;
    do
        *got = pread(fd, buf, want, from);
    while (*got < 0 && errno == EINTR);
    if (*got <= 0)
        return al_error_set(err, AL_EIO, "%s: read failed at byte %lld: %s", path, (long long)from,
                            *got < 0 ? strerror(errno) : "file shrank");
    return AL_OK;
}

/* The quotes in [from, to) of fd into *quotes. */
static int count_quotes(int fd, const char *path, int64_t from, int64_t to, char *buf,
                        uint64_t *quotes, al_error *err)
{
    uint64_t n = 0;
    while (from < to) {
        ssize_t got;
        int rc = read_block(fd, path, from, to, buf, &got, err);
        if (rc != AL_OK)
            return rc;
        for (const char *p = buf, *end = buf + got; (p = memchr(p, '"', (size_t)(end - p))); p++)
            n++;
        from += got;
    }
    *quotes = n;
    return AL_OK;
}

/* The first record start at or after `from`, where `quoted` says whether `from` is inside a
 * quoted field: the byte after the first newline outside quotes, or the file's size. */
static int record_start(int fd, const char *path, int64_t from, int64_t size, int quoted, char *buf,
                        int64_t *start, al_error *err)
{
    while (from < size) {
        ssize_t got;
        int rc = read_block(fd, path, from, size, buf, &got, err);
        if (rc != AL_OK)
            return rc;
        for (ssize_t i = 0; i < got; i++) {
            if (buf[i] == '"')
                quoted = !quoted;
            else if (buf[i] == '\n' && !quoted) {
                *start = from + i + 1;
                return AL_OK;
            }
        }
        from += got;
    }
    *start = size;
    return AL_OK;
}

/* This rank's byte range [*lo, *hi) of the CSV file (*hi -1: the end). Collective. */
static int csv_cut(const char *path, MPI_Comm comm, int rank, int size, int64_t *lo, int64_t *hi,
                   al_error *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    int rc = fd >= 0 ? AL_OK
                     : al_error_set(err, errno == ENOENT ? AL_ENOTFOUND : AL_EIO, "%s: %s", path,
                                    strerror(errno));
    struct stat st;
    if (rc == AL_OK && fstat(fd, &st) != 0)
        rc = al_error_set(err, AL_EIO, "%s: %s", path, strerror(errno));
    char *buf = rc == AL_OK ? al_malloc(CUT_BLOCK) : NULL;
    if (rc == AL_OK && !buf)
        rc = al_error_set(err, AL_ENOMEM, "%s: out of memory for a read buffer", path);
    int64_t fsize = rc == AL_OK ? (int64_t)st.st_size : 0;
    int64_t b0 = fsize / size * rank + fsize % size * rank / size;
    int64_t b1 = fsize / size * (rank + 1) + fsize % size * (rank + 1) / size;
    uint64_t quotes = 0, before = 0;
    if (rc == AL_OK)
        rc = count_quotes(fd, path, b0, b1, buf, &quotes, err);
    if ((rc = al_mpi_agree(comm, rc, err)) == AL_OK)
        rc = ali_mpi_check(MPI_Exscan(&quotes, &before, 1, MPI_UINT64_T, MPI_SUM, comm),
                           "MPI_Exscan", err);
    int64_t start = 0;
    if (rc == AL_OK && rank > 0)
        rc = record_start(fd, path, b0, fsize, (int)(before & 1), buf, &start, err);
    al_free(buf);
    if (fd >= 0)
        close(fd);
    int64_t *starts = rc == AL_OK ? AL_NEW_ARRAY(int64_t, (size_t)size) : NULL;
    if (rc == AL_OK && !starts)
        rc = al_error_set(err, AL_ENOMEM, "%s: out of memory for %d cuts", path, size);
    if ((rc = al_mpi_agree(comm, rc, err)) == AL_OK)
        rc = ali_mpi_check(MPI_Allgather(&start, 1, MPI_INT64_T, starts, 1, MPI_INT64_T, comm),
                           "MPI_Allgather", err);
    if (rc == AL_OK) {
        *lo = starts[rank];
        *hi = rank + 1 < size ? starts[rank + 1] : -1;
    }
    al_free(starts);
    return rc;
}

/* This rank's rows [*lo, *hi) of the FITS table: a header-only load gives its rows. */
static int fits_cut(const char *path, const al_survey_options *o, MPI_Comm comm, int rank, int size,
                    int64_t *lo, int64_t *hi, al_error *err)
{
    al_survey_options probe = *o;
    probe.row_start = probe.row_stop = 0;
    probe.progress = NULL;
    al_tensordict *td = al_survey_load(path, &probe, err);
    const al_survey_meta *m = td ? al_survey_info(td) : NULL;
    int64_t n = m ? m->file_rows : 0;
    al_survey_free(td);
    int rc = al_mpi_agree(comm, td ? AL_OK : err && err->code ? err->code : AL_EIO, err);
    if (rc != AL_OK)
        return rc;
    int64_t first = o->row_start < n ? o->row_start : n;
    int64_t last = o->row_stop < 0 || o->row_stop > n ? n : o->row_stop;
    int64_t rows = last > first ? last - first : 0;
    *lo = first + rows / size * rank + rows % size * rank / size;
    *hi = first + rows / size * (rank + 1) + rows % size * (rank + 1) / size;
    return AL_OK;
}

static int check_options(const char *path, const al_survey_options *o, al_error *err)
{
    if (!path || !*path)
        return al_error_set(err, AL_EINVAL, "al_mpi_survey_load: no path given");
    if (o->csv_byte_start || o->csv_byte_stop >= 0 || o->csv_types)
        return al_error_set(err, AL_EINVAL,
                            "%s: csv_byte_start, csv_byte_stop and csv_types belong to the "
                            "partition of al_mpi_survey_load: leave them unset",
                            path);
    return AL_OK;
}

al_tensordict *al_mpi_survey_load(const char *path, const al_survey_options *opts, MPI_Comm comm,
                                  al_error *err)
{
    al_survey_options o;
    if (opts)
        o = *opts;
    else
        al_survey_options_init(&o);
    int rank = 0, size = 1;
    int rc = ali_mpi_where(comm, &rank, &size, err);
    if (rc != AL_OK)
        return NULL;
    rc = check_options(path, &o, err);
    if (rc == AL_OK && o.format == AL_SURVEY_FORMAT_AUTO)
        rc = al_survey_detect_format(path, &o.format, err);
    if (rc == AL_OK && o.format == AL_SURVEY_FORMAT_CSV && (o.row_start != 0 || o.row_stop >= 0))
        rc = al_error_set(err, AL_EUNSUPPORTED,
                          "%s: a row range of a partitioned CSV load: cut the loaded parts "
                          "instead (al_mpi_first_row gives each part's place)",
                          path);
    if ((rc = al_mpi_agree(comm, rc, err)) != AL_OK)
        return NULL;
    o.null_masks = 1;
    int64_t lo, hi;
    if (o.format == AL_SURVEY_FORMAT_FITS) {
        if ((rc = fits_cut(path, &o, comm, rank, size, &lo, &hi, err)) != AL_OK)
            return NULL;
        o.row_start = lo, o.row_stop = hi;
    } else {
        if ((rc = csv_cut(path, comm, rank, size, &lo, &hi, err)) != AL_OK)
            return NULL;
        o.csv_byte_start = lo, o.csv_byte_stop = hi;
    }
    al_tensordict *td = al_survey_load(path, &o, err);
    rc = td ? AL_OK : err && err->code ? err->code : AL_ENOMEM;
    if ((rc = al_mpi_agree(comm, rc, err)) == AL_OK && o.format == AL_SURVEY_FORMAT_CSV)
        rc = ali_mpi_csv_schema(&td, path, &o, comm, err);
    if (rc != AL_OK) {
        al_survey_free(td);
        return NULL;
    }
    return td;
}

int al_mpi_first_row(const al_tensordict *td, MPI_Comm comm, int64_t *first, al_error *err)
{
    int rc = td && first ? AL_OK : al_error_set(err, AL_EINVAL, "al_mpi_first_row: NULL argument");
    int64_t rows = td ? al_tensordict_batch_size(td) : 0, before = 0;
    if (rows < 0) /* AL_BATCH_UNSET: no rows yet */
        rows = 0;
    int rank = 0, size = 1;
    if ((rc = al_mpi_agree(comm, rc, err)) == AL_OK)
        rc = ali_mpi_where(comm, &rank, &size, err);
    if (rc == AL_OK)
        rc = ali_mpi_check(MPI_Exscan(&rows, &before, 1, MPI_INT64_T, MPI_SUM, comm), "MPI_Exscan",
                           err);
    if (rc == AL_OK)
        *first = rank == 0 ? 0 : before;
    return rc;
}
