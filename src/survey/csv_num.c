/* Numbers in CSV fields: recognising them without converting (type inference, csv_col.c),
 * converting them exactly and fast, and the scanners of csv.c's fast path, which convert a
 * number as they find its end. glibc's strtod took 60% of a CSV load. A significand below
 * 2^53 with |exponent| <= 22 is one exact double operation (Clinger); other values of at most
 * 19 significant digits and a small exponent take one x87 extended-precision multiplication or
 * division: both operands are exact (w < 2^64, 10^k for k <= 27), the 64-bit result is
 * correctly rounded, and rounding it again to a double gives the correctly rounded double unless
 * its low 11 bits lie within one unit of the halfway point; those rare values, and every other
 * form, go to strtod. */
#include <float.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "survey/csv_int.h"

/* Accepts [sign] digits [. digits] [e [sign] digits] (a digit on either side of the point),
 * and nan, inf, infinity in any case. */
bool ali_csv_is_float(const char *s, size_t n)
{
    size_t i = 0;
    if (i < n && (s[i] == '+' || s[i] == '-'))
        i++;
    if (n - i == 3 && (strncasecmp(s + i, "nan", 3) == 0 || strncasecmp(s + i, "inf", 3) == 0))
        return true;
    if (n - i == 8 && strncasecmp(s + i, "infinity", 8) == 0)
        return true;
    size_t digits = 0;
    while (i < n && s[i] >= '0' && s[i] <= '9')
        i++, digits++;
    if (i < n && s[i] == '.') {
        i++;
        while (i < n && s[i] >= '0' && s[i] <= '9')
            i++, digits++;
    }
    if (!digits)
        return false;
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < n && (s[i] == '+' || s[i] == '-'))
            i++;
        size_t ed = 0;
        while (i < n && s[i] >= '0' && s[i] <= '9')
            i++, ed++;
        if (!ed)
            return false;
    }
    return i == n;
}

#if defined(__x86_64__) && LDBL_MANT_DIG == 64
static const long double pow10l_table[] = {
    1e0L,  1e1L,  1e2L,  1e3L,  1e4L,  1e5L,  1e6L,  1e7L,  1e8L,  1e9L,
    1e10L, 1e11L, 1e12L, 1e13L, 1e14L, 1e15L, 1e16L, 1e17L, 1e18L, 1e19L,
    1e20L, 1e21L, 1e22L, 1e23L, 1e24L, 1e25L, 1e26L, 1e27L,
};

/* The fast path; false when the value must go to strtod. */
static bool fast_float(const char *s, size_t n, double *out)
{
    size_t i = 0;
    bool neg = false;
    if (i < n && (s[i] == '+' || s[i] == '-'))
        neg = s[i++] == '-';
    uint64_t w = 0;
    int sig = 0, exp10 = 0;
    bool any = false;
    for (; i < n && s[i] >= '0' && s[i] <= '9'; i++, any = true) {
        if (w == 0 && s[i] == '0')
            continue;
        if (++sig > 19)
            return false;
        w = w * 10 + (uint64_t)(s[i] - '0');
    }
    if (i < n && s[i] == '.')
        for (i++; i < n && s[i] >= '0' && s[i] <= '9'; i++, any = true) {
            exp10--;
            if (w == 0 && s[i] == '0')
                continue;
            if (++sig > 19)
                return false;
            w = w * 10 + (uint64_t)(s[i] - '0');
        }
    if (!any)
        return false;
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        bool eneg = false;
        if (i < n && (s[i] == '+' || s[i] == '-'))
            eneg = s[i++] == '-';
        int e = 0, ed = 0;
        for (; i < n && s[i] >= '0' && s[i] <= '9'; i++, ed++)
            if (e < 10000)
                e = e * 10 + (s[i] - '0');
        if (!ed)
            return false;
        exp10 += eneg ? -e : e;
    }
    if (i != n)
        return false;
    if (w == 0) {
        *out = neg ? -0.0 : 0.0;
        return true;
    }
    if (exp10 < -27 || exp10 > 27)
        return false;
    long double r =
        exp10 < 0 ? (long double)w / pow10l_table[-exp10] : (long double)w * pow10l_table[exp10];
    uint64_t m;
    memcpy(&m, &r, sizeof m); /* the explicit 64-bit significand of the x87 format */
    if (((m & 0x7FF) - 0x3FF) <= 2)
        return false; /* near a halfway point between doubles: let strtod decide */
    double d = (double)r;
    *out = neg ? -d : d;
    return true;
}

static const double pow10_exact[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                     1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                     1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

static inline bool is_digit(char c) { return (unsigned char)(c - '0') < 10; }

const char *ali_csv_scan_float(const char *p, double *out)
{
    const char *s = p;
    bool neg = *p == '-';
    p += *p == '-' || *p == '+';
    const char *d0 = p;
    while (*p == '0')
        p++;
    uint64_t w = 0;
    const char *sig0 = p;
    while (is_digit(*p))
        w = w * 10 + (uint64_t)(*p++ - '0');
    int sig = (int)(p - sig0), exp10 = 0;
    bool any = p > d0;
    if (*p == '.') {
        const char *f0 = ++p;
        if (w == 0)
            while (*p == '0')
                p++;
        const char *fs = p;
        while (is_digit(*p))
            w = w * 10 + (uint64_t)(*p++ - '0');
        exp10 = -(int)(p - f0);
        sig += (int)(p - fs);
        any = any || p > f0;
    }
    if (!any)
        return p == s ? s : NULL; /* empty, or a lone sign or point */
    if (sig > 19)
        return NULL;
    if ((*p | 0x20) == 'e') {
        p++;
        bool eneg = *p == '-';
        p += *p == '-' || *p == '+';
        const char *e0 = p;
        int e = 0;
        while (is_digit(*p) && p - e0 < 5)
            e = e * 10 + (*p++ - '0');
        if (p == e0 || is_digit(*p))
            return NULL;
        exp10 += eneg ? -e : e;
    }
    double d;
    if (w == 0)
        d = 0.0;
    else if (w <= (1ull << 53) && exp10 >= -22 && exp10 <= 22)
        /* Clinger's fast path: both operands exact, so the IEEE result is correctly rounded */
        d = exp10 < 0 ? (double)w / pow10_exact[-exp10] : (double)w * pow10_exact[exp10];
    else {
        if (exp10 < -27 || exp10 > 27)
            return NULL;
        long double r = exp10 < 0 ? (long double)w / pow10l_table[-exp10]
                                  : (long double)w * pow10l_table[exp10];
        uint64_t m;
        memcpy(&m, &r, sizeof m);
        if (((m & 0x7FF) - 0x3FF) <= 2)
            return NULL;
        d = (double)r;
    }
    *out = neg ? -d : d;
    return p;
}
#else
const char *ali_csv_scan_float(const char *p, double *out)
{
    (void)out;
    return *p == ',' || *p == '\n' || *p == '\r' || *p == '\0' ? p : NULL;
}

static bool fast_float(const char *s, size_t n, double *out)
{
    (void)s, (void)n, (void)out;
    return false;
}
#endif

const char *ali_csv_scan_int(const char *p, int64_t *out, bool *neg_zero)
{
    const char *s = p;
    bool neg = *p == '-';
    p += *p == '-' || *p == '+';
    const char *d0 = p;
    uint64_t v = 0;
    while ((unsigned char)(*p - '0') < 10)
        v = v * 10 + (uint64_t)(*p++ - '0');
    if (p == d0)
        return p == s ? s : NULL;
    if (p - d0 > 18)
        return NULL; /* the general path checks the range */
    *out = neg ? -(int64_t)v : (int64_t)v;
    if (neg && v == 0)
        *neg_zero = true;
    return p;
}

bool ali_csv_parse_float(const char *s, size_t n, double *out)
{
    if (fast_float(s, n, out))
        return true;
    if (n == 0 || n > 400 || !ali_csv_is_float(s, n))
        return false;
    char tmp[401];
    memcpy(tmp, s, n);
    tmp[n] = '\0';
    char *end;
    *out = strtod(tmp, &end);
    return end == tmp + n;
}
