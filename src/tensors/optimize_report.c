/* Options and report of al_tensordict_optimize_memory: defaults, release and the JSON form.
 * The optimizer itself is in optimize.c, its scans in optimize_scan.c. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>

#include "tensors_int.h"
#include "util/json_int.h"

void al_optimize_options_init(al_optimize_options *opts)
{
    if (!opts)
        return;
    memset(opts, 0, sizeof *opts);
    opts->passes = AL_OPTIMIZE_LOSSLESS;
    opts->compact_ratio = 2.0;
    opts->dict_max_unique = 65536;
}

void al_optimize_report_release(al_optimize_report *report)
{
    if (!report)
        return;
    al_free(report->entries);
    memset(report, 0, sizeof *report);
}

static const char *action_names[] = {"compact",     "share",       "narrow_int",   "narrow_float",
                                     "lossy_float", "dict_encode", "narrow_string"};

/* "none" or the action names joined by '+'. */
static void action_text(unsigned action, char *buf, size_t len)
{
    buf[0] = '\0';
    size_t at = 0;
    for (unsigned b = 0; b < sizeof action_names / sizeof action_names[0]; b++)
        if (action & (1u << b))
            at += (size_t)snprintf(buf + at, at < len ? len - at : 0, "%s%s", at ? "+" : "",
                                   action_names[b]);
    if (!action)
        snprintf(buf, len, "none");
}

static cJSON *entry_json(const al_optimize_entry *e)
{
    char action[160];
    action_text(e->action, action, sizeof action);
    cJSON *o = cJSON_CreateObject();
    if (!o || !cJSON_AddStringToObject(o, "name", e->name) ||
        !cJSON_AddStringToObject(o, "action", action) ||
        !cJSON_AddStringToObject(o, "dtype_before", al_dtype_name(e->dtype_before)) ||
        !cJSON_AddStringToObject(o, "dtype_after", al_dtype_name(e->dtype_after)) ||
        !cJSON_AddNumberToObject(o, "bytes_before", (double)e->bytes_before) ||
        !cJSON_AddNumberToObject(o, "bytes_after", (double)e->bytes_after) ||
        !cJSON_AddNumberToObject(o, "max_rel_error", e->max_rel_error) ||
        !(e->shared_with ? cJSON_AddStringToObject(o, "shared_with", e->shared_with)
                         : cJSON_AddNullToObject(o, "shared_with"))) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

char *al_optimize_report_json(const al_optimize_report *r)
{
    if (!r)
        return NULL;
    char *text = NULL;
    cJSON *root = cJSON_CreateObject(), *entries = NULL;
    if (!root || !cJSON_AddBoolToObject(root, "dry_run", r->dry_run) ||
        !cJSON_AddNumberToObject(root, "bytes_before", (double)r->bytes_before) ||
        !cJSON_AddNumberToObject(root, "bytes_after", (double)r->bytes_after) ||
        !cJSON_AddNumberToObject(root, "bytes_saved",
                                 (double)r->bytes_before - (double)r->bytes_after) ||
        !cJSON_AddNumberToObject(root, "bytes_scanned", (double)r->bytes_scanned) ||
        !cJSON_AddNumberToObject(root, "duration_ns", (double)r->duration_ns) ||
        !(entries = cJSON_AddArrayToObject(root, "entries")))
        goto done;
    for (size_t i = 0; i < r->n_entries; i++) {
        cJSON *e = entry_json(&r->entries[i]);
        if (!e || !cJSON_AddItemToArray(entries, e)) {
            cJSON_Delete(e);
            goto done;
        }
    }
    text = ali_json_print(root, false);
done:
    cJSON_Delete(root);
    return text;
}
