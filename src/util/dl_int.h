/* Libraries loaded on first use (CFITSIO, libmicrohttpd, the CUDA driver), so that a program
 * linking libastrolab loads none of them, nor their dependencies, until it needs them: one
 * rule for all three, every symbol or none, since a partial table would fail later, in the
 * middle of a file, a request or a copy. src/util/dl.c. Never installed. */
#ifndef ASTROLAB_DL_INT_H
#define ASTROLAB_DL_INT_H

#include <stddef.h> /* size_t, offsetof */

/* A symbol and where its address goes in the caller's table of function pointers. */
typedef struct ali_dl_symbol {
    const char *name;
    size_t offset; /* offsetof(table type, field) */
} ali_dl_symbol;

/* Opens the first of `sonames` (NULL-terminated) that loads and stores the address of each of
 * the n symbols into `table` at its offset. Returns the handle, or NULL with *why (len bytes)
 * saying what was missing: dlopen's complaint about the first soname, or "SONAME has no NAME"
 * (the library is then closed again, and the entries filled before are NULL again). */
void *ali_dl_load(const char *const *sonames, const ali_dl_symbol *symbols, size_t n, void *table,
                  char *why, size_t len);

#endif
