/* al_mpi_diagnose and al_mpi_memory_stats on 4 ranks: a leak planted on every rank and one on
 * rank 2 only are told apart and named; rank 3's peak is found; the stats' min, max, sum and
 * max_rank match the ranks' own figures; a failure on one rank fails every rank. */
#include "mpi_common.h"

static void *plant_everywhere(void)
{
    return al_malloc_tagged(1000 + (size_t)mt_rank, "everywhere");
}
static void *plant_on_rank2(void) { return al_malloc_tagged(5000, "rank2_only"); }

static const al_job_view_site *find_tag(const al_mpi_diagnosis *d, const char *tag)
{
    for (size_t i = 0; i < d->n_sites; i++)
        if (strcmp(d->sites[i].site.tag, tag) == 0)
            return &d->sites[i];
    return NULL;
}

static void test_leaks_on_every_rank_and_on_one(void)
{
    void *every = plant_everywhere(), *two = mt_rank == 2 ? plant_on_rank2() : NULL;
    if (mt_rank == 3) { /* the job's peak */
        al_reset_peak_memory_stats();
        al_free(al_malloc(32u << 20));
    }
    al_error err;
    al_mpi_diagnosis *d = al_mpi_diagnose(MPI_COMM_WORLD, 0, &err);
    MT_CHECK(d != NULL);
    if (d && mt_rank == 0) {
        MT_CHECK(d->n_ranks == 4);
        MT_CHECK(d->peak_rank == 3);
        const al_job_view_site *e = find_tag(d, "everywhere"), *t = find_tag(d, "rank2_only");
        MT_CHECK(e && e->on_every_rank && e->n_ranks == 4 && e->site.bytes == 4006);
        MT_CHECK(e && strstr(e->site.function, "plant_everywhere"));
        MT_CHECK(t && !t->on_every_rank && t->n_ranks == 1 && t->ranks[0] == 2);
        int named = 0;
        for (size_t i = 0; i < d->n_recommendations; i++)
            named += strcmp(d->recommendations[i].code, "leak_on_some_ranks") == 0 &&
                     strstr(d->recommendations[i].message, "rank 2 only") != NULL;
        MT_CHECK(named == 1);
        char *json = al_mpi_diagnosis_json(d);
        MT_CHECK(json && strstr(json, "\"on_every_rank\":true") && strstr(json, "\"ranks\":[2]") &&
                 strstr(json, "\"peak_rank\":3"));
        free(json);
    }
    if (d && mt_rank != 0)
        MT_CHECK(d->n_ranks == 0);
    al_mpi_diagnosis_free(d);
    al_free(every);
    al_free(two);
}

static void test_stats_reduce_every_field(void)
{
    al_memory_stats mine;
    MT_CHECK(al_get_memory_stats(&mine) == AL_OK);
    al_mpi_job_stats s;
    memset(&s, 0, sizeof s);
    MT_CHECK(al_mpi_memory_stats(MPI_COMM_WORLD, 0, mt_rank == 0 ? &s : NULL) == AL_OK);
    double peak = (double)mine.peak_bytes, most = 0;
    MPI_Reduce(&peak, &most, 1, MPI_DOUBLE, MPI_MAX, 0, MPI_COMM_WORLD);
    if (mt_rank == 0) {
        MT_CHECK(s.ranks == 4);
        MT_CHECK(s.peak_bytes.max_rank == 3 && s.peak_bytes.max >= (double)(32u << 20));
        MT_CHECK(s.peak_bytes.max >= most); /* the figures were read after ours */
        MT_CHECK(s.live_blocks.min <= s.live_blocks.max && s.live_blocks.sum >= s.live_blocks.max);
        char *json = al_mpi_memory_stats_json(&s);
        MT_CHECK(json && strstr(json, "\"peak_bytes\":{\"min\":") &&
                 strstr(json, "\"max_rank\":3"));
        free(json);
    }
    MT_CHECK(al_mpi_memory_stats(MPI_COMM_WORLD, 7, &s) == AL_EINVAL);
}

/* The tree reduction works from any root: every rank's sites reach it, the others get an empty
 * view. */
static void test_every_root_gets_the_whole_job(void)
{
    void *every = plant_everywhere();
    for (int root = 0; root < mt_size; root++) {
        al_error err;
        al_mpi_diagnosis *d = al_mpi_diagnose(MPI_COMM_WORLD, root, &err);
        MT_CHECK(d != NULL);
        if (d && mt_rank == root) {
            const al_job_view_site *e = find_tag(d, "everywhere");
            MT_CHECK(d->n_ranks == (size_t)mt_size && e && e->n_ranks == (size_t)mt_size);
            for (size_t k = 0; e && k < e->n_ranks; k++)
                MT_CHECK(e->ranks[k] == (int)k);
        } else if (d) {
            MT_CHECK(d->n_ranks == 0 && d->n_sites == 0);
        }
        al_mpi_diagnosis_free(d);
    }
    al_free(every);
}

static void test_failure_on_one_rank_fails_every_rank(void)
{
    for (uint64_t n = 1; n < 1000; n++) {
        if (mt_rank == 1)
            al_memory_fail_after(n, 0);
        al_error err;
        al_mpi_diagnosis *d = al_mpi_diagnose(MPI_COMM_WORLD, 0, &err);
        if (mt_rank == 1)
            al_memory_fail_after(0, 0);
        int ok = d != NULL, all = 0, any = 0;
        MPI_Allreduce(&ok, &all, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
        MPI_Allreduce(&ok, &any, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
        MT_CHECK(all == any);
        if (!ok && mt_rank != 1)
            MT_CHECK(err.code == AL_EPEER);
        al_mpi_diagnosis_free(d);
        if (all)
            break;
    }
}

int main(int argc, char **argv)
{
    mt_init(&argc, &argv);
    al_diagnosis_thresholds t;
    if (al_diagnosis_get_thresholds(&t) == AL_OK) {
        t.top_consumers = 1000;
        MT_CHECK(al_diagnosis_set_thresholds(&t) == AL_OK);
    }
    test_leaks_on_every_rank_and_on_one();
    test_stats_reduce_every_field();
    test_every_root_gets_the_whole_job();
    test_failure_on_one_rank_fails_every_rank();
    return mt_finish();
}
