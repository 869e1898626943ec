/* numpy's array data through the tracked allocator (numpy >= 1.22, PyDataMem_SetHandler):
 * every data block gets the tag "numpy.ndarray" and the call site of the Python line that
 * made the array, so statistics and diagnosis show what a pipeline holds, by its own lines.
 *
 * numpy keeps the handler in a context variable, and each array remembers the handler that
 * allocated it: arrays made before the handler was installed (or after it is removed) go back
 * to numpy's default allocator. A context variable is per thread: a thread started later runs
 * with numpy's default until it calls track_numpy() itself.
 *
 * Sites. The manager wants an al_site with static storage per call site. Python lines have
 * none, so each (code object, line) seen gets one record from libc, kept for the life of the
 * process (one per distinct line that allocates arrays: bounded by the program's size). The
 * line is the innermost frame outside numpy's own Python files (np.ones runs numpy/core's
 * numeric.py; the user's line called it). The table is read and written only with the GIL
 * held; an allocation without the GIL (numpy releases it in some loops) takes the site
 * "(numpy, no Python frame)". Each slot holds a reference to its code object, so a code object
 * made and freed at run time (exec, generated functions) can never leave its address, and its
 * records, to another: a bounded cost, as the table stops adding at three quarters full. */
#include <stdlib.h>
#include <string.h>

#include "ext.h"
#define NO_IMPORT_ARRAY
#define PY_ARRAY_UNIQUE_SYMBOL astrolab_ARRAY_API
#include <numpy/arrayobject.h>
#if PY_VERSION_HEX >= 0x030B0000 && PY_VERSION_HEX < 0x030C0000 &&                                 \
    !defined(ASTROLAB_PY_PUBLIC_FRAMES)
#define Py_BUILD_CORE 1
#include <internal/pycore_frame.h> /* _PyInterpreterFrame: see python_site */
#undef Py_BUILD_CORE
#endif

#define TAG "numpy.ndarray"
#define TABLE_BITS 14 /* 16384 sites; beyond that, the frameless site */
#define TABLE_SIZE (1u << TABLE_BITS)

typedef struct {
    const void *code; /* key: the code object ... */
    int pos;          /* ... and an instruction offset (by_line 0) or a line (by_line 1) */
    int by_line;
    al_site *site; /* NULL: a frame of numpy's own Python files */
} slot;

static slot table[TABLE_SIZE];
static size_t used;
static al_site frameless = {"(numpy, no Python frame)", "?", 0, TAG, 0};
al_site ext_numpy_free_site = {"(numpy)", "free", 0, TAG, 0};

static int is_numpy_file(const char *file) { return strstr(file, "/numpy/") != NULL; }

/* The slot of (code, pos, by_line): found, or empty for the caller to fill; NULL when full. */
static slot *lookup(const void *code, int pos, int by_line)
{
    size_t h = ((uintptr_t)code >> 4) * 0x9E3779B97F4A7C15ull ^
               ((size_t)pos * 2 + (size_t)by_line) * 0x85EBCA6Bu;
    for (size_t i = h & (TABLE_SIZE - 1);; i = (i + 1) & (TABLE_SIZE - 1)) {
        slot *s = &table[i];
        if (!s->code)
            return used * 4 < TABLE_SIZE * 3 ? s : NULL; /* three quarters full: stop adding */
        if (s->code == code && s->pos == pos && s->by_line == by_line)
            return s;
    }
}

/* A new site for a line of `code`, or NULL for numpy's own files (&frameless on failure).
 * Keeps any exception the caller had pending: numpy may allocate while one is set. */
static al_site *make_site(PyCodeObject *code, int line)
{
    PyObject *et, *ev, *tb;
    PyErr_Fetch(&et, &ev, &tb);
    const char *file = PyUnicode_AsUTF8(code->co_filename);
    const char *func = PyUnicode_AsUTF8(code->co_name);
    al_site *s = NULL;
    if (file && is_numpy_file(file)) {
        s = NULL;
    } else if (!file || !func) {
        s = &frameless;
    } else {
        s = malloc(sizeof *s);
        char *f = strdup(file), *fn = strdup(func);
        if (!s || !f || !fn) {
            free(s), free(f), free(fn);
            s = &frameless;
        } else {
            *s = (al_site){f, fn, line, TAG, 0};
        }
    }
    PyErr_Clear();
    PyErr_Restore(et, ev, tb);
    return s;
}

/* The site of (code, instruction offset), made on the first visit: the line-table scan runs
 * once per offset; offsets of one line share its site. NULL: numpy's own file; -1 when full. */
static int code_site(PyCodeObject *code, int lasti, int (*line_of)(void *, PyCodeObject *),
                     void *frame, al_site **out)
{
    slot *s = lookup(code, lasti, 0);
    if (s && s->code) {
        *out = s->site;
        return 0;
    }
    int line = line_of(frame, code);
    slot *ls = lookup(code, line, 1);
    if (!ls)
        return -1;
    if (!ls->code) {
        Py_INCREF(code); /* the slot's reference: see the file's head */
        *ls = (slot){code, line, 1, make_site(code, line)};
        used++;
    }
    *out = ls->site;
    s = lookup(code, lasti, 0); /* again: the line's slot may have taken its place */
    if (s && !s->code) {
        Py_INCREF(code);
        *s = (slot){code, lasti, 0, ls->site};
        used++;
    }
    return 0;
}

/* This thread's own thread state, as last confirmed by PyGILState_GetThisThreadState, and its
 * id (unique in its interpreter, never reused: a thread state made later at the same address
 * has another). */
static __attribute__((tls_model("initial-exec"))) _Thread_local PyThreadState *own_ts;
static __attribute__((tls_model("initial-exec"))) _Thread_local uint64_t own_id;

static __attribute__((noinline)) PyThreadState *gil_holder_confirm(PyThreadState *ts)
{
    if (ts != PyGILState_GetThisThreadState())
        return NULL;
    own_ts = ts;
    own_id = ts->id;
    return ts;
}

/* The calling thread's thread state when it holds the GIL, else NULL: the GIL's current
 * thread state is this thread's. Not PyGILState_Check, which answers yes on every thread once
 * a subinterpreter exists or while the interpreter finalizes; a wrong yes would walk another
 * thread's frames. The thread state confirmed last is remembered with its id, so the common
 * case asks Python's thread-specific storage nothing, and a thread state deleted and another
 * made at its address (for another thread) is never taken for it. */
static inline PyThreadState *gil_holder(void)
{
    PyThreadState *ts = _PyThreadState_UncheckedGet();
    if (AL_LIKELY(ts && ts == own_ts && ts->id == own_id))
        return ts;
    return ts ? gil_holder_confirm(ts) : NULL;
}

/* The last (code, offset) asked for and its site: a loop making arrays asks the same one. */
static const void *last_code;
static int last_lasti = -1;
static al_site *last_site;

static al_site *remembered(const void *code, int lasti, al_site *site)
{
    last_code = code, last_lasti = lasti, last_site = site;
    return site;
}

#if PY_VERSION_HEX >= 0x030B0000 && PY_VERSION_HEX < 0x030C0000 &&                                 \
    !defined(ASTROLAB_PY_PUBLIC_FRAMES)
/* CPython 3.11: the interpreter's own frames, read in place. The public calls would make a
 * frame object for every Python frame that allocates an array (PyEval_GetFrame), and take and
 * drop a reference to its code; this is the layout CPython 3.11's own tools read
 * (sys._getframe and the traceback module use the same fields), fixed for the 3.11 series. */
static int line_of_offset(void *lasti, PyCodeObject *code)
{
    return PyCode_Addr2Line(code, (int)(intptr_t)lasti * (int)sizeof(_Py_CODEUNIT));
}

/* The instruction of the frame whose site was found last (its code is last_code), kept when
 * the frame was complete by its position (at or past the code's first traceable instruction):
 * the same code at the same instruction is then complete too, and on the same line. NULL: none
 * (a frame's instruction pointer never is). */
static const _Py_CODEUNIT *last_instr;

static al_site *found(const _PyInterpreterFrame *f, PyCodeObject *code, al_site *site)
{
    last_instr =
        f->prev_instr >= _PyCode_CODE(code) + code->_co_firsttraceable ? f->prev_instr : NULL;
    return site;
}

/* The walk from frame f (the GIL held) outward to the first frame outside numpy's files. */
static __attribute__((noinline)) al_site *python_site_walk(_PyInterpreterFrame *f)
{
    for (int depth = 0; f && depth < 16; f = f->previous) {
        if (_PyFrame_IsIncomplete(f))
            continue;
        PyCodeObject *code = f->f_code;
        int lasti = _PyInterpreterFrame_LASTI(f);
        if (code == last_code && lasti == last_lasti)
            return found(f, code, last_site);
        al_site *s;
        if (code_site(code, lasti, line_of_offset, (void *)(intptr_t)lasti, &s) < 0)
            break;
        if (s)
            return found(f, code, remembered(code, lasti, s));
        depth++; /* numpy's own frame: look at its caller */
    }
    return &frameless;
}

/* The common case inline: the innermost frame is the one asked for last. */
static inline al_site *python_site(void)
{
    PyThreadState *ts = gil_holder();
    if (!ts)
        return &frameless;
    _PyInterpreterFrame *f = ts->cframe->current_frame;
    if (AL_LIKELY(f && f->prev_instr == last_instr && f->f_code == last_code))
        return last_site;
    return python_site_walk(f);
}
#else
/* Other versions: the public frame calls. */
static int line_of_frame(void *frame, PyCodeObject *code)
{
    (void)code;
    return PyFrame_GetLineNumber(frame);
}

static al_site *python_site(void)
{
    if (!gil_holder())
        return &frameless;
    PyFrameObject *f = PyEval_GetFrame(); /* borrowed */
    PyFrameObject *owned = NULL;
    al_site *site = &frameless;
    for (int depth = 0; f && depth < 16; depth++) {
        PyCodeObject *code = PyFrame_GetCode(f);
        int lasti = PyFrame_GetLasti(f);
        al_site *s;
        int rc = code == last_code && lasti == last_lasti
                     ? (s = last_site, 0)
                     : code_site(code, lasti, line_of_frame, f, &s);
        Py_DECREF(code);
        if (rc < 0)
            break;
        if (s) {
            site = remembered(code, lasti, s);
            break;
        }
        PyFrameObject *back = PyFrame_GetBack(f); /* numpy's own frame: look at its caller */
        Py_XDECREF(owned);
        owned = back;
        f = back;
    }
    Py_XDECREF(owned);
    return site;
}
#endif

/* Small blocks go through the library's thread cache (al_malloc_cached / al_free_cached, which
 * are al_malloc / al_free), as numpy's default handler keeps one: an array of a few elements
 * made and dropped in a loop then costs no allocation from the system, and every count stays
 * exact. */
static void *h_malloc(void *ctx, size_t size)
{
    (void)ctx;
    return ext_own_by_process(al_malloc_cached_at(size, python_site()));
}

static void *h_calloc(void *ctx, size_t n, size_t size)
{
    (void)ctx;
    size_t total;
    if (__builtin_mul_overflow(n, size, &total) || total > AL_CACHE_MAX)
        return ext_own_by_process(al_calloc_at(n, size, python_site()));
    void *p = ext_own_by_process(al_malloc_cached_at(total, python_site()));
    return p ? memset(p, 0, total) : NULL;
}

static void *h_realloc(void *ctx, void *p, size_t size)
{
    (void)ctx;
    return ext_own_by_process(al_realloc_at(p, size, python_site()));
}

static void h_free(void *ctx, void *p, size_t size)
{
    (void)ctx, (void)size; /* the block's header knows its size */
    al_free_cached_at(p, &ext_numpy_free_site);
}

static PyDataMem_Handler handler = {
    "astrolab_tracked",
    1,
    {NULL, h_malloc, h_calloc, h_realloc, h_free},
};

static PyObject *handler_capsule;

/* track_numpy(enabled=True): installs (or removes) the handler in this thread's context; returns
 * whether it was installed before. */
static PyObject *track_numpy(PyObject *self, PyObject *args)
{
    (void)self;
    int enable = 1;
    if (!PyArg_ParseTuple(args, "|p:track_numpy", &enable))
        return NULL;
    PyObject *cur = PyDataMem_GetHandler();
    if (!cur)
        return NULL;
    int was = cur == handler_capsule;
    Py_DECREF(cur);
    if (enable && !was) {
        PyObject *old = PyDataMem_SetHandler(handler_capsule);
        if (!old)
            return NULL;
        Py_DECREF(old);
    } else if (!enable && was) {
        al_cache_flush();
        PyObject *old = PyDataMem_SetHandler(NULL); /* NULL: numpy's default */
        if (!old)
            return NULL;
        Py_DECREF(old);
    }
    return PyBool_FromLong(was);
}

PyMethodDef ext_numpy_hook_methods[] = {
    {"track_numpy", track_numpy, METH_VARARGS,
     "track_numpy(enabled=True): numpy array data through the tracked allocator (this thread)."},
    {NULL, NULL, 0, NULL},
};

int ext_numpy_hook_init(PyObject *module)
{
    (void)module;
    handler_capsule = PyCapsule_New(&handler, "mem_handler", NULL);
    return handler_capsule ? 0 : -1;
}
