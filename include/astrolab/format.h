/* AstroLab formatting: figures for people and JSON text, written the way every report of the
 * library writes them, for programs that print the library's figures or compose its JSON
 * reports into their own documents.
 *
 *     char b[AL_FORMAT_LEN];
 *     printf("tracked: %s\n", al_format_bytes(stats.current_bytes, b, sizeof b)); // "12 MiB"
 *
 * Every call here is thread-safe and keeps no state. */
#ifndef ASTROLAB_FORMAT_H
#define ASTROLAB_FORMAT_H

#include <stddef.h> /* size_t */
#include <stdint.h> /* uint64_t */

#include "astrolab/defs.h"  /* AL_API and attributes */
#include "astrolab/error.h" /* al_error */

#ifdef __cplusplus
extern "C" {
#endif

/* -------- Figures: never allocate; the result is cut to fit len bytes, NUL included. -------- */

/* Bytes that hold any text of the calls below, NUL included. */
#define AL_FORMAT_LEN 32

/* n bytes in binary units: "0 bytes", "1 byte", "512 bytes", "1.5 KiB", "70 KiB", "12 MiB" (one
 * decimal below 10 units). Returns buf; NULL (nothing written) for a NULL buf or len 0. */
AL_API char *al_format_bytes(uint64_t n, char *buf, size_t len);
/* n with thousands separators: "1,234,567". Returns buf; NULL for a NULL buf or len 0. */
AL_API char *al_format_count(uint64_t n, char *buf, size_t len);
/* The shortest of %.15g..%.17g that strtod reads back to exactly v ("48.37112788", not
 * "48.371127880000003"); "nan", "inf", "-inf" for those. Returns buf; NULL for NULL buf or len 0.
 */
AL_API char *al_format_double(double v, char *buf, size_t len);
/* As al_format_double for a float32 (%.6g..%.9g read back with strtof): "-1.45", not
 * "-1.45000005". Returns buf; NULL for a NULL buf or len 0. */
AL_API char *al_format_float(float v, char *buf, size_t len);

/* -------- Text and JSON. -------- */

/* Bytes of the valid UTF-8 sequence (RFC 3629: no overlongs, surrogates or values above
 * U+10FFFF) at the start of the n bytes at s: 1 to 4, or 0 when they do not start one (or n is
 * 0). For printing catalog strings, whose bytes may be Latin-1 or garbage. */
AL_API size_t al_utf8_len(const char *s, size_t n);
/* The JSON string literal, quotes included, of the n bytes at s (NULs and invalid UTF-8
 * allowed): ", \ and control characters escaped, bytes that are not UTF-8 as \u00XX (read as
 * Latin-1). free() it; NULL when s is NULL or out of memory. */
AL_API AL_NODISCARD char *al_json_quote(const char *s, size_t n);
/* The JSON document `json` written again as the library writes its own: indented when
 * `pretty`, else compact; valid UTF-8 (as al_json_quote); each number in the shortest text that
 * reads back to the same double (numbers are read as doubles: integers beyond 2^53 round).
 * free() it. NULL on failure, with err (may be NULL) set to AL_EINVAL for NULL json, AL_EJSON
 * for text that is not one JSON value (naming the byte offset), or AL_ENOMEM. */
AL_API AL_NODISCARD char *al_json_format(const char *json, int pretty, al_error *err);

/* -------- Files. -------- */

/* Replaces the file at `path` with the len bytes at buf, never damaging what was there: they
 * are written beside it, flushed to disk and renamed over it, as the library writes its own
 * reports and FITS files, so a crash, a kill or a full disk leaves the old file whole. The new
 * file keeps the old one's mode (else 0666 less the umask). A destination that exists and is
 * not a regular file (a directory, device, FIFO or symbolic link) is refused. AL_OK, or
 * AL_EINVAL (not a file name; NULL buf with len) or AL_EIO naming the file and the reason, in
 * err (may be NULL). */
AL_API AL_NODISCARD int al_write_file(const char *path, const void *buf, size_t len, al_error *err);

/* Reads the whole file at `path` into a new buffer with a NUL after its last byte (free() it),
 * its length in *len (may be NULL). NULL on failure, with AL_EIO naming the file and the reason
 * (missing, unreadable, a directory), AL_ENOMEM, or AL_EINVAL for an empty or NULL path, in err
 * (may be NULL). */
AL_API AL_NODISCARD char *al_read_file(const char *path, size_t *len, al_error *err);

#ifdef __cplusplus
}
#endif
#endif /* ASTROLAB_FORMAT_H */
