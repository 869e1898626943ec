/* AstroLab common definitions: version, export and compiler-attribute macros. */
#ifndef ASTROLAB_DEFS_H
#define ASTROLAB_DEFS_H

#define AL_VERSION_MAJOR 0
#define AL_VERSION_MINOR 1
#define AL_VERSION_PATCH 0
#define AL_VERSION_STRING "0.1.0"

#include <stddef.h> /* size_t */

/* -------- Compiler attributes: let the compiler check callers. --------
 * To drop an AL_NODISCARD result on purpose, write `(void)!f()`: GCC does not let a bare
 * (void) cast silence warn_unused_result (https://gcc.gnu.org/bugzilla/show_bug.cgi?id=66425). */
#if defined(__GNUC__) || defined(__clang__)
#define AL_API __attribute__((visibility("default")))
#define AL_NODISCARD __attribute__((warn_unused_result))
#define AL_MALLOC __attribute__((malloc))
#define AL_ALLOC_SIZE(n) __attribute__((alloc_size(n)))
#define AL_ALLOC_SIZE2(n, m) __attribute__((alloc_size(n, m)))
#define AL_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#define AL_LIKELY(x) __builtin_expect(!!(x), 1)
#define AL_UNLIKELY(x) __builtin_expect(!!(x), 0)
#else
#define AL_API
#define AL_NODISCARD
#define AL_MALLOC
#define AL_ALLOC_SIZE(n)
#define AL_ALLOC_SIZE2(n, m)
#define AL_PRINTF(fmt, args)
#define AL_LIKELY(x) (x)
#define AL_UNLIKELY(x) (x)
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* Returns the library's version string, "MAJOR.MINOR.PATCH"; static, never NULL. */
AL_API const char *al_version(void);
/* The libraries libastrolab runs with, at their run-time versions, as "name version" joined by
 * ", " into buf ("cjson 1.7.15, cfitsio 4.2.0, libmicrohttpd 0.9.75, glibc 2.36"), truncated to
 * fit len bytes. Returns buf; NULL for a NULL buf or len 0. Thread-safe; never allocates. */
AL_API const char *al_library_versions(char *buf, size_t len);

#ifdef __cplusplus
}
#endif
#endif /* ASTROLAB_DEFS_H */
