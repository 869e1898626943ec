/* The astrolab._astrolab extension: declarations shared by its files.
 *
 * One file per concept: module.c (the module and its init), errors.c (AstroLab error codes to
 * Python exceptions), memory.c (stats, scopes, diagnosis, cleanup, the Python cleanup registry's
 * C side), logbridge.c (C log records into Python's logging), tensordict.c (the TensorDict
 * type), arrays.c (numpy views of C tensors and tensors from numpy, DLPack), survey.c (loads
 * and saves), ui.c (panels and the dashboard), numpy_hook.c (numpy's data allocator, through
 * the library's thread cache of small blocks), pymem_hook.c (Python's own allocator domains, on
 * request). Every function here needs the GIL unless it says otherwise. */
#ifndef ASTROLAB_PY_EXT_H
#define ASTROLAB_PY_EXT_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <astrolab/astrolab.h>

/* -------- errors.c -------- */
/* The exception types, created by ext_errors_init and added to the module. */
extern PyObject *ext_AstroLabError; /* base of them all */
int ext_errors_init(PyObject *module);
/* Sets the Python exception for AstroLab error `code` with `message` (may be NULL: the
 * code's text); `path` (may be NULL) becomes the OSError's filename. Returns NULL. */
PyObject *ext_raise(int code, const char *message, const char *path);
/* ext_raise(err->code, err->message, path). */
PyObject *ext_raise_err(const al_error *err, const char *path);

/* -------- logbridge.c -------- */
/* Delivers queued C log records to Python's logging, in order; safe to call at any point
 * where the GIL is held and no AstroLab lock is (every entry point calls it on its way out). */
void ext_log_drain(void);
extern PyMethodDef ext_log_methods[];

/* -------- memory.c -------- */
int ext_memory_init(PyObject *module);
/* The calling thread's innermost scope begun from Python (report-only), or NULL. */
extern _Thread_local al_scope *ext_python_scope;
/* Moves tracked block p out of C scope s, current on the thread, to the process (see
 * memory.c); returns p. */
void *ext_own_by_process_from(void *p, al_scope *s);
/* Moves tracked block p out of any C scope to the process; returns p. */
static inline void *ext_own_by_process(void *p)
{
    al_scope *s;
    return p && (s = al_scope_current()) != NULL ? ext_own_by_process_from(p, s) : p;
}
extern PyMethodDef ext_memory_methods[];
/* A dict of al_memory_stats, the seed's MiB keys included; NULL with an exception. */
PyObject *ext_stats_dict(const al_memory_stats *s);
/* json.loads(text), then free(text); text NULL raises MemoryError. */
PyObject *ext_json_take(char *text);

/* -------- arrays.c -------- */
int ext_arrays_init(PyObject *module);
/* A numpy array viewing the elements of `t` (a CPU tensor), keeping its storage alive through a
 * handle of its own for as long as the array (and its views) live. Does not take t. */
PyObject *ext_array_from_tensor(const al_tensor *t);
/* A new tensor from a Python value: numpy array, DLPack producer or anything numpy.asarray
 * takes; with `borrow`, zero-copy through DLPack where the producer allows, else a copy. NULL
 * with an exception. */
al_tensor *ext_tensor_from_object(PyObject *value, int borrow);
/* A "dltensor" capsule exporting t without copying (for torch.utils.dlpack.from_dlpack). */
PyObject *ext_capsule_from_tensor(const al_tensor *t);

/* -------- tensordict.c, survey.c, ui.c, numpy_hook.c -------- */
int ext_tensordict_init(PyObject *module);
extern PyTypeObject ext_TensorDictType;
typedef struct {
    PyObject ob_base;      /* PyObject_HEAD, spelled out for clang-format */
    al_tensordict *td;     /* owned root tensordict; never NULL after init */
    int busy;              /* a call with the GIL released is using td */
    PyObject *weakreflist; /* weakref support (register_for_cleanup) */
} ext_tensordict;
/* Checks that o is a usable TensorDict not in use by another thread; raises otherwise. */
int ext_td_enter(ext_tensordict *o);
extern PyMethodDef ext_survey_methods[];
extern PyMethodDef ext_ui_methods[];
int ext_numpy_hook_init(PyObject *module);
extern PyMethodDef ext_numpy_hook_methods[];
/* The site of numpy's frees. */
extern al_site ext_numpy_free_site;
extern PyMethodDef ext_pymem_hook_methods[];

#endif /* ASTROLAB_PY_EXT_H */
