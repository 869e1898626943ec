/* al_survey_save_fits: a tensordict as one FITS BINTABLE, written a block of rows at a time
 * with fits_write_tblbytes from a row buffer that each column is gathered into (native to
 * big-endian, unsigned types through TZERO's sign flip), the mirror of fits_read.c. The
 * header carries what loading needs to give every value back exactly, and the metadata. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "survey/survey_int.h"
#include "util/grow_int.h"
#include "util/outfile_int.h"

#define BLOCK_BYTES (8u << 20)

typedef struct out_col {
    char *name;                         /* the column's name: the key's text (TTYPEn) */
    char *key;                          /* the entry's key (escaped path), both al_malloc'd */
    const al_survey_column *meta;       /* its metadata record, or NULL */
    al_tensor *t;                       /* contiguous handle */
    char letter;                        /* TFORM letter */
    int size;                           /* bytes per element in the file */
    int64_t repeat;                     /* elements (string: bytes) per row */
    int tdim_n;                         /* axes of TDIM (0: none) */
    long long tdim[AL_TENSOR_MAX_DIMS]; /* TDIM's axes, FITS order (first fastest) */
    int64_t offset;                     /* in the row */
    uint64_t flip;                      /* sign bit for unsigned types (and xor 0x80 for int8) */
    const char *tzero;                  /* TZERO value text, or NULL */
} out_col;

typedef struct collect {
    const al_tensordict *td;
    out_col *cols;
    size_t n, cap;
    al_error *err;
} collect;

static int type_of(out_col *c, al_dtype d)
{
    static const struct {
        al_dtype dtype;
        char letter;
        int size;
        uint64_t flip;
        const char *tzero;
    } map[] = {
        {AL_DTYPE_BOOL, 'L', 1, 0, NULL},
        {AL_DTYPE_INT8, 'B', 1, 0x80, "-128"},
        {AL_DTYPE_UINT8, 'B', 1, 0, NULL},
        {AL_DTYPE_INT16, 'I', 2, 0, NULL},
        {AL_DTYPE_UINT16, 'I', 2, 0x8000, "32768"},
        {AL_DTYPE_INT32, 'J', 4, 0, NULL},
        {AL_DTYPE_UINT32, 'J', 4, 0x80000000u, "2147483648"},
        {AL_DTYPE_INT64, 'K', 8, 0, NULL},
        {AL_DTYPE_UINT64, 'K', 8, 0x8000000000000000ull, "9223372036854775808"},
        {AL_DTYPE_FLOAT32, 'E', 4, 0, NULL},
        {AL_DTYPE_FLOAT64, 'D', 8, 0, NULL},
        {AL_DTYPE_STRING, 'A', 1, 0, NULL},
    };
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (map[i].dtype == d) {
            c->letter = map[i].letter;
            c->size = map[i].size;
            c->flip = map[i].flip;
            c->tzero = map[i].tzero;
            return AL_OK;
        }
    return AL_ETYPE;
}

static int visit(const char *path, const al_tensordict_entry *e, void *user)
{
    collect *cl = user;
    if (cl->n == cl->cap) {
        size_t cap = 0;
        out_col *c = ali_grow_cap(cl->cap, cl->n + 1, 16, sizeof *c, &cap)
                         ? al_realloc(cl->cols, cap * sizeof *c)
                         : NULL;
        if (!c)
            return al_error_set(cl->err, AL_ENOMEM, "out of memory for the column list");
        cl->cols = c;
        cl->cap = cap;
    }
    out_col *c = &cl->cols[cl->n];
    memset(c, 0, sizeof *c);
    int nd = al_tensor_ndim(e->tensor);
    /* TTYPE is the name (escapes removed: "ANTENNA NO\." writes "ANTENNA NO."), at most the
     * 68 characters a FITS string value holds; the key finds the metadata. */
    size_t len = al_tensordict_key_name(path, NULL, 0);
    c->key = al_strdup(path);
    c->name = al_malloc(len + 1);
    cl->n++;
    if (!c->key || !c->name)
        return al_error_set(cl->err, AL_ENOMEM, "out of memory");
    al_tensordict_key_name(path, c->name, len + 1);
    if (len > 68)
        return al_error_set(cl->err, AL_EINVAL,
                            "column '%.80s': a FITS column name holds at most 68 characters, this "
                            "one has %zu",
                            c->name, len);
    c->meta = al_survey_column_find(cl->td, path);
    al_tensor *t = al_tensordict_get(cl->td, path, cl->err);
    if (t && !al_tensor_is_contiguous(t)) {
        al_tensor *copy = al_tensor_copy(t, cl->err);
        al_tensor_free(t);
        t = copy;
    }
    if (!t)
        return cl->err && cl->err->code ? cl->err->code : AL_ENOMEM;
    c->t = t;
    if (type_of(c, al_tensor_dtype(t)) != AL_OK)
        return al_error_set(cl->err, AL_ETYPE, "entry '%s': no FITS type for %s", path,
                            al_dtype_name(al_tensor_dtype(t)));
    /* A row's cell: its elements, and TDIM when one axis (two for strings) does not say it. */
    const int64_t *shape = al_tensor_shape(t);
    c->repeat = 1;
    for (int d = nd - 1; d >= 1; d--) {
        c->repeat *= shape[d];
        c->tdim[c->tdim_n++] = shape[d];
    }
    if (c->letter == 'A') {
        memmove(c->tdim + 1, c->tdim, (size_t)c->tdim_n * sizeof c->tdim[0]);
        c->tdim[0] = (long long)al_tensor_itemsize(t);
        c->tdim_n++;
        c->repeat *= (int64_t)al_tensor_itemsize(t);
    }
    bool one_axis = c->tdim_n == 1 && c->letter != 'A';
    if (c->tdim_n < 2 && !(one_axis && c->repeat == 1))
        c->tdim_n = 0; /* TFORM's repeat says it all, except for [rows, 1]: TDIM '(1)' */
    return AL_OK;
}

static void gather(const out_col *c, uint8_t *buf, int64_t rowlen, int64_t r0, int64_t nb)
{
    int64_t per_row = c->letter == 'A' ? c->repeat : c->repeat * c->size;
    const uint8_t *src = (const uint8_t *)al_tensor_data(c->t) + r0 * per_row;
    for (int64_t r = 0; r < nb; r++) {
        uint8_t *d = buf + r * rowlen + c->offset;
        const uint8_t *s = src + r * per_row;
        if (c->letter == 'A' || (c->size == 1 && !c->flip && c->letter != 'L')) {
            memcpy(d, s, (size_t)per_row);
            continue;
        }
        for (int64_t k = 0; k < c->repeat; k++) {
            switch (c->size) {
            case 1:
                d[k] = c->letter == 'L' ? (s[k] ? 'T' : 'F') : (uint8_t)(s[k] ^ c->flip);
                break;
            case 2: {
                uint16_t v;
                memcpy(&v, s + 2 * k, 2);
                v = __builtin_bswap16((uint16_t)(v ^ c->flip));
                memcpy(d + 2 * k, &v, 2);
                break;
            }
            case 4: {
                uint32_t v;
                memcpy(&v, s + 4 * k, 4);
                v = __builtin_bswap32((uint32_t)(v ^ c->flip));
                memcpy(d + 4 * k, &v, 4);
                break;
            }
            default: {
                uint64_t v;
                memcpy(&v, s + 8 * k, 8);
                v = __builtin_bswap64(v ^ c->flip);
                memcpy(d + 8 * k, &v, 8);
            }
            }
        }
    }
}

/* Header keywords after fits_create_tbl: TDIM, TZERO/TSCAL, TNULL, TROLE, SURVEY. Over a kept
 * source (src), a role the column's name gives and a survey name the source did not record
 * are left out, so that the file gains no keyword that loading it would not need. */
static int write_keys(fitsfile *f, const collect *cl, const al_survey_meta *m,
                      const ali_fits_source *src, int *st)
{
    char card[FLEN_CARD], key[FLEN_KEYWORD];
    for (size_t i = 0; i < cl->n; i++) {
        const out_col *c = &cl->cols[i];
        if (c->tdim_n)
            fits_write_tdimll(f, (int)i + 1, c->tdim_n, (LONGLONG *)c->tdim, st); /* read only */
        if (c->tzero) {
            snprintf(card, sizeof card, "TZERO%-3zu= %20s / offset for an unsigned type", i + 1,
                     c->tzero);
            fits_write_record(f, card, st);
            snprintf(key, sizeof key, "TSCAL%zu", i + 1);
            fits_write_key_dbl(f, key, 1.0, -1, NULL, st);
        }
        const al_survey_column *mc = c->meta;
        if (mc) {
            if (mc->has_tnull && c->letter != 'E' && c->letter != 'D' && c->letter != 'A') {
                snprintf(key, sizeof key, "TNULL%zu", i + 1);
                fits_write_key_lng(f, key, mc->tnull, "value of a missing element", st);
            }
            const char *implied = src ? al_survey_role_of(mc->name, NULL) : NULL;
            if (mc->role && *mc->role && !(implied && strcmp(implied, mc->role) == 0)) {
                snprintf(key, sizeof key, "TROLE%zu", i + 1);
                fits_write_key_str(f, key, mc->role, "AstroLab column role", st);
            }
        }
    }
    if (m && m->survey && *m->survey && (!src || src->survey))
        fits_write_key_str(f, "SURVEY", m->survey, "survey of the catalog", st);
    return *st;
}

/* CFITSIO keeps no errno: the first failing call's is kept, to say "No space left on device". */
#define FITS_TRY(call)                                                                             \
    do {                                                                                           \
        if (!st) {                                                                                 \
            errno = 0;                                                                             \
            call;                                                                                  \
            if (st && !sys_errno)                                                                  \
                sys_errno = errno;                                                                 \
        }                                                                                          \
    } while (0)

/* The table into the temporary file `tmp`: the source's HDUs before it (keep_source), the
 * table, its rows, then the source's HDUs after it. Returns CFITSIO's status. */
static int write_hdus(const char *tmp, const collect *cl, const al_survey_meta *m, char **ttype,
                      char **tform, char **tunit, const char *extname, ali_fits_source *src,
                      uint8_t *buf, int64_t rowlen, int64_t block, int *sys_errno_out)
{
    int64_t rows = al_tensordict_batch_size(cl->td);
    rows = rows < 0 ? 0 : rows;
    int st = 0, sys_errno = 0;
    fitsfile *f = NULL;
    if (src)
        FITS_TRY(ali_fits_source_begin(src, tmp, &f, &st));
    else
        FITS_TRY(fits_create_diskfile(&f, (char *)tmp, &st));
    FITS_TRY(fits_create_tbl(f, BINARY_TBL, rows, (int)cl->n, ttype, tform, tunit, (char *)extname,
                             &st));
    FITS_TRY(write_keys(f, cl, m, src, &st));
    if (src)
        FITS_TRY(ali_fits_source_copy_keys(src, f, (const char *const *)ttype, (int)cl->n, &st));
    for (int64_t r = 0; !st && r < rows && rowlen > 0; r += block) {
        int64_t nb = rows - r < block ? rows - r : block;
        for (size_t i = 0; i < cl->n; i++)
            gather(&cl->cols[i], buf, rowlen, r, nb);
        FITS_TRY(fits_write_tblbytes(f, r + 1, 1, nb * rowlen, buf, &st));
    }
    if (src && src->checksum)
        FITS_TRY(fits_write_chksum(f, &st));
    if (src)
        FITS_TRY(ali_fits_source_end(src, f, tmp, false, &st));
    if (f && st) /* CFITSIO closes (and frees) the file even when st is set */
        fits_close_file(f, &st);
    else if (f)
        FITS_TRY(fits_close_file(f, &st));
    if (src)
        FITS_TRY(ali_fits_source_end(src, NULL, tmp, true, &st));
    *sys_errno_out = sys_errno;
    return st;
}

static int write_file(const al_tensordict *td, ali_outfile *o, const char *extname, collect *cl,
                      ali_fits_source *src, al_error *err)
{
    const al_survey_meta *m = al_survey_info(td);
    const char *path = o->path;
    int64_t rows = al_tensordict_batch_size(td);
    if (rows < 0)
        rows = 0;
    char **ttype = AL_NEW_ARRAY(char *, cl->n + 1);
    char **tform = AL_NEW_ARRAY(char *, cl->n + 1);
    char **tunit = AL_NEW_ARRAY(char *, cl->n + 1);
    char(*forms)[24] = al_calloc(cl->n + 1, 24);
    int rc = AL_OK;
    if (!ttype || !tform || !tunit || !forms)
        rc = al_error_set(err, AL_ENOMEM, "%s: out of memory", path);
    int64_t rowlen = 0;
    for (size_t i = 0; rc == AL_OK && i < cl->n; i++) {
        out_col *c = &cl->cols[i];
        c->offset = rowlen;
        rowlen += c->letter == 'A' ? c->repeat : c->repeat * c->size;
        snprintf(forms[i], 24, "%lld%c", (long long)c->repeat, c->letter);
        ttype[i] = c->name;
        tform[i] = forms[i];
        tunit[i] = c->meta && c->meta->unit ? (char *)c->meta->unit : "";
    }
    int64_t block = rowlen > 0 ? (int64_t)(BLOCK_BYTES / rowlen) : 1;
    block = block < 1 ? 1 : block > rows ? (rows ? rows : 1) : block;
    uint8_t *buf = rc == AL_OK ? al_malloc((size_t)(block * rowlen) + 1) : NULL;
    if (rc == AL_OK && !buf)
        rc = al_error_set(err, AL_ENOMEM, "%s: out of memory for a write block", path);
    int st = 0, sys_errno = 0;
    if (rc == AL_OK)
        st = write_hdus(o->tmp, cl, m, ttype, tform, tunit, extname, src, buf, rowlen, block,
                        &sys_errno);
    if (rc == AL_OK && st == MEMORY_ALLOCATION) {
        rc = al_error_set(err, AL_ENOMEM, "%s: out of memory while writing", path);
    } else if (rc == AL_OK && st) {
        char text[160];
        ali_fits_errtext(st, text, sizeof text);
        rc = sys_errno ? al_error_set(err, AL_EIO, "%s: cannot write: %s (%s)", path,
                                      ali_outfile_reason(sys_errno), text)
                       : al_error_set(err, AL_EIO, "%s: cannot write: %s", path, text);
    }
    al_free(buf);
    al_free(ttype);
    al_free(tform);
    al_free(tunit);
    al_free(forms);
    return rc;
}

/* A name CFITSIO would compress on writing, which this writer does not do. */
static bool compressed_name(const char *path)
{
    static const char *const ext[] = {".gz", ".fz", ".bz2", ".Z", ".zip"};
    size_t n = strlen(path);
    for (size_t i = 0; i < sizeof ext / sizeof ext[0]; i++) {
        size_t e = strlen(ext[i]);
        if (n > e && strcasecmp(path + n - e, ext[i]) == 0)
            return true;
    }
    return false;
}

int al_survey_save_fits(const al_tensordict *td, const char *path,
                        const al_survey_save_options *opts, al_error *err)
{
    if (!td || !path || !*path)
        return al_error_set(err, AL_EINVAL, "al_survey_save_fits: NULL tensordict or path");
    if (compressed_name(path))
        return al_error_set(err, AL_EUNSUPPORTED,
                            "%s: compressed output is not written; save to a .fits name and "
                            "compress it (gzip, fpack)",
                            path);
    int overwrite = opts ? opts->overwrite : 1;
    const char *extname = opts && opts->extname ? opts->extname : "CATALOG";
    struct stat sb;
    if (!overwrite && lstat(path, &sb) == 0)
        return al_error_set(err, AL_EIO, "%s: exists (overwrite not asked for)", path);
    ali_fits_source src, *keep = NULL;
    const al_survey_meta *m = al_survey_info(td);
    if (opts && opts->keep_source) {
        int rc = ali_fits_source_open(m, &src, err);
        if (rc != AL_OK)
            return rc;
        keep = &src;
        if (!opts->extname)
            extname = m->extname && *m->extname ? m->extname : NULL;
    }
    collect cl = {td, NULL, 0, 0, err};
    int stopped = 0;
    int rc = al_tensordict_foreach(td, visit, &cl, &stopped);
    if (rc == AL_OK)
        rc = stopped; /* visit's code, err filled */
    if (rc != AL_OK && (!err || err->code == AL_OK))
        al_error_set(err, rc, "%s: cannot list the entries", path);
    ali_outfile o;
    if (rc == AL_OK)
        rc = ali_outfile_begin(&o, path, false, err);
    if (rc == AL_OK) {
        rc = write_file(td, &o, extname, &cl, keep, err);
        rc = rc == AL_OK ? ali_outfile_commit(&o, err) : (ali_outfile_abort(&o), rc);
    }
    if (keep)
        ali_fits_source_close(keep);
    for (size_t i = 0; i < cl.n; i++) {
        al_free(cl.cols[i].name);
        al_free(cl.cols[i].key);
        al_tensor_free(cl.cols[i].t);
    }
    al_free(cl.cols);
    return rc;
}
