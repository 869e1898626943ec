/* Internals of the job module (src/job/): the merge (merge.c) and what reads its result
 * (recommend.c, render.c). */
#ifndef ASTROLAB_JOB_INT_H
#define ASTROLAB_JOB_INT_H

#include "astrolab/job.h"
#include "astrolab/memory.h"

/* Adds the recommendations of a merged view (recommend.c). AL_OK or AL_ENOMEM. */
int ali_job_recommend(al_job_view *v);
/* Frees one site's strings and ranks and zeroes it. */
void ali_job_site_release(al_job_view_site *s);
/* "file:line in function (tag)", the tag left out when empty, into buf. */
void ali_job_site_text(const al_job_site *s, char *buf, size_t len);
/* "2", "1, 3 and 5", "0, 1, 2, 3, 4, 5 and 994 more": ranks[0..n) into buf. */
void ali_job_ranks_text(const int *ranks, size_t n, char *buf, size_t len);

#endif
