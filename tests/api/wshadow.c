/* Compiled, never run, by the test_api_wshadow.* CTest entries (tests/CMakeLists.txt) with
 * -std=c11 -Wall -Wextra -Wshadow -Wpedantic -Werror, by cc and by clang: the public headers'
 * macros must compile clean in user code under a user's strict warnings. It holds the README's
 * example, the one at the top of <astrolab/memory.h>, and nested blocks (issue 15: nested
 * AL_MEMORY_MANAGEMENT blocks warned under -Wshadow when the macro used fixed names). */
#include <stdio.h>
#include <stdlib.h>

#include <astrolab/astrolab.h>

struct star {
    double ra, dec;
    float mag;
};

/* The README's "Using the library". */
static int readme_example(void)
{
    AL_MEMORY_MANAGEMENT("load")
    {
        struct star *stars = AL_NEW_ARRAY(struct star, 100000);
        char *name = al_strdup("Tycho-2");
        double *flux = al_malloc(100000 * sizeof *flux);
        if (!stars || !name || !flux)
            break;
        al_free(flux);
    }

    al_memory_stats st;
    if (al_get_memory_stats(&st) == AL_OK)
        printf("peak %.1f MiB, %llu blocks live\n", st.peak_mb, (unsigned long long)st.live_blocks);
    char *json = al_memory_stats_json();
    if (json)
        puts(json);
    free(json);
    return 0;
}

/* <astrolab/memory.h>'s opening example. */
static struct star *header_example(size_t n)
{
    struct star *result = NULL;
    AL_MEMORY_MANAGEMENT("load")
    {
        struct star *s = AL_NEW_ARRAY(struct star, n);
        struct star *summary = AL_NEW(struct star);
        if (!s || !summary)
            break;
        result = al_scope_keep(summary);
    }
    return result;
}

/* Nested blocks, the advertised use, with every way out of the inner one. */
static int nested(int how)
{
    int rc = 0;
    AL_MEMORY_MANAGEMENT("outer")
    {
        AL_MEMORY_MANAGEMENT("inner")
        {
            if (!al_malloc(16))
                break;
            if (how == 1)
                continue; /* leaves the inner block, as break does */
            if (how == 2)
                goto out;
            if (how == 3)
                return 3;
            AL_MEMORY_MANAGEMENT("innermost") { rc = al_scope_current() != NULL; }
        }
        al_scope_options opts = {0};
        AL_MEMORY_MANAGEMENT_EX("inner with options", &opts) { rc += how; }
    }
out:
    return rc;
}

int main(void)
{
    int rc = readme_example();
    al_free(header_example(10));
    for (int how = 0; how < 4; how++)
        rc += nested(how);
    return rc == 0 ? 0 : 1;
}
