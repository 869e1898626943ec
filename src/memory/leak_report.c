/* The leak report at exit (ASTROLAB_LEAK_REPORT=1 or =FILE.json): every block still live,
 * grouped by call site, largest first, as text on stderr or as JSON in a file.
 *
 * It runs from an atexit handler, possibly while other threads still allocate and possibly
 * under the preload library, where malloc itself is the manager. So it allocates nothing from
 * the tracked allocator (its one array comes from the backing allocator), formats with
 * snprintf into stack buffers and writes with write(2). That is also why the JSON is written
 * by hand here rather than with cJSON, which allocates through malloc. The per-site counters
 * already group the live blocks by site, so the report costs O(sites), never a walk over
 * blocks. The diagnosis proper is in diagnosis.c. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "astrolab/log.h"
#include "diagnosis_int.h"
#include "util/outfile_int.h"

#define DEST_MAX 4096

static struct {
    pthread_mutex_t lock; /* guards dest and registered */
    char dest[DEST_MAX];  /* "" : disarmed; "1": text on stderr; else a JSON file path */
    bool registered;      /* atexit(report_at_exit) was called */
} armed = {.lock = PTHREAD_MUTEX_INITIALIZER};

/* -------- Output without allocation -------- */

typedef struct out {
    int fd;
    bool failed;
    size_t len;
    char buf[4096];
} out;

static void out_flush(out *o)
{
    size_t off = 0;
    while (off < o->len && !o->failed) {
        ssize_t n = write(o->fd, o->buf + off, o->len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            o->failed = true;
        else
            off += (size_t)n;
    }
    o->len = 0;
}

static void out_raw(out *o, const char *s, size_t n)
{
    while (n) {
        if (o->len == sizeof o->buf)
            out_flush(o);
        size_t k = sizeof o->buf - o->len < n ? sizeof o->buf - o->len : n;
        memcpy(o->buf + o->len, s, k);
        o->len += k;
        s += k;
        n -= k;
    }
}

static void AL_PRINTF(2, 3) out_fmt(out *o, const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (n > 0)
        out_raw(o, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
}

/* A JSON string, or null. */
static void out_json_str(out *o, const char *s)
{
    if (!s) {
        out_raw(o, "null", 4);
        return;
    }
    out_raw(o, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        char esc[8];
        if (*p == '"' || *p == '\\') {
            esc[0] = '\\';
            esc[1] = (char)*p;
            out_raw(o, esc, 2);
        } else if (*p < 0x20) {
            snprintf(esc, sizeof esc, "\\u%04x", *p);
            out_raw(o, esc, 6);
        } else {
            out_raw(o, (const char *)p, 1);
        }
    }
    out_raw(o, "\"", 1);
}

/* Resident set size and its peak from /proc, read without stdio (which allocates). */
static void rss_noalloc(uint64_t *rss, uint64_t *peak)
{
    *rss = *peak = 0;
    int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    char buf[8192];
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return;
    buf[n] = '\0';
    const char *p;
    if ((p = strstr(buf, "VmRSS:")) != NULL)
        *rss = strtoull(p + 6, NULL, 10) * 1024;
    if ((p = strstr(buf, "VmHWM:")) != NULL)
        *peak = strtoull(p + 6, NULL, 10) * 1024;
}

/* -------- Collecting the live sites -------- */

typedef struct live {
    uint32_t id;
    uint64_t bytes, count;
} live;

/* True when x sorts before y: largest bytes first, then most blocks, then the older site. */
static bool before(const live *x, const live *y)
{
    if (x->bytes != y->bytes)
        return x->bytes > y->bytes;
    if (x->count != y->count)
        return x->count > y->count;
    return x->id < y->id;
}

static void sift_down(live *a, size_t root, size_t n)
{
    for (size_t child; (child = 2 * root + 1) < n; root = child) {
        if (child + 1 < n && before(&a[child], &a[child + 1]))
            child++;
        if (!before(&a[root], &a[child]))
            return;
        live t = a[root];
        a[root] = a[child];
        a[child] = t;
    }
}

/* In place, allocating nothing: glibc's qsort may take a buffer from malloc, which under the
 * preload library is the tracked allocator. */
static void sort_live(live *a, size_t n)
{
    for (size_t i = n / 2; i-- > 0;)
        sift_down(a, i, n);
    for (size_t end = n; end-- > 1;) {
        live t = a[0];
        a[0] = a[end];
        a[end] = t;
        sift_down(a, 0, end);
    }
}

/* Fills *sites (backing memory; NULL when even that failed: then the caller walks the sites in
 * id order) and returns the number of sites with live blocks; totals in *bytes and *count. */
static size_t collect(live **sites, uint64_t *bytes, uint64_t *count)
{
    uint32_t n = ali_site_count();
    live *a = ali_internal_alloc((n ? n : 1) * sizeof *a);
    size_t k = 0;
    *bytes = *count = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (!ali_site_by_id(i))
            continue;
        ali_site_totals t;
        ali_site_totals_get(i, &t);
        if (t.live_count <= 0)
            continue;
        *bytes += t.live_bytes > 0 ? (uint64_t)t.live_bytes : 0;
        *count += (uint64_t)t.live_count;
        if (a)
            a[k] = (live){i, t.live_bytes > 0 ? (uint64_t)t.live_bytes : 0, (uint64_t)t.live_count};
        k++;
    }
    if (a)
        sort_live(a, k);
    *sites = a;
    return k;
}

/* The i-th live site, from the sorted array or, without one, by scanning in id order. */
static bool nth(const live *sites, size_t i, uint32_t *scan, live *outl)
{
    if (sites) {
        *outl = sites[i];
        return true;
    }
    for (uint32_t n = ali_site_count(); *scan < n; (*scan)++) {
        ali_site_totals t;
        if (!ali_site_by_id(*scan))
            continue;
        ali_site_totals_get(*scan, &t);
        if (t.live_count > 0) {
            *outl = (live){*scan, t.live_bytes > 0 ? (uint64_t)t.live_bytes : 0,
                           (uint64_t)t.live_count};
            (*scan)++;
            return true;
        }
    }
    return false;
}

static void report_text(out *o, const live *sites, size_t n, uint64_t bytes, uint64_t count)
{
    char b[32], c[32], h[32];
    ali_fmt_count(bytes, b, sizeof b);
    ali_fmt_count(count, c, sizeof c);
    ali_fmt_bytes(bytes, h, sizeof h);
    if (!n) {
        out_fmt(o, "astrolab: leak report: no tracked blocks live at exit\n");
        return;
    }
    out_fmt(o, "astrolab: leak report: %s blocks, %s bytes (%s) still live at exit, from %zu %s\n",
            c, b, h, n, n == 1 ? "site" : "sites");
    out_fmt(o, "  %14s %10s  %-24s %s\n", "bytes", "blocks", "tag", "site");
    uint32_t scan = 0;
    live l;
    for (size_t i = 0; i < n && nth(sites, i, &scan, &l); i++) {
        al_diagnosis_site s;
        memset(&s, 0, sizeof s);
        ali_diag_site_locate(ali_site_by_id(l.id), &s);
        ali_where where;
        ali_where_diag(&where, &s);
        ali_fmt_count(l.bytes, b, sizeof b);
        ali_fmt_count(l.count, c, sizeof c);
        out_fmt(o, "  %14s %10s  %-24s %s\n", b, c, s.tag, where.text);
    }
}

static void report_json(out *o, const live *sites, size_t n, uint64_t bytes, uint64_t count)
{
    out_raw(o, "{\"leaks\":[", 10);
    uint32_t scan = 0;
    live l;
    for (size_t i = 0; i < n && nth(sites, i, &scan, &l); i++) {
        al_diagnosis_site s;
        memset(&s, 0, sizeof s);
        ali_diag_site_locate(ali_site_by_id(l.id), &s);
        out_raw(o, i ? ",{\"function\":" : "{\"function\":", i ? 13 : 12);
        out_json_str(o, s.function);
        out_raw(o, ",\"file\":", 8);
        out_json_str(o, s.file);
        out_fmt(o, ",\"line\":%d,\"tag\":", s.line);
        out_json_str(o, s.tag);
        out_fmt(o, ",\"count\":%" PRIu64 ",\"bytes\":%" PRIu64, l.count, l.bytes);
        if (s.pc)
            out_fmt(o, ",\"address\":\"%#" PRIxPTR "\"", s.pc);
        out_raw(o, "}", 1);
    }
    uint64_t rss, peak;
    rss_noalloc(&rss, &peak);
    out_fmt(o,
            "],\"stats\":{\"current_bytes\":%" PRIu64 ",\"live_blocks\":%" PRIu64
            ",\"sites\":%zu,\"rss_bytes\":%" PRIu64 ",\"peak_rss_bytes\":%" PRIu64 "}}\n",
            bytes, count, n, rss, peak);
}

int al_leak_report(const char *dest)
{
    bool text = !dest || strcmp(dest, "1") == 0;
    out o = {.fd = 2};
    ali_outfile file; /* a file report replaces the old one whole, or leaves it */
    al_error err;
    if (!text) {
        if (ali_outfile_begin(&file, dest, true, &err) != AL_OK) {
            al_log(AL_LOG_WARNING, ALI_LOGGER, "leak report: %s", err.message);
            return AL_EIO;
        }
        o.fd = file.fd;
    }
    live *sites;
    uint64_t bytes, count;
    size_t n = collect(&sites, &bytes, &count);
    if (text)
        report_text(&o, sites, n, bytes, count);
    else
        report_json(&o, sites, n, bytes, count);
    out_flush(&o);
    ali_internal_free(sites);
    if (text && o.failed) {
        al_log(AL_LOG_WARNING, ALI_LOGGER, "leak report: writing stderr failed: %s",
               strerror(errno));
        return AL_EIO;
    }
    if (!text && o.failed) {
        snprintf(err.message, sizeof err.message, "%s: cannot write: %s", dest,
                 ali_outfile_reason(errno));
        ali_outfile_abort(&file);
    }
    if (!text && (o.failed || ali_outfile_commit(&file, &err) != AL_OK)) {
        al_log(AL_LOG_WARNING, ALI_LOGGER, "leak report: %s", err.message);
        return AL_EIO;
    }
    return AL_OK;
}

static void report_at_exit(void)
{
    char dest[DEST_MAX];
    pthread_mutex_lock(&armed.lock);
    memcpy(dest, armed.dest, sizeof dest);
    pthread_mutex_unlock(&armed.lock);
    if (dest[0])
        (void)!al_leak_report(dest); /* a failure is logged; nobody to tell */
}

int al_leak_report_at_exit(const char *dest)
{
    bool off = !dest || !*dest || strcmp(dest, "0") == 0;
    if (!off && strlen(dest) >= DEST_MAX) {
        al_log(AL_LOG_ERROR, ALI_LOGGER, "leak report: path longer than %d bytes: %.64s...",
               DEST_MAX - 1, dest);
        return AL_EINVAL;
    }
    int rc = AL_OK;
    pthread_mutex_lock(&armed.lock);
    if (off) {
        armed.dest[0] = '\0';
    } else if (!armed.registered && atexit(report_at_exit) != 0) {
        rc = AL_ENOMEM;
    } else {
        armed.registered = true;
        snprintf(armed.dest, sizeof armed.dest, "%s", dest);
    }
    pthread_mutex_unlock(&armed.lock);
    return rc;
}
