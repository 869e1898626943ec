/* Output of the later `astrolab demo` stages: text on a terminal, one object per step with
 * --json (demo_out.h). */
#include <stdio.h>

#include "astrolab/astrolab.h"
#include "cli.h"
#include "demo_out.h"

void demo_step(demo_out *o, const char *part, const char *key, const char *title)
{
    if (o->json)
        o->step = cJSON_AddObjectToObject(o->stages, key);
    else
        printf("\n== %s: %s: %s ==\n", part, key, title);
}

/* A figure as the formatter (cli_format_bytes or cli_format_count) writes it, or a number. */
static void put_formatted(demo_out *o, const char *key, uint64_t v,
                          const char *(*format)(uint64_t, char *, size_t))
{
    char b[32];
    if (o->json)
        cJSON_AddNumberToObject(o->step, key, (double)v);
    else
        printf("  %-26s %s\n", key, format(v, b, sizeof b));
}

void demo_put_bytes(demo_out *o, const char *key, uint64_t v)
{
    put_formatted(o, key, v, cli_format_bytes);
}

void demo_put_count(demo_out *o, const char *key, uint64_t v)
{
    put_formatted(o, key, v, cli_format_count);
}

void demo_put_number(demo_out *o, const char *key, double v, const char *unit)
{
    if (o->json)
        cJSON_AddNumberToObject(o->step, key, v);
    else
        printf("  %-26s %.3g%s%s\n", key, v, *unit ? " " : "", unit);
}

void demo_put_text(demo_out *o, const char *key, const char *text)
{
    if (o->json)
        cJSON_AddStringToObject(o->step, key, text);
    else
        printf("  %-26s %s\n", key, text);
}

void demo_put_check(demo_out *o, const char *key, bool ok)
{
    o->failed |= !ok;
    if (o->json)
        cJSON_AddBoolToObject(o->step, key, ok);
    else
        printf("  %-26s %s\n", key, ok ? "yes" : "NO (self-check failed)");
}

void demo_put_stats(demo_out *o)
{
    al_memory_stats s;
    if (al_get_memory_stats(&s) != AL_OK)
        return;
    if (o->json) {
        if (!cli_json_add_raw(o->step, "stats", al_memory_stats_json()))
            o->failed = true; /* a missing key is a step that could not run, not a pass */
        return;
    }
    char a[32], b[32], c[32], d[32];
    printf("  memory: tracked %s in %s blocks (peak %s), rss %s\n",
           cli_format_bytes(s.current_bytes, a, sizeof a),
           cli_format_count(s.live_blocks, b, sizeof b),
           cli_format_bytes(s.peak_bytes, c, sizeof c), cli_format_bytes(s.rss_bytes, d, sizeof d));
}
