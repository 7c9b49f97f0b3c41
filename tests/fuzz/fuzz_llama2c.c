/*
 * Fuzz target: the llama2.c checkpoint importer (legacy and version-1 headers, the size the
 * configuration implies), with the bundled model's tokenizer (tok512.bin) beside it.
 */
#include <stdint.h>

#include "fuzz_util.h"
#include "huffllm/import.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = hl_fuzz_write("model.bin", data, size);
    hl_source_t src;
    hl_error_t err;
    if (hl_import_llama2c(path, HL_SRCDIR "/models/stories260K/tok512.bin", &src, &err) == 0)
        hl_source_dispose(&src);
    return 0;
}
