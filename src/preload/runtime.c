/* The C runtime's code (libc and ld.so) as address ranges, and the program's frame behind an
 * allocation the runtime made for it. What a program leaks through libc (asprintf, realpath,
 * getline...) is the program's leak at the program's line, as valgrind reports it; judging by
 * the immediate caller filed it under "kept by the C runtime". What the dynamic loader
 * allocates (the records of an object dlopen loads, for the program, for NSS, or for
 * pthread_exit, which loads libgcc_s to unwind) stays the runtime's: the loader keeps it until
 * dlclose or exit. preload.c asks here only when the caller of malloc is in the runtime;
 * report.c decides what such a site's blocks are. */
#include <libunwind.h>
#include <link.h>
#include <pthread.h>
#include <stdbool.h>
#include <string.h>

#include "preload_int.h"

#define RANGES_MAX 8

static struct {
    pthread_once_t once;
    int n;
    struct {
        uintptr_t lo, hi;
        bool loader; /* ld.so's code, not libc's */
    } r[RANGES_MAX];
} rt = {.once = PTHREAD_ONCE_INIT};

const char *ali_preload_base_name(const char *path)
{
    const char *slash = path ? strrchr(path, '/') : NULL;
    return slash ? slash + 1 : path ? path : "";
}

bool ali_preload_runtime_name(const char *path)
{
    const char *base = ali_preload_base_name(path);
    return strncmp(base, "ld-linux", 8) == 0 || strncmp(base, "libc.so", 7) == 0;
}

static int add_object(struct dl_phdr_info *info, size_t size, void *data)
{
    (void)size, (void)data;
    if (!ali_preload_runtime_name(info->dlpi_name))
        return 0;
    for (int i = 0; i < info->dlpi_phnum && rt.n < RANGES_MAX; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type == PT_LOAD && (ph->p_flags & PF_X)) {
            rt.r[rt.n].lo = info->dlpi_addr + ph->p_vaddr;
            rt.r[rt.n].hi = rt.r[rt.n].lo + ph->p_memsz;
            rt.r[rt.n].loader = strncmp(ali_preload_base_name(info->dlpi_name), "ld-linux", 8) == 0;
            rt.n++;
        }
    }
    return 0;
}

static void find_runtime(void) { dl_iterate_phdr(add_object, NULL); }

/* The runtime range holding return address pc, or -1. */
static int runtime_range(uintptr_t pc)
{
    pthread_once(&rt.once, find_runtime);
    for (int i = 0; i < rt.n; i++)
        if (pc - 1 >= rt.r[i].lo && pc - 1 < rt.r[i].hi) /* pc: a return address */
            return i;
    return -1;
}

bool ali_preload_in_runtime(uintptr_t pc) { return runtime_range(pc) >= 0; }

/* Frames unwound, at most, looking for the program's call into the runtime. */
#define PROGRAM_FRAME_DEPTH 48

uintptr_t ali_preload_program_frame(uintptr_t pc)
{
    int r = runtime_range(pc);
    if (r >= 0 && rt.r[r].loader)
        return 0;
    void *buf[PROGRAM_FRAME_DEPTH];
    int n = unw_backtrace(buf, PROGRAM_FRAME_DEPTH), k = 0;
    while (k < n && (uintptr_t)buf[k] != pc)
        k++;
    for (int i = k + 1; i < n; i++) {
        r = runtime_range((uintptr_t)buf[i]);
        if (r < 0)
            return (uintptr_t)buf[i];
        if (rt.r[r].loader) /* the dynamic loader's own record: the runtime's */
            return 0;
    }
    return 0;
}
