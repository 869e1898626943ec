/* al_mpi_optimize_memory's dictionary encoding on 4 ranks: a string column whose parts hold
 * different values (one value only on the last rank) is encoded on every rank with one
 * dictionary for the job, so a code means the same string everywhere; every part decodes to
 * what it held. A column with more distinct values than dict_max_unique is narrowed instead, the
 * same way on every rank; a dry run changes nothing. */
#include "mpi_common.h"

#define ROWS 500

static const char *bands[] = {"G", "BP", "RP", "G_RVS"};

/* The part's band column: G, BP, RP in turn; the last rank also holds G_RVS. */
static const char *band_at(int i)
{
    return mt_rank == mt_size - 1 && i % 50 == 0 ? bands[3] : bands[i % 3];
}

static al_tensordict *make_part(void)
{
    al_tensordict *td = al_tensordict_new(ROWS, AL_CPU, NULL);
    al_tensor *band = al_tensor_new_string(1, (int64_t[]){ROWS}, 16, AL_CPU, NULL);
    al_tensor *name = al_tensor_new_string(1, (int64_t[]){ROWS}, 32, AL_CPU, NULL);
    for (int i = 0; i < ROWS; i++) {
        char buf[32];
        const char *b = band_at(i);
        MT_CHECK(al_tensor_set_string(band, (int64_t[]){i}, b, strlen(b)) == AL_OK);
        int len = snprintf(buf, sizeof buf, "src-%d-%d", mt_rank, i);
        MT_CHECK(al_tensor_set_string(name, (int64_t[]){i}, buf, (size_t)len) == AL_OK);
    }
    MT_CHECK(al_tensordict_set(td, "band", band, 0, NULL) == AL_OK);
    MT_CHECK(al_tensordict_set(td, "name", name, 0, NULL) == AL_OK);
    al_tensor_free(band);
    al_tensor_free(name);
    return td;
}

int main(int argc, char **argv)
{
    mt_init(&argc, &argv);
    al_tensordict *td = make_part();
    al_optimize_options o;
    al_optimize_options_init(&o);
    o.dict_max_unique = 100; /* "name" has 2000 distinct values in the job */

    /* A dry run reports the encoding and changes nothing. */
    al_mpi_optimize_report dry;
    o.dry_run = 1;
    MT_CHECK(al_mpi_optimize_memory(td, &o, MPI_COMM_WORLD, &dry) == AL_OK);
    const al_tensor *codes = NULL, *dict = NULL;
    MT_CHECK(al_tensordict_get_encoded(td, "band", &codes, &dict) == AL_EINVAL);
    MT_CHECK(dry.n_changed == 2 && dry.job_bytes_after < dry.job_bytes_before);

    o.dry_run = 0;
    al_mpi_optimize_report rep;
    MT_CHECK(al_mpi_optimize_memory(td, &o, MPI_COMM_WORLD, &rep) == AL_OK);
    MT_CHECK(rep.bytes_after == dry.bytes_after && rep.job_bytes_after == dry.job_bytes_after);
    MT_CHECK(al_tensordict_get_encoded(td, "band", &codes, &dict) == AL_OK);
    if (codes && dict) {
        /* The job's four values, sorted, on every rank (G_RVS only ever seen on the last). */
        MT_CHECK(al_tensor_shape(dict)[0] == 4 && al_tensor_itemsize(dict) == 5);
        MT_CHECK(al_tensor_dtype(codes) == AL_DTYPE_UINT8);
        char mine[64] = {0}, root[64];
        memcpy(mine, al_tensor_data(dict), 4 * 5);
        memcpy(root, mine, sizeof root);
        MPI_Bcast(root, sizeof root, MPI_CHAR, 0, MPI_COMM_WORLD);
        MT_CHECK(memcmp(mine, root, sizeof mine) == 0);
        MT_CHECK(memcmp(mine, "BP\0\0\0G\0\0\0\0G_RVSRP\0\0\0", 20) == 0);
    } else {
        MPI_Bcast((char[64]){0}, 64, MPI_CHAR, 0, MPI_COMM_WORLD); /* keep the ranks in step */
    }
    /* Every part decodes to what it held. */
    al_tensor *back = al_tensordict_get(td, "band", NULL);
    for (int i = 0; back && i < ROWS; i++)
        if (strncmp((const char *)al_tensor_data(back) + (size_t)i * al_tensor_itemsize(back),
                    band_at(i), al_tensor_itemsize(back)) != 0) {
            MT_CHECK(!"band decodes to its part's value");
            break;
        }
    MT_CHECK(back != NULL);
    al_tensor_free(back);
    /* Too many distinct names: narrowed to the job's longest (src-3-499: 9 bytes), not encoded. */
    MT_CHECK(al_tensordict_get_encoded(td, "name", &codes, &dict) == AL_EINVAL);
    const al_tensor *name = al_tensordict_borrow(td, "name");
    MT_CHECK(name && al_tensor_itemsize(name) == 9);
    al_tensordict_free(td);
    return mt_finish();
}
