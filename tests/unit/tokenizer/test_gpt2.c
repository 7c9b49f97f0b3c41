/*
 * Byte-level BPE ("gpt2") with a small hand-made vocabulary: the GPT-2 pre-tokenizer, the
 * byte<->unicode mapping, merges strictly by rank (leftmost on ties), added tokens, and
 * exact round trips of arbitrary bytes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fixture.h"
#include "tokenizer/internal.h"

/* Ids 0..255: the mapped character of byte 0..255; then the merge results, then one
 * added control token. */
static const char *const k_merges[] = {
    "h e",          /* 256 he */
    "\xC4\xA0 t",   /* 257 Ġt  (Ġ = U+0120, the mapped space) */
    "\xC4\xA0t he", /* 258 Ġthe */
    "l l",          /* 259 ll */
    "e ll",         /* 260 ell */
    "h ell",        /* 261 hell */
    "hell o",       /* 262 hello */
    "\xC4\xA0 w",   /* 263 Ġw */
    "o r",          /* 264 or */
    "\xC4\xA0w or", /* 265 Ġwor */
    "\xC4\xA0 1",   /* 266 Ġ1 */
    "' s",          /* 267 's */
    "\xC3\x83 \xC2\xA9", /* 268 Ã© = the bytes of "é" */
};

static hl_tokenizer_t *make(bool add_prefix, const char *pre)
{
    json_t *tokens = json_array(), *merges = json_array(), *types = json_array();
    for (int b = 0; b < 256; b++) {
        uint8_t u[4];
        size_t n = hl__utf8_put(hl__gpt2_byte_to_cp((uint8_t)b), u);
        json_array_append_new(tokens, json_stringn((const char *)u, n));
        json_array_append_new(types, json_integer(1));
    }
    for (size_t i = 0; i < sizeof k_merges / sizeof *k_merges; i++) {
        json_array_append_new(merges, json_string(k_merges[i]));
        char joined[32];
        size_t k = 0;
        for (const char *p = k_merges[i]; *p; p++)
            if (*p != ' ')
                joined[k++] = *p;
        json_array_append_new(tokens, json_stringn(joined, k));
        json_array_append_new(types, json_integer(1));
    }
    json_array_append_new(tokens, json_string("<|endoftext|>"));
    json_array_append_new(types, json_integer(3));
    return fx_create(json_pack("{ss so so so si si sb ss*}", "model", "gpt2", "tokens", tokens,
                               "merges", merges, "token_types", types, "bos_id", 269, "eos_id",
                               269, "add_space_prefix", add_prefix, "pre", pre));
}

static void expect_ids(const hl_tokenizer_t *t, const char *text, bool special,
                       const int32_t *want, size_t n_want)
{
    int32_t *ids;
    size_t n;
    assert_int_equal(hl_tokenizer_encode(t, text, strlen(text), false, special, &ids, &n), 0);
    assert_int_equal(n, n_want);
    assert_memory_equal(ids, want, n * sizeof *ids);
    free(ids);
}

static void test_merges_by_rank(void **state)
{
    (void)state;
    hl_tokenizer_t *t = make(false, NULL);
    assert_int_equal(hl_tokenizer_n_vocab(t), 270);
    /* "hello": "h e" (rank 0) fires before "l l" (rank 3), so "e ll"/"hell o" never can. */
    static const int32_t want[] = {256, 259, 'o', 258, 265, 'l', 'd', 267, 266,
                                   ' ', 'c', 'a', 'f', 268, 269};
    expect_ids(t, "hello the world's 1 caf\xC3\xA9<|endoftext|>", true, want,
               sizeof want / sizeof *want);
    /* Ties go to the leftmost pair. */
    static const int32_t lll[] = {259, 'l'};
    expect_ids(t, "lll", false, lll, 2);
    /* Without parse_special the marker is text, split by the pre-tokenizer. */
    int32_t *ids;
    size_t n;
    assert_int_equal(hl_tokenizer_encode(t, "<|endoftext|>", 13, false, false, &ids, &n), 0);
    assert_int_equal(n, 13);
    assert_int_equal(ids[0], '<');
    free(ids);

    char *s = hl_tokenizer_decode(t, want, sizeof want / sizeof *want, NULL);
    assert_string_equal(s, "hello the world's 1 caf\xC3\xA9");
    free(s);
    char piece[16];
    assert_int_equal(hl_tokenizer_piece(t, -1, 258, piece, sizeof piece), 4);
    assert_memory_equal(piece, " the", 4);
    assert_int_equal(hl_tokenizer_piece(t, -1, 269, piece, sizeof piece), 0);
    size_t len;
    assert_memory_equal(hl_tokenizer_token_text(t, 258, &len), "\xC4\xA0the", 5);
    assert_true(hl_tokenizer_is_eog(t, 269));
    hl_tokenizer_free(t);
}

static void test_llama3_ignore_merges(void **state)
{
    (void)state;
    /* Llama 3 takes a pre-token that is a token whole: "hello" is 262 although the merges
     * stop at he+ll+o; GPT-2 rules do not. */
    hl_tokenizer_t *t = make(false, "llama-bpe");
    static const int32_t whole[] = {262, 258};
    expect_ids(t, "hello the", false, whole, 2);
    hl_tokenizer_free(t);
    t = make(false, "gpt-2");
    static const int32_t merged[] = {256, 259, 'o', 258};
    expect_ids(t, "hello the", false, merged, 4);
    hl_tokenizer_free(t);
}

static void test_prefix_space(void **state)
{
    (void)state;
    hl_tokenizer_t *t = make(true, NULL);
    static const int32_t want[] = {258};
    expect_ids(t, "the", false, want, 1);
    expect_ids(t, " the", false, want, 1); /* no second prefix when one is there */
    hl_tokenizer_free(t);
}

static void test_roundtrip_any_bytes(void **state)
{
    (void)state;
    hl_tokenizer_t *t = make(false, NULL);
    uint64_t s = 77;
    char buf[300];
    for (int r = 0; r < 300; r++) {
        size_t len = (size_t)r % 97 + 1;
        for (size_t k = 0; k < len; k++) {
            s = s * 6364136223846793005ull + 1442695040888963407ull;
            uint8_t b = (uint8_t)(s >> 56);
            buf[k] = (char)(r % 2 ? b : " heloorwd'1\n\t"[b % 13]);
        }
        int32_t *ids;
        size_t n, out_len;
        assert_int_equal(hl_tokenizer_encode(t, buf, len, false, false, &ids, &n), 0);
        char *back = hl_tokenizer_decode(t, ids, n, &out_len);
        assert_int_equal(out_len, len);
        assert_memory_equal(back, buf, len);
        free(back);
        free(ids);
    }
    hl_tokenizer_free(t);
}

/* Splits s with the pre-tokenizer `pre` and compares with the list `want`. */
static void expect_split_pre(hl__pre_t pre, const char *s, const char *const *want,
                             size_t n_want)
{
    size_t len = strlen(s), k = 0;
    for (size_t i = 0; i < len; k++) {
        size_t w = hl__pretoken(pre, (const uint8_t *)s + i, len - i);
        assert_true(w > 0 && k < n_want);
        if (w != strlen(want[k]) || memcmp(s + i, want[k], w) != 0)
            fail_msg("pre-token %zu of \"%s\": \"%.*s\", expected \"%s\"", k, s, (int)w, s + i,
                     want[k]);
        i += w;
    }
    assert_int_equal(k, n_want);
}

static void expect_split(const char *s, const char *const *want, size_t n_want)
{
    expect_split_pre(HL__PRE_GPT2, s, want, n_want);
}

static void test_pretokenizer(void **state)
{
    (void)state;
    /* Expected splits from Python's re with the GPT-2 pattern written in classes it knows
     * (letters [^\W\d_], numbers \d). */
    static const char *const a[] = {"Hello", " world", "'s", " ", " end", "\n\n", " 123", "abc",
                                    "!!!", " caf\xC3\xA9", " \xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E",
                                    "\xF0\x9F\x98\x80", "  ", "\t", "x", "  "};
    expect_split("Hello world's  end\n\n 123abc!!! caf\xC3\xA9 \xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E"
                 "\xF0\x9F\x98\x80  \tx  ",
                 a, sizeof a / sizeof *a);
    static const char *const b[] = {"I",  "'ll", " don", "'t", " '", "RE",          " __",
                                    "init", "__", " a",  "_",   "b",  "\r\n\r\n"};
    expect_split("I'll don't 'RE __init__ a_b\r\n\r\n", b, sizeof b / sizeof *b);
    static const char *const c[] = {"x", "\xE3\x80\x80", "y", " ", " z"};
    expect_split("x\xE3\x80\x80y  z", c, sizeof c / sizeof *c);
    static const char *const d[] = {"\xCE\x95\xCE\xBB\xCE\xBB\xCE\xB7\xCE\xBD\xCE\xB9\xCE\xBA"
                                    "\xCE\xAC",
                                    ",", " \xD0\xBA\xD0\xB8\xD1\x80\xD0\xB8\xD0\xBB\xD0\xBB\xD0\xB8"
                                         "\xD1\x86\xD0\xB0",
                                    ";", " \xD9\xA1\xD9\xA2\xD9\xA3", " !"};
    expect_split("\xCE\x95\xCE\xBB\xCE\xBB\xCE\xB7\xCE\xBD\xCE\xB9\xCE\xBA\xCE\xAC, \xD0\xBA"
                 "\xD0\xB8\xD1\x80\xD0\xB8\xD0\xBB\xD0\xBB\xD0\xB8\xD1\x86\xD0\xB0; \xD9\xA1\xD9"
                 "\xA2\xD9\xA3 !",
                 d, sizeof d / sizeof *d);
    static const char *const e[] = {"  "};
    expect_split("  ", e, 1);
}

static void test_pretokenizer_llama3_qwen2(void **state)
{
    (void)state;
    /* Expected splits from Python's re with the Llama 3 / Qwen2 patterns (as above). */
    assert_int_equal(hl__pre_from_name("llama-bpe"), HL__PRE_LLAMA3);
    assert_int_equal(hl__pre_from_name("qwen2"), HL__PRE_QWEN2);
    assert_int_equal(hl__pre_from_name("gpt-2"), HL__PRE_GPT2);
    assert_int_equal(hl__pre_from_name(NULL), HL__PRE_GPT2);
    /* The Split regexes of Llama 3's and Qwen2's tokenizer.json. */
    assert_int_equal(hl__pre_from_name("(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?"
                                       "\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"
                                       "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"),
                     HL__PRE_LLAMA3);
    assert_int_equal(hl__pre_from_name("(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?"
                                       "\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"
                                       "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"),
                     HL__PRE_QWEN2);
    static const char s1[] = "I'LL pay 1234567 dollars, (ok)?\n\n  \n  Next\tline's END!!\r\n";
    static const char *const l1[] = {"I",   "'LL",        " pay", " ",     "123",   "456",
                                     "7",   " dollars",   ",",    " (",    "ok",    ")?\n\n",
                                     "  \n", " ",          " Next", "\tline", "'s",    " END",
                                     "!!\r\n"};
    expect_split_pre(HL__PRE_LLAMA3, s1, l1, sizeof l1 / sizeof *l1);
    static const char *const q1[] = {"I",   "'LL",    " pay", " ",   "1",      "2",     "3",
                                     "4",   "5",      "6",    "7",   " dollars", ",",   " (",
                                     "ok",  ")?\n\n", "  \n", " ",   " Next",  "\tline", "'s",
                                     " END", "!!\r\n"};
    expect_split_pre(HL__PRE_QWEN2, s1, q1, sizeof q1 / sizeof *q1);
    static const char s2[] = "x  12 a_b __init__ caf\xC3\xA9 \xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E"
                             "\xF0\x9F\x98\x80\n";
    static const char *const l2[] = {"x",     " ",    " ",      "12", " a",
                                     "_b",    " __",  "init",   "__", " caf\xC3\xA9",
                                     " \xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E", "\xF0\x9F\x98\x80\n"};
    expect_split_pre(HL__PRE_LLAMA3, s2, l2, sizeof l2 / sizeof *l2);
}

static void test_pretokenizer_golden(void **state)
{
    (void)state;
    /* 600 random strings over many scripts, marks, symbols and spaces, split by
     * JavaScript's RegExp with exact \p{L}/\p{N} (ref_pretok.mjs). */
    static const hl__pre_t k_pre[] = {HL__PRE_GPT2, HL__PRE_LLAMA3, HL__PRE_QWEN2};
    char *path = fx_test_path("golden_pretok.jsonl");
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char line[4096];
    size_t n = 0;
    while (fgets(line, sizeof line, f)) {
        json_error_t jerr;
        json_t *row = json_loads(line, 0, &jerr);
        assert_non_null(row);
        const char *s = json_string_value(json_array_get(row, 0));
        size_t len = json_string_length(json_array_get(row, 0));
        for (size_t m = 0; m < 3; m++) {
            const json_t *want = json_array_get(row, 1 + m);
            size_t k = 0;
            for (size_t i = 0; i < len; k++) {
                size_t w = hl__pretoken(k_pre[m], (const uint8_t *)s + i, len - i);
                const json_t *x = json_array_get(want, k);
                if (!x || json_string_length(x) != w || memcmp(json_string_value(x), s + i, w))
                    fail_msg("line %zu, family %zu: pre-token %zu is \"%.*s\", expected \"%s\"",
                             n + 1, m, k, (int)w, s + i, x ? json_string_value(x) : "(end)");
                i += w;
            }
            assert_int_equal(k, json_array_size(want));
        }
        json_decref(row);
        n++;
    }
    fclose(f);
    free(path);
    assert_int_equal(n, 600);
}

static void test_bytelevel_goldens(void **state)
{
    (void)state;
    /* A 557-token byte-level tokenizer.json; ids from Hugging Face's tokenizers.js. */
    char *path = fx_test_path("bytelevel_tokenizer.json");
    hl_tokenizer_t *t = fx_create(fx_hf_desc(path, -1, 556));
    free(path);
    path = fx_test_path("golden_bytelevel.tsv");
    size_t n;
    fx_golden_t *g = fx_goldens(path, &n);
    assert_true(n >= 15);
    for (size_t i = 0; i < n; i++) {
        int32_t *ids;
        size_t n_ids, len;
        assert_int_equal(hl_tokenizer_encode(t, g[i].text, g[i].len, false, false, &ids, &n_ids),
                         0);
        if (n_ids != g[i].n_ids || memcmp(ids, g[i].ids, n_ids * sizeof *ids) != 0)
            fail_msg("golden_bytelevel.tsv line %zu (\"%.40s\"): ids differ", i + 1, g[i].text);
        char *back = hl_tokenizer_decode(t, ids, n_ids, &len);
        assert_int_equal(len, g[i].len);
        assert_memory_equal(back, g[i].text, len);
        free(back);
        free(ids);
    }
    fx_goldens_free(g, n);
    free(path);
    hl_tokenizer_free(t);
}

static void test_byte_map(void **state)
{
    (void)state;
    /* bytes_to_unicode: printable bytes stay, the others count up from U+0100. */
    assert_int_equal(hl__gpt2_byte_to_cp('A'), 'A');
    assert_int_equal(hl__gpt2_byte_to_cp(0x00), 0x100);
    assert_int_equal(hl__gpt2_byte_to_cp(' '), 0x120);
    assert_int_equal(hl__gpt2_byte_to_cp('\n'), 0x10A);
    assert_int_equal(hl__gpt2_byte_to_cp(0x7F), 0x121);
    assert_int_equal(hl__gpt2_byte_to_cp(0xAD), 0x143);
    for (int b = 0; b < 256; b++)
        assert_int_equal(hl__gpt2_cp_to_byte(hl__gpt2_byte_to_cp((uint8_t)b)), b);
    assert_int_equal(hl__gpt2_cp_to_byte(0x144), -1);
    assert_int_equal(hl__gpt2_cp_to_byte(' '), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_merges_by_rank),
        cmocka_unit_test(test_prefix_space),
        cmocka_unit_test(test_llama3_ignore_merges),
        cmocka_unit_test(test_roundtrip_any_bytes),
        cmocka_unit_test(test_pretokenizer),
        cmocka_unit_test(test_pretokenizer_llama3_qwen2),
        cmocka_unit_test(test_pretokenizer_golden),
        cmocka_unit_test(test_bytelevel_goldens),
        cmocka_unit_test(test_byte_map),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
