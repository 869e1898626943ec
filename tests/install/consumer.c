/* Install smoke test: a program built only from an installed libastrolab (its headers, its
 * shared library, and astrolab.pc or the CMake package). It uses the public API the README
 * shows and checks that a scope gives back what it owned. Exit status 0 when everything holds. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <astrolab/astrolab.h>

struct star {
    double ra, dec;
    float mag;
};

static int fail(const char *what)
{
    fprintf(stderr, "consumer: %s\n", what);
    return 1;
}

int main(void)
{
    al_memory_stats before, inside, after;
    if (al_get_memory_stats(&before) != AL_OK)
        return fail("al_get_memory_stats failed");

    AL_MEMORY_MANAGEMENT("install-smoke")
    {
        struct star *stars = AL_NEW_ARRAY(struct star, 1000);
        char *name = al_strdup("Tycho-2");
        if (!stars || !name)
            return fail("allocation failed");
        stars[999].mag = 11.5f;
        if (al_get_memory_stats(&inside) != AL_OK)
            return fail("al_get_memory_stats failed");
        if (inside.live_blocks != before.live_blocks + 2)
            return fail("live_blocks did not count the two blocks");
        if (inside.current_bytes != before.current_bytes + 1000 * sizeof(struct star) + 8)
            return fail("current_bytes is not the requested sizes");
        /* stars and name are not freed here: the scope releases them. */
    }

    if (al_get_memory_stats(&after) != AL_OK)
        return fail("al_get_memory_stats failed");
    if (after.live_blocks != before.live_blocks || after.current_bytes != before.current_bytes)
        return fail("the scope did not release what it owned");

    char *json = al_memory_stats_json();
    if (!json || !strstr(json, "\"peak_bytes\""))
        return fail("al_memory_stats_json has no peak_bytes");
    printf("astrolab %s: %s\n", al_version(), json);
    free(json);
    return 0;
}
