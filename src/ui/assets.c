/* The dashboard's static files, looked up by exact URL path in the table that
 * cmake/embed_assets.cmake generates from ui/web/ at build time. Lookup never touches the
 * filesystem, so no request can reach a file outside the table, whatever its path says. */
#include <string.h>

#include "ui_int.h"

extern const ali_ui_asset ali_ui_assets[];
extern const size_t ali_ui_n_assets;

const ali_ui_asset *ali_ui_asset_find(const char *path)
{
    if (!path)
        return NULL;
    for (size_t i = 0; i < ali_ui_n_assets; i++)
        if (strcmp(ali_ui_assets[i].path, path) == 0)
            return &ali_ui_assets[i];
    return NULL;
}
