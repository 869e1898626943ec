/* Numbers in CSV fields: recognising them without converting (type inference, csv.c's first
 * pass) and converting them exactly and fast (its second pass). glibc's strtod took 60% of a
 * CSV load; most catalog values have at most 19 significant digits and a small exponent, which
 * one x87 extended-precision multiplication or division converts: both operands are exact
 * (w < 2^64, 10^k for k <= 27), the 64-bit result is correctly rounded, and rounding it again
 * to a double gives the correctly rounded double unless its low 11 bits lie within one unit of
 * the halfway point; those rare values, and every other form, go to strtod. */
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
#else
static bool fast_float(const char *s, size_t n, double *out)
{
    (void)s, (void)n, (void)out;
    return false;
}
#endif

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
