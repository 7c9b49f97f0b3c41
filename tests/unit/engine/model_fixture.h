/*
 * Test fixture for engine tests on real models: compresses a source model from
 * ../shared/models into a temporary .hlm (hl_import + hl_hlm_write), once per process.
 */
#ifndef HL_TEST_MODEL_FIXTURE_H
#define HL_TEST_MODEL_FIXTURE_H

#include "huffllm/engine.h"

/* Path of the compressed model for `rel` (relative to the shared models directory, e.g.
 * "stories260K/stories260K.bin", or an absolute path); tokenizer_rel is the llama2.c
 * tokenizer or NULL.
 * Fails the test on any error. The returned string lives until fixture_cleanup. */
const char *fixture_hlm(const char *rel, const char *tokenizer_rel);
/* Removes the temporary files. */
void fixture_cleanup(void);

/* Loads a model and creates an engine with n_threads; fails the test on error. */
hl_model_t *fixture_load(const char *hlm, bool raw);

/* Greedy generation from BOS: writes up to max ids (stopping after an end-of-generation
 * token or BOS, which is not stored) and returns their count. */
size_t fixture_greedy(hl_engine_t *e, const hl_model_t *m, int32_t *ids, size_t max);

/* Golden token files in tests/golden/NAME.ids: whitespace-separated ids. With
 * HL_GOLDEN_UPDATE=1 in the environment the file is (re)written instead of compared. */
void fixture_check_golden(const char *name, const int32_t *ids, size_t n);

#endif
