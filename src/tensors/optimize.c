/* al_tensordict_optimize_memory: plan, build, commit.
 *
 * Planning reads every entry once (optimize_scan.c) and decides its action; building makes
 * every new tensor beside the old ones; only when everything is built (and the report
 * allocated) does the commit swap them in, which allocates nothing. So a failure at any
 * allocation leaves the tensordict exactly as it was, and a dry run is the plan alone.
 * Identical columns are found on the originals: each action is a function of the values, so
 * columns equal before are equal after, and the later one becomes a view of the earlier's
 * result. Options and the report's JSON are in optimize_report.c. */
#include <string.h>
#include <time.h>

#include "tensors_int.h"

#define TRANSFORM                                                                                  \
    (AL_OPT_ACTION_COMPACT | AL_OPT_ACTION_NARROW_INT | AL_OPT_ACTION_NARROW_FLOAT |               \
     AL_OPT_ACTION_LOSSY_FLOAT | AL_OPT_ACTION_DICT_ENCODE | AL_OPT_ACTION_NARROW_STRING)

typedef struct plan {
    unsigned action;
    bool eligible; /* a plain CPU tensor entry (not encoded) */
    al_dtype dtype_after;
    size_t item_after; /* itemsize after: the codes' size when encoded */
    size_t str_width;  /* dictionary or narrowed string width */
    int64_t n_unique;  /* dictionary entries */
    ptrdiff_t dup;     /* earlier identical entry, or -1 */
    double max_rel;
    uint64_t new_bytes; /* storage bytes of the rebuilt entry */
    uint64_t bytes_before, bytes_after;
    al_tensor *new_t, *new_dict;
} plan;

typedef struct job {
    al_optimize_options o;
    ali_flat *flat;
    plan *plans;
    size_t n;
    uint64_t scanned;
} job;

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static bool same_layout(const al_tensor *a, const al_tensor *b)
{
    if (a->dtype != b->dtype || a->itemsize != b->itemsize || a->ndim != b->ndim)
        return false;
    return memcmp(a->shape, b->shape, (size_t)a->ndim * sizeof a->shape[0]) == 0;
}

/* Whether two CPU tensors (which al_tensor_equal compares without failing) hold the same bits. */
static bool same_bits(const al_tensor *u, const al_tensor *t)
{
    bool equal = false;
    return al_tensor_equal(u, t, AL_EQUAL_BITWISE, &equal) == AL_OK && equal;
}

static bool same_view(const al_tensor *a, const al_tensor *b)
{
    return a->storage == b->storage && a->offset == b->offset &&
           memcmp(a->strides, b->strides, (size_t)a->ndim * sizeof a->strides[0]) == 0;
}

static void plan_strings(job *j, const al_tensor *t, plan *p, int *rc)
{
    int64_t numel = al_tensor_numel(t);
    uint64_t limit =
        j->o.dict_max_unique < (uint64_t)numel ? j->o.dict_max_unique : (uint64_t)numel;
    ali_strtab tab;
    if (ali_strtab_init(&tab, limit, t->itemsize) != AL_OK) {
        *rc = AL_ENOMEM;
        return;
    }
    size_t max_len;
    bool binary;
    int64_t uniq = ali_scan_strings(t, &tab, &max_len, &binary);
    ali_strtab_free(&tab);
    /* Bytes with NULs inside (packed binary records, as astrometry.net's index files keep in
     * 'A' columns) are not text: their width is part of their meaning. */
    if (binary)
        return;
    size_t w = max_len ? max_len : 1;
    uint64_t original = (uint64_t)numel * t->itemsize, narrowed = (uint64_t)numel * w;
    if (uniq > 0) {
        size_t code = uniq <= 256 ? 1 : uniq <= 65536 ? 2 : 4;
        uint64_t encoded = (uint64_t)numel * code + (uint64_t)uniq * w;
        if (encoded < narrowed && encoded < original) {
            p->action |= AL_OPT_ACTION_DICT_ENCODE;
            p->dtype_after = code == 1   ? AL_DTYPE_UINT8
                             : code == 2 ? AL_DTYPE_UINT16
                                         : AL_DTYPE_UINT32;
            p->item_after = code;
            p->str_width = w;
            p->n_unique = uniq;
            p->new_bytes = encoded;
            return;
        }
    }
    if (w < t->itemsize) {
        p->action |= AL_OPT_ACTION_NARROW_STRING;
        p->item_after = p->str_width = w;
    }
}

/* Decides the action of entry i, which is eligible and has no identical predecessor. */
static int plan_entry(job *j, size_t i, bool pinned)
{
    plan *p = &j->plans[i];
    const al_tensor *t = j->flat[i].e->t;
    unsigned passes = j->o.passes;
    p->dtype_after = t->dtype;
    p->item_after = t->itemsize;
    if (al_tensor_numel(t) == 0)
        return AL_OK;
    j->scanned += al_tensor_nbytes(t);
    int rc = AL_OK;
    if (ali_dtype_is_int(t->dtype) && (passes & AL_OPTIMIZE_NARROW_INT)) {
        al_dtype d = ali_scan_int_target(t);
        if (d != t->dtype) {
            p->action |= AL_OPT_ACTION_NARROW_INT;
            p->dtype_after = d;
            p->item_after = al_dtype_size(d);
        }
    } else if (t->dtype == AL_DTYPE_FLOAT64) {
        bool exact = (passes & AL_OPTIMIZE_NARROW_FLOAT) && ali_scan_f32_exact(t);
        if (exact)
            p->action |= AL_OPT_ACTION_NARROW_FLOAT;
        else if (j->o.lossy_float && ali_scan_f32_within(t, j->o.tolerance, &p->max_rel))
            p->action |= AL_OPT_ACTION_LOSSY_FLOAT;
        if (p->action) {
            p->dtype_after = AL_DTYPE_FLOAT32;
            p->item_after = 4;
        }
    } else if (t->dtype == AL_DTYPE_STRING && (passes & AL_OPTIMIZE_STRINGS)) {
        plan_strings(j, t, p, &rc);
    }
    if (pinned)
        p->action |= AL_OPT_ACTION_COMPACT;
    if ((p->action & TRANSFORM) && !(p->action & AL_OPT_ACTION_DICT_ENCODE))
        p->new_bytes = (uint64_t)al_tensor_numel(t) * p->item_after;
    return rc;
}

static int plan_all(job *j)
{
    ali_ptrset set;
    if (ali_ptrset_init(&set, j->n) != AL_OK)
        return AL_ENOMEM;
    uint64_t *viewed = al_calloc(set.cap, sizeof *viewed);
    if (!viewed) {
        ali_ptrset_free(&set);
        return AL_ENOMEM;
    }
    int added, rc = AL_OK;
    for (size_t i = 0; i < j->n; i++) {
        const ali_entry *e = j->flat[i].e;
        j->plans[i].dup = -1;
        j->plans[i].eligible = !e->dict && e->t->storage->device.type == AL_DEVICE_CPU;
        viewed[ali_ptrset_slot(&set, e->t->storage, &added)] += al_tensor_nbytes(e->t);
    }
    for (size_t i = 0; i < j->n && rc == AL_OK; i++) {
        plan *p = &j->plans[i];
        const al_tensor *t = j->flat[i].e->t;
        if (!p->eligible)
            continue;
        for (size_t k = 0; k < i && (j->o.passes & AL_OPTIMIZE_SHARE); k++) {
            const al_tensor *u = j->flat[k].e->t;
            if (j->plans[k].eligible && j->plans[k].dup < 0 && same_layout(u, t) &&
                (same_view(u, t) || same_bits(u, t))) {
                p->dup = (ptrdiff_t)k;
                break;
            }
        }
        if (p->dup >= 0) {
            const plan *q = &j->plans[p->dup];
            p->action = q->action & TRANSFORM;
            if (j->flat[p->dup].e->t->storage != t->storage)
                p->action |= AL_OPT_ACTION_SHARE;
            p->dtype_after = q->dtype_after;
            p->item_after = q->item_after;
            continue;
        }
        uint64_t seen = viewed[ali_ptrset_slot(&set, t->storage, &added)];
        bool pinned = (j->o.passes & AL_OPTIMIZE_COMPACT) &&
                      (double)t->storage->nbytes > j->o.compact_ratio * (double)seen;
        rc = plan_entry(j, i, pinned);
    }
    al_free(viewed);
    ali_ptrset_free(&set);
    return rc;
}

/* Bytes before and after per entry, each storage counted at its first entry. */
static int account(job *j, uint64_t *before, uint64_t *after)
{
    ali_ptrset sb, sa;
    if (ali_ptrset_init(&sb, 2 * j->n) != AL_OK)
        return AL_ENOMEM;
    if (ali_ptrset_init(&sa, 2 * j->n) != AL_OK) {
        ali_ptrset_free(&sb);
        return AL_ENOMEM;
    }
    int added;
    *before = *after = 0;
    for (size_t i = 0; i < j->n; i++) {
        const ali_entry *e = j->flat[i].e;
        plan *p = &j->plans[i];
        const al_tensor *ts[2] = {e->t, e->dict};
        for (int k = 0; k < 2 && ts[k]; k++) {
            ali_ptrset_slot(&sb, ts[k]->storage, &added);
            p->bytes_before += added ? ts[k]->storage->nbytes : 0;
        }
        if (p->dup >= 0) {
            p->bytes_after = 0;
        } else if (p->action & TRANSFORM) {
            p->bytes_after = p->new_bytes;
        } else {
            for (int k = 0; k < 2 && ts[k]; k++) {
                ali_ptrset_slot(&sa, ts[k]->storage, &added);
                p->bytes_after += added ? ts[k]->storage->nbytes : 0;
            }
        }
        *before += p->bytes_before;
        *after += p->bytes_after;
    }
    ali_ptrset_free(&sb);
    ali_ptrset_free(&sa);
    return AL_OK;
}

/* -------- Building the new tensors -------- */

typedef struct encode_ctx {
    ali_strtab tab;
    char *codes;
    size_t code_size;
    char *dict;
    size_t w;
} encode_ctx;

static int encode_run(char *pa, char *pb, int64_t n, int64_t sa, int64_t sb, void *user)
{
    (void)pb, (void)sb;
    encode_ctx *c = user;
    for (int64_t i = 0; i < n; i++) {
        const char *s = pa + i * sa;
        size_t before = c->tab.count;
        uint32_t code = (uint32_t)ali_strtab_code(&c->tab, s);
        if (c->tab.count != before)
            memcpy(c->dict + (size_t)code * c->w, s, c->w);
        if (c->code_size == 1)
            *(uint8_t *)c->codes = (uint8_t)code;
        else if (c->code_size == 2)
            memcpy(c->codes, &(uint16_t){(uint16_t)code}, 2);
        else
            memcpy(c->codes, &code, 4);
        c->codes += c->code_size;
    }
    return 0;
}

static int truncate_run(char *pa, char *pb, int64_t n, int64_t sa, int64_t sb, void *user)
{
    (void)pb, (void)sb;
    encode_ctx *c = user;
    for (int64_t i = 0; i < n; i++, c->dict += c->w)
        memcpy(c->dict, pa + i * sa, c->w);
    return 0;
}

static int build_entry(const al_tensor *t, plan *p)
{
    al_error err;
    if (p->action & AL_OPT_ACTION_DICT_ENCODE) {
        int64_t shape[1] = {p->n_unique};
        p->new_t = ali_tensor_empty_like(t, p->dtype_after, p->item_after, &err);
        p->new_dict = p->new_t ? al_tensor_new_string(1, shape, p->str_width, AL_CPU, &err) : NULL;
        encode_ctx c = {{0}, NULL, p->item_after, NULL, p->str_width};
        if (!p->new_dict || ali_strtab_init(&c.tab, (size_t)p->n_unique, t->itemsize) != AL_OK)
            return AL_ENOMEM;
        c.codes = p->new_t->storage->data;
        c.dict = p->new_dict->storage->data;
        ali_walk(t, NULL, encode_run, &c);
        ali_strtab_free(&c.tab);
    } else if (p->action & AL_OPT_ACTION_NARROW_STRING) {
        p->new_t = ali_tensor_empty_like(t, AL_DTYPE_STRING, p->str_width, &err);
        if (!p->new_t)
            return AL_ENOMEM;
        encode_ctx c = {{0}, NULL, 0, p->new_t->storage->data, p->str_width};
        ali_walk(t, NULL, truncate_run, &c);
    } else if (p->dtype_after != t->dtype) {
        p->new_t = ali_tensor_empty_like(t, p->dtype_after, p->item_after, &err);
        if (!p->new_t)
            return AL_ENOMEM;
        ali_tensor_convert_into(t, p->dtype_after, p->new_t->storage->data);
    } else {
        p->new_t = al_tensor_copy(t, &err);
    }
    return p->new_t ? AL_OK : AL_ENOMEM;
}

static int build_all(job *j)
{
    for (size_t i = 0; i < j->n; i++) {
        plan *p = &j->plans[i];
        if (p->dup < 0 && (p->action & TRANSFORM) && build_entry(j->flat[i].e->t, p) != AL_OK)
            return AL_ENOMEM;
    }
    for (size_t i = 0; i < j->n; i++) {
        plan *p = &j->plans[i];
        if (p->dup < 0 || !p->action)
            continue;
        const plan *q = &j->plans[p->dup];
        p->new_t = al_tensor_view(q->new_t ? q->new_t : j->flat[p->dup].e->t, NULL);
        if (!p->new_t || (q->new_dict && !(p->new_dict = al_tensor_view(q->new_dict, NULL))))
            return AL_ENOMEM;
    }
    return AL_OK;
}

static void discard_built(job *j)
{
    for (size_t i = 0; j->plans && i < j->n; i++) {
        al_tensor_free(j->plans[i].new_t);
        al_tensor_free(j->plans[i].new_dict);
        j->plans[i].new_t = j->plans[i].new_dict = NULL;
    }
}

static void commit(job *j)
{
    for (size_t i = 0; i < j->n; i++) {
        plan *p = &j->plans[i];
        ali_entry *e = j->flat[i].e;
        if (!p->new_t)
            continue;
        al_tensor_free(e->t);
        al_tensor_free(e->dict);
        e->t = p->new_t;
        e->dict = p->new_dict;
        p->new_t = p->new_dict = NULL;
    }
}

static int make_report(job *j, al_optimize_report *r)
{
    size_t names = 0;
    for (size_t i = 0; i < j->n; i++)
        names += strlen(j->flat[i].path) + 1;
    al_optimize_entry *rows = al_malloc(j->n * sizeof *rows + names + 1);
    if (!rows)
        return AL_ENOMEM;
    char *at = (char *)(rows + j->n);
    for (size_t i = 0; i < j->n; i++) {
        const plan *p = &j->plans[i];
        size_t len = strlen(j->flat[i].path) + 1;
        memcpy(at, j->flat[i].path, len);
        rows[i] = (al_optimize_entry){at,
                                      p->action,
                                      j->flat[i].e->t->dtype,
                                      p->action ? p->dtype_after : j->flat[i].e->t->dtype,
                                      p->bytes_before,
                                      p->bytes_after,
                                      p->max_rel,
                                      p->dup >= 0 ? rows[p->dup].name : NULL};
        at += len;
    }
    r->entries = rows;
    r->n_entries = j->n;
    return AL_OK;
}

static void log_plan(const job *j, const al_optimize_report *r)
{
    if (!al_log_enabled(AL_LOG_DEBUG, ALI_TLOG))
        return;
    for (size_t i = 0; i < j->n; i++)
        if (j->plans[i].action)
            al_log(AL_LOG_DEBUG, ALI_TLOG, "optimize%s '%s': action 0x%x, %s -> %s, %llu -> %llu",
                   r->dry_run ? " (dry run)" : "", j->flat[i].path, j->plans[i].action,
                   al_dtype_name(j->flat[i].e->t->dtype), al_dtype_name(j->plans[i].dtype_after),
                   (unsigned long long)j->plans[i].bytes_before,
                   (unsigned long long)j->plans[i].bytes_after);
    al_log(AL_LOG_DEBUG, ALI_TLOG, "optimize: %llu -> %llu bytes in %llu ns",
           (unsigned long long)r->bytes_before, (unsigned long long)r->bytes_after,
           (unsigned long long)r->duration_ns);
}

int al_tensordict_optimize_memory(al_tensordict *td, const al_optimize_options *opts,
                                  al_optimize_report *report)
{
    if (!td)
        return AL_EINVAL;
    job j = {0};
    if (opts)
        j.o = *opts;
    else
        al_optimize_options_init(&j.o);
    if (!(j.o.compact_ratio >= 1.0) || (j.o.lossy_float && !(j.o.tolerance >= 0)))
        return AL_EINVAL;
    if (td->device.type != AL_DEVICE_CPU) {
        /* Every pass reads elements on the host; copying a device tensordict there and back
         * would cost more than it could save. */
        char name[32];
        al_log(AL_LOG_WARNING, ALI_TLOG,
               "al_tensordict_optimize_memory: tensordict %p is on %s; optimize runs on CPU "
               "tensordicts only (move it with al_tensordict_to first)",
               (void *)td, al_device_name(td->device, name, sizeof name));
        return AL_EUNSUPPORTED;
    }
    uint64_t t0 = now_ns();
    al_tensordict *root = td;
    while (root->parent)
        root = root->parent;
    root->busy++;
    al_optimize_report r = {.dry_run = j.o.dry_run};
    int rc = ali_flatten(td, &j.flat, &j.n);
    if (rc == AL_OK && j.n && !(j.plans = AL_NEW_ARRAY(plan, j.n)))
        rc = AL_ENOMEM;
    if (rc == AL_OK && j.n) {
        rc = plan_all(&j);
        if (rc == AL_OK)
            rc = account(&j, &r.bytes_before, &r.bytes_after);
        if (rc == AL_OK && !j.o.dry_run)
            rc = build_all(&j);
        if (rc == AL_OK && report)
            rc = make_report(&j, &r);
    }
    r.bytes_scanned = j.scanned;
    r.duration_ns = now_ns() - t0;
    if (rc == AL_OK) {
        if (!j.o.dry_run)
            commit(&j);
        log_plan(&j, &r);
        if (report)
            *report = r;
    } else {
        al_log(AL_LOG_DEBUG, ALI_TLOG, "optimize failed (%s): tensordict unchanged",
               al_strerror(rc));
    }
    discard_built(&j); /* after a commit: nothing left; after a failure: all built */
    al_free(j.plans);
    al_free(j.flat);
    root->busy--;
    return rc;
}
