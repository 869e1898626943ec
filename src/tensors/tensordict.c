/* The TensorDict: ordered named entries (tensors or nested tensordicts) sharing a batch size,
 * addressed by dotted paths ('\' escaping a '.' or '\' inside a name); set, get, remove,
 * rename, iteration and row slicing. Entry names are kept as given, byte for byte; a
 * tensordict of ALI_TD_INDEX_MIN entries or more finds them through a hash index (nindex.c), so
 * that a catalog of 200,000 columns loads in linear time. Every call that changes it allocates
 * first and commits last, so a failure leaves it as it was. Cleanup,
 * temporaries and the registry are in cleanup.c; memory_info in memory_info.c; optimize_memory
 * in optimize*.c. */
#include <stdbool.h>
#include <string.h>

#include "tensors_int.h"
#include "util/grow_int.h"

/* The batch size lives in the root: nested tensordicts always agree with it. */
static al_tensordict *root_of(const al_tensordict *td)
{
    while (td->parent)
        td = td->parent;
    return (al_tensordict *)td;
}

al_tensordict *ali_td_enter(const al_tensordict *td)
{
    al_tensordict *root = root_of(td);
    root->busy++;
    return root;
}

void ali_td_leave(al_tensordict *root) { root->busy--; }

/* -------- Keys: components split at '.', a '\' making the next byte literal -------- */

/* The end of the key component at p: the next unescaped '.', or the NUL. */
static const char *comp_end(const char *p)
{
    while (*p && *p != '.') {
        if (*p == '\\' && p[1])
            p++;
        p++;
    }
    return p;
}

/* True when entry name `name` is what p[0..len) stands for (a key component when escaped, else
 * a name as it is). */
static bool comp_is(const char *name, const char *p, size_t len, bool escaped)
{
    const char *e = p + len;
    while (p < e) {
        if (escaped && *p == '\\' && p + 1 < e)
            p++;
        if (*name++ != *p++)
            return false;
    }
    return *name == '\0';
}

/* Removes the escapes of a key component, in place. */
static void unescape(char *s)
{
    char *o = s;
    for (const char *i = s; *i; i++) {
        if (*i == '\\' && i[1])
            i++;
        *o++ = *i;
    }
    *o = '\0';
}

static ptrdiff_t find(const al_tensordict *td, const char *name, size_t len, bool escaped)
{
    if (td->index.cap) {
        uint64_t h = ali_name_hash(name, len, escaped);
        size_t cursor = 0, pos1;
        while ((pos1 = ali_nindex_next(&td->index, h, &cursor)))
            if (comp_is(td->entries[pos1 - 1].name, name, len, escaped))
                return (ptrdiff_t)(pos1 - 1);
        return -1;
    }
    for (size_t i = 0; i < td->n; i++)
        if (comp_is(td->entries[i].name, name, len, escaped))
            return (ptrdiff_t)i;
    return -1;
}

static int check_key(const char *key, al_error *err)
{
    if (!key || !*key)
        return al_error_set(err, AL_EINVAL, "key is NULL or empty");
    for (const char *p = key;; p++) {
        const char *e = comp_end(p);
        if (e == p)
            return al_error_set(err, AL_EINVAL, "key '%s' has an empty path component", key);
        if (!*e)
            return AL_OK;
        p = e;
    }
}

void ali_td_reindex(al_tensordict *td)
{
    if (!td->index.cap)
        return;
    ali_nindex_clear(&td->index);
    for (size_t i = 0; i < td->n; i++) {
        const char *name = td->entries[i].name;
        ali_nindex_put(&td->index, ali_name_hash(name, strlen(name), false), i);
    }
}

/* Room in td's index for `want` entries, building it when td reaches ALI_TD_INDEX_MIN. */
static int index_room(al_tensordict *td, size_t want)
{
    if (want < ALI_TD_INDEX_MIN)
        return AL_OK;
    bool fresh = td->index.cap == 0;
    if (ali_nindex_reserve(&td->index, want) != AL_OK)
        return AL_ENOMEM;
    if (fresh)
        ali_td_reindex(td);
    return AL_OK;
}

/* Byte n of a string written as snprintf does: counted always, stored while it fits. */
static inline void put_byte(char *buf, size_t len, size_t *n, char c)
{
    if (*n + 1 < len)
        buf[*n] = c;
    (*n)++;
}

static inline size_t end_string(char *buf, size_t len, size_t n)
{
    if (len)
        buf[n < len ? n : len - 1] = '\0';
    return n;
}

size_t al_tensordict_key_escape(const char *name, char *buf, size_t len)
{
    size_t n = 0;
    for (const char *p = name ? name : ""; *p; p++) {
        if (*p == '.' || *p == '\\')
            put_byte(buf, len, &n, '\\');
        put_byte(buf, len, &n, *p);
    }
    return end_string(buf, len, n);
}

size_t al_tensordict_key_name(const char *key, char *buf, size_t len)
{
    size_t n = 0;
    for (const char *p = key ? key : ""; *p; p++) {
        if (*p == '\\' && p[1])
            p++;
        put_byte(buf, len, &n, *p);
    }
    return end_string(buf, len, n);
}

static al_tensordict *td_alloc(al_tensordict *parent, int64_t batch, al_device device)
{
    al_tensordict *td = AL_NEW(al_tensordict);
    if (!td)
        return NULL;
    td->parent = parent;
    td->batch = td->batch_initial = batch;
    td->device = device;
    return td;
}

static void td_destroy(al_tensordict *td)
{
    for (size_t i = 0; i < td->n; i++)
        ali_entry_clear(&td->entries[i]);
    ali_nindex_free(&td->index);
    al_free(td->entries);
    al_free(td);
}

void ali_entry_clear(ali_entry *e)
{
    al_tensor_free(e->t);
    al_tensor_free(e->dict);
    if (e->sub)
        td_destroy(e->sub);
    al_free(e->name);
    memset(e, 0, sizeof *e);
}

static int reserve(al_tensordict *td)
{
    if (td->n < td->cap)
        return AL_OK;
    size_t cap = 0;
    ali_entry *e = ali_grow_cap(td->cap, td->n + 1, 8, sizeof *e, &cap)
                       ? al_realloc(td->entries, cap * sizeof *e)
                       : NULL;
    if (!e)
        return AL_ENOMEM;
    td->entries = e;
    td->cap = cap;
    return AL_OK;
}

/* Appends an entry named name[0..len-1] (a key component when escaped) holding t (with its
 * dictionary dict, or NULL) or sub, all taken on success. */
static int append(al_tensordict *td, const char *name, size_t len, bool escaped, al_tensor *t,
                  al_tensor *dict, al_tensordict *sub, unsigned flags)
{
    if (reserve(td) != AL_OK || index_room(td, td->n + 1) != AL_OK)
        return AL_ENOMEM;
    char *copy = al_strndup_at(name, len, AL_HERE);
    if (!copy)
        return AL_ENOMEM;
    if (escaped)
        unescape(copy);
    if (td->index.cap)
        ali_nindex_put(&td->index, ali_name_hash(copy, strlen(copy), false), td->n);
    td->entries[td->n++] = (ali_entry){copy, t, dict, sub, flags};
    return AL_OK;
}

/* What make_parents created, so that a later failure can take it back. */
typedef struct undo {
    al_tensordict *where; /* tensordict that got the first new entry, or NULL */
} undo;

static void undo_run(undo *u)
{
    if (u->where) {
        ali_entry_clear(&u->where->entries[--u->where->n]);
        ali_td_reindex(u->where);
    }
}

/* The tensordict holding the last component of `key`, creating missing nested tensordicts
 * when `create`; *leaf points at the last component inside key. NULL when a component is
 * missing (create false), names a tensor, or out of memory (err filled). */
static al_tensordict *walk_parent(const al_tensordict *td, const char *key, bool create,
                                  const char **leaf, undo *u, al_error *err)
{
    al_tensordict *cur = (al_tensordict *)td;
    const char *p = key;
    for (const char *dot; *(dot = comp_end(p)); p = dot + 1) {
        size_t len = (size_t)(dot - p);
        ptrdiff_t i = find(cur, p, len, true);
        if (i >= 0) {
            if (!cur->entries[i].sub) {
                al_error_set(err, AL_EINVAL, "'%.*s' in key '%s' is a tensor, not a tensordict",
                             (int)len, p, key);
                return NULL;
            }
            cur = cur->entries[i].sub;
            continue;
        }
        if (!create) {
            al_error_set(err, AL_ENOTFOUND, "no entry '%.*s' in key '%s'", (int)len, p, key);
            return NULL;
        }
        al_tensordict *sub = td_alloc(cur, AL_BATCH_UNSET, cur->device);
        if (!sub || append(cur, p, len, true, NULL, NULL, sub, 0) != AL_OK) {
            al_free(sub);
            undo_run(u);
            al_error_set(err, AL_ENOMEM, "out of memory creating '%.*s' for key '%s'", (int)len, p,
                         key);
            return NULL;
        }
        if (!u->where)
            u->where = cur;
        cur = sub;
    }
    *leaf = p;
    return cur;
}

/* Finds entry `key`: its parent and index. The key is read as a path first; when that names
 * nothing, as the name of a direct entry, taken literally. AL_OK, AL_EINVAL (bad key, a tensor
 * in the path) or AL_ENOTFOUND, with err filled. */
static int locate(const al_tensordict *td, const char *key, al_tensordict **parent, size_t *index,
                  al_error *err)
{
    if (!td)
        return al_error_set(err, AL_EINVAL, "tensordict is NULL");
    al_error local;
    int rc = check_key(key, &local);
    if (rc == AL_OK) {
        const char *leaf;
        undo u = {0};
        al_tensordict *p = walk_parent(td, key, false, &leaf, &u, &local);
        ptrdiff_t i = p ? find(p, leaf, strlen(leaf), true) : -1;
        if (i >= 0) {
            *parent = p;
            *index = (size_t)i;
            return AL_OK;
        }
        rc = p ? al_error_set(&local, AL_ENOTFOUND, "no entry '%s'", key) : local.code;
    }
    ptrdiff_t i = key && *key ? find(td, key, strlen(key), false) : -1;
    if (i >= 0) {
        *parent = (al_tensordict *)td;
        *index = (size_t)i;
        return AL_OK;
    }
    return al_error_set(err, rc, "%s", local.message);
}

static ali_entry *lookup(const al_tensordict *td, const char *key, al_error *err)
{
    al_tensordict *parent;
    size_t i;
    return locate(td, key, &parent, &i, err) == AL_OK ? &parent->entries[i] : NULL;
}

/* -------- Construction -------- */

al_tensordict *al_tensordict_new(int64_t batch_size, al_device device, al_error *err)
{
    if (batch_size < AL_BATCH_UNSET) {
        al_error_set(err, AL_EINVAL, "batch size %lld is negative", (long long)batch_size);
        return NULL;
    }
    if (ali_device_check(device, err) != AL_OK)
        return NULL;
    al_tensordict *td = td_alloc(NULL, batch_size, device);
    if (!td) {
        al_error_set(err, AL_ENOMEM, "out of memory for a tensordict");
        return NULL;
    }
    td->handle = al_register_for_cleanup(td, ali_tensordict_release, "al_tensordict");
    if (!td->handle) {
        al_free(td);
        al_error_set(err, AL_ENOMEM, "out of memory registering a tensordict for cleanup");
        return NULL;
    }
    al_log(AL_LOG_DEBUG, ALI_TLOG, "tensordict %p created, batch size %lld", (void *)td,
           (long long)batch_size);
    return td;
}

void al_tensordict_free(al_tensordict *td)
{
    if (!td)
        return;
    if (td->parent) {
        al_log(AL_LOG_ERROR, ALI_TLOG,
               "al_tensordict_free: %p is nested and owned by its parent; not freed", (void *)td);
        return;
    }
    /* al_free drops the registration too; unregistering first keeps the order explicit. */
    (void)!al_unregister(td->handle);
    al_log(AL_LOG_DEBUG, ALI_TLOG, "tensordict %p freed (%zu entries)", (void *)td, td->n);
    td_destroy(td);
}

int64_t al_tensordict_batch_size(const al_tensordict *td) { return root_of(td)->batch; }
al_device al_tensordict_device(const al_tensordict *td) { return td->device; }
size_t al_tensordict_len(const al_tensordict *td) { return td ? td->n : 0; }

int al_tensordict_contains(const al_tensordict *td, const char *key)
{
    return lookup(td, key, NULL) != NULL;
}

/* -------- Set, get, remove, rename -------- */

static int check_tensor(al_tensordict *root, const al_tensordict *td, const char *key,
                        const al_tensor *t, al_error *err)
{
    if (t->ndim < 1)
        return al_error_set(err, AL_EINVAL, "entry '%s': a 0-d tensor has no batch dimension", key);
    al_device d = t->storage->device;
    if (!ali_device_eq(d, td->device)) {
        /* As PyTorch's TensorDict: no silent copy between devices; the caller moves it. */
        char a[32], b[32];
        return al_error_set(err, AL_EUNSUPPORTED,
                            "entry '%s': tensor on %s, tensordict on %s (copy it with "
                            "al_tensor_to first)",
                            key, al_device_name(d, a, sizeof a),
                            al_device_name(td->device, b, sizeof b));
    }
    if (root->batch != AL_BATCH_UNSET && t->shape[0] != root->batch)
        return al_error_set(err, AL_ESHAPE,
                            "entry '%s': batch size mismatch: expected %lld rows, got %lld", key,
                            (long long)root->batch, (long long)t->shape[0]);
    return AL_OK;
}

int ali_td_set(al_tensordict *td, const char *key, const al_tensor *t, const al_tensor *dict,
               unsigned flags, al_error *err)
{
    if (!td || !t)
        return al_error_set(err, AL_EINVAL, "tensordict or tensor is NULL");
    int rc = check_key(key, err);
    al_tensordict *root = root_of(td);
    if (rc || (rc = check_tensor(root, td, key, t, err)))
        return rc;
    root->busy++;
    al_tensor *view = al_tensor_view(t, err), *dview = dict ? al_tensor_view(dict, err) : NULL;
    if (!view || (dict && !dview)) {
        al_tensor_free(view);
        al_tensor_free(dview); /* made when only the first view failed */
        root->busy--;
        return AL_ENOMEM;
    }
    undo u = {0};
    const char *leaf;
    /* A local record: walk_parent's code (AL_EINVAL for a tensor in the path, AL_ENOMEM) is
     * the call's, also when the caller passed no err. */
    al_error local;
    al_error_clear(&local);
    al_tensordict *parent = walk_parent(td, key, true, &leaf, &u, &local);
    rc = parent ? AL_OK : local.code ? local.code : AL_ENOMEM;
    if (!parent && err)
        *err = local;
    if (parent) {
        ptrdiff_t i = find(parent, leaf, strlen(leaf), true);
        if (i >= 0) {
            ali_entry *e = &parent->entries[i];
            ali_entry old = *e;
            *e = (ali_entry){old.name, view, dview, NULL, flags};
            old.name = NULL;
            ali_entry_clear(&old);
        } else if (append(parent, leaf, strlen(leaf), true, view, dview, NULL, flags) != AL_OK) {
            undo_run(&u);
            rc = al_error_set(err, AL_ENOMEM, "out of memory adding entry '%s'", key);
        }
    }
    if (rc) {
        al_tensor_free(view);
        al_tensor_free(dview);
    } else {
        if (root->batch == AL_BATCH_UNSET)
            root->batch = t->shape[0];
        al_log(AL_LOG_DEBUG, ALI_TLOG, "tensordict %p: set '%s' (%s%s, %llu bytes)", (void *)root,
               key, al_dtype_name(t->dtype), dict ? " codes of a dictionary" : "",
               (unsigned long long)al_tensor_nbytes(t));
    }
    root->busy--;
    return rc;
}

int al_tensordict_set(al_tensordict *td, const char *key, const al_tensor *t, unsigned flags,
                      al_error *err)
{
    return ali_td_set(td, key, t, NULL, flags, err);
}

al_tensordict *al_tensordict_add_dict(al_tensordict *td, const char *key, unsigned flags,
                                      al_error *err)
{
    if (!td || check_key(key, err) != AL_OK) {
        if (!td)
            al_error_set(err, AL_EINVAL, "tensordict is NULL");
        return NULL;
    }
    al_tensordict *root = root_of(td);
    root->busy++;
    undo u = {0};
    const char *leaf;
    al_tensordict *sub = NULL, *parent = walk_parent(td, key, true, &leaf, &u, err);
    if (parent) {
        ptrdiff_t i = find(parent, leaf, strlen(leaf), true);
        if (i >= 0) {
            sub = parent->entries[i].sub;
            if (!sub)
                al_error_set(err, AL_EINVAL, "entry '%s' is a tensor, not a tensordict", key);
        } else {
            sub = td_alloc(parent, AL_BATCH_UNSET, parent->device);
            if (!sub || append(parent, leaf, strlen(leaf), true, NULL, NULL, sub, flags) != AL_OK) {
                al_free(sub);
                sub = NULL;
                undo_run(&u);
                al_error_set(err, AL_ENOMEM, "out of memory adding tensordict '%s'", key);
            }
        }
    }
    root->busy--;
    return sub;
}

/* A decoded copy of an encoded entry: dictionary[codes[i]] for every element. */
typedef struct decode_ctx {
    char *dst;
    const al_tensor *dict;
    al_dtype code_type;
} decode_ctx;

static int decode_run(char *pa, char *pb, int64_t n, int64_t sa, int64_t sb, void *user)
{
    (void)pb, (void)sb;
    decode_ctx *c = user;
    size_t w = c->dict->itemsize;
    const char *base = (const char *)c->dict->storage->data + c->dict->offset;
    int64_t step = c->dict->strides[0] * (int64_t)w;
    for (int64_t i = 0; i < n; i++, c->dst += w)
        memcpy(c->dst, base + (int64_t)ali_load_u64(pa + i * sa, c->code_type) * step, w);
    return 0;
}

static al_tensor *decode_host(const al_tensor *codes, const al_tensor *dict, al_error *err)
{
    al_tensor *out = ali_tensor_empty_like(codes, AL_DTYPE_STRING, dict->itemsize, err);
    if (out) {
        decode_ctx c = {out->storage->data, dict, codes->dtype};
        ali_walk(codes, NULL, decode_run, &c);
    }
    return out;
}

al_tensor *ali_entry_decode(const ali_entry *e, al_error *err)
{
    al_device dev = e->t->storage->device;
    if (dev.type == AL_DEVICE_CPU)
        return decode_host(e->t, e->dict, err);
    /* On a device: decode on the host and upload the result. */
    al_tensor *codes = al_tensor_to(e->t, AL_CPU, err), *dict = NULL, *host = NULL, *out = NULL;
    if (codes && (dict = al_tensor_to(e->dict, AL_CPU, err)) &&
        (host = decode_host(codes, dict, err)))
        out = al_tensor_to(host, dev, err);
    al_tensor_free(codes);
    al_tensor_free(dict);
    al_tensor_free(host);
    return out;
}

al_tensor *al_tensordict_get(const al_tensordict *td, const char *key, al_error *err)
{
    ali_entry *e = lookup(td, key, err);
    if (!e)
        return NULL;
    if (!e->t) {
        al_error_set(err, AL_EINVAL, "entry '%s' is a tensordict, not a tensor", key);
        return NULL;
    }
    al_tensordict *root = ali_td_enter(td);
    al_tensor *out = e->dict ? ali_entry_decode(e, err) : al_tensor_view(e->t, err);
    ali_td_leave(root);
    return out;
}

const al_tensor *al_tensordict_borrow(const al_tensordict *td, const char *key)
{
    ali_entry *e = lookup(td, key, NULL);
    return e ? e->t : NULL;
}

int al_tensordict_get_encoded(const al_tensordict *td, const char *key, const al_tensor **codes,
                              const al_tensor **dictionary)
{
    ali_entry *e = lookup(td, key, NULL);
    if (!e)
        return AL_ENOTFOUND;
    if (!e->dict || !codes || !dictionary)
        return AL_EINVAL;
    *codes = e->t;
    *dictionary = e->dict;
    return AL_OK;
}

al_tensordict *al_tensordict_get_dict(const al_tensordict *td, const char *key)
{
    ali_entry *e = lookup(td, key, NULL);
    return e ? e->sub : NULL;
}

int al_tensordict_remove(al_tensordict *td, const char *key, al_error *err)
{
    al_tensordict *parent;
    size_t i;
    int rc = locate(td, key, &parent, &i, err);
    if (rc)
        return rc;
    ali_entry_clear(&parent->entries[i]);
    memmove(&parent->entries[i], &parent->entries[i + 1],
            (parent->n - i - 1) * sizeof parent->entries[0]);
    parent->n--;
    ali_td_reindex(parent);
    al_log(AL_LOG_DEBUG, ALI_TLOG, "tensordict %p: removed '%s'", (void *)root_of(td), key);
    return AL_OK;
}

int al_tensordict_rename(al_tensordict *td, const char *old_key, const char *new_key, al_error *err)
{
    al_tensordict *parent;
    size_t i;
    int rc = locate(td, old_key, &parent, &i, err);
    if (rc)
        return rc;
    ali_entry *e = &parent->entries[i];
    rc = check_key(new_key, err);
    if (rc)
        return rc;
    const char *leaf;
    undo u = {0};
    al_error local;
    if (walk_parent(td, new_key, false, &leaf, &u, &local) != parent)
        return al_error_set(err, AL_EINVAL, "cannot rename '%s' to '%s': another parent", old_key,
                            new_key);
    if (find(parent, leaf, strlen(leaf), true) >= 0)
        return al_error_set(err, AL_EINVAL, "cannot rename '%s': '%s' exists", old_key, new_key);
    al_tensordict *root = ali_td_enter(td);
    char *name = al_strdup(leaf);
    ali_td_leave(root);
    if (!name)
        return al_error_set(err, AL_ENOMEM, "out of memory renaming '%s'", old_key);
    unescape(name);
    al_free(e->name);
    e->name = name;
    ali_td_reindex(parent);
    return AL_OK;
}

int al_tensordict_get_flags(const al_tensordict *td, const char *key, unsigned *flags)
{
    ali_entry *e = lookup(td, key, NULL);
    if (!e)
        return AL_ENOTFOUND;
    if (!flags)
        return AL_EINVAL;
    *flags = e->flags;
    return AL_OK;
}

int al_tensordict_set_flags(al_tensordict *td, const char *key, unsigned flags)
{
    ali_entry *e = lookup(td, key, NULL);
    if (!e)
        return AL_ENOTFOUND;
    e->flags = flags;
    return AL_OK;
}

/* -------- Iteration -------- */

int al_tensordict_entry_at(const al_tensordict *td, size_t i, al_tensordict_entry *out)
{
    if (!td || !out || i >= td->n)
        return AL_EINVAL;
    const ali_entry *e = &td->entries[i];
    *out = (al_tensordict_entry){e->name, e->t, e->sub, e->dict, e->flags};
    return AL_OK;
}

typedef struct visit {
    char *path;
    size_t cap;
    al_tensordict_visit_fn fn;
    void *user;
    int stopped; /* fn's non-zero return that stopped the walk; 0 while it goes on */
} visit;

/* Walks td: AL_OK (v->stopped non-zero when fn stopped the walk) or AL_ENOMEM. */
static int visit_td(const al_tensordict *td, size_t plen, visit *v)
{
    for (size_t i = 0; i < td->n; i++) {
        const ali_entry *e = &td->entries[i];
        size_t nlen = al_tensordict_key_escape(e->name, NULL, 0);
        size_t need = plen + (plen ? 1 : 0) + nlen + 1;
        if (need > v->cap) {
            size_t cap = 0;
            char *p = ali_grow_cap(v->cap, need, 64, 1, &cap) ? al_realloc(v->path, cap) : NULL;
            if (!p)
                return AL_ENOMEM;
            v->path = p;
            v->cap = cap;
        }
        size_t at = plen;
        if (plen)
            v->path[at++] = '.';
        al_tensordict_key_escape(e->name, v->path + at, nlen + 1);
        if (e->sub) {
            int rc = visit_td(e->sub, at + nlen, v);
            if (rc != AL_OK)
                return rc;
        } else {
            al_tensordict_entry view = {e->name, e->t, NULL, e->dict, e->flags};
            if ((v->stopped = v->fn(v->path, &view, v->user)) != 0)
                return AL_OK;
        }
        if (v->stopped)
            return AL_OK;
    }
    return AL_OK;
}

int al_tensordict_foreach(const al_tensordict *td, al_tensordict_visit_fn fn, void *user,
                          int *stopped)
{
    if (!td || !fn)
        return AL_EINVAL;
    visit v = {NULL, 0, fn, user, 0};
    al_tensordict *root = ali_td_enter(td);
    int rc = visit_td(td, 0, &v);
    ali_td_leave(root);
    al_free(v.path);
    if (rc == AL_OK && stopped)
        *stopped = v.stopped;
    return rc;
}

/* -------- Shared with tensordict_to.c and tensordict_slice.c -------- */

al_tensordict *ali_td_alloc(al_tensordict *parent, int64_t batch, al_device device)
{
    return td_alloc(parent, batch, device);
}

void ali_td_destroy(al_tensordict *td) { td_destroy(td); }

al_tensordict *ali_td_root(const al_tensordict *td) { return root_of(td); }

int ali_td_append(al_tensordict *td, const char *name, al_tensor *t, al_tensor *dict,
                  al_tensordict *sub, unsigned flags)
{
    return append(td, name, strlen(name), false, t, dict, sub, flags);
}
