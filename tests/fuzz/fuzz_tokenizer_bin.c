/*
 * Fuzz target: a llama2.c tokenizer file (tokenizer.bin / tok512.bin) through the importer's
 * reader into a tokenizer, then encode/decode of a fuzzed text.
 * Input: 2 bytes (little-endian) text length, the text, 2 bytes vocabulary size (what the
 * checkpoint header would say), then the tokenizer file.
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
    const uint8_t *text, *rest;
    size_t text_len, rest_len;
    if (hl_fuzz_split(data, size, &text, &text_len, &rest, &rest_len) != 0 || rest_len < 2)
        return 0;
    uint32_t n_vocab = (uint32_t)rest[0] | (uint32_t)rest[1] << 8;
    json_t *desc = NULL;
    hl_error_t err;
    if (hl__llama2c_tokenizer_parse(rest + 2, rest_len - 2, n_vocab, "tokenizer.bin", &desc,
                                    &err) == 0) {
        hl_fuzz_tokenizer_exercise(desc, (const char *)text, text_len);
        json_decref(desc);
    }
    return 0;
}
