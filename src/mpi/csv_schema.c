/* The agreed schema of a partitioned CSV load (load.c). A part infers its types from its own
 * values; the whole file's type of a column is the join of its parts' (csv_col.c's widening:
 * int64 and float64 give float64, bool with a number or anything with a string gives a string,
 * a part with no value at all adds nothing), and its string width the largest part's. A part
 * that came out differently is loaded again with the types fixed (al_survey_options.csv_types):
 * usually none does, and the cost is one MPI_Allreduce a round. */
#include <math.h>
#include <string.h>

#include "mpi/mpi_int.h"

enum { T_BOOL = 1, T_INT = 2, T_FLOAT = 4, T_STRING = 8 };

/* What the part's values of column t say: a float64 column of NaN only had no value. */
static unsigned part_type(const al_tensor *t)
{
    switch (al_tensor_dtype(t)) {
    case AL_DTYPE_BOOL:
        return T_BOOL;
    case AL_DTYPE_INT64:
        return T_INT;
    case AL_DTYPE_STRING:
        return T_STRING;
    case AL_DTYPE_FLOAT64: {
        const double *v = al_tensor_data(t);
        for (int64_t i = 0, n = al_tensor_numel(t); i < n; i++)
            if (!isnan(v[i]))
                return T_FLOAT;
        return 0;
    }
    default:
        return 0;
    }
}

static al_dtype join(unsigned bits)
{
    if (bits & T_STRING || (bits & T_BOOL && bits & (T_INT | T_FLOAT)))
        return AL_DTYPE_STRING;
    return bits & T_FLOAT  ? AL_DTYPE_FLOAT64
           : bits & T_INT  ? AL_DTYPE_INT64
           : bits & T_BOOL ? AL_DTYPE_BOOL
                           : AL_DTYPE_FLOAT64;
}

static int reload(al_tensordict **td, const char *path, const al_survey_options *o,
                  const al_survey_csv_type *types, al_error *err)
{
    al_survey_options fixed = *o;
    fixed.csv_types = types;
    al_survey_free(*td);
    *td = al_survey_load(path, &fixed, err);
    return *td ? AL_OK : err && err->code ? err->code : AL_ENOMEM;
}

/* One round: the agreed type (widths = 0) or width (widths = 1) of every column into types;
 * reloads this part when it differs. Collective. */
static int round_(al_tensordict **td, const char *path, const al_survey_options *o, int widths,
                  al_survey_csv_type *types, uint64_t *mine, uint64_t *all, size_t n, MPI_Comm comm,
                  al_error *err)
{
    const al_survey_meta *m = al_survey_info(*td);
    for (size_t j = 0; j < n; j++) {
        const al_tensor *t = al_tensordict_borrow(*td, m->columns[j].key);
        mine[j] = !t                                      ? 0
                  : !widths                               ? part_type(t)
                  : al_tensor_dtype(t) == AL_DTYPE_STRING ? al_tensor_itemsize(t)
                                                          : 0;
    }
    int rc = ali_mpi_check(MPI_Allreduce(mine, all, (int)n, MPI_UINT64_T,
                                         widths ? MPI_MAX : MPI_BOR, comm),
                           "MPI_Allreduce", err);
    if (rc != AL_OK)
        return rc;
    int differs = 0;
    for (size_t j = 0; j < n; j++) {
        const al_tensor *t = al_tensordict_borrow(*td, m->columns[j].key);
        if (!widths) {
            types[j] = (al_survey_csv_type){1, join((unsigned)all[j]), 0};
            differs |= !t || al_tensor_dtype(t) != types[j].dtype;
        } else if (types[j].dtype == AL_DTYPE_STRING) {
            types[j].width = (size_t)all[j];
            differs |= mine[j] != all[j];
        }
    }
    return differs ? reload(td, path, o, types, err) : AL_OK;
}

int ali_mpi_csv_schema(al_tensordict **td, const char *path, const al_survey_options *o,
                       MPI_Comm comm, al_error *err)
{
    const al_survey_meta *m = al_survey_info(*td);
    int64_t n = m ? (int64_t)m->n_columns : -1, span[2] = {n, -n};
    int rc = ali_mpi_check(MPI_Allreduce(MPI_IN_PLACE, span, 2, MPI_INT64_T, MPI_MAX, comm),
                           "MPI_Allreduce", err);
    if (rc == AL_OK && (n < 0 || span[0] != -span[1]))
        rc = al_error_set(err, AL_EFORMAT,
                          "%s: the ranks read different headers (%lld to %lld "
                          "columns): did the file change?",
                          path, (long long)-span[1], (long long)span[0]);
    size_t nc = n > 0 ? (size_t)n : 1;
    al_survey_csv_type *types = rc == AL_OK ? AL_NEW_ARRAY(al_survey_csv_type, nc) : NULL;
    uint64_t *mine = rc == AL_OK ? AL_NEW_ARRAY(uint64_t, 2 * nc) : NULL;
    if (rc == AL_OK && (!types || !mine))
        rc = al_error_set(err, AL_ENOMEM, "%s: out of memory for %zu columns", path, nc);
    for (int widths = 0; widths < 2; widths++) {
        if ((rc = al_mpi_agree(comm, rc, err)) == AL_OK)
            rc = round_(td, path, o, widths, types, mine, mine + nc, (size_t)(n > 0 ? n : 0), comm,
                        err);
    }
    int64_t rows = rc == AL_OK ? al_tensordict_batch_size(*td) : 0, total = 0;
    if ((rc = al_mpi_agree(comm, rc, err)) == AL_OK)
        rc = ali_mpi_check(MPI_Allreduce(&rows, &total, 1, MPI_INT64_T, MPI_SUM, comm),
                           "MPI_Allreduce", err);
    if (rc == AL_OK && al_survey_set_file_rows(*td, total) != AL_OK)
        rc = al_error_set(err, AL_ENOMEM, "%s: out of memory for the metadata", path);
    al_free(types);
    al_free(mine);
    return al_mpi_agree(comm, rc, err);
}
