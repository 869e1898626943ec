/* libFuzzer target: al_survey_load of arbitrary bytes as CSV (tokenizer, type inference,
 * conversion, null masks) must fail cleanly or succeed, never crash or leak. */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_load(data, size, AL_SURVEY_FORMAT_CSV);
    return 0;
}
