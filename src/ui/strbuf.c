/* Growable text buffers for the UI's renderings (panel text and HTML, the Prometheus
 * exposition). They live in the C library's heap, not the tracked one: the dashboard must not
 * show up in the figures it reports (see <astrolab/ui.h>). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ui_int.h"
#include "util/grow_int.h"

/* Room for `extra` more bytes and the NUL; false (the buffer marked failed) when out of memory
 * or when the size would overflow. */
static bool reserve(ali_strbuf *b, size_t extra)
{
    if (b->failed)
        return false;
    if (extra < b->cap - b->len) /* cap > len always holds once allocated: the NUL */
        return true;
    size_t cap = 0;
    bool fits = extra < SIZE_MAX - b->len; /* need = len + extra + 1 below */
    char *p = fits && ali_grow_cap(b->cap, b->len + extra + 1, 256, 1, &cap) ? realloc(b->data, cap)
                                                                             : NULL;
    if (!p) {
        b->failed = true;
        return false;
    }
    b->data = p;
    b->cap = cap;
    return true;
}

void ali_strbuf_append(ali_strbuf *b, const char *s, size_t n)
{
    if (!reserve(b, n))
        return;
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void ali_strbuf_printf(ali_strbuf *b, const char *fmt, ...)
{
    char small[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->failed = true;
        return;
    }
    if ((size_t)n < sizeof small) {
        ali_strbuf_append(b, small, (size_t)n);
        return;
    }
    if (!reserve(b, (size_t)n))
        return;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void ali_strbuf_html(ali_strbuf *b, const char *s)
{
    if (!s)
        return;
    for (const char *p = s; *p; p++) {
        size_t run = strcspn(p, "&<>\"'");
        ali_strbuf_append(b, p, run);
        p += run;
        if (!*p)
            break;
        switch (*p) {
        case '&':
            ali_strbuf_append(b, "&amp;", 5);
            break;
        case '<':
            ali_strbuf_append(b, "&lt;", 4);
            break;
        case '>':
            ali_strbuf_append(b, "&gt;", 4);
            break;
        case '"':
            ali_strbuf_append(b, "&quot;", 6);
            break;
        default:
            ali_strbuf_append(b, "&#39;", 5);
            break;
        }
    }
}

char *ali_strbuf_take(ali_strbuf *b)
{
    if (b->failed) {
        ali_strbuf_release(b);
        return NULL;
    }
    char *s = b->data ? b->data : strdup("");
    memset(b, 0, sizeof *b);
    return s;
}

void ali_strbuf_release(ali_strbuf *b)
{
    free(b->data);
    memset(b, 0, sizeof *b);
}
