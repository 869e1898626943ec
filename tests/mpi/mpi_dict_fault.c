/* al_mpi_optimize_memory's job-wide dictionary pass (src/mpi/dictionary.c) under out of memory
 * on one rank: for each rank in turn, fault injection fails that rank's 1st, 2nd, ... tracked
 * allocation of the call until the call gets through without one. Every failing call must end
 * on every rank (a hang would hit CTest's timeout) with an error: AL_ENOMEM on the rank that ran
 * out, AL_EPEER on the others; every part must be as it was (also when the failure came
 * while the entries were being replaced: every rank puts its replaced entries back); nothing
 * may leak; and the next call, without injection, must succeed on every rank with the same
 * dictionary everywhere. The part holds a string entry that is encoded (the job's four values,
 * one of them only on the last rank), one with too many distinct values (narrowed instead) and
 * an integer entry (narrowed): every allocation of the pass and around it. */
#include "../log_capture.h"
#include "mpi_common.h"

#define ROWS 300

static const char *bands[] = {"G", "BP", "RP", "G_RVS"};

static const char *band_at(int i)
{
    return mt_rank == mt_size - 1 && i % 50 == 0 ? bands[3] : bands[i % 3];
}

static int name_at(int i, char *buf, size_t len)
{
    return snprintf(buf, len, "src-%d-%d", mt_rank, i);
}

static al_tensordict *make_part(void)
{
    al_tensordict *td = al_tensordict_new(ROWS, AL_CPU, NULL);
    al_tensor *band = al_tensor_new_string(1, (int64_t[]){ROWS}, 16, AL_CPU, NULL);
    al_tensor *name = al_tensor_new_string(1, (int64_t[]){ROWS}, 32, AL_CPU, NULL);
    al_tensor *n = al_tensor_new(AL_DTYPE_INT64, 1, (int64_t[]){ROWS}, AL_CPU, NULL);
    for (int i = 0; i < ROWS; i++) {
        char buf[32];
        const char *b = band_at(i);
        MT_CHECK(al_tensor_set_string(band, (int64_t[]){i}, b, strlen(b)) == AL_OK);
        int len = name_at(i, buf, sizeof buf);
        MT_CHECK(al_tensor_set_string(name, (int64_t[]){i}, buf, (size_t)len) == AL_OK);
        MT_CHECK(al_tensor_set_int64(n, (int64_t[]){i}, mt_rank * ROWS + i) == AL_OK);
    }
    MT_CHECK(al_tensordict_set(td, "band", band, 0, NULL) == AL_OK);
    MT_CHECK(al_tensordict_set(td, "name", name, 0, NULL) == AL_OK);
    MT_CHECK(al_tensordict_set(td, "n", n, 0, NULL) == AL_OK);
    al_tensor_free(band);
    al_tensor_free(name);
    al_tensor_free(n);
    return td;
}

/* Entry key of td decodes (or reads) to the part's strings, value(i) for row i. */
static int strings_hold(const al_tensordict *td, const char *key, int band)
{
    al_tensor *t = al_tensordict_get(td, key, NULL);
    int ok = t && al_tensor_dtype(t) == AL_DTYPE_STRING;
    size_t w = ok ? al_tensor_itemsize(t) : 0;
    for (int i = 0; ok && i < ROWS; i++) {
        char buf[32];
        const char *want = band ? band_at(i) : (name_at(i, buf, sizeof buf), buf);
        const char *got = (const char *)al_tensor_data(t) + (size_t)i * w;
        ok = strlen(want) <= w && strncmp(got, want, w) == 0;
    }
    al_tensor_free(t);
    return ok;
}

/* The part holds its values, whatever their types now. */
static int part_holds(const al_tensordict *td)
{
    al_tensor *n = al_tensordict_get(td, "n", NULL);
    int ok = n != NULL;
    for (int i = 0; ok && i < ROWS; i++) {
        int64_t v = -1;
        ok = al_tensor_get_int64(n, (int64_t[]){i}, &v) == AL_OK && v == mt_rank * ROWS + i;
    }
    al_tensor_free(n);
    return ok && strings_hold(td, "band", 1) && strings_hold(td, "name", 0);
}

/* After a successful call: band encoded with the job's four values (the same bytes on every
 * rank), name narrowed to the job's longest value, n narrowed to int16, values kept.
 * Collective. */
static void check_optimized(const al_tensordict *td)
{
    const al_tensor *codes = NULL, *dict = NULL;
    char mine[64] = {0}, root[64];
    MT_CHECK(al_tensordict_get_encoded(td, "band", &codes, &dict) == AL_OK);
    if (codes && dict) {
        MT_CHECK(al_tensor_shape(dict)[0] == 4 && al_tensor_itemsize(dict) == 5);
        MT_CHECK(al_tensor_dtype(codes) == AL_DTYPE_UINT8);
        if (al_tensor_nbytes(dict) <= sizeof mine)
            memcpy(mine, al_tensor_data(dict), al_tensor_nbytes(dict));
    }
    memcpy(root, mine, sizeof root);
    MPI_Bcast(root, sizeof root, MPI_CHAR, 0, MPI_COMM_WORLD);
    MT_CHECK(memcmp(mine, root, sizeof mine) == 0);
    MT_CHECK(memcmp(mine, "BP\0\0\0G\0\0\0\0G_RVSRP\0\0\0", 20) == 0);
    MT_CHECK(al_tensordict_get_encoded(td, "name", &codes, &dict) == AL_EINVAL);
    const al_tensor *name = al_tensordict_borrow(td, "name");
    char longest[32];
    MT_CHECK(name &&
             al_tensor_itemsize(name) ==
                 (size_t)snprintf(longest, sizeof longest, "src-%d-%d", mt_size - 1, ROWS - 1));
    const al_tensor *n = al_tensordict_borrow(td, "n");
    MT_CHECK(n && al_tensor_dtype(n) == AL_DTYPE_INT16);
    MT_CHECK(part_holds(td));
}

/* Fails rank `victim`'s allocations one after another; returns how many calls failed. */
static int sweep(int victim, const al_optimize_options *o)
{
    int failures = 0;
    for (uint64_t n = 1; n < 1000; n++) {
        al_memory_stats s0;
        MT_CHECK(al_get_memory_stats(&s0) == AL_OK);
        al_tensordict *td = make_part();
        char *before = al_tensordict_memory_info_json(td);
        uint64_t injected = al_memory_fail_count();
        if (mt_rank == victim)
            al_memory_fail_after(n, 0);
        al_mpi_optimize_report rep;
        capture_only("astrolab.mpi", AL_LOG_ERROR);
        int rc = al_mpi_optimize_memory(td, o, MPI_COMM_WORLD, &rep);
        capture_end();
        al_memory_fail_after(0, 0);
        int fired = al_memory_fail_count() != injected, any = 0;
        MPI_Allreduce(&fired, &any, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
        MT_CHECK(!fired || mt_rank == victim);
        if (!any) { /* nothing left to fail: the call went through on every rank */
            MT_CHECK(rc == AL_OK);
            check_optimized(td);
            free(before);
            al_tensordict_free(td);
            return failures;
        }
        failures++;
        int want = mt_rank == victim ? AL_ENOMEM : AL_EPEER;
        if (rc != want)
            fprintf(stderr, "rank %d: victim %d, allocation %llu: code %d, want %d\n", mt_rank,
                    victim, (unsigned long long)n, rc, want);
        MT_CHECK(rc == want);
        /* The call has no al_error: its log says what failed, and where. */
        char peer[48];
        snprintf(peer, sizeof peer, "rank %d", victim);
        MT_CHECK(log_errors >= 1 && captured("al_mpi_optimize_memory: "));
        MT_CHECK(mt_rank == victim ? captured("out of memory") : captured(peer));
        char *now = al_tensordict_memory_info_json(td);
        if (!before || !now || strcmp(before, now) != 0)
            fprintf(stderr, "rank %d: victim %d, allocation %llu: the part changed\n", mt_rank,
                    victim, (unsigned long long)n);
        MT_CHECK(before && now && strcmp(before, now) == 0);
        free(before);
        free(now);
        MT_CHECK(part_holds(td));
        /* The next call, without injection, succeeds on every rank. */
        MT_CHECK(al_mpi_optimize_memory(td, o, MPI_COMM_WORLD, &rep) == AL_OK);
        check_optimized(td);
        al_tensordict_free(td);
        al_memory_stats s1;
        MT_CHECK(al_get_memory_stats(&s1) == AL_OK);
        int leaked = s1.live_blocks != s0.live_blocks || s1.current_bytes != s0.current_bytes;
        int any_leaked = 0; /* every rank stops the sweep together: no rank left in a collective */
        MPI_Allreduce(&leaked, &any_leaked, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
        if (leaked)
            fprintf(stderr,
                    "rank %d: victim %d, allocation %llu: %llu live blocks (%llu bytes), "
                    "had %llu (%llu)\n",
                    mt_rank, victim, (unsigned long long)n, (unsigned long long)s1.live_blocks,
                    (unsigned long long)s1.current_bytes, (unsigned long long)s0.live_blocks,
                    (unsigned long long)s0.current_bytes);
        MT_CHECK(!leaked);
        if (any_leaked)
            return failures;
    }
    MT_CHECK(!"the call succeeds once no allocation is left to fail");
    return failures;
}

int main(int argc, char **argv)
{
    mt_init(&argc, &argv);
    MT_CHECK(al_log_set_level("astrolab.memory", AL_LOG_OFF) == AL_OK); /* injected ERRORs */
    al_optimize_options o;
    al_optimize_options_init(&o);
    o.dict_max_unique = 100; /* "name" has ROWS * ranks distinct values in the job */
    for (int victim = 0; victim < mt_size; victim++) {
        int failures = sweep(victim, &o);
        /* At least the dictionary pass's own allocations (the part's value set and values, the
         * job's values, the codes and the dictionary) failed one by one. */
        MT_CHECK(failures >= 5);
        if (mt_rank == victim)
            printf("rank %d: %d allocations failed in turn\n", victim, failures);
    }
    return mt_finish();
}
