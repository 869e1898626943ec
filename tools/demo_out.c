/* Output of every `astrolab demo` stage: text on a terminal, one object per step with --json
 * (demo_out.h). Every JSON node is checked: a document with a node missing is reported as out
 * of memory, never printed as if complete. */
#include <stdio.h>
#include <stdlib.h>

#include "astrolab/astrolab.h"
#include "cli.h"
#include "demo_out.h"

void demo_track(demo_out *o, const void *node)
{
    if (o->json && !node)
        o->oom = true;
}

void demo_step(demo_out *o, const char *part, const char *key, const char *title)
{
    if (o->json) {
        o->step = cJSON_AddObjectToObject(o->stages, key);
        demo_track(o, o->step);
    } else if (part) {
        printf("\n== %s: %s: %s ==\n", part, key, title);
    } else {
        printf("\n== %d. %s: %s ==\n", ++o->section, key, title);
    }
}

void demo_line(const char *indent, const char *label, const char *value)
{
    printf("%s%-26s %s\n", indent, label, value);
}

/* A figure as `format` (cli_format_bytes or cli_format_count) writes it, or a number. */
static void put_formatted(demo_out *o, const char *key, const char *label, uint64_t v,
                          const char *(*format)(uint64_t, char *, size_t))
{
    char b[32];
    if (o->json)
        demo_track(o, cJSON_AddNumberToObject(o->step, key, (double)v));
    else
        demo_line("  ", label ? label : key, format(v, b, sizeof b));
}

void demo_put_bytes(demo_out *o, const char *key, const char *label, uint64_t v)
{
    put_formatted(o, key, label, v, cli_format_bytes);
}

void demo_put_count(demo_out *o, const char *key, const char *label, uint64_t v)
{
    put_formatted(o, key, label, v, cli_format_count);
}

void demo_put_number(demo_out *o, const char *key, const char *label, double v, const char *unit)
{
    char b[64];
    if (o->json) {
        demo_track(o, cli_json_add_double(o->step, key, v) ? o : NULL);
    } else {
        snprintf(b, sizeof b, "%.2f%s%s", v, *unit ? " " : "", unit);
        demo_line("  ", label ? label : key, b);
    }
}

void demo_put_text(demo_out *o, const char *key, const char *label, const char *text)
{
    if (o->json)
        demo_track(o, cJSON_AddStringToObject(o->step, key, text));
    else
        demo_line("  ", label ? label : key, text);
}

void demo_put_check(demo_out *o, const char *key, const char *label, bool ok)
{
    o->failed |= !ok;
    if (o->json)
        demo_track(o, cJSON_AddBoolToObject(o->step, key, ok));
    else
        demo_line("  ", label ? label : key, ok ? "yes" : "NO (self-check failed)");
}

void demo_put_raw(demo_out *o, const char *key, char *text)
{
    demo_track(o, cli_json_add_raw(o->step, key, text) ? o : NULL);
}

void demo_put_stats(demo_out *o, al_memory_stats *keep)
{
    al_memory_stats s;
    if (al_get_memory_stats(&s) != AL_OK) {
        o->failed = true;
        return;
    }
    if (keep)
        *keep = s;
    if (o->json) {
        demo_put_raw(o, "stats", al_memory_stats_json());
        return;
    }
    char a[32], b[32], line[80];
    printf("  memory statistics:\n");
    demo_line("    ", "current", cli_format_bytes(s.current_bytes, a, sizeof a));
    demo_line("    ", "peak", cli_format_bytes(s.peak_bytes, a, sizeof a));
    demo_line("    ", "live blocks", cli_format_count(s.live_blocks, a, sizeof a));
    demo_line("    ", "allocations", cli_format_count(s.total_allocations, a, sizeof a));
    demo_line("    ", "frees", cli_format_count(s.total_frees, a, sizeof a));
    snprintf(line, sizeof line, "%s (peak %s)", cli_format_bytes(s.rss_bytes, a, sizeof a),
             cli_format_bytes(s.peak_rss_bytes, b, sizeof b));
    demo_line("    ", "process rss", line);
    if (s.errors)
        demo_line("    ", "errors", cli_format_count(s.errors, a, sizeof a));
}
