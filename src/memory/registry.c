/* The cleanup registry and weak references: the objects the manager watches without owning.
 *
 * Both are one concept and share one table and one lock: a "watched" record per object
 * address holds the object's registrations (release functions) and its weak references. A
 * tracked object gets ALI_BLOCK_WATCHED in its header, so al_free, realloc moves and scope
 * reclaim call ali_registry_on_free, which drops the record: a registration never keeps an
 * object alive, and a weak reference reads NULL from then on. Objects the manager does not own
 * may be registered too; only al_unregister removes those.
 *
 * Release functions run without the lock (they call al_free, which comes back here). While one
 * runs, its registration is marked with the running thread; a free or al_unregister of that
 * object on another thread waits for it to return, so a release function never sees its object
 * freed under it. Passes are serialized by their own lock, so two release functions never run
 * at once and such waits cannot form a cycle. The comprehensive cleanup is in cleanup.c, the
 * soft and hard limits in limits.c.
 *
 * The registry's memory is bookkeeping (the backing allocator, never tracked), except the
 * al_weak objects handed to callers, which are tracked blocks tagged "al_weak" owned by the
 * process (see al_weak_ref). Fault injection reaches the bookkeeping as allocations tagged
 * "al_registry", so callers' error paths for a failed registration can be tested. */
#include <cjson/cJSON.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "astrolab/log.h"
#include "memory_int.h"
#include "registry_int.h"
#include "reports_int.h"
#include "util/assert_int.h"
#include "util/json_int.h"

#define REG_FAULT_TAG "al_registry"
#define TYPE_NAME_MAX 64 /* type name shown in a failure message, truncated */

/* Intrusive chained hash table node: `key` is a handle or an object address. */
typedef struct node {
    struct node *next;
    uint64_t key;
} node;

typedef struct table {
    node **buckets;
    unsigned bits; /* 1 << bits buckets; 0 before the first insert */
    size_t count;
} table;

typedef struct reg_entry {
    node hn; /* in reg.by_handle, key = handle */
    void *obj;
    al_release_fn fn;
    int priority;
    unsigned runner;         /* al_thread_id() of the thread running fn now; 0: not running */
    char *type;              /* copy of the type name */
    struct reg_entry *onext; /* next registration of the same object */
} reg_entry;

struct al_weak {
    _Atomic(void *) obj;  /* the object, NULL once freed: written under reg.lock, read
                             without it */
    struct al_weak *next; /* in the object's list; reg.lock */
    struct al_weak *prev;
};

typedef struct watched {
    node n; /* in reg.by_obj, key = address */
    reg_entry *regs;
    al_weak *weaks;
} watched;

static struct {
    pthread_mutex_t lock;  /* guards every field below */
    pthread_cond_t done;   /* signalled when a release function returns */
    table by_handle;       /* reg_entry by handle */
    table by_obj;          /* watched by object address */
    al_handle last_handle; /* handles are never reused */
    unsigned waiters;      /* threads waiting for a release function to return */
} reg = {.lock = PTHREAD_MUTEX_INITIALIZER, .done = PTHREAD_COND_INITIALIZER};

/* Serializes release passes; taken before reg.lock, never while holding it. */
static pthread_mutex_t pass_lock = PTHREAD_MUTEX_INITIALIZER;

static ALI_TLS bool in_cleanup;

bool ali_cleanup_enter(void)
{
    if (in_cleanup)
        return false;
    in_cleanup = true;
    return true;
}

void ali_cleanup_leave(void) { in_cleanup = false; }

bool ali_cleanup_held(void) { return in_cleanup; }

/* -------- Hash tables -------- */

static size_t bucket_of(const table *t, uint64_t key)
{
    return (size_t)((key * 0x9E3779B97F4A7C15ull) >> (64 - t->bits));
}

static node *table_find(const table *t, uint64_t key)
{
    if (!t->bits)
        return NULL;
    for (node *n = t->buckets[bucket_of(t, key)]; n; n = n->next)
        if (n->key == key)
            return n;
    return NULL;
}

/* Doubles the buckets; on failure keeps the old ones (longer chains, still correct). */
static void table_grow(table *t)
{
    unsigned bits = t->bits ? t->bits + 1 : 6;
    node **nb = ali_internal_calloc((size_t)1 << bits, sizeof *nb);
    if (!nb)
        return;
    table old = *t;
    t->buckets = nb;
    t->bits = bits;
    for (size_t i = 0; old.bits && i < (size_t)1 << old.bits; i++) {
        for (node *n = old.buckets[i], *next; n; n = next) {
            next = n->next;
            size_t b = bucket_of(t, n->key);
            n->next = nb[b];
            nb[b] = n;
        }
    }
    ali_internal_free(old.buckets);
}

/* False only when the table has no buckets and none could be made. */
static bool table_insert(table *t, node *n)
{
    if (!t->bits || t->count >= (size_t)1 << t->bits)
        table_grow(t);
    if (!t->bits)
        return false;
    size_t b = bucket_of(t, n->key);
    n->next = t->buckets[b];
    t->buckets[b] = n;
    t->count++;
    return true;
}

static void table_remove(table *t, node *n)
{
    for (node **pp = &t->buckets[bucket_of(t, n->key)]; *pp; pp = &(*pp)->next) {
        if (*pp == n) {
            *pp = n->next;
            t->count--;
            return;
        }
    }
}

/* -------- Bookkeeping memory -------- */

static void *bk_alloc(size_t n)
{
    if (AL_UNLIKELY((ali_gates_now() & ALI_GATE_FAULT)) &&
        ali_fault_should_fail(REG_FAULT_TAG, NULL))
        return NULL;
    return ali_internal_alloc(n);
}

static void entry_free(reg_entry *e)
{
    ali_internal_free(e->type);
    ali_internal_free(e);
}

static watched *watched_find(const void *obj)
{
    return (watched *)table_find(&reg.by_obj, (uintptr_t)obj);
}

/* The record of obj, made from *spare (set to NULL when used) when there is none. NULL when
 * the table cannot be made. */
static watched *watched_get(void *obj, watched **spare)
{
    watched *w = watched_find(obj);
    if (w)
        return w;
    w = *spare;
    memset(w, 0, sizeof *w);
    w->n.key = (uintptr_t)obj;
    if (!table_insert(&reg.by_obj, &w->n))
        return NULL;
    *spare = NULL;
    return w;
}

/* Drops w from the table once nothing is left in it. */
static void watched_drop_if_empty(watched *w)
{
    if (w->regs || w->weaks)
        return;
    table_remove(&reg.by_obj, &w->n);
    ali_internal_free(w);
}

static void mark_watched(void *obj)
{
    if (al_owns(obj))
        ali_block_watch(ali_block_of(obj));
}

/* Waits (reg.lock held) until a release function running on another thread returns. */
static void wait_for_release(void)
{
    reg.waiters++;
    pthread_cond_wait(&reg.done, &reg.lock);
    reg.waiters--;
}

/* -------- Registrations -------- */

al_handle al_register_for_cleanup_priority(void *obj, al_release_fn release, const char *type,
                                           int priority)
{
    if (!obj || !release || !type) {
        al_log(AL_LOG_ERROR, ALI_LOGGER, "al_register_for_cleanup: %s is NULL; nothing registered",
               !obj       ? "the object"
               : !release ? "the release function"
                          : "the type name");
        return 0;
    }
    size_t len = strlen(type) + 1;
    reg_entry *e = bk_alloc(sizeof *e);
    char *copy = e ? bk_alloc(len) : NULL;
    watched *spare = copy ? bk_alloc(sizeof *spare) : NULL;
    if (!spare) {
        ali_internal_free(copy);
        ali_internal_free(e);
        ali_memory_error("al_register_for_cleanup of %s at %p: out of memory for the registry",
                         type, obj);
        return 0;
    }
    memcpy(copy, type, len);
    *e = (reg_entry){.obj = obj, .fn = release, .priority = priority, .type = copy};

    pthread_mutex_lock(&reg.lock);
    watched *w = watched_get(obj, &spare);
    e->hn.key = reg.last_handle + 1;
    if (w && table_insert(&reg.by_handle, &e->hn)) {
        reg.last_handle++;
        e->onext = w->regs;
        w->regs = e;
        mark_watched(obj);
    } else {
        if (w)
            watched_drop_if_empty(w);
        e->hn.key = 0;
    }
    pthread_mutex_unlock(&reg.lock);

    ali_internal_free(spare);
    al_handle h = e->hn.key;
    if (!h) {
        entry_free(e);
        ali_memory_error("al_register_for_cleanup of %s at %p: out of memory for the registry",
                         type, obj);
    }
    return h;
}

al_handle al_register_for_cleanup(void *obj, al_release_fn release, const char *type)
{
    return al_register_for_cleanup_priority(obj, release, type, AL_PRIORITY_DEFAULT);
}

/* Unlinks e from its object's list and from the handle table (reg.lock held). */
static void entry_unlink(reg_entry *e)
{
    table_remove(&reg.by_handle, &e->hn);
    watched *w = watched_find(e->obj);
    if (!w)
        return;
    for (reg_entry **pp = &w->regs; *pp; pp = &(*pp)->onext) {
        if (*pp == e) {
            *pp = e->onext;
            break;
        }
    }
    watched_drop_if_empty(w);
}

int al_unregister(al_handle h)
{
    unsigned self = al_thread_id();
    pthread_mutex_lock(&reg.lock);
    reg_entry *e;
    while ((e = (reg_entry *)table_find(&reg.by_handle, h)) && e->runner && e->runner != self)
        wait_for_release();
    if (e)
        entry_unlink(e);
    pthread_mutex_unlock(&reg.lock);
    if (!e)
        return AL_ENOTFOUND;
    entry_free(e);
    return AL_OK;
}

/* One registration, copied out under the lock for al_registry_json. */
typedef struct reg_view {
    al_handle handle;
    uintptr_t obj;
    int priority;
    bool running;
    uint64_t bytes;
    char type[TYPE_NAME_MAX];
} reg_view;

cJSON *ali_registry_cjson(size_t max)
{
    /* Copy under the lock, build the JSON after it: cJSON allocates, and under the preload
     * library allocating may run a limit's cleanup, which takes this lock. */
    pthread_mutex_lock(&reg.lock);
    size_t total = reg.by_handle.count, n = total < max ? total : max, k = 0;
    reg_view *v = n ? ali_internal_calloc(n, sizeof *v) : NULL;
    for (size_t b = 0; v && reg.by_handle.bits && b < ((size_t)1 << reg.by_handle.bits); b++)
        for (node *nd = reg.by_handle.buckets[b]; nd && k < n; nd = nd->next) {
            reg_entry *e = (reg_entry *)nd;
            v[k] = (reg_view){.handle = nd->key,
                              .obj = (uintptr_t)e->obj,
                              .priority = e->priority,
                              .running = e->runner != 0,
                              /* the object cannot be freed past ali_registry_on_free while
                                 the lock is held, so its header is safe to read */
                              .bytes = al_block_size(e->obj)};
            snprintf(v[k].type, sizeof v[k].type, "%s", e->type ? e->type : "");
            k++;
        }
    pthread_mutex_unlock(&reg.lock);
    if (n && !v)
        return NULL;
    cJSON *o = cJSON_CreateObject(), *arr = cJSON_CreateArray();
    bool ok = o && arr && cJSON_AddNumberToObject(o, "registrations", (double)total);
    for (size_t i = 0; ok && i < k; i++) {
        cJSON *e = cJSON_CreateObject();
        char addr[32];
        snprintf(addr, sizeof addr, "%#lx", (unsigned long)v[i].obj);
        ok = e && cJSON_AddItemToArray(arr, e) &&
             cJSON_AddNumberToObject(e, "handle", (double)v[i].handle) &&
             cJSON_AddStringToObject(e, "type", v[i].type) &&
             cJSON_AddStringToObject(e, "address", addr) &&
             cJSON_AddNumberToObject(e, "priority", v[i].priority) &&
             cJSON_AddNumberToObject(e, "bytes", (double)v[i].bytes) &&
             cJSON_AddBoolToObject(e, "running", v[i].running);
    }
    ali_internal_free(v);
    ok = ok && cJSON_AddItemToObject(o, "objects", arr);
    if (ok)
        return o;
    cJSON_Delete(arr);
    cJSON_Delete(o);
    return NULL;
}

char *al_registry_json(size_t max) { return ali_json_finish(ali_registry_cjson(max), true); }

size_t al_registry_count(void)
{
    pthread_mutex_lock(&reg.lock);
    size_t n = reg.by_handle.count;
    pthread_mutex_unlock(&reg.lock);
    return n;
}

void ali_registry_on_free(void *p)
{
    unsigned self = al_thread_id();
    reg_entry *dropped = NULL;
    watched *w;
    pthread_mutex_lock(&reg.lock);
    for (;;) {
        w = watched_find(p);
        if (!w)
            break;
        bool busy = false;
        for (reg_entry *e = w->regs; e && !busy; e = e->onext)
            busy = e->runner && e->runner != self;
        if (!busy)
            break;
        wait_for_release(); /* then look again: the record may have changed meanwhile */
    }
    if (w) {
        table_remove(&reg.by_obj, &w->n);
        for (reg_entry *e = w->regs; e; e = e->onext)
            table_remove(&reg.by_handle, &e->hn);
        dropped = w->regs;
        for (al_weak *k = w->weaks, *next; k; k = next) {
            next = k->next;
            atomic_store_explicit(&k->obj, NULL, memory_order_release);
            k->next = k->prev = NULL;
        }
    }
    pthread_mutex_unlock(&reg.lock);
    for (reg_entry *e = dropped, *next; e; e = next) {
        next = e->onext;
        entry_free(e);
    }
    ali_internal_free(w);
}

/* -------- Release passes -------- */

typedef struct snap {
    al_handle handle;
    int priority;
} snap;

static int snap_cmp(const void *a, const void *b)
{
    const snap *x = a, *y = b;
    if (x->priority != y->priority)
        return x->priority < y->priority ? -1 : 1;
    return x->handle < y->handle ? -1 : x->handle > y->handle;
}

/* Runs the release function of registration h, if it still exists. */
static void run_one(al_handle h, unsigned self, ali_release_counts *counts)
{
    char type[TYPE_NAME_MAX];
    pthread_mutex_lock(&reg.lock);
    reg_entry *e = (reg_entry *)table_find(&reg.by_handle, h);
    if (!e) {
        pthread_mutex_unlock(&reg.lock);
        return;
    }
    e->runner = self;
    void *obj = e->obj;
    al_release_fn fn = e->fn;
    snprintf(type, sizeof type, "%s", e->type);
    pthread_mutex_unlock(&reg.lock);

    int rc = fn(obj);

    pthread_mutex_lock(&reg.lock);
    e = (reg_entry *)table_find(&reg.by_handle, h); /* gone if fn freed or unregistered it */
    if (e)
        e->runner = 0;
    if (reg.waiters)
        pthread_cond_broadcast(&reg.done);
    pthread_mutex_unlock(&reg.lock);

    counts->run++;
    if (rc != 0) {
        counts->failed++;
        al_log(AL_LOG_WARNING, ALI_LOGGER,
               "release function of %s at %p failed (returned %d); the others still run", type, obj,
               rc);
    }
}

/* Copies the handles and priorities of every registration (reg.lock held). */
static snap *snapshot(size_t *count)
{
    size_t n = reg.by_handle.count, k = 0;
    *count = 0;
    if (n == 0)
        return NULL;
    snap *s = ali_internal_alloc(n * sizeof *s);
    if (!s)
        return NULL;
    for (size_t i = 0; i < (size_t)1 << reg.by_handle.bits; i++)
        for (node *nd = reg.by_handle.buckets[i]; nd; nd = nd->next)
            s[k++] = (snap){nd->key, ((reg_entry *)nd)->priority};
    *count = k;
    return s;
}

bool ali_registry_release(bool wait, bool (*enough)(void *ctx), void *ctx,
                          ali_release_counts *counts)
{
    assert(ali_cleanup_held());
    if (wait)
        pthread_mutex_lock(&pass_lock);
    else if (pthread_mutex_trylock(&pass_lock) != 0)
        return false;
    size_t n;
    pthread_mutex_lock(&reg.lock);
    bool any = reg.by_handle.count > 0;
    snap *s = snapshot(&n);
    pthread_mutex_unlock(&reg.lock);
    if (any && !s) {
        pthread_mutex_unlock(&pass_lock);
        ali_memory_error("cleanup: out of memory for the list of release functions; none run");
        return false;
    }
    if (n)
        qsort(s, n, sizeof *s, snap_cmp);
    unsigned self = al_thread_id();
    for (size_t i = 0; i < n && !(enough && enough(ctx)); i++)
        run_one(s[i].handle, self, counts);
    ali_internal_free(s);
    pthread_mutex_unlock(&pass_lock);
    return true;
}

/* -------- Weak references -------- */

/* The al_weak object is a tracked block owned by the process, never by the current scope: a
 * weak reference usually outlives the scope its object was made in (it exists to see the object
 * go), and a tracked block shows up in diagnosis and in the tests' live-block check when a
 * caller forgets al_weak_release. */
al_weak *al_weak_ref(void *obj)
{
    if (!al_owns(obj))
        return NULL;
    al_site *site = AL_SITE_TAGGED_("al_weak");
    al_weak *k = ali_alloc_in(NULL, sizeof *k, 0, true, ali_site_get(site, NULL), site);
    if (!k)
        return NULL;
    watched *spare = bk_alloc(sizeof *spare);
    if (!spare) {
        al_free_at(k, AL_HERE);
        ali_memory_error("al_weak_ref of %p: out of memory for the registry", obj);
        return NULL;
    }
    pthread_mutex_lock(&reg.lock);
    watched *w = watched_get(obj, &spare);
    if (w) {
        k->next = w->weaks;
        if (w->weaks)
            w->weaks->prev = k;
        w->weaks = k;
        atomic_store_explicit(&k->obj, obj, memory_order_relaxed);
        mark_watched(obj);
    }
    pthread_mutex_unlock(&reg.lock);
    ali_internal_free(spare);
    if (!w) {
        al_free_at(k, AL_HERE);
        ali_memory_error("al_weak_ref of %p: out of memory for the registry", obj);
        return NULL;
    }
    return k;
}

void *al_weak_get(const al_weak *w)
{
    return w ? atomic_load_explicit(&((al_weak *)w)->obj, memory_order_acquire) : NULL;
}

void al_weak_release(al_weak *k)
{
    if (!k)
        return;
    pthread_mutex_lock(&reg.lock);
    void *obj = atomic_load_explicit(&k->obj, memory_order_relaxed);
    watched *w = obj ? watched_find(obj) : NULL;
    if (w) {
        if (k->prev)
            k->prev->next = k->next;
        else
            w->weaks = k->next;
        if (k->next)
            k->next->prev = k->prev;
        watched_drop_if_empty(w);
    }
    pthread_mutex_unlock(&reg.lock);
    al_free_at(k, AL_HERE);
}
