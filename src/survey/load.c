/* al_survey_load: picks the reader (fits_read.c, csv.c), runs it inside a memory scope, and
 * turns the table it leaves into a tensordict without copying a column: each column's buffer
 * becomes a tensor's storage (al_tensor_wrap). The scope is the load's transaction: a reader
 * that fails leaves its blocks to the scope, which reclaims them; on success the column
 * buffers and the table's records are kept (al_scope_keep) before the scope ends, and the
 * tensordict is built after it, so that it belongs to the caller's scope. */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>

#include "survey/survey_int.h"

void al_survey_options_init(al_survey_options *opts)
{
    if (!opts)
        return;
    memset(opts, 0, sizeof *opts);
    opts->hdu = AL_SURVEY_HDU_FIRST;
    opts->row_stop = -1;
    opts->csv_byte_stop = -1;
}

void *ali_survey_col_alloc(uint64_t bytes, const char *path, const char *col, al_error *err)
{
    void *p = NULL;
    if (bytes < SIZE_MAX - ALI_SURVEY_ALIGN)
        p = al_malloc_aligned_at(bytes ? (size_t)bytes : 1, ALI_SURVEY_ALIGN, "tensor", AL_HERE);
    if (!p) {
        al_error_set(err, AL_ENOMEM, "%s: column '%s': out of memory for %llu bytes", path, col,
                     (unsigned long long)bytes);
        return NULL;
    }
    /* Transparent huge pages for big columns: one page fault per 2 MiB instead of per 4 KiB.
     * Where THP is "madvise" (Debian's default) this is most of the cost of filling fresh
     * memory; it is a hint, so failure (or no THP) changes nothing. */
    const uintptr_t huge = 2u << 20;
    if (bytes >= 2 * huge) {
        uintptr_t lo = ((uintptr_t)p + huge - 1) & ~(huge - 1);
        uintptr_t hi = ((uintptr_t)p + (uintptr_t)bytes) & ~(huge - 1);
        if (hi > lo)
            (void)madvise((void *)lo, hi - lo, MADV_HUGEPAGE);
    }
    return p;
}

char *ali_survey_key(const char *name, size_t index)
{
    if (!name || !*name) {
        char buf[32];
        snprintf(buf, sizeof buf, "col%zu", index);
        return al_strdup(buf);
    }
    /* "_null.<name>" is kept as a path: it is the mask entry of a saved tensordict. */
    size_t skip = strncmp(name, "_null.", 6) == 0 && name[6] ? 6 : 0;
    size_t n = al_tensordict_key_escape(name + skip, NULL, 0);
    char *k = al_malloc(skip + n + 1);
    if (k) {
        memcpy(k, name, skip);
        al_tensordict_key_escape(name + skip, k + skip, n + 1);
    }
    return k;
}

int ali_survey_check_unique(const ali_stable *t, const char *path, al_error *err)
{
    ali_nindex x = {0};
    if (ali_nindex_reserve(&x, t->n_cols) != AL_OK)
        return al_error_set(err, AL_ENOMEM, "%s: out of memory for %zu column names", path,
                            t->n_cols);
    int rc = AL_OK;
    for (size_t i = 0; i < t->n_cols && rc == AL_OK; i++) {
        const char *k = t->cols[i].key;
        uint64_t h = ali_name_hash(k, strlen(k), false);
        size_t cursor = 0, pos1;
        while ((pos1 = ali_nindex_next(&x, h, &cursor)) && rc == AL_OK)
            if (strcmp(t->cols[pos1 - 1].key, k) == 0)
                rc = al_error_set(err, AL_EFORMAT,
                                  "%s: column name '%s' appears twice (columns %zu and %zu)", path,
                                  k, pos1, i + 1);
        ali_nindex_put(&x, h, i);
    }
    ali_nindex_free(&x);
    return rc;
}

int ali_survey_find_name(const char *const *names, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (names[i] && strcmp(names[i], name) == 0)
            return (int)i;
    for (size_t i = 0; i < n; i++)
        if (names[i] && strcasecmp(names[i], name) == 0)
            return (int)i;
    return -1;
}

/* FNV-1a of name with ASCII letters folded to lower case, for strcasecmp's equality. */
static uint64_t folded_hash(const char *name)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (const unsigned char *p = (const unsigned char *)name; *p; p++)
        h = (h ^ (uint64_t)tolower(*p)) * 0x100000001b3ull;
    return h;
}

int ali_name_lookup_init(ali_name_lookup *x, const char *const *names, size_t n)
{
    memset(x, 0, sizeof *x);
    x->names = names;
    x->n = n;
    if (ali_nindex_reserve(&x->exact, n) != AL_OK || ali_nindex_reserve(&x->folded, n) != AL_OK) {
        ali_name_lookup_free(x);
        return AL_ENOMEM;
    }
    for (size_t i = 0; i < n; i++)
        if (names[i]) {
            ali_nindex_put(&x->exact, ali_name_hash(names[i], strlen(names[i]), false), i);
            ali_nindex_put(&x->folded, folded_hash(names[i]), i);
        }
    return AL_OK;
}

int ali_name_lookup_find(const ali_name_lookup *x, const char *name)
{
    /* The first column of that name, as ali_survey_find_name: probes are not in column order. */
    size_t best = SIZE_MAX, cursor = 0, pos1;
    uint64_t h = ali_name_hash(name, strlen(name), false);
    while ((pos1 = ali_nindex_next(&x->exact, h, &cursor)))
        if (pos1 - 1 < best && strcmp(x->names[pos1 - 1], name) == 0)
            best = pos1 - 1;
    if (best == SIZE_MAX) {
        cursor = 0;
        h = folded_hash(name);
        while ((pos1 = ali_nindex_next(&x->folded, h, &cursor)))
            if (pos1 - 1 < best && strcasecmp(x->names[pos1 - 1], name) == 0)
                best = pos1 - 1;
    }
    return best == SIZE_MAX || best > INT_MAX ? -1 : (int)best;
}

void ali_name_lookup_free(ali_name_lookup *x)
{
    ali_nindex_free(&x->exact);
    ali_nindex_free(&x->folded);
}

size_t ali_survey_count_names(const char *const *names)
{
    size_t n = 0;
    while (names && names[n])
        n++;
    return n;
}

int ali_survey_magic(const char *path, ali_magic *magic, al_error *err)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return al_error_set(err, errno == ENOENT ? AL_ENOTFOUND : AL_EIO, "%s: cannot open: %m",
                            path);
    unsigned char h[10] = {0};
    size_t got = fread(h, 1, sizeof h - 1, f);
    fclose(f);
    static const struct {
        const char *name;
        size_t len;
        const char *bytes;
        ali_magic magic;
    } kinds[] = {
        {"", 9, "SIMPLE  =", ALI_MAGIC_FITS},
        {"gzip", 2, "\x1f\x8b", ALI_MAGIC_CFITSIO_COMPRESSED},
        {"bzip2", 3, "BZh", ALI_MAGIC_CFITSIO_COMPRESSED},
        {"compress (.Z)", 2, "\x1f\x9d", ALI_MAGIC_CFITSIO_COMPRESSED},
        {"zip", 4, "PK\x03\x04", ALI_MAGIC_CFITSIO_COMPRESSED},
        {"xz", 6,
         "\xfd"
         "7zXZ\0",
         ALI_MAGIC_UNSUPPORTED_COMPRESSED},
        {"zstd", 4, "\x28\xb5\x2f\xfd", ALI_MAGIC_UNSUPPORTED_COMPRESSED},
    };
    *magic = ALI_MAGIC_OTHER;
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
        if (got >= kinds[i].len && memcmp(h, kinds[i].bytes, kinds[i].len) == 0) {
            if (kinds[i].magic == ALI_MAGIC_UNSUPPORTED_COMPRESSED)
                return al_error_set(err, AL_EUNSUPPORTED,
                                    "%s: compressed with %s, which CFITSIO cannot read: "
                                    "decompress it first",
                                    path, kinds[i].name);
            *magic = kinds[i].magic;
            break;
        }
    return AL_OK;
}

/* The format by content: FITS, compressed FITS (CFITSIO decompresses it), else CSV. */
static int sniff(const char *path, al_survey_format *fmt, al_error *err)
{
    if (!path || !fmt)
        return al_error_set(err, AL_EINVAL, "al_survey_detect_format: NULL argument");
    ali_magic m;
    int rc = ali_survey_magic(path, &m, err);
    if (rc != AL_OK)
        return rc;
    *fmt = m == ALI_MAGIC_OTHER ? AL_SURVEY_FORMAT_CSV : AL_SURVEY_FORMAT_FITS;
    return AL_OK;
}

/* With opts->null_masks, an all-false mask for each column that is not floating-point and has
 * none, so that every part of a partitioned load has the same entries. */
static int add_masks(ali_stable *t, const al_survey_options *o, const char *path, al_error *err)
{
    for (size_t i = 0; o->null_masks && i < t->n_cols; i++) {
        ali_scol *c = &t->cols[i];
        if (c->nulls || c->dtype == AL_DTYPE_FLOAT32 || c->dtype == AL_DTYPE_FLOAT64)
            continue;
        uint64_t n = (uint64_t)t->rows * (uint64_t)c->repeat;
        if (!(c->nulls = ali_survey_col_alloc(n, path, c->key, err)))
            return AL_ENOMEM;
        memset(c->nulls, 0, (size_t)n);
    }
    return AL_OK;
}

/* Keeps every block of the table past the end of the load scope. */
static void table_keep(ali_stable *t)
{
    al_scope_keep(t->cols);
    al_scope_keep(t->survey);
    al_scope_keep(t->origin);
    al_scope_keep(t->extname);
    al_scope_keep(t->roles);
    for (size_t i = 0; i < t->n_cols; i++) {
        ali_scol *c = &t->cols[i];
        al_scope_keep(c->key);
        al_scope_keep(c->data);
        al_scope_keep(c->nulls);
        al_scope_keep(c->unit);
        al_scope_keep(c->format);
        if (t->roles)
            al_scope_keep(t->roles[i]);
    }
}

/* Frees what is left of a kept table (buffers already handed to tensors are NULL). */
static void table_free(ali_stable *t)
{
    for (size_t i = 0; i < t->n_cols; i++) {
        ali_scol *c = &t->cols[i];
        al_free(c->key);
        al_free(c->data);
        al_free(c->nulls);
        al_free(c->unit);
        al_free(c->format);
        if (t->roles)
            al_free(t->roles[i]);
    }
    al_free(t->cols);
    al_free(t->survey);
    al_free(t->origin);
    al_free(t->extname);
    al_free(t->roles);
    memset(t, 0, sizeof *t);
}

static void free_tensor_bytes(void *data, void *ctx)
{
    (void)ctx;
    al_free(data);
}

/* Wraps *data (ownership moves to the tensor on success: *data becomes NULL) and sets it as
 * entry `key`. */
static int add_entry(al_tensordict *td, const char *key, al_dtype dtype, size_t width, int ndim,
                     const int64_t *shape, void **data, al_error *err)
{
    al_tensor *t = al_tensor_wrap(dtype, width, ndim, shape, NULL, *data, AL_CPU, free_tensor_bytes,
                                  NULL, err);
    if (!t)
        return err && err->code ? err->code : AL_ENOMEM;
    *data = NULL;
    int rc = al_tensordict_set(td, key, t, 0, err);
    al_tensor_free(t);
    return rc;
}

static int commit(al_tensordict *td, const char *path, ali_stable *t, const al_survey_options *opts,
                  al_error *err)
{
    for (size_t i = 0; i < t->n_cols; i++) {
        ali_scol *c = &t->cols[i];
        int64_t shape[AL_TENSOR_MAX_DIMS] = {t->rows, c->repeat};
        for (int d = 1; c->ndim > 2 && d < c->ndim; d++)
            shape[d] = c->cell[d - 1];
        int rc = add_entry(td, c->key, c->dtype, c->width, c->ndim, shape, &c->data, err);
        if (rc == AL_OK && c->nulls) {
            size_t n = strlen(c->key) + 7;
            char *key = al_malloc(n);
            rc = key ? AL_OK : al_error_set(err, AL_ENOMEM, "out of memory");
            if (key) {
                snprintf(key, n, "_null.%s", c->key);
                rc = add_entry(td, key, AL_DTYPE_BOOL, 1, c->ndim, shape, (void **)&c->nulls, err);
            }
            al_free(key);
        }
        if (rc != AL_OK) {
            char msg[AL_ERROR_MESSAGE_LEN];
            snprintf(msg, sizeof msg, "%s", err ? err->message : "");
            al_error_set(err, rc, "%s: column '%s': %s", path, c->key, msg);
            return rc;
        }
    }
    if (ali_survey_meta_attach(td, path, t, opts) != AL_OK)
        return al_error_set(err, AL_ENOMEM, "%s: out of memory for the survey metadata", path);
    return AL_OK;
}

al_tensordict *al_survey_load(const char *path, const al_survey_options *opts, al_error *err)
{
    al_survey_options defaults;
    al_survey_options_init(&defaults);
    if (!opts)
        opts = &defaults;
    if (!path || !*path) {
        al_error_set(err, AL_EINVAL, "al_survey_load: no path given");
        return NULL;
    }
    if (opts->row_start < 0 || (opts->row_stop >= 0 && opts->row_stop < opts->row_start)) {
        al_error_set(err, AL_EINVAL, "%s: bad row range %lld..%lld", path,
                     (long long)opts->row_start, (long long)opts->row_stop);
        return NULL;
    }
    if (opts->csv_byte_start < 0 ||
        (opts->csv_byte_stop >= 0 && opts->csv_byte_stop < opts->csv_byte_start)) {
        al_error_set(err, AL_EINVAL, "%s: bad byte range %lld..%lld", path,
                     (long long)opts->csv_byte_start, (long long)opts->csv_byte_stop);
        return NULL;
    }
    al_survey_format fmt = opts->format;
    if (fmt == AL_SURVEY_FORMAT_AUTO && sniff(path, &fmt, err) != AL_OK)
        return NULL;
    if (fmt == AL_SURVEY_FORMAT_FITS &&
        (opts->csv_byte_start || opts->csv_byte_stop >= 0 || opts->csv_types)) {
        al_error_set(err, AL_EINVAL, "%s: a byte range and fixed types are for CSV files only",
                     path);
        return NULL;
    }
    al_tensordict *td = al_tensordict_new(AL_BATCH_UNSET, AL_CPU, err);
    if (!td)
        return NULL;
    al_scope *scope = al_scope_begin("survey_load");
    if (!scope) {
        al_tensordict_free(td);
        al_error_set(err, AL_ENOMEM, "%s: out of memory for the load's scope", path);
        return NULL;
    }
    ali_stable table;
    memset(&table, 0, sizeof table);
    int rc = fmt == AL_SURVEY_FORMAT_FITS ? ali_fits_read(path, opts, &table, err)
                                          : ali_csv_read(path, opts, &table, err);
    if (rc == AL_OK)
        rc = ali_survey_check_unique(&table, path, err);
    if (rc == AL_OK)
        rc = add_masks(&table, opts, path, err);
    if (rc == AL_OK)
        table_keep(&table);
    (void)!al_scope_end(scope, NULL); /* a failed reader's blocks go here */
    if (rc != AL_OK) {
        al_tensordict_free(td);
        return NULL;
    }
    /* A table of no columns still has its rows. */
    if (table.n_cols == 0 && al_tensordict_batch_size(td) == AL_BATCH_UNSET) {
        al_tensordict *sized = al_tensordict_new(table.rows, AL_CPU, err);
        al_tensordict_free(td);
        td = sized;
        rc = td ? AL_OK : AL_ENOMEM;
    }
    if (rc == AL_OK)
        rc = commit(td, path, &table, opts, err);
    table_free(&table);
    if (rc != AL_OK) {
        al_survey_free(td);
        return NULL;
    }
    return td;
}

int al_survey_detect_format(const char *path, al_survey_format *format, al_error *err)
{
    return sniff(path, format, err);
}
