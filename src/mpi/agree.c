/* al_mpi_agree: the collective success check that every call of libastrolab_mpi makes before
 * each collective step, so that a rank that failed never leaves the others waiting in a
 * collective it will not enter. The lowest failing rank's code and message reach every rank. */
#include <stdio.h>
#include <string.h>

#include "mpi/mpi_int.h"

int ali_mpi_check(int mrc, const char *what, al_error *err)
{
    if (mrc == MPI_SUCCESS)
        return AL_OK;
    char text[MPI_MAX_ERROR_STRING] = "";
    int len = 0;
    if (MPI_Error_string(mrc, text, &len) != MPI_SUCCESS)
        snprintf(text, sizeof text, "MPI error %d", mrc);
    return al_error_set(err, AL_EMPI, "%s failed: %s", what, text);
}

int ali_mpi_where(MPI_Comm comm, int *rank, int *size, al_error *err)
{
    int rc = ali_mpi_check(MPI_Comm_rank(comm, rank), "MPI_Comm_rank", err);
    return rc == AL_OK ? ali_mpi_check(MPI_Comm_size(comm, size), "MPI_Comm_size", err) : rc;
}

int al_mpi_agree(MPI_Comm comm, int rc, al_error *err)
{
    int rank, size;
    int mrc = ali_mpi_where(comm, &rank, &size, err);
    if (mrc != AL_OK)
        return mrc;
    int mine = rc != AL_OK ? rank : size, first = size;
    mrc = ali_mpi_check(MPI_Allreduce(&mine, &first, 1, MPI_INT, MPI_MIN, comm), "MPI_Allreduce",
                        err);
    if (mrc != AL_OK)
        return mrc;
    if (first == size)
        return AL_OK;
    struct {
        int code;
        char message[AL_ERROR_MESSAGE_LEN];
    } what;
    memset(&what, 0, sizeof what);
    if (rank == first) {
        what.code = rc;
        snprintf(what.message, sizeof what.message, "%s",
                 err && err->code == rc && err->message[0] ? err->message : al_strerror(rc));
    }
    mrc =
        ali_mpi_check(MPI_Bcast(&what, (int)sizeof what, MPI_BYTE, first, comm), "MPI_Bcast", err);
    if (mrc != AL_OK)
        return mrc;
    if (rc != AL_OK) /* this rank failed too: its own error stands */
        return rc;
    return al_error_set(err, AL_EPEER, "rank %d: %s", first, what.message);
}
