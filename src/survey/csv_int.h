/* The CSV tokenizer shared by csv.c (types and conversion) and csv_tok.c (records). */
#ifndef ASTROLAB_CSV_INT_H
#define ASTROLAB_CSV_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "survey/survey_int.h"

typedef struct ali_csv {
    const char *path;
    int fd;
    char *buf;        /* cap + 1 bytes (room for a NUL after the last field) */
    size_t cap, len;  /* capacity and bytes held */
    size_t pos;       /* next unread byte */
    bool eof;         /* read() returned 0 */
    bool started;     /* the byte-order mark was checked */
    int64_t line;     /* 1-based line of the next record */
    int64_t rec_line; /* line where the current record starts */
    size_t nf, fcap;  /* fields of the current record */
    char **fields;    /* NUL-terminated, inside buf: valid until the next call */
    size_t *lens;
} ali_csv;

/* Opens `path`; AL_OK or an error (nothing to close). */
int ali_csv_open(ali_csv *r, const char *path, al_error *err);
/* Reads the next record into r->fields: 1, 0 at the end, or a negative error code. */
int ali_csv_next(ali_csv *r, al_error *err);
/* Back to the start of the file. */
int ali_csv_rewind(ali_csv *r, al_error *err);
void ali_csv_close(ali_csv *r);

/* csv_num.c: true when s[0..n) is a decimal number, nan or inf (no conversion). */
bool ali_csv_is_float(const char *s, size_t n);
/* Converts s[0..n) to the correctly rounded double; false when it is not a number. */
bool ali_csv_parse_float(const char *s, size_t n, double *out);

#endif
