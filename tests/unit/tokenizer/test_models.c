/*
 * Tokenizers of the real models as the importers describe them (hl_import of the
 * llama2.c checkpoint, the GGUF v1 and v3 files, the Hugging Face directory): each must
 * give the golden ids of ref_tokenize.py and round-trip text.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fixture.h"

static void check_goldens(const hl_tokenizer_t *t, const char *file)
{
    char *path = fx_test_path(file);
    size_t n;
    fx_golden_t *g = fx_goldens(path, &n);
    for (size_t i = 0; i < n; i++) {
        int32_t *ids;
        size_t n_ids;
        assert_int_equal(hl_tokenizer_encode(t, g[i].text, g[i].len, false, false, &ids, &n_ids),
                         0);
        if (n_ids != g[i].n_ids || memcmp(ids, g[i].ids, n_ids * sizeof *ids) != 0)
            fail_msg("%s line %zu (\"%.40s\"): ids differ", file, i + 1, g[i].text);
        free(ids);
    }
    fx_goldens_free(g, n);
    free(path);
}

static void check_story_roundtrip(const hl_tokenizer_t *t)
{
    static const char text[] = "Once upon a time, there was a little girl named Lily.";
    int32_t *ids;
    size_t n;
    assert_true(hl_tokenizer_add_bos(t));
    assert_int_equal(hl_tokenizer_encode(t, text, strlen(text), true, false, &ids, &n), 0);
    assert_int_equal(ids[0], 1);
    char *back = hl_tokenizer_decode(t, ids, n, NULL);
    assert_string_equal(back, text);
    free(back);
    free(ids);
}

static void test_llama2c_import(void **state)
{
    (void)state;
    hl_tokenizer_t *t = fx_imported("stories260K/stories260K.bin");
    assert_int_equal(hl_tokenizer_n_vocab(t), 512);
    assert_int_equal(hl_tokenizer_bos(t), 1);
    assert_true(hl_tokenizer_is_eog(t, 1)); /* run.c stops when BOS comes out again */
    check_goldens(t, "golden_tok512.tsv");
    check_story_roundtrip(t);
    hl_tokenizer_free(t);
}

static void test_gguf_import(void **state)
{
    (void)state;
    static const char *const files[] = {"stories260K-gguf-v1/tinyllamas-stories-260k-f32.gguf",
                                        "gguf/stories260K-F32.gguf", "gguf/stories260K-Q8_0.gguf"};
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
        hl_tokenizer_t *t = fx_imported(files[i]);
        assert_int_equal(hl_tokenizer_n_vocab(t), 512);
        assert_int_equal(hl_tokenizer_bos(t), 1);
        assert_int_equal(hl_tokenizer_eos(t), 2);
        check_goldens(t, "golden_tok512.tsv");
        check_story_roundtrip(t);
        hl_tokenizer_free(t);
    }
}

static void test_hf_import(void **state)
{
    (void)state;
    hl_tokenizer_t *t = fx_imported("tinystories-656K-hf");
    assert_int_equal(hl_tokenizer_n_vocab(t), 2048);
    assert_int_equal(hl_tokenizer_bos(t), 1);
    assert_int_equal(hl_tokenizer_eos(t), 2);
    assert_true(hl_tokenizer_is_eog(t, 2));
    check_goldens(t, "golden_hf656k.tsv");
    check_story_roundtrip(t);
    hl_tokenizer_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_llama2c_import),
        cmocka_unit_test(test_gguf_import),
        cmocka_unit_test(test_hf_import),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
