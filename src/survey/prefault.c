/* Prefaulting column buffers on a second core while the loader fills them. Most of the time of
 * a FITS load is the kernel zeroing the fresh pages of the columns (perf: clear_page_erms, 63%
 * of a 4-million-row load); one helper thread asks for those pages ahead of the loader with
 * madvise(MADV_POPULATE_WRITE) (Linux 5.14), which populates pages without touching any byte
 * already written, so the two threads share the zeroing and never race on data. Where the
 * kernel lacks it, or there is one CPU, nothing starts and the loader faults its own pages. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "survey/survey_int.h"

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

/* Less than this many bytes of columns: not worth a thread. */
#define PREFAULT_MIN_BYTES (32u << 20)
/* Rows populated per step, across all columns, so the helper stays ahead of the loader. */
#define STEP_ROWS 65536

struct ali_prefault {
    pthread_t thread;
    atomic_bool stop;    /* set by ali_prefault_stop */
    int64_t rows;        /* rows of every column */
    size_t n;            /* columns */
    uint8_t **data;      /* column buffers (borrowed) */
    uint64_t *row_bytes; /* bytes a row in each */
};

static void populate(uint8_t *p, uint64_t len)
{
    const uintptr_t page = 4096;
    uintptr_t lo = ((uintptr_t)p + page - 1) & ~(page - 1);
    uintptr_t hi = ((uintptr_t)p + len) & ~(page - 1);
    if (hi > lo)
        (void)madvise((void *)lo, hi - lo, MADV_POPULATE_WRITE);
}

static void *run(void *arg)
{
    ali_prefault *pf = arg;
    for (int64_t r = 0; r < pf->rows; r += STEP_ROWS) {
        int64_t nr = pf->rows - r < STEP_ROWS ? pf->rows - r : STEP_ROWS;
        for (size_t c = 0; c < pf->n; c++) {
            if (atomic_load_explicit(&pf->stop, memory_order_relaxed))
                return NULL;
            populate(pf->data[c] + (uint64_t)r * pf->row_bytes[c], (uint64_t)nr * pf->row_bytes[c]);
        }
    }
    return NULL;
}

ali_prefault *ali_prefault_start(const ali_stable *t)
{
    uint64_t total = 0;
    for (size_t c = 0; c < t->n_cols; c++)
        total += (uint64_t)t->rows * (uint64_t)t->cols[c].repeat * t->cols[c].width;
    if (total < PREFAULT_MIN_BYTES || sysconf(_SC_NPROCESSORS_ONLN) < 2)
        return NULL;
    /* Probe once: EINVAL means the kernel has no MADV_POPULATE_WRITE. */
    static atomic_int supported = -1;
    if (atomic_load(&supported) < 0) {
        void *probe = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        int ok = probe != MAP_FAILED && madvise(probe, 4096, MADV_POPULATE_WRITE) == 0;
        if (probe != MAP_FAILED)
            munmap(probe, 4096);
        atomic_store(&supported, ok);
    }
    if (!atomic_load(&supported))
        return NULL;
    ali_prefault *pf = AL_NEW(ali_prefault);
    uint8_t **data = AL_NEW_ARRAY(uint8_t *, t->n_cols);
    uint64_t *row_bytes = AL_NEW_ARRAY(uint64_t, t->n_cols);
    if (!pf || !data || !row_bytes) {
        al_free(pf);
        al_free(data);
        al_free(row_bytes);
        return NULL; /* only an optimisation: go on without it */
    }
    for (size_t c = 0; c < t->n_cols; c++) {
        data[c] = t->cols[c].data;
        row_bytes[c] = (uint64_t)t->cols[c].repeat * t->cols[c].width;
    }
    atomic_init(&pf->stop, false);
    pf->rows = t->rows;
    pf->n = t->n_cols;
    pf->data = data;
    pf->row_bytes = row_bytes;
    if (pthread_create(&pf->thread, NULL, run, pf) != 0) {
        al_free(data);
        al_free(row_bytes);
        al_free(pf);
        return NULL;
    }
    return pf;
}

void ali_prefault_stop(ali_prefault *pf)
{
    if (!pf)
        return;
    atomic_store(&pf->stop, true);
    pthread_join(pf->thread, NULL);
    al_free(pf->data);
    al_free(pf->row_bytes);
    al_free(pf);
}
