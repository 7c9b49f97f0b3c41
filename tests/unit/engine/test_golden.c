/*
 * Golden outputs of the engine on the real models in ../shared/models, each compressed into
 * a temporary .hlm first: llama2.c's run.c reference text for stories260K, the same token
 * ids from every lossless file of that model (llama2.c .bin, GGUF v1, GGUF v3 F32), recorded
 * goldens for the F16/BF16/Q8_0 requantizations and the Hugging Face model.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "model_fixture.h"

/* Tokens compared per model: well past the run.c reference text (about 50 tokens), few
 * enough for the test to stay fast under sanitizers. */
#define MAX_GEN 128

static hl_engine_t *engine;
/* greedy ids of stories260K.bin, the reference for the other files of the same model */
static int32_t bin_ids[MAX_GEN];
static size_t n_bin_ids;

static int setup(void **state)
{
    (void)state;
    hl_engine_opts_t eo = {.n_threads = 1}; /* thread counts are compared in test_forward */
    return hl_engine_create(&eo, &engine, NULL);
}

static int teardown(void **state)
{
    (void)state;
    hl_engine_free(engine);
    fixture_cleanup();
    return 0;
}

/* Greedy ids of one model file; *text gets the decoded text (caller frees). */
static size_t greedy_of(const char *rel, const char *tok_rel, int32_t *ids, char **text)
{
    hl_model_t *m = fixture_load(fixture_hlm(rel, tok_rel), false);
    size_t n = fixture_greedy(engine, m, ids, MAX_GEN);
    if (text) {
        size_t len;
        *text = hl_tokenizer_decode(hl_model_tokenizer(m), ids, n, &len);
        assert_non_null(*text);
    }
    hl_model_free(m);
    return n;
}

static const char *const stories_ref =
    "Once upon a time, there was a little girl named Lily. She loved to play outside in the "
    "park. One day, she saw a big, red ball. She wanted to play with it, but it was too high.";

static void test_stories_bin_reproduces_run_c(void **state)
{
    (void)state;
    int32_t ids[MAX_GEN];
    char *text;
    size_t n = greedy_of("stories260K/stories260K.bin", "stories260K/tok512.bin", ids, &text);
    memcpy(bin_ids, ids, n * sizeof *ids);
    n_bin_ids = n;
    /* the first piece after BOS loses its leading space, as in run.c */
    if (strncmp(text, stories_ref, strlen(stories_ref)) != 0)
        fail_msg("stories260K.bin greedy text differs from run.c:\n  got: %.300s", text);
    free(text);
    fixture_check_golden("stories260K", ids, n);
}

static void test_gguf_files_give_the_same_ids(void **state)
{
    (void)state;
    static const char *const files[] = {
        "stories260K-gguf-v1/tinyllamas-stories-260k-f32.gguf",
        "gguf/stories260K-F32.gguf",
    };
    int32_t ids[MAX_GEN];
    const int32_t *ref = bin_ids;
    size_t n_ref = n_bin_ids;
    assert_true(n_ref > 0); /* set by test_stories_bin_reproduces_run_c, which runs first */
    for (size_t f = 0; f < sizeof files / sizeof *files; f++) {
        size_t n = greedy_of(files[f], NULL, ids, NULL);
        size_t i = 0;
        while (i < n && i < n_ref && ids[i] == ref[i])
            i++;
        if (i != n || n != n_ref)
            fail_msg("%s: greedy ids differ from stories260K.bin at token %zu: %d vs %d "
                     "(%zu vs %zu tokens)",
                     files[f], i, i < n ? ids[i] : -1, i < n_ref ? ref[i] : -1, n, n_ref);
    }
}

static void test_requantized_gguf_goldens(void **state)
{
    (void)state;
    static const char *const files[][2] = {
        {"gguf/stories260K-F16.gguf", "stories260K-F16"},
        {"gguf/stories260K-BF16.gguf", "stories260K-BF16"},
        {"gguf/stories260K-Q8_0.gguf", "stories260K-Q8_0"},
    };
    for (size_t f = 0; f < sizeof files / sizeof *files; f++) {
        int32_t ids[MAX_GEN];
        char *text;
        size_t n = greedy_of(files[f][0], NULL, ids, &text);
        /* close to the F32 model: the same story opening */
        if (strncmp(text, "Once upon a time", 16) != 0)
            fail_msg("%s: unexpected text: %.200s", files[f][0], text);
        free(text);
        fixture_check_golden(files[f][1], ids, n);
    }
}

static void test_hf_model(void **state)
{
    (void)state;
    int32_t ids[MAX_GEN];
    char *text;
    size_t n = greedy_of("tinystories-656K-hf", NULL, ids, &text);
    static const char ref[] = "Once upon a time, there was a little girl named Lily. She had a "
                              "toy car that she loved very much. One day, she went to the park";
    if (strncmp(text, ref, strlen(ref)) != 0)
        fail_msg("tinystories-656K greedy text differs:\n  got: %.300s", text);
    free(text);
    fixture_check_golden("tinystories-656K", ids, n);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stories_bin_reproduces_run_c),
        cmocka_unit_test(test_gguf_files_give_the_same_ids),
        cmocka_unit_test(test_requantized_gguf_goldens),
        cmocka_unit_test(test_hf_model),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
