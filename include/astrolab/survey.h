/* AstroLab surveys: star catalogs from FITS tables and CSV files loaded into tensordicts (the
 * seed's SurveyTensorDict), with units, column roles and the survey's name kept beside them.
 *
 *     al_survey_options o;
 *     al_survey_options_init(&o);
 *     o.columns = (const char *[]){"ra", "dec", "phot_g_mean_mag", NULL};
 *     al_tensordict *td = al_survey_load("gaia.fits", &o, &err);  // one entry per column
 *     const al_survey_meta *m = al_survey_info(td);                 // "Gaia DR3", units, roles
 *     al_survey_save_fits(td, "copy.fits", NULL, &err);
 *     al_survey_free(td);
 *
 * Entries. Each table column becomes one direct tensor entry whose name is the column's own,
 * byte for byte ("ANTENNA NO." stays "ANTENNA NO."; an empty name gives "col<N>"). Its key (see
 * <astrolab/tensors.h>, "Names and keys") escapes '.' and '\': "ANTENNA NO\."; lookups also
 * take the plain name of a direct entry, and al_survey_column.key gives the key. Two columns of
 * one name are refused (AL_EFORMAT): the second would hide the first. Every output (info JSON,
 * `survey head`, saved files) shows the names, not the keys.
 * Scalar columns are 1-D [rows], vector columns (repeat > 1) 2-D [rows, repeat], cells with a FITS
 * TDIMn shape [rows, ...] in C order (TDIM "(4,3)" gives [rows, 3, 4]; its axes must hold exactly
 * TFORM's repeat, as CFITSIO requires, where the standard allows fewer), strings AL_DTYPE_STRING of
 * the column's width (with TDIM, its first axis: "(10,3)" is three 10-byte strings per row; with
 * raw_strings, each row's bytes stay one string).
 *
 * Missing values, one definition for loading, al_survey_missing, `survey info` (its "nulls")
 * and `survey head` (null): an element is missing when its column is floating-point and it is
 * NaN, or when the column's mask says so. Floats hold NaN and have no mask; other types hold 0
 * (false, "") and get a bool mask entry "_null.<key>" of the column's shape (1 = missing;
 * al_survey_null_mask finds it), only when they have a missing value. What is missing in a
 * file: FITS TNULLn values, logical 0 (undefined), NaN; in CSV a field that is empty or reads
 * null, NA, N/A or NaN in any case (blanks around it ignored), quoted or not: a quoted "NA" is
 * missing as an unquoted one is, as pandas reads it. Any other text is a value: in a column of
 * numbers it makes the column a string column.
 *
 * Metadata. The tensordict has no place for strings, so the survey name, units and roles live
 * in a process-wide table keyed weakly by the tensordict: al_survey_info finds them while the
 * tensordict lives; they go with al_survey_free, or lazily after al_tensordict_free.
 *
 * Threads. Loads and saves of different tensordicts may run on several threads at once; the
 * metadata table has its own lock. A load runs inside its own memory scope on the calling
 * thread: a failed load leaves no tracked block behind. */
#ifndef ASTROLAB_SURVEY_H
#define ASTROLAB_SURVEY_H

#include <stddef.h> /* size_t */
#include <stdint.h> /* int64_t, uint64_t */

#include "astrolab/defs.h"    /* AL_API and attributes */
#include "astrolab/error.h"   /* al_error, AL_E* */
#include "astrolab/tensors.h" /* al_tensordict */

#ifdef __cplusplus
extern "C" {
#endif

/* -------- Loading. -------- */
typedef enum al_survey_format {
    AL_SURVEY_FORMAT_AUTO = 0, /* by content, never by name: see al_survey_load */
    AL_SURVEY_FORMAT_FITS = 1,
    AL_SURVEY_FORMAT_CSV = 2,
} al_survey_format;

/* The first table HDU (the default of al_survey_options.hdu). */
#define AL_SURVEY_HDU_FIRST (-1)

/* Called after each block of rows; rows_total is the rows to load. May run often: be cheap. */
typedef void (*al_survey_progress_fn)(void *user, uint64_t rows_done, uint64_t rows_total);

/* A CSV column's type fixed by the caller instead of inferred (al_survey_options.csv_types). */
typedef struct al_survey_csv_type {
    int fixed;      /* 1: read the column as dtype; 0: infer it as usual */
    al_dtype dtype; /* AL_DTYPE_BOOL, AL_DTYPE_INT64, AL_DTYPE_FLOAT64 or AL_DTYPE_STRING */
    size_t width;   /* strings: the least width (longer values widen it); else ignored */
} al_survey_csv_type;

typedef struct al_survey_options {
    al_survey_format format;    /* AUTO by default */
    int hdu;                    /* 0 = primary, as CFITSIO's file.fits[N]; AL_SURVEY_HDU_FIRST */
    const char *hdu_name;       /* EXTNAME (case-insensitive) instead of hdu; NULL: unused */
    const char *const *columns; /* NULL-terminated names to load, in that order; NULL: all */
    int64_t row_start;          /* first row (0-based); default 0 */
    int64_t row_stop;           /* one past the last row; -1 (default): the end; clamped */
    int raw_strings;            /* 1: keep NULs and trailing blanks of FITS strings as stored */
    const char *survey;         /* survey name to record instead of the recognised one */
    uint64_t block_rows;        /* rows per read block; 0: from fits_get_rowsize and 8 MiB */
    uint64_t csv_infer_rows;    /* CSV rows used to infer types; 0 (default): all of them */
    al_survey_progress_fn progress; /* may be NULL */
    void *progress_user;            /* passed to progress */
    /* Partitioned loads (<astrolab/mpi.h> uses these; so may any program that splits a file).
     * CSV only: the records that start at a byte offset in [csv_byte_start, csv_byte_stop)
     * (-1: the end), the header always read from the file's start; csv_byte_start must be a
     * record's first byte or fall inside the header. Rows and lines in error messages, and
     * file_rows, then count from the range's first record. */
    int64_t csv_byte_start; /* default 0 */
    int64_t csv_byte_stop;  /* default -1 */
    /* 1: every column that is not floating-point gets its "_null.<key>" mask, all false when
     * nothing is missing, so that loads of different parts of a file have the same entries. */
    int null_masks;
    /* CSV: one per loaded column (in the order of `columns`, or the file's), or NULL: every
     * column inferred. A value that does not fit a fixed type is AL_EFORMAT. */
    const al_survey_csv_type *csv_types;
} al_survey_options;

/* Fills *opts with the defaults above. */
AL_API void al_survey_options_init(al_survey_options *opts);

/* Loads the table of `path` (FITS binary or ASCII table, or CSV) into a new root tensordict
 * whose batch size is the rows loaded, with its metadata (al_survey_info). The format comes from
 * the first bytes, whatever the file's name: FITS ("SIMPLE  ="); compressed FITS as surveys ship
 * it, decompressed by CFITSIO in memory (no copy on disk): gzip (1f 8b, ".fits.gz"), bzip2
 * ("BZh", ".fits.bz2"; Debian's CFITSIO is built with it), Unix compress and zip; xz and zstd are
 * refused (AL_EUNSUPPORTED: CFITSIO cannot read them); anything else is CSV, which must be text
 * (a NUL byte or a header that is not UTF-8 is AL_EFORMAT: binary data). A tile-compressed
 * table (".fits.fz": fpack -table, fits_compress_table) is decompressed into memory when its HDU
 * is loaded (all its rows, whatever the row range). A compressed CSV is refused (AL_EFORMAT).
 * `opts` may be NULL (defaults). Free the result with al_survey_free (or al_tensordict_free).
 * NULL on failure, with err naming the file, HDU, row and column as they apply: AL_ENOTFOUND (no
 * file, HDU or column), AL_EFORMAT (truncated or malformed content, binary data as CSV, a column
 * name twice), AL_ETYPE (unsupported column type), AL_EUNSUPPORTED (a compression CFITSIO cannot
 * read), AL_EIO, AL_EINVAL, AL_ENOMEM. */
AL_API AL_NODISCARD al_tensordict *al_survey_load(const char *path, const al_survey_options *opts,
                                                  al_error *err);

/* What al_survey_load with AL_SURVEY_FORMAT_AUTO reads `path` as, from its first bytes, into
 * *format (FITS, compressed FITS included, or CSV). AL_OK, AL_EINVAL, AL_ENOTFOUND, AL_EIO,
 * AL_EUNSUPPORTED (a compression CFITSIO cannot read); err filled. */
AL_API AL_NODISCARD int al_survey_detect_format(const char *path, al_survey_format *format,
                                                al_error *err);

/* -------- Metadata. -------- */
typedef struct al_survey_column {
    const char *name;   /* the column's name as in the file, byte for byte (the key's text) */
    const char *unit;   /* TUNITn or set by al_survey_set_column; "" when none */
    const char *role;   /* "ra", "dec", "parallax", "pmra", "pmdec", "id", "mag_<band>"; or "" */
    const char *format; /* the column's TFORMn as stored, "csv:<type>", or "" */
    int has_tnull;      /* the FITS column declared TNULLn */
    int64_t tnull;      /* its value */
    const char *key;    /* the entry's key in the tensordict (name with '.' and '\' escaped) */
} al_survey_column;

typedef struct al_survey_meta {
    const char *survey;  /* "Gaia DR3", "SDSS", "2MASS", "Tycho-2", a header's, or "" */
    const char *path;    /* the file loaded, or "" */
    const char *format;  /* "fits", "csv" or "" */
    int hdu;             /* the HDU loaded (0 = primary), -1 for CSV */
    const char *extname; /* its EXTNAME, or "" */
    int64_t file_rows;   /* rows in the file's table */
    size_t n_columns;
    const al_survey_column *columns; /* one per loaded column, in entry order */
} al_survey_meta;

/* The metadata of `td` (borrowed: valid until td is freed or its metadata changes), or NULL
 * when td has none. Thread-safe against other tensordicts' metadata changes. */
AL_API const al_survey_meta *al_survey_info(const al_tensordict *td);
/* Sets the survey name of `td` (copied), creating its metadata when absent. AL_OK, AL_EINVAL,
 * AL_ENOMEM. */
AL_API AL_NODISCARD int al_survey_set_name(al_tensordict *td, const char *survey);
/* Sets the unit and role (either may be NULL: unchanged; "" clears) of column `name` (a key, or
 * a direct entry's plain name), creating its metadata when absent. AL_OK, AL_EINVAL,
 * AL_ENOMEM. */
AL_API AL_NODISCARD int al_survey_set_column(al_tensordict *td, const char *name, const char *unit,
                                             const char *role);
/* Sets the rows of the file td was loaded from (al_survey_meta.file_rows), as a partitioned
 * load that read a part of it knows them. AL_OK, AL_EINVAL (NULL td, rows < 0), AL_ENOMEM. */
AL_API AL_NODISCARD int al_survey_set_file_rows(al_tensordict *td, int64_t rows);
/* The metadata of column `key` (a key, or a direct entry's plain name) of td, found in O(1)
 * expected time; borrowed as al_survey_info's result. NULL when td has no such column record. */
AL_API const al_survey_column *al_survey_column_find(const al_tensordict *td, const char *key);
/* The missing-value mask of column `key` (a key, or a direct entry's plain name): entry
 * "_null.<key>", bool, of the column's shape; borrowed until td changes. NULL when the column has
 * no mask (no missing value, or a float column, whose missing values are NaN). */
AL_API const al_tensor *al_survey_null_mask(const al_tensordict *td, const char *key);
/* Counts the missing elements of column `key` ("Missing values" above) into *count. AL_OK,
 * AL_ENOTFOUND (no such tensor entry), AL_EINVAL (NULL argument), AL_EUNSUPPORTED (a CUDA
 * tensor). */
AL_API AL_NODISCARD int al_survey_missing(const al_tensordict *td, const char *key, int64_t *count);
/* The role that the column names of Gaia DR3, SDSS, 2MASS and Tycho-2 give `name` (static), or
 * NULL; *survey (may be NULL) gets the survey whose name it is. */
AL_API const char *al_survey_role_of(const char *name, const char **survey);
/* {"survey", "path", "format", "hdu", "extname", "rows", "file_rows", "columns": [{"name",
 * "dtype", "shape", "unit", "role", "format", "nulls"}], "memory_info": {...}}. free() it. NULL
 * when out of memory or td is NULL. */
AL_API AL_NODISCARD char *al_survey_info_json(const al_tensordict *td);
/* Frees td and its metadata; NULL does nothing. */
AL_API void al_survey_free(al_tensordict *td);

/* -------- Saving. -------- */
typedef struct al_survey_save_options {
    const char *extname; /* EXTNAME of the table; NULL: "CATALOG" */
    int overwrite;       /* 1 (default when opts is NULL): replace an existing file */
    int keep_source;     /* 1: the file td was loaded from, with its table replaced (below) */
} al_survey_save_options;

/* Writes every tensor entry of td (nested ones by their dotted path) as a column of one FITS
 * BINTABLE after an empty primary HDU: the tensors' types (unsigned through TZERO), string
 * widths, vector columns, cell shapes (TDIMn, for more than one axis per row, and for arrays of
 * strings), units (TUNITn), roles (TROLEn), TNULLn and the survey name (SURVEY). Loading the
 * file gives back every value and shape exactly. `opts` may be NULL.
 * With keep_source, td must have been loaded from a FITS table (al_survey_info's path and hdu):
 * the output is that file with the table replaced: every other HDU byte for byte, the primary
 * header, and every keyword of the table's header that the new table does not define (WCS,
 * provenance, COMMENT, HISTORY; per-column keywords such as TDISPn follow their column by name).
 * The file is written beside `path` and renamed over it once complete and flushed to disk: a
 * failure, a crash or a full disk leaves an existing `path` (even the source itself) unchanged.
 * A `path` that exists and is not a regular file (device, FIFO, directory, symbolic link) is
 * refused, as are compressed names (.gz, .fz, .bz2). AL_OK, or AL_ETYPE (a dtype FITS cannot
 * hold), AL_EIO (naming the file and the system's reason), AL_EUNSUPPORTED, AL_ENOTFOUND (the
 * source is gone), AL_EINVAL, AL_ENOMEM. */
AL_API AL_NODISCARD int al_survey_save_fits(const al_tensordict *td, const char *path,
                                            const al_survey_save_options *opts, al_error *err);

#ifdef __cplusplus
}
#endif
#endif /* ASTROLAB_SURVEY_H */
