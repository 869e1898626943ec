/* The run's profile files: `astrolab run --folded FILE` and `--pprof FILE` (docs/RUN-REPORT.md),
 * written at exit beside the JSON report by report.c, from the same per-site counters.
 *
 * Each site is one stack: its frames where it has them (a site behind allocation wrappers, or
 * every site under ASTROLAB_STACK_DEPTH), else its one frame. The folded file (flamegraph.pl's
 * and speedscope's format) has one line per stack, "outer;...;inner BYTES", of the bytes live
 * at the peak (peak.c), the flame graph memray shows first. The pprof file is profile.proto
 * (github.com/google/pprof, proto/profile.proto), gzipped, with the sample types of Go's heap
 * profiles: alloc_objects, alloc_space (since start), inuse_objects, inuse_space (at exit);
 * locations carry function names and file:line, so no binary is needed to read it. Each site's
 * figures are exact; where the site has sampled stacks (sample.c), they are shared among its
 * stacks in proportion to the samples' estimates, so the stacks below a site are estimated
 * and their sum is exact. Both are written beside the destination and renamed over it. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "memory/memory_int.h"
#include "preload_int.h"
#include "util/outfile_int.h"

/* -------- A growable byte buffer (bookkeeping memory: we run inside the manager) -------- */
typedef struct buf {
    unsigned char *p;
    size_t n, cap;
    bool failed; /* out of memory at some point: the result is not written */
} buf;

static void put(buf *b, const void *data, size_t len)
{
    if (b->failed)
        return;
    if (b->n + len > b->cap) {
        size_t cap = (b->n + len) * 2 + 256;
        unsigned char *p = realloc(b->p, cap);
        if (!p) {
            b->failed = true;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, data, len);
    b->n += len;
}

/* -------- protobuf wire format: varints and length-delimited fields -------- */
static void varint(buf *b, uint64_t v)
{
    unsigned char out[10];
    size_t n = 0;
    do {
        out[n] = (unsigned char)(v & 0x7f);
        v >>= 7;
        out[n++] |= v ? 0x80 : 0;
    } while (v);
    put(b, out, n);
}

static void field_varint(buf *b, unsigned field, uint64_t v)
{
    varint(b, (uint64_t)field << 3);
    varint(b, v);
}

static void field_bytes(buf *b, unsigned field, const void *data, size_t len)
{
    varint(b, (uint64_t)field << 3 | 2);
    varint(b, len);
    put(b, data, len);
}

/* -------- One stack per site -------- */
typedef struct prof_site {
    uintptr_t frames[ALI_STACK_MAX]; /* innermost first; a site with a static location: none */
    int n;
    const al_site *loc;             /* the site's static location (al_malloc's), or NULL */
    uint64_t allocs, alloc_bytes;   /* since start */
    int64_t live_count, live_bytes; /* at exit */
    int64_t peak_bytes;             /* live at the peak */
} prof_site;

/* Splits each of a site's exact figures (NF of them, in site) among its k sampled stacks
 * (out[0..k-1]) in proportion to their estimates of the same figure (w[i][f]): the shares are
 * rounded and the rest goes to the stack with the largest estimate, so the stacks of a
 * site add up to its exact figure. A figure no sample saw stays with the site's own entry
 * (site, whose figures are replaced by what is left). */
#define NF 5
static void split(uint64_t site[NF], const double (*w)[NF], int k, uint64_t (*out)[NF])
{
    for (int f = 0; f < NF; f++) {
        double sum = 0;
        int top = 0;
        for (int i = 0; i < k; i++) {
            sum += w[i][f] > 0 ? w[i][f] : 0;
            top = w[i][f] > w[top][f] ? i : top;
        }
        uint64_t given = 0;
        for (int i = 0; i < k; i++) {
            out[i][f] =
                sum > 0 && w[i][f] > 0 ? (uint64_t)llround((double)site[f] * (w[i][f] / sum)) : 0;
            out[i][f] = out[i][f] > site[f] - given ? site[f] - given : out[i][f];
            given += out[i][f];
        }
        if (sum > 0)
            out[top][f] += site[f] - given;
        site[f] = sum > 0 ? 0 : site[f];
    }
}

/* Sets p's figures from v (allocs, alloc_bytes, live_count, live_bytes, peak_bytes). */
static void set_figures(prof_site *p, const uint64_t v[NF])
{
    p->allocs = v[0];
    p->alloc_bytes = v[1];
    p->live_count = (int64_t)v[2];
    p->live_bytes = (int64_t)v[3];
    p->peak_bytes = (int64_t)v[4];
}

/* Replaces site entry *p by one entry per sampled stack of its site (stk, k of them) carrying
 * its share of the site's figures, and the site's own entry for what no sample saw; returns the
 * entries used from p on. */
static long expand(prof_site *p, const ali_sample_stack *const *stk, int k)
{
    uint64_t site[NF] = {p->allocs, p->alloc_bytes,
                         (uint64_t)(p->live_count > 0 ? p->live_count : 0),
                         (uint64_t)(p->live_bytes > 0 ? p->live_bytes : 0),
                         (uint64_t)(p->peak_bytes > 0 ? p->peak_bytes : 0)};
    double(*w)[NF] = calloc((size_t)k, sizeof *w);
    uint64_t(*out)[NF] = calloc((size_t)k, sizeof *out);
    if (!w || !out) {
        free(w);
        free(out);
        return 1; /* the site's own entry stays whole */
    }
    for (int i = 0; i < k; i++) {
        w[i][0] = stk[i]->alloc_count;
        w[i][1] = stk[i]->alloc_bytes;
        w[i][2] = stk[i]->live_count;
        w[i][3] = stk[i]->live_bytes;
        w[i][4] = stk[i]->peak_bytes;
    }
    split(site, (const double(*)[NF])w, k, out);
    prof_site own = *p;
    long used = 0;
    for (int i = 0; i < k; i++) {
        prof_site *q = &p[used++];
        *q = own;
        q->loc = NULL;
        q->n = stk[i]->n;
        memcpy(q->frames, stk[i]->pc, (size_t)stk[i]->n * sizeof q->frames[0]);
        set_figures(q, out[i]);
    }
    if (site[0] || site[1] || site[2] || site[3] || site[4]) {
        p[used] = own;
        set_figures(&p[used++], site);
    }
    free(w);
    free(out);
    return used;
}

/* Every site with allocations, into *out (free() it); their number, or -1 out of memory. A
 * site with sampled stacks (sample.c) is one entry per stack, each with its estimated share
 * of the site's exact figures (expand). */
static long gather(prof_site **out)
{
    uint32_t n = ali_site_count(), npeak = 0;
    int64_t peak_total;
    uint64_t peak_ns;
    const ali_peak_site *peak = ali_peak_get(&npeak, &peak_total, &peak_ns);
    size_t nsamples = 0;
    uint64_t taken;
    ali_sample_stack *smp = ali_sample_stacks(&nsamples, &taken);
    const ali_sample_stack **of_site = calloc(nsamples ? nsamples : 1, sizeof *of_site);
    prof_site *s = calloc((size_t)n + nsamples + 1, sizeof *s);
    if (!s || !smp || !of_site) {
        free(s);
        free(of_site);
        ali_internal_free(smp);
        return -1;
    }
    long used = 0;
    for (uint32_t id = 0; id < n; id++) {
        ali_site *site = ali_site_by_id(id);
        if (!site)
            continue;
        prof_site *p = &s[used];
        ali_site_totals t;
        ali_site_totals_get(id, &t);
        p->allocs = t.allocs;
        p->alloc_bytes = t.alloc_bytes;
        p->live_count = t.live_count;
        p->live_bytes = t.live_bytes;
        if (!p->allocs)
            continue;
        p->peak_bytes = peak && id < npeak ? peak[id].bytes : 0;
        p->loc = site->loc;
        if (!site->loc) {
            p->n = ali_preload_stack(site->pc, p->frames);
            if (p->n == 0) {
                p->frames[0] = site->pc;
                p->n = 1;
            }
        }
        int k = 0;
        for (size_t i = 0; !site->loc && i < nsamples; i++)
            if (smp[i].site == id && smp[i].samples > 0) /* not first-allocation stacks */
                of_site[k++] = &smp[i];
        used += k ? expand(p, of_site, k) : 1;
    }
    free(of_site);
    ali_internal_free(smp);
    *out = s;
    return used;
}

/* A frame's name in a folded line: "function (file:line)", or "function (object)"; flame graph
 * readers split frames at ';' and the value at the last space, so ';' becomes ':'. */
static void frame_name(uintptr_t pc, const al_site *loc, char *out, size_t len)
{
    if (loc) {
        const char *slash = loc->file ? strrchr(loc->file, '/') : NULL;
        snprintf(out, len, "%s (%s:%d)", loc->function ? loc->function : "?",
                 slash       ? slash + 1
                 : loc->file ? loc->file
                             : "?",
                 loc->line);
    } else {
        ali_symbol sym;
        ali_symbolize(pc, &sym);
        const char *slash = strrchr(sym.file, '/');
        if (sym.file[0])
            snprintf(out, len, "%s (%s:%d)", sym.function, slash ? slash + 1 : sym.file, sym.line);
        else
            snprintf(out, len, "%s (%s)", sym.function, sym.object);
    }
    for (char *c = out; *c; c++)
        if (*c == ';' || *c == '\n')
            *c = ':';
}

typedef struct folded_line {
    char *text; /* the frames, outermost first */
    int64_t bytes;
} folded_line;

static int by_text(const void *a, const void *b)
{
    return strcmp(((const folded_line *)a)->text, ((const folded_line *)b)->text);
}

/* One line per distinct stack: sites whose frames read the same (the copies of an unrolled
 * loop, one line of source) are summed. */
static void folded(buf *b, const prof_site *s, long n)
{
    folded_line *lines = calloc(n ? (size_t)n : 1, sizeof *lines);
    long used = 0;
    for (long i = 0; lines && i < n; i++) {
        if (s[i].peak_bytes <= 0)
            continue;
        char text[ALI_STACK_MAX * 600 + 32];
        size_t len = 0;
        for (int f = s[i].loc ? 0 : s[i].n - 1; f >= 0; f--) { /* outermost first */
            char name[600];
            frame_name(s[i].loc ? 0 : s[i].frames[f], s[i].loc, name, sizeof name);
            int w = snprintf(text + len, sizeof text - len, "%s%s", len ? ";" : "", name);
            len += w > 0 && (size_t)w < sizeof text - len ? (size_t)w : 0;
        }
        if (!(lines[used].text = strdup(text))) {
            b->failed = true;
            break;
        }
        lines[used++].bytes = s[i].peak_bytes;
    }
    b->failed |= lines == NULL;
    if (lines)
        qsort(lines, (size_t)used, sizeof *lines, by_text);
    for (long i = 0; lines && i < used; i++) {
        int64_t bytes = lines[i].bytes;
        while (i + 1 < used && strcmp(lines[i].text, lines[i + 1].text) == 0)
            bytes += lines[++i].bytes;
        char value[32];
        int w = snprintf(value, sizeof value, " %lld\n", (long long)bytes);
        put(b, lines[i].text, strlen(lines[i].text));
        put(b, value, (size_t)w);
    }
    for (long i = 0; lines && i < used; i++)
        free(lines[i].text);
    free(lines);
}

/* -------- pprof: string table, functions and locations interned by linear search over hashes
 * (a report has thousands of sites at most) -------- */
typedef struct interned {
    uint64_t key;
    uint64_t id;
} interned;

typedef struct pprof {
    buf out; /* the Profile message */
    interned *strings, *funcs, *locs;
    size_t nstrings, nfuncs, nlocs, cap;
} pprof;

static uint64_t hash_text(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ull;
    while (*s)
        h = (h ^ (unsigned char)*s++) * 0x100000001b3ull;
    return h;
}

/* The id of key in table t (n entries), added as next_id when absent; *added tells which. */
static uint64_t intern(interned **t, size_t *n, size_t *cap, uint64_t key, bool *added, bool *oom)
{
    *added = false;
    for (size_t i = 0; i < *n; i++)
        if ((*t)[i].key == key) {
            *added = false;
            return (*t)[i].id;
        }
    if (*n == *cap) {
        size_t c = *cap * 2 + 64;
        interned *p = realloc(*t, c * sizeof *p);
        if (!p) {
            *oom = true;
            return 0;
        }
        *t = p;
        *cap = c;
    }
    (*t)[*n] = (interned){key, *n + 1};
    *added = true;
    return ++*n;
}

static uint64_t string_id(pprof *p, const char *s, size_t *cap)
{
    bool added;
    uint64_t id = intern(&p->strings, &p->nstrings, cap, hash_text(s), &added, &p->out.failed);
    if (added)
        field_bytes(&p->out, 6, s, strlen(s)); /* string_table: in order, "" first */
    return id - 1;
}

static uint64_t location_id(pprof *p, uintptr_t pc, const al_site *loc, size_t caps[3])
{
    uint64_t key = loc ? (uint64_t)(uintptr_t)loc ^ 0x5bd1e995u : pc;
    bool added;
    uint64_t id = intern(&p->locs, &p->nlocs, &caps[2], key, &added, &p->out.failed);
    if (!added)
        return id;
    const char *function, *file;
    int line;
    ali_symbol sym;
    if (loc) {
        function = loc->function ? loc->function : "?";
        file = loc->file ? loc->file : "";
        line = loc->line;
    } else {
        ali_symbolize(pc, &sym);
        function = sym.function;
        file = sym.file[0] ? sym.file : sym.object;
        line = sym.line;
    }
    char fkey[600];
    snprintf(fkey, sizeof fkey, "%s\n%s", function, file);
    bool fadded;
    uint64_t fid =
        intern(&p->funcs, &p->nfuncs, &caps[1], hash_text(fkey), &fadded, &p->out.failed);
    if (fadded) {
        buf f = {0};
        field_varint(&f, 1, fid);
        uint64_t name = string_id(p, function, &caps[0]);
        field_varint(&f, 2, name);
        field_varint(&f, 3, name);
        field_varint(&f, 4, string_id(p, file, &caps[0]));
        if (!f.failed)
            field_bytes(&p->out, 5, f.p, f.n); /* function */
        p->out.failed |= f.failed;
        free(f.p);
    }
    buf l = {0}, ln = {0};
    field_varint(&l, 1, id);
    if (!loc)
        field_varint(&l, 3, pc - 1); /* the call instruction, as pprof's addresses are */
    field_varint(&ln, 1, fid);
    field_varint(&ln, 2, (uint64_t)(line > 0 ? line : 0));
    if (!ln.failed)
        field_bytes(&l, 4, ln.p, ln.n);
    if (!l.failed && !ln.failed)
        field_bytes(&p->out, 4, l.p, l.n); /* location */
    p->out.failed |= l.failed || ln.failed;
    free(l.p);
    free(ln.p);
    return id;
}

static void value_type(pprof *p, unsigned field, const char *type, const char *unit, size_t *cap)
{
    buf v = {0};
    field_varint(&v, 1, string_id(p, type, cap));
    field_varint(&v, 2, string_id(p, unit, cap));
    if (!v.failed)
        field_bytes(&p->out, field, v.p, v.n);
    p->out.failed |= v.failed;
    free(v.p);
}

static void pprof_build(pprof *p, const prof_site *s, long n, uint64_t duration_ns)
{
    size_t caps[3] = {0, 0, 0};
    string_id(p, "", &caps[0]); /* string_table[0] must be "" */
    static const char *const types[4][2] = {{"alloc_objects", "count"},
                                            {"alloc_space", "bytes"},
                                            {"inuse_objects", "count"},
                                            {"inuse_space", "bytes"}};
    for (int i = 0; i < 4; i++)
        value_type(p, 1, types[i][0], types[i][1], &caps[0]);
    for (long i = 0; i < n; i++) {
        buf smp = {0}, ids = {0}, vals = {0};
        if (s[i].loc)
            varint(&ids, location_id(p, 0, s[i].loc, caps));
        for (int f = 0; !s[i].loc && f < s[i].n; f++) /* leaf first, as pprof wants */
            varint(&ids, location_id(p, s[i].frames[f], NULL, caps));
        varint(&vals, s[i].allocs);
        varint(&vals, s[i].alloc_bytes);
        varint(&vals, (uint64_t)(s[i].live_count > 0 ? s[i].live_count : 0));
        varint(&vals, (uint64_t)(s[i].live_bytes > 0 ? s[i].live_bytes : 0));
        field_bytes(&smp, 1, ids.p, ids.n);
        field_bytes(&smp, 2, vals.p, vals.n);
        if (!smp.failed && !ids.failed && !vals.failed)
            field_bytes(&p->out, 2, smp.p, smp.n); /* sample */
        p->out.failed |= smp.failed || ids.failed || vals.failed;
        free(smp.p);
        free(ids.p);
        free(vals.p);
    }
    field_varint(&p->out, 10, duration_ns);
    value_type(p, 11, "space", "bytes", &caps[0]);                    /* period_type */
    field_varint(&p->out, 14, string_id(p, "inuse_space", &caps[0])); /* default_sample_type */
}

/* gzip of in (zlib's deflate with a gzip header); false when out of memory. */
static bool gzip(const buf *in, buf *out)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return false;
    size_t bound = deflateBound(&z, (uLong)in->n) + 64;
    out->p = malloc(bound);
    bool ok = out->p != NULL;
    if (ok) {
        z.next_in = in->p;
        z.avail_in = (uInt)in->n;
        z.next_out = out->p;
        z.avail_out = (uInt)bound;
        ok = deflate(&z, Z_FINISH) == Z_STREAM_END;
        out->n = bound - z.avail_out;
    }
    deflateEnd(&z);
    return ok;
}

static int write_file(const char *path, const buf *b, al_error *err)
{
    ali_outfile out;
    int rc = ali_outfile_begin(&out, path, true, err);
    if (rc != AL_OK)
        return rc;
    rc = ali_outfile_write(&out, b->p, b->n, err);
    return rc == AL_OK ? ali_outfile_commit(&out, err) : (ali_outfile_abort(&out), rc);
}

int ali_profile_write(const char *folded_path, const char *pprof_path, al_error *err)
{
    prof_site *s = NULL;
    long n = gather(&s);
    int rc = n < 0 ? al_error_set(err, AL_ENOMEM, "out of memory for the profile") : AL_OK;
    if (rc == AL_OK && folded_path && *folded_path) {
        buf b = {0};
        folded(&b, s, n);
        rc = b.failed ? al_error_set(err, AL_ENOMEM, "%s: out of memory", folded_path)
                      : write_file(folded_path, &b, err);
        free(b.p);
    }
    if (rc == AL_OK && pprof_path && *pprof_path) {
        pprof p;
        memset(&p, 0, sizeof p);
        pprof_build(&p, s, n, ali_peak_since_start());
        buf z = {0};
        if (p.out.failed || !gzip(&p.out, &z))
            rc = al_error_set(err, AL_ENOMEM, "%s: out of memory", pprof_path);
        else
            rc = write_file(pprof_path, &z, err);
        free(z.p);
        free(p.out.p);
        free(p.strings);
        free(p.funcs);
        free(p.locs);
    }
    free(s);
    return rc;
}
