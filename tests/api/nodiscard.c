/* Compiled, never run, by the test_api_nodiscard.* CTest entries (tests/api/nodiscard.sh):
 * every line marked "discarded" drops the result of a call that returns an error code or an
 * owned pointer or handle, and each must draw a -Wunused-result warning (AL_NODISCARD). Issue
 * 15 found these calls untagged, so a caller could lose an error without a word. */
#include <astrolab/astrolab.h>

void drop_every_result(void *p, al_scope *s, al_snapshot *snap, al_diagnosis_thresholds *t);

void drop_every_result(void *p, al_scope *s, al_snapshot *snap, al_diagnosis_thresholds *t)
{
    al_fail_spec spec = {0};
    al_log_level level;
    (al_malloc)(1);                                      /* discarded */
    (al_calloc)(1, 1);                                   /* discarded */
    (al_realloc)(p, 1);                                  /* discarded */
    (al_strdup)("x");                                    /* discarded */
    al_process_rss(NULL, NULL);                          /* discarded */
    al_scope_end(s, NULL);                               /* discarded */
    al_register_for_cleanup(p, NULL, "t");               /* discarded */
    al_register_for_cleanup_priority(p, NULL, "t", 1);   /* discarded */
    al_unregister(1);                                    /* discarded */
    al_memory_set_limit(0, 0);                           /* discarded */
    al_memory_fail_set(&spec);                           /* discarded */
    al_cuda_set_memory_limit(0, 0);                      /* discarded */
    al_diagnosis_thresholds_default(t);                  /* discarded */
    al_diagnosis_get_thresholds(t);                      /* discarded */
    al_snapshot_totals(snap, NULL, NULL);                /* discarded */
    al_leak_report(NULL);                                /* discarded */
    al_leak_report_at_exit(NULL);                        /* discarded */
    al_log_set_level("astrolab", AL_LOG_OFF);            /* discarded */
    al_log_configure("astrolab=off");                    /* discarded */
    al_log_level_parse("off", &level);                   /* discarded */
    al_tensor_equal(NULL, NULL, AL_EQUAL_BITWISE, NULL); /* discarded */
    al_tensordict_foreach(NULL, NULL, NULL, NULL);       /* discarded */
    al_tensordict_nbytes(NULL, NULL);                    /* discarded */
    al_malloc_cached_at(1, NULL);                        /* discarded */
    al_read_file("x", NULL, NULL);                       /* discarded */
    al_write_file("x", "", 0, NULL);                     /* discarded */
    (void)!al_log_level_parse("off", &level); /* the documented way to drop one: silent */
}
