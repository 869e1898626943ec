/* CFITSIO, loaded when a FITS file is first read or written. Linked, it brought libcurl, gnutls,
 * krb5, ldap and 30 more libraries, with their constructors, into every program that links
 * libastrolab and into the astrolab tool: measured, 12 ms of start-up for a program that does
 * nothing (docs/PERFORMANCE.md, "CFITSIO off the start-up path"), paid again by every `astrolab
 * run`. This file defines ali_ff..., one for each CFITSIO function the library calls, with
 * CFITSIO's own prototype (cfitsio_int.h, checked against <fitsio.h>), each forwarding to the
 * real one, found on first use (util/dl_int.h: every symbol or none); cfitsio_int.h maps the
 * library's calls to them. Names of their own, not CFITSIO's: in libastrolab.a, functions named
 * like CFITSIO's would clash with a static CFITSIO and capture a program's own calls. Add a
 * function to cfitsio_int.h's lists when the library calls another.
 *
 * Without the library every call fails with FILE_NOT_OPENED, and the error text the survey
 * module shows (ali_fits_errtext) says that CFITSIO could not be loaded, and why. */
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h> /* offsetof */
#include <stdio.h>

#define ALI_CFITSIO_NO_RENAME /* this file forwards to the real names */
#include "survey/cfitsio_int.h"
#include "util/dl_int.h"

#define STR_(x) #x
#define STR(x) STR_(x)
#define CFITSIO_FILE "libcfitsio.so." STR(CFITSIO_SONAME) /* the soname built against */

/* Each forwarder's prototype is CFITSIO's own. */
#define SAME_TYPE(ret, name, params, ...)                                                          \
    _Static_assert(__builtin_types_compatible_p(__typeof__(&name), ret(*) params),                 \
                   #name " as <fitsio.h> declares it");
CFITSIO_FUNCTIONS(SAME_TYPE)
OTHER_FUNCTIONS(SAME_TYPE)
#undef SAME_TYPE

static struct {
    pthread_once_t once;
    void *lib;
    char why[FLEN_ERRMSG]; /* dlopen's or dlsym's complaint, when lib is NULL */
#define FIELD(ret, name, params, ...) ret(*name) params;
    CFITSIO_FUNCTIONS(FIELD)
    OTHER_FUNCTIONS(FIELD)
#undef FIELD
} api = {.once = PTHREAD_ONCE_INIT};

static void load(void)
{
    /* Only the soname the headers name: another major version may have another ABI, and the
     * library opens files with calls that do not check it (ffdkopn, ffinit). */
    static const char *const sonames[] = {CFITSIO_FILE, NULL};
#define SYM(ret, name, ...) {#name, offsetof(__typeof__(api), name)},
    static const ali_dl_symbol symbols[] = {CFITSIO_FUNCTIONS(SYM) OTHER_FUNCTIONS(SYM)};
#undef SYM
    api.lib = ali_dl_load(sonames, symbols, sizeof symbols / sizeof symbols[0], &api, api.why,
                          sizeof api.why);
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
    ret ali_##name params { return loaded() ? api.name args : unloaded(status); }
CFITSIO_FUNCTIONS(FORWARD)
#undef FORWARD

/* Without the library, ffgmsg's one message: why it could not be loaded, until ffcmsg clears
 * it (so that a caller reading messages until there are none stops). */
static _Thread_local bool told;

void ali_ffcmsg(void)
{
    if (loaded())
        api.ffcmsg();
    told = false;
}

void ali_ffgerr(int status, char *errtext)
{
    if (loaded())
        api.ffgerr(status, errtext);
    else
        snprintf(errtext, FLEN_STATUS, "CFITSIO could not be loaded");
}

int ali_ffgmsg(char *err_message)
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

int ali_ffghdn(fitsfile *fptr, int *chdunum)
{
    if (loaded())
        return api.ffghdn(fptr, chdunum);
    *chdunum = 0;
    return 0;
}

float ali_ffvers(float *version)
{
    if (loaded())
        return api.ffvers(version);
    *version = 0;
    return 0;
}
