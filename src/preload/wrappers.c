/* Allocation wrappers (xmalloc, g_malloc, Perl_safesysmalloc): functions that call the malloc
 * family for their caller and return the result. A site inside one names the wrapper, never
 * the code responsible, so preload.c files such allocations under the first frame outside the
 * wrappers and keeps the wrappers in the site's stack (report.c names that frame).
 *
 * Which functions are wrappers: those named with --wrapper (ASTROLAB_RUN_WRAPPERS), and,
 * found automatically, small functions whose name says they allocate: the name contains
 * "alloc", "strdup", "strndup", "wcsdup" (python's _PyMem_RawWcsdup) or "memdup", or is C++'s
 * operator new, and the function's code
 * is at most WRAPPER_MAX_CODE bytes (by its ELF symbol's size). A function that does real work
 * around its malloc (fills a table, parses a record) is larger, and stays a site; one that
 * logs or counts what it allocates is still a wrapper. Measured sizes of real wrappers (Debian
 * 12): Perl_safesysmalloc 0x4d-0x5b bytes, Perl_safesysrealloc 0x8a, g_malloc 0x44.
 *
 * The caller of a wrapper is found without unwinding on the hot path: at a call from return
 * address r, the wrapper's canonical frame address (CFA) is the callee's CFA plus a constant
 * d(r) fixed by the wrapper's code, and its own return address lies just below it. d(r) is
 * learnt once per return address by unwinding with libunwind and checked against it; where
 * it cannot be checked, that return address is unwound on every allocation (slow, correct).
 * Classifications live in a fixed open-addressing table read without a lock. */
#include <cjson/cJSON.h>
#include <ctype.h>
#include <dlfcn.h>
#define UNW_LOCAL_ONLY /* this process only: libunwind's local API, no remote-unwinding library */
#include <libunwind.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include "memory/services_int.h"
#include "preload_int.h"
#include "util/settings_int.h"

#define WRAPPER_MAX_CODE 512
#define TABLE (1u << 14) /* return addresses classified; beyond it, the rest count as sites */

typedef struct wclass {
    _Atomic uintptr_t pc; /* written last, with release: the fields below are then set */
    int32_t cfa_off;      /* ALI_WRAP_FAST: d(pc) */
    uint8_t kind;         /* ali_wrap_kind */
} wclass;

#define NAMES_MAX 64 /* --wrapper names whose use is told (the rest still work) */

static struct {
    pthread_mutex_t lock; /* guards inserts; lookups take none */
    wclass *slots;        /* TABLE entries, from ali_internal_calloc; NULL until first use */
    char names[2048];     /* --wrapper names, each followed by '\0'; "" ends the list */
    pthread_once_t once;
    atomic_bool used[NAMES_MAX]; /* the i-th name matched an allocating function */
} wt = {.lock = PTHREAD_MUTEX_INITIALIZER, .once = PTHREAD_ONCE_INIT};

/* Appends name to wt.names; true (stop) when it is full. */
static bool keep_name(const char *name, int i, void *used_bytes)
{
    (void)i;
    size_t *used = used_bytes, n = strlen(name);
    if (*used + n + 2 > sizeof wt.names)
        return true;
    memcpy(wt.names + *used, name, n + 1);
    *used += n + 1;
    return false;
}

static void read_names(void)
{
    size_t used = 0;
    ali_preload_each_item(ali_setting_text(ALI_SET_RUN_WRAPPERS), ',', keep_name, &used);
    wt.names[used] = '\0';
}

static bool named_by_user(const char *function)
{
    pthread_once(&wt.once, read_names);
    int i = 0;
    for (const char *n = wt.names; *n; n += strlen(n) + 1, i++) {
        size_t len = strlen(n);
        /* "ns::alloc" matches "ns::alloc(unsigned long)", as a demangled name reads */
        if (strncmp(function, n, len) == 0 && (function[len] == '\0' || function[len] == '(')) {
            if (i < NAMES_MAX)
                atomic_store_explicit(&wt.used[i], true, memory_order_relaxed);
            return true;
        }
    }
    return false;
}

cJSON *ali_wrappers_unused_json(void)
{
    pthread_once(&wt.once, read_names);
    cJSON *arr = cJSON_CreateArray();
    int i = 0;
    for (const char *n = wt.names; arr && *n; n += strlen(n) + 1, i++)
        if (i < NAMES_MAX && !atomic_load_explicit(&wt.used[i], memory_order_relaxed))
            cJSON_AddItemToArray(arr, cJSON_CreateString(n));
    return arr;
}

static bool says_it_allocates(const char *function)
{
    char low[160];
    size_t i = 0;
    for (; function[i] && i < sizeof low - 1; i++)
        low[i] = (char)tolower((unsigned char)function[i]);
    low[i] = '\0';
    return strstr(low, "alloc") || strstr(low, "strdup") || strstr(low, "strndup") ||
           strstr(low, "wcsdup") || strstr(low, "memdup") ||
           strncmp(function, "operator new", 12) == 0 || strncmp(function, "_Znwm", 5) == 0 ||
           strncmp(function, "_Znam", 5) == 0;
}

bool ali_wrapper_function(const char *function, uint64_t code_size)
{
    if (!function || !*function || function[0] == '0') /* "0x...": no name known */
        return false;
    if (named_by_user(function))
        return true;
    return says_it_allocates(function) && code_size > 0 && code_size <= WRAPPER_MAX_CODE;
}

bool ali_wrapper_at(uintptr_t pc)
{
    char function[160];
    uint64_t size = 0;
    if (ali_symbol_function(pc, function, sizeof function, &size) != 0)
        return false;
    return ali_wrapper_function(function, size);
}

static inline wclass *slot_of(uintptr_t pc, uint32_t i)
{
    return &wt.slots[((pc ^ (pc >> 13)) * 0x9E3779B1u + i) & (TABLE - 1)];
}

ali_wrap_kind ali_wrapper_lookup(uintptr_t pc, int32_t *cfa_off)
{
    if (!wt.slots)
        return ALI_WRAP_UNKNOWN;
    for (uint32_t i = 0; i < 32; i++) {
        wclass *w = slot_of(pc, i);
        uintptr_t at = atomic_load_explicit(&w->pc, memory_order_acquire);
        if (at == pc) {
            *cfa_off = w->cfa_off;
            return (ali_wrap_kind)w->kind;
        }
        if (!at)
            return ALI_WRAP_UNKNOWN;
    }
    return ALI_WRAP_UNKNOWN;
}

static void insert(uintptr_t pc, ali_wrap_kind kind, int32_t off)
{
    pthread_mutex_lock(&wt.lock);
    if (!wt.slots)
        wt.slots = ali_internal_calloc(TABLE, sizeof *wt.slots);
    for (uint32_t i = 0; wt.slots && i < 32; i++) {
        wclass *w = slot_of(pc, i);
        uintptr_t at = atomic_load_explicit(&w->pc, memory_order_relaxed);
        if (at == pc)
            break;
        if (!at) {
            w->cfa_off = off;
            w->kind = (uint8_t)kind;
            atomic_store_explicit(&w->pc, pc, memory_order_release);
            break;
        }
    }
    pthread_mutex_unlock(&wt.lock);
}

/* Unwinds this thread's stack to the frame of return address pc whose callee's CFA is cfa;
 * gives the next outer frame's return address and the frame's CFA offset. */
static bool unwind_from(uintptr_t pc, uintptr_t cfa, uintptr_t *next, int32_t *off)
{
    unw_context_t uc;
    unw_cursor_t c;
    if (unw_getcontext(&uc) != 0 || unw_init_local(&c, &uc) != 0)
        return false;
    bool stepped = false;
    for (int depth = 0; depth < 64 && unw_step(&c) > 0; depth++) {
        stepped = true;
        unw_word_t ip, sp;
        if (unw_get_reg(&c, UNW_REG_IP, &ip) != 0 || unw_get_reg(&c, UNW_REG_SP, &sp) != 0)
            return false;
        if (ip != pc || (cfa && sp != cfa))
            continue;
        unw_word_t nip, nsp;
        if (unw_step(&c) <= 0 || unw_get_reg(&c, UNW_REG_IP, &nip) != 0 ||
            unw_get_reg(&c, UNW_REG_SP, &nsp) != 0)
            return false;
        *next = nip;
        *off = (int32_t)(nsp - sp);
        return true;
    }
    /* No frame of pc at that CFA (a compiler whose __builtin_dwarf_cfa means something else):
     * the innermost frame of pc, and the offset is then never trusted (see the caller). */
    return stepped && cfa ? unwind_from(pc, 0, next, off) : false;
}

uintptr_t ali_wrapper_caller(uintptr_t pc, uintptr_t *cfa)
{
    int32_t off = 0;
    ali_wrap_kind k = ali_wrapper_lookup(pc, &off);
    if (k == ALI_WRAP_UNKNOWN) {
        k = ali_wrapper_at(pc) ? ALI_WRAP_SLOW : ALI_WRAP_NOT;
        uintptr_t next;
        /* The fast rule is kept only when the slot it reads holds the return address the
         * unwinder found. d(pc) is constant unless the wrapper's frame has a variable size
         * (alloca, a variable-length array), which a function this small does not have. */
        if (k == ALI_WRAP_SLOW && *cfa && unwind_from(pc, *cfa, &next, &off) && off > 0 &&
            *(const uintptr_t *)(*cfa + (uintptr_t)off - sizeof(uintptr_t)) == next)
            k = ALI_WRAP_FAST;
        insert(pc, k, off);
    }
    if (k == ALI_WRAP_NOT)
        return 0;
    if (k == ALI_WRAP_FAST && *cfa) {
        *cfa += (uintptr_t)off;
        return *(const uintptr_t *)(*cfa - sizeof(uintptr_t));
    }
    uintptr_t next = 0;
    if (!unwind_from(pc, *cfa, &next, &off))
        return 0;
    *cfa = *cfa ? *cfa + (uintptr_t)off : 0;
    return next;
}

void ali_wrapper_fork_prepare(void) { pthread_mutex_lock(&wt.lock); }
void ali_wrapper_fork_done(void) { pthread_mutex_unlock(&wt.lock); }

int ali_wrapper_named_frame(const uintptr_t *pc, int n)
{
    int i = 0;
    for (int32_t off; i < n - 1; i++) {
        ali_wrap_kind k = ali_wrapper_lookup(pc[i], &off);
        if (k == ALI_WRAP_NOT || (k == ALI_WRAP_UNKNOWN && !ali_wrapper_at(pc[i])))
            break;
    }
    return i;
}
