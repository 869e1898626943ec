/* Tensor benchmarks: al_tensordict_memory_info on 1,000 entries (metadata only), and
 * al_tensordict_optimize_memory on a Gaia DR3-shaped catalog (declared column types, realistic
 * value ranges) of 10^7 rows, with bytes saved and throughput beside a large memcpy measured in
 * the same run. Usage: bench_tensors [--rows N] [--json]. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "astrolab/astrolab.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* xoshiro256** : fast, good enough for synthetic catalogs. */
static uint64_t rng_s[4] = {0x9E3779B97F4A7C15ull, 0xBF58476D1CE4E5B9ull, 0x94D049BB133111EBull,
                            0x2545F4914F6CDD1Dull};
static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
static inline uint64_t rnd(void)
{
    uint64_t r = rotl(rng_s[1] * 5, 7) * 9, t = rng_s[1] << 17;
    rng_s[2] ^= rng_s[0], rng_s[3] ^= rng_s[1], rng_s[1] ^= rng_s[2], rng_s[0] ^= rng_s[3];
    rng_s[2] ^= t, rng_s[3] = rotl(rng_s[3], 45);
    return r;
}
static inline double unif(void) { return (double)(rnd() >> 11) * 0x1p-53; }
static inline double gauss(void)
{
    double u = unif() + 0x1p-60, v = unif();
    return sqrt(-2 * log(u)) * cos(2 * M_PI * v);
}

static void die(const char *what, const al_error *err)
{
    fprintf(stderr, "bench_tensors: %s: %s\n", what, err ? err->message : "failed");
    exit(1);
}

static al_tensor *col(al_dtype dt, int64_t rows)
{
    al_error err;
    al_tensor *t = al_tensor_new(dt, 1, (int64_t[]){rows}, AL_CPU, &err);
    if (!t)
        die("al_tensor_new", &err);
    return t;
}

static void put(al_tensordict *td, const char *key, al_tensor *t)
{
    al_error err;
    if (al_tensordict_set(td, key, t, 0, &err) != AL_OK)
        die(key, &err);
    al_tensor_free(t);
}

/* -------- memory_info on 1,000 entries -------- */

static void bench_memory_info(int json)
{
    enum { ENTRIES = 1000, ROWS = 1000, REPS = 300 };
    al_tensordict *td = al_tensordict_new(ROWS, AL_CPU, NULL);
    for (int i = 0; i < ENTRIES; i++) {
        char key[32];
        snprintf(key, sizeof key, "grp%02d.col%03d", i / 100, i % 100);
        put(td, key, col(i % 2 ? AL_DTYPE_FLOAT32 : AL_DTYPE_INT64, ROWS));
    }
    double best = 1e9, best_json = 1e9;
    uint64_t total = 0;
    for (int r = 0; r < REPS; r++) {
        al_tensordict_meminfo info;
        double t0 = now_s();
        if (al_tensordict_memory_info(td, &info) != AL_OK)
            die("memory_info", NULL);
        double t1 = now_s();
        total = info.total_bytes;
        al_tensordict_memory_info_release(&info);
        double t2 = now_s();
        char *j = al_tensordict_memory_info_json(td);
        double t3 = now_s();
        free(j);
        best = t1 - t0 < best ? t1 - t0 : best;
        best_json = t3 - t2 < best_json ? t3 - t2 : best_json;
    }
    if (json)
        printf("{\"bench\": \"memory_info\", \"entries\": %d, \"us\": %.1f, \"json_us\": %.1f},\n",
               ENTRIES, best * 1e6, best_json * 1e6);
    else
        printf("memory_info: %d entries (%.1f MB of storage): %.1f us per call (%.0f ns/entry), "
               "JSON form %.1f us (best of %d)\n",
               ENTRIES, (double)total / 1048576.0, best * 1e6, best * 1e9 / ENTRIES,
               best_json * 1e6, REPS);
    al_tensordict_free(td);
}

/* -------- optimize_memory on a Gaia DR3-shaped catalog -------- */

#define F64(name, expr)                                                                            \
    do {                                                                                           \
        al_tensor *t_ = col(AL_DTYPE_FLOAT64, rows);                                               \
        double *d_ = al_tensor_data(t_);                                                           \
        for (int64_t i = 0; i < rows; i++)                                                         \
            d_[i] = (expr);                                                                        \
        put(td, name, t_);                                                                         \
    } while (0)
#define F32(name, expr)                                                                            \
    do {                                                                                           \
        al_tensor *t_ = col(AL_DTYPE_FLOAT32, rows);                                               \
        float *d_ = al_tensor_data(t_);                                                            \
        for (int64_t i = 0; i < rows; i++)                                                         \
            d_[i] = (float)(expr);                                                                 \
        put(td, name, t_);                                                                         \
    } while (0)
#define INT(name, dt, T, expr)                                                                     \
    do {                                                                                           \
        al_tensor *t_ = col(dt, rows);                                                             \
        T *d_ = al_tensor_data(t_);                                                                \
        for (int64_t i = 0; i < rows; i++)                                                         \
            d_[i] = (T)(expr);                                                                     \
        put(td, name, t_);                                                                         \
    } while (0)

/* Gaia DR3 gaia_source's declared types for a representative subset of its columns. Values
 * follow the catalogue: source_id = HEALPix level-12 index << 35 plus a running number;
 * ra/dec at full double precision; parallax and proper motions with noise; errors, magnitudes
 * and correlations float32; counts int16; radial_velocity mostly NaN (3% measured). */
static al_tensordict *gaia(int64_t rows)
{
    al_tensordict *td = al_tensordict_new(rows, AL_CPU, NULL);
    INT("source_id", AL_DTYPE_INT64, int64_t,
        (int64_t)((rnd() % 201326592ull) << 35 | (rnd() & 0xFFFFF)));
    INT("solution_id", AL_DTYPE_INT64, int64_t, 1636148068921376768ll);
    INT("random_index", AL_DTYPE_INT64, int64_t, rnd() % 1811709771ull);
    F64("ref_epoch", 2016.0);
    F64("ra", unif() * 360.0);
    F32("ra_error", 0.02 * exp(1.5 * gauss()));
    F64("dec", asin(2 * unif() - 1) * 180.0 / M_PI);
    F32("dec_error", 0.02 * exp(1.5 * gauss()));
    F64("parallax", 0.4 + 0.8 * gauss());
    F32("parallax_error", 0.03 * exp(1.4 * gauss()));
    F64("pmra", -2.0 + 6.0 * gauss());
    F32("pmra_error", 0.03 * exp(1.4 * gauss()));
    F64("pmdec", -4.0 + 6.0 * gauss());
    F32("pmdec_error", 0.03 * exp(1.4 * gauss()));
    F32("ra_dec_corr", 2 * unif() - 1);
    INT("astrometric_n_obs_al", AL_DTYPE_INT16, int16_t, 60 + rnd() % 700);
    INT("astrometric_n_obs_ac", AL_DTYPE_INT16, int16_t, unif() < 0.95 ? 0 : 20 + rnd() % 500);
    INT("visibility_periods_used", AL_DTYPE_INT16, int16_t, 9 + rnd() % 32);
    F32("ruwe", 1.0 + 0.1 * fabs(gauss()));
    INT("duplicated_source", AL_DTYPE_BOOL, uint8_t, unif() < 0.02);
    INT("phot_g_n_obs", AL_DTYPE_INT16, int16_t, 100 + rnd() % 900);
    F64("phot_g_mean_flux", 1e3 * exp(2.0 * gauss()));
    F32("phot_g_mean_flux_error", 5.0 * exp(gauss()));
    F32("phot_g_mean_mag", 15.0 + 2.5 * gauss());
    F64("phot_bp_mean_flux", 6e2 * exp(2.0 * gauss()));
    F32("phot_bp_mean_mag", 15.5 + 2.5 * gauss());
    F64("phot_rp_mean_flux", 8e2 * exp(2.0 * gauss()));
    F32("phot_rp_mean_mag", 14.5 + 2.5 * gauss());
    F32("radial_velocity", unif() < 0.03 ? 40.0 * gauss() : NAN);
    INT("has_xp_continuous", AL_DTYPE_BOOL, uint8_t, unif() < 0.2);
    al_error err;
    al_tensor *s = al_tensor_new_string(1, (int64_t[]){rows}, 13, AL_CPU, &err);
    if (!s)
        die("phot_variable_flag", &err);
    char *p = al_tensor_data(s);
    for (int64_t i = 0; i < rows; i++)
        memcpy(p + i * 13, unif() < 0.9 ? "NOT_AVAILABLE" : "VARIABLE\0\0\0\0\0", 13);
    put(td, "phot_variable_flag", s);
    return td;
}

static double memcpy_gbs(size_t bytes)
{
    char *a = malloc(bytes), *b = malloc(bytes);
    if (!a || !b)
        die("memcpy buffers", NULL);
    memset(a, 1, bytes);
    memset(b, 2, bytes);
    double best = 1e9;
    for (int r = 0; r < 5; r++) {
        double t0 = now_s();
        memcpy(b, a, bytes);
        double t = now_s() - t0;
        best = t < best ? t : best;
        a[r] = b[bytes - 1 - (size_t)r]; /* keep the copies observable */
    }
    free(a);
    free(b);
    return (double)bytes / best / 1e9;
}

static void bench_optimize(int64_t rows, int json)
{
    double g0 = now_s();
    al_tensordict *td = gaia(rows);
    double gen = now_s() - g0;
    uint64_t before = 0;
    if (al_tensordict_nbytes(td, &before) != AL_OK)
        die("nbytes", NULL);
    al_optimize_options o;
    al_optimize_options_init(&o);
    o.dry_run = 1;
    al_optimize_report dry, r;
    if (al_tensordict_optimize_memory(td, &o, &dry) != AL_OK)
        die("optimize (dry run)", NULL);
    if (al_tensordict_optimize_memory(td, NULL, &r) != AL_OK)
        die("optimize", NULL);
    double secs = (double)r.duration_ns * 1e-9, dsecs = (double)dry.duration_ns * 1e-9;
    double mc = memcpy_gbs((size_t)1 << 30);
    double saved = (double)(r.bytes_before - r.bytes_after);
    if (json) {
        printf("{\"bench\": \"optimize_memory\", \"rows\": %lld, \"bytes_before\": %llu, "
               "\"bytes_after\": %llu, \"saved_pct\": %.2f, \"seconds\": %.3f, "
               "\"dry_run_seconds\": %.3f, \"scan_gbs\": %.2f, \"memcpy_gbs\": %.2f}\n",
               (long long)rows, (unsigned long long)r.bytes_before,
               (unsigned long long)r.bytes_after, 100 * saved / (double)r.bytes_before, secs, dsecs,
               (double)r.bytes_scanned / secs / 1e9, mc);
    } else {
        printf("optimize_memory: Gaia DR3-shaped catalog, %lld rows x %zu columns "
               "(generated in %.1f s)\n",
               (long long)rows, r.n_entries, gen);
        printf("  before %.1f MB, after %.1f MB: saved %.1f MB (%.2f%%)\n", (double)before / 1e6,
               (double)r.bytes_after / 1e6, saved / 1e6, 100 * saved / (double)before);
        for (size_t i = 0; i < r.n_entries; i++)
            if (r.entries[i].action)
                printf("    %-24s %-8s -> %-8s %10.1f MB -> %8.1f MB\n", r.entries[i].name,
                       al_dtype_name(r.entries[i].dtype_before),
                       al_dtype_name(r.entries[i].dtype_after),
                       (double)r.entries[i].bytes_before / 1e6,
                       (double)r.entries[i].bytes_after / 1e6);
        printf("  optimize: %.3f s, %.2f GB/s of column data scanned (dry run %.3f s, "
               "%.2f GB/s)\n",
               secs, (double)r.bytes_scanned / secs / 1e9, dsecs,
               (double)dry.bytes_scanned / dsecs / 1e9);
        printf("  memcpy of 1 GiB in this run: %.2f GB/s (bytes copied per second)\n", mc);
    }
    al_optimize_report_release(&dry);
    al_optimize_report_release(&r);
    al_tensordict_free(td);
}

int main(int argc, char **argv)
{
    int64_t rows = 10000000;
    int json = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--rows") == 0 && i + 1 < argc)
            rows = strtoll(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--json") == 0)
            json = 1;
        else {
            fprintf(stderr, "usage: %s [--rows N] [--json]\n", argv[0]);
            return 2;
        }
    }
    if (rows < 1) {
        fprintf(stderr, "bench_tensors: --rows must be positive\n");
        return 2;
    }
    bench_memory_info(json);
    bench_optimize(rows, json);
    return 0;
}
