/* Error codes to text, and filling al_error records without allocating. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "astrolab/error.h"

static const struct {
    int code;
    const char *text;
} codes[] = {
    {AL_OK, "success"},
    {AL_ENOMEM, "out of memory or over a memory limit"},
    {AL_EINVAL, "invalid argument"},
    {AL_ESTATE, "call not valid in the current state"},
    {AL_EIO, "input/output error"},
    {AL_ENOTFOUND, "not found"},
    {AL_EUNSUPPORTED, "not supported in this build or on this machine"},
    {AL_EOVERFLOW, "size computation overflowed"},
    {AL_EMEMORY, "memory manager error"},
    {AL_EBADPTR, "pointer not allocated by the memory manager"},
    {AL_EDOUBLEFREE, "block freed twice"},
    {AL_ECORRUPT, "guard bytes overwritten"},
    {AL_ESCOPE, "scope misuse"},
    {AL_ECUDA, "CUDA error"},
    {AL_ECUDA_UNAVAILABLE, "CUDA not available"},
    {AL_ECUDA_OOM, "CUDA out of memory"},
    {AL_ESURVEY, "survey input error"},
    {AL_EFORMAT, "malformed file content"},
    {AL_ETYPE, "unsupported or mismatched data type"},
    {AL_ETENSOR, "tensor error"},
    {AL_ESHAPE, "shape or batch size mismatch"},
    {AL_EUI, "dashboard error"},
    {AL_EJSON, "not valid JSON"},
    {AL_EMPI, "MPI error"},
    {AL_EPEER, "another MPI rank failed"},
};

const char *al_strerror(int code)
{
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++)
        if (codes[i].code == code)
            return codes[i].text;
    return "unknown error code";
}

int al_error_set(al_error *err, int code, const char *fmt, ...)
{
    if (err) {
        err->code = code;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->message, sizeof err->message, fmt, ap);
        va_end(ap);
    }
    return code;
}

void al_error_clear(al_error *err)
{
    if (err) {
        err->code = AL_OK;
        err->message[0] = '\0';
    }
}

const char *al_version(void) { return AL_VERSION_STRING; }
