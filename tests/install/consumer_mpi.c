/* The install test's MPI program: one rank (a singleton MPI_Init), built against the installed
 * libastrolab_mpi by pkg-config astrolab-mpi and by find_package(astrolab COMPONENTS mpi). */
#include <stdio.h>

#include <astrolab/mpi.h>

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    int64_t first = -1;
    al_tensordict *td = al_tensordict_new(5, AL_CPU, NULL);
    int rc = td ? al_mpi_first_row(td, MPI_COMM_WORLD, &first, NULL) : AL_ENOMEM;
    al_tensordict_free(td);
    MPI_Finalize();
    printf("consumer_mpi: first row %lld\n", (long long)first);
    return rc == AL_OK && first == 0 ? 0 : 1;
}
