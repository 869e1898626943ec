/* Names return addresses for the preload library's reports: function and file:line from the
 * debug information through elfutils' libdwfl, falling back to dladdr's dynamic symbols.
 * Runs at report time, and on the allocation path only the first time a return address is
 * seen (wrappers.c asks for its function's name); results are cached by address. */
#include <dlfcn.h>
#include <dwarf.h>             /* DW_TAG_inlined_subroutine, DW_AT_call_* */
#include <elfutils/libdw.h>    /* dwarf_haspc, dwarf_getsrc_die, dwarf_getscopes */
#include <elfutils/libdwelf.h> /* dwelf_elf_gnu_build_id */
#include <elfutils/libdwfl.h>
#include <fcntl.h> /* open */
#include <libelf.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h> /* free */
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "memory/front_int.h"
#include "memory/services_int.h"
#include "preload_int.h"
#include "util/settings_int.h"

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER; /* guards dwfl and the cache */
static Dwfl *dwfl;
static int dwfl_failed;

#define CACHE 1024
static struct {
    uintptr_t pc;
    ali_symbol sym;
} cache[CACHE];

/* Whether fd is a debug file for the module whose build ID is id[0..len) and not its main file
 * (whose build ID is the same): a regular ELF file other than `file`, carrying that build ID.
 * libdwfl takes whatever the callback opens, so a stale .debug left beside a rebuilt program
 * would otherwise name lines of the old source. */
static bool debug_file_of(int fd, const char *file, const unsigned char *id, int len)
{
    struct stat st, main_st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
        (stat(file, &main_st) == 0 && st.st_dev == main_st.st_dev && st.st_ino == main_st.st_ino))
        return false;
    Elf *elf = elf_begin(fd, ELF_C_READ_MMAP, NULL);
    const void *got = NULL;
    ssize_t n = elf ? dwelf_elf_gnu_build_id(elf, &got) : -1;
    bool same = n == len && memcmp(got, id, (size_t)len) == 0;
    if (elf)
        elf_end(elf);
    return same;
}

/* The debug file named by a module's .gnu_debuglink, where GDB and libdwfl look for it: beside
 * the object, in .debug/ beside it, and under /usr/lib/debug by the object's directory; only a
 * file with the module's build ID counts. An open descriptor and its path in *found, or -1. */
static int open_by_debuglink(const char *file, const char *debuglink, const unsigned char *id,
                             int id_len, char **found)
{
    if (!file || !debuglink || strchr(debuglink, '/'))
        return -1;
    const char *slash = strrchr(file, '/');
    int dir_len = slash ? (int)(slash - file) : 0;
    static const char *const places[] = {"%.*s/%s", "%.*s/.debug/%s", "/usr/lib/debug%.*s/%s"};
    for (size_t i = 0; slash && i < sizeof places / sizeof places[0]; i++) {
        char path[4096];
        int n = snprintf(path, sizeof path, places[i], dir_len, file, debuglink);
        if (n <= 0 || (size_t)n >= sizeof path)
            continue;
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd >= 0 && debug_file_of(fd, file, id, id_len) && (*found = strdup(path)) != NULL)
            return fd;
        if (fd >= 0)
            close(fd);
    }
    return -1;
}

/* Finds a module's separate debug information on this machine only, unless the user asked for
 * debuginfod (ASTROLAB_DEBUGINFOD=1). libdwfl's standard search ends by asking the servers in
 * DEBUGINFOD_URLS, which Debian sets for every login shell where libdebuginfod-common is
 * installed (gdb brings it): symbolizing a stripped program's frame then made the program
 * resolve and contact debuginfod.debian.net, at run time and at exit, could stall it for the
 * client's 90-second timeout on a node without network, and loaded libcurl into it. Here a debug
 * file is looked up by build ID under /usr/lib/debug (where Debian's -dbgsym packages install),
 * then by .gnu_debuglink; a dwz alt file (libdwfl's second call, with the alt file's name in
 * `debuglink` and no CRC) by its build ID alone, libdw's own search then trying its path; a
 * module without a build ID gets the standard search, which then never asks a server. */
static int find_debuginfo(Dwfl_Module *mod, void **userdata, const char *modname, Dwarf_Addr base,
                          const char *file, const char *debuglink, GElf_Word crc,
                          char **debuginfo_file)
{
    if (ali_setting_int(ALI_SET_DEBUGINFOD) == 1)
        return dwfl_standard_find_debuginfo(mod, userdata, modname, base, file, debuglink, crc,
                                            debuginfo_file);
    int fd = dwfl_build_id_find_debuginfo(mod, userdata, modname, base, file, debuglink, crc,
                                          debuginfo_file);
    bool alt = debuglink && crc == 0;
    if (fd >= 0 || alt)
        return fd;
    const unsigned char *id;
    GElf_Addr id_at;
    int id_len = dwfl_module_build_id(mod, &id, &id_at);
    if (id_len <= 0)
        return dwfl_standard_find_debuginfo(mod, userdata, modname, base, file, debuglink, crc,
                                            debuginfo_file);
    return open_by_debuglink(file, debuglink, id, id_len, debuginfo_file);
}

static char *debuginfo_path;
static const Dwfl_Callbacks callbacks = {
    .find_elf = dwfl_linux_proc_find_elf,
    .find_debuginfo = find_debuginfo,
    .debuginfo_path = &debuginfo_path,
};

static Dwfl *session(void)
{
    if (dwfl || dwfl_failed)
        return dwfl;
    dwfl = dwfl_begin(&callbacks);
    if (dwfl &&
        (dwfl_linux_proc_report(dwfl, getpid()) != 0 || dwfl_report_end(dwfl, NULL, NULL) != 0)) {
        dwfl_end(dwfl);
        dwfl = NULL;
    }
    dwfl_failed = dwfl == NULL;
    return dwfl;
}

static void base_name(char *dst, size_t len, const char *path)
{
    snprintf(dst, len, "%s", path ? ali_preload_base_name(path) : "?");
}

/* The object and dynamic symbol of a call instruction, by dladdr alone; the object's load
 * address, or 0 when dladdr knows no object. */
static uintptr_t lookup_dynamic(uintptr_t call, ali_symbol *out)
{
    Dl_info dl;
    if (!dladdr((void *)call, &dl))
        return 0;
    base_name(out->object, sizeof out->object, dl.dli_fname);
    if (dl.dli_sname)
        snprintf(out->function, sizeof out->function, "%s", dl.dli_sname);
    return (uintptr_t)dl.dli_fbase;
}

bool ali_symbol_in_runtime(uintptr_t pc)
{
    ali_symbol sym;
    memset(&sym, 0, sizeof sym);
    lookup_dynamic(pc - 1, &sym);
    return ali_preload_runtime_name(sym.object);
}

/* The source line of `call` in m by visiting each compile unit. libdw 0.188 finds a unit by
 * address only through .debug_aranges, which clang does not emit unless asked to
 * (-gdwarf-aranges; gcc always does), so dwfl_module_getsrc knew no line of a clang-built
 * program. Linear in the units, but reports look up each address once (the cache). Can go
 * once the libdw we link finds units without aranges: test_preload in a clang build tells. */
static bool line_by_unit_scan(Dwfl_Module *m, uintptr_t call, ali_symbol *out)
{
    Dwarf_Addr bias = 0;
    Dwarf_Die *cu = NULL;
    while ((cu = dwfl_module_nextcu(m, cu, &bias)) != NULL) {
        if (dwarf_haspc(cu, call - bias) != 1)
            continue;
        Dwarf_Line *line = dwarf_getsrc_die(cu, call - bias);
        int lineno = 0;
        const char *file = line ? dwarf_linesrc(line, NULL, NULL) : NULL;
        if (!file || dwarf_lineno(line, &lineno) != 0)
            return false;
        snprintf(out->file, sizeof out->file, "%s", file);
        out->line = lineno;
        return true;
    }
    return false;
}

/* The compile unit of `call` in m: through .debug_aranges, else by visiting every unit. */
static Dwarf_Die *unit_of(Dwfl_Module *m, uintptr_t call, Dwarf_Addr *bias)
{
    Dwarf_Die *cu = dwfl_module_addrdie(m, call, bias);
    while (!cu && (cu = dwfl_module_nextcu(m, cu, bias)) != NULL)
        if (dwarf_haspc(cu, call - *bias) == 1)
            break;
    return cu;
}

static bool system_header(const char *file) { return strncmp(file, "/usr/include/", 13) == 0; }

/* A call inlined from a system header (glibc's getline wrapper in <bits/stdio.h>, a fortified
 * memcpy) is named by the line that called the inline function: the program's, as valgrind's
 * inlined frames show it, not the header's. */
static void outside_system_headers(Dwfl_Module *m, uintptr_t call, ali_symbol *out)
{
    Dwarf_Addr bias = 0;
    Dwarf_Die *cu = system_header(out->file) ? unit_of(m, call, &bias) : NULL;
    Dwarf_Die *scopes = NULL;
    Dwarf_Files *files = NULL;
    size_t nfiles = 0;
    int n = cu && dwarf_getsrcfiles(cu, &files, &nfiles) == 0
                ? dwarf_getscopes(cu, call - bias, &scopes)
                : 0;
    for (int i = 0; i < n && system_header(out->file); i++) {
        Dwarf_Attribute a;
        Dwarf_Word line = 0, index = 0;
        if (dwarf_tag(&scopes[i]) != DW_TAG_inlined_subroutine ||
            dwarf_formudata(dwarf_attr(&scopes[i], DW_AT_call_line, &a), &line) != 0 ||
            dwarf_formudata(dwarf_attr(&scopes[i], DW_AT_call_file, &a), &index) != 0)
            continue;
        const char *file = dwarf_filesrc(files, index, NULL, NULL);
        if (file) {
            snprintf(out->file, sizeof out->file, "%s", file);
            out->line = (int)line;
        }
    }
    free(scopes);
}

/* The module of libdwfl's session holding address `call`, or NULL; lock held. An object loaded
 * since the session began (dlopen) is found by reporting the process's modules again. */
static Dwfl_Module *module_of(uintptr_t call)
{
    Dwfl *d = session();
    Dwfl_Module *m = d ? dwfl_addrmodule(d, call) : NULL;
    if (!m && d) { /* an object loaded since the session began (dlopen): report again */
        dwfl_report_begin(d);
        if (dwfl_linux_proc_report(d, getpid()) == 0 && dwfl_report_end(d, NULL, NULL) == 0)
            m = dwfl_addrmodule(d, call);
    }
    return m;
}

/* Function and file:line from the debug information (or the symbol table) through libdwfl. */
static void lookup_debug(uintptr_t pc, ali_symbol *out)
{
    uintptr_t call = pc - 1; /* the call instruction, not the one after it */
    /* The runtime's own lines are named by dynamic symbol only: with libc6-dbg installed,
     * reading libc's debug information took 50 ms of every report. */
    if (ali_preload_runtime_name(out->object))
        return;
    Dwfl_Module *m = module_of(call);
    if (!m)
        return;
    const char *name = dwfl_module_addrname(m, call);
    if (name)
        snprintf(out->function, sizeof out->function, "%s", name);
    Dwfl_Line *line = dwfl_module_getsrc(m, call);
    if (line) {
        int lineno = 0;
        const char *file = dwfl_lineinfo(line, NULL, &lineno, NULL, NULL, NULL);
        if (file) {
            snprintf(out->file, sizeof out->file, "%s", file);
            out->line = lineno;
        }
    } else {
        line_by_unit_scan(m, call, out);
    }
    outside_system_headers(m, call, out);
}

/* A return address with no symbol (a stripped program: Debian's source-extractor, SWarp,
 * solve-field) is named "object+0xOFFSET", the offset from where the object was loaded of the
 * call instruction's last byte (the return address - 1): the same in every run despite address
 * randomization, so runs and MPI ranks compare; the offset valgrind and heaptrack print for
 * the same frame; and what `eu-addr2line -e OBJECT` takes to name the line of the call, for a
 * PIE program or a shared library once its debug symbols are installed. */
static void lookup(uintptr_t pc, ali_symbol *out)
{
    memset(out, 0, sizeof *out);
    uintptr_t base = lookup_dynamic(pc - 1, out);
    lookup_debug(pc, out);
    if (!out->function[0] && out->object[0] && base && pc > base) {
        char named[sizeof out->function]; /* object and function share out: no overlap */
        snprintf(named, sizeof named, "%s+%#lx", out->object, (unsigned long)(pc - 1 - base));
        memcpy(out->function, named, sizeof named);
    }
}

int ali_symbolize(uintptr_t pc, ali_symbol *out)
{
    pthread_mutex_lock(&lock);
    size_t i = (pc >> 2) % CACHE;
    if (cache[i].pc != pc) {
        lookup(pc, &cache[i].sym);
        cache[i].pc = pc;
    }
    *out = cache[i].sym;
    pthread_mutex_unlock(&lock);
    if (!out->function[0])
        snprintf(out->function, sizeof out->function, "%#lx", (unsigned long)pc);
    return out->object[0] ? 0 : -1;
}

int ali_symbol_function(uintptr_t pc, char *function, size_t len, uint64_t *code_size)
{
    uintptr_t call = pc - 1;
    int rc = -1;
    pthread_mutex_lock(&lock);
    Dwfl_Module *m = module_of(call);
    GElf_Sym sym;
    GElf_Off offset;
    const char *name = m ? dwfl_module_addrinfo(m, call, &offset, &sym, NULL, NULL, NULL) : NULL;
    if (name) {
        snprintf(function, len, "%s", name);
        *code_size = sym.st_size;
        rc = 0;
    }
    pthread_mutex_unlock(&lock);
    return rc;
}

/* -------- The diagnosis's hook: names that live as long as the process. -------- */
#define NAMES 4096
static struct {
    uintptr_t pc;
    const char *function, *file;
    int line;
} names[NAMES];
static size_t nnames;

/* The entry for pc, or NULL; lock held. */
static const typeof(names[0]) *find_name(uintptr_t pc)
{
    for (size_t i = 0; i < nnames; i++)
        if (names[i].pc == pc)
            return &names[i];
    return NULL;
}

static int symbolize_forever(uintptr_t pc, const char **function, const char **file, int *line)
{
    ali_preload_enter(); /* libdw's allocations are raw, not the program's */
    pthread_mutex_lock(&lock);
    const typeof(names[0]) *e = find_name(pc);
    pthread_mutex_unlock(&lock);
    if (!e) {
        ali_symbol sym;
        uintptr_t frames[ALI_STACK_MAX];
        int n = ali_preload_stack(pc, frames);
        ali_symbolize(n > 0 ? frames[ali_wrapper_named_frame(frames, n)] : pc, &sym);
        char *fn = ali_internal_strdup(sym.function);
        char *fl = ali_internal_strdup(sym.file[0] ? sym.file : sym.object);
        pthread_mutex_lock(&lock);
        e = find_name(pc); /* another thread may have named it meanwhile */
        if (!e && fn && fl && nnames < NAMES) {
            names[nnames] = (typeof(names[0])){pc, fn, fl, sym.line};
            e = &names[nnames++];
            fn = fl = NULL;
        }
        pthread_mutex_unlock(&lock);
        ali_internal_free(fn);
        ali_internal_free(fl);
    }
    if (e) {
        *function = e->function;
        *file = e->file;
        *line = e->line;
    }
    ali_preload_leave();
    return e ? 0 : -1;
}

/* No fork may leave the lock held in the child (it names sites in error reports). */
static void fork_prepare(void) { pthread_mutex_lock(&lock); }
static void fork_done(void) { pthread_mutex_unlock(&lock); }

__attribute__((constructor)) static void install_symbolizer(void)
{
    ali_site_symbolize_hook = symbolize_forever;
    pthread_atfork(fork_prepare, fork_done, fork_done);
}
