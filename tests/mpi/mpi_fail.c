/* How a job ends when one rank cannot go on, run by tests/mpi/CMakeLists.txt:
 *   mpi_fail env    rank 2 runs with ASTROLAB_FAIL_AFTER (set by the test's wrapper): every
 *                   rank's al_mpi_survey_load must fail, rank 2 with AL_ENOMEM, the others with
 *                   AL_EPEER naming rank 2, and the job must then end normally;
 *   mpi_fail kill   rank 1 kills itself before the load: mpirun must end the job (the test's
 *                   timeout catches a hang) with a message naming the rank. */
#include <signal.h>

#include "mpi_common.h"

static char csv[] = "a,b\n1,x\n2,y\n3,z\n4,w\n5,v\n6,u\n7,t\n8,s\n";

int main(int argc, char **argv)
{
    mt_init(&argc, &argv);
    int kill_mode = argc > 1 && strcmp(argv[1], "kill") == 0;
    const char *path = mt_write("small.csv", csv, sizeof csv - 1);
    if (kill_mode && mt_rank == 1)
        raise(SIGKILL);
    al_error err;
    al_error_clear(&err);
    al_tensordict *td = al_mpi_survey_load(path, NULL, MPI_COMM_WORLD, &err);
    int injected = getenv("ASTROLAB_FAIL_AFTER") != NULL;
    MT_CHECK(td == NULL);
    MT_CHECK(err.code == (injected ? AL_ENOMEM : AL_EPEER));
    if (!injected)
        MT_CHECK(strstr(err.message, "rank 2: ") == err.message);
    fprintf(stderr, "rank %d: %s (%s)\n", mt_rank, err.message, al_strerror(err.code));
    al_survey_free(td);
    return mt_finish();
}
