/* Human-readable numbers shared by every report (diagnosis, CUDA summary, dashboard panels,
 * the CLI): counts with thousands separators, byte sizes in binary units, and floating-point
 * values in the shortest text that reads back to the same value. Never allocates. */
#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "astrolab/format.h"
#include "util/format_int.h"

void ali_fmt_count(uint64_t n, char *buf, size_t len)
{
    char digits[32];
    int nd = snprintf(digits, sizeof digits, "%" PRIu64, n);
    char out[48];
    size_t k = 0;
    for (int i = 0; i < nd; i++) {
        if (i > 0 && (nd - i) % 3 == 0)
            out[k++] = ',';
        out[k++] = digits[i];
    }
    out[k] = '\0';
    snprintf(buf, len, "%s", out);
}

void ali_fmt_bytes(uint64_t n, char *buf, size_t len)
{
    static const char *const units[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
    if (n < 1024) {
        snprintf(buf, len, "%" PRIu64 " %s", n, n == 1 ? "byte" : "bytes");
        return;
    }
    double v = (double)n / 1024.0;
    size_t u = 0;
    while (v >= 1024.0 && u + 1 < sizeof units / sizeof units[0]) {
        v /= 1024.0;
        u++;
    }
    if (v < 9.95)
        snprintf(buf, len, "%.1f %s", v, units[u]);
    else
        snprintf(buf, len, "%.0f %s", v, units[u]);
}

void ali_fmt_bytes_signed(int64_t n, char *buf, size_t len)
{
    if (!len)
        return;
    const char *sign = n > 0 ? "+" : n < 0 ? "-" : "";
    size_t k = strlen(sign) < len ? strlen(sign) : len - 1;
    memcpy(buf, sign, k);
    ali_fmt_bytes(n < 0 ? (uint64_t)0 - (uint64_t)n : (uint64_t)n, buf + k, len - k);
}

/* %.Ng for N from lo to hi, until the text reads back to v; hi (17 for a double, 9 for a float)
 * always does. `single`: v is a float32 widened, read back with strtof. */
static void fmt_shortest(double v, bool single, int lo, int hi, char *buf, size_t len)
{
    if (isnan(v) || isinf(v)) {
        snprintf(buf, len, "%s", isnan(v) ? "nan" : v > 0 ? "inf" : "-inf");
        return;
    }
    char tmp[40];
    for (int digits = lo; digits <= hi; digits++) {
        snprintf(tmp, sizeof tmp, "%.*g", digits, v);
        if (digits == hi || (single ? (double)strtof(tmp, NULL) == v : strtod(tmp, NULL) == v))
            break;
    }
    snprintf(buf, len, "%s", tmp);
}

void ali_fmt_double(double v, char *buf, size_t len) { fmt_shortest(v, false, 15, 17, buf, len); }

void ali_fmt_float(float v, char *buf, size_t len) { fmt_shortest(v, true, 6, 9, buf, len); }

/* The public forms: the same formatters, with the NULL and empty-buffer checks a public call
 * owes its caller. */
char *al_format_bytes(uint64_t n, char *buf, size_t len)
{
    if (!buf || !len)
        return NULL;
    ali_fmt_bytes(n, buf, len);
    return buf;
}

char *al_format_count(uint64_t n, char *buf, size_t len)
{
    if (!buf || !len)
        return NULL;
    ali_fmt_count(n, buf, len);
    return buf;
}

char *al_format_double(double v, char *buf, size_t len)
{
    if (!buf || !len)
        return NULL;
    ali_fmt_double(v, buf, len);
    return buf;
}

char *al_format_float(float v, char *buf, size_t len)
{
    if (!buf || !len)
        return NULL;
    ali_fmt_float(v, buf, len);
    return buf;
}
