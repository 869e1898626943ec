/* A small cache of freed numpy data blocks, one per thread, as numpy's default handler keeps
 * one (numpy/core/src/multiarray/alloc.c: a few blocks of each size under 1024 bytes). Without
 * it, an array of a few elements made and dropped in a loop pays a tracked allocation and a
 * tracked free each time where numpy's default pays neither.
 *
 * The ledger stays exact: a cached block is freed in every count (al_free_keep), so
 * statistics, leak reports and scopes see what they would without the cache, and a second free
 * of it is reported as the double free it is; taken out again (al_reuse_kept), it counts as an
 * allocation at the Python line that made the new array, refused where a fresh block would be
 * (hard limits, injected failures). Only blocks owned by the process are cached, and only while
 * no scope is current on the thread.
 *
 * The cache is the thread's own, so it needs no lock and no GIL; a thread's cache is emptied
 * when the thread exits (a pthread key's destructor), and the calling thread's by
 * ext_numpy_cache_flush (forced cleanup, track_numpy(False)). At most CACHE_PER_BIN blocks of
 * each size class of 8 bytes: under 512 KiB a thread at worst, a few KiB in practice. */
#include <pthread.h>
#include <stdlib.h>

#include "ext.h"

#define CACHE_BINS (EXT_NUMPY_CACHE_MAX / 8) /* bin (size - 1) / 8 */
#define CACHE_PER_BIN 4

typedef struct {
    void *block[CACHE_PER_BIN];
    size_t size[CACHE_PER_BIN];
    unsigned n;
} bin;

typedef struct {
    bin bins[CACHE_BINS];
} cache;

static pthread_key_t key;
static pthread_once_t key_once = PTHREAD_ONCE_INIT;
static int key_ok;
/* Initial-exec: read with one instruction, not a call to __tls_get_addr, though the module
 * is loaded by dlopen (8 bytes of the static TLS reserve, as libastrolab's own). */
static __attribute__((tls_model("initial-exec"))) _Thread_local cache *mine;

static void empty(cache *c)
{
    for (size_t i = 0; i < CACHE_BINS; i++) {
        bin *b = &c->bins[i];
        while (b->n)
            al_release_kept(b->block[--b->n]);
    }
}

/* Runs in the exiting thread: a free after it (from a later key's destructor) starts a new
 * cache, which the next round of destructors empties in turn. */
static void on_thread_exit(void *c)
{
    mine = NULL;
    empty(c);
    free(c);
}

static void make_key(void) { key_ok = pthread_key_create(&key, on_thread_exit) == 0; }

/* The calling thread's cache, made on first use; NULL when it cannot be. */
static cache *own_cache(void)
{
    if (AL_LIKELY(mine != NULL))
        return mine;
    pthread_once(&key_once, make_key);
    cache *c = key_ok ? calloc(1, sizeof *c) : NULL;
    if (c && pthread_setspecific(key, c) != 0) {
        free(c);
        c = NULL;
    }
    return mine = c;
}

void *ext_numpy_cache_take(size_t size)
{
    cache *c = mine;
    if (!c || size - 1 >= EXT_NUMPY_CACHE_MAX || al_scope_current())
        return NULL;
    bin *b = &c->bins[(size - 1) / 8];
    for (unsigned i = b->n; i-- > 0;) {
        if (b->size[i] == size) {
            void *p = b->block[i];
            b->n--;
            b->block[i] = b->block[b->n];
            b->size[i] = b->size[b->n];
            return p;
        }
    }
    return NULL;
}

int ext_numpy_cache_put(void *p, size_t size)
{
    if (!p || size - 1 >= EXT_NUMPY_CACHE_MAX || al_scope_current())
        return 0;
    cache *c = own_cache();
    if (!c)
        return 0;
    bin *b = &c->bins[(size - 1) / 8];
    if (b->n == CACHE_PER_BIN)
        return 0;
    size_t real;
    int rc = al_free_keep(p, &ext_numpy_free_site, &real);
    if (rc == AL_EBADPTR)
        return 1; /* not a live block (a double free...): the manager has reported it */
    if (rc != AL_OK)
        return 0; /* a scope's, or registered: the caller frees it */
    if (real != size) {
        al_release_kept(p); /* numpy said another size: not a block to hand out again */
        return 1;
    }
    b->block[b->n] = p;
    b->size[b->n] = size;
    b->n++;
    return 1;
}

void ext_numpy_cache_flush(void)
{
    if (mine)
        empty(mine);
}
