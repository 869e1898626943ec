/* The memory manager from Python (SPEC §8 astro_lab.memory): statistics, scopes, diagnosis,
 * forced cleanup, limits, fault injection, and the C side of the Python cleanup registry.
 * The context manager, decorator and registry bookkeeping are Python: astrolab/memory.py.
 *
 * Python scopes are report-only (AL_SCOPE_REPORT_ONLY): a scope never frees a block, because
 * what Python code allocated in it (a numpy array, a tensordict) may well outlive the `with`
 * block, and freeing it would leave Python holding a dangling pointer. The report still says
 * what the scope allocated, freed, peaked at, and what was still live at its end. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "ext.h"

_Thread_local al_scope *ext_python_scope;
static PyObject *json_loads; /* json.loads */
static PyObject *run_from_c; /* astrolab.memory._run_from_c(addresses), set by Python */

PyObject *ext_json_take(char *text)
{
    if (!text)
        return PyErr_NoMemory();
    PyObject *r = PyObject_CallFunction(json_loads, "s", text);
    free(text);
    return r;
}

/* The stats dict's keys (al_memory_stats_fields), made and interned once: building 14 key
 * strings per call was a third of get_memory_stats() (issue 16 asks it under 2 us). */
enum { MAX_STAT_KEYS = 32 };
static PyObject *stat_keys[MAX_STAT_KEYS];
static const al_memory_stats_field *stat_fields;
static size_t n_stat_fields;

/* Interns the keys on first use; false (Python error set) when out of memory, the ones made
 * kept for the next call. */
static bool stat_keys_ready(void)
{
    if (!stat_fields) {
        size_t n;
        const al_memory_stats_field *f = al_memory_stats_fields(&n);
        if (n > MAX_STAT_KEYS) {
            PyErr_SetString(PyExc_SystemError, "astrolab: more statistics than keys");
            return false;
        }
        for (size_t i = 0; i < n; i++)
            if (!stat_keys[i] && !(stat_keys[i] = PyUnicode_InternFromString(f[i].name)))
                return false;
        n_stat_fields = n;
        stat_fields = f; /* last: every key is made */
    }
    return true;
}

PyObject *ext_stats_dict(const al_memory_stats *s)
{
    if (!stat_keys_ready())
        return NULL;
    PyObject *d = PyDict_New();
    for (size_t i = 0; d && i < n_stat_fields; i++) {
        const char *at = (const char *)s + stat_fields[i].offset;
        PyObject *v = stat_fields[i].is_double ? PyFloat_FromDouble(*(const double *)at)
                                               : PyLong_FromUnsignedLongLong(*(const uint64_t *)at);
        if (!v || PyDict_SetItem(d, stat_keys[i], v) < 0)
            Py_CLEAR(d);
        Py_XDECREF(v);
    }
    return d;
}

static PyObject *get_memory_stats(PyObject *self, PyObject *unused)
{
    (void)self, (void)unused;
    al_memory_stats s;
    int rc = al_get_memory_stats(&s);
    ext_log_drain();
    return rc == AL_OK ? ext_stats_dict(&s) : ext_raise(rc, NULL, NULL);
}

static PyObject *reset_peak(PyObject *self, PyObject *unused)
{
    (void)self, (void)unused;
    al_reset_peak_memory_stats();
    Py_RETURN_NONE;
}

/* -------- Scopes: a capsule holds the al_scope until _scope_end. -------- */
#define SCOPE_CAPSULE "astrolab.scope"

static PyObject *scope_begin(PyObject *self, PyObject *args)
{
    (void)self;
    const char *name = "python";
    unsigned long long budget = 0;
    if (!PyArg_ParseTuple(args, "|sK:_scope_begin", &name, &budget))
        return NULL;
    al_scope_options o = {.policy = AL_SCOPE_REPORT_ONLY, .budget_bytes = budget};
    al_scope *s = al_scope_begin_ex(name, &o);
    ext_log_drain();
    if (!s)
        return ext_raise(AL_ENOMEM, "out of memory beginning a scope", NULL);
    PyObject *cap = PyCapsule_New(s, SCOPE_CAPSULE, NULL);
    if (!cap || PyCapsule_SetContext(cap, ext_python_scope) < 0) {
        Py_XDECREF(cap);
        if (al_scope_end(s, NULL) != AL_OK) /* just begun on this thread: cannot fail */
            PyErr_SetString(PyExc_SystemError, "a new scope did not end");
        return NULL;
    }
    ext_python_scope = s;
    return cap;
}

static PyObject *scope_end(PyObject *self, PyObject *cap)
{
    (void)self;
    if (!PyCapsule_IsValid(cap, SCOPE_CAPSULE))
        return ext_raise(AL_ESCOPE, "not a scope, or a scope already ended", NULL);
    al_scope *s = PyCapsule_GetPointer(cap, SCOPE_CAPSULE);
    al_scope_report r;
    void *outer = PyCapsule_GetContext(cap);
    int rc = al_scope_end(s, &r);
    if (rc == AL_OK)
        ext_python_scope = outer;
    ext_log_drain();
    if (rc != AL_OK)
        return ext_raise(rc,
                         "a memory_management scope must end on the thread that began it, "
                         "innermost first",
                         NULL);
    if (PyCapsule_SetName(cap, "astrolab.scope.ended") < 0) /* a second end must not reach C */
        return NULL;
    return Py_BuildValue("{s:s,s:K,s:K,s:K,s:K,s:K,s:K,s:K,s:K,s:K}", "name", r.name,
                         "bytes_allocated", (unsigned long long)r.bytes_allocated, "bytes_freed",
                         (unsigned long long)r.bytes_freed, "peak_bytes",
                         (unsigned long long)r.peak_bytes, "reclaimed_blocks",
                         (unsigned long long)r.reclaimed_blocks, "reclaimed_bytes",
                         (unsigned long long)r.reclaimed_bytes, "cleanups_run",
                         (unsigned long long)r.cleanups_run, "duration_ns",
                         (unsigned long long)r.duration_ns, "blocks_allocated",
                         (unsigned long long)r.blocks_allocated, "kept_blocks",
                         (unsigned long long)r.kept_blocks);
}

/* Memory that Python objects own (array data, Python's own blocks) belongs to them, never to a
 * scope: a C scope that reclaims its blocks (a survey load's, around a Python progress callback)
 * would otherwise free what Python still holds. So a block made while a C scope is current
 * moves out to the process at once; Python's own scopes (report-only) keep theirs, to report
 * them. */
void *ext_own_by_process_from(void *p, al_scope *s)
{
    if (s != ext_python_scope) {
        al_block_info bi;
        for (int i = 0; i < 256 && al_block_get_info(p, &bi) == AL_OK && bi.scope; i++)
            al_scope_keep(p);
    }
    return p;
}

/* -------- Diagnosis, forced cleanup, limits -------- */
static PyObject *diagnose(PyObject *self, PyObject *unused)
{
    (void)self, (void)unused;
    al_diagnosis *d = al_diagnose_memory_leaks();
    char *json = d ? al_diagnosis_json(d) : NULL;
    al_diagnosis_free(d);
    ext_log_drain();
    return ext_json_take(json);
}

/* _count_by_type(objects): [(type, count)] for a list of objects, most numerous first, ties in
 * the order first seen (as a dict would keep them). The seed's object census over
 * gc.get_objects(): tens of thousands of objects, counted in a C table keyed by type, which holds
 * a reference to each type until the result holds its own. */
typedef struct {
    PyObject *type;
    Py_ssize_t count, first;
} census;

static int by_count(const void *a, const void *b)
{
    const census *x = a, *y = b;
    if (x->count != y->count)
        return x->count < y->count ? 1 : -1;
    return (x->first > y->first) - (x->first < y->first);
}

/* Counts the types of objects[0..n) into t (cap entries, a power of two); false when the
 * table is half full before the end (the caller starts again with a bigger one). */
static bool census_fill(PyObject *objects, Py_ssize_t n, census *t, Py_ssize_t cap)
{
    Py_ssize_t used = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *type = (PyObject *)Py_TYPE(PyList_GET_ITEM(objects, i));
        size_t j = ((size_t)type >> 4) * 0x9E3779B97F4A7C15ull & (size_t)(cap - 1);
        while (t[j].type && t[j].type != type)
            j = (j + 1) & (size_t)(cap - 1);
        if (t[j].type) {
            t[j].count++;
        } else if (used * 2 >= cap) {
            return false;
        } else {
            Py_INCREF(type);
            t[j] = (census){type, 1, i};
            used++;
        }
    }
    return true;
}

static void census_clear(census *t, Py_ssize_t cap)
{
    for (Py_ssize_t j = 0; j < cap; j++)
        Py_XDECREF(t[j].type);
    free(t);
}

static PyObject *count_by_type(PyObject *self, PyObject *objects)
{
    (void)self;
    if (!PyList_Check(objects))
        return PyErr_Format(PyExc_TypeError, "_count_by_type wants a list");
    Py_ssize_t n = PyList_GET_SIZE(objects), cap = 256;
    census *t;
    for (;;) {
        t = calloc((size_t)cap, sizeof *t);
        if (!t)
            return PyErr_NoMemory();
        if (census_fill(objects, n, t, cap))
            break;
        census_clear(t, cap);
        cap *= 2;
    }
    Py_ssize_t k = 0;
    for (Py_ssize_t j = 0; j < cap; j++)
        if (t[j].type)
            t[k++] = t[j]; /* k <= j: moves down only */
    for (Py_ssize_t j = k; j < cap; j++)
        t[j].type = NULL;
    qsort(t, (size_t)k, sizeof *t, by_count);
    PyObject *out = PyList_New(k);
    for (Py_ssize_t j = 0; out && j < k; j++) {
        PyObject *pair = Py_BuildValue("(On)", t[j].type, t[j].count);
        if (!pair)
            Py_CLEAR(out);
        else
            PyList_SET_ITEM(out, j, pair);
    }
    census_clear(t, cap);
    return out;
}

/* Set while this thread runs a forced cleanup on behalf of Python: the Python registrations
 * were run by astrolab/memory.py just before, so the C pass skips them. */
static _Thread_local int python_pass;

static PyObject *force_cleanup(PyObject *self, PyObject *unused)
{
    (void)self, (void)unused;
    al_cleanup_result r;
    python_pass = 1;
    PyThreadState *ts = PyEval_SaveThread(); /* release functions may wait for other threads */
    al_cache_flush(); /* the thread cache's blocks are memory a cleanup gives back */
    r = al_force_comprehensive_cleanup();
    PyEval_RestoreThread(ts);
    python_pass = 0;
    ext_log_drain();
    return ext_json_take(al_cleanup_result_json(&r));
}

static PyObject *set_limit(PyObject *self, PyObject *args)
{
    (void)self;
    PyObject *so, *ho;
    if (!PyArg_ParseTuple(args, "O!O!:set_memory_limit", &PyLong_Type, &so, &PyLong_Type, &ho))
        return NULL;
    unsigned long long soft = PyLong_AsUnsignedLongLong(so), hard = PyLong_AsUnsignedLongLong(ho);
    if (PyErr_Occurred())
        return NULL; /* OverflowError for a negative or too large limit */
    int rc = al_memory_set_limit(soft, hard);
    ext_log_drain();
    if (rc != AL_OK)
        return ext_raise(rc, "the soft limit must not exceed the hard limit", NULL);
    Py_RETURN_NONE;
}

static PyObject *fail_after(PyObject *self, PyObject *args)
{
    (void)self;
    long long n;
    int repeat = 0;
    if (!PyArg_ParseTuple(args, "L|p:_fail_after", &n, &repeat))
        return NULL;
    if (n < 0)
        return PyErr_Format(PyExc_ValueError, "n must be >= 0, not %lld", n);
    al_memory_fail_after((uint64_t)n, repeat);
    Py_RETURN_NONE;
}

static PyObject *fail_count(PyObject *self, PyObject *unused)
{
    (void)self, (void)unused;
    return PyLong_FromUnsignedLongLong(al_memory_fail_count());
}

/* -------- The C side of the Python registry --------
 * Each Python registration is an al_register_for_cleanup of the Python object's address (the
 * registry accepts objects it does not own), so C's passes (forced cleanup from any thread, the
 * soft and hard limits) see it, by priority. Those passes may run on any thread, with or
 * without the GIL, while other threads wait in the registry: the release function never takes
 * the GIL. It queues the address and asks the interpreter to run astrolab.memory._run_from_c
 * soon (Py_AddPendingCall needs no GIL), which looks the address up among the live
 * registrations: a registration that died meanwhile is simply not found. */
static struct {
    pthread_mutex_t lock; /* guards addr, n, cap */
    uintptr_t *addr;
    size_t n, cap;
    atomic_bool scheduled;
} pend = {.lock = PTHREAD_MUTEX_INITIALIZER};

static int run_pending(void *unused)
{
    (void)unused;
    atomic_store(&pend.scheduled, false);
    pthread_mutex_lock(&pend.lock);
    size_t n = pend.n;
    uintptr_t *a = pend.addr;
    pend.addr = NULL;
    pend.n = pend.cap = 0;
    pthread_mutex_unlock(&pend.lock);
    PyObject *list = n && run_from_c ? PyList_New((Py_ssize_t)n) : NULL;
    for (size_t i = 0; list && i < n; i++) {
        PyObject *v = PyLong_FromSize_t(a[i]);
        if (!v) {
            Py_CLEAR(list);
            break;
        }
        PyList_SET_ITEM(list, (Py_ssize_t)i, v);
    }
    free(a);
    if (list) {
        PyObject *r = PyObject_CallOneArg(run_from_c, list);
        if (!r)
            PyErr_WriteUnraisable(run_from_c);
        Py_XDECREF(r);
        Py_DECREF(list);
    }
    PyErr_Clear();
    return 0;
}

static atomic_bool finalizing; /* set at interpreter exit: no more pending calls */

static int py_release(void *obj)
{
    if (python_pass || atomic_load(&finalizing))
        return 0;
    pthread_mutex_lock(&pend.lock);
    if (pend.n == pend.cap) {
        size_t cap = pend.cap ? 2 * pend.cap : 16;
        uintptr_t *a = realloc(pend.addr, cap * sizeof *a);
        if (!a) {
            pthread_mutex_unlock(&pend.lock);
            return -1;
        }
        pend.addr = a;
        pend.cap = cap;
    }
    pend.addr[pend.n++] = (uintptr_t)obj;
    pthread_mutex_unlock(&pend.lock);
    if (!atomic_exchange(&pend.scheduled, true) && Py_AddPendingCall(run_pending, NULL) < 0)
        atomic_store(&pend.scheduled, false);
    return 0;
}

static PyObject *c_register(PyObject *self, PyObject *args)
{
    (void)self;
    PyObject *obj;
    const char *type;
    int priority;
    if (!PyArg_ParseTuple(args, "Osi:_register", &obj, &type, &priority))
        return NULL;
    al_handle h = al_register_for_cleanup_priority(obj, py_release, type, priority);
    ext_log_drain();
    if (!h)
        return ext_raise(AL_ENOMEM, "out of memory registering for cleanup", NULL);
    return PyLong_FromUnsignedLongLong(h);
}

static PyObject *c_unregister(PyObject *self, PyObject *arg)
{
    (void)self;
    unsigned long long h = PyLong_AsUnsignedLongLong(arg);
    if (PyErr_Occurred())
        return NULL;
    int rc;
    PyThreadState *ts = PyEval_SaveThread(); /* waits while a C pass runs this registration */
    rc = al_unregister(h);
    PyEval_RestoreThread(ts);
    return PyBool_FromLong(rc == AL_OK);
}

static PyObject *set_run_from_c(PyObject *self, PyObject *fn)
{
    (void)self;
    if (!PyCallable_Check(fn))
        return PyErr_Format(PyExc_TypeError, "expected a callable");
    Py_XSETREF(run_from_c, Py_NewRef(fn));
    Py_RETURN_NONE;
}

/* _astrolab._registry_shutdown(): at interpreter exit, C passes stop calling into Python. */
static PyObject *registry_shutdown(PyObject *self, PyObject *unused)
{
    (void)self, (void)unused;
    atomic_store(&finalizing, true);
    Py_RETURN_NONE;
}

static PyObject *registry_json(PyObject *self, PyObject *unused)
{
    (void)self, (void)unused;
    return ext_json_take(al_registry_json(1000));
}

static PyObject *get_thresholds(PyObject *self, PyObject *unused)
{
    (void)self, (void)unused;
    al_diagnosis_thresholds t;
    if (al_diagnosis_get_thresholds(&t) != AL_OK)
        return ext_raise(AL_EINVAL, NULL, NULL);
    return Py_BuildValue("{s:K,s:K,s:K}", "object_count", (unsigned long long)t.object_count,
                         "memory_bytes", (unsigned long long)t.memory_bytes, "cuda_bytes",
                         (unsigned long long)t.cuda_bytes);
}

PyMethodDef ext_memory_methods[] = {
    {"_count_by_type", count_by_type, METH_O, "[(type, count)] of a list, most numerous first."},
    {"get_memory_stats", get_memory_stats, METH_NOARGS, "The manager's statistics as a dict."},
    {"reset_peak_memory_stats", reset_peak, METH_NOARGS, "Set the peaks to the current figures."},
    {"_scope_begin", scope_begin, METH_VARARGS, "Begin a report-only scope on this thread."},
    {"_scope_end", scope_end, METH_O, "End a scope; its report as a dict."},
    {"_diagnose", diagnose, METH_NOARGS, "al_diagnose_memory_leaks as a dict."},
    {"_force_cleanup", force_cleanup, METH_NOARGS, "al_force_comprehensive_cleanup as a dict."},
    {"set_memory_limit", set_limit, METH_VARARGS, "Soft and hard limits in bytes (0: none)."},
    {"_fail_after", fail_after, METH_VARARGS, "Fault injection: al_memory_fail_after(n, repeat)."},
    {"_fail_count", fail_count, METH_NOARGS, "Allocations failed by injection."},
    {"_register", c_register, METH_VARARGS, "Register a Python object with the C registry."},
    {"_unregister", c_unregister, METH_O, "Remove a C registration."},
    {"_set_run_from_c", set_run_from_c, METH_O, "The Python side of C-triggered cleanups."},
    {"_registry_json", registry_json, METH_NOARGS, "al_registry_json as a dict."},
    {"_registry_shutdown", registry_shutdown, METH_NOARGS, "No C pass reaches Python any more."},
    {"_thresholds", get_thresholds, METH_NOARGS, "The diagnosis thresholds."},
    {NULL, NULL, 0, NULL},
};

int ext_memory_init(PyObject *module)
{
    (void)module;
    PyObject *json = PyImport_ImportModule("json");
    if (!json)
        return -1;
    json_loads = PyObject_GetAttrString(json, "loads");
    Py_DECREF(json);
    return json_loads ? 0 : -1;
}
