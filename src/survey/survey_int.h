/* Internals of the survey module: the table a reader fills (columns in their final buffers,
 * not yet tensors), shared by the readers (fits_read.c, fits_ascii.c, fits_cols.c, csv.c), the
 * loader that turns it into a tensordict (load.c), the role tables (columns.c) and the metadata
 * table (meta.c). Readers run inside the load's memory scope: everything they allocate is
 * reclaimed if the load fails; load.c keeps what the result needs. */
#ifndef ASTROLAB_SURVEY_INT_H
#define ASTROLAB_SURVEY_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "astrolab/memory.h"
#include "astrolab/survey.h"
#include "survey/cfitsio_int.h"
#include "tensors/nindex_int.h"

/* Alignment of column buffers: a cache line, as tensor storage has. */
#define ALI_SURVEY_ALIGN 64

/* One column of a table being read: its final buffer and what the metadata needs. */
typedef struct ali_scol {
    char *key;      /* entry name (al_strdup) */
    al_dtype dtype; /* element type */
    size_t width;   /* bytes per element (the string width for strings) */
    int64_t repeat; /* elements per row; 1: a 1-D tensor, else [rows, repeat] */
    int ndim;       /* 1, 2, or more with TDIMn: then [rows, cell...] */
    int64_t cell[AL_TENSOR_MAX_DIMS - 1]; /* ndim > 2: a row's shape, C order (fits_tdim.c) */
    void *data;     /* rows * repeat * width bytes, tagged "tensor"; NULL once handed over */
    uint8_t *nulls; /* one byte per element (rows * repeat), 1 = missing; NULL when none is */
    char *unit;     /* al_strdup, or NULL */
    char *format;   /* TFORM or "csv:<type>" (al_strdup), or NULL */
    bool has_tnull; /* TNULLn declared */
    int64_t tnull;  /* its value */
} ali_scol;

/* A table as a reader leaves it: rows loaded, its columns, and where it came from. */
typedef struct ali_stable {
    int64_t rows;      /* rows loaded */
    int64_t file_rows; /* rows in the file's table */
    size_t n_cols;
    ali_scol *cols;     /* AL_NEW_ARRAY(ali_scol, n_cols) */
    char *survey;       /* the header's SURVEY (al_strdup), or NULL */
    char *origin;       /* the header's TELESCOP or ORIGIN: used when no survey is recognised */
    char *extname;      /* EXTNAME (al_strdup), or NULL */
    char **roles;       /* per column, from TROLEn (al_strdup each), or NULL */
    int hdu;            /* loaded HDU (0 = primary), -1 for CSV */
    const char *format; /* "fits" or "csv" (static) */
} ali_stable;

/* Allocates `bytes` (at least 1) for a column, tagged "tensor", aligned; NULL when out of
 * memory (err filled naming the column). */
void *ali_survey_col_alloc(uint64_t bytes, const char *path, const char *col, al_error *err);
/* The entry key for a column name: the name as a key component (al_tensordict_key_escape), so
 * that the entry's own name is the column's, byte for byte; "_null.<name>" (a saved mask) stays
 * a path; an empty name gives "col<index>". Tracked; NULL when out of memory. */
char *ali_survey_key(const char *name, size_t index);
/* AL_OK, or AL_EFORMAT naming the first column key that appears twice (one entry each: a
 * second column of a name would replace the first). O(columns) expected. */
int ali_survey_check_unique(const ali_stable *t, const char *path, al_error *err);
/* The index of `name` among the table's column names (exact, then case-insensitive), or -1. */
int ali_survey_find_name(const char *const *names, size_t n, const char *name);
/* ali_survey_find_name in O(1) expected time, for the unbounded column counts of CSV (a FITS
 * table has at most 999): an index over names[0..n), which must outlive it. */
typedef struct ali_name_lookup {
    const char *const *names;
    size_t n;
    ali_nindex exact, folded; /* by name, and by name in lower case */
} ali_name_lookup;
/* AL_OK or AL_ENOMEM (nothing to free). */
int ali_name_lookup_init(ali_name_lookup *x, const char *const *names, size_t n);
int ali_name_lookup_find(const ali_name_lookup *x, const char *name);
void ali_name_lookup_free(ali_name_lookup *x);
/* Number of names in a NULL-terminated list (0 for NULL). */
size_t ali_survey_count_names(const char *const *names);

/* Readers: fill *t from `path` as opts asks. AL_OK or an error code with err filled. */
int ali_fits_read(const char *path, const al_survey_options *opts, ali_stable *t, al_error *err);
int ali_csv_read(const char *path, const al_survey_options *opts, ali_stable *t, al_error *err);

/* One column as a FITS table's header declares it (fits_cols.c). */
typedef struct ali_fits_col {
    char name[FLEN_VALUE]; /* TTYPEn; "" when absent */
    char form[FLEN_VALUE]; /* TFORMn, trailing blanks dropped */
    char letter;           /* its type letter (binary: after the repeat count) */
    int64_t repeat;        /* binary: elements per row (A: characters); ASCII: 1 */
    int64_t width;         /* ASCII: characters in the field (TFORM's w); binary: 0 */
    double scale, zero;    /* TSCALn, TZEROn: 1 and 0 when absent */
} ali_fits_col;
/* Every column of the table at f's current HDU, binary or ASCII. */
typedef struct ali_fits_cols {
    int n;              /* TFIELDS */
    ali_fits_col *col;  /* n of them */
    const char **names; /* col[i].name, for ali_survey_find_name */
} ali_fits_cols;
/* Reads them with CFITSIO's public calls. AL_OK (free with ali_fits_cols_free), or AL_EFORMAT
 * or AL_ENOMEM with nothing to free; err filled. */
int ali_fits_cols_read(fitsfile *f, const char *path, int hdu, ali_fits_cols *out, al_error *err);
void ali_fits_cols_free(ali_fits_cols *c);

/* The two table readers behind ali_fits_read (fits_open.c), on an open file at the table HDU:
 * binary (fits_read.c; in_memory: f is CFITSIO's decompressed copy of a compressed file or
 * table, not the file on disk) and ASCII (fits_ascii.c). */
int ali_fits_read_binary(fitsfile *f, const char *path, int hdu, bool in_memory,
                         const al_survey_options *o, ali_stable *t, al_error *err);
int ali_fits_read_ascii(fitsfile *f, const char *path, int hdu, const al_survey_options *o,
                        ali_stable *t, al_error *err);
/* The string value of keyword `key` at f's HDU (trailing blanks dropped) into *out (al_strdup),
 * NULL when absent or empty. AL_OK, or AL_ENOMEM: out of memory must not pass for a missing
 * keyword. */
int ali_fits_str_key(fitsfile *f, const char *key, char **out);
/* Applies TDIM<colnum>, when present, to column c of TFORM letter and repeat (fits_tdim.c):
 * its cell shape, and for a string column the string width. AL_OK, or AL_EFORMAT (err filled)
 * when the keyword is malformed or does not match TFORM. */
int ali_fits_tdim(fitsfile *f, int colnum, const char *name, char letter, int64_t repeat, bool raw,
                  ali_scol *c, const char *path, int hdu, al_error *err);
/* Refuses header values that crash CFITSIO 4.2.0 (fits_guard.c). AL_OK or AL_EFORMAT. */
int ali_fits_guard(const char *path, al_error *err);
/* The same for a file CFITSIO has open (a compressed one, decompressed in memory), read through
 * CFITSIO's byte-level reads before any HDU but the primary is parsed. */
int ali_fits_guard_open(fitsfile *f, const char *path, al_error *err);
/* What the first bytes of a file say it is (load.c): FITS ("SIMPLE  ="), compressed with
 * what CFITSIO decompresses itself (gzip, bzip2, compress, pkzip), compressed with what it
 * cannot (xz, zstd), or anything else (CSV, or binary data the CSV reader refuses). */
typedef enum ali_magic {
    ALI_MAGIC_OTHER = 0,
    ALI_MAGIC_FITS,
    ALI_MAGIC_CFITSIO_COMPRESSED,
    ALI_MAGIC_UNSUPPORTED_COMPRESSED,
} ali_magic;
/* Reads the first bytes of path: AL_OK with *magic (never ALI_MAGIC_UNSUPPORTED_COMPRESSED:
 * that is AL_EUNSUPPORTED, naming the compression), or AL_ENOTFOUND / AL_EIO; err filled. */
int ali_survey_magic(const char *path, ali_magic *magic, al_error *err);
/* CFITSIO's text for `status` and its message stack, into buf; returns buf. */
const char *ali_fits_errtext(int status, char *buf, size_t len);
/* Fills err with code: "PATH: HDU n: WHAT: CFITSIO's text" (no HDU when hdu < 0); returns code. */
int ali_fits_fail(al_error *err, int code, const char *path, int hdu, int status, const char *what);

/* prefault.c: a helper thread that populates the column pages of t ahead of the loader, or
 * NULL when not worth it (small table, one CPU, old kernel, out of memory). Stop it (joins)
 * before the buffers may be freed; ali_prefault_stop(NULL) does nothing. */
typedef struct ali_prefault ali_prefault;
ali_prefault *ali_prefault_start(const ali_stable *t);
void ali_prefault_stop(ali_prefault *pf);

/* Recognises the survey from column names: "Gaia DR3", "SDSS", "2MASS", "Tycho-2" (static),
 * or NULL. */
const char *ali_survey_guess(const char *const *names, size_t n);

/* Records metadata for td from a finished table (meta.c). The survey name is the first of
 * opts->survey, the header's SURVEY, the one recognised from the column names, and the header's
 * TELESCOP or ORIGIN. AL_OK or AL_ENOMEM. */
int ali_survey_meta_attach(const al_tensordict *td, const char *path, const ali_stable *t,
                           const al_survey_options *opts);

/* fits_keep.c: the file a table was loaded from, open at that table's HDU, for a save that
 * keeps the rest of it (al_survey_save_options.keep_source). */
typedef struct ali_fits_source {
    fitsfile *f;
    int fd;              /* the file for byte copies; -1 when compressed (CFITSIO copies then) */
    int hdu;             /* the table's HDU (0 = primary) */
    int n_hdus;          /* HDUs in the file */
    int tfields;         /* the table's columns */
    int64_t table_start; /* the table HDU's first byte */
    int64_t table_end;   /* one past its last (where the next HDU starts) */
    bool checksum;       /* the table's header has CHECKSUM: the saved table gets a new one */
    bool survey;         /* ... has SURVEY: the saved table's says the tensordict's survey */
} ali_fits_source;
/* Opens m->path at m->hdu. AL_OK; AL_EINVAL (not loaded from FITS), AL_ENOTFOUND, AL_EIO. */
int ali_fits_source_open(const al_survey_meta *m, ali_fits_source *s, al_error *err);
void ali_fits_source_close(ali_fits_source *s);
/* Creates the output file `tmp` holding the source's HDUs before the table, open in *out at
 * the last of them. Returns *st (CFITSIO's status; errno says why a byte copy failed). */
int ali_fits_source_begin(ali_fits_source *s, const char *tmp, fitsfile **out, int *st);
/* Adds the source's HDUs after the table: call once before closing out (closed false), and
 * once after (closed true); each copy happens at the one its kind needs. Returns *st. */
int ali_fits_source_end(ali_fits_source *s, fitsfile *out, const char *tmp, bool closed, int *st);
/* Copies to out's current HDU every keyword of the source table that it does not define, its
 * column keywords renumbered by name (names: out's columns, in order). Returns *st. */
int ali_fits_source_copy_keys(ali_fits_source *s, fitsfile *out, const char *const *names,
                              int n_out, int *st);

#endif
