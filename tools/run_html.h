/* `astrolab run --html FILE` (run_html.c): one self-contained page drawn from the run's JSON
 * report, with the page's files (ui/run/, the vendored libraries) compiled into the tool by
 * cmake/run_html_assets.cmake. */
#ifndef ASTROLAB_RUN_HTML_H
#define ASTROLAB_RUN_HTML_H

#include <stddef.h> /* size_t */

/* -------- The embedded files (generated/run_html_assets.c): read-only, any thread. -------- */
typedef struct run_html_assets_entry {
    const char *path;          /* "/run/report.html", "/web/vendor/uPlot.iife.min.js" */
    const char *content_type;  /* "text/html; charset=utf-8" ... */
    const unsigned char *data; /* the file's bytes, NUL-terminated */
    size_t len;                /* bytes, without the NUL */
} run_html_assets_entry;

extern const run_html_assets_entry run_html_assets[];
extern const size_t run_html_assets_count;

/* Writes the page for the report at `report` (a file the preload library wrote) to `path`,
 * with `argv` (NULL-terminated: the program and its arguments) as its title. The page is built
 * whole in memory, written beside `path` under a temporary name and renamed over it: a failure
 * leaves no file and an old one as it was. Returns CLI_EXIT_OK, or CLI_EXIT_FAILURE after
 * printing why on stderr for `cmd`, naming the file. */
int run_html_write(const char *cmd, const char *report, char *const *argv, const char *path);

#endif
