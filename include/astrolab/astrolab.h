/* AstroLab: one include for the whole public API. */
#ifndef ASTROLAB_ASTROLAB_H
#define ASTROLAB_ASTROLAB_H

#include "astrolab/cuda.h"     /* device queries, caching device allocator */
#include "astrolab/defs.h"     /* version, attributes */
#include "astrolab/error.h"    /* codes, al_error */
#include "astrolab/format.h"   /* figures for people, JSON text */
#include "astrolab/job.h"      /* one memory view of a job of many processes (MPI ranks) */
#include "astrolab/log.h"      /* named loggers */
#include "astrolab/memory.h"   /* manager, scopes, registry, diagnosis */
#include "astrolab/settings.h" /* ASTROLAB_* settings in force */
#include "astrolab/survey.h"   /* FITS and CSV catalogs into tensordicts */
#include "astrolab/tensors.h"  /* tensors, tensordicts, DLPack */
#include "astrolab/ui.h"       /* panels, widget status, the live dashboard */

#endif /* ASTROLAB_ASTROLAB_H */
