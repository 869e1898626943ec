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
    char *buf;        /* cap + ALI_CSV_PAD bytes: a NUL after the data, room to read past it */
    size_t cap, len;  /* capacity and bytes held */
    size_t pos;       /* next unread byte */
    bool eof;         /* read() returned 0 */
    bool started;     /* the byte-order mark was checked */
    int64_t line;     /* 1-based line of the next record */
    int64_t rec_line; /* line where the current record starts */
    int64_t base;     /* file offset of buf[0] */
    int64_t rec_off;  /* file offset where the current record starts */
    bool rec_quoted;  /* the current record holds a '"' */
    size_t nf, fcap;  /* fields of the current record */
    char **fields;    /* NUL-terminated, inside buf: valid until the next call */
    size_t *lens;
} ali_csv;

/* Opens `path`; AL_OK or an error (nothing to close). */
int ali_csv_open(ali_csv *r, const char *path, al_error *err);
/* Reads the next record into r->fields: 1, 0 at the end, or a negative error code. */
int ali_csv_next(ali_csv *r, al_error *err);
/* Padding after a buffer's data: the NUL sentinel, and room for 16-byte loads past the end. */
#define ALI_CSV_PAD 64
/* Moves the unread bytes to the front and reads more (growing the buffer when it is full);
 * buf[len] is then '\0'. AL_OK or an error. */
int ali_csv_fill(ali_csv *r, al_error *err);
/* Records (lines outside quotes, the last one unterminated included) from file offset `from`
 * (a record's start) to `to` (INT64_MAX: the end), read with r's buffer, which is left empty
 * at `from`; an upper bound on the rows that start in that range. */
int ali_csv_count_lines(ali_csv *r, int64_t from, int64_t to, int64_t *lines, al_error *err);
/* To file offset `off` (a record's start, past the header), with an empty buffer. */
int ali_csv_seek(ali_csv *r, int64_t off, al_error *err);
/* Back to the start of the file. */
int ali_csv_rewind(ali_csv *r, al_error *err);
void ali_csv_close(ali_csv *r);

/* csv_num.c: true when s[0..n) is a decimal number, nan or inf (no conversion). */
bool ali_csv_is_float(const char *s, size_t n);
/* Converts s[0..n) to the correctly rounded double; false when it is not a number. */
bool ali_csv_parse_float(const char *s, size_t n, double *out);
/* The fast paths of a field that starts at p and is followed by a delimiter: they convert the
 * common forms and return the end of what they read (a digit or sign at most 19 significant
 * digits long, the float one with '.' and an exponent), or NULL when the value must take the
 * general path (then *out is unchanged). An empty number returns p. */
const char *ali_csv_scan_int(const char *p, int64_t *out, bool *neg_zero);
const char *ali_csv_scan_float(const char *p, double *out);

/* csv_col.c: the columns of a load in one pass. Each column is converted at the type its values
 * so far need, and widened when a value does not fit (see csv_col.c). */
typedef enum ali_csv_type {
    ALI_T_NONE = 0,
    ALI_T_BOOL,
    ALI_T_INT,
    ALI_T_FLOAT,
    ALI_T_STRING
} ali_csv_type;

typedef struct ali_csv_col {
    int field;         /* index in the record */
    ali_csv_type type; /* for the values so far */
    size_t width;      /* longest value, bytes (kept exact for string columns) */
    bool neg_zero;     /* an int64 column holds "-0" (a float64 one must re-read it) */
    bool fixed;        /* the caller fixed its type (al_survey_options.csv_types) */
    ali_scol *sc;      /* the table's column: data has 8 bytes a row until the end */
} ali_csv_col;

/* String columns keep a file offset a row in their data until the end: the value's own, or
 * with ALI_CSV_REC its record's (a record with quotes, split again), or ALI_CSV_NULL. */
#define ALI_CSV_REC (1ull << 62)
#define ALI_CSV_NULL UINT64_MAX

typedef struct ali_csv_load {
    const char *path;
    const al_survey_options *o;
    ali_stable *t;
    ali_csv_col *cols;
    size_t n;            /* wanted columns */
    ali_csv_col **fcol;  /* per field of a record: its column, or NULL */
    size_t nf;           /* fields a record has */
    int64_t start, stop; /* stored rows: file rows start + 1 .. stop (1-based) */
    int64_t byte_start;  /* file offset of the first record read */
    int64_t byte_stop;   /* records from this file offset on are not read */
    int64_t cap;         /* rows the buffers hold */
    int64_t row;         /* the file row (1-based) being read */
    int64_t line;        /* its line */
    bool frozen;         /* past o->csv_infer_rows: types no longer change */
} ali_csv_load;

/* The index of file row `row` in the columns, or -1 when it is not loaded. */
static inline int64_t ali_csv_slot(const ali_csv_load *x, int64_t row)
{
    int64_t i = row - 1 - x->start;
    return i >= 0 && row <= x->stop ? i : -1;
}

/* Field s[0..n) (unescaped) of the current row for column c, slot i (or -1), `off` its
 * ALI_CSV_* file offset: classifies, widens the column if needed and stores. AL_OK or an error
 * (a bad value once the types are frozen, out of memory, a read error). */
int ali_csv_value(ali_csv_load *x, ali_csv_col *c, int64_t i, const char *s, size_t n, uint64_t off,
                  al_error *err);
/* Sets a missing value at slot i of an int64 or bool column. AL_OK or AL_ENOMEM. */
int ali_csv_set_null(ali_csv_load *x, ali_csv_col *c, int64_t i, al_error *err);
/* Columns still untyped become float64 (NaN so far): at the end, or when types freeze. */
void ali_csv_untyped_to_float(ali_csv_load *x);
/* The end of a load of `rows` rows: strings read into their final buffers, bool columns to one
 * byte a row, dtypes and formats set. AL_OK or an error. */
int ali_csv_finish(ali_csv_load *x, al_error *err);
/* True for the missing-value spellings of <astrolab/survey.h> ("Missing values"): empty, null,
 * NA, N/A and NaN, in any case, blanks around them ignored, quoted or not. */
bool ali_csv_is_null(const char *s, size_t n);

#endif
