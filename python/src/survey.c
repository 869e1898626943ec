/* Survey catalogs from Python: SurveyTensorDict.from_file and to_fits, on al_survey_load and
 * al_survey_save_fits, both with the GIL released (a 10^7-row catalog takes a second, which
 * other Python threads should have). A progress callable is called with the GIL taken back,
 * on the loading thread itself, which holds no AstroLab lock there. */
#include <unistd.h>

#include "ext.h"

typedef struct {
    PyObject *fn; /* progress(rows_done, rows_total), or NULL */
    int failed;   /* fn raised: the exception is kept for after the load */
    PyObject *et, *ev, *tb;
} progress_ctx;

static void progress(void *user, uint64_t done, uint64_t total)
{
    progress_ctx *p = user;
    if (p->failed)
        return;
    PyGILState_STATE g = PyGILState_Ensure();
    PyObject *r =
        PyObject_CallFunction(p->fn, "KK", (unsigned long long)done, (unsigned long long)total);
    if (!r) {
        p->failed = 1;
        PyErr_Fetch(&p->et, &p->ev, &p->tb);
    }
    Py_XDECREF(r);
    PyGILState_Release(g);
}

/* A NULL-terminated copy of a sequence of str, in one PyMem block; NULL with an exception. */
static const char **column_list(PyObject *seq, PyObject **keep)
{
    PyObject *fast = PySequence_Fast(seq, "columns must be a sequence of str");
    if (!fast)
        return NULL;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(fast);
    const char **cols = PyMem_Calloc((size_t)n + 1, sizeof *cols);
    if (!cols) {
        Py_DECREF(fast);
        PyErr_NoMemory();
        return NULL;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *s = PySequence_Fast_GET_ITEM(fast, i);
        if (!PyUnicode_Check(s) || !(cols[i] = PyUnicode_AsUTF8(s))) {
            if (!PyErr_Occurred())
                PyErr_Format(PyExc_TypeError, "columns must be str, not %.100s",
                             Py_TYPE(s)->tp_name);
            PyMem_Free(cols);
            Py_DECREF(fast);
            return NULL;
        }
    }
    *keep = fast; /* the UTF-8 buffers live as long as the strings */
    return cols;
}

/* _survey_load(cls, path, hdu=None, columns=None, progress=None): a new cls instance. */
static PyObject *survey_load(PyObject *self, PyObject *args, PyObject *kw)
{
    (void)self;
    static char *names[] = {"cls", "path", "hdu", "columns", "progress", NULL};
    PyTypeObject *cls;
    PyObject *pathobj, *hdu = Py_None, *columns = Py_None, *prog = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O!O&|OOO:from_file", names, &PyType_Type, &cls,
                                     PyUnicode_FSConverter, &pathobj, &hdu, &columns, &prog))
        return NULL;
    PyObject *keep = NULL, *result = NULL;
    const char **cols = NULL;
    al_survey_options o;
    al_survey_options_init(&o);
    const char *path = PyBytes_AS_STRING(pathobj);
    if (!PyType_IsSubtype(cls, &ext_TensorDictType)) {
        PyErr_SetString(PyExc_TypeError, "cls must be a TensorDict type");
        goto out;
    }
    if (PyLong_Check(hdu)) {
        o.hdu = PyLong_AsLong(hdu);
        if (o.hdu < 0) {
            if (!PyErr_Occurred())
                PyErr_Format(PyExc_ValueError, "hdu must be >= 0, not %d", o.hdu);
            goto out;
        }
    } else if (PyUnicode_Check(hdu)) {
        if (!(o.hdu_name = PyUnicode_AsUTF8(hdu)))
            goto out;
    } else if (hdu != Py_None) {
        PyErr_Format(PyExc_TypeError, "hdu must be an int, a str or None, not %.100s",
                     Py_TYPE(hdu)->tp_name);
        goto out;
    }
    if (columns != Py_None) {
        if (PyUnicode_Check(columns)) {
            PyErr_SetString(PyExc_TypeError, "columns must be a sequence of str, not a str");
            goto out;
        }
        if (!(cols = column_list(columns, &keep)))
            goto out;
        o.columns = cols;
    }
    progress_ctx pc = {0};
    if (prog != Py_None) {
        if (!PyCallable_Check(prog)) {
            PyErr_SetString(PyExc_TypeError, "progress must be callable(rows_done, rows_total)");
            goto out;
        }
        pc.fn = prog;
        o.progress = progress;
        o.progress_user = &pc;
    }
    ext_tensordict *obj = (ext_tensordict *)cls->tp_alloc(cls, 0);
    if (!obj)
        goto out;
    al_error err;
    al_tensordict *td;
    PyThreadState *ts = PyEval_SaveThread();
    td = al_survey_load(path, &o, &err);
    PyEval_RestoreThread(ts);
    ext_log_drain();
    if (pc.failed) {
        al_survey_free(td);
        Py_DECREF(obj);
        PyErr_Restore(pc.et, pc.ev, pc.tb);
        goto out;
    }
    if (!td) {
        Py_DECREF(obj);
        /* AL_ENOTFOUND is the file (FileNotFoundError) only when the file is missing, not an
         * HDU or a column of it (KeyError). */
        ext_raise_err(&err, err.code == AL_ENOTFOUND && access(path, F_OK) == 0 ? NULL : path);
        goto out;
    }
    obj->td = td;
    result = (PyObject *)obj;
out:
    PyMem_Free(cols);
    Py_XDECREF(keep);
    Py_DECREF(pathobj);
    return result;
}

/* _survey_save(td, path, extname=None, overwrite=True). */
static PyObject *survey_save(PyObject *self, PyObject *args)
{
    (void)self;
    PyObject *tdobj, *pathobj;
    const char *extname = NULL;
    int overwrite = 1;
    if (!PyArg_ParseTuple(args, "O!O&|zp:to_fits", &ext_TensorDictType, &tdobj,
                          PyUnicode_FSConverter, &pathobj, &extname, &overwrite))
        return NULL;
    ext_tensordict *o = (ext_tensordict *)tdobj;
    if (ext_td_enter(o) < 0) {
        Py_DECREF(pathobj);
        return NULL;
    }
    al_survey_save_options so = {.extname = extname, .overwrite = overwrite};
    al_error err;
    int rc;
    const char *path = PyBytes_AS_STRING(pathobj);
    o->busy = 1;
    PyThreadState *ts = PyEval_SaveThread();
    rc = al_survey_save_fits(o->td, path, &so, &err);
    PyEval_RestoreThread(ts);
    o->busy = 0;
    ext_log_drain();
    PyObject *r = rc == AL_OK ? Py_NewRef(Py_None) : ext_raise_err(&err, path);
    Py_DECREF(pathobj);
    return r;
}

PyMethodDef ext_survey_methods[] = {
    {"_survey_load", (PyCFunction)(void (*)(void))survey_load, METH_VARARGS | METH_KEYWORDS,
     "al_survey_load into a new instance of cls."},
    {"_survey_save", survey_save, METH_VARARGS, "al_survey_save_fits."},
    {NULL, NULL, 0, NULL},
};
