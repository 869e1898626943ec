/* Text built with stdio in memory: one open and one finish for every text renderer, so that a
 * failed write (out of memory inside open_memstream's buffer) always frees the partial text and
 * returns NULL. */
#include <stdlib.h>

#include "util/memstream_int.h"

FILE *ali_memstream_open(ali_memstream *m)
{
    m->text = NULL;
    m->len = 0;
    m->f = open_memstream(&m->text, &m->len);
    return m->f;
}

char *ali_memstream_finish(ali_memstream *m)
{
    int failed = ferror(m->f);
    char *text = fclose(m->f) == 0 && !failed ? m->text : (free(m->text), NULL);
    m->f = NULL;
    m->text = NULL;
    return text;
}
