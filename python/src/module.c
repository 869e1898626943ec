/* The astrolab._astrolab module: its method table, gathered from each file's, and its init.
 * The Python modules of the package (astrolab/ and its .py files) wrap these functions; see ext.h
 * for the map of files. */
#include "ext.h"

static PyObject *version(PyObject *self, PyObject *unused)
{
    (void)self, (void)unused;
    return PyUnicode_FromString(AL_VERSION_STRING);
}

static PyObject *strerror_(PyObject *self, PyObject *args)
{
    (void)self;
    int code;
    if (!PyArg_ParseTuple(args, "i:strerror", &code))
        return NULL;
    return PyUnicode_FromString(al_strerror(code));
}

/* _astrolab._raise(code, message, path=None): raises the exception for an AstroLab error code,
 * so tests can check every mapping. */
static PyObject *raise_(PyObject *self, PyObject *args)
{
    (void)self;
    int code;
    const char *message, *path = NULL;
    if (!PyArg_ParseTuple(args, "is|z:_raise", &code, &message, &path))
        return NULL;
    return ext_raise(code, message, path);
}

static PyMethodDef base_methods[] = {
    {"version", version, METH_NOARGS, "libastrolab's version."},
    {"strerror", strerror_, METH_VARARGS, "al_strerror(code)."},
    {"_raise", raise_, METH_VARARGS, "Raise the exception of an AstroLab error code."},
    {NULL, NULL, 0, NULL},
};

static int add_methods(PyObject *m, PyMethodDef *defs) { return PyModule_AddFunctions(m, defs); }

static struct PyModuleDef moduledef = {
    PyModuleDef_HEAD_INIT,
    "astrolab._astrolab",
    "AstroLab's C core: the memory manager, tensordicts and surveys, the dashboard.",
    -1,
    NULL,
};

PyMODINIT_FUNC PyInit__astrolab(void)
{
    PyObject *m = PyModule_Create(&moduledef);
    if (!m)
        return NULL;
    if (add_methods(m, base_methods) < 0 || add_methods(m, ext_log_methods) < 0 ||
        add_methods(m, ext_memory_methods) < 0 || add_methods(m, ext_survey_methods) < 0 ||
        add_methods(m, ext_ui_methods) < 0 || add_methods(m, ext_numpy_hook_methods) < 0 ||
        add_methods(m, ext_pymem_hook_methods) < 0 || ext_errors_init(m) < 0 ||
        ext_memory_init(m) < 0 || ext_arrays_init(m) < 0 || ext_tensordict_init(m) < 0 ||
        ext_numpy_hook_init(m) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
