/* Python's own allocator domains in the one ledger, on request: track_python(True) routes
 * PyMem_Malloc (PYMEM_DOMAIN_MEM) and PyObject_Malloc (PYMEM_DOMAIN_OBJ) through the tracked
 * allocator, tagged "python.mem" and "python.object". Off by default: every Python object
 * then costs a tracked allocation instead of pymalloc's free-list pop. The raw domain is left
 * alone (it runs without the GIL, before the interpreter exists, and in its teardown).
 *
 * The hooks are installed once and stay: blocks from the previous allocator go back to it and
 * tracked blocks to al_free (al_owns tells them apart), so turning tracking on or off at any
 * time is safe; off only stops new blocks from being tracked. Blocks carry one site per domain:
 * a Python frame lookup per object allocation would cost more than the allocation itself. */
#include <stdatomic.h>

#include "ext.h"

static al_site mem_site = {"(python PyMem_Malloc)", "?", 0, "python.mem", 0};
static al_site obj_site = {"(python PyObject_Malloc)", "?", 0, "python.object", 0};

typedef struct {
    PyMemAllocatorEx old;
    al_site *site;
} domain;

static domain mem_domain = {.site = &mem_site}, obj_domain = {.site = &obj_site};
static atomic_int enabled;
static int installed;

static void *h_malloc(void *ctx, size_t n)
{
    domain *d = ctx;
    if (!atomic_load_explicit(&enabled, memory_order_relaxed))
        return d->old.malloc(d->old.ctx, n);
    return ext_own_by_process(al_malloc_at(n ? n : 1, d->site));
}

static void *h_calloc(void *ctx, size_t n, size_t size)
{
    domain *d = ctx;
    if (!atomic_load_explicit(&enabled, memory_order_relaxed))
        return d->old.calloc(d->old.ctx, n, size);
    return ext_own_by_process(al_calloc_at(n ? n : 1, size ? size : 1, d->site));
}

static void *h_realloc(void *ctx, void *p, size_t n)
{
    domain *d = ctx;
    if (!p)
        return h_malloc(ctx, n);
    if (al_owns(p)) /* Python's realloc to 0 keeps a block: 1 byte, never al_realloc's free */
        return ext_own_by_process(al_realloc_at(p, n ? n : 1, d->site));
    return d->old.realloc(d->old.ctx, p, n);
}

static void h_free(void *ctx, void *p)
{
    domain *d = ctx;
    if (!p)
        return;
    if (al_owns(p))
        al_free_at(p, d->site);
    else
        d->old.free(d->old.ctx, p);
}

static void install(PyMemAllocatorDomain which, domain *d)
{
    PyMem_GetAllocator(which, &d->old);
    PyMemAllocatorEx a = {d, h_malloc, h_calloc, h_realloc, h_free};
    PyMem_SetAllocator(which, &a);
}

/* track_python(enabled): Python's allocator domains through the tracked allocator; returns the
 * previous setting. */
static PyObject *track_python(PyObject *self, PyObject *args)
{
    (void)self;
    int on;
    if (!PyArg_ParseTuple(args, "p:track_python", &on))
        return NULL;
    if (on && !installed) { /* the GIL serializes this with every allocation in these domains */
        install(PYMEM_DOMAIN_MEM, &mem_domain);
        install(PYMEM_DOMAIN_OBJ, &obj_domain);
        installed = 1;
    }
    return PyBool_FromLong(atomic_exchange(&enabled, on));
}

PyMethodDef ext_pymem_hook_methods[] = {
    {"track_python", track_python, METH_VARARGS,
     "track_python(enabled): Python's own allocations through the tracked allocator."},
    {NULL, NULL, 0, NULL},
};
