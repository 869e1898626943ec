/* al_tensordict_memory_info, its JSON form and al_tensordict_nbytes: what a tensordict's
 * entries keep alive, from metadata only (no element is read), storage shared between entries
 * counted once, each storage counted on its own device. Also the two helpers it shares with
 * optimize*.c: the depth-first entry list and a pointer set. */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "tensors/memory_info_int.h"
#include "tensors_int.h"
#include "util/json_int.h"

/* -------- Pointer set: fixed capacity, at most half full, so lookups stay short. -------- */

int ali_ptrset_init(ali_ptrset *s, size_t expected)
{
    size_t cap = 16;
    while (cap < expected * 2)
        cap *= 2;
    s->slots = al_calloc(cap, sizeof *s->slots);
    s->cap = cap;
    return s->slots ? AL_OK : AL_ENOMEM;
}

size_t ali_ptrset_slot(ali_ptrset *s, const void *p, int *added)
{
    uintptr_t h = (uintptr_t)p;
    h ^= h >> 17;
    h *= 0x9E3779B97F4A7C15ull;
    size_t i = (size_t)(h >> 20) & (s->cap - 1);
    while (s->slots[i] && s->slots[i] != p)
        i = (i + 1) & (s->cap - 1);
    *added = s->slots[i] == NULL;
    s->slots[i] = p;
    return i;
}

void ali_ptrset_free(ali_ptrset *s)
{
    al_free(s->slots);
    s->slots = NULL;
}

/* -------- Flattening -------- */

typedef struct flat_ctx {
    ali_flat *out;
    char *paths;
    size_t n, chars;
    size_t need; /* highest end of any path written: nested prefixes may pass chars */
} flat_ctx;

/* Counts (out NULL) or fills tensor entries below td; plen: length of td's own path. */
static void flat_walk(const al_tensordict *td, const char *prefix, size_t plen, bool temp,
                      flat_ctx *c)
{
    for (size_t i = 0; i < td->n; i++) {
        ali_entry *e = &td->entries[i];
        size_t nlen = strlen(e->name), len = plen + (plen ? 1 : 0) + nlen;
        bool t = temp || (e->flags & AL_ENTRY_TEMPORARY);
        char *path = NULL;
        if (c->chars + len + 1 > c->need)
            c->need = c->chars + len + 1;
        if (c->out) {
            path = c->paths + c->chars;
            if (plen) {
                memmove(path, prefix, plen); /* may be the same bytes: the prefix is here */
                path[plen] = '.';
            }
            memcpy(path + len - nlen, e->name, nlen + 1);
        }
        if (e->sub) {
            /* The nested path is written into the buffer to serve as its children's prefix;
             * the tensor entries that follow overwrite it. */
            flat_walk(e->sub, path, len, t, c);
            continue;
        }
        if (c->out)
            c->out[c->n] = (ali_flat){e, (al_tensordict *)td, path, t};
        c->n++;
        c->chars += len + 1;
    }
}

int ali_flatten(const al_tensordict *td, ali_flat **out, size_t *n)
{
    /* A nested prefix is written at the current end of the buffer before its children, so
     * the counting pass also measures the furthest byte any prefix reaches. */
    flat_ctx count = {0};
    flat_walk(td, NULL, 0, false, &count);
    *n = count.n;
    *out = NULL;
    if (count.n == 0)
        return AL_OK;
    size_t head = count.n * sizeof(ali_flat);
    ali_flat *f = al_malloc(head + count.need + 1);
    if (!f)
        return AL_ENOMEM;
    flat_ctx fill = {f, (char *)f + head, 0, 0};
    flat_walk(td, NULL, 0, false, &fill);
    *out = f;
    return AL_OK;
}

uint64_t ali_entry_storage_bytes(const ali_entry *e)
{
    uint64_t b = e->t ? e->t->storage->nbytes : 0;
    if (e->dict && e->dict->storage != e->t->storage)
        b += e->dict->storage->nbytes;
    return b;
}

/* -------- memory_info -------- */

/* Adds each distinct storage of the n entries to set (counting its uses in refs[slot] when refs
 * is not NULL) and returns their total bytes. */
static uint64_t count_storage(const ali_flat *flat, size_t n, ali_ptrset *set, uint32_t *refs)
{
    uint64_t total = 0;
    int added;
    for (size_t i = 0; i < n; i++) {
        const ali_entry *e = flat[i].e;
        const al_storage *a = e->t->storage;
        size_t slot = ali_ptrset_slot(set, a, &added);
        if (refs)
            refs[slot]++;
        if (added)
            total += a->nbytes;
        if (e->dict && e->dict->storage != a) {
            slot = ali_ptrset_slot(set, e->dict->storage, &added);
            if (refs)
                refs[slot]++;
            if (added)
                total += e->dict->storage->nbytes;
        }
    }
    return total;
}

int al_tensordict_nbytes(const al_tensordict *td, uint64_t *bytes)
{
    if (!td || !bytes)
        return AL_EINVAL;
    al_tensordict *root = ali_td_enter(td);
    ali_flat *flat = NULL;
    size_t n = 0;
    ali_ptrset set = {0};
    int rc = ali_flatten(td, &flat, &n);
    if (rc == AL_OK)
        rc = ali_ptrset_init(&set, 2 * n);
    if (rc == AL_OK)
        *bytes = count_storage(flat, n, &set, NULL);
    ali_ptrset_free(&set);
    al_free(flat);
    ali_td_leave(root);
    return rc;
}

static int memory_info(const al_tensordict *td, al_tensordict_meminfo *info);

int al_tensordict_memory_info(const al_tensordict *td, al_tensordict_meminfo *info)
{
    if (!td || !info)
        return AL_EINVAL;
    al_tensordict *root = ali_td_enter(td);
    int rc = memory_info(td, info);
    ali_td_leave(root);
    return rc;
}

static int memory_info(const al_tensordict *td, al_tensordict_meminfo *info)
{
    ali_flat *flat;
    size_t n;
    if (ali_flatten(td, &flat, &n) != AL_OK)
        return AL_ENOMEM;
    size_t names = 0;
    for (size_t i = 0; i < n; i++)
        names += strlen(flat[i].path) + 1;
    ali_ptrset set = {0};
    uint32_t *refs = NULL;
    al_tensordict_meminfo_row *rows = al_malloc(n * sizeof *rows + names + 1);
    if (!rows || ali_ptrset_init(&set, 2 * n) != AL_OK ||
        !(refs = al_calloc(set.cap, sizeof *refs))) {
        al_free(rows);
        al_free(flat);
        ali_ptrset_free(&set);
        return AL_ENOMEM;
    }
    al_tensordict_meminfo out = {0};
    int added;
    out.total_bytes = count_storage(flat, n, &set, refs);
    char *name = (char *)(rows + n);
    for (size_t i = 0; i < n; i++) {
        const ali_entry *e = flat[i].e;
        al_tensordict_meminfo_row *r = &rows[i];
        size_t len = strlen(flat[i].path) + 1;
        memcpy(name, flat[i].path, len);
        r->name = name;
        name += len;
        r->dtype = e->dict ? AL_DTYPE_STRING : e->t->dtype;
        r->ndim = e->t->ndim;
        memcpy(r->shape, e->t->shape, sizeof r->shape);
        r->bytes = ali_entry_storage_bytes(e);
        r->view_bytes = al_tensor_nbytes(e->t) + (e->dict ? al_tensor_nbytes(e->dict) : 0);
        r->device = e->t->storage->device;
        r->shared = refs[ali_ptrset_slot(&set, e->t->storage, &added)] > 1 ||
                    (e->dict && refs[ali_ptrset_slot(&set, e->dict->storage, &added)] > 1);
        r->temporary = flat[i].temporary;
        r->encoded = e->dict != NULL;
    }
    for (size_t i = 0; i < set.cap; i++) {
        const al_storage *s = set.slots[i];
        if (!s)
            continue;
        if (s->device.type == AL_DEVICE_CPU) {
            out.cpu_bytes += s->nbytes;
        } else {
            out.cuda_bytes += s->nbytes;
            if (s->device.index >= 0 && s->device.index < AL_TENSOR_MAX_CUDA_DEVICES)
                out.cuda_device_bytes[s->device.index] += s->nbytes;
        }
        if (refs[i] > 1)
            out.shared_bytes += s->nbytes;
    }
    out.total_mb = (double)out.total_bytes / (1024.0 * 1024.0);
    out.n_tensors = n;
    out.n_rows = n;
    out.rows = rows;
    al_free(refs);
    ali_ptrset_free(&set);
    al_free(flat);
    *info = out;
    return AL_OK;
}

void al_tensordict_memory_info_release(al_tensordict_meminfo *info)
{
    if (!info)
        return;
    al_free(info->rows);
    memset(info, 0, sizeof *info);
}

static cJSON *row_json(const al_tensordict_meminfo_row *r)
{
    cJSON *o = cJSON_CreateObject(), *shape = cJSON_CreateArray();
    char dev[32];
    if (!o || !shape) {
        cJSON_Delete(o);
        cJSON_Delete(shape);
        return NULL;
    }
    cJSON_AddItemToObject(o, "shape", shape);
    for (int d = 0; d < r->ndim; d++)
        if (!cJSON_AddItemToArray(shape, cJSON_CreateNumber((double)r->shape[d])))
            goto fail;
    if (!cJSON_AddStringToObject(o, "name", r->name) ||
        !cJSON_AddStringToObject(o, "dtype", al_dtype_name(r->dtype)) ||
        !cJSON_AddNumberToObject(o, "bytes", (double)r->bytes) ||
        !cJSON_AddNumberToObject(o, "view_bytes", (double)r->view_bytes) ||
        !cJSON_AddStringToObject(o, "device", al_device_name(r->device, dev, sizeof dev)) ||
        !cJSON_AddBoolToObject(o, "shared", r->shared) ||
        !cJSON_AddBoolToObject(o, "temporary", r->temporary) ||
        !cJSON_AddStringToObject(o, "encoding", r->encoded ? "dictionary" : "none"))
        goto fail;
    return o;
fail:
    cJSON_Delete(o);
    return NULL;
}

cJSON *ali_tensordict_memory_info_cjson(const al_tensordict *td)
{
    al_tensordict_meminfo info;
    if (al_tensordict_memory_info(td, &info) != AL_OK)
        return NULL;
    cJSON *root = cJSON_CreateObject(), *devices = NULL, *entries = NULL;
    if (!root || !cJSON_AddNumberToObject(root, "total_bytes", (double)info.total_bytes) ||
        !cJSON_AddNumberToObject(root, "total_mb", info.total_mb) ||
        !cJSON_AddNumberToObject(root, "n_tensors", (double)info.n_tensors) ||
        !cJSON_AddNumberToObject(root, "shared_bytes", (double)info.shared_bytes) ||
        !(devices = cJSON_AddObjectToObject(root, "devices")) ||
        !cJSON_AddNumberToObject(devices, "cpu", (double)info.cpu_bytes) ||
        (info.cuda_bytes && !cJSON_AddNumberToObject(devices, "cuda", (double)info.cuda_bytes)) ||
        !(entries = cJSON_AddArrayToObject(root, "entries")))
        goto fail;
    for (int d = 0; d < AL_TENSOR_MAX_CUDA_DEVICES; d++) {
        char name[32];
        if (info.cuda_device_bytes[d] &&
            !cJSON_AddNumberToObject(devices,
                                     al_device_name((al_device){AL_DEVICE_CUDA, d}, name,
                                                    sizeof name),
                                     (double)info.cuda_device_bytes[d]))
            goto fail;
    }
    for (size_t i = 0; i < info.n_rows; i++) {
        cJSON *r = row_json(&info.rows[i]);
        if (!r || !cJSON_AddItemToArray(entries, r)) {
            cJSON_Delete(r);
            goto fail;
        }
    }
    al_tensordict_memory_info_release(&info);
    return root;
fail:
    cJSON_Delete(root);
    al_tensordict_memory_info_release(&info);
    return NULL;
}

char *al_tensordict_memory_info_json(const al_tensordict *td)
{
    cJSON *root = ali_tensordict_memory_info_cjson(td);
    char *text = root ? ali_json_print(root, false) : NULL;
    cJSON_Delete(root);
    return text;
}
