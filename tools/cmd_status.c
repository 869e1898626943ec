/* `astrolab status [--json]`: the machine and this process as the memory manager sees them:
 * host, OS, CPUs, RAM total and available, RSS and peak RSS, library versions and CUDA, then
 * every ASTROLAB_* setting with its value in force and where it came from. The figures come
 * from al_get_system_info (<astrolab/ui.h>), as the UI's system status panel's; the settings
 * from al_setting_get (<astrolab/settings.h>). */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>

#include "astrolab/astrolab.h"
#include "cli.h"

static void line(const char *key, const char *value) { printf("%-18s %s\n", key, value); }

static void print_text(const al_system_info *si)
{
    char a[32], b[32], buf[1024];
    line("host:", si->host);
    if (si->distribution[0])
        snprintf(buf, sizeof buf, "%s (%s)", si->os, si->distribution);
    else
        snprintf(buf, sizeof buf, "%s", si->os);
    line("os:", buf);
    if (si->cpus_usable != si->cpus)
        snprintf(buf, sizeof buf, "%d (%d usable by this process)", si->cpus, si->cpus_usable);
    else
        snprintf(buf, sizeof buf, "%d", si->cpus);
    line("cpus:", buf);
    line("ram total:", cli_format_bytes(si->ram_total_bytes, a, sizeof a));
    double pct = si->ram_total_bytes
                     ? 100.0 * (double)si->ram_available_bytes / (double)si->ram_total_bytes
                     : 0.0;
    snprintf(buf, sizeof buf, "%s (%.0f%%)", cli_format_bytes(si->ram_available_bytes, a, sizeof a),
             pct);
    line("ram available:", buf);
    line("rss:", cli_format_bytes(si->rss_bytes, a, sizeof a));
    line("peak rss:", cli_format_bytes(si->peak_rss_bytes, b, sizeof b));
    line("backing allocator:", si->backing);
    size_t n = 0;
    buf[0] = '\0';
    for (int i = 0; i < si->n_versions && n < sizeof buf; i++)
        n += (size_t)snprintf(buf + n, sizeof buf - n, "%s%s %s", i ? ", " : "",
                              si->versions[i].name, si->versions[i].version);
    line("versions:", buf);
    if (!si->cuda_available) {
        snprintf(buf, sizeof buf, "not available%s%s%s", si->cuda_reason[0] ? " (" : "",
                 si->cuda_reason, si->cuda_reason[0] ? ")" : "");
        line("cuda:", buf);
        return;
    }
    snprintf(buf, sizeof buf, "%d device(s), backend %s", si->cuda_device_count, si->cuda_backend);
    line("cuda:", buf);
    for (int i = 0; i < si->cuda_device_count; i++) {
        const al_cuda_device_props *d = &si->cuda_devices[i];
        uint64_t used = d->total_bytes > d->free_bytes ? d->total_bytes - d->free_bytes : 0;
        char key[32];
        snprintf(key, sizeof key, "cuda device %d:", d->index);
        snprintf(buf, sizeof buf, "%s, %s used of %s", d->name, cli_format_bytes(used, a, sizeof a),
                 cli_format_bytes(d->total_bytes, b, sizeof b));
        line(key, buf);
    }
}

/* The settings table: name, value in force ("-": unset, no default), and its source. */
static void print_settings(void)
{
    printf("settings:\n");
    for (int i = 0; i < al_setting_count(); i++) {
        al_setting_info s;
        if (al_setting_get(i, &s) == AL_OK)
            printf("  %-32s %-12s %s\n", s.name, s.value[0] ? s.value : "-", s.source);
    }
}

/* {"name": ..., "value": ..., "default": ..., "source": ..., "meaning": ..., "documented": ...}
 * for each setting; NULL when out of memory. */
static cJSON *settings_json(void)
{
    cJSON *list = cJSON_CreateArray();
    for (int i = 0; list && i < al_setting_count(); i++) {
        al_setting_info s;
        if (al_setting_get(i, &s) != AL_OK)
            continue;
        cJSON *o = cJSON_CreateObject();
        if (!o || !cJSON_AddItemToArray(list, o)) {
            cJSON_Delete(o);
            cJSON_Delete(list);
            return NULL;
        }
        if (!cJSON_AddStringToObject(o, "name", s.name) ||
            !cJSON_AddStringToObject(o, "value", s.value) ||
            !cJSON_AddStringToObject(o, "default", s.default_value) ||
            !cJSON_AddStringToObject(o, "source", s.source) ||
            !cJSON_AddStringToObject(o, "meaning", s.meaning) ||
            !cJSON_AddStringToObject(o, "documented", s.documented)) {
            cJSON_Delete(list); /* o with it */
            return NULL;
        }
    }
    return list;
}

/* The system report with the settings added under "settings"; NULL when out of memory. */
static cJSON *status_json(const al_system_info *si)
{
    char *text = al_system_info_json(si);
    cJSON *doc = text ? cJSON_Parse(text) : NULL;
    free(text);
    cJSON *settings = doc ? settings_json() : NULL;
    if (!settings || !cJSON_AddItemToObject(doc, "settings", settings)) {
        cJSON_Delete(settings);
        cJSON_Delete(doc);
        return NULL;
    }
    return doc;
}

int cmd_status(int argc, char **argv)
{
    cli_common_opts opts;
    int rc = cli_parse_common(argc, argv, &opts);
    if (rc != CLI_EXIT_OK)
        return rc;
    if (opts.help) {
        cli_print_command_help(cli_find_command("status"));
        return CLI_EXIT_OK;
    }
    al_system_info si;
    rc = al_get_system_info(&si);
    if (rc != AL_OK)
        return cli_fail("status", "cannot read the system's memory figures (/proc/meminfo): %s",
                        al_strerror(rc));
    if (opts.json)
        return cli_print_json("status", status_json(&si));
    print_text(&si);
    print_settings();
    return CLI_EXIT_OK;
}
