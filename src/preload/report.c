/* The exit report of `astrolab run`: statistics, peak, the blocks still live at exit grouped by
 * source line (largest first, like valgrind's leak summary), and the diagnosis's
 * recommendations, written as JSON to $ASTROLAB_RUN_REPORT by the process whose pid is
 * $ASTROLAB_RUN_PID (forked children keep tracking but do not write it). The CLI
 * (tools/cmd_run.c) prints it. Everything here runs inside ali_preload_enter, so the report's
 * own allocations are raw and do not count. */
#include <cjson/cJSON.h>
#include <fcntl.h>
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "astrolab/log.h"
#include "astrolab/ui.h"
#include "memory/memory_int.h"
#include "memory/reports_int.h"
#include "preload_int.h"
#include "util/json_int.h"
#include "util/outfile_int.h"
#include "util/settings_int.h"

typedef struct leak {
    ali_symbol sym;
    const char *tag;
    uint64_t count, bytes;           /* live at exit */
    uint64_t lost_count, lost_bytes; /* of those, unreachable (reach.c) */
    uintptr_t stack_key; /* a stack site's synthetic pc (ASTROLAB_STACK_DEPTH > 1), else 0 */
    char where[1024];    /* "file:line;file:line..." of the stack: the grouping key */
    uint32_t site_id;    /* the group's first site: its sampled stacks stand for the group's */
} leak;

/* Blocks the C runtime keeps until exit (thread control blocks, stdio buffers) and blocks that
 * shared libraries' constructors made before main: counted apart from leaks, as valgrind's
 * default suppressions do. */
static uint64_t runtime_blocks, runtime_bytes;
static bool reach_known; /* the exit scan ran: leaks carry lost_count and lost_bytes */

/* A site of the runtime: made before main, or called from ld.so or libc. */
static bool is_runtime(const ali_site *s)
{
    if (strcmp(s->tag, "before-main") == 0)
        return true;
    uintptr_t frames[ALI_STACK_MAX];
    return !s->loc &&
           ali_symbol_in_runtime(ali_preload_stack(s->pc, frames) > 0 ? frames[0] : s->pc);
}

static char report_path[4096];

/* "file:line;" for each frame of a stack site, into where. */
static void stack_where(uintptr_t key, char *where, size_t len)
{
    uintptr_t pc[ALI_STACK_MAX];
    int n = ali_preload_stack(key, pc);
    size_t used = 0;
    where[0] = '\0';
    for (int i = 0; i < n && used < len; i++) {
        ali_symbol sym;
        ali_symbolize(pc[i], &sym);
        int w = snprintf(where + used, len - used, "%s:%d;", sym.file[0] ? sym.file : sym.function,
                         sym.line);
        used += w > 0 ? (size_t)w : 0;
    }
}

static void describe(const ali_site *s, ali_symbol *sym)
{
    uintptr_t frames[ALI_STACK_MAX];
    int n = s->loc ? 0 : ali_preload_stack(s->pc, frames);
    if (n > 0) {
        ali_symbolize(frames[ali_wrapper_named_frame(frames, n)], sym);
    } else if (s->loc) {
        memset(sym, 0, sizeof *sym);
        snprintf(sym->function, sizeof sym->function, "%s", s->loc->function);
        snprintf(sym->file, sizeof sym->file, "%s", s->loc->file);
        sym->line = s->loc->line;
    } else {
        ali_symbolize(s->pc, sym);
    }
}

static bool same_line(const leak *l, const ali_symbol *sym)
{
    if (sym->line && l->sym.line)
        return l->sym.line == sym->line && strcmp(l->sym.file, sym->file) == 0 &&
               strcmp(l->sym.function, sym->function) == 0;
    return !sym->line && !l->sym.line && strcmp(l->sym.function, sym->function) == 0 &&
           strcmp(l->sym.object, sym->object) == 0;
}

static int by_bytes_desc(const void *a, const void *b)
{
    const leak *x = a, *y = b;
    return x->bytes < y->bytes ? 1 : x->bytes > y->bytes ? -1 : 0;
}

/* The entry of site s in out (used entries), added when it has none: sites are grouped by
 * source line (an unrolled loop gives one site per copy, one line), stack sites by stack. */
static size_t group_of(leak *out, size_t *used, const ali_site *s)
{
    ali_symbol sym;
    describe(s, &sym);
    char where[1024] = "";
    bool stack = !s->loc && (s->pc & ALI_STACK_BIT);
    if (stack)
        stack_where(s->pc, where, sizeof where);
    size_t j = 0;
    while (j < *used && !(stack ? out[j].stack_key && strcmp(out[j].where, where) == 0
                                : !out[j].stack_key && same_line(&out[j], &sym)))
        j++;
    if (j == *used) {
        memset(&out[j], 0, sizeof out[j]);
        out[j].sym = sym;
        out[j].tag = s->tag;
        out[j].stack_key = stack ? s->pc : 0;
        out[j].site_id = s->id;
        snprintf(out[j].where, sizeof out[j].where, "%s", where);
        (*used)++;
    }
    return j;
}

/* Live blocks grouped by source line (group_of). */
static leak *collect(size_t *n)
{
    uint32_t nsites = ali_site_count();
    ali_reach_site *reached = ali_preload_reachable(nsites); /* NULL: no lost figures */
    reach_known = reached != NULL;
    leak *out = calloc(nsites ? nsites : 1, sizeof *out);
    size_t used = 0;
    for (uint32_t id = 0; out && id < nsites; id++) {
        ali_site *s = ali_site_by_id(id);
        ali_site_totals t;
        ali_site_totals_get(id, &t);
        if (!s || t.live_count <= 0)
            continue;
        /* What libc allocated for the program and still holds a pointer to (an open FILE, a
         * dlopen'd object) is the runtime's, as valgrind's "still reachable"; what nothing
         * reaches is the program's leak at its own line. */
        bool via_libc = strcmp(s->tag, ali_tag_libc) == 0;
        bool all_reached = reached && (uint64_t)t.live_count <= reached[id].count;
        if (is_runtime(s) || (via_libc && all_reached)) {
            runtime_blocks += (uint64_t)t.live_count;
            runtime_bytes += (uint64_t)t.live_bytes;
            continue;
        }
        size_t j = group_of(out, &used, s);
        out[j].count += (uint64_t)t.live_count;
        out[j].bytes += (uint64_t)t.live_bytes;
        if (reached) { /* a block freed since the counters were read is not negative here */
            uint64_t rc = reached[id].count, rb = reached[id].bytes;
            out[j].lost_count += (uint64_t)t.live_count > rc ? (uint64_t)t.live_count - rc : 0;
            out[j].lost_bytes += (uint64_t)t.live_bytes > rb ? (uint64_t)t.live_bytes - rb : 0;
        }
    }
    if (out)
        qsort(out, used, sizeof *out, by_bytes_desc);
    ali_internal_free(reached);
    *n = used;
    return out;
}

/* One frame: {"function", "file", "line", "object"}. */
static cJSON *frame_json(const ali_symbol *sym)
{
    cJSON *f = cJSON_CreateObject();
    cJSON_AddStringToObject(f, "function", sym->function);
    cJSON_AddStringToObject(f, "file", sym->file);
    cJSON_AddNumberToObject(f, "line", sym->line);
    cJSON_AddStringToObject(f, "object", sym->object);
    return f;
}

/* Frames [{"function", "file", "line", "object"}...], innermost first. */
static cJSON *frames_json(const uintptr_t *pc, int n)
{
    cJSON *arr = cJSON_CreateArray();
    for (int i = 0; arr && i < n; i++) {
        ali_symbol sym;
        ali_symbolize(pc[i], &sym);
        cJSON_AddItemToArray(arr, frame_json(&sym));
    }
    return arr;
}

/* Sites listed at most in `peak.sites`, `temporaries`, `hot_sites` and `sampled_stacks`. */
#define TOP_SITES 50

/* The sampled stacks (sample.c), copied once when the report is built. */
static ali_sample_stack *samples;
static size_t nsamples;
static uint64_t samples_taken;

/* The sampled stack of `site` holding the most bytes live at exit (or at the peak) that goes
 * deeper than the site's own frames (own[0..n), innermost first) and begins with them, or
 * NULL: the stack shown for the site. A site of one frame (own NULL, n 1) takes any sampled
 * stack of more frames; a site behind allocation wrappers, whose own frames end at the first
 * frame outside them, takes one that goes on to that frame's callers. */
static const ali_sample_stack *sample_of(uint32_t site, bool at_peak, const uintptr_t *own, int n)
{
    const ali_sample_stack *best = NULL, *first = NULL, *any = NULL;
    for (size_t i = 0; i < nsamples; i++) {
        const ali_sample_stack *s = &samples[i];
        if (s->site != site || s->n <= n ||
            (own && memcmp(s->pc, own, (size_t)n * sizeof *own) != 0))
            continue;
        double b = at_peak ? s->peak_bytes : s->live_bytes;
        if (b > 0.5 && (!best || b > (at_peak ? best->peak_bytes : best->live_bytes)))
            best = s;
        else if (s->samples == 0)
            first = s; /* the site's first allocation (ali_sample_first_stack) */
        else if (!any)
            any = s;
    }
    /* With no stack holding bytes, the first allocation's; when a sample fell on that same
     * stack (the first entry is shared) and its block was freed since, that entry has samples
     * and no bytes: still a stack of the site, better than none. */
    return best ? best : first ? first : any;
}

/* `stack` of an entry (SPEC §6: every entry has one): the sampled stack that extends the site's
 * own frames (marked so), else the site's own frames, else its one frame. */
static void add_stack(cJSON *o, const leak *l, bool at_peak)
{
    uintptr_t own[ALI_STACK_MAX];
    int n = l->stack_key ? ali_preload_stack(l->stack_key, own) : 0;
    const ali_sample_stack *s =
        n > 0 ? sample_of(l->site_id, at_peak, own, n) : sample_of(l->site_id, at_peak, NULL, 1);
    if (s) {
        cJSON_AddItemToObject(o, "stack", frames_json(s->pc, s->n));
        cJSON_AddBoolToObject(o, "stack_sampled", true);
    } else if (n > 0) {
        cJSON_AddItemToObject(o, "stack", frames_json(own, n));
    } else {
        cJSON *one = cJSON_CreateArray();
        cJSON_AddItemToArray(one, frame_json(&l->sym));
        cJSON_AddItemToObject(o, "stack", one);
    }
}

static int by_alloc_bytes_desc(const void *a, const void *b)
{
    double x = ((const ali_sample_stack *)a)->alloc_bytes;
    double y = ((const ali_sample_stack *)b)->alloc_bytes;
    return x < y ? 1 : x > y ? -1 : 0;
}

/* `sampling` (how the stacks were sampled) and `sampled_stacks` (the largest by estimated
 * bytes allocated, with their estimates; exact when every allocation was sampled). */
static void samples_json(cJSON *doc)
{
    int64_t interval;
    uint64_t seed;
    ali_sample_settings(&interval, &seed);
    bool exact = interval == 0;
    cJSON *o = cJSON_AddObjectToObject(doc, "sampling");
    cJSON_AddNumberToObject(o, "interval_bytes", (double)interval);
    cJSON_AddNumberToObject(o, "seed", (double)seed);
    size_t sampled = 0; /* stacks with samples: not the first-allocation stacks alone */
    for (size_t i = 0; i < nsamples; i++)
        sampled += samples[i].samples > 0;
    cJSON_AddNumberToObject(o, "samples", (double)samples_taken);
    cJSON_AddNumberToObject(o, "stacks", (double)sampled);
    cJSON_AddBoolToObject(o, "exact", exact);
    qsort(samples, nsamples, sizeof *samples, by_alloc_bytes_desc);
    cJSON *arr = cJSON_AddArrayToObject(doc, "sampled_stacks");
    for (size_t i = 0, shown = 0; arr && i < nsamples && shown < TOP_SITES; i++) {
        const ali_sample_stack *s = &samples[i];
        if (s->samples == 0)
            continue;
        shown++;
        ali_symbol sym;
        ali_symbolize(s->pc[ali_wrapper_named_frame(s->pc, s->n)], &sym);
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "function", sym.function);
        cJSON_AddStringToObject(e, "file", sym.file);
        cJSON_AddNumberToObject(e, "line", sym.line);
        cJSON_AddStringToObject(e, "object", sym.object);
        cJSON_AddNumberToObject(e, "samples", (double)s->samples);
        cJSON_AddNumberToObject(e, "allocations", round(s->alloc_count));
        cJSON_AddNumberToObject(e, "bytes", round(s->alloc_bytes));
        cJSON_AddNumberToObject(e, "peak_count", round(s->peak_count));
        cJSON_AddNumberToObject(e, "peak_bytes", round(s->peak_bytes));
        cJSON_AddNumberToObject(e, "live_count", round(s->live_count));
        cJSON_AddNumberToObject(e, "live_bytes", round(s->live_bytes));
        cJSON_AddBoolToObject(e, "exact", exact);
        cJSON_AddItemToObject(e, "stack", frames_json(s->pc, s->n));
        cJSON_AddItemToArray(arr, e);
    }
}

static cJSON *leaks_json(void)
{
    size_t n = 0;
    leak *l = collect(&n);
    cJSON *arr = cJSON_CreateArray();
    for (size_t i = 0; arr && l && i < n; i++) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "function", l[i].sym.function);
        cJSON_AddStringToObject(o, "file", l[i].sym.file);
        cJSON_AddNumberToObject(o, "line", l[i].sym.line);
        cJSON_AddNumberToObject(o, "count", (double)l[i].count);
        cJSON_AddNumberToObject(o, "bytes", (double)l[i].bytes);
        cJSON_AddBoolToObject(o, "exact", true); /* counted, never estimated */
        if (reach_known) {
            cJSON_AddNumberToObject(o, "lost_count", (double)l[i].lost_count);
            cJSON_AddNumberToObject(o, "lost_bytes", (double)l[i].lost_bytes);
        }
        add_stack(o, &l[i], false);
        cJSON_AddStringToObject(o, "tag", l[i].tag);
        cJSON_AddStringToObject(o, "object", l[i].sym.object);
        /* Whose leak: the program's, or made entirely inside other libraries; and whether a
         * suppression (suppress.c) matches a frame of it. */
        ali_symbol frames[ALI_STACK_MAX];
        uintptr_t pc[ALI_STACK_MAX];
        /* Not from a sampled stack: which leaks were sampled varies from run to run, and every
         * full stack goes through the program's main. */
        int nf = l[i].stack_key ? ali_preload_stack(l[i].stack_key, pc) : 0;
        for (int f = 0; f < nf; f++)
            ali_symbolize(pc[f], &frames[f]);
        if (nf == 0) {
            frames[0] = l[i].sym;
            nf = 1;
        }
        cJSON_AddStringToObject(o, "origin",
                                ali_frames_in_program(frames, nf) ? "program" : "library");
        const char *suppressed = ali_suppression_match(frames, nf);
        cJSON_AddItemToObject(o, "suppressed",
                              suppressed ? cJSON_CreateString(suppressed) : cJSON_CreateNull());
        cJSON_AddItemToArray(arr, o);
    }
    free(l);
    return arr;
}

/* One entry of `peak`, `temporaries` or `hot_sites`: the site's names and stack, as leaks'
 * (the sampled stack holding most at the peak for `peak`, at exit for the others). */
static cJSON *site_entry(const leak *l, bool at_peak)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "function", l->sym.function);
    cJSON_AddStringToObject(o, "file", l->sym.file);
    cJSON_AddNumberToObject(o, "line", l->sym.line);
    add_stack(o, l, at_peak);
    cJSON_AddStringToObject(o, "tag", l->tag);
    cJSON_AddStringToObject(o, "object", l->sym.object);
    return o;
}

static int by_count_desc(const void *a, const void *b)
{
    const leak *x = a, *y = b;
    return x->count < y->count ? 1 : x->count > y->count ? -1 : by_bytes_desc(a, b);
}

/* Sites considered for a list of TOP_SITES lines: the sites with the highest scores. Lines are
 * groups of sites (the copies of an unrolled loop), so a line's rank comes from its largest
 * sites; naming every site of a large program (thousands, each a debug-information lookup)
 * cost perl's runs 50 ms. */
#define CANDIDATES (4 * TOP_SITES)

static const uint64_t *sort_scores;
static int by_score_desc(const void *a, const void *b)
{
    uint64_t x = sort_scores[*(const uint32_t *)a], y = sort_scores[*(const uint32_t *)b];
    return x < y ? 1 : x > y ? -1 : 0;
}

/* The ids of at most CANDIDATES sites with the highest nonzero score (of n), highest first,
 * into a new array (free() it) of *count; NULL when out of memory. Single-threaded: the
 * report's. */
static uint32_t *top_ids(const uint64_t *score, uint32_t n, size_t *count)
{
    uint32_t *ids = calloc(n ? n : 1, sizeof *ids);
    size_t used = 0;
    for (uint32_t id = 0; ids && id < n; id++)
        if (score[id])
            ids[used++] = id;
    sort_scores = score;
    if (ids)
        qsort(ids, used, sizeof *ids, by_score_desc);
    *count = used < CANDIDATES ? used : CANDIDATES;
    return ids;
}

/* `peak`: the balance's high-water mark, when, and what each site had live then (peak.c). */
static cJSON *peak_json(const cJSON *stats)
{
    uint32_t n = 0;
    int64_t bytes = 0;
    uint64_t time_ns = 0;
    const ali_peak_site *at = ali_peak_get(&n, &bytes, &time_ns);
    const cJSON *pb = cJSON_GetObjectItemCaseSensitive(stats, "peak_bytes");
    double peak = cJSON_IsNumber(pb) ? pb->valuedouble : 0;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "bytes", peak);
    cJSON_AddNumberToObject(o, "time_ns", (double)time_ns);
    cJSON_AddNumberToObject(o, "sites_bytes", (double)bytes); /* the copy's own total */
    bool exact = at && (double)bytes == peak;
    cJSON_AddBoolToObject(o, "exact", exact);
    leak *g = calloc(CANDIDATES, sizeof *g);
    uint64_t *bytes_at = calloc(n ? n : 1, sizeof *bytes_at);
    for (uint32_t id = 0; bytes_at && at && id < n; id++)
        bytes_at[id] = at[id].count > 0 && at[id].bytes > 0 ? (uint64_t)at[id].bytes : 0;
    size_t used = 0, candidates = 0;
    uint32_t *ids = bytes_at ? top_ids(bytes_at, n, &candidates) : NULL;
    for (size_t i = 0; g && ids && i < candidates; i++) {
        ali_site *s = ali_site_by_id(ids[i]);
        if (!s)
            continue;
        size_t j = group_of(g, &used, s);
        g[j].count += (uint64_t)at[ids[i]].count;
        g[j].bytes += (uint64_t)at[ids[i]].bytes;
    }
    free(ids);
    free(bytes_at);
    if (g)
        qsort(g, used, sizeof *g, by_bytes_desc);
    cJSON *arr = cJSON_AddArrayToObject(o, "sites");
    for (size_t i = 0; g && i < used && i < TOP_SITES; i++) {
        cJSON *e = site_entry(&g[i], true);
        cJSON_AddNumberToObject(e, "count", (double)g[i].count);
        cJSON_AddNumberToObject(e, "bytes", (double)g[i].bytes);
        cJSON_AddBoolToObject(e, "exact", exact);
        cJSON_AddItemToArray(arr, e);
    }
    free(g);
    return o;
}

/* `temporaries` (blocks freed before their thread's next allocation, by site) and `hot_sites`
 * (allocations by site), each largest first. */
static void counts_json(cJSON *doc)
{
    uint32_t n = ali_site_count();
    uint64_t *allocs = calloc(n ? n : 1, sizeof *allocs);
    uint64_t *temps = calloc(n ? n : 1, sizeof *temps);
    leak *temp = calloc(CANDIDATES, sizeof *temp), *hot = calloc(CANDIDATES, sizeof *hot);
    size_t nt = 0, nh = 0, ch = 0, ct = 0;
    for (uint32_t id = 0; allocs && temps && id < n; id++) {
        ali_site_totals t;
        ali_site_totals_get(id, &t);
        allocs[id] = t.allocs;
        temps[id] = ali_temporaries_of(id);
    }
    uint32_t *by_allocs = allocs ? top_ids(allocs, n, &ch) : NULL;
    uint32_t *by_temps = temps ? top_ids(temps, n, &ct) : NULL;
    for (size_t i = 0; temp && hot && by_allocs && i < ch; i++) {
        ali_site *s = ali_site_by_id(by_allocs[i]);
        size_t j = s ? group_of(hot, &nh, s) : 0;
        if (s) {
            hot[j].count += allocs[by_allocs[i]];
            hot[j].lost_count += temps[by_allocs[i]];
        }
    }
    for (size_t i = 0; temp && hot && by_temps && i < ct; i++) {
        ali_site *s = ali_site_by_id(by_temps[i]);
        size_t j = s ? group_of(temp, &nt, s) : 0;
        if (s) {
            temp[j].count += temps[by_temps[i]];
            temp[j].lost_count += allocs[by_temps[i]];
        }
    }
    free(by_allocs);
    free(by_temps);
    free(allocs);
    free(temps);
    cJSON *ta = cJSON_AddArrayToObject(doc, "temporaries");
    cJSON *ha = cJSON_AddArrayToObject(doc, "hot_sites");
    if (temp && hot) {
        qsort(temp, nt, sizeof *temp, by_count_desc);
        qsort(hot, nh, sizeof *hot, by_count_desc);
    }
    for (size_t i = 0; temp && hot && i < nt && i < TOP_SITES; i++) {
        cJSON *e = site_entry(&temp[i], false);
        cJSON_AddNumberToObject(e, "count", (double)temp[i].count);
        cJSON_AddNumberToObject(e, "allocations", (double)temp[i].lost_count);
        cJSON_AddItemToArray(ta, e);
    }
    for (size_t i = 0; temp && hot && i < nh && i < TOP_SITES; i++) {
        cJSON *e = site_entry(&hot[i], false);
        cJSON_AddNumberToObject(e, "count", (double)hot[i].count);
        cJSON_AddNumberToObject(e, "temporaries", (double)hot[i].lost_count);
        cJSON_AddItemToArray(ha, e);
    }
    free(temp);
    free(hot);
}

/* `timeline`: [[time_ns, current_bytes, rss_bytes]...] (timeline.c). */
static cJSON *timeline_json(void)
{
    size_t n = 0;
    uint32_t nsites;
    int64_t peak;
    uint64_t peak_ns;
    ali_peak_get(&nsites, &peak, &peak_ns);
    const ali_run_timeline_row *rows = ali_run_timeline_get(&n, peak_ns, peak);
    cJSON *arr = cJSON_CreateArray();
    for (size_t i = 0; arr && rows && i < n; i++) {
        cJSON *r = cJSON_CreateArray();
        cJSON_AddItemToArray(r, cJSON_CreateNumber((double)rows[i].time_ns));
        cJSON_AddItemToArray(r, cJSON_CreateNumber((double)rows[i].current_bytes));
        cJSON_AddItemToArray(r, cJSON_CreateNumber((double)rows[i].rss_bytes));
        cJSON_AddItemToArray(arr, r);
    }
    return arr;
}

static cJSON *recommendations_json(void)
{
    al_diagnosis *d = al_diagnose_memory_leaks();
    cJSON *doc = ali_diagnosis_cjson(d);
    al_diagnosis_free(d);
    cJSON *rec = doc ? cJSON_DetachItemFromObject(doc, "recommendations") : NULL;
    cJSON_Delete(doc);
    return rec ? rec : cJSON_CreateArray();
}

static pid_t report_pid; /* the process that writes the report: a forked child inherits the
                            exit handler, and must not */

cJSON *ali_report_build(void)
{
    cJSON *stats = ali_memory_stats_cjson();
    cJSON *doc = cJSON_CreateObject();
    uint32_t npk;
    int64_t pk_bytes;
    uint64_t pk_ns;
    ali_peak_get(&npk, &pk_bytes, &pk_ns); /* the peak's copy first: the samples' included */
    ali_internal_free(samples);
    samples = ali_sample_stacks(&nsamples, &samples_taken);
    cJSON_AddItemToObject(doc, "stats", stats ? stats : cJSON_CreateObject());
    cJSON_AddItemToObject(doc, "leaks", leaks_json());
    cJSON_AddItemToObject(doc, "recommendations", recommendations_json());
    cJSON_AddItemToObject(doc, "peak", peak_json(stats));
    counts_json(doc);
    cJSON_AddItemToObject(doc, "timeline", timeline_json());
    samples_json(doc);
    cJSON_AddItemToObject(doc, "errors", ali_errors_json());
    /* After the leaks: their origin is what marks an --own pattern used. */
    cJSON_AddItemToObject(doc, "unused_wrappers", ali_wrappers_unused_json());
    cJSON_AddItemToObject(doc, "unused_own", ali_own_unused_json());
    cJSON *runtime = cJSON_AddObjectToObject(doc, "runtime");
    cJSON_AddNumberToObject(runtime, "live_blocks", (double)runtime_blocks);
    cJSON_AddBoolToObject(runtime, "reach_scanned", reach_known); /* false: no lost figures */
    cJSON_AddNumberToObject(runtime, "live_bytes", (double)runtime_bytes);
    return doc;
}

void ali_report_write(cJSON *doc, const char *path)
{
    char *text = ali_json_print(doc, true);
    cJSON_Delete(doc);
    /* Written beside the destination and renamed over it: an old report survives a failure. */
    ali_outfile out;
    al_error err;
    int rc = text ? ali_outfile_begin(&out, path, true, &err) : AL_ENOMEM;
    if (rc == AL_OK) {
        rc = ali_outfile_write(&out, text, strlen(text), &err);
        if (rc == AL_OK)
            rc = ali_outfile_write(&out, "\n", 1, &err);
        rc = rc == AL_OK ? ali_outfile_commit(&out, &err) : (ali_outfile_abort(&out), rc);
    }
    if (rc != AL_OK)
        al_log(AL_LOG_ERROR, "astrolab.memory", "astrolab run: the report was not written: %s",
               text ? err.message : "out of memory");
    free(text);
}

static void write_report(void)
{
    static atomic_flag written = ATOMIC_FLAG_INIT; /* at exit, or at _exit: once */
    if (getpid() != report_pid || atomic_flag_test_and_set(&written))
        return;
    ali_preload_enter();
    cJSON *doc = ali_report_build();
    ali_children_add(doc); /* the processes it started, tracked or not */
    ali_report_write(doc, report_path);
    al_error err;
    const char *folded = ali_setting_text(ALI_SET_RUN_FOLDED);
    const char *pprof = ali_setting_text(ALI_SET_RUN_PPROF);
    if ((folded || pprof) && ali_profile_write(folded, pprof, &err) != AL_OK)
        al_log(AL_LOG_ERROR, "astrolab.memory", "astrolab run: a profile was not written: %s",
               err.message);
    ali_preload_leave();
}

void ali_report_at__exit(int status)
{
    if (getpid() != report_pid) {
        ali_children_at__exit(status);
        return;
    }
    ali_exit_watchdog();
    write_report();
}

/* `astrolab run --ui`: the dashboard, served from inside the program; the CLI chose the port and
 * the token and printed the URL. */
static void start_dashboard(void)
{
    const char *port = getenv("ASTROLAB_RUN_UI_PORT");
    if (!port || !*port)
        return;
    al_ui_options o;
    al_ui_options_init(&o);
    o.host = getenv("ASTROLAB_RUN_UI_HOST");
    o.port = (uint16_t)atoi(port);
    o.token = getenv("ASTROLAB_RUN_UI_TOKEN");
    /* The socket astrolab run bound before printing the URL: no other process can take the
     * port in between. */
    const char *fd = getenv("ASTROLAB_RUN_UI_FD");
    o.listen_fd = fd && *fd ? atoi(fd) : -1;
    al_error err;
    ali_preload_enter(); /* the server's own setup is not the program's either */
    int rc = al_ui_serve(&o, &err);
    ali_preload_leave();
    /* The socket stays open across exec: a program that replaces itself (bash runs its last
     * command so) serves the dashboard again from its new image. The processes it starts close
     * their copy (children.c). */
    if (rc == AL_OK && o.listen_fd >= 0)
        fcntl(o.listen_fd, F_SETFD, 0);
    if (rc != AL_OK)
        al_log(AL_LOG_ERROR, "astrolab.ui", "astrolab run --ui: the dashboard did not start: %s",
               err.message);
}

void ali_preload_report_init(void)
{
    const char *path = getenv("ASTROLAB_RUN_REPORT");
    const char *pid = getenv("ASTROLAB_RUN_PID");
    if (!path || !*path || !pid)
        return;
    if (atol(pid) != (long)getpid()) {
        ali_children_start(); /* a process the program started: its own report (children.c) */
        return;
    }
    snprintf(report_path, sizeof report_path, "%s", path);
    report_pid = getpid();
    /* --fail-after N: the program's N-th allocation fails, not one of each process it starts
     * (they inherit the variable, and ignore it: only the process of ASTROLAB_RUN_PID reads it;
     * the CLI checked the number). */
    const char *fail = ali_setting_text(ALI_SET_RUN_FAIL_AFTER);
    if (fail)
        al_memory_fail_after(strtoull(fail, NULL, 10), 0);
    atexit(write_report);
    start_dashboard();
}
