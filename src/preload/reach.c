/* Reachability at exit, for the report's "lost" figures. A block live at exit is either still
 * reachable (a global, a stack or another reachable block points into it: memory the program
 * kept on purpose until the end) or lost (nothing points to it any more: a leak in valgrind's
 * and LeakSanitizer's sense). The per-site counters say how many blocks each site has live; this
 * scan says how many of them are reachable, and the difference is lost, so no block list is
 * ever kept.
 *
 * The scan is conservative, as theirs are: any aligned word holding an address inside a live
 * block counts as a pointer to it (interior pointers too, as LeakSanitizer counts them; valgrind
 * calls blocks reached only that way "possibly lost"). Roots are the writable private mappings
 * that are not the heap (/proc/self/maps): globals of every loaded object, thread stacks,
 * glibc's own heap; for the calling thread's stack only the part above its stack pointer.
 * Interior addresses are resolved through the exiting thread's heap (mi_heap_visit_blocks);
 * blocks that other threads' heaps hold are reached through pointers to their start only. A word
 * is only followed when the header it implies lies in readable memory (mimalloc decommits pages
 * with PROT_NONE) and carries a live block's magic, site and size. The scan's own memory comes
 * from a private heap, destroyed at the end.
 *
 * Known limits, each a false "lost", never a crash: mimalloc's region map does not know blocks
 * over 1 GiB (nor parts of those over 32 MiB past a 2 GiB boundary), so other threads' such
 * blocks are never reached (this thread's are known from its heap walk); swapped-out pages look
 * untouched to mincore and are skipped; shared mappings are not roots; where process_vm_readv is
 * forbidden the scan gives up and the report has no lost figures. */
#define UNW_LOCAL_ONLY /* this process only: libunwind's local API */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <libunwind.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <unistd.h>

#include <mimalloc.h>

#include "memory/memory_int.h"
#include "preload_int.h"
#include "util/grow_int.h"

typedef struct span {
    uintptr_t lo, hi; /* [lo, hi) */
} span;

typedef struct range {
    uintptr_t lo, hi; /* as span's: find_span searches both */
    bool root;        /* writable, private, not the heap's: scanned for pointers */
    bool stack;       /* the main thread's [stack] */
} range;

/* A reached block's user bytes, to scan. */
typedef struct work {
    uintptr_t lo, hi;
    bool own; /* in the exiting thread's heap and one mapping: read in place */
} work;

/* A block of the exiting thread's heap, as mimalloc knows it, and what the scan found of it. */
typedef struct blk {
    uintptr_t lo, hi;
    uint8_t state; /* SEEN_NOT_YET, then SEEN_LIVE (counted) or SEEN_OTHER (not a live block) */
} blk;
enum { SEEN_NOT_YET, SEEN_LIVE, SEEN_OTHER };

#define NEAR 65536
#define PAGE ALI_MIN_PAGE /* mincore and the reads go by the smallest page (block_int.h) */
#define BATCH 16          /* pages per process_vm_readv */
#define WINDOW 4096       /* pages per mincore */

typedef struct scan {
    mi_heap_t *heap; /* the scan's own memory */
    blk *blocks;     /* the exiting thread's heap blocks (mimalloc's extent), ascending */
    size_t n_blocks, blocks_cap;
    uintptr_t blocks_lo, blocks_hi; /* their span: most words outside it are not pointers */
    uintptr_t *buf;                 /* BATCH pages: what read_pages copies out */
    unsigned char *resident;        /* WINDOW bytes: mincore's answer */
    uint32_t *near; /* NEAR entries, per 4 KiB of address (hashed): a block found there, + 1 */
    range *maps;    /* readable mappings, ascending */
    size_t n_maps;
    uintptr_t *set; /* open addressing: reached blocks of other heaps (0: empty) */
    size_t set_cap, set_n;
    work *work; /* reached blocks' user bytes, not scanned yet */
    size_t work_n, work_cap;
    ali_reach_site *sites;
    uint32_t n_sites;
    bool failed; /* out of memory: the result would undercount reachable blocks */
} scan;

/* -------- /proc/self/maps -------- */

static void *grow(scan *s, void *p, size_t n)
{
    void *q = mi_heap_realloc(s->heap, p, n);
    s->failed |= q == NULL;
    return q;
}

static char *read_maps(scan *s)
{
    int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    size_t cap = 1 << 16, n = 0;
    char *text = grow(s, NULL, cap);
    for (ssize_t got = 1; text && got > 0;) {
        if (n + 4096 > cap) {
            size_t bigger;
            text = ali_grow_cap(cap, n + 4096, 0, 1, &bigger) ? grow(s, text, bigger)
                                                              : (s->failed = true, NULL);
            if (!text)
                break;
            cap = bigger;
        }
        got = read(fd, text + n, cap - n - 1);
        n += got > 0 ? (size_t)got : 0;
    }
    close(fd);
    if (text)
        text[n] = '\0';
    return text;
}

/* One line: "lo-hi perms offset dev inode [path]". False when it is not readable. */
static bool parse_line(const char *line, range *out)
{
    unsigned long lo, hi;
    char perms[8];
    int path_at = 0;
    if (sscanf(line, "%lx-%lx %7s %*s %*s %*s %n", &lo, &hi, perms, &path_at) < 3)
        return false;
    if (perms[0] != 'r')
        return false;
    const char *path = line + path_at;
    bool special = strncmp(path, "[vvar", 5) == 0 || strncmp(path, "[vsyscall", 9) == 0 ||
                   strncmp(path, "[vdso", 5) == 0;
    *out = (range){lo, hi, perms[1] == 'w' && perms[3] == 'p' && !special,
                   strncmp(path, "[stack]", 7) == 0};
    return true;
}

static bool load_maps(scan *s)
{
    char *text = read_maps(s);
    if (!text)
        return false;
    size_t lines = 1;
    for (const char *p = text; *p; p++)
        lines += *p == '\n';
    s->maps = grow(s, NULL, lines * sizeof *s->maps);
    for (char *line = text; s->maps && line && *line;) {
        char *nl = strchr(line, '\n');
        if (nl)
            *nl = '\0';
        if (parse_line(line, &s->maps[s->n_maps]))
            s->n_maps++;
        line = nl ? nl + 1 : NULL;
    }
    return s->maps != NULL;
}

/* In an ascending array of n elements of `stride` bytes that each begin with a [lo, hi) span
 * (range, blk), the index of the one holding a, or n. */
static size_t find_span(const void *base, size_t n, size_t stride, uintptr_t a)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (((const span *)((const char *)base + mid * stride))->hi <= a)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < n && ((const span *)((const char *)base + lo * stride))->lo <= a ? lo : n;
}

/* True when [a, a + len) lies in one readable mapping. */
static bool readable(const scan *s, uintptr_t a, uint64_t len)
{
    size_t i = find_span(s->maps, s->n_maps, sizeof *s->maps, a);
    return i < s->n_maps && len <= s->maps[i].hi - a;
}

/* -------- The reached set and the work list -------- */

static size_t slot_of(uintptr_t v, size_t cap)
{
    return (size_t)((v >> 4) * 0x9E3779B97F4A7C15ull) & (cap - 1);
}

/* Adds v; false when it was there already (or out of memory, which marks the scan failed). */
static bool set_add(scan *s, uintptr_t v)
{
    if (2 * (s->set_n + 1) > s->set_cap) {
        size_t cap = 0; /* a power of two: doubled from 4096 */
        uintptr_t *bigger = NULL;
        if (ali_grow_cap(s->set_cap, s->set_cap + 1, 4096, sizeof *bigger, &cap))
            bigger = mi_heap_zalloc(s->heap, cap * sizeof *bigger);
        if (!bigger) {
            s->failed = true;
            return false;
        }
        for (size_t i = 0; i < s->set_cap; i++)
            if (s->set[i]) {
                size_t j = slot_of(s->set[i], cap);
                while (bigger[j])
                    j = (j + 1) & (cap - 1);
                bigger[j] = s->set[i];
            }
        mi_free(s->set);
        s->set = bigger;
        s->set_cap = cap;
    }
    size_t j = slot_of(v, s->set_cap);
    while (s->set[j]) {
        if (s->set[j] == v)
            return false;
        j = (j + 1) & (s->set_cap - 1);
    }
    s->set[j] = v;
    s->set_n++;
    return true;
}

static void push(scan *s, uintptr_t lo, uintptr_t hi, bool own)
{
    if (s->work_n == s->work_cap) {
        size_t cap;
        if (!ali_grow_cap(s->work_cap, s->work_n + 1, 1024, sizeof *s->work, &cap)) {
            s->failed = true;
            return;
        }
        work *bigger = grow(s, s->work, cap * sizeof *bigger);
        if (!bigger)
            return;
        s->work = bigger;
        s->work_cap = cap;
    }
    s->work[s->work_n++] = (work){lo, hi, own};
}

/* -------- Marking -------- */

/* -------- Blocks -------- */

static bool collect_block(const mi_heap_t *heap, const mi_heap_area_t *area, void *block,
                          size_t block_size, void *arg)
{
    (void)heap;
    (void)area;
    scan *s = arg;
    if (!block)
        return true; /* the area itself */
    if (s->n_blocks == s->blocks_cap) {
        size_t cap;
        if (!ali_grow_cap(s->blocks_cap, s->n_blocks + 1, 4096, sizeof *s->blocks, &cap)) {
            s->failed = true;
            return false;
        }
        blk *bigger = grow(s, s->blocks, cap * sizeof *bigger);
        if (!bigger)
            return false;
        s->blocks = bigger;
        s->blocks_cap = cap;
    }
    s->blocks[s->n_blocks++] = (blk){(uintptr_t)block, (uintptr_t)block + block_size, 0};
    return true;
}

static int by_start(const void *a, const void *b)
{
    uintptr_t x = ((const blk *)a)->lo, y = ((const blk *)b)->lo;
    return x < y ? -1 : x > y;
}

/* The mimalloc block of the exiting thread's heap that holds v, or NULL. */
static blk *find_block(scan *s, uintptr_t v)
{
    if (v < s->blocks_lo || v >= s->blocks_hi)
        return NULL;
    /* Pointers into one block come in runs (an arena's objects, an array's elements): a
     * direct-mapped memory of recent answers saves most of the searches. */
    uint32_t *near = &s->near[(v >> 12) & (NEAR - 1)];
    if (*near) {
        blk *b = &s->blocks[*near - 1];
        if (b->lo <= v && v < b->hi)
            return b;
    }
    size_t i = find_span(s->blocks, s->n_blocks, sizeof *s->blocks, v);
    if (i == s->n_blocks)
        return NULL;
    *near = (uint32_t)i + 1;
    return &s->blocks[i];
}

/* The live block whose user bytes start at `user`: its site and size; false when there is
 * none (a free block, the manager's own memory, a word that only looks like an address). */
static bool header_at(const scan *s, uintptr_t user, uint32_t *site, uint64_t *size)
{
    if ((user & 15) != 0 || user < 4096 ||
        !readable(s, user - sizeof(lean_block), sizeof(lean_block)))
        return false;
    uint32_t magic = ((const uint32_t *)user)[-1];
    if (lean_is_live(magic)) {
        const lean_block *h = lean_of((const void *)user);
        *site = h->site;
        *size = h->size;
    } else if (magic == ALI_MAGIC_LIVE &&
               readable(s, user - sizeof(ali_block), sizeof(ali_block))) {
        const ali_block *b = ali_block_of((const void *)user);
        if (!b->site || !readable(s, (uintptr_t)b->site, sizeof *b->site))
            return false;
        *site = b->site->id;
        *size = b->size;
    } else {
        return false;
    }
    return *site < s->n_sites;
}

/* The live block inside b, this thread's mimalloc block [lo, hi): its header sits at the start
 * (lean or full) or, for an aligned block, where the user bytes meet their alignment. */
static bool live_in(const scan *s, const blk *b, uintptr_t *user, uint32_t *site, uint64_t *size)
{
    const uintptr_t fronts[2] = {b->lo + sizeof(lean_block), b->lo + sizeof(ali_block)};
    for (int i = 0; i < 2; i++)
        if (header_at(s, fronts[i], site, size) && *size <= b->hi - fronts[i]) {
            *user = fronts[i];
            return true;
        }
    for (uintptr_t a = 32; a <= b->hi - b->lo; a <<= 1) {
        uintptr_t u = (b->lo + sizeof(lean_block) + a - 1) & ~(a - 1);
        if (u < b->hi && header_at(s, u, site, size) && *size <= b->hi - u) {
            *user = u;
            return true;
        }
    }
    return false;
}

/* own: the block is in the exiting thread's heap, whose pages only this thread decommits, and
 * in one mapping, so its bytes are read in place; other blocks are copied out as roots are. */
static void mark(scan *s, uintptr_t user, uint32_t site, uint64_t size, bool own)
{
    s->sites[site].count++;
    s->sites[site].bytes += size;
    push(s, user, user + size, own);
}

/* v, when it points into a live block not reached yet: counts the block and queues its bytes. */
static void consider(scan *s, uintptr_t v)
{
    uint32_t site;
    uint64_t size;
    uintptr_t user;
    blk *b = find_block(s, v);
    if (b) { /* this thread's heap: any pointer into the block reaches it */
        if (b->state != SEEN_NOT_YET)
            return;
        b->state = SEEN_OTHER; /* free, or the manager's own */
        if (live_in(s, b, &user, &site, &size)) {
            b->state = SEEN_LIVE;
            /* In place when it lies in one mapping; madvise or mprotect on part of a block
             * splits it, and then its bytes are copied out like a root's. */
            mark(s, user, site, size, readable(s, user, size));
        }
        return;
    }
    /* Another heap's block: reached through its start only. */
    if (v < 4096 || (v & 15) != 0 || !mi_is_in_heap_region((void *)v) ||
        !header_at(s, v, &site, &size) || !readable(s, v, size) || !set_add(s, v))
        return;
    mark(s, v, site, size, false);
}

/* The words of a block of the exiting thread's heap, in place. */
static void scan_own(scan *s, uintptr_t lo, uintptr_t hi)
{
    lo = (lo + 7) & ~(uintptr_t)7;
    for (uintptr_t p = lo; p + 8 <= hi; p += 8)
        consider(s, *(const uintptr_t *)p);
}

/* Every aligned word of [lo, hi) as a possible pointer. The words are copied out with
 * process_vm_readv, never read in place: the program's other threads may still unmap memory
 * during the scan, and a file mapping past the file's end raises SIGBUS; a page that cannot be
 * read is skipped. Pages never touched (mincore) hold no pointers and are not read at all: a
 * sparse 16 GiB reservation cost seconds of page faults. */

/* The n resident pages from `page` on, copied out BATCH at a time; words outside [lo, hi) are
 * ignored. */
static void read_pages(scan *s, uintptr_t page, size_t n, uintptr_t lo, uintptr_t hi)
{
    pid_t self = getpid();
    while (n > 0 && !s->failed) {
        size_t k = n < BATCH ? n : BATCH;
        struct iovec local = {s->buf, k * PAGE}, remote[BATCH];
        for (size_t i = 0; i < k; i++)
            remote[i] = (struct iovec){(void *)(page + i * PAGE), PAGE};
        ssize_t got = process_vm_readv(self, &local, 1, remote, (unsigned long)k, 0);
        if (got < 0 && errno != EFAULT) { /* not allowed here (seccomp, ptrace rules) */
            s->failed = true;
            return;
        }
        size_t ok = got > 0 ? (size_t)got / PAGE : 0; /* whole pages: a fault ends the read */
        uintptr_t end = page + ok * PAGE;
        uintptr_t from = page > lo ? page : lo, to = end < hi ? end : hi;
        for (uintptr_t p = from; p + 8 <= to; p += 8)
            consider(s, s->buf[(p - page) / sizeof(uintptr_t)]);
        size_t step = ok < k ? ok + 1 : k; /* over the page that faulted */
        page += step * PAGE;
        n -= step;
    }
}

static void scan_words(scan *s, uintptr_t lo, uintptr_t hi)
{
    lo = (lo + 7) & ~(uintptr_t)7;
    for (uintptr_t w = lo & ~(uintptr_t)(PAGE - 1); w < hi && !s->failed; w += WINDOW * PAGE) {
        size_t np = (hi - w + PAGE - 1) / PAGE;
        np = np < WINDOW ? np : WINDOW;
        if (mincore((void *)w, np * PAGE, s->resident) != 0)
            memset(s->resident, 1, np); /* cannot tell: read them all */
        for (size_t i = 0; i < np;) {
            size_t run = 0;
            while (i + run < np && (s->resident[i + run] & 1))
                run++;
            if (run)
                read_pages(s, w + i * PAGE, run, lo, hi);
            i += run ? run : 1;
        }
    }
}

/* Index of the first block of this thread's heap that starts at or after a (n_blocks: none). */
static size_t next_block(const scan *s, uintptr_t a)
{
    size_t lo = 0, hi = s->n_blocks;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (s->blocks[mid].lo < a)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* A root mapping, without the heap's own memory: this thread's blocks, by the table (mimalloc's
 * region map does not know blocks over 1 GiB), and other heaps' segments, by the map (checked
 * per 64 KiB: mimalloc's segments are aligned far coarser). */
static void scan_root(scan *s, uintptr_t lo, uintptr_t hi)
{
    const uintptr_t chunk = 64 * 1024;
    for (uintptr_t c = lo; c < hi;) {
        const blk *b = find_block(s, c);
        if (b) {
            c = b->hi < hi ? b->hi : hi;
            continue;
        }
        uintptr_t end = (c & ~(chunk - 1)) + chunk;
        end = end < hi ? end : hi;
        size_t next = next_block(s, c);
        if (next < s->n_blocks && s->blocks[next].lo < end)
            end = s->blocks[next].lo;
        if (!mi_is_in_heap_region((void *)c))
            scan_words(s, c, end);
        c = end;
    }
}

/* Where the calling thread's live stack begins for the scan: the stack pointer of the innermost
 * frame that is neither this library's nor the C runtime's, the program's call into exit or
 * _exit (or the library's that did); 0 when unwinding finds none. Frames below it, libc's exit
 * path and the report's own, hold stale words of the program's earlier calls in their unused
 * slots, and a block that valgrind calls lost was counted reachable through one (coreutils'
 * sort: 16 bytes at sort+0x13480). */
static uintptr_t program_stack_start(void)
{
    Dl_info self;
    unw_context_t uc;
    unw_cursor_t c;
    if (!dladdr((void *)program_stack_start, &self) || unw_getcontext(&uc) != 0 ||
        unw_init_local(&c, &uc) != 0)
        return 0;
    for (int depth = 0; depth < 256 && unw_step(&c) > 0; depth++) {
        unw_word_t ip, sp;
        Dl_info at;
        if (unw_get_reg(&c, UNW_REG_IP, &ip) != 0 || unw_get_reg(&c, UNW_REG_SP, &sp) != 0)
            return 0;
        bool ours = dladdr((void *)(ip - 1), &at) && at.dli_fbase == self.dli_fbase;
        if (!ours && !ali_preload_in_runtime(ip - 1))
            return sp;
    }
    return 0;
}

__attribute__((noinline)) ali_reach_site *ali_preload_reachable(uint32_t n_sites)
{
    scan s = {0};
    s.n_sites = n_sites;
    s.sites = ali_internal_calloc(n_sites ? n_sites : 1, sizeof *s.sites);
    s.heap = mi_heap_new();
    s.near = s.heap ? mi_heap_zalloc(s.heap, NEAR * sizeof *s.near) : NULL;
    s.buf = s.heap ? mi_heap_malloc(s.heap, BATCH * PAGE) : NULL;
    s.resident = s.heap ? mi_heap_malloc(s.heap, WINDOW) : NULL;
    if (s.sites && s.near && s.buf && s.resident && load_maps(&s) &&
        mi_heap_visit_blocks(mi_heap_get_default(), true, collect_block, &s) && !s.failed) {
        qsort(s.blocks, s.n_blocks, sizeof *s.blocks, by_start);
        if (s.n_blocks) {
            s.blocks_lo = s.blocks[0].lo;
            s.blocks_hi = s.blocks[s.n_blocks - 1].hi;
        }
        uintptr_t sp = program_stack_start();
        sp = sp ? sp : (uintptr_t)__builtin_frame_address(0);
        for (size_t i = 0; i < s.n_maps; i++) {
            range m = s.maps[i];
            if (!m.root)
                continue;
            if (m.stack && sp >= m.lo && sp < m.hi)
                m.lo = sp; /* below it: this thread's dead frames */
            scan_root(&s, m.lo, m.hi);
        }
        while (s.work_n && !s.failed) {
            work w = s.work[--s.work_n];
            if (w.own)
                scan_own(&s, w.lo, w.hi);
            else
                scan_words(&s, w.lo, w.hi);
        }
    } else {
        s.failed = true;
    }
    if (s.heap)
        mi_heap_destroy(s.heap);
    if (s.failed) {
        ali_internal_free(s.sites);
        return NULL;
    }
    return s.sites;
}
