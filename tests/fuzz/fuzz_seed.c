/* Writes the seed corpora of the survey fuzz targets: small FITS tables of every column type
 * (saved by al_survey_save_fits) and CSV files with quotes, nulls and comments. Usage:
 * fuzz_seed FITS_DIR CSV_DIR. */
#include <stdio.h>
#include <string.h>

#include "astrolab/astrolab.h"

static int write_text(const char *dir, const char *name, const char *text)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f)
        return 1;
    fputs(text, f);
    return fclose(f) != 0;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: fuzz_seed FITS_DIR CSV_DIR\n");
        return 2;
    }
    int rc = write_text(argv[2], "gaia.csv",
                        "# Gaia export\nsource_id,ra,dec,flag,name\n"
                        "1,10.5,-3,true,\"a,b\"\n2,,null,false,\"x\"\"y\"\n,1e3,2,,\n");
    rc |= write_text(argv[2], "crlf.csv", "a,b\r\n1,\"two\r\nlines\"\r\n3,4\r\n");
    /* Names with '.' and '\\' (kept byte for byte), every missing spelling, a UTF-8 name. */
    rc |= write_text(argv[2], "names.csv",
                     "ANTENNA NO.,a\\b,x.y,d\xc3\xa9\x63\n1,NA,\"null\",n/a\n2, NaN ,\"NA\",\n");
    static const al_dtype types[] = {AL_DTYPE_BOOL,    AL_DTYPE_INT8,   AL_DTYPE_UINT8,
                                     AL_DTYPE_INT16,   AL_DTYPE_UINT16, AL_DTYPE_INT32,
                                     AL_DTYPE_UINT32,  AL_DTYPE_INT64,  AL_DTYPE_UINT64,
                                     AL_DTYPE_FLOAT32, AL_DTYPE_FLOAT64};
    al_error err;
    al_tensordict *td = al_tensordict_new(4, AL_CPU, &err);
    int64_t shape[2] = {4, 2};
    for (size_t i = 0; td && i < sizeof types / sizeof types[0]; i++) {
        al_tensor *t = al_tensor_new(types[i], i % 3 ? 1 : 2, shape, AL_CPU, &err);
        char name[32];
        snprintf(name, sizeof name, "c_%s", al_dtype_name(types[i]));
        rc |= !t || al_tensordict_set(td, name, t, 0, &err) != AL_OK;
        al_tensor_free(t);
    }
    al_tensor *s = al_tensor_new_string(1, shape, 5, AL_CPU, &err);
    rc |= !s || al_tensor_fill_string(s, "abc", 3) != AL_OK ||
          al_tensordict_set(td, "name", s, 0, &err) != AL_OK;
    al_tensor_free(s);
    rc |= al_survey_set_column(td, "c_float64", "deg", "ra") != AL_OK;
    char path[512];
    snprintf(path, sizeof path, "%s/types.fits", argv[1]);
    rc |= al_survey_save_fits(td, path, NULL, &err) != AL_OK;
    al_survey_free(td);
    if (rc)
        fprintf(stderr, "fuzz_seed: could not write every seed: %s\n", err.message);
    return rc ? 1 : 0;
}
