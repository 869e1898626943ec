/* The TensorDict type (astrolab._astrolab.TensorDict): a Python object owning one root
 * al_tensordict. astrolab/tensors.py builds AstroTensorDict and SurveyTensorDict on it.
 *
 * Threads. The C tensordict may be read by several threads but changed by one at a time, and
 * optimize_memory runs with the GIL released. So each object has a `busy` flag, set (under the
 * GIL) while a call that released the GIL uses it; any other call on the same object meanwhile
 * raises a StateError instead of racing it. */
#include "ext.h"

int ext_td_enter(ext_tensordict *o)
{
    if (!o->td) {
        PyErr_SetString(PyExc_RuntimeError, "TensorDict.__init__ was not called");
        return -1;
    }
    if (o->busy) {
        ext_raise(AL_ESTATE, "the tensordict is in use by another thread", NULL);
        return -1;
    }
    return 0;
}

static void td_dealloc(PyObject *self)
{
    ext_tensordict *o = (ext_tensordict *)self;
    if (o->weakreflist)
        PyObject_ClearWeakRefs(self);
    al_survey_free(o->td); /* frees the metadata too; plain tensordicts have none */
    ext_log_drain();
    Py_TYPE(self)->tp_free(self);
}

static int td_init(PyObject *self, PyObject *args, PyObject *kw)
{
    static char *names[] = {"batch_size", NULL};
    long long batch = AL_BATCH_UNSET;
    PyObject *b = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "|O:TensorDict", names, &b))
        return -1;
    if (b != Py_None) {
        batch = PyLong_AsLongLong(b);
        if (batch == -1 && PyErr_Occurred())
            return -1;
        if (batch < 0) {
            PyErr_Format(PyExc_ValueError, "batch_size must be >= 0, not %lld", batch);
            return -1;
        }
    }
    ext_tensordict *o = (ext_tensordict *)self;
    if (o->busy) {
        ext_raise(AL_ESTATE, "the tensordict is in use by another thread", NULL);
        return -1;
    }
    al_error err;
    al_tensordict *td = al_tensordict_new(batch, AL_CPU, &err);
    ext_log_drain();
    if (!td) {
        ext_raise_err(&err, NULL);
        return -1;
    }
    al_survey_free(o->td);
    o->td = td;
    return 0;
}

#define ENTER(o)                                                                                   \
    ext_tensordict *o = (ext_tensordict *)self;                                                    \
    if (ext_td_enter(o) < 0)                                                                       \
    return NULL

static PyObject *td_set(PyObject *self, PyObject *args, PyObject *kw)
{
    static char *names[] = {"key", "value", "temp", NULL};
    const char *key;
    PyObject *value;
    int temp = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "sO|p:set", names, &key, &value, &temp))
        return NULL;
    ENTER(o);
    /* Temporaries are copied, never borrowed: a C cleanup pass (a soft limit, on any thread)
     * drops them, and a borrowed producer's deleter would then wait for the GIL inside that
     * pass, which a thread holding the GIL may be waiting on. */
    al_tensor *t = ext_tensor_from_object(value, !temp);
    if (!t)
        return NULL;
    al_error err;
    int rc = al_tensordict_set(o->td, key, t, temp ? AL_ENTRY_TEMPORARY : 0, &err);
    al_tensor_free(t);
    ext_log_drain();
    if (rc != AL_OK)
        return ext_raise_err(&err, NULL);
    Py_RETURN_NONE;
}

static al_tensor *get_tensor(ext_tensordict *o, const char *key)
{
    al_error err;
    al_tensor *t = al_tensordict_get(o->td, key, &err);
    ext_log_drain();
    if (!t) {
        if (err.code == AL_ENOTFOUND || err.code == AL_EINVAL)
            PyErr_Format(PyExc_KeyError, "%s", key); /* a nested tensordict is not a tensor */
        else
            ext_raise_err(&err, NULL);
    }
    return t;
}

static PyObject *td_get_array(PyObject *self, PyObject *args)
{
    const char *key;
    if (!PyArg_ParseTuple(args, "s:get_array", &key))
        return NULL;
    ENTER(o);
    al_tensor *t = get_tensor(o, key);
    if (!t)
        return NULL;
    PyObject *arr = ext_array_from_tensor(t);
    al_tensor_free(t); /* the array keeps the storage through its DLPack export */
    return arr;
}

static PyObject *td_dlpack(PyObject *self, PyObject *args)
{
    const char *key;
    if (!PyArg_ParseTuple(args, "s:dlpack_capsule", &key))
        return NULL;
    ENTER(o);
    al_tensor *t = get_tensor(o, key);
    if (!t)
        return NULL;
    PyObject *cap = ext_capsule_from_tensor(t);
    al_tensor_free(t);
    return cap;
}

static PyObject *td_data_ptr(PyObject *self, PyObject *args)
{
    const char *key;
    if (!PyArg_ParseTuple(args, "s:data_ptr", &key))
        return NULL;
    ENTER(o);
    const al_tensor *t = al_tensordict_borrow(o->td, key);
    if (!t)
        return PyErr_Format(PyExc_KeyError, "%s", key);
    return PyLong_FromVoidPtr(al_tensor_data(t));
}

static PyObject *td_contains_key(PyObject *self, PyObject *args)
{
    const char *key;
    if (!PyArg_ParseTuple(args, "s:contains", &key))
        return NULL;
    ENTER(o);
    return PyBool_FromLong(al_tensordict_contains(o->td, key));
}

static PyObject *td_is_dict(PyObject *self, PyObject *args)
{
    const char *key;
    if (!PyArg_ParseTuple(args, "s:is_dict", &key))
        return NULL;
    ENTER(o);
    return PyBool_FromLong(al_tensordict_get_dict(o->td, key) != NULL);
}

static PyObject *td_remove(PyObject *self, PyObject *args)
{
    const char *key;
    if (!PyArg_ParseTuple(args, "s:remove", &key))
        return NULL;
    ENTER(o);
    al_error err;
    int rc = al_tensordict_remove(o->td, key, &err);
    ext_log_drain();
    if (rc == AL_ENOTFOUND)
        return PyErr_Format(PyExc_KeyError, "%s", key);
    if (rc != AL_OK)
        return ext_raise_err(&err, NULL);
    Py_RETURN_NONE;
}

/* The direct entries of the tensordict `key` ("" for the root) as (name, is_dict) pairs. */
static PyObject *td_entries(PyObject *self, PyObject *args)
{
    const char *key = "";
    if (!PyArg_ParseTuple(args, "|s:entries", &key))
        return NULL;
    ENTER(o);
    const al_tensordict *td = *key ? al_tensordict_get_dict(o->td, key) : o->td;
    if (!td)
        return PyErr_Format(PyExc_KeyError, "%s", key);
    size_t n = al_tensordict_len(td);
    PyObject *list = PyList_New((Py_ssize_t)n);
    for (size_t i = 0; list && i < n; i++) {
        al_tensordict_entry e;
        if (al_tensordict_entry_at(td, i, &e) != AL_OK) {
            Py_CLEAR(list);
            return ext_raise(AL_EINVAL, "entry index out of range", NULL);
        }
        PyObject *pair = Py_BuildValue("(sO)", e.name, e.dict ? Py_True : Py_False);
        if (!pair)
            Py_CLEAR(list);
        else
            PyList_SET_ITEM(list, (Py_ssize_t)i, pair);
    }
    return list;
}

static PyObject *td_batch(PyObject *self, void *closure)
{
    (void)closure;
    ENTER(o);
    int64_t b = al_tensordict_batch_size(o->td);
    if (b == AL_BATCH_UNSET)
        Py_RETURN_NONE;
    return PyLong_FromLongLong(b);
}

static PyObject *td_cleanup(PyObject *self, PyObject *unused)
{
    (void)unused;
    ENTER(o);
    int n = al_tensordict_cleanup(o->td);
    ext_log_drain();
    return n < 0 ? ext_raise(n, NULL, NULL) : PyLong_FromLong(n);
}

static PyObject *td_clear_temp(PyObject *self, PyObject *unused)
{
    (void)unused;
    ENTER(o);
    int n = al_tensordict_clear_temp_tensors(o->td);
    ext_log_drain();
    return n < 0 ? ext_raise(n, NULL, NULL) : PyLong_FromLong(n);
}

static PyObject *td_memory_info(PyObject *self, PyObject *unused)
{
    (void)unused;
    ENTER(o);
    char *json = al_tensordict_memory_info_json(o->td);
    ext_log_drain();
    return ext_json_take(json);
}

static PyObject *td_optimize(PyObject *self, PyObject *args, PyObject *kw)
{
    static char *names[] = {"lossless", "dry_run", "tolerance", NULL};
    int lossless = 1, dry_run = 0;
    double tolerance = 1e-6;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "|ppd:optimize_memory", names, &lossless, &dry_run,
                                     &tolerance))
        return NULL;
    if (!(tolerance >= 0 && tolerance < 1))
        return PyErr_Format(PyExc_ValueError, "tolerance must be in [0, 1), not %g", tolerance);
    ENTER(o);
    al_optimize_options opts;
    al_optimize_options_init(&opts);
    opts.dry_run = dry_run;
    opts.lossy_float = !lossless;
    opts.tolerance = tolerance;
    al_optimize_report report;
    int rc;
    o->busy = 1;
    PyThreadState *ts = PyEval_SaveThread();
    rc = al_tensordict_optimize_memory(o->td, &opts, &report);
    PyEval_RestoreThread(ts);
    o->busy = 0;
    ext_log_drain();
    if (rc != AL_OK)
        return ext_raise(rc, "optimize_memory failed; the tensordict is unchanged", NULL);
    char *json = al_optimize_report_json(&report);
    al_optimize_report_release(&report);
    return ext_json_take(json);
}

/* The survey metadata (al_survey_info_json) as a dict. */
static PyObject *td_survey_info(PyObject *self, PyObject *unused)
{
    (void)unused;
    ENTER(o);
    return ext_json_take(al_survey_info_json(o->td));
}

static PyObject *td_set_column_meta(PyObject *self, PyObject *args)
{
    const char *name, *unit = NULL, *role = NULL;
    if (!PyArg_ParseTuple(args, "szz:set_column_meta", &name, &unit, &role))
        return NULL;
    ENTER(o);
    if (!al_tensordict_contains(o->td, name))
        return PyErr_Format(PyExc_KeyError, "%s", name);
    int rc = al_survey_set_column(o->td, name, unit, role);
    ext_log_drain();
    return rc == AL_OK ? Py_NewRef(Py_None) : ext_raise(rc, NULL, NULL);
}

static PyObject *td_set_survey_name(PyObject *self, PyObject *args)
{
    const char *name;
    if (!PyArg_ParseTuple(args, "s:set_survey_name", &name))
        return NULL;
    ENTER(o);
    int rc = al_survey_set_name(o->td, name);
    ext_log_drain();
    return rc == AL_OK ? Py_NewRef(Py_None) : ext_raise(rc, NULL, NULL);
}

static PyMethodDef td_methods[] = {
    {"set", (PyCFunction)(void (*)(void))td_set, METH_VARARGS | METH_KEYWORDS,
     "set(key, value, temp=False): store a copy-free view of value (numpy, torch, DLPack)."},
    {"get_array", td_get_array, METH_VARARGS, "A numpy array viewing entry key."},
    {"dlpack_capsule", td_dlpack, METH_VARARGS, "A DLPack capsule of entry key."},
    {"data_ptr", td_data_ptr, METH_VARARGS, "Address of the first element of entry key."},
    {"contains", td_contains_key, METH_VARARGS, "True when key names an entry."},
    {"is_dict", td_is_dict, METH_VARARGS, "True when key names a nested tensordict."},
    {"remove", td_remove, METH_VARARGS, "Remove entry key."},
    {"entries", td_entries, METH_VARARGS, "(name, is_dict) of the direct entries."},
    {"cleanup", td_cleanup, METH_NOARGS, "Release all tensor storage now."},
    {"clear_temp_tensors", td_clear_temp, METH_NOARGS, "Drop the temporary entries."},
    {"memory_info", td_memory_info, METH_NOARGS, "Memory per entry, as a dict."},
    {"optimize_memory", (PyCFunction)(void (*)(void))td_optimize, METH_VARARGS | METH_KEYWORDS,
     "optimize_memory(lossless=True, dry_run=False, tolerance=1e-6): the report as a dict."},
    {"survey_info", td_survey_info, METH_NOARGS, "Survey metadata, as a dict."},
    {"set_column_meta", td_set_column_meta, METH_VARARGS, "Set a column's unit and role."},
    {"set_survey_name", td_set_survey_name, METH_VARARGS, "Set the survey name."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef td_getset[] = {
    {"_batch", td_batch, NULL, "The batch size, or None before the first entry.", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

PyTypeObject ext_TensorDictType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "astrolab._astrolab.TensorDict",
    .tp_basicsize = sizeof(ext_tensordict),
    .tp_dealloc = td_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
    .tp_doc = "A root al_tensordict on the CPU (astrolab.tensors.AstroTensorDict builds on it).",
    .tp_methods = td_methods,
    .tp_getset = td_getset,
    .tp_init = td_init,
    .tp_new = PyType_GenericNew,
    .tp_weaklistoffset = offsetof(ext_tensordict, weakreflist),
};

int ext_tensordict_init(PyObject *module)
{
    if (PyType_Ready(&ext_TensorDictType) < 0)
        return -1;
    return PyModule_AddObjectRef(module, "TensorDict", (PyObject *)&ext_TensorDictType);
}
