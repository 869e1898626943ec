/* Shared by the `astrolab survey` subcommands: their arguments and the load that every one
 * starts with (tools/cmd_survey.c), and `head` (tools/cmd_survey_head.c). */
#ifndef ASTROLAB_CMD_SURVEY_H
#define ASTROLAB_CMD_SURVEY_H

#include <stdbool.h> /* bool */
#include <stdint.h>  /* int64_t */

#include "astrolab/astrolab.h" /* al_tensordict */

typedef struct survey_args {
    const char *sub; /* "info", "head", "optimize" */
    const char *file;
    const char *hdu_name; /* --hdu NAME, or NULL */
    int hdu;              /* --hdu N; AL_SURVEY_HDU_FIRST when not given */
    const char *out;      /* -o value, or NULL */
    int64_t rows;         /* -n */
    const char **columns; /* --columns, split in place, NULL-terminated (malloc); NULL: all */
    bool json, help;
    bool raw; /* --raw, and always for optimize: FITS strings byte for byte */
} survey_args;

/* The catalog a->file as the arguments ask (rows up to row_stop, -1: all), with a progress
 * bar on a terminal; NULL after printing why. */
al_tensordict *survey_load(const survey_args *a, int64_t row_stop);
/* `survey head`: the first rows as a table or as JSON, all or nothing. Returns the exit code. */
int survey_run_head(const survey_args *a);

#endif
