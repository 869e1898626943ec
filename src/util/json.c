/* Small cJSON helpers shared by the modules' JSON forms (stats, cleanup results), and the one
 * printer every JSON document of the library and the CLI goes through, which makes its output
 * valid UTF-8 and its numbers exact. cJSON copies string bytes as they are and prints doubles
 * with %.15g whenever that comes within about one ulp (compare_double), so left alone it
 * writes Latin-1 catalog text as invalid UTF-8 and 0.1 + 0.2 as 0.3. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "astrolab/format.h"
#include "util/format_int.h"
#include "util/json_int.h"

bool ali_json_add_u64s(cJSON *o, const ali_json_u64 *fields, size_t n)
{
    bool ok = true;
    for (size_t i = 0; i < n; i++)
        ok &= cJSON_AddNumberToObject(o, fields[i].key, (double)fields[i].value) != NULL;
    return ok;
}

char *ali_json_finish(cJSON *o, bool ok)
{
    char *text = ok && o ? ali_json_print(o, false) : NULL;
    cJSON_Delete(o);
    return text;
}

size_t ali_utf8_len(const char *str, size_t n)
{
    const unsigned char *s = (const unsigned char *)str;
    if (n == 0)
        return 0;
    if (s[0] < 0x80)
        return 1;
    /* RFC 3629: no overlong forms (C0, C1, E0 80..9F, F0 80..8F), no surrogates (ED A0..BF),
     * nothing above U+10FFFF (F4 90.., F5..FF). */
    size_t len;
    unsigned char lo = 0x80, hi = 0xBF;
    if (s[0] >= 0xC2 && s[0] <= 0xDF)
        len = 2;
    else if (s[0] >= 0xE0 && s[0] <= 0xEF) {
        len = 3;
        if (s[0] == 0xE0)
            lo = 0xA0;
        else if (s[0] == 0xED)
            hi = 0x9F;
    } else if (s[0] >= 0xF0 && s[0] <= 0xF4) {
        len = 4;
        if (s[0] == 0xF0)
            lo = 0x90;
        else if (s[0] == 0xF4)
            hi = 0x8F;
    } else
        return 0;
    if (n < len || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < len; i++)
        if (s[i] < 0x80 || s[i] > 0xBF)
            return 0;
    return len;
}

/* Bytes of text with every byte that is not part of valid UTF-8 written as \u00XX. */
static size_t fixed_len(const char *text, size_t n)
{
    size_t out = 0;
    for (size_t i = 0; i < n;) {
        size_t k = ali_utf8_len(text + i, n - i);
        out += k ? k : 6;
        i += k ? k : 1;
    }
    return out;
}

/* Writes text into out as fixed_len counted it; returns the bytes written. */
static size_t fix_utf8(const char *text, size_t n, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        size_t k = ali_utf8_len(text + i, n - i);
        if (k) {
            memcpy(out + o, text + i, k);
            o += k;
            i += k;
        } else {
            o += (size_t)snprintf(out + o, 7, "\\u%04x", (unsigned char)text[i++]);
        }
    }
    return o;
}

/* Whether cJSON might print c inexactly: integers below 1e15 it prints exactly (%d or %.15g),
 * other finite numbers maybe not. */
static bool inexact(const cJSON *c)
{
    double v = c->valuedouble;
    return cJSON_IsNumber(c) && isfinite(v) && (v != floor(v) || fabs(v) >= 1e15);
}

/* Whether any item of the list at o (recursively) is inexact. */
static bool has_inexact(const cJSON *o)
{
    for (const cJSON *c = o; c; c = c->next)
        if (inexact(c) || has_inexact(c->child))
            return true;
    return false;
}

/* Every number of o (its siblings included, recursively) as a raw item with its exact text;
 * false when out of memory. o must be a copy of the caller's: it ends up with raw items. */
static bool exact_numbers(cJSON *o)
{
    for (cJSON *c = o; c; c = c->next) {
        if (c->child && !exact_numbers(c->child))
            return false;
        if (!cJSON_IsNumber(c) || !isfinite(c->valuedouble))
            continue; /* cJSON prints NaN and infinities as null, which JSON has for them */
        char buf[ALI_FMT_REAL_LEN];
        double v = c->valuedouble;
        if (v == floor(v) && fabs(v) < 9007199254740992.0) /* 2^53: integers in full */
            snprintf(buf, sizeof buf, "%.0f", v);
        else
            ali_fmt_double(v, buf, sizeof buf);
        char *raw = cJSON_malloc(strlen(buf) + 1);
        if (!raw)
            return false;
        memcpy(raw, buf, strlen(buf) + 1);
        c->type = cJSON_Raw;
        c->valuestring = raw;
    }
    return true;
}

char *ali_json_print(const cJSON *o, bool pretty)
{
    if (!o)
        return NULL;
    /* Only a document with numbers that cJSON could round is copied, to print the copy with
     * exact ones: reports of integer counters, the usual case, print as they are. */
    cJSON *copy = NULL;
    if (inexact(o) || has_inexact(o->child)) {
        copy = cJSON_Duplicate(o, true);
        if (!copy || !exact_numbers(copy)) {
            cJSON_Delete(copy);
            return NULL;
        }
    }
    const cJSON *doc = copy ? copy : o;
    char *text = pretty ? cJSON_Print(doc) : cJSON_PrintUnformatted(doc);
    cJSON_Delete(copy);
    if (!text)
        return NULL;
    /* Outside strings cJSON writes ASCII only, so every non-ASCII byte is inside a string,
     * where \u00XX is valid. */
    size_t n = strlen(text), want = fixed_len(text, n);
    if (want == n)
        return text;
    char *out = malloc(want + 1);
    if (out)
        out[fix_utf8(text, n, out)] = '\0';
    cJSON_free(text);
    return out;
}

char *ali_json_quote(const char *s, size_t n)
{
    size_t want = 2;
    for (size_t i = 0; i < n;) {
        unsigned char ch = (unsigned char)s[i];
        size_t k = ali_utf8_len(s + i, n - i);
        want += ch == '"' || ch == '\\' ? 2 : ch < 0x20 || !k ? 6 : k;
        i += k ? k : 1;
    }
    char *out = malloc(want + 1);
    if (!out)
        return NULL;
    size_t o = 0;
    out[o++] = '"';
    for (size_t i = 0; i < n;) {
        unsigned char ch = (unsigned char)s[i];
        size_t k = ali_utf8_len(s + i, n - i);
        if (ch == '"' || ch == '\\') {
            out[o++] = '\\';
            out[o++] = (char)ch;
        } else if (ch < 0x20 || !k) {
            o += (size_t)snprintf(out + o, 7, "\\u%04x", ch);
        } else {
            memcpy(out + o, s + i, k);
            o += k;
            i += k;
            continue;
        }
        i++;
    }
    out[o++] = '"';
    out[o] = '\0';
    return out;
}

size_t al_utf8_len(const char *s, size_t n) { return s ? ali_utf8_len(s, n) : 0; }

char *al_json_quote(const char *s, size_t n) { return s ? ali_json_quote(s, n) : NULL; }

char *al_json_format(const char *json, int pretty, al_error *err)
{
    if (!json) {
        al_error_set(err, AL_EINVAL, "al_json_format: json is NULL");
        return NULL;
    }
    /* 1: nothing but blanks may follow the value. `end` (not cJSON_GetErrorPtr, a global) says
     * where parsing stopped. cJSON does not tell a syntax error from its own failed malloc:
     * both read as AL_EJSON. */
    const char *end = NULL;
    cJSON *o = cJSON_ParseWithOpts(json, &end, 1);
    if (!o) {
        al_error_set(err, AL_EJSON, "not one JSON value: stops at byte %zu of %zu",
                     end ? (size_t)(end - json) : (size_t)0, strlen(json));
        return NULL;
    }
    char *text = ali_json_print(o, pretty != 0);
    cJSON_Delete(o);
    if (!text)
        al_error_set(err, AL_ENOMEM, "out of memory printing %zu bytes of JSON", strlen(json));
    return text;
}
