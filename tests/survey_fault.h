/* Shared by the survey tests (test_survey.c, test_survey_tdim.c): a load under fault
 * injection at every allocation. */
#ifndef ASTROLAB_SURVEY_FAULT_H
#define ASTROLAB_SURVEY_FAULT_H

#include <stdbool.h>

#include "test.h"

/* Loads under fault injection at allocation 1, 2, 3... until it succeeds; every failure must
 * leave no tracked block behind, and the load must succeed in the end with the table a load
 * without faults gives (its columns and rows). */
static inline void fault_loop(const char *path, const al_survey_options *o)
{
    uint64_t before = test_live_blocks();
    al_error err0 = {0};
    al_tensordict *want = al_survey_load(path, o, &err0);
    CHECK(want != NULL);
    if (!want) {
        fprintf(stderr, "  %s does not load without faults: %s\n", path, err0.message);
        return;
    }
    size_t want_columns = al_tensordict_len(want);
    int64_t want_rows = al_tensordict_batch_size(want);
    al_survey_free(want);
    CHECK_EQ_INT(test_live_blocks(), before);

    int failures = 0;
    bool loaded = false;
    for (uint64_t n = 1; n < 5000; n++) {
        al_error err = {0};
        al_memory_fail_after(n, 0);
        al_tensordict *td = al_survey_load(path, o, &err);
        al_memory_fail_after(0, 0);
        if (td) {
            loaded = true;
            CHECK(n > 3);
            CHECK_EQ_INT(al_tensordict_len(td), want_columns);
            CHECK_EQ_INT(al_tensordict_batch_size(td), want_rows);
            al_survey_free(td);
            break;
        }
        failures++;
        if (err.code != AL_ENOMEM)
            fprintf(stderr, "  fail_after(%llu): code %d (%s)\n", (unsigned long long)n, err.code,
                    err.message);
        CHECK_EQ_INT(err.code, AL_ENOMEM);
        uint64_t live = test_live_blocks();
        if (live != before) {
            fprintf(stderr, "  fail_after(%llu): %llu live blocks, had %llu (%s)\n",
                    (unsigned long long)n, (unsigned long long)live, (unsigned long long)before,
                    err.message);
            CHECK_EQ_INT(live, before);
            break;
        }
    }
    if (!loaded)
        fprintf(stderr, "  %s never loaded under fault injection (%d failures)\n", path, failures);
    CHECK(loaded);
    CHECK(failures > 3);
    CHECK_EQ_INT(test_live_blocks(), before);
}

#endif
