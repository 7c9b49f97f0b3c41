/* Test support for the tokenizer tests: model paths, tokenizer descriptions of the real
 * models, and the golden files written by ref_tokenize.py. */
#ifndef HL_TEST_TOKENIZER_FIXTURE_H
#define HL_TEST_TOKENIZER_FIXTURE_H

#include "huffllm/tokenizer.h"

/* $HL_SHARED/models/<rel> (or HL_SRCDIR/../shared/models/<rel>); caller frees. */
char *fx_model_path(const char *rel);
/* HL_SRCDIR/tests/unit/tokenizer/<name>; caller frees. */
char *fx_test_path(const char *name);

/* The normalized description of a llama2.c tokenizer .bin, built here from the file
 * (for variants the importer does not produce). lower_eighth: write spaces as U+2581 (as
 * the importer does) instead of the file's ' '. */
json_t *fx_llama2c_desc(const char *path, bool lower_eighth);
/* The normalized description of a Hugging Face tokenizer.json (BPE: SentencePiece-like
 * with the "▁" normalizer, or byte-level) built here, for tokenizer.json files that come
 * without a model; bos/eos given (-1: none). */
json_t *fx_hf_desc(const char *path, int32_t bos, int32_t eos);

/* The tokenizer of a model under $HL_SHARED/models imported with hl_import (fails the
 * test if the import fails). */
hl_tokenizer_t *fx_imported(const char *rel);

/* Builds a tokenizer or fails the test. */
hl_tokenizer_t *fx_create(json_t *desc);

typedef struct {
    char *text;
    size_t len;
    int32_t *ids;
    size_t n_ids;
} fx_golden_t;

/* Reads "<hex text>\t<ids>" lines. */
fx_golden_t *fx_goldens(const char *path, size_t *n);
void fx_goldens_free(fx_golden_t *g, size_t n);

#endif
