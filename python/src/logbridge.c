/* C log records into Python's logging (SPEC §8, issue 16 item 6).
 *
 * The sink never touches Python: any thread (a loader running with the GIL released, the
 * dashboard's server threads, a thread Python never saw) may log, and the sink may run while
 * the memory manager holds one of its locks, so calling Python code there could deadlock (on
 * the GIL, or on that lock if the handler allocates). The sink only appends the record to a
 * FIFO (libc malloc: the sink must not come back into the tracked allocator) and asks the
 * interpreter, with Py_AddPendingCall (callable without the GIL), to drain it soon. Every
 * entry point of the extension drains the FIFO too before it returns, so a record logged
 * during a call reaches the handlers before the call returns. One drainer at a time delivers,
 * so records reach Python in the order they were logged. A record that cannot be queued
 * (libc malloc failed) is counted and the count reported with the next record delivered.
 *
 * Levels: Python owns them. The C level of "astrolab.<m>" is the lower of the Python effective
 * levels of "astro_lab.<m>" and "astrolab.<m>", synchronised by astrolab/_logging.py whenever
 * a Python logger's level changes (sync_levels below). A record goes to "astro_lab.<m>" when
 * that logger is enabled for its level, else to "astrolab.<m>". */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "ext.h"

typedef struct record {
    struct record *next;
    int level;
    char logger[AL_LOG_NAME_MAX + 1];
    char message[]; /* NUL-terminated */
} record;

static struct {
    pthread_mutex_t lock;  /* guards head, tail, dropped */
    record *head, *tail;   /* FIFO of records not yet delivered */
    uint64_t dropped;      /* records lost to a failed malloc since the last report */
    atomic_bool scheduled; /* a pending call to drain is queued */
    PyObject *deliver;     /* astrolab._logging.deliver(level, logger, message) */
    int draining;          /* a drain runs (GIL held to read or write) */
    int installed;         /* our sink is installed */
} q = {.lock = PTHREAD_MUTEX_INITIALIZER};

static int pending_drain(void *unused)
{
    (void)unused;
    atomic_store(&q.scheduled, false);
    ext_log_drain();
    return 0; /* a failing handler is logging's business (it prints and goes on) */
}

static void sink(void *user, al_log_level level, const char *logger, const char *message)
{
    (void)user;
    size_t len = strlen(message) + 1;
    record *r = malloc(sizeof *r + len);
    pthread_mutex_lock(&q.lock);
    if (!r) {
        q.dropped++;
    } else {
        r->next = NULL;
        r->level = (int)level;
        snprintf(r->logger, sizeof r->logger, "%s", logger ? logger : "astrolab");
        memcpy(r->message, message, len);
        if (q.tail)
            q.tail->next = r;
        else
            q.head = r;
        q.tail = r;
    }
    pthread_mutex_unlock(&q.lock);
    if (!atomic_exchange(&q.scheduled, true) && Py_AddPendingCall(pending_drain, NULL) < 0)
        atomic_store(&q.scheduled,
                     false); /* the interpreter's queue is full: the next call drains */
}

static record *pop(uint64_t *dropped)
{
    pthread_mutex_lock(&q.lock);
    record *r = q.head;
    if (r) {
        q.head = r->next;
        if (!q.head)
            q.tail = NULL;
    }
    *dropped = q.dropped;
    q.dropped = 0;
    pthread_mutex_unlock(&q.lock);
    return r;
}

static void deliver(int level, const char *logger, const char *message)
{
    PyObject *res = PyObject_CallFunction(q.deliver, "iss", level, logger, message);
    if (!res)
        PyErr_WriteUnraisable(q.deliver); /* a handler's error must not become the call's */
    Py_XDECREF(res);
}

void ext_log_drain(void)
{
    if (!q.deliver || q.draining || !q.head) /* q.head read without the lock: a hint only */
        return;
    q.draining = 1;
    /* Keep the caller's exception (a call failing with records to deliver) across handlers. */
    PyObject *et, *ev, *tb;
    PyErr_Fetch(&et, &ev, &tb);
    uint64_t dropped;
    record *r;
    while ((r = pop(&dropped)) != NULL) {
        if (dropped) {
            char text[96];
            snprintf(text, sizeof text, "%llu log records lost: out of memory to queue them",
                     (unsigned long long)dropped);
            deliver(AL_LOG_ERROR, "astrolab.log", text);
        }
        deliver(r->level, r->logger, r->message);
        free(r);
    }
    PyErr_Restore(et, ev, tb);
    q.draining = 0;
}

/* _astrolab._log_install(deliver): installs the sink, deliver(level, logger, message). */
static PyObject *log_install(PyObject *self, PyObject *fn)
{
    (void)self;
    if (!PyCallable_Check(fn))
        return PyErr_Format(PyExc_TypeError, "deliver must be callable, not %.100s",
                            Py_TYPE(fn)->tp_name);
    Py_XSETREF(q.deliver, Py_NewRef(fn));
    if (!q.installed) {
        al_log_set_sink(sink, NULL, NULL);
        q.installed = 1;
    }
    Py_RETURN_NONE;
}

/* _astrolab._log_set_level(name, level): the C level of a logger (from Python's). */
static PyObject *log_set_level(PyObject *self, PyObject *args)
{
    (void)self;
    const char *name;
    int level;
    if (!PyArg_ParseTuple(args, "si:_log_set_level", &name, &level))
        return NULL;
    int rc = al_log_set_level(name, (al_log_level)level);
    if (rc != AL_OK)
        return ext_raise(rc, "bad logger name or level", NULL);
    Py_RETURN_NONE;
}

/* _astrolab._log(level, logger, message): logs through al_log, as C code would. */
static PyObject *log_emit(PyObject *self, PyObject *args)
{
    (void)self;
    int level;
    const char *logger, *message;
    if (!PyArg_ParseTuple(args, "iss:_log", &level, &logger, &message))
        return NULL;
    if (level < AL_LOG_DEBUG || level > AL_LOG_ERROR)
        return PyErr_Format(PyExc_ValueError, "level must be 10..40, not %d", level);
    al_log((al_log_level)level, logger, "%s", message);
    ext_log_drain();
    Py_RETURN_NONE;
}

typedef struct {
    int index, count;
} thread_arg;

static void *log_thread(void *p)
{
    thread_arg *a = p;
    for (int i = 0; i < a->count; i++)
        al_log(AL_LOG_WARNING, "astrolab.memory", "thread %d record %d", a->index, i);
    return NULL;
}

/* _astrolab._log_from_threads(threads, records): starts `threads` C threads (never seen by
 * Python) that each log `records` WARNING records "thread T record I", and joins them, with the
 * GIL released all along: the situation the FIFO exists for. For the tests. */
static PyObject *log_from_threads(PyObject *self, PyObject *args)
{
    (void)self;
    int n, count;
    if (!PyArg_ParseTuple(args, "ii:_log_from_threads", &n, &count))
        return NULL;
    if (n < 1 || n > 64 || count < 0)
        return PyErr_Format(PyExc_ValueError, "threads must be 1..64 and records >= 0");
    pthread_t tid[64];
    thread_arg arg[64];
    int started = 0, rc = 0;
    PyThreadState *ts = PyEval_SaveThread();
    for (; started < n; started++) {
        arg[started] = (thread_arg){started, count};
        if ((rc = pthread_create(&tid[started], NULL, log_thread, &arg[started])) != 0)
            break;
    }
    for (int i = 0; i < started; i++)
        pthread_join(tid[i], NULL);
    PyEval_RestoreThread(ts);
    ext_log_drain();
    if (rc)
        return PyErr_Format(PyExc_OSError, "pthread_create: %s", strerror(rc));
    Py_RETURN_NONE;
}

/* _astrolab._log_uninstall(): at interpreter exit (atexit), before finalization: delivers what
 * is queued and gives the C library its stderr sink back, so that records logged later (the
 * leak report, other atexit handlers, library destructors) never reach a finalized
 * interpreter through Py_AddPendingCall. */
static PyObject *log_uninstall(PyObject *self, PyObject *unused)
{
    (void)self, (void)unused;
    ext_log_drain();
    if (q.installed) {
        PyThreadState *ts = PyEval_SaveThread(); /* waits for sinks running on other threads */
        al_log_set_sink(NULL, NULL, NULL);
        PyEval_RestoreThread(ts);
        q.installed = 0;
    }
    ext_log_drain(); /* what those last sinks queued */
    Py_RETURN_NONE;
}

static PyObject *log_drain(PyObject *self, PyObject *unused)
{
    (void)self, (void)unused;
    ext_log_drain();
    Py_RETURN_NONE;
}

PyMethodDef ext_log_methods[] = {
    {"_log_install", log_install, METH_O, "Install the sink that feeds Python's logging."},
    {"_log_set_level", log_set_level, METH_VARARGS, "Set a C logger's level."},
    {"_log", log_emit, METH_VARARGS, "Log a record through the C logger."},
    {"_log_from_threads", log_from_threads, METH_VARARGS, "Log from C threads (tests)."},
    {"flush_logs", log_drain, METH_NOARGS, "Deliver the queued C log records now."},
    {"_log_uninstall", log_uninstall, METH_NOARGS, "Restore the C library's own sink."},
    {NULL, NULL, 0, NULL},
};
