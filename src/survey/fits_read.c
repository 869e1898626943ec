/* Reading FITS binary tables through CFITSIO. Rows are read a block at a time with
 * fits_read_tblbytes straight into one block buffer (as CFITSIO's guide advises: all wanted
 * columns of a block of rows in one pass, rather than column after column), and each wanted
 * column is then scattered from it into its final buffer, big-endian to native order, with
 * TZERO's unsigned types, TSCAL/TZERO scaling and TNULL applied on the way. So the column data
 * is written once, where it stays; the block buffer is the only extra memory. Opening the file
 * and choosing the HDU are in fits_open.c, the column declarations in fits_cols.c, ASCII tables
 * in fits_ascii.c; the column plan and the scatter are here. */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "survey/survey_int.h"

/* Bytes of the block buffer when fits_get_rowsize suggests less: large enough that CFITSIO
 * reads straight from the file into it (past its own buffers), small enough to stay in the L2
 * cache while every column is scattered out of it (8 MiB blocks measured 30% slower). */
#define BLOCK_BYTES (512u << 10)

typedef enum col_kind {
    KIND_COPY,    /* bytes as stored: B, raw A */
    KIND_SWAP,    /* big-endian ints and floats to native, with an optional sign flip */
    KIND_SCALED,  /* ints (or floats) with TSCAL/TZERO: to float64 */
    KIND_LOGICAL, /* L: 'T' 1, 'F' 0, 0 missing */
    KIND_BITS,    /* X: one bool per bit, most significant first */
    KIND_STRING,  /* A: up to the first NUL, trailing blanks dropped */
} col_kind;

typedef struct col_plan {
    ali_scol *out;
    col_kind kind;
    char letter;    /* TFORM type letter */
    int in_size;    /* bytes per stored element (X: 0) */
    int64_t tbcol;  /* offset in the row */
    int64_t repeat; /* elements per row (A: the width) */
    uint64_t flip;  /* xor on the raw value: the sign bit for TZERO's unsigned types */
    double scale, zero;
    bool is_float; /* E or D stored */
} col_plan;

/* What each TFORM type letter stores and how it is read: as stored (`kind` into `dtype`), or,
 * when TSCAL is 1 and TZERO is `uzero` (the offset FITS uses for the other signedness), as
 * `udtype` with the sign bit flipped. Any other TSCAL/TZERO gives float64 (KIND_SCALED). A
 * letter with a `refusal` is laid out (its size places the columns after it) but not read. */
typedef struct tform_type {
    char letter;
    int size;            /* bytes per element in a row; 0 for X, whose bits are packed */
    bool scalable;       /* TSCAL/TZERO apply (not to L, X, A) */
    bool is_float;       /* E, D */
    col_kind kind;       /* read as stored */
    al_dtype dtype;      /* ... into this type */
    double uzero;        /* TZERO of the other signedness; 0: none */
    al_dtype udtype;     /* ... read into this type */
    uint64_t flip;       /* ... with this xor */
    const char *refusal; /* not supported (AL_ETYPE): why */
} tform_type;

static const tform_type tform_types[] = {
    {.letter = 'L', .size = 1, .kind = KIND_LOGICAL, .dtype = AL_DTYPE_BOOL},
    {.letter = 'X', .size = 0, .kind = KIND_BITS, .dtype = AL_DTYPE_BOOL},
    {.letter = 'A', .size = 1, .kind = KIND_STRING, .dtype = AL_DTYPE_STRING},
    {.letter = 'B',
     .size = 1,
     .scalable = true,
     .kind = KIND_COPY,
     .dtype = AL_DTYPE_UINT8,
     .uzero = -128.0,
     .udtype = AL_DTYPE_INT8,
     .flip = 0x80},
    {.letter = 'I',
     .size = 2,
     .scalable = true,
     .kind = KIND_SWAP,
     .dtype = AL_DTYPE_INT16,
     .uzero = 32768.0,
     .udtype = AL_DTYPE_UINT16,
     .flip = 0x8000},
    {.letter = 'J',
     .size = 4,
     .scalable = true,
     .kind = KIND_SWAP,
     .dtype = AL_DTYPE_INT32,
     .uzero = 2147483648.0,
     .udtype = AL_DTYPE_UINT32,
     .flip = 0x80000000u},
    {.letter = 'K',
     .size = 8,
     .scalable = true,
     .kind = KIND_SWAP,
     .dtype = AL_DTYPE_INT64,
     .uzero = 9223372036854775808.0,
     .udtype = AL_DTYPE_UINT64,
     .flip = 0x8000000000000000ull},
    {.letter = 'E',
     .size = 4,
     .scalable = true,
     .is_float = true,
     .kind = KIND_SWAP,
     .dtype = AL_DTYPE_FLOAT32},
    {.letter = 'D',
     .size = 8,
     .scalable = true,
     .is_float = true,
     .kind = KIND_SWAP,
     .dtype = AL_DTYPE_FLOAT64},
    {.letter = 'C', .size = 8, .refusal = "complex columns are not supported"},
    {.letter = 'M', .size = 16, .refusal = "complex columns are not supported"},
    {.letter = 'P', .size = 8, .refusal = "variable-length arrays are not supported"},
    {.letter = 'Q', .size = 16, .refusal = "variable-length arrays are not supported"},
};

/* The entry for a TFORM letter, or NULL for one FITS does not define. */
static const tform_type *tform_find(char letter)
{
    for (size_t i = 0; i < sizeof tform_types / sizeof tform_types[0]; i++)
        if (tform_types[i].letter == letter)
            return &tform_types[i];
    return NULL;
}

/* Sets the plan's kind and the output type from the TFORM letter and the scaling. */
static int plan_type(col_plan *p, const char *path, int hdu, const char *name, bool raw,
                     al_error *err)
{
    const tform_type *ty = tform_find(p->letter);
    if (!ty)
        return al_error_set(err, AL_EFORMAT, "%s: HDU %d: column '%s': unknown TFORM type '%c'",
                            path, hdu, name, p->letter);
    if (ty->refusal)
        return al_error_set(err, AL_ETYPE, "%s: HDU %d: column '%s' (TFORM '%c'): %s", path, hdu,
                            name, p->letter, ty->refusal);
    ali_scol *c = p->out;
    p->in_size = ty->size;
    p->is_float = ty->is_float;
    p->kind = ty->kind;
    c->dtype = ty->dtype;
    c->repeat = p->repeat;
    if (ty->dtype == AL_DTYPE_STRING) { /* one string of `repeat` bytes a row (TDIM may split it) */
        p->kind = raw ? KIND_COPY : KIND_STRING;
        c->width = p->repeat ? (size_t)p->repeat : 1;
        c->repeat = 1;
        c->ndim = 1;
        return AL_OK;
    }
    bool unscaled = p->scale == 1.0 && p->zero == 0.0;
    if (ty->scalable && !unscaled) {
        if (ty->uzero != 0.0 && p->scale == 1.0 && p->zero == ty->uzero)
            p->kind = KIND_SWAP, p->flip = ty->flip, c->dtype = ty->udtype;
        else
            p->kind = KIND_SCALED, c->dtype = AL_DTYPE_FLOAT64; /* physical values */
    }
    c->width = al_dtype_size(c->dtype);
    c->ndim = p->repeat == 1 ? 1 : 2;
    return AL_OK;
}

static inline uint64_t load_be(const uint8_t *s, int size)
{
    uint64_t v = 0;
    switch (size) {
    case 1:
        return s[0];
    case 2: {
        uint16_t x;
        memcpy(&x, s, 2);
        return __builtin_bswap16(x);
    }
    case 4: {
        uint32_t x;
        memcpy(&x, s, 4);
        return __builtin_bswap32(x);
    }
    default:
        memcpy(&v, s, 8);
        return __builtin_bswap64(v);
    }
}

/* The stored value as a signed integer (for TNULL) or, for floats, its bits. */
static inline int64_t as_signed(uint64_t raw, int size)
{
    switch (size) {
    case 1:
        return (int64_t)raw; /* B is unsigned as stored */
    case 2:
        return (int16_t)raw;
    case 4:
        return (int32_t)raw;
    default:
        return (int64_t)raw;
    }
}

static inline double physical(const col_plan *p, uint64_t raw)
{
    double v;
    if (p->is_float) {
        if (p->in_size == 4) {
            uint32_t b = (uint32_t)raw;
            float x;
            memcpy(&x, &b, 4);
            v = x;
        } else
            memcpy(&v, &raw, 8);
    } else
        v = (double)as_signed(raw, p->in_size);
    return v * p->scale + p->zero;
}

/* Marks element i missing, allocating the mask on first use. */
static int mark_null(ali_scol *c, int64_t rows, int64_t i, const char *path, al_error *err)
{
    if (!c->nulls) {
        c->nulls = ali_survey_col_alloc((uint64_t)rows * (uint64_t)c->repeat, path, c->key, err);
        if (!c->nulls)
            return AL_ENOMEM;
        memset(c->nulls, 0, (size_t)(rows * c->repeat));
    }
    c->nulls[i] = 1;
    return AL_OK;
}

/* The common case of KIND_SWAP, without TNULL: one tight loop per element size. */
#define SWAP_LOOP(T, BSWAP)                                                                        \
    for (int64_t r = 0; r < nb; r++) {                                                             \
        const uint8_t *s = src + r * rowlen;                                                       \
        T *d = (T *)(void *)dst + r * rep;                                                         \
        for (int64_t k = 0; k < rep; k++) {                                                        \
            T v;                                                                                   \
            memcpy(&v, s + k * (int64_t)sizeof(T), sizeof(T));                                     \
            d[k] = (T)(BSWAP(v) ^ (T)flip);                                                        \
        }                                                                                          \
    }
#define NO_SWAP(v) (v)

static void swap_fast(uint8_t *dst, const uint8_t *src, int64_t rowlen, int64_t nb, int64_t rep,
                      int size, uint64_t flip)
{
    switch (size) {
    case 1:
        SWAP_LOOP(uint8_t, NO_SWAP);
        break;
    case 2:
        SWAP_LOOP(uint16_t, __builtin_bswap16);
        break;
    case 4:
        SWAP_LOOP(uint32_t, __builtin_bswap32);
        break;
    default:
        SWAP_LOOP(uint64_t, __builtin_bswap64);
    }
}

/* Scatters rows [0, nb) of the block (rows r0.. of the output) into column p. */
static int scatter(const col_plan *p, const uint8_t *blk, int64_t rowlen, int64_t nb, int64_t r0,
                   int64_t rows, const char *path, al_error *err)
{
    ali_scol *c = p->out;
    const uint8_t *src = blk + p->tbcol;
    int64_t rep = c->repeat;
    size_t w = c->width;
    uint8_t *dst = (uint8_t *)c->data + (size_t)(r0 * rep) * w;
    switch (p->kind) {
    case KIND_COPY:
        for (int64_t r = 0; r < nb; r++)
            memcpy(dst + (size_t)(r * rep) * w, src + r * rowlen, (size_t)rep * w);
        break;
    case KIND_STRING: /* rep strings of w bytes per row (rep > 1 with TDIM) */
        for (int64_t r = 0; r < nb; r++)
            for (int64_t k = 0; k < rep; k++) {
                uint8_t *d = dst + (size_t)(r * rep + k) * w;
                const uint8_t *s = src + r * rowlen + (size_t)k * w;
                size_t n = w;
                const uint8_t *nul = memchr(s, 0, n);
                if (nul)
                    n = (size_t)(nul - s);
                while (n && s[n - 1] == ' ')
                    n--;
                memcpy(d, s, n);
                memset(d + n, 0, w - n);
            }
        break;
    case KIND_LOGICAL:
        for (int64_t r = 0; r < nb; r++)
            for (int64_t k = 0; k < rep; k++) {
                uint8_t b = src[r * rowlen + k];
                dst[r * rep + k] = b == 'T';
                if (b == 0 && mark_null(c, rows, (r0 + r) * rep + k, path, err))
                    return AL_ENOMEM;
            }
        break;
    case KIND_BITS:
        for (int64_t r = 0; r < nb; r++)
            for (int64_t k = 0; k < rep; k++)
                dst[r * rep + k] = (src[r * rowlen + k / 8] >> (7 - k % 8)) & 1;
        break;
    case KIND_SWAP:
        if (!(c->has_tnull && !p->is_float)) {
            swap_fast(dst, src, rowlen, nb, rep, p->in_size, p->flip);
            break;
        }
        {
            int sz = p->in_size;
            bool tn = true;
            for (int64_t r = 0; r < nb; r++) {
                const uint8_t *s = src + r * rowlen;
                uint8_t *d = dst + (size_t)(r * rep) * w;
                for (int64_t k = 0; k < rep; k++) {
                    uint64_t raw = load_be(s + k * sz, sz);
                    if (tn && as_signed(raw, sz) == c->tnull &&
                        mark_null(c, rows, (r0 + r) * rep + k, path, err))
                        return AL_ENOMEM;
                    raw ^= p->flip;
                    switch (sz) {
                    case 1:
                        d[k] = (uint8_t)raw;
                        break;
                    case 2: {
                        uint16_t v = (uint16_t)raw;
                        memcpy(d + 2 * k, &v, 2);
                    } break;
                    case 4: {
                        uint32_t v = (uint32_t)raw;
                        memcpy(d + 4 * k, &v, 4);
                    } break;
                    default:
                        memcpy(d + 8 * k, &raw, 8);
                    }
                }
            }
            break;
        }
    case KIND_SCALED: {
        double *d = (double *)(void *)dst;
        for (int64_t r = 0; r < nb; r++)
            for (int64_t k = 0; k < rep; k++) {
                uint64_t raw = load_be(src + r * rowlen + k * p->in_size, p->in_size);
                bool null = c->has_tnull && !p->is_float && as_signed(raw, p->in_size) == c->tnull;
                d[r * rep + k] = null ? NAN : physical(p, raw);
            }
        break;
    }
    }
    return AL_OK;
}

/* Each column's byte offset in a row into tbcol[0..n), as CFITSIO lays rows out. AL_OK, or
 * AL_EFORMAT when they do not add up to NAXIS1 (CFITSIO refuses such a table on opening it:
 * this checks our sizes). */
static int column_offsets(const ali_fits_cols *cols, int64_t rowlen, int64_t *tbcol,
                          const char *path, int hdu, al_error *err)
{
    int64_t at = 0;
    for (int i = 0; i < cols->n; i++) {
        const ali_fits_col *c = &cols->col[i];
        const tform_type *ty = tform_find(c->letter);
        if (!ty)
            return al_error_set(err, AL_EFORMAT, "%s: HDU %d: column '%s': unknown TFORM '%s'",
                                path, hdu, c->name, c->form);
        tbcol[i] = at;
        at += ty->size ? ty->size * c->repeat : (c->repeat + 7) / 8;
    }
    if (at != rowlen)
        return al_error_set(err, AL_EFORMAT,
                            "%s: HDU %d: the columns take %lld bytes a row, NAXIS1 says %lld", path,
                            hdu, (long long)at, (long long)rowlen);
    return AL_OK;
}

/* Plans every wanted column of `cols`: names, types, buffers. */
static int plan_named(fitsfile *f, const char *path, int hdu, const al_survey_options *o,
                      int64_t rows, col_plan **plans_out, ali_stable *t, const ali_fits_cols *cols,
                      const int64_t *tbcol, al_error *err)
{
    int st = 0;
    int ncols = cols->n;
    const char **names = cols->names;
    size_t n_want = o->columns ? ali_survey_count_names(o->columns) : (size_t)ncols;
    t->cols = AL_NEW_ARRAY(ali_scol, n_want ? n_want : 1);
    t->roles = AL_NEW_ARRAY(char *, n_want ? n_want : 1);
    col_plan *plans = AL_NEW_ARRAY(col_plan, n_want ? n_want : 1);
    if (!t->cols || !t->roles || !plans)
        return al_error_set(err, AL_ENOMEM, "%s: out of memory for %zu columns", path, n_want);
    *plans_out = plans;
    for (size_t j = 0; j < n_want; j++) {
        int i = o->columns ? ali_survey_find_name(names, (size_t)ncols, o->columns[j]) : (int)j;
        if (i < 0)
            return al_error_set(err, AL_ENOTFOUND, "%s: HDU %d: no column '%s' (%d columns: %s%s)",
                                path, hdu, o->columns[j], ncols, ncols ? names[0] : "",
                                ncols > 1 ? ", ..." : "");
        const ali_fits_col *fc = &cols->col[i];
        col_plan *p = &plans[j];
        ali_scol *c = &t->cols[j];
        t->n_cols = j + 1;
        p->out = c;
        p->letter = fc->letter;
        p->tbcol = tbcol[i];
        p->repeat = fc->repeat;
        p->scale = fc->scale;
        p->zero = fc->zero;
        char key[FLEN_KEYWORD];
        long long tnull;
        snprintf(key, sizeof key, "TNULL%d", i + 1);
        if (fits_read_key(f, TLONGLONG, key, &tnull, NULL, &st) == 0)
            c->has_tnull = true, c->tnull = tnull;
        st = 0;
        fits_clear_errmsg();
        c->key = ali_survey_key(fc->name, (size_t)i + 1);
        c->format = al_strdup(fc->form);
        char rkey[FLEN_KEYWORD];
        snprintf(key, sizeof key, "TUNIT%d", i + 1);
        snprintf(rkey, sizeof rkey, "TROLE%d", i + 1);
        if (!c->key || !c->format || ali_fits_str_key(f, key, &c->unit) ||
            ali_fits_str_key(f, rkey, &t->roles[j]))
            return al_error_set(err, AL_ENOMEM, "%s: out of memory", path);
        int rc = plan_type(p, path, hdu, fc->name, o->raw_strings, err);
        if (rc == AL_OK)
            rc = ali_fits_tdim(f, i + 1, fc->name, p->letter, p->repeat, o->raw_strings, c, path,
                               hdu, err);
        if (rc != AL_OK)
            return rc;
        c->data = ali_survey_col_alloc((uint64_t)rows * (uint64_t)c->repeat * c->width, path,
                                       c->key, err);
        if (!c->data)
            return AL_ENOMEM;
    }
    return AL_OK;
}

static int plan_columns(fitsfile *f, const char *path, int hdu, const al_survey_options *o,
                        int64_t rows, int64_t rowlen, col_plan **plans_out, ali_stable *t,
                        al_error *err)
{
    ali_fits_cols cols;
    int rc = ali_fits_cols_read(f, path, hdu, &cols, err);
    if (rc != AL_OK)
        return rc;
    int64_t *tbcol = AL_NEW_ARRAY(int64_t, (size_t)cols.n + 1);
    if (!tbcol)
        rc = al_error_set(err, AL_ENOMEM, "%s: out of memory", path);
    if (rc == AL_OK)
        rc = column_offsets(&cols, rowlen, tbcol, path, hdu, err);
    if (rc == AL_OK)
        rc = plan_named(f, path, hdu, o, rows, plans_out, t, &cols, tbcol, err);
    al_free(tbcol);
    ali_fits_cols_free(&cols);
    return rc;
}

/* AL_OK when the file CFITSIO reads holds all nrows rows of the table, checked before the
 * columns are allocated. A file on disk is checked by its size, exactly (an unpadded last record
 * still loads); CFITSIO's copy in memory of a compressed file or table, whose size is not in
 * CFITSIO's interface, by reading the table's last byte. */
static int check_size(fitsfile *f, const char *path, int hdu, bool in_memory, long long nrows,
                      long rowlen, al_error *err)
{
    int st = 0;
    long long headstart, datastart, dataend, need = nrows * rowlen;
    if (need == 0 || fits_get_hduaddrll(f, &headstart, &datastart, &dataend, &st))
        return AL_OK;
    struct stat sb;
    bool whole;
    if (in_memory) {
        unsigned char last;
        whole = fits_read_tblbytes(f, nrows, rowlen, 1, &last, &st) == 0;
        fits_clear_errmsg();
    } else
        whole = stat(path, &sb) != 0 || sb.st_size >= datastart + need;
    if (whole)
        return AL_OK;
    char has[48] = "";
    if (!in_memory)
        snprintf(has, sizeof has, ", the file has %lld", (long long)sb.st_size);
    return al_error_set(err, AL_EFORMAT,
                        "%s: HDU %d: truncated: %lld rows of %ld bytes need %lld bytes from "
                        "offset %lld%s",
                        path, hdu, nrows, rowlen, need, datastart, has);
}

int ali_fits_read_binary(fitsfile *f, const char *path, int hdu, bool in_memory,
                         const al_survey_options *o, ali_stable *t, al_error *err)
{
    int st = 0;
    long long nrows = 0;
    long rowlen = 0;
    fits_get_num_rowsll(f, &nrows, &st);
    fits_read_key(f, TLONG, "NAXIS1", &rowlen, NULL, &st);
    if (st)
        return ali_fits_fail(err, AL_EFORMAT, path, hdu, st, "bad table header");
    int rc = check_size(f, path, hdu, in_memory, nrows, rowlen, err);
    if (rc != AL_OK)
        return rc;
    int64_t start = o->row_start,
            stop = o->row_stop < 0 || o->row_stop > nrows ? nrows : o->row_stop;
    if (start > nrows)
        return al_error_set(err, AL_EINVAL, "%s: HDU %d: row %lld is past the %lld rows", path, hdu,
                            (long long)start, nrows);
    int64_t rows = stop - start;
    t->rows = rows;
    t->file_rows = nrows;
    col_plan *plans = NULL;
    rc = plan_columns(f, path, hdu, o, rows, rowlen, &plans, t, err);
    if (rc != AL_OK)
        return rc;
    long optimal = 1;
    fits_get_rowsize(f, &optimal, &st);
    st = 0;
    int64_t block = o->block_rows ? (int64_t)o->block_rows : optimal;
    if (!o->block_rows && rowlen > 0 && block * rowlen < BLOCK_BYTES)
        block = BLOCK_BYTES / rowlen;
    if (block < 1)
        block = 1;
    if (block > rows)
        block = rows ? rows : 1;
    uint8_t *buf = al_malloc((size_t)(block * rowlen) + 1);
    if (!buf)
        return al_error_set(err, AL_ENOMEM, "%s: out of memory for a %lld-row read block", path,
                            (long long)block);
    ali_prefault *pf = ali_prefault_start(t);
    for (int64_t r = 0; r < rows && rowlen > 0; r += block) {
        int64_t nb = rows - r < block ? rows - r : block;
        if (fits_read_tblbytes(f, start + r + 1, 1, nb * rowlen, buf, &st)) {
            char what[64];
            snprintf(what, sizeof what, "cannot read rows %lld..%lld", (long long)(start + r),
                     (long long)(start + r + nb - 1));
            rc = ali_fits_fail(err, AL_EFORMAT, path, hdu, st, what);
            break;
        }
        for (size_t j = 0; j < t->n_cols && rc == AL_OK; j++)
            rc = scatter(&plans[j], buf, rowlen, nb, r, rows, path, err);
        if (rc != AL_OK)
            break;
        if (o->progress)
            o->progress(o->progress_user, (uint64_t)(r + nb), (uint64_t)rows);
    }
    ali_prefault_stop(pf);
    al_free(buf);
    al_free(plans);
    return rc;
}
