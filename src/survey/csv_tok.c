/* The CSV tokenizer: records of RFC 4180 fields from a file read in blocks, with quoted fields
 * ("" for a quote; commas and newlines inside quotes), CRLF or LF line ends, a UTF-8 byte-order
 * mark, blank lines and '#' comment lines (Gaia archive exports start with them) skipped
 * between records. A record is first found whole (quote-aware), then split and unescaped in
 * place, each field NUL-terminated, so numbers parse straight from the buffer. Type inference
 * and conversion are in csv.c. */
#include <emmintrin.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "survey/csv_int.h"
#include "util/grow_int.h"

#define CSV_BLOCK (4u << 20)
/* The longest record (header included) read whole. A longer line is no catalog's: it is binary
 * data or a file without newlines, and growing the buffer for it would hold the whole file. */
#define CSV_MAX_RECORD ((size_t)256 << 20)

int ali_csv_open(ali_csv *r, const char *path, al_error *err)
{
    memset(r, 0, sizeof *r);
    r->path = path;
    r->fd = open(path, O_RDONLY | O_CLOEXEC);
    if (r->fd < 0)
        return al_error_set(err, errno == ENOENT ? AL_ENOTFOUND : AL_EIO, "%s: cannot open: %m",
                            path);
    r->cap = CSV_BLOCK;
    r->buf = al_malloc(r->cap + ALI_CSV_PAD);
    if (!r->buf) {
        close(r->fd);
        r->fd = -1;
        return al_error_set(err, AL_ENOMEM, "%s: out of memory for the read buffer", path);
    }
    memset(r->buf, 0, ALI_CSV_PAD);
    r->line = 1;
    return AL_OK;
}

void ali_csv_close(ali_csv *r)
{
    if (r->fd >= 0)
        close(r->fd);
    r->fd = -1;
    AL_FREE(r->buf);
    AL_FREE(r->fields);
    AL_FREE(r->lens);
}

int ali_csv_rewind(ali_csv *r, al_error *err)
{
    if (lseek(r->fd, 0, SEEK_SET) < 0)
        return al_error_set(err, AL_EIO, "%s: cannot seek: %m", r->path);
    r->len = r->pos = 0;
    r->base = 0;
    r->eof = false;
    r->line = 1;
    r->started = false;
    return AL_OK;
}

int ali_csv_fill(ali_csv *r, al_error *err)
{
    if (r->pos > 0) {
        memmove(r->buf, r->buf + r->pos, r->len - r->pos);
        r->len -= r->pos;
        r->base += (int64_t)r->pos;
        r->pos = 0;
    }
    if (r->len == r->cap) {
        if (r->cap >= CSV_MAX_RECORD)
            return al_error_set(err, AL_EFORMAT,
                                "%s: line %lld: a record of over %zu MiB: not a CSV file (or "
                                "one without line ends)",
                                r->path, (long long)r->line, CSV_MAX_RECORD >> 20);
        size_t cap = 0;
        char *nb = ali_grow_cap(r->cap, r->cap + 1, CSV_BLOCK, 1, &cap)
                       ? al_realloc(r->buf, cap + ALI_CSV_PAD)
                       : NULL;
        if (!nb)
            return al_error_set(err, AL_ENOMEM,
                                "%s: line %lld: out of memory for a record of "
                                "over %zu bytes",
                                r->path, (long long)r->line, r->cap);
        r->buf = nb;
        r->cap = cap;
    }
    ssize_t got;
    do
        got = read(r->fd, r->buf + r->len, r->cap - r->len);
    while (got < 0 && errno == EINTR);
    if (got < 0)
        return al_error_set(err, AL_EIO, "%s: read failed: %m", r->path);
    if (got == 0)
        r->eof = true;
    /* Text has no NUL bytes: a file that does is binary (an image, a compressed file). */
    const char *nul = memchr(r->buf + r->len, '\0', (size_t)got);
    if (nul)
        return al_error_set(err, AL_EFORMAT,
                            "%s: not a CSV file: a NUL byte at offset %lld (binary data)", r->path,
                            (long long)(r->base + (nul - r->buf)));
    r->len += (size_t)got;
    memset(r->buf + r->len, 0, ALI_CSV_PAD);
    return AL_OK;
}

/* Bits set where a 64-byte chunk holds c. */
static inline uint64_t mask64(const char *p, char c)
{
    __m128i k = _mm_set1_epi8(c);
    uint64_t m = 0;
    for (int i = 0; i < 4; i++) {
        __m128i v = _mm_loadu_si128((const __m128i *)(p + 16 * i));
        m |= (uint64_t)(uint16_t)_mm_movemask_epi8(_mm_cmpeq_epi8(v, k)) << (16 * i);
    }
    return m;
}

int ali_csv_count_lines(ali_csv *r, int64_t from, int64_t to, int64_t *lines, al_error *err)
{
    if (lseek(r->fd, from, SEEK_SET) < 0)
        return al_error_set(err, AL_EIO, "%s: cannot seek: %m", r->path);
    int64_t n = 0, at = from;
    uint64_t inside = 0; /* all ones while inside quotes at a chunk's end */
    char last = '\n';
    for (;;) {
        ssize_t got = 0;
        size_t want = to <= at ? 0 : to - at < (int64_t)r->cap ? (size_t)(to - at) : r->cap;
        do
            got = want ? read(r->fd, r->buf, want) : 0;
        while (got < 0 && errno == EINTR);
        if (got < 0)
            return al_error_set(err, AL_EIO, "%s: read failed: %m", r->path);
        if (got == 0)
            break;
        at += got;
        memset(r->buf + got, 0, ALI_CSV_PAD);
        for (ssize_t i = 0; i < got; i += 64) {
            uint64_t nl = mask64(r->buf + i, '\n'), q = mask64(r->buf + i, '"');
            if (got - i < 64) {
                uint64_t keep = (1ull << (got - i)) - 1;
                nl &= keep, q &= keep;
            }
            if (q) { /* prefix xor: bit k set when an odd number of quotes are at or before k */
                q ^= q << 1, q ^= q << 2, q ^= q << 4, q ^= q << 8, q ^= q << 16, q ^= q << 32;
                q ^= inside;
                inside = (uint64_t)((int64_t)q >> 63);
                nl &= ~q;
            } else
                nl &= ~inside;
            n += __builtin_popcountll(nl);
        }
        last = r->buf[got - 1];
    }
    *lines = n + (last != '\n' || inside); /* an unclosed quote: the tokenizer reports it */
    return ali_csv_seek(r, from, err);
}

int ali_csv_seek(ali_csv *r, int64_t off, al_error *err)
{
    if (lseek(r->fd, off, SEEK_SET) < 0)
        return al_error_set(err, AL_EIO, "%s: cannot seek: %m", r->path);
    r->len = r->pos = 0;
    r->base = off;
    r->eof = false;
    return AL_OK;
}

/* Finds the end of the record at r->pos: sets *end (index of its '\n', or r->len at the end of
 * the file) and *lines (newlines inside it). 1: found; 0: need more input. */
static int find_end(const ali_csv *r, size_t *end, int64_t *lines, bool *any_quote)
{
    const char *b = r->buf;
    size_t i = r->pos;
    int64_t nl = 0;
    bool quoted = false;
    *any_quote = false;
    for (;;) {
        if (!quoted) {
            const char *n = memchr(b + i, '\n', r->len - i);
            size_t lim = n ? (size_t)(n - b) : r->len;
            const char *q = memchr(b + i, '"', lim - i);
            if (!q) {
                if (!n)
                    break;
                *end = lim;
                *lines = nl;
                return 1;
            }
            i = (size_t)(q - b) + 1;
            quoted = true;
            *any_quote = true;
        } else {
            const char *q = memchr(b + i, '"', r->len - i);
            size_t stop = q ? (size_t)(q - b) : r->len;
            for (size_t k = i; k < stop; k++)
                nl += b[k] == '\n';
            if (!q)
                break;
            i = stop + 1;
            quoted = false;
        }
    }
    if (r->eof && !quoted) {
        *end = r->len;
        *lines = nl;
        return 1;
    }
    return 0;
}

static int add_field(ali_csv *r, char *p, size_t len, al_error *err)
{
    if (r->nf == r->fcap) {
        size_t cap = 0;
        if (!ali_grow_cap(r->fcap, r->nf + 1, 64, sizeof(size_t), &cap))
            return al_error_set(err, AL_ENOMEM, "%s: out of memory for fields", r->path);
        char **f = al_realloc(r->fields, cap * sizeof *f);
        if (!f)
            return al_error_set(err, AL_ENOMEM, "%s: out of memory for fields", r->path);
        r->fields = f;
        size_t *l = al_realloc(r->lens, cap * sizeof *l);
        if (!l)
            return al_error_set(err, AL_ENOMEM, "%s: out of memory for fields", r->path);
        r->lens = l;
        r->fcap = cap;
    }
    r->fields[r->nf] = p;
    r->lens[r->nf] = len;
    r->nf++;
    p[len] = '\0';
    return AL_OK;
}

/* Splits buf[start, end) into fields, unescaping quoted ones in place. */
static int split(ali_csv *r, size_t start, size_t end, al_error *err)
{
    char *b = r->buf;
    if (end > start && b[end - 1] == '\r')
        end--;
    r->nf = 0;
    size_t i = start;
    for (;;) {
        char *out = b + i;
        size_t n = 0;
        if (i < end && b[i] == '"') {
            i++;
            for (;;) {
                if (i >= end)
                    break; /* find_end guarantees the closing quote; a CR may end it */
                if (b[i] == '"') {
                    if (i + 1 < end && b[i + 1] == '"') {
                        out[n++] = '"';
                        i += 2;
                        continue;
                    }
                    i++;
                    break;
                }
                out[n++] = b[i++];
            }
        }
        if (out == b + i) { /* unquoted: the field is already in place */
            const char *comma = memchr(b + i, ',', end - i);
            size_t stop = comma ? (size_t)(comma - b) : end;
            n = stop - i;
            i = stop;
        }
        while (i < end && b[i] != ',') /* text after a closing quote is kept, as most readers do */
            out[n++] = b[i++];
        int rc = add_field(r, out, n, err);
        if (rc != AL_OK)
            return rc;
        if (i >= end)
            return AL_OK;
        i++; /* the comma */
    }
}

int ali_csv_next(ali_csv *r, al_error *err)
{
    for (;;) {
        size_t end;
        int64_t lines;
        if (r->pos >= r->len && !r->eof) {
            int rc = ali_csv_fill(r, err);
            if (rc != AL_OK)
                return rc;
        }
        if (r->pos >= r->len && r->eof)
            return 0;
        if (!r->started) {
            r->started = true;
            if (r->len - r->pos >= 3 && memcmp(r->buf + r->pos, "\xEF\xBB\xBF", 3) == 0)
                r->pos += 3;
        }
        bool quoted;
        if (!find_end(r, &end, &lines, &quoted)) {
            if (r->eof)
                return al_error_set(err, AL_EFORMAT,
                                    "%s: line %lld: a quoted field is not "
                                    "closed before the end of the file",
                                    r->path, (long long)r->line);
            int rc = ali_csv_fill(r, err);
            if (rc != AL_OK)
                return rc;
            continue;
        }
        size_t start = r->pos;
        r->rec_off = r->base + (int64_t)start;
        r->rec_quoted = quoted;
        r->pos = end < r->len ? end + 1 : end;
        r->rec_line = r->line;
        r->line += lines + (end < r->len);
        const char *b = r->buf + start;
        size_t n = end - start;
        if (n == 0 || (n == 1 && b[0] == '\r') || b[0] == '#')
            continue; /* blank line or comment */
        int rc = split(r, start, end, err);
        return rc == AL_OK ? 1 : rc;
    }
}
