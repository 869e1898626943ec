/* AstroLab error codes as Python exceptions (SPEC §8, issue 16 item 7): every AstroLab error
 * is an astro_lab.AstroLabError, and also the built-in exception a Python programmer would
 * catch for it: MemoryError, FileNotFoundError (errno and filename set), OSError, ValueError
 * (malformed content, bad values, shapes), KeyError (a missing entry), NotImplementedError (a
 * feature this build or device lacks). Wrong argument types are plain TypeErrors, raised where
 * the arguments are parsed. */
#include <errno.h>
#include <string.h>

#include "ext.h"

PyObject *ext_AstroLabError;
static PyObject *MemoryErr, *NotFoundErr, *IOErr, *FormatErr, *DataTypeErr, *ShapeErr, *ValueErr,
    *KeyErr, *UnsupportedErr, *StateErr;

static PyObject *make(PyObject *module, const char *name, PyObject *builtin, const char *doc)
{
    char full[96];
    snprintf(full, sizeof full, "astrolab.%s", name);
    PyObject *bases =
        builtin ? PyTuple_Pack(2, ext_AstroLabError, builtin) : PyTuple_Pack(1, ext_AstroLabError);
    if (!bases)
        return NULL;
    PyObject *t = PyErr_NewExceptionWithDoc(full, doc, bases, NULL);
    Py_DECREF(bases);
    if (t && PyModule_AddObjectRef(module, name, t) < 0)
        Py_CLEAR(t);
    return t;
}

int ext_errors_init(PyObject *module)
{
    ext_AstroLabError = PyErr_NewExceptionWithDoc("astrolab.AstroLabError",
                                                  "Base of every AstroLab error.", NULL, NULL);
    if (!ext_AstroLabError || PyModule_AddObjectRef(module, "AstroLabError", ext_AstroLabError))
        return -1;
    MemoryErr = make(module, "AstroLabMemoryError", PyExc_MemoryError,
                     "Out of memory, or a memory limit or scope budget refused an allocation.");
    NotFoundErr = make(module, "AstroLabFileNotFoundError", PyExc_FileNotFoundError,
                       "A file, HDU or column that does not exist.");
    IOErr = make(module, "AstroLabOSError", PyExc_OSError, "An operating-system I/O failure.");
    FormatErr = make(module, "FormatError", PyExc_ValueError, "Malformed file content.");
    DataTypeErr =
        make(module, "DataTypeError", PyExc_ValueError, "An unsupported or mismatched data type.");
    ShapeErr = make(module, "ShapeError", PyExc_ValueError, "A shape or batch size mismatch.");
    ValueErr = make(module, "AstroLabValueError", PyExc_ValueError, "A bad argument value.");
    KeyErr = make(module, "AstroLabKeyError", PyExc_KeyError, "No entry of that key.");
    UnsupportedErr = make(module, "UnsupportedError", PyExc_NotImplementedError,
                          "A feature this build or this device does not have.");
    StateErr = make(module, "StateError", NULL, "A call not valid in the current state.");
    return StateErr ? 0 : -1;
}

/* OSError(errno, strerror, filename) sets .errno, .strerror and .filename. */
static PyObject *raise_os(PyObject *type, int eno, const char *message, const char *path)
{
    PyObject *args = path ? Py_BuildValue("(isO&)", eno, message, PyUnicode_DecodeFSDefault, path)
                          : Py_BuildValue("(is)", eno, message);
    if (args) {
        PyErr_SetObject(type, args);
        Py_DECREF(args);
    }
    return NULL;
}

PyObject *ext_raise(int code, const char *message, const char *path)
{
    if (!message || !*message)
        message = al_strerror(code);
    switch (code) {
    case AL_ENOMEM:
    case AL_ECUDA_OOM:
        PyErr_SetString(MemoryErr, message);
        return NULL;
    case AL_ENOTFOUND:
        if (path)
            return raise_os(NotFoundErr, ENOENT, message, path);
        PyErr_SetString(KeyErr, message);
        return NULL;
    case AL_EIO:
        return raise_os(IOErr, errno ? errno : EIO, message, path);
    case AL_EFORMAT:
    case AL_ESURVEY:
    case AL_EJSON:
        PyErr_SetString(FormatErr, message);
        return NULL;
    case AL_ETYPE:
        PyErr_SetString(DataTypeErr, message);
        return NULL;
    case AL_ESHAPE:
        PyErr_SetString(ShapeErr, message);
        return NULL;
    case AL_EINVAL:
    case AL_EOVERFLOW:
        PyErr_SetString(ValueErr, message);
        return NULL;
    case AL_EUNSUPPORTED:
    case AL_ECUDA_UNAVAILABLE:
        PyErr_SetString(UnsupportedErr, message);
        return NULL;
    case AL_ESTATE:
    case AL_ESCOPE:
        PyErr_SetString(StateErr, message);
        return NULL;
    default:
        PyErr_Format(ext_AstroLabError, "%s (%s, code %d)", message, al_strerror(code), code);
        return NULL;
    }
}

PyObject *ext_raise_err(const al_error *err, const char *path)
{
    return ext_raise(err->code, err->message, path);
}
