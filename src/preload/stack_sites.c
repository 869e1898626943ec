/* The frames of the stack sites (ASTROLAB_STACK_DEPTH > 1): preload.c files such an allocation
 * under a synthetic pc hashed from its N innermost frames, and remembers the frames here once
 * per site, so the report can name them (ali_preload_stack). A list searched linearly: a site's
 * frames are remembered once per thread that first meets it, and read when the report is made. */
#define UNW_LOCAL_ONLY /* this process only: libunwind's local API */
#include <libunwind.h>
#include <pthread.h>
#include <string.h>

#include "memory/memory_int.h"
#include "preload_int.h"
#include "util/grow_int.h"

static struct {
    pthread_mutex_t lock; /* guards every field below */
    struct stack_rec {
        uintptr_t key;
        int n;
        uintptr_t pc[ALI_STACK_MAX];
    } * items;
    size_t n, cap;
} stacks = {.lock = PTHREAD_MUTEX_INITIALIZER};

int ali_preload_stack(uintptr_t key, uintptr_t out[ALI_STACK_MAX])
{
    if (!(key & ALI_STACK_BIT))
        return 0;
    int n = 0;
    pthread_mutex_lock(&stacks.lock);
    for (size_t i = 0; i < stacks.n; i++)
        if (stacks.items[i].key == key) {
            n = stacks.items[i].n;
            memcpy(out, stacks.items[i].pc, (size_t)n * sizeof *out);
            break;
        }
    pthread_mutex_unlock(&stacks.lock);
    return n;
}

void ali_preload_stack_remember(uintptr_t key, const uintptr_t *frames, int n)
{
    pthread_mutex_lock(&stacks.lock);
    for (size_t i = 0; i < stacks.n; i++)
        if (stacks.items[i].key == key) {
            pthread_mutex_unlock(&stacks.lock);
            return;
        }
    if (stacks.n == stacks.cap) {
        size_t cap;
        struct stack_rec *r = NULL;
        if (ali_grow_cap(stacks.cap, stacks.n + 1, 256, sizeof *r, &cap))
            r = ali_internal_realloc(stacks.items, cap * sizeof *r);
        if (!r) {
            pthread_mutex_unlock(&stacks.lock);
            return; /* the site still counts; its report shows the first frame only */
        }
        stacks.items = r;
        stacks.cap = cap;
    }
    struct stack_rec *r = &stacks.items[stacks.n++];
    r->key = key;
    r->n = n;
    for (int i = 0; i < n; i++)
        r->pc[i] = frames[i];
    pthread_mutex_unlock(&stacks.lock);
}

void ali_preload_stacks_lock(void) { pthread_mutex_lock(&stacks.lock); }

void ali_preload_stacks_unlock(void) { pthread_mutex_unlock(&stacks.lock); }

int ali_preload_unwind_from(uintptr_t pc, uintptr_t *frames, int max)
{
    void *buf[ALI_STACK_MAX + 8];
    int n = unw_backtrace(buf, ALI_STACK_MAX + 8), k = 0;
    while (k < n && (uintptr_t)buf[k] != pc)
        k++;
    int depth = n - k < max ? n - k : max;
    for (int i = 0; i < depth; i++)
        frames[i] = (uintptr_t)buf[k + i];
    return depth;
}
