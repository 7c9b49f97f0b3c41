/*
 * Fuzz target: a Hugging Face tokenizer.json through the importer's conversion
 * (hl__hf_tokenizer) into a tokenizer, then encode/decode of a fuzzed text.
 * Input: 2 bytes (little-endian) text length, the text, then the tokenizer.json bytes.
 */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>

#include "fuzz_tok_common.h"
#include "fuzz_util.h"
#include "import/internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *text, *file;
    size_t text_len, file_len;
    if (hl_fuzz_split(data, size, &text, &text_len, &file, &file_len) != 0)
        return 0;
    json_t *tj = json_loadb((const char *)file, file_len, 0, NULL);
    if (!tj)
        return 0;
    json_t *desc = NULL, *tmpl = NULL;
    hl_error_t err;
    if (hl__hf_tokenizer(tj, NULL, NULL, NULL, "tokenizer.json", &desc, &tmpl, &err) == 0) {
        hl_fuzz_tokenizer_exercise(desc, (const char *)text, text_len);
        json_decref(desc);
        json_decref(tmpl);
    }
    json_decref(tj);
    return 0;
}
