/* al_mpi_survey_save_fits: one FITS table written by every rank. Each rank writes its part with
 * al_survey_save_fits into the job's private directory beside the destination (so the layout,
 * types, units, roles, null masks and survey name are exactly the one-process writer's); the
 * parts must have the same header but for NAXIS2 (checked). Rank 0 then lays out the job's file:
 * its part's headers with NAXIS2 set to the job's rows, the data area sized; every rank copies
 * its rows' bytes to their offset (first row * NAXIS1) with pwrite; rank 0 renames the file
 * over the destination once every rank has written and flushed. src/util/outfile.c, the
 * library's one way to replace a file, is compiled into this library too (its functions are
 * hidden inside libastrolab). */
#include <errno.h>
#include <fcntl.h>
#include <fitsio.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "mpi/mpi_int.h"
#include "util/outfile_int.h"

#define FITS_BLOCK 2880
#define CARD 80

/* A part file's layout, from CFITSIO. */
typedef struct part {
    char path[PATH_MAX + 32];
    int64_t data;     /* offset of the table's data */
    int64_t rowbytes; /* NAXIS1 */
    int64_t rows;     /* NAXIS2 */
    int64_t naxis2;   /* offset of the NAXIS2 card */
    uint64_t hash;    /* of every header byte but the NAXIS2 card */
} part;

static int io_error(al_error *err, const char *path, const char *what)
{
    return al_error_set(err, AL_EIO, "%s: %s: %s", path, what, strerror(errno));
}

/* Reads the layout of part p->path (a primary HDU and one BINTABLE). */
static int inspect(part *p, al_error *err)
{
    fitsfile *f = NULL;
    int st = 0;
    long long head = 0, data = 0, end = 0, pcount = 0;
    fits_open_file(&f, p->path, READONLY, &st);
    fits_movabs_hdu(f, 2, NULL, &st);
    fits_get_hduaddrll(f, &head, &data, &end, &st);
    fits_read_key(f, TLONGLONG, "NAXIS1", &p->rowbytes, NULL, &st);
    fits_read_key(f, TLONGLONG, "NAXIS2", &p->rows, NULL, &st);
    fits_read_key(f, TLONGLONG, "PCOUNT", &pcount, NULL, &st);
    int close_st = 0;
    if (f)
        fits_close_file(f, &close_st);
    if (st || pcount)
        return al_error_set(err, AL_EIO, "%s: cannot read the part back (CFITSIO status %d)",
                            p->path, st ? st : -1);
    p->data = data;
    char buf[FITS_BLOCK];
    int fd = open(p->path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return io_error(err, p->path, "cannot open");
    int rc = AL_OK;
    p->hash = 1469598103934665603ull, p->naxis2 = -1;
    for (int64_t at = 0; at < data && rc == AL_OK; at += FITS_BLOCK) {
        if (pread(fd, buf, FITS_BLOCK, at) != FITS_BLOCK) {
            rc = io_error(err, p->path, "cannot read its header");
            break;
        }
        for (int c = 0; c < FITS_BLOCK; c += CARD) {
            if (at >= head && memcmp(buf + c, "NAXIS2  =", 9) == 0) {
                p->naxis2 = at + c;
                continue;
            }
            for (int k = 0; k < CARD; k++)
                p->hash = (p->hash ^ (unsigned char)buf[c + k]) * 1099511628211ull;
        }
    }
    close(fd);
    if (rc == AL_OK && p->naxis2 < 0)
        rc = al_error_set(err, AL_EIO, "%s: no NAXIS2 card", p->path);
    return rc;
}

/* Copies `len` bytes from fd `in` at `from` to fd `out` at `to`. */
static int copy_range(int in, int64_t from, int out, int64_t to, int64_t len, const char *path,
                      al_error *err)
{
    char *buf = al_malloc(1u << 20);
    if (!buf)
        return al_error_set(err, AL_ENOMEM, "%s: out of memory for a copy buffer", path);
    int rc = AL_OK;
    while (len > 0 && rc == AL_OK) {
        size_t n = len < (1 << 20) ? (size_t)len : 1u << 20;
        ssize_t got = pread(in, buf, n, from);
        if (got <= 0)
            rc = got < 0 && errno == EINTR ? AL_OK : io_error(err, path, "cannot read its part");
        else if (pwrite(out, buf, (size_t)got, to) != got)
            rc = io_error(err, path, "cannot write");
        else
            from += got, to += got, len -= got;
    }
    al_free(buf);
    return rc;
}

/* Rank 0: the job's headers (its part's, NAXIS2 = rows) and the data area's size. */
static int lay_out(const part *p, int64_t rows, ali_outfile *o, al_error *err)
{
    int in = open(p->path, O_RDONLY | O_CLOEXEC);
    if (in < 0)
        return io_error(err, p->path, "cannot open");
    int rc = copy_range(in, 0, o->fd, 0, p->data, o->path, err);
    close(in);
    char value[21];
    snprintf(value, sizeof value, "%20lld", (long long)rows);
    if (rc == AL_OK && pwrite(o->fd, value, 20, p->naxis2 + 10) != 20)
        rc = io_error(err, o->path, "cannot write");
    int64_t bytes = rows * p->rowbytes;
    int64_t size = p->data + (bytes + FITS_BLOCK - 1) / FITS_BLOCK * FITS_BLOCK;
    if (rc == AL_OK && ftruncate(o->fd, size) != 0)
        rc = io_error(err, o->path, "cannot size the file");
    return rc;
}

/* This rank's rows to their place in the job's file. */
static int place(const part *p, int64_t first, const char *tmp, al_error *err)
{
    int in = open(p->path, O_RDONLY | O_CLOEXEC), out = open(tmp, O_WRONLY | O_CLOEXEC);
    int rc = in < 0 || out < 0 ? io_error(err, tmp, "cannot open") : AL_OK;
    if (rc == AL_OK)
        rc = copy_range(in, p->data, out, p->data + first * p->rowbytes, p->rows * p->rowbytes, tmp,
                        err);
    if (rc == AL_OK && fsync(out) != 0)
        rc = io_error(err, tmp, "cannot flush");
    if (in >= 0)
        close(in);
    if (out >= 0)
        close(out);
    return rc;
}

/* The parts agree: one header (but NAXIS2) and one row size; *first and *rows from them. */
static int check_parts(const part *p, MPI_Comm comm, int64_t *first, int64_t *rows, al_error *err)
{
    uint64_t span[4] = {p->hash, ~p->hash, (uint64_t)p->rowbytes, ~(uint64_t)p->rowbytes};
    int rc = ali_mpi_check(MPI_Allreduce(MPI_IN_PLACE, span, 4, MPI_UINT64_T, MPI_MAX, comm),
                           "MPI_Allreduce", err);
    if (rc == AL_OK && (span[0] != ~span[1] || span[2] != ~span[3]))
        rc = al_error_set(err, AL_EINVAL, "%s: the ranks' parts have different columns or types",
                          p->path);
    int64_t before = 0;
    if (rc == AL_OK)
        rc = ali_mpi_check(MPI_Exscan(&p->rows, &before, 1, MPI_INT64_T, MPI_SUM, comm),
                           "MPI_Exscan", err);
    if (rc == AL_OK)
        rc = ali_mpi_check(MPI_Allreduce(&p->rows, rows, 1, MPI_INT64_T, MPI_SUM, comm),
                           "MPI_Allreduce", err);
    int rank = 0;
    MPI_Comm_rank(comm, &rank);
    *first = rank ? before : 0;
    return rc;
}

int al_mpi_survey_save_fits(const al_tensordict *td, const char *path, MPI_Comm comm, al_error *err)
{
    int rank = 0, size = 1;
    int rc = ali_mpi_where(comm, &rank, &size, err);
    if (rc != AL_OK)
        return rc;
    ali_outfile o;
    memset(&o, 0, sizeof o);
    o.fd = -1;
    if (!td || !path || !*path)
        rc = al_error_set(err, AL_EINVAL, "al_mpi_survey_save_fits: NULL argument");
    else if (rank == 0)
        rc = ali_outfile_begin(&o, path, true, err);
    int begun = rank == 0 && rc == AL_OK;
    if ((rc = al_mpi_agree(comm, rc, err)) == AL_OK)
        rc = ali_mpi_check(MPI_Bcast(o.dir, sizeof o.dir, MPI_CHAR, 0, comm), "MPI_Bcast", err);
    if (rc == AL_OK)
        rc = ali_mpi_check(MPI_Bcast(o.tmp, sizeof o.tmp, MPI_CHAR, 0, comm), "MPI_Bcast", err);
    part p = {0};
    int wrote = 0;
    if (rc == AL_OK) {
        snprintf(p.path, sizeof p.path, "%s/part.%d.fits", o.dir, rank);
        rc = al_survey_save_fits(td, p.path, NULL, err);
        wrote = rc == AL_OK;
        if (rc == AL_OK)
            rc = inspect(&p, err);
    }
    int64_t first = 0, rows = 0;
    if ((rc = al_mpi_agree(comm, rc, err)) == AL_OK)
        rc = check_parts(&p, comm, &first, &rows, err);
    if (rc == AL_OK && rank == 0)
        rc = lay_out(&p, rows, &o, err);
    if ((rc = al_mpi_agree(comm, rc, err)) == AL_OK)
        rc = place(&p, first, o.tmp, err);
    if (wrote)
        unlink(p.path);
    rc = al_mpi_agree(comm, rc, err);
    if (begun)
        rc = rc == AL_OK ? ali_outfile_commit(&o, err) : (ali_outfile_abort(&o), rc);
    return al_mpi_agree(comm, rc, err);
}
