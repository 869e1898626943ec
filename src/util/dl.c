/* Libraries loaded on first use: every symbol or none (dl_int.h). */
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

#include "util/dl_int.h"

void *ali_dl_load(const char *const *sonames, const ali_dl_symbol *symbols, size_t n, void *table,
                  char *why, size_t len)
{
    void *lib = NULL;
    const char *soname = NULL;
    char first[256] = "";
    for (size_t i = 0; sonames[i] && !lib; i++) {
        soname = sonames[i];
        lib = dlopen(soname, RTLD_NOW | RTLD_LOCAL);
        const char *e = lib ? NULL : dlerror();
        if (i == 0 && !lib)
            snprintf(first, sizeof first, "%s", e ? e : soname);
    }
    if (!lib) {
        snprintf(why, len, "%s", first[0] ? first : "no library named");
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        void *f = dlsym(lib, symbols[i].name);
        if (!f) {
            snprintf(why, len, "%s has no %s", soname, symbols[i].name);
            dlclose(lib);
            for (size_t j = 0; j < i; j++) /* no address into the closed library stays */
                memset((char *)table + symbols[j].offset, 0, sizeof f);
            return NULL;
        }
        memcpy((char *)table + symbols[i].offset, &f, sizeof f);
    }
    return lib;
}
