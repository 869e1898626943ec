/* Releasing a tensordict's memory: al_tensordict_cleanup (everything, the tensordict stays
 * usable), al_tensordict_clear_temp_tensors (entries flagged temporary) and the release
 * function every root tensordict registers with the cleanup registry. None of them allocates,
 * so none can fail half-way. Entries themselves are managed in tensordict.c. */
#include <string.h>

#include "tensors_int.h"

int al_tensordict_cleanup(al_tensordict *td)
{
    if (!td)
        return AL_EINVAL;
    int removed = (int)td->n;
    al_memory_stats before, after;
    int have = al_get_memory_stats(&before) == AL_OK;
    for (size_t i = 0; i < td->n; i++)
        ali_entry_clear(&td->entries[i]);
    td->n = 0;
    ali_td_reindex(td);
    if (!td->parent)
        td->batch = td->batch_initial;
    if (have && al_get_memory_stats(&after) == AL_OK)
        al_log(AL_LOG_DEBUG, ALI_TLOG, "tensordict %p cleanup: %d entries, %lld bytes released",
               (void *)td, removed, (long long)(before.current_bytes - after.current_bytes));
    return removed;
}

static int clear_temp(al_tensordict *td)
{
    int dropped = 0;
    size_t kept = 0;
    for (size_t i = 0; i < td->n; i++) {
        ali_entry *e = &td->entries[i];
        if (e->flags & AL_ENTRY_TEMPORARY) {
            ali_entry_clear(e);
            dropped++;
            continue;
        }
        if (e->sub)
            dropped += clear_temp(e->sub);
        td->entries[kept++] = *e;
    }
    td->n = kept;
    if (dropped)
        ali_td_reindex(td);
    return dropped;
}

int al_tensordict_clear_temp_tensors(al_tensordict *td)
{
    if (!td)
        return AL_EINVAL;
    int dropped = clear_temp(td);
    if (dropped)
        al_log(AL_LOG_DEBUG, ALI_TLOG, "tensordict %p: %d temporary entries dropped", (void *)td,
               dropped);
    return dropped;
}

int ali_tensordict_release(void *obj)
{
    al_tensordict *td = obj;
    /* A soft-limit cleanup can fire inside one of this tensordict's own calls (an allocation in
     * al_tensordict_set crossing the limit): the entries are mid-change, so leave them. */
    if (td->busy) {
        al_log(AL_LOG_DEBUG, ALI_TLOG, "tensordict %p busy: temporaries kept this time",
               (void *)td);
        return 0;
    }
    al_tensordict_clear_temp_tensors(td);
    return 0;
}
