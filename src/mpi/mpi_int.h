/* Internals of libastrolab_mpi (src/mpi/): helpers shared by its files. The library reaches
 * libastrolab through its public headers only: it is a separate shared library, and the core's
 * internal (hidden) symbols are not visible to it. */
#ifndef ASTROLAB_MPI_INT_H
#define ASTROLAB_MPI_INT_H

#include <stdint.h>

#include "astrolab/mpi.h"

/* This rank and the communicator's size; AL_OK or AL_EMPI (err filled). */
int ali_mpi_where(MPI_Comm comm, int *rank, int *size, al_error *err);
/* MPI's return code `mrc` as AL_OK or AL_EMPI naming the call `what` (err filled). */
int ali_mpi_check(int mrc, const char *what, al_error *err);
/* csv_schema.c: after each rank loaded its part of a CSV file (*td, with o's byte range), agree
 * on every column's type and string width and reload a part that differs, so that every part
 * has the whole file's; sets the file's rows in the metadata. Collective. On failure *td may
 * have been freed and set to NULL. */
int ali_mpi_csv_schema(al_tensordict **td, const char *path, const al_survey_options *o,
                       MPI_Comm comm, al_error *err);

/* dictionary.c: one dictionary of the job's distinct values of string entry t (the same entry
 * on every rank), whose longest value has w bytes, and t's codes into it, when encoding makes
 * the job's entry smaller than strings of width w and the job has at most o->dict_max_unique
 * distinct values; else both NULL. rc is this rank's status so far: a rank that failed still
 * takes part, and every rank returns a failure. Collective. */
int ali_mpi_dictionary(const al_tensor *t, size_t w, const al_optimize_options *o, int rc,
                       MPI_Comm comm, al_tensor **codes, al_tensor **dict, al_error *err);

#endif
