/* Human-readable numbers shared by every report; src/util/format.c. Never installed. */
#ifndef ASTROLAB_FORMAT_INT_H
#define ASTROLAB_FORMAT_INT_H

#include <stddef.h>
#include <stdint.h>

/* "1,234,567". */
void ali_fmt_count(uint64_t n, char *buf, size_t len);
/* "0 bytes", "512 bytes", "1.5 KiB", "70 KiB", "12 MiB": one decimal below 10 units. */
void ali_fmt_bytes(uint64_t n, char *buf, size_t len);
/* As ali_fmt_bytes, with a sign: "+1.5 MiB", "-70 KiB", "0 bytes". */
void ali_fmt_bytes_signed(int64_t n, char *buf, size_t len);

/* Bytes that hold any ali_fmt_double or ali_fmt_float text, NUL included. */
#define ALI_FMT_REAL_LEN 32
/* The shortest of %.15g, %.16g and %.17g that strtod reads back to exactly v ("48.37112788",
 * not %.17g's "48.371127880000003"); "nan", "inf" or "-inf" for those (callers writing a
 * format with other spellings, JSON or Prometheus, test isfinite first). */
void ali_fmt_double(double v, char *buf, size_t len);
/* As ali_fmt_double for a float32, %.6g to %.9g read back with strtof: "-1.45", not
 * "-1.45000005". */
void ali_fmt_float(float v, char *buf, size_t len);

#endif
