/* Tests of src/util/dl.c, the one way the library loads CFITSIO, libmicrohttpd and the CUDA
 * driver on first use: every symbol or none, the next soname tried only when one does not load,
 * and a reason that names what was missing. */
#include <dlfcn.h>

#include "test.h"
#include "util/dl_int.h"

typedef struct maths {
    double (*cos)(double);
    double (*sqrt)(double);
    double (*missing)(double);
} maths;

static const ali_dl_symbol two[] = {{"cos", offsetof(maths, cos)}, {"sqrt", offsetof(maths, sqrt)}};

TEST(test_dl_load_fills_every_symbol_from_the_first_soname_that_loads)
{
    maths m = {0};
    char why[256] = "";
    const char *sonames[] = {"libastrolab-no-such-lib.so.1", "libm.so.6", NULL};
    void *lib = ali_dl_load(sonames, two, 2, &m, why, sizeof why);
    CHECK(lib != NULL);
    CHECK(m.cos && m.sqrt && !m.missing);
    if (m.sqrt)
        CHECK(m.sqrt(16.0) == 4.0);
    if (lib)
        dlclose(lib);
}

TEST(test_dl_load_gives_nothing_without_every_symbol_and_says_which)
{
    maths m = {0};
    char why[256] = "";
    const ali_dl_symbol three[] = {two[0],
                                   two[1],
                                   {"astrolab_no_such_function", offsetof(maths, missing)}};
    const char *sonames[] = {"libm.so.6", NULL};
    CHECK(ali_dl_load(sonames, three, 3, &m, why, sizeof why) == NULL);
    CHECK_EQ_STR(why, "libm.so.6 has no astrolab_no_such_function");
    CHECK(!m.cos && !m.sqrt); /* nothing left pointing into the closed library */
    /* None loads: the first soname's complaint, as dlopen gives it. */
    const char *none[] = {"libastrolab-no-such-lib.so.1", "libastrolab-no-such-lib.so.2", NULL};
    CHECK(ali_dl_load(none, two, 2, &m, why, sizeof why) == NULL);
    CHECK(strstr(why, "libastrolab-no-such-lib.so.1") != NULL);
    const char *empty[] = {NULL};
    CHECK(ali_dl_load(empty, two, 2, &m, why, sizeof why) == NULL);
    CHECK_EQ_STR(why, "no library named");
}

TEST_MAIN()
