/* al_tensordict_slice: a row range of a tensordict as views sharing its storage, nested
 * tensordicts included. Entries and their bookkeeping are in tensordict.c. */
#include <string.h>

#include "tensors_int.h"

static int slice_into(const al_tensordict *src, al_tensordict *dst, int64_t start, int64_t stop,
                      al_error *err)
{
    for (size_t i = 0; i < src->n; i++) {
        const ali_entry *e = &src->entries[i];
        al_tensor *t = NULL, *dict = NULL;
        al_tensordict *sub = NULL;
        if (e->sub) {
            sub = ali_td_alloc(dst, AL_BATCH_UNSET, dst->device);
            if (sub && slice_into(e->sub, sub, start, stop, err) != AL_OK) {
                ali_td_destroy(sub);
                return AL_ENOMEM;
            }
        } else {
            t = al_tensor_slice_rows(e->t, start, stop, err);
            if (e->dict)
                dict = al_tensor_view(e->dict, err);
        }
        int ok = e->sub ? sub != NULL : t && (!e->dict || dict);
        if (!ok || ali_td_append(dst, e->name, t, dict, sub, e->flags) != AL_OK) {
            al_tensor_free(t);
            al_tensor_free(dict);
            if (sub)
                ali_td_destroy(sub);
            return al_error_set(err, AL_ENOMEM, "out of memory slicing entry '%s'", e->name);
        }
    }
    return AL_OK;
}

al_tensordict *al_tensordict_slice(const al_tensordict *td, int64_t start, int64_t stop,
                                   al_error *err)
{
    if (!td) {
        al_error_set(err, AL_EINVAL, "tensordict is NULL");
        return NULL;
    }
    int64_t batch = ali_td_root(td)->batch;
    if (batch == AL_BATCH_UNSET)
        batch = 0;
    if (start < 0 || stop < start || stop > batch) {
        al_error_set(err, AL_EINVAL, "row range %lld..%lld is outside 0..%lld", (long long)start,
                     (long long)stop, (long long)batch);
        return NULL;
    }
    al_tensordict *out = al_tensordict_new(stop - start, td->device, err);
    if (!out)
        return NULL;
    al_tensordict *root = ali_td_enter(td);
    out->busy++;
    int rc = slice_into(td, out, start, stop, err);
    out->busy--;
    ali_td_leave(root);
    if (rc != AL_OK) {
        al_tensordict_free(out);
        return NULL;
    }
    return out;
}
