/*
 * Shared by the tokenizer fuzz targets: builds a tokenizer from a normalized description (as
 * an importer produced it) and runs a fuzzed text through encode, decode, piece and the
 * incremental detokenizer, checking the invariants every tokenizer keeps.
 */
#ifndef HL_FUZZ_TOK_COMMON_H
#define HL_FUZZ_TOK_COMMON_H

#include <jansson.h>
#include <stddef.h>

/* `desc` is borrowed. Aborts when an invariant breaks. */
void hl_fuzz_tokenizer_exercise(const json_t *desc, const char *text, size_t len);

#endif /* HL_FUZZ_TOK_COMMON_H */
