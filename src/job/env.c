/* Where this process stands in a job (<astrolab/job.h>), read from the variables the common MPI
 * launchers set: Open MPI's mpirun, MPICH's and Intel MPI's Hydra (PMI), PMIx, and Slurm's srun.
 * Used by `astrolab run` (one report per rank) and the dashboard's /metrics (rank and job
 * labels), neither of which links MPI. */
#include <stdlib.h>

#include "job/job_int.h"

int al_job_rank_from_env(void)
{
    static const char *const names[] = {"OMPI_COMM_WORLD_RANK", "PMI_RANK", "PMIX_RANK",
                                        "SLURM_PROCID"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        const char *v = getenv(names[i]);
        char *end;
        long r = v && *v ? strtol(v, &end, 10) : -1;
        if (v && *v && !*end && r >= 0 && r <= 0x7fffffff)
            return (int)r;
    }
    return -1;
}

const char *al_job_id_from_env(void)
{
    static const char *const names[] = {"SLURM_JOB_ID", "OMPI_MCA_ess_base_jobid",
                                        "PMIX_NAMESPACE"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        const char *v = getenv(names[i]);
        if (v && *v)
            return v;
    }
    return "";
}
