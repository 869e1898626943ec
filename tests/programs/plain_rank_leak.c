/* A program that knows nothing of AstroLab or MPI, run by `mpirun astrolab run` in
 * tests/mpi/run_merge.sh: every rank leaks 1000 bytes in every_rank(); rank 2 alone (its rank
 * from the launcher's environment) also leaks 5000 bytes in only_rank2(). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void *volatile kept[2];

__attribute__((noinline)) static void every_rank(void)
{
    kept[0] = malloc(1000);
    memset(kept[0], 1, 1000);
}

__attribute__((noinline)) static void only_rank2(void)
{
    kept[1] = malloc(5000);
    memset(kept[1], 2, 5000);
}

int main(void)
{
    const char *r = getenv("OMPI_COMM_WORLD_RANK");
    if (!r)
        r = getenv("PMI_RANK");
    int rank = r ? atoi(r) : -1;
    every_rank();
    if (rank == 2)
        only_rank2();
    kept[0] = kept[1] = NULL; /* lost, not just reachable */
    printf("rank %d done\n", rank);
    return 0;
}
