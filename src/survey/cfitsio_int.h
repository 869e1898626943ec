/* CFITSIO for the survey module, loaded on first use (cfitsio.c): <fitsio.h>, then every CFITSIO
 * function the library calls mapped to its forwarder ali_ff..., so that the readers and writers
 * call CFITSIO by its documented names (fits_read_key, ffgky) and reach the forwarder. Include
 * it instead of <fitsio.h>. Private to src/survey/ (libastrolab_mpi links CFITSIO itself).
 * Never installed. */
#ifndef ASTROLAB_CFITSIO_INT_H
#define ASTROLAB_CFITSIO_INT_H

#include <fitsio.h>

/* Every function: its return type, name, parameters and arguments. */
#define CFITSIO_FUNCTIONS(X)                                                                       \
    X(int, ffasfm, (char *tform, int *datacode, long *width, int *decim, int *status),             \
      (tform, datacode, width, decim, status))                                                     \
    X(int, ffclos, (fitsfile * fptr, int *status), (fptr, status))                                 \
    X(int, ffcopy, (fitsfile * infptr, fitsfile * outfptr, int morekeys, int *status),             \
      (infptr, outfptr, morekeys, status))                                                         \
    X(int, ffdkinit, (fitsfile * *fptr, const char *filename, int *status),                        \
      (fptr, filename, status))                                                                    \
    X(int, ffinit, (fitsfile * *fptr, const char *filename, int *status),                          \
      (fptr, filename, status))                                                                    \
    X(int, ffcrim, (fitsfile * fptr, int bitpix, int naxis, long *naxes, int *status),             \
      (fptr, bitpix, naxis, naxes, status))                                                        \
    X(int, ffcrtb,                                                                                 \
      (fitsfile * fptr, int tbltype, LONGLONG naxis2, int tfields, char **ttype, char **tform,     \
       char **tunit, const char *extname, int *status),                                            \
      (fptr, tbltype, naxis2, tfields, ttype, tform, tunit, extname, status))                      \
    X(int, ffgacl,                                                                                 \
      (fitsfile * fptr, int colnum, char *ttype, long *tbcol, char *tunit, char *tform,            \
       double *tscal, double *tzero, char *tnull, char *tdisp, int *status),                       \
      (fptr, colnum, ttype, tbcol, tunit, tform, tscal, tzero, tnull, tdisp, status))              \
    X(int, ffgbclll,                                                                               \
      (fitsfile * fptr, int colnum, char *ttype, char *tunit, char *dtype, LONGLONG *repeat,       \
       double *tscal, double *tzero, LONGLONG *tnull, char *tdisp, int *status),                   \
      (fptr, colnum, ttype, tunit, dtype, repeat, tscal, tzero, tnull, tdisp, status))             \
    X(int, ffghsp, (fitsfile * fptr, int *nexist, int *nmore, int *status),                        \
      (fptr, nexist, nmore, status))                                                               \
    X(int, ffghdt, (fitsfile * fptr, int *exttype, int *status), (fptr, exttype, status))          \
    X(int, ffghadll,                                                                               \
      (fitsfile * fptr, LONGLONG * headstart, LONGLONG * datastart, LONGLONG * dataend,            \
       int *status),                                                                               \
      (fptr, headstart, datastart, dataend, status))                                               \
    X(int, ffgknm, (char *card, char *name, int *length, int *status),                             \
      (card, name, length, status))                                                                \
    X(int, ffgncl, (fitsfile * fptr, int *ncols, int *status), (fptr, ncols, status))              \
    X(int, ffthdu, (fitsfile * fptr, int *nhdu, int *status), (fptr, nhdu, status))                \
    X(int, ffgnrwll, (fitsfile * fptr, LONGLONG * nrows, int *status), (fptr, nrows, status))      \
    X(int, ffgrsz, (fitsfile * fptr, long *nrows, int *status), (fptr, nrows, status))             \
    X(int, ffmahd, (fitsfile * fptr, int hdunum, int *exttype, int *status),                       \
      (fptr, hdunum, exttype, status))                                                             \
    X(int, ffmnhd, (fitsfile * fptr, int exttype, char *hduname, int hduvers, int *status),        \
      (fptr, exttype, hduname, hduvers, status))                                                   \
    X(int, ffdkopn, (fitsfile * *fptr, const char *filename, int iomode, int *status),             \
      (fptr, filename, iomode, status))                                                            \
    X(int, ffopentest,                                                                             \
      (int soname, fitsfile **fptr, const char *filename, int iomode, int *status),                \
      (soname, fptr, filename, iomode, status))                                                    \
    X(int, ffgcrd, (fitsfile * fptr, const char *keyname, char *card, int *status),                \
      (fptr, keyname, card, status))                                                               \
    X(int, ffgcv,                                                                                  \
      (fitsfile * fptr, int datatype, int colnum, LONGLONG firstrow, LONGLONG firstelem,           \
       LONGLONG nelem, void *nulval, void *array, int *anynul, int *status),                       \
      (fptr, datatype, colnum, firstrow, firstelem, nelem, nulval, array, anynul, status))         \
    X(int, ffgcfs,                                                                                 \
      (fitsfile * fptr, int colnum, LONGLONG firstrow, LONGLONG firstelem, LONGLONG nelem,         \
       char **array, char *nularray, int *anynul, int *status),                                    \
      (fptr, colnum, firstrow, firstelem, nelem, array, nularray, anynul, status))                 \
    X(int, ffgky,                                                                                  \
      (fitsfile * fptr, int datatype, const char *keyname, void *value, char *comm, int *status),  \
      (fptr, datatype, keyname, value, comm, status))                                              \
    X(int, ffgrec, (fitsfile * fptr, int nrec, char *card, int *status),                           \
      (fptr, nrec, card, status))                                                                  \
    X(int, ffgtbb,                                                                                 \
      (fitsfile * fptr, LONGLONG firstrow, LONGLONG firstchar, LONGLONG nchars,                    \
       unsigned char *values, int *status),                                                        \
      (fptr, firstrow, firstchar, nchars, values, status))                                         \
    X(int, fits_uncompress_table, (fitsfile * infptr, fitsfile * outfptr, int *status),            \
      (infptr, outfptr, status))                                                                   \
    X(int, ffpcks, (fitsfile * fptr, int *status), (fptr, status))                                 \
    X(int, ffpkyd,                                                                                 \
      (fitsfile * fptr, const char *keyname, double value, int decim, const char *comm,            \
       int *status),                                                                               \
      (fptr, keyname, value, decim, comm, status))                                                 \
    X(int, ffpkyj,                                                                                 \
      (fitsfile * fptr, const char *keyname, LONGLONG value, const char *comm, int *status),       \
      (fptr, keyname, value, comm, status))                                                        \
    X(int, ffpkys,                                                                                 \
      (fitsfile * fptr, const char *keyname, const char *value, const char *comm, int *status),    \
      (fptr, keyname, value, comm, status))                                                        \
    X(int, ffprec, (fitsfile * fptr, const char *card, int *status), (fptr, card, status))         \
    X(int, ffptbb,                                                                                 \
      (fitsfile * fptr, LONGLONG firstrow, LONGLONG firstchar, LONGLONG nchars,                    \
       unsigned char *values, int *status),                                                        \
      (fptr, firstrow, firstchar, nchars, values, status))                                         \
    X(int, ffptdmll, (fitsfile * fptr, int colnum, int naxis, LONGLONG naxes[], int *status),      \
      (fptr, colnum, naxis, naxes, status))                                                        \
    X(int, ffmbyt, (fitsfile * fptr, LONGLONG bytpos, int ignore_err, int *status),                \
      (fptr, bytpos, ignore_err, status))                                                          \
    X(int, ffgbyt, (fitsfile * fptr, LONGLONG nbytes, void *buffer, int *status),                  \
      (fptr, nbytes, buffer, status))

/* The few without a status argument, forwarded one by one below. */
#define OTHER_FUNCTIONS(X)                                                                         \
    X(void, ffcmsg, (void))                                                                        \
    X(void, ffgerr, (int status, char *errtext))                                                   \
    X(int, ffgmsg, (char *err_message))                                                            \
    X(int, ffghdn, (fitsfile * fptr, int *chdunum))                                                \
    X(float, ffvers, (float *version))

/* Exported by CFITSIO but declared only in its internal fitsio2.h (fits_guard.c reads with it). */
int ffgbyt(fitsfile *fptr, LONGLONG nbytes, void *buffer, int *status);

/* The forwarders, with CFITSIO's prototypes. */
#define ALI_CFITSIO_DECLARE(ret, name, params, ...) ret ali_##name params;
CFITSIO_FUNCTIONS(ALI_CFITSIO_DECLARE)
OTHER_FUNCTIONS(ALI_CFITSIO_DECLARE)
#undef ALI_CFITSIO_DECLARE

#ifndef ALI_CFITSIO_NO_RENAME
#define ffasfm ali_ffasfm
#define ffclos ali_ffclos
#define ffcopy ali_ffcopy
#define ffdkinit ali_ffdkinit
#define ffinit ali_ffinit
#define ffcrim ali_ffcrim
#define ffcrtb ali_ffcrtb
#define ffgacl ali_ffgacl
#define ffgbclll ali_ffgbclll
#define ffghsp ali_ffghsp
#define ffghdt ali_ffghdt
#define ffghadll ali_ffghadll
#define ffgknm ali_ffgknm
#define ffgncl ali_ffgncl
#define ffthdu ali_ffthdu
#define ffgnrwll ali_ffgnrwll
#define ffgrsz ali_ffgrsz
#define ffmahd ali_ffmahd
#define ffmnhd ali_ffmnhd
#define ffdkopn ali_ffdkopn
#define ffopentest ali_ffopentest
#define ffgcrd ali_ffgcrd
#define ffgcv ali_ffgcv
#define ffgcfs ali_ffgcfs
#define ffgky ali_ffgky
#define ffgrec ali_ffgrec
#define ffgtbb ali_ffgtbb
#define fits_uncompress_table ali_fits_uncompress_table
#define ffpcks ali_ffpcks
#define ffpkyd ali_ffpkyd
#define ffpkyj ali_ffpkyj
#define ffpkys ali_ffpkys
#define ffprec ali_ffprec
#define ffptbb ali_ffptbb
#define ffptdmll ali_ffptdmll
#define ffmbyt ali_ffmbyt
#define ffgbyt ali_ffgbyt
#define ffcmsg ali_ffcmsg
#define ffgerr ali_ffgerr
#define ffgmsg ali_ffgmsg
#define ffghdn ali_ffghdn
#define ffvers ali_ffvers
#endif

#endif
