/* Text built with stdio in memory (open_memstream): the library's text renderers
 * (al_diagnosis_text, al_cuda_memory_summary) write with fprintf and hand the caller one
 * malloc'd string. src/util/memstream.c. Never installed. */
#ifndef ASTROLAB_MEMSTREAM_INT_H
#define ASTROLAB_MEMSTREAM_INT_H

#include <stddef.h> /* size_t */
#include <stdio.h>  /* FILE */

typedef struct ali_memstream {
    FILE *f;    /* write here between open and finish */
    char *text; /* owned by the stream until finish */
    size_t len;
} ali_memstream;

/* Opens m and returns the stream to write to (also m->f), or NULL when out of memory. */
FILE *ali_memstream_open(ali_memstream *m);

/* Closes m's stream and returns its text, NUL-terminated, which the caller frees with free();
 * NULL when a write failed (out of memory: the partial text is freed). */
char *ali_memstream_finish(ali_memstream *m);

#endif
