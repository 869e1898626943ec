/* The per-thread cache of the program's freed small blocks (lean_cache.h): its opening, on a
 * thread's first cached block, and its emptying when the thread exits. */
#include <pthread.h>

#include "lean_cache.h"
#include "memory/backing.h"

ALI_TLS lean_cache ali_tls_lean_cache;

static pthread_key_t exit_key;
static pthread_once_t exit_key_once = PTHREAD_ONCE_INIT;
static bool exit_key_made;

/* At the thread's exit (a thread-specific destructor): the blocks go back to mimalloc, and
 * frees made later, by other destructors, give their blocks back at once. */
static void lean_cache_close(void *unused)
{
    (void)unused;
    lean_cache *c = &ali_tls_lean_cache;
    c->open = false;
    c->closed = true;
    for (size_t i = 0; i < LEAN_CACHE_BINS; i++) {
        lean_bin *bin = &c->bins[i];
        while (bin->n)
            backing_free((void *)~bin->block[--bin->n]);
    }
}

static void make_exit_key(void)
{
    exit_key_made = pthread_key_create(&exit_key, lean_cache_close) == 0;
}

bool ali_lean_cache_open(void)
{
    lean_cache *c = &ali_tls_lean_cache;
    if (c->closed || ali_shard_retired()) { /* the thread's exit began: the emptying may not run */
        c->closed = true;
        return false;
    }
    pthread_once(&exit_key_once, make_exit_key);
    if (!exit_key_made || pthread_setspecific(exit_key, c) != 0) {
        c->closed = true; /* no way to empty it at the thread's exit: no cache */
        return false;
    }
    c->open = true;
    return true;
}
