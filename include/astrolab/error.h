/* AstroLab error codes and the error record filled by calls that can fail in detail.
 *
 * Every module owns one band of negative codes; a value is never reused. Calls return AL_OK (0)
 * or a negative code; calls that return a pointer return NULL and, where detail matters, fill
 * the caller-owned al_error passed as their last argument (which may be NULL). */
#ifndef ASTROLAB_ERROR_H
#define ASTROLAB_ERROR_H

#include "astrolab/defs.h" /* AL_API */

#ifdef __cplusplus
extern "C" {
#endif

/* -------- Codes: one band per module, one line and one comment per code. --------
 * tests/test_error.c reads the "AL_NAME = value," lines below and checks that each value is
 * unique and has its own al_strerror text (src/util/error.c). */
enum {
    AL_OK = 0,            /* success */
    AL_ENOMEM = -1,       /* allocation failed, or a hard or scope limit refused it */
    AL_EINVAL = -2,       /* bad argument: NULL handle, index or value out of range */
    AL_ESTATE = -3,       /* call not valid in the current state (scope ended out of order...) */
    AL_EIO = -4,          /* operating-system I/O failure; errno text in the message */
    AL_ENOTFOUND = -5,    /* the named object, key or file does not exist */
    AL_EUNSUPPORTED = -6, /* feature not available in this build or on this machine */
    AL_EOVERFLOW = -7,    /* a size computation (n * size, shape product) overflowed */

    AL_EMEMORY = -100,     /* -100..-199: memory manager */
    AL_EBADPTR = -101,     /* pointer not given out by the manager */
    AL_EDOUBLEFREE = -102, /* block freed twice */
    AL_ECORRUPT = -103,    /* guard bytes around a block were overwritten */
    /* -104 is retired: a hard limit or scope budget refuses an allocation as AL_ENOMEM. */
    AL_ESCOPE = -105, /* scope misuse: wrong thread, out of order, already ended */

    AL_ECUDA = -200,             /* -200..-299: CUDA driver or caching allocator */
    AL_ECUDA_UNAVAILABLE = -201, /* no driver library or no device */
    AL_ECUDA_OOM = -202,         /* device allocation failed after cache release and retries */

    AL_ESURVEY = -300, /* -300..-399: FITS/CSV input; details in al_error.message */
    AL_EFORMAT = -301, /* malformed file content */
    AL_ETYPE = -302,   /* unsupported or mismatched data type */

    AL_ETENSOR = -400, /* -400..-499: tensors and tensordicts */
    AL_ESHAPE = -401,  /* shape or batch size mismatch */

    AL_EUI = -500,   /* -500..-599: dashboard and HTTP server */
    AL_EJSON = -600, /* -600..-699: text that is not JSON (al_json_format) */

    AL_EMPI = -700,  /* -700..-799: libastrolab_mpi; an MPI call failed */
    AL_EPEER = -701, /* another rank failed in the same collective call (its error quoted) */
};

/* Length of al_error.message, terminating NUL included. */
#define AL_ERROR_MESSAGE_LEN 256

/* Detail for a failed call: a caller-owned record. Filling it never allocates. */
typedef struct al_error {
    int code;                           /* AL_OK or a negative AL_E* code */
    char message[AL_ERROR_MESSAGE_LEN]; /* names the file, row, column, bytes or device */
} al_error;

/* Returns a static, never-NULL description of `code` ("unknown error code" for unknown ones). */
AL_API const char *al_strerror(int code);

/* Fills `err` (may be NULL) with `code` and a printf-style message; returns `code`. */
AL_API int al_error_set(al_error *err, int code, const char *fmt, ...) AL_PRINTF(3, 4);

/* Resets `err` (may be NULL) to AL_OK with an empty message. */
AL_API void al_error_clear(al_error *err);

#ifdef __cplusplus
}
#endif
#endif /* ASTROLAB_ERROR_H */
