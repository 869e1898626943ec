/* Shared by the survey fuzz targets: the input goes to a file (al_survey_load reads paths), the
 * load runs, and a load that leaves a tracked block behind is a crash. */
#ifndef ASTROLAB_FUZZ_COMMON_H
#define ASTROLAB_FUZZ_COMMON_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "astrolab/astrolab.h"

static uint64_t fuzz_live_blocks(void)
{
    al_memory_stats s;
    return al_get_memory_stats(&s) == AL_OK ? s.live_blocks : 0;
}

/* Loads `data` as a file of the given format with options derived from its first byte. */
static void fuzz_load(const uint8_t *data, size_t size, al_survey_format format)
{
    static char path[64];
    if (!path[0]) {
        snprintf(path, sizeof path, "/tmp/astrolab-fuzz-%d", (int)getpid());
        (void)!al_log_set_level("astrolab", AL_LOG_OFF);
    }
    FILE *f = fopen(path, "wb");
    if (!f)
        abort();
    if (size && fwrite(data, 1, size, f) != size)
        abort();
    fclose(f);
    uint64_t before = fuzz_live_blocks();
    al_survey_options o;
    al_survey_options_init(&o);
    o.format = format;
    uint8_t knob = size ? data[size - 1] : 0;
    o.raw_strings = knob & 1;
    o.block_rows = knob & 2 ? 3 : 0;
    o.csv_infer_rows = knob & 4 ? 2 : 0;
    if (knob & 8)
        o.row_start = 1;
    if (knob & 16)
        o.hdu = (knob >> 5) & 3;
    al_error err;
    al_tensordict *td = al_survey_load(path, &o, &err);
    if (td) {
        char *json = al_survey_info_json(td);
        free(json);
        al_survey_free(td);
    }
    if (fuzz_live_blocks() != before) {
        fprintf(stderr, "survey load leaked %llu tracked blocks\n",
                (unsigned long long)(fuzz_live_blocks() - before));
        abort();
    }
    unlink(path);
}

#endif
