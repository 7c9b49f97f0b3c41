/*
 * Fuzz target: the GGUF importer (v1-v3 header, metadata, tensor infos) on a file, and the
 * tokenizer it describes. Tensor data is only located, never read, by the importer, so a
 * header cut short of its data still exercises everything up to the bounds checks.
 */
#include <jansson.h>
#include <stdint.h>

#include "fuzz_tok_common.h"
#include "fuzz_util.h"
#include "huffllm/import.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = hl_fuzz_write("model.gguf", data, size);
    hl_source_t src;
    hl_error_t err;
    if (hl_import_gguf(path, &src, &err) != 0)
        return 0;
    static const char text[] = "Once upon a time <s> \xe2\x96\x81x \xff\xfe";
    hl_fuzz_tokenizer_exercise(json_object_get(src.metadata, "tokenizer"), text,
                               sizeof text - 1);
    hl_source_dispose(&src);
    return 0;
}
