/* numpy and DLPack on the C tensors: numpy arrays that view a tensor's storage (and keep it
 * alive: a view outlives td.cleanup() and the tensordict itself, never dangling), tensors made
 * from Python values (zero-copy through DLPack where the producer allows, a copy otherwise),
 * and "dltensor" capsules for torch.utils.dlpack.from_dlpack. */
#include <dlpack/dlpack.h>

#include "ext.h"
#define PY_ARRAY_UNIQUE_SYMBOL astrolab_ARRAY_API
#include <numpy/arrayobject.h>

/* Owns one handle on a tensor (a view sharing its storage): the numpy array's base. The
 * storage lives while it does (a DLPack export would too, but cannot carry strings). */
typedef struct {
    PyObject ob_base; /* PyObject_HEAD, spelled out for clang-format */
    al_tensor *t;
} dl_owner;

static void dl_owner_dealloc(PyObject *self)
{
    al_tensor_free(((dl_owner *)self)->t);
    Py_TYPE(self)->tp_free(self);
}

static PyTypeObject dl_owner_type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "astrolab._astrolab.StorageRef",
    .tp_basicsize = sizeof(dl_owner),
    .tp_dealloc = dl_owner_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Keeps an AstroLab tensor storage alive for the numpy arrays viewing it.",
};

static int numpy_type(al_dtype d)
{
    switch (d) {
    case AL_DTYPE_BOOL:
        return NPY_BOOL;
    case AL_DTYPE_INT8:
        return NPY_INT8;
    case AL_DTYPE_INT16:
        return NPY_INT16;
    case AL_DTYPE_INT32:
        return NPY_INT32;
    case AL_DTYPE_INT64:
        return NPY_INT64;
    case AL_DTYPE_UINT8:
        return NPY_UINT8;
    case AL_DTYPE_UINT16:
        return NPY_UINT16;
    case AL_DTYPE_UINT32:
        return NPY_UINT32;
    case AL_DTYPE_UINT64:
        return NPY_UINT64;
    case AL_DTYPE_FLOAT32:
        return NPY_FLOAT32;
    case AL_DTYPE_FLOAT64:
        return NPY_FLOAT64;
    case AL_DTYPE_STRING:
        return NPY_STRING;
    default:
        return -1;
    }
}

static int al_type(const PyArray_Descr *d, al_dtype *out)
{
    if (d->byteorder == '>') /* not native: callers pass arrays made native first */
        return -1;
    switch (d->type_num) {
    case NPY_BOOL:
        *out = AL_DTYPE_BOOL;
        return 0;
    case NPY_BYTE:
        *out = AL_DTYPE_INT8;
        return 0;
    case NPY_UBYTE:
        *out = AL_DTYPE_UINT8;
        return 0;
    case NPY_SHORT:
        *out = AL_DTYPE_INT16;
        return 0;
    case NPY_USHORT:
        *out = AL_DTYPE_UINT16;
        return 0;
    case NPY_FLOAT:
        *out = AL_DTYPE_FLOAT32;
        return 0;
    case NPY_DOUBLE:
        *out = AL_DTYPE_FLOAT64;
        return 0;
    case NPY_STRING:
        *out = AL_DTYPE_STRING;
        return 0;
    default:
        break;
    }
    if (PyTypeNum_ISINTEGER(d->type_num) && (d->elsize == 4 || d->elsize == 8)) {
        int sign = PyTypeNum_ISSIGNED(d->type_num);
        *out = d->elsize == 4 ? (sign ? AL_DTYPE_INT32 : AL_DTYPE_UINT32)
                              : (sign ? AL_DTYPE_INT64 : AL_DTYPE_UINT64);
        return 0;
    }
    return -1;
}

PyObject *ext_array_from_tensor(const al_tensor *t)
{
    if (al_tensor_device(t).type != AL_DEVICE_CPU)
        return ext_raise(AL_EUNSUPPORTED,
                         "a CUDA tensor has no numpy view: use to_torch(key) or DLPack", NULL);
    int typenum = numpy_type(al_tensor_dtype(t));
    PyArray_Descr *descr = PyArray_DescrNewFromType(typenum);
    if (!descr)
        return NULL;
    if (typenum == NPY_STRING)
        descr->elsize = (int)al_tensor_itemsize(t);
    al_error err;
    al_tensor *view = al_tensor_view(t, &err);
    if (!view) {
        Py_DECREF(descr);
        return ext_raise_err(&err, NULL);
    }
    dl_owner *owner = PyObject_New(dl_owner, &dl_owner_type);
    if (!owner) {
        al_tensor_free(view);
        Py_DECREF(descr);
        return NULL;
    }
    owner->t = view;
    int nd = al_tensor_ndim(t);
    npy_intp dims[AL_TENSOR_MAX_DIMS], strides[AL_TENSOR_MAX_DIMS];
    size_t item = al_tensor_itemsize(t);
    for (int i = 0; i < nd; i++) {
        dims[i] = (npy_intp)al_tensor_shape(t)[i];
        strides[i] = (npy_intp)(al_tensor_strides(t)[i] * (int64_t)item);
    }
    void *data = al_tensor_data(t);
    PyObject *arr = PyArray_NewFromDescr(&PyArray_Type, descr, nd, dims, strides, data,
                                         NPY_ARRAY_WRITEABLE, NULL); /* steals descr */
    if (!arr) {
        Py_DECREF(owner);
        return NULL;
    }
    if (PyArray_SetBaseObject((PyArrayObject *)arr, (PyObject *)owner) < 0) { /* steals owner */
        Py_DECREF(arr);
        return NULL;
    }
    return arr;
}

/* Takes a DLPack export from `value`'s __dlpack__ and wraps it without copying. Returns the
 * tensor; NULL with no exception set when the value cannot export (then the caller copies);
 * NULL with an exception for an error worth reporting. */
static al_tensor *from_dlpack(PyObject *value)
{
    PyObject *cap = PyObject_CallMethod(value, "__dlpack__", NULL);
    if (!cap) {
        PyErr_Clear(); /* read-only or byte-swapped numpy arrays, strings: copied instead */
        return NULL;
    }
    DLManagedTensor *m = PyCapsule_GetPointer(cap, "dltensor");
    if (!m) {
        PyErr_Clear();
        Py_DECREF(cap);
        return NULL;
    }
    al_error err;
    al_tensor *t = al_tensor_from_dlpack(m, &err);
    if (!t) {
        Py_DECREF(cap); /* still named "dltensor": its destructor calls the deleter */
        if (err.code == AL_ENOMEM || err.code == AL_ECUDA_UNAVAILABLE)
            ext_raise_err(&err, NULL);
        return NULL;
    }
    PyCapsule_SetName(cap, "used_dltensor"); /* ours now: the producer's destructor skips it */
    Py_DECREF(cap);
    return t;
}

al_tensor *ext_tensor_from_object(PyObject *value, int borrow)
{
    if (borrow && PyObject_HasAttrString(value, "__dlpack__")) {
        al_tensor *t = from_dlpack(value);
        if (t || PyErr_Occurred())
            return t;
    }
    PyArrayObject *arr =
        (PyArrayObject *)PyArray_FromAny(value, NULL, 0, 0,
                                         NPY_ARRAY_C_CONTIGUOUS | NPY_ARRAY_ALIGNED, NULL);
    if (!arr)
        return NULL;
    if (PyArray_DESCR(arr)->byteorder == '>') { /* FITS data read by astropy is big-endian */
        PyArray_Descr *native = PyArray_DescrNewByteorder(PyArray_DESCR(arr), NPY_NATIVE);
        PyObject *conv = native ? PyArray_FromArray(arr, native, NPY_ARRAY_C_CONTIGUOUS) : NULL;
        Py_DECREF(arr);
        if (!conv)
            return NULL;
        arr = (PyArrayObject *)conv;
    }
    al_dtype dt;
    if (al_type(PyArray_DESCR(arr), &dt) < 0) {
        PyErr_Format(PyExc_TypeError,
                     "cannot store numpy dtype %R in a tensordict: use bool, integers, float32, "
                     "float64 or bytes (dtype 'S'; encode str first)",
                     (PyObject *)PyArray_DESCR(arr));
        Py_DECREF(arr);
        return NULL;
    }
    int nd = PyArray_NDIM(arr);
    if (nd > AL_TENSOR_MAX_DIMS) {
        PyErr_Format(PyExc_ValueError, "at most %d dimensions, not %d", AL_TENSOR_MAX_DIMS, nd);
        Py_DECREF(arr);
        return NULL;
    }
    int64_t shape[AL_TENSOR_MAX_DIMS];
    for (int i = 0; i < nd; i++)
        shape[i] = PyArray_DIM(arr, i);
    al_error err;
    al_tensor *t = al_tensor_from_buffer(dt, (size_t)PyArray_ITEMSIZE(arr), nd, shape,
                                         PyArray_DATA(arr), &err);
    Py_DECREF(arr);
    if (!t)
        ext_raise_err(&err, NULL);
    return t;
}

static void capsule_destructor(PyObject *cap)
{
    if (PyCapsule_IsValid(cap, "dltensor")) { /* never consumed */
        DLManagedTensor *m = PyCapsule_GetPointer(cap, "dltensor");
        if (m->deleter)
            m->deleter(m);
    }
}

PyObject *ext_capsule_from_tensor(const al_tensor *t)
{
    al_error err;
    DLManagedTensor *m = al_tensor_to_dlpack(t, &err);
    if (!m)
        return ext_raise_err(&err, NULL);
    PyObject *cap = PyCapsule_New(m, "dltensor", capsule_destructor);
    if (!cap)
        m->deleter(m);
    return cap;
}

int ext_arrays_init(PyObject *module)
{
    (void)module;
    if (_import_array() < 0)
        return -1;
    return PyType_Ready(&dl_owner_type);
}
