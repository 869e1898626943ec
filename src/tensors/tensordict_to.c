/* al_tensordict_to: a copy of a tensordict, nested ones included, on another device (or the
 * same one). Every tensor is copied with al_tensor_to (device.c); encoded string entries keep
 * their encoding (codes and dictionary both move). Built aside and handed out whole, so a
 * failure frees everything it made, device memory included. Entries are in tensordict.c. */
#include <stdio.h>
#include <string.h>

#include "tensors_int.h"

/* Copies src's entries into dst (on `device`); `path` holds src's dotted path for messages. */
static int copy_entries(const al_tensordict *src, al_tensordict *dst, al_device device,
                        const char *path, al_error *err)
{
    for (size_t i = 0; i < src->n; i++) {
        const ali_entry *e = &src->entries[i];
        char here[256];
        snprintf(here, sizeof here, "%s%s%s", path, *path ? "." : "", e->name);
        al_tensor *t = NULL, *dict = NULL;
        al_tensordict *sub = NULL;
        al_error local = {0};
        int rc = AL_OK;
        if (e->sub) {
            sub = ali_td_alloc(dst, AL_BATCH_UNSET, device);
            if (!sub)
                rc = al_error_set(&local, AL_ENOMEM, "out of memory for a tensordict");
            else if ((rc = copy_entries(e->sub, sub, device, here, err)) != AL_OK) {
                ali_td_destroy(sub);
                return rc; /* err names the nested entry already */
            }
        } else if (!(t = al_tensor_to(e->t, device, &local)) ||
                   (e->dict && !(dict = al_tensor_to(e->dict, device, &local)))) {
            rc = local.code;
        }
        if (rc == AL_OK && ali_td_append(dst, e->name, t, dict, sub, e->flags) != AL_OK)
            rc = al_error_set(&local, AL_ENOMEM, "out of memory adding the entry");
        if (rc != AL_OK) {
            al_tensor_free(t);
            al_tensor_free(dict);
            if (sub)
                ali_td_destroy(sub);
            return al_error_set(err, rc, "entry '%s': %s", here, local.message);
        }
    }
    return AL_OK;
}

al_tensordict *al_tensordict_to(const al_tensordict *td, al_device device, al_error *err)
{
    if (!td) {
        al_error_set(err, AL_EINVAL, "tensordict is NULL");
        return NULL;
    }
    if (ali_device_check(device, err) != AL_OK)
        return NULL;
    al_tensordict *root = ali_td_enter(td);
    al_tensordict *out = al_tensordict_new(root->batch, device, err);
    if (!out) {
        ali_td_leave(root);
        return NULL;
    }
    out->batch_initial = root->batch_initial;
    /* Busy: a device OOM runs the registered release functions, which must not drop the
     * temporaries of either tensordict while entry pointers are held. */
    out->busy++;
    int rc = copy_entries(td, out, device, "", err);
    out->busy--;
    ali_td_leave(root);
    if (rc != AL_OK) {
        al_tensordict_free(out);
        return NULL;
    }
    if (al_log_enabled(AL_LOG_DEBUG, ALI_TLOG)) {
        char a[32], b[32];
        al_log(AL_LOG_DEBUG, ALI_TLOG, "tensordict %p copied from %s to %s as %p", (void *)td,
               al_device_name(td->device, a, sizeof a), al_device_name(device, b, sizeof b),
               (void *)out);
    }
    return out;
}
