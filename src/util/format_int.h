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

#endif
