/* CFITSIO, loaded when a FITS file is first read or written. Linked, it brought libcurl, gnutls,
 * krb5, ldap and 30 more libraries, with their constructors, into every program that links
 * libastrolab and into the astrolab tool: measured, 12 ms of start-up for a program that does
 * nothing (docs/PERFORMANCE.md, "CFITSIO loaded on first use"), paid again by every `astrolab
 * run`. As src/ui/mhd.c does for libmicrohttpd, this file defines the CFITSIO functions the
 * library calls, with CFITSIO's own prototypes (from <fitsio.h>, so the compiler checks them):
 * each forwards to the real one, found with dlopen and dlsym on first use. Hidden like every
 * internal name, so they never interpose on a program's own CFITSIO (whose copy, when the
 * program loaded it, is the one dlopen finds). Add a function here when the library calls
 * another.
 *
 * Without the library every call fails with FILE_NOT_OPENED, and the error text the survey
 * module shows (ali_fits_errtext) says that CFITSIO could not be loaded, and why. */
#include <dlfcn.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>

#include <fitsio.h>

/* Exported by CFITSIO but declared only in its internal fitsio2.h (fits_guard.c reads with it). */
int ffgbyt(fitsfile *fptr, LONGLONG nbytes, void *buffer, int *status);

#define STR_(x) #x
#define STR(x) STR_(x)
#define CFITSIO_FILE "libcfitsio.so." STR(CFITSIO_SONAME) /* the soname built against */

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

static struct {
    pthread_once_t once;
    void *lib;
    char why[FLEN_ERRMSG]; /* dlopen's or dlsym's complaint, when lib is NULL */
#define FIELD(ret, name, params, ...) ret(*name) params;
    CFITSIO_FUNCTIONS(FIELD)
    OTHER_FUNCTIONS(FIELD)
#undef FIELD
} api = {.once = PTHREAD_ONCE_INIT};

/* Every symbol, or none: a partial table would fail later, in the middle of a file. */
static void load(void)
{
    void *lib = dlopen(CFITSIO_FILE, RTLD_NOW | RTLD_LOCAL);
    if (!lib)
        lib = dlopen("libcfitsio.so", RTLD_NOW | RTLD_LOCAL); /* a development install */
    if (!lib) {
        const char *e = dlerror();
        snprintf(api.why, sizeof api.why, "%s", e ? e : CFITSIO_FILE " not found");
        return;
    }
    bool all = true;
#define SYM(ret, name, ...)                                                                        \
    if (all && !(*(void **)&api.name = dlsym(lib, #name))) {                                       \
        snprintf(api.why, sizeof api.why, "%s has no %s", CFITSIO_FILE, #name);                    \
        all = false;                                                                               \
    }
    CFITSIO_FUNCTIONS(SYM)
    OTHER_FUNCTIONS(SYM)
#undef SYM
    if (all)
        api.lib = lib;
    else
        dlclose(lib);
}

static bool loaded(void)
{
    pthread_once(&api.once, load);
    return api.lib != NULL;
}

/* A call without the library: fails as CFITSIO fails a call (status set, and returned). */
static int unloaded(int *status)
{
    if (status && *status == 0)
        *status = FILE_NOT_OPENED;
    return status ? *status : FILE_NOT_OPENED;
}

/* CFITSIO's convention: a call made with a non-zero status does nothing; the forwarders keep it
 * by passing the status through. */
#define FORWARD(ret, name, params, args)                                                           \
    ret name params { return loaded() ? api.name args : unloaded(status); }
CFITSIO_FUNCTIONS(FORWARD)
#undef FORWARD

/* Without the library, ffgmsg's one message: why it could not be loaded, until ffcmsg clears
 * it (so that a caller reading messages until there are none stops). */
static _Thread_local bool told;

void ffcmsg(void)
{
    if (loaded())
        api.ffcmsg();
    told = false;
}

void ffgerr(int status, char *errtext)
{
    if (loaded())
        api.ffgerr(status, errtext);
    else
        snprintf(errtext, FLEN_STATUS, "CFITSIO could not be loaded");
}

int ffgmsg(char *err_message)
{
    if (loaded())
        return api.ffgmsg(err_message);
    if (told) {
        err_message[0] = '\0';
        return 0;
    }
    told = true;
    snprintf(err_message, FLEN_ERRMSG, "%s", api.why);
    return 1;
}

int ffghdn(fitsfile *fptr, int *chdunum)
{
    if (loaded())
        return api.ffghdn(fptr, chdunum);
    *chdunum = 0;
    return 0;
}

float ffvers(float *version)
{
    if (loaded())
        return api.ffvers(version);
    *version = 0;
    return 0;
}
