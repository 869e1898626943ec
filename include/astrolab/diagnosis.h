/* AstroLab leak diagnosis: what holds memory, how it grows, and what to do about it. */
#ifndef ASTROLAB_DIAGNOSIS_H
#define ASTROLAB_DIAGNOSIS_H

#include "astrolab/defs.h"

#endif /* ASTROLAB_DIAGNOSIS_H */
