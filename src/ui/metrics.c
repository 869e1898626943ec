/* GET /metrics: the Prometheus text exposition format (version 0.0.4) of this process and its
 * memory manager, so that an existing Prometheus can scrape a fleet of AstroLab programs. The
 * process_* metrics follow the conventions of the official client libraries (resident and
 * virtual memory, start time, CPU seconds, open and max file descriptors); the astrolab_*
 * metrics are the manager's statistics, live bytes and blocks per tag, and the CUDA caching
 * allocator. Per-tag figures come from ali_memory_tag_sums, the per-site counters as they are:
 * unlike a diagnosis, a scrape takes no sample, so scraping never changes what diagnoses
 * report. */
#include <dirent.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "astrolab/astrolab.h"
#include "astrolab/cuda.h"
#include "astrolab/ui.h"
#include "memory/services_int.h"
#include "ui_int.h"
#include "util/format_int.h"

static void label_value(ali_strbuf *b, const char *s);

/* Under MPI (al_job_rank_from_env), every series carries rank, job and host labels, so that one
 * Prometheus scraping a fleet of ranks tells them apart (docs/PROMETHEUS-MPI.md). Writes the
 * opening brace and those labels, then "," when `more` labels follow, else "}"; outside MPI
 * only "{" when `more`. */
static void job_labels(ali_strbuf *b, bool more)
{
    int rank = al_job_rank_from_env();
    if (rank < 0) {
        if (more)
            ali_strbuf_append(b, "{", 1);
        return;
    }
    char host[256] = "";
    if (gethostname(host, sizeof host - 1) != 0)
        host[0] = 0;
    ali_strbuf_printf(b, "{rank=\"%d\",job=\"", rank);
    label_value(b, al_job_id_from_env());
    ali_strbuf_append(b, "\",host=\"", 8);
    label_value(b, host);
    ali_strbuf_append(b, more ? "\"," : "\"}", 2);
}

/* v in the shortest text that reads back to it ("55.218067", not %.17g's
 * "55.218066999999998"), with the format's spellings of NaN and the infinities. */
static void metric(ali_strbuf *b, const char *name, const char *type, const char *help, double v)
{
    char text[ALI_FMT_REAL_LEN];
    if (isnan(v) || isinf(v))
        snprintf(text, sizeof text, "%s", isnan(v) ? "NaN" : v > 0 ? "+Inf" : "-Inf");
    else
        ali_fmt_double(v, text, sizeof text);
    ali_strbuf_printf(b, "# HELP %s %s\n# TYPE %s %s\n%s", name, help, name, type, name);
    job_labels(b, false);
    ali_strbuf_printf(b, " %s\n", text);
}

/* A label value with \, " and newline escaped as the format requires. */
static void label_value(ali_strbuf *b, const char *s)
{
    for (; *s; s++) {
        if (*s == '\\')
            ali_strbuf_append(b, "\\\\", 2);
        else if (*s == '"')
            ali_strbuf_append(b, "\\\"", 2);
        else if (*s == '\n')
            ali_strbuf_append(b, "\\n", 2);
        else
            ali_strbuf_append(b, s, 1);
    }
}

/* Seconds since the Unix epoch at which this process started: boot time (btime of /proc/stat)
 * plus the start time in clock ticks (field 22 of /proc/self/stat). 0 when unknown. */
static double process_start_time(void)
{
    double btime = 0;
    char line[256];
    FILE *f = fopen("/proc/stat", "re");
    if (!f)
        return 0;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "btime %lf", &btime) == 1)
            break;
    fclose(f);
    f = fopen("/proc/self/stat", "re");
    if (!f)
        return 0;
    char buf[1024];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    /* The command name (field 2) may hold spaces and parentheses: fields resume after the
     * last ')'. Field 3 is the state; starttime is field 22, the 20th after the ')'. */
    char *p = strrchr(buf, ')');
    if (!p)
        return 0;
    unsigned long long start = 0;
    int field = 2;
    char *save = NULL; /* strtok_r: the dashboard serves requests on several threads */
    for (char *tok = strtok_r(p + 1, " ", &save); tok; tok = strtok_r(NULL, " ", &save))
        if (++field == 22) {
            start = strtoull(tok, NULL, 10);
            break;
        }
    long hz = sysconf(_SC_CLK_TCK);
    return btime + (hz > 0 ? (double)start / (double)hz : 0);
}

static void process_metrics(ali_strbuf *b)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) == 0)
        metric(b, "process_cpu_seconds_total", "counter",
               "Total user and system CPU time spent in seconds.",
               (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
                   (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6);
    unsigned long long size = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "re");
    if (f) {
        if (fscanf(f, "%llu %llu", &size, &resident) != 2)
            size = resident = 0;
        fclose(f);
    }
    double page = (double)sysconf(_SC_PAGESIZE);
    metric(b, "process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.",
           (double)size * page);
    metric(b, "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.",
           (double)resident * page);
    double start = process_start_time();
    if (start > 0)
        metric(b, "process_start_time_seconds", "gauge",
               "Start time of the process since unix epoch in seconds.", start);
    DIR *d = opendir("/proc/self/fd");
    if (d) {
        int n = 0;
        for (struct dirent *e; (e = readdir(d));)
            n += e->d_name[0] != '.';
        closedir(d);
        metric(b, "process_open_fds", "gauge", "Number of open file descriptors.", n - 1);
    }
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
        metric(b, "process_max_fds", "gauge", "Maximum number of open file descriptors.",
               (double)rl.rlim_cur);
}

/* Live bytes and blocks per tag, summed over every site. */
static void tag_metrics(ali_strbuf *b)
{
    al_diagnosis_type *sums;
    long ntags = ali_memory_tag_sums(&sums);
    if (ntags < 0) {
        b->failed = true;
        return;
    }
    static const struct {
        const char *name, *help;
    } fam[2] = {
        {"astrolab_memory_tag_bytes", "Bytes in live tracked blocks, by tag."},
        {"astrolab_memory_tag_blocks", "Live tracked blocks, by tag."},
    };
    for (int k = 0; k < 2; k++) {
        ali_strbuf_printf(b, "# HELP %s %s\n# TYPE %s gauge\n", fam[k].name, fam[k].help,
                          fam[k].name);
        for (long i = 0; i < ntags; i++) {
            ali_strbuf_printf(b, "%s", fam[k].name);
            job_labels(b, true);
            ali_strbuf_append(b, "tag=\"", 5);
            label_value(b, sums[i].tag);
            ali_strbuf_printf(b, "\"} %llu\n",
                              (unsigned long long)(k == 0 ? sums[i].bytes : sums[i].count));
        }
    }
    ali_internal_free(sums);
}

void ali_ui_metrics_write(ali_strbuf *b)
{
    process_metrics(b);
    al_memory_stats s;
    if (al_get_memory_stats(&s) != AL_OK)
        memset(&s, 0, sizeof s);
    ali_strbuf_printf(b, "# HELP astrolab_build_info AstroLab library version.\n"
                         "# TYPE astrolab_build_info gauge\n"
                         "astrolab_build_info");
    job_labels(b, true);
    ali_strbuf_printf(b, "version=\"%s\"} 1\n", al_version());
    metric(b, "astrolab_memory_current_bytes", "gauge", "Bytes in live tracked blocks.",
           (double)s.current_bytes);
    metric(b, "astrolab_memory_peak_bytes", "gauge",
           "Highest tracked bytes since start or the last peak reset.", (double)s.peak_bytes);
    metric(b, "astrolab_memory_live_blocks", "gauge", "Live tracked blocks.",
           (double)s.live_blocks);
    metric(b, "astrolab_memory_allocations_total", "counter", "Tracked blocks ever allocated.",
           (double)s.total_allocations);
    metric(b, "astrolab_memory_frees_total", "counter", "Tracked blocks ever freed or reclaimed.",
           (double)s.total_frees);
    metric(b, "astrolab_memory_errors_total", "counter",
           "Invalid frees, double frees, corruptions and failed allocations.", (double)s.errors);
    metric(b, "astrolab_memory_peak_rss_bytes", "gauge", "Peak resident set size in bytes.",
           (double)s.peak_rss_bytes);
    tag_metrics(b);
    metric(b, "astrolab_registry_objects", "gauge", "Objects registered for cleanup.",
           (double)al_registry_count());
    metric(b, "astrolab_cuda_available", "gauge", "1 when a CUDA backend with a device is used.",
           al_cuda_available() ? 1 : 0);
    metric(b, "astrolab_cuda_allocated_bytes", "gauge",
           "Device bytes in live blocks of the CUDA caching allocator.",
           (double)s.cuda_allocated_bytes);
    metric(b, "astrolab_cuda_reserved_bytes", "gauge",
           "Device bytes held by the CUDA caching allocator.", (double)s.cuda_reserved_bytes);
    metric(b, "astrolab_cuda_peak_allocated_bytes", "gauge",
           "Highest CUDA allocated bytes since start or the last peak reset.",
           (double)s.cuda_peak_allocated_bytes);
}

char *al_ui_metrics_text(void)
{
    ali_strbuf b = {0};
    ali_ui_metrics_write(&b);
    return ali_strbuf_take(&b);
}
