/* Text and HTML renderings of a panel's model (panel.c builds the model; its JSON rendering is
 * the model printed). Both walk the same tree, so every figure appears under the same key in
 * all three: a text row "  current_bytes   5242880 (5.00 MiB)", an HTML row with the key in
 * the first cell. Arrays of records become tables; the timeline, which can hold thousands of
 * samples, is summarized (count, span, last and range of each series). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "panel_int.h"
#include "ui_int.h"
#include "util/format_int.h"

static const char *panel_title(const char *name)
{
    return strcmp(name, "system_status") == 0 ? "AstroLab system status"
                                              : "AstroLab memory management";
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* A byte figure of the panels' JSON (a double) in ali_fmt_bytes's words. */
static void human_bytes(double v, char *buf, size_t len)
{
    ali_fmt_bytes(v > 0 ? (uint64_t)v : 0, buf, len);
}

/* A scalar's value as text: integers exactly, other numbers with 3 decimals, booleans as
 * true/false, null as "-". Byte counts (keys ending in _bytes) get a human size after. */
static void scalar_text(const cJSON *v, char *buf, size_t len)
{
    if (cJSON_IsString(v)) {
        snprintf(buf, len, "%s", v->valuestring);
    } else if (cJSON_IsBool(v)) {
        snprintf(buf, len, "%s", cJSON_IsTrue(v) ? "true" : "false");
    } else if (cJSON_IsNumber(v)) {
        double d = v->valuedouble;
        if (d == floor(d) && fabs(d) < 9.007199254740992e15)
            snprintf(buf, len, "%.0f", d);
        else
            snprintf(buf, len, "%.3f", d);
        if (v->string && ends_with(v->string, "_bytes")) {
            char h[32];
            human_bytes(d, h, sizeof h);
            size_t n = strlen(buf);
            snprintf(buf + n, len - n, " (%s)", h);
        }
    } else {
        snprintf(buf, len, "-");
    }
}

static bool is_scalar(const cJSON *v) { return !cJSON_IsObject(v) && !cJSON_IsArray(v); }

/* -------- Text. -------- */

static void text_row(ali_strbuf *b, int indent, const char *key, const cJSON *v)
{
    char val[512];
    scalar_text(v, val, sizeof val);
    int width = 28 - indent > 8 ? 28 - indent : 8;
    ali_strbuf_printf(b, "%*s%-*s %s\n", indent, "", width, key, val);
}

/* The timeline as a summary: samples, span, and per series its last value and range. */
static void text_timeline(ali_strbuf *b, const cJSON *t)
{
    const cJSON *samples = cJSON_GetObjectItemCaseSensitive(t, "samples");
    int n = cJSON_GetArraySize(samples);
    const cJSON *interval = cJSON_GetObjectItemCaseSensitive(t, "interval_ms");
    ali_strbuf_printf(b, "timeline\n");
    ali_strbuf_printf(b, "  %-26s %d\n", "samples", n);
    if (cJSON_IsNumber(interval))
        ali_strbuf_printf(b, "  %-26s %.0f\n", "interval_ms", interval->valuedouble);
    if (n == 0)
        return;
    const cJSON *first = cJSON_GetArrayItem(samples, 0), *last = cJSON_GetArrayItem(samples, n - 1);
    double t0 = cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(first, "t_ms"));
    double t1 = cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(last, "t_ms"));
    ali_strbuf_printf(b, "  %-26s %.1f\n", "span_s", (t1 - t0) / 1000.0);
    static const char *const series[] = {"current_bytes", "peak_bytes", "rss_bytes",
                                         "cuda_allocated_bytes", "cuda_reserved_bytes"};
    for (size_t k = 0; k < sizeof series / sizeof series[0]; k++) {
        double lo = INFINITY, hi = -INFINITY;
        const cJSON *s;
        cJSON_ArrayForEach(s, samples)
        {
            double v = cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(s, series[k]));
            lo = v < lo ? v : lo;
            hi = v > hi ? v : hi;
        }
        char a[32], l[32], h[32];
        human_bytes(cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(last, series[k])), a,
                    sizeof a);
        human_bytes(lo, l, sizeof l);
        human_bytes(hi, h, sizeof h);
        ali_strbuf_printf(b, "  %-26s %s (range %s .. %s)\n", series[k], a, l, h);
    }
}

static void text_consumers(ali_strbuf *b, const cJSON *arr)
{
    ali_strbuf_printf(b, "top_consumers\n");
    if (cJSON_GetArraySize(arr) == 0) {
        ali_strbuf_printf(b, "  (none)\n");
        return;
    }
    ali_strbuf_printf(b, "  %12s %10s  %-20s %s\n", "bytes", "count", "tag", "site");
    const cJSON *c;
    cJSON_ArrayForEach(c, arr)
    {
        const cJSON *file = cJSON_GetObjectItemCaseSensitive(c, "file");
        const cJSON *func = cJSON_GetObjectItemCaseSensitive(c, "function");
        const char *tag = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(c, "tag"));
        ali_strbuf_printf(b, "  %12.0f %10.0f  %-20s %s (%s:%.0f)\n",
                          cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(c, "bytes")),
                          cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(c, "count")),
                          tag ? tag : "-", cJSON_IsString(func) ? func->valuestring : "?",
                          cJSON_IsString(file) ? file->valuestring : "?",
                          cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(c, "line")));
    }
}

static void text_recommendations(ali_strbuf *b, const cJSON *arr)
{
    ali_strbuf_printf(b, "recommendations\n");
    if (cJSON_GetArraySize(arr) == 0) {
        ali_strbuf_printf(b, "  (none)\n");
        return;
    }
    const cJSON *r;
    cJSON_ArrayForEach(r, arr)
    {
        const char *sev = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(r, "severity"));
        const char *code = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(r, "code"));
        const char *msg = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(r, "message"));
        ali_strbuf_printf(b, "  [%s] %s: %s\n", sev ? sev : "?", code ? code : "?", msg ? msg : "");
    }
}

static void text_actions(ali_strbuf *b, const char *key, const cJSON *arr)
{
    ali_strbuf_printf(b, "%s\n", key);
    const cJSON *a;
    cJSON_ArrayForEach(a, arr)
    {
        ali_strbuf_printf(b, "  %-18s %s %s\n",
                          cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(a, "name")),
                          cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(a, "method")),
                          cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(a, "path")));
        ali_strbuf_printf(b, "  %-18s %s\n", "",
                          cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(a, "description")));
    }
}

/* An object: scalar rows, nested objects as indented groups, arrays of records one group per
 * record (cuda.devices). */
static void text_object(ali_strbuf *b, int indent, const cJSON *o)
{
    const cJSON *m;
    cJSON_ArrayForEach(m, o)
    {
        if (is_scalar(m)) {
            text_row(b, indent, m->string, m);
        } else if (cJSON_IsObject(m)) {
            ali_strbuf_printf(b, "%*s%s\n", indent, "", m->string);
            text_object(b, indent + 2, m);
        } else {
            ali_strbuf_printf(b, "%*s%s (%d)\n", indent, "", m->string, cJSON_GetArraySize(m));
            const cJSON *e;
            int i = 0;
            cJSON_ArrayForEach(e, m)
            {
                if (is_scalar(e)) {
                    char key[16];
                    snprintf(key, sizeof key, "[%d]", i);
                    text_row(b, indent + 2, key, e);
                } else {
                    ali_strbuf_printf(b, "%*s[%d]\n", indent + 2, "", i);
                    text_object(b, indent + 4, e);
                }
                i++;
            }
        }
    }
}

char *ali_ui_panel_text(const al_ui_panel *p)
{
    ali_strbuf b = {0};
    ali_strbuf_printf(&b, "%s\n", panel_title(p->name));
    const cJSON *m;
    cJSON_ArrayForEach(m, p->model)
    {
        if (strcmp(m->string, "panel") == 0)
            continue;
        if (strcmp(m->string, "timeline") == 0)
            text_timeline(&b, m);
        else if (strcmp(m->string, "top_consumers") == 0)
            text_consumers(&b, m);
        else if (strcmp(m->string, "recommendations") == 0)
            text_recommendations(&b, m);
        else if (strcmp(m->string, "actions") == 0 || strcmp(m->string, "controls") == 0)
            text_actions(&b, m->string, m);
        else if (is_scalar(m))
            text_row(&b, 2, m->string, m);
        else {
            ali_strbuf_printf(&b, "%s\n", m->string);
            text_object(&b, 2, m);
        }
    }
    return ali_strbuf_take(&b);
}

/* -------- HTML: a fragment; every key and value escaped. -------- */

static void html_value(ali_strbuf *b, const cJSON *v);

/* An array of records: one table, columns from the first record's keys. */
static void html_table(ali_strbuf *b, const cJSON *arr)
{
    const cJSON *first = cJSON_GetArrayItem(arr, 0);
    ali_strbuf_printf(b, "<table class=\"al-table\"><thead><tr>");
    const cJSON *k;
    cJSON_ArrayForEach(k, first)
    {
        ali_strbuf_printf(b, "<th>");
        ali_strbuf_html(b, k->string);
        ali_strbuf_printf(b, "</th>");
    }
    ali_strbuf_printf(b, "</tr></thead><tbody>");
    const cJSON *row;
    cJSON_ArrayForEach(row, arr)
    {
        ali_strbuf_printf(b, "<tr>");
        cJSON_ArrayForEach(k, first)
        {
            ali_strbuf_printf(b, "<td>");
            html_value(b, cJSON_GetObjectItemCaseSensitive(row, k->string));
            ali_strbuf_printf(b, "</td>");
        }
        ali_strbuf_printf(b, "</tr>");
    }
    ali_strbuf_printf(b, "</tbody></table>");
}

static void html_object(ali_strbuf *b, const cJSON *o)
{
    ali_strbuf_printf(b, "<table class=\"al-kv\"><tbody>");
    const cJSON *m;
    cJSON_ArrayForEach(m, o)
    {
        ali_strbuf_printf(b, "<tr><th>");
        ali_strbuf_html(b, m->string);
        ali_strbuf_printf(b, "</th><td>");
        html_value(b, m);
        ali_strbuf_printf(b, "</td></tr>");
    }
    ali_strbuf_printf(b, "</tbody></table>");
}

static void html_value(ali_strbuf *b, const cJSON *v)
{
    if (!v) {
        ali_strbuf_printf(b, "-");
    } else if (cJSON_IsObject(v)) {
        html_object(b, v);
    } else if (cJSON_IsArray(v)) {
        if (cJSON_GetArraySize(v) == 0)
            ali_strbuf_printf(b, "<em>none</em>");
        else if (cJSON_IsObject(cJSON_GetArrayItem(v, 0)))
            html_table(b, v);
        else {
            ali_strbuf_printf(b, "<ul>");
            const cJSON *e;
            cJSON_ArrayForEach(e, v)
            {
                ali_strbuf_printf(b, "<li>");
                html_value(b, e);
                ali_strbuf_printf(b, "</li>");
            }
            ali_strbuf_printf(b, "</ul>");
        }
    } else {
        char val[512];
        scalar_text(v, val, sizeof val);
        ali_strbuf_html(b, val);
    }
}

char *ali_ui_panel_html(const al_ui_panel *p)
{
    ali_strbuf b = {0};
    ali_strbuf_printf(&b, "<section class=\"al-panel\" id=\"al-%s\"><h2>", p->name);
    ali_strbuf_html(&b, panel_title(p->name));
    ali_strbuf_printf(&b, "</h2>");
    const cJSON *m;
    cJSON_ArrayForEach(m, p->model)
    {
        if (strcmp(m->string, "panel") == 0)
            continue;
        ali_strbuf_printf(&b, "<div class=\"al-field\" data-key=\"");
        ali_strbuf_html(&b, m->string);
        ali_strbuf_printf(&b, "\"><h3>");
        ali_strbuf_html(&b, m->string);
        ali_strbuf_printf(&b, "</h3>");
        if (strcmp(m->string, "timeline") == 0) {
            /* Summarized: the page charts it from /api/timeline. */
            const cJSON *s = cJSON_GetObjectItemCaseSensitive(m, "samples");
            int n = cJSON_GetArraySize(s);
            ali_strbuf_printf(&b, "<p>%d samples</p>", n);
            if (n > 0)
                html_object(&b, cJSON_GetArrayItem(s, n - 1));
        } else {
            html_value(&b, m);
        }
        ali_strbuf_printf(&b, "</div>");
    }
    ali_strbuf_printf(&b, "</section>\n");
    return ali_strbuf_take(&b);
}
