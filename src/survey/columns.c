/* Column roles: the column names that Gaia DR3, SDSS, 2MASS and Tycho-2 (the CDS catalogue
 * I/259 and astrometry.net's index files) give to positions, parallaxes, proper motions and
 * magnitudes, and recognising a survey from its column names. Metadata storage is in meta.c. */
#include <stddef.h>
#include <string.h>
#include <strings.h>

#include "survey/survey_int.h"

typedef struct role_name {
    const char *name;   /* column name, compared case-insensitively */
    const char *role;   /* role given to it */
    const char *survey; /* survey whose name it is */
    int weight;         /* how strongly the name points at its survey (0: shared name) */
} role_name;

static const role_name role_names[] = {
    /* Gaia DR3 gaia_source. */
    {"source_id", "id", "Gaia DR3", 2},
    {"ra", "ra", "Gaia DR3", 0},
    {"dec", "dec", "Gaia DR3", 0},
    {"parallax", "parallax", "Gaia DR3", 1},
    {"pmra", "pmra", "Gaia DR3", 1},
    {"pmdec", "pmdec", "Gaia DR3", 1},
    {"phot_g_mean_mag", "mag_g", "Gaia DR3", 3},
    {"phot_bp_mean_mag", "mag_bp", "Gaia DR3", 3},
    {"phot_rp_mean_mag", "mag_rp", "Gaia DR3", 3},
    /* SDSS PhotoObj. */
    {"objID", "id", "SDSS", 2},
    {"psfMag_u", "mag_u", "SDSS", 3},
    {"psfMag_g", "mag_g", "SDSS", 3},
    {"psfMag_r", "mag_r", "SDSS", 3},
    {"psfMag_i", "mag_i", "SDSS", 3},
    {"psfMag_z", "mag_z", "SDSS", 3},
    {"modelMag_u", "mag_u", "SDSS", 3},
    {"modelMag_g", "mag_g", "SDSS", 3},
    {"modelMag_r", "mag_r", "SDSS", 3},
    {"modelMag_i", "mag_i", "SDSS", 3},
    {"modelMag_z", "mag_z", "SDSS", 3},
    /* 2MASS PSC, as VizieR (II/246) and IRSA name its columns. */
    {"RAJ2000", "ra", "2MASS", 1},
    {"DEJ2000", "dec", "2MASS", 1},
    {"Jmag", "mag_j", "2MASS", 3},
    {"Hmag", "mag_h", "2MASS", 3},
    {"Kmag", "mag_k", "2MASS", 3},
    {"j_m", "mag_j", "2MASS", 3},
    {"h_m", "mag_h", "2MASS", 3},
    {"k_m", "mag_k", "2MASS", 3},
    {"designation", "id", "2MASS", 0},
    /* Tycho-2 (I/259) and astrometry.net's index files built from it. */
    {"RAmdeg", "ra", "Tycho-2", 3},
    {"DEmdeg", "dec", "Tycho-2", 3},
    {"pmRA", "pmra", "Tycho-2", 1},
    {"pmDE", "pmdec", "Tycho-2", 2},
    {"BTmag", "mag_bt", "Tycho-2", 3},
    {"VTmag", "mag_vt", "Tycho-2", 3},
    {"MAG_VT", "mag_vt", "Tycho-2", 3},
    {"MAG_BT", "mag_bt", "Tycho-2", 3},
    {"TYC", "id", "Tycho-2", 2},
    /* Shared spellings. */
    {"ra_deg", "ra", NULL, 0},
    {"dec_deg", "dec", NULL, 0},
    {"plx", "parallax", NULL, 0},
};
#define N_ROLE_NAMES (sizeof role_names / sizeof role_names[0])

const char *al_survey_role_of(const char *name, const char **survey)
{
    if (!name)
        return NULL;
    for (size_t i = 0; i < N_ROLE_NAMES; i++)
        if (strcasecmp(role_names[i].name, name) == 0) {
            if (survey)
                *survey = role_names[i].survey;
            return role_names[i].role;
        }
    return NULL;
}

const char *ali_survey_guess(const char *const *names, size_t n)
{
    static const char *const surveys[] = {"Gaia DR3", "SDSS", "2MASS", "Tycho-2"};
    int score[4] = {0};
    for (size_t c = 0; c < n; c++)
        for (size_t i = 0; i < N_ROLE_NAMES; i++) {
            const role_name *r = &role_names[i];
            if (!r->survey || !r->weight || strcasecmp(r->name, names[c]) != 0)
                continue;
            for (int s = 0; s < 4; s++)
                if (strcmp(surveys[s], r->survey) == 0)
                    score[s] += r->weight;
        }
    /* A single parallax or proper motion is no evidence; a magnitude or an id is. */
    int best = -1;
    for (int s = 0; s < 4; s++)
        if (score[s] >= 3 && (best < 0 || score[s] > score[best]))
            best = s;
    return best < 0 ? NULL : surveys[best];
}
