/* The tensors module's service to modules that embed a tensordict's memory_info in a JSON
 * document of their own (survey/info.c): the object itself, rather than text to parse back. */
#ifndef ASTROLAB_MEMORY_INFO_INT_H
#define ASTROLAB_MEMORY_INFO_INT_H

#include <cjson/cJSON.h>

#include "astrolab/tensors.h"

/* al_tensordict_memory_info_json's document as a cJSON object; the caller owns it
 * (cJSON_Delete). NULL when td is NULL or out of memory. */
cJSON *ali_tensordict_memory_info_cjson(const al_tensordict *td);

#endif
