/*
 * SentencePiece-style tokenizers on the real vocabularies: agreement with the golden ids
 * of ref_tokenize.py (llama2.c run.c encode over tok512.bin, Hugging Face BPE over the
 * tinystories-656K tokenizer.json), round trips, special tokens, accessors, bad input.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fixture.h"

/* tok512 as the importer describes it, or (raw_spaces) as the .bin spells it: ' '. */
static hl_tokenizer_t *tok512(bool raw_spaces)
{
    if (!raw_spaces)
        return fx_imported("stories260K/stories260K.bin");
    char *path = fx_model_path("stories260K/tok512.bin");
    hl_tokenizer_t *t = fx_create(fx_llama2c_desc(path, false));
    free(path);
    return t;
}

static hl_tokenizer_t *hf656k(void)
{
    return fx_imported("tinystories-656K-hf");
}

static void check_goldens(hl_tokenizer_t *t, const char *file)
{
    char *path = fx_test_path(file);
    size_t n;
    fx_golden_t *g = fx_goldens(path, &n);
    assert_true(n >= 15);
    for (size_t i = 0; i < n; i++) {
        int32_t *ids;
        size_t n_ids;
        assert_int_equal(hl_tokenizer_encode(t, g[i].text, g[i].len, false, false, &ids, &n_ids),
                         0);
        if (n_ids != g[i].n_ids || memcmp(ids, g[i].ids, n_ids * sizeof *ids) != 0) {
            size_t k = 0;
            while (k < n_ids && k < g[i].n_ids && ids[k] == g[i].ids[k])
                k++;
            fail_msg("%s line %zu (\"%.40s\"): %zu ids, expected %zu; first difference at %zu",
                     file, i + 1, g[i].text, n_ids, g[i].n_ids, k);
        }
        free(ids);
    }
    fx_goldens_free(g, n);
    free(path);
}

static void test_tok512_goldens(void **state)
{
    (void)state;
    /* The vocabulary as SentencePiece spells it (U+2581) and as the .bin does (' '). */
    for (int v = 0; v < 2; v++) {
        hl_tokenizer_t *t = tok512(v == 1);
        assert_int_equal(hl_tokenizer_n_vocab(t), 512);
        check_goldens(t, "golden_tok512.tsv");
        hl_tokenizer_free(t);
    }
    /* A token with "▁" after another character (one no text here can form: U+0001 has no
     * token, so it is a byte-fallback symbol) turns off the per-word split: the whole
     * fragment goes through one heap, with the same results. */
    char *path = fx_model_path("stories260K/tok512.bin");
    json_t *d = fx_llama2c_desc(path, true);
    free(path);
    json_array_append_new(json_object_get(d, "tokens"), json_string("\x01\xE2\x96\x81"));
    json_array_append_new(json_object_get(d, "scores"), json_real(0.0));
    json_array_append_new(json_object_get(d, "token_types"), json_integer(1));
    hl_tokenizer_t *t = fx_create(d);
    check_goldens(t, "golden_tok512.tsv");
    hl_tokenizer_free(t);
}

static void test_hf656k_goldens(void **state)
{
    (void)state;
    hl_tokenizer_t *t = hf656k();
    assert_int_equal(hl_tokenizer_n_vocab(t), 2048);
    check_goldens(t, "golden_hf656k.tsv");
    hl_tokenizer_free(t);
}

static void roundtrip(const hl_tokenizer_t *t, const char *text, size_t len, bool bos)
{
    int32_t *ids;
    size_t n, out_len;
    assert_int_equal(hl_tokenizer_encode(t, text, len, bos, false, &ids, &n), 0);
    if (bos) {
        assert_true(n >= 1);
        assert_int_equal(ids[0], hl_tokenizer_bos(t));
    }
    char *back = hl_tokenizer_decode(t, ids, n, &out_len);
    assert_non_null(back);
    assert_int_equal(out_len, len);
    assert_memory_equal(back, text, len);
    free(back);
    free(ids);
}

static void test_stories260k_known_text(void **state)
{
    (void)state;
    /* llama2.c generates exactly this text from stories260K with this vocabulary. */
    static const char text[] = "Once upon a time, there was a little girl named Lily.";
    for (int v = 0; v < 2; v++) {
        hl_tokenizer_t *t = tok512(v == 1);
        int32_t *ids;
        size_t n;
        assert_int_equal(hl_tokenizer_encode(t, text, strlen(text), true, false, &ids, &n), 0);
        assert_int_equal(ids[0], 1);
        assert_true(n > 5 && n < 30);
        char piece[64];
        /* The first word after BOS loses the dummy-prefix space. */
        size_t pl = hl_tokenizer_piece(t, ids[0], ids[1], piece, sizeof piece);
        assert_true(pl == 4 && memcmp(piece, "Once", 4) == 0);
        assert_int_equal(hl_tokenizer_piece(t, -1, ids[1], piece, sizeof piece), 5);
        assert_memory_equal(piece, " Once", 5);
        char *back = hl_tokenizer_decode(t, ids, n, NULL);
        assert_string_equal(back, text);
        free(back);
        free(ids);
        hl_tokenizer_free(t);
    }
}

static void test_roundtrips(void **state)
{
    (void)state;
    static const char *const texts[] = {
        "",
        "x",
        " leading space",
        "  two leading spaces",
        "trailing  ",
        "Tom said: \"Hi!\"\nSue said: 'Bye.'\n\n\tEnd\r\n",
        "caf\xC3\xA9 na\xC3\xAFve \xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E \xF0\x9F\x98\x80!",
    };
    /* Invalid UTF-8: lone continuations, truncated sequences, overlong, 0xFF, NUL. */
    static const char invalid[] = "\x80\xBF abc \xC3 \xE6\x97 \xF0\x9F\x98 \xC0\xAF \xFF\xFE\x00 end";
    hl_tokenizer_t *t = tok512(false);
    for (size_t i = 0; i < sizeof texts / sizeof *texts; i++) {
        roundtrip(t, texts[i], strlen(texts[i]), true);
        roundtrip(t, texts[i], strlen(texts[i]), false);
    }
    roundtrip(t, invalid, sizeof invalid - 1, true);
    roundtrip(t, invalid, sizeof invalid - 1, false);
    /* Random byte strings, seeded. */
    uint64_t s = 0x9E3779B97F4A7C15ull;
    char buf[200];
    for (int r = 0; r < 200; r++) {
        size_t len = (size_t)(r % 64) + 1;
        for (size_t k = 0; k < len; k++) {
            s = s * 6364136223846793005ull + 1442695040888963407ull;
            uint8_t b = (uint8_t)(s >> 56);
            buf[k] = (char)(r % 2 ? b : (b % 96) + 32); /* half printable, half any byte */
        }
        roundtrip(t, buf, len, r % 3 != 0);
    }
    hl_tokenizer_free(t);
}

static void test_long_text_is_fast_and_exact(void **state)
{
    (void)state;
    /* 100 KiB of story text: the heap-based merge is O(n log n); the O(n^2) loop of
     * run.c would take minutes here. */
    static const char para[] = "Once upon a time, there was a little girl named Lily. She "
                               "loved to play outside in the park. \xE6\x97\xA5 ";
    size_t plen = strlen(para), reps = (100u << 10) / plen, len = plen * reps;
    char *text = malloc(len + 1);
    assert_non_null(text);
    for (size_t i = 0; i < reps; i++)
        memcpy(text + i * plen, para, plen);
    hl_tokenizer_t *t = tok512(false);
    double t0 = hl_now();
    roundtrip(t, text, len, true);
    double dt = hl_now() - t0;
    print_message("encode+decode of %zu bytes: %.3f s\n", len, dt);
    /* Each repetition tokenizes the same way: merges cannot cross the byte tokens of the
     * last character, and the trailing "▁" joins the next "Once" as the dummy prefix did. */
    int32_t *ids, *one;
    size_t n, n1;
    assert_int_equal(hl_tokenizer_encode(t, text, len, false, false, &ids, &n), 0);
    assert_int_equal(hl_tokenizer_encode(t, para, plen, false, false, &one, &n1), 0);
    assert_int_equal(n, (n1 - 1) * reps + 1);
    free(ids);
    free(one);
    hl_tokenizer_free(t);
    free(text);
}

static void test_special_tokens(void **state)
{
    (void)state;
    hl_tokenizer_t *t = hf656k();
    static const char text[] = "<|start_story|>Once upon a time<|end_story|>";
    int32_t *ids;
    size_t n;
    assert_int_equal(hl_tokenizer_encode(t, text, strlen(text), false, true, &ids, &n), 0);
    assert_true(n >= 4);
    assert_int_equal(ids[0], 1);
    assert_int_equal(ids[n - 1], 2);
    char *back = hl_tokenizer_decode(t, ids, n, NULL);
    assert_string_equal(back, "Once upon a time"); /* control tokens print nothing */
    free(back);
    free(ids);
    /* Without parse_special the markers are plain text. */
    assert_int_equal(hl_tokenizer_encode(t, text, strlen(text), false, false, &ids, &n), 0);
    for (size_t i = 0; i < n; i++)
        assert_true(ids[i] != 1 && ids[i] != 2);
    free(ids);
    assert_int_equal(hl_tokenizer_find(t, "<|end_story|>", 13), 2);
    assert_int_equal(hl_tokenizer_find(t, "no such token", 13), -1);
    size_t len;
    assert_string_equal(hl_tokenizer_token_text(t, 2, &len), "<|end_story|>");
    assert_int_equal(len, 13);
    assert_null(hl_tokenizer_token_text(t, 5000, &len));
    hl_tokenizer_free(t);

    /* The importer names tok512's BOS "<s>" (the .bin says "\n<s>\n"); it prints nothing. */
    t = tok512(false);
    static const char bos_text[] = "a\n<s>\nb";
    assert_int_equal(hl_tokenizer_encode(t, bos_text, 7, false, true, &ids, &n), 0);
    bool found = false;
    for (size_t i = 0; i < n; i++)
        found |= ids[i] == 1;
    assert_true(found);
    free(ids);
    char piece[16];
    assert_int_equal(hl_tokenizer_piece(t, -1, 1, piece, sizeof piece), 0);
    hl_tokenizer_free(t);
}

static void test_accessors(void **state)
{
    (void)state;
    hl_tokenizer_t *t = tok512(true);
    assert_int_equal(hl_tokenizer_bos(t), 1);
    assert_int_equal(hl_tokenizer_eos(t), 2);
    assert_true(hl_tokenizer_add_bos(t));
    assert_false(hl_tokenizer_add_eos(t));
    assert_true(hl_tokenizer_is_eog(t, 1));
    assert_true(hl_tokenizer_is_eog(t, 2));
    assert_false(hl_tokenizer_is_eog(t, 3));
    /* Byte tokens give their byte; the space symbol gives ' '. */
    char piece[16];
    int32_t nl = hl_tokenizer_find(t, "<0x0A>", 6);
    assert_true(nl >= 0);
    assert_int_equal(hl_tokenizer_piece(t, -1, nl, piece, sizeof piece), 1);
    assert_int_equal(piece[0], '\n');
    assert_int_equal(hl_tokenizer_piece(t, -1, -5, piece, sizeof piece), 0);
    /* snprintf-like: the full length comes back even when cap is short. */
    int32_t the = hl_tokenizer_find(t, " the", 4);
    assert_true(the >= 0);
    assert_int_equal(hl_tokenizer_piece(t, -1, the, piece, 2), 4);
    assert_memory_equal(piece, " t", 2);
    assert_int_equal(hl_tokenizer_piece(t, -1, the, NULL, 0), 4);
    assert_true(hl_detok_max_out(t) >= 3 * 4);
    hl_tokenizer_free(t);

    /* A token that is not UTF-8 comes as {"bytes": hex} and stays those bytes. */
    t = fx_create(json_pack("{ss s[{ss}s] s[ff] sb}", "model", "llama", "tokens", "bytes", "ff00",
                            "a", "scores", 0.0, 0.0, "add_space_prefix", 0));
    size_t tl;
    const char *tt = hl_tokenizer_token_text(t, 0, &tl);
    assert_int_equal(tl, 2);
    assert_memory_equal(tt, "\xff\x00", 2);
    assert_int_equal(hl_tokenizer_find(t, "\xff\x00", 2), 0);
    assert_int_equal(hl_tokenizer_piece(t, -1, 0, piece, sizeof piece), 2);
    assert_memory_equal(piece, "\xff\x00", 2);
    hl_tokenizer_free(t);

    /* add_bos false and no special ids. */
    json_t *d = json_pack("{ss s[sss] s[fff] sb}", "model", "llama", "tokens", "a", "b", "ab",
                          "scores", 0.0, 0.0, 1.0, "add_space_prefix", 0);
    t = fx_create(d);
    assert_int_equal(hl_tokenizer_bos(t), -1);
    assert_false(hl_tokenizer_add_bos(t));
    assert_false(hl_tokenizer_is_eog(t, 0));
    int32_t *ids;
    size_t n;
    assert_int_equal(hl_tokenizer_encode(t, "ab", 2, true, false, &ids, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(ids[0], 2);
    free(ids);
    /* No byte tokens, no unk: a character the vocabulary cannot write is an error. */
    assert_int_equal(hl_tokenizer_encode(t, "abc", 3, false, false, &ids, &n), HL_EINVAL);
    assert_null(ids);
    hl_tokenizer_free(t);
}

static void expect_bad(const char *json, int code, const char *needle)
{
    json_error_t jerr;
    json_t *d = json_loads(json, 0, &jerr);
    assert_non_null(d);
    hl_tokenizer_t *t = (hl_tokenizer_t *)1;
    hl_error_t err = {0};
    assert_int_equal(hl_tokenizer_create(d, &t, &err), code);
    assert_null(t);
    if (!strstr(err.msg, needle))
        fail_msg("error \"%s\" does not mention \"%s\"", err.msg, needle);
    json_decref(d);
}

static void test_bad_descriptions(void **state)
{
    (void)state;
    expect_bad("[]", HL_EFORMAT, "object");
    expect_bad("{\"model\":\"bert\",\"tokens\":[\"a\"]}", HL_EUNSUPPORTED, "bert");
    expect_bad("{\"model\":\"llama\",\"tokens\":[]}", HL_EFORMAT, "tokens");
    expect_bad("{\"model\":\"llama\",\"tokens\":[\"a\",3],\"scores\":[0,0]}", HL_EFORMAT,
               "tokens[1]");
    expect_bad("{\"model\":\"llama\",\"tokens\":[{\"bytes\":\"zz\"}],\"scores\":[0]}", HL_EFORMAT,
               "tokens[0]");
    expect_bad("{\"model\":\"llama\",\"tokens\":[\"a\",\"b\"],\"scores\":[0]}", HL_EFORMAT,
               "scores");
    expect_bad("{\"model\":\"llama\",\"tokens\":[\"a\"],\"scores\":[\"x\"]}", HL_EFORMAT,
               "scores[0]");
    expect_bad("{\"model\":\"llama\",\"tokens\":[\"a\"],\"scores\":[0],\"token_types\":[9]}",
               HL_EFORMAT, "token_types[0]");
    expect_bad("{\"model\":\"llama\",\"tokens\":[\"a\"],\"scores\":[0],\"bos_id\":1}", HL_EFORMAT,
               "bos_id");
    expect_bad("{\"model\":\"llama\",\"tokens\":[\"a\"],\"scores\":[0],\"eog_ids\":[-1]}",
               HL_EFORMAT, "eog_ids[0]");
    expect_bad("{\"model\":\"llama\",\"tokens\":[\"a\"],\"scores\":[0],\"add_bos\":1}", HL_EFORMAT,
               "add_bos");
    expect_bad("{\"model\":\"gpt2\",\"tokens\":[\"a\"],\"merges\":[\"ab\"]}", HL_EFORMAT,
               "merges[0]");
    expect_bad("{\"model\":\"llama\",\"tokens\":[\"a\"]}", HL_EFORMAT, "scores");
}

/* A random JSON value of a random kind, for mutating descriptions. */
static json_t *random_json(uint64_t *s)
{
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    switch ((*s >> 40) % 9) {
    case 0: return json_integer(-1);
    case 1: return json_integer((json_int_t)(*s >> 50));
    case 2: return json_integer(INT64_MAX);
    case 3: return json_string("\xE2\x96\x81x y");
    case 4: return json_null();
    case 5: return json_true();
    case 6: return json_real(-1e30);
    case 7: return json_pack("[sss]", "a b", "", " ");
    default: return json_pack("{s{}}", "bytes");
    }
}

/* A plausible value for an element of `key` (valid type, odd content). */
static json_t *plausible(const char *key, uint64_t *s, size_t n_vocab)
{
    static const char *const texts[] = {"", "\xE2\x96\x81", "<0xZZ>", "<0x41>", "a b", "<s>",
                                        "\xE2\x96\x81\xE2\x96\x81", "<|", "x"};
    uint64_t r = *s >> 24;
    if (strcmp(key, "tokens") == 0)
        return json_string(texts[r % (sizeof texts / sizeof *texts)]);
    if (strcmp(key, "merges") == 0)
        return json_string(r % 2 ? "a b" : "\xE2\x96\x81 t");
    if (strcmp(key, "scores") == 0)
        return json_real((double)(int64_t)(r % 2001) - 1000.0);
    if (strcmp(key, "token_types") == 0)
        return json_integer((json_int_t)(r % 7));
    if (strcmp(key, "eog_ids") == 0 || strstr(key, "_id"))
        return json_integer((json_int_t)(r % n_vocab));
    return json_boolean(r % 2);
}

static void mutate(json_t *d, uint64_t *s)
{
    static const char *const keys[] = {"tokens", "scores", "token_types", "merges", "bos_id",
                                       "eos_id", "unk_id", "eog_ids", "byte_fallback",
                                       "add_space_prefix", "fuse_unk", "model", "pre"};
    size_t n_vocab = json_array_size(json_object_get(d, "tokens"));
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    const char *key = keys[(*s >> 33) % (sizeof keys / sizeof *keys)];
    json_t *v = json_object_get(d, key);
    bool valid = (*s >> 10) % 4 != 0; /* mostly keep the type right, so some get through */
    if (json_is_array(v) && json_array_size(v) > 0) {
        for (int k = 0; k < 8; k++) {
            *s = *s * 6364136223846793005ull + 1442695040888963407ull;
            size_t i = (size_t)(*s >> 8) % json_array_size(v);
            json_array_set_new(v, i, valid ? plausible(key, s, n_vocab) : random_json(s));
        }
        if (!valid && (*s >> 5) % 2)
            json_array_remove(v, json_array_size(v) - 1);
    } else {
        json_object_set_new(d, key, valid ? plausible(key, s, n_vocab) : random_json(s));
    }
}

static void test_mutated_descriptions(void **state)
{
    (void)state;
    /* Broken descriptions must be refused with a message, or (when still valid) give a
     * tokenizer that encodes and decodes any bytes without a memory error (ASan). */
    hl_tokenizer_t *good[2] = {tok512(false), hf656k()};
    char *path = fx_model_path("stories260K/tok512.bin");
    json_t *base[2] = {fx_llama2c_desc(path, true), NULL};
    free(path);
    path = fx_test_path("bytelevel_tokenizer.json");
    base[1] = fx_hf_desc(path, -1, 556);
    free(path);
    uint64_t s = 2024;
    size_t refused = 0, accepted = 0;
    for (int r = 0; r < 200; r++) {
        json_t *d = json_deep_copy(base[r % 2]);
        mutate(d, &s);
        hl_tokenizer_t *t = NULL;
        hl_error_t err = {0};
        int rc = hl_tokenizer_create(d, &t, &err);
        json_decref(d);
        if (rc != 0) {
            assert_null(t);
            assert_true(err.msg[0] != '\0');
            refused++;
            continue;
        }
        accepted++;
        char text[64];
        for (size_t k = 0; k < sizeof text; k++) {
            s = s * 6364136223846793005ull + 1442695040888963407ull;
            text[k] = k % 2 ? (char)(s >> 56) : " ab<|>\xE2\x96\x81"[(s >> 56) % 9];
        }
        int32_t *ids;
        size_t n;
        rc = hl_tokenizer_encode(t, text, sizeof text, true, r % 3 == 0, &ids, &n);
        assert_true(rc == 0 || rc == HL_EINVAL);
        if (rc == 0) {
            char *back = hl_tokenizer_decode(t, ids, n, NULL);
            assert_non_null(back);
            free(back);
            hl_detok_t dt;
            hl_detok_init(&dt, t);
            char *out = malloc(hl_detok_max_out(t));
            for (size_t i = 0; i < n; i++)
                hl_detok_push(&dt, ids[i], out, hl_detok_max_out(t));
            hl_detok_flush(&dt, out, hl_detok_max_out(t));
            free(out);
            free(ids);
        }
        hl_tokenizer_free(t);
    }
    print_message("mutated descriptions: %zu refused, %zu accepted\n", refused, accepted);
    assert_true(refused > 20 && accepted > 20);
    json_decref(base[0]);
    json_decref(base[1]);
    hl_tokenizer_free(good[0]);
    hl_tokenizer_free(good[1]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tok512_goldens),
        cmocka_unit_test(test_hf656k_goldens),
        cmocka_unit_test(test_stories260k_known_text),
        cmocka_unit_test(test_roundtrips),
        cmocka_unit_test(test_long_text_is_fast_and_exact),
        cmocka_unit_test(test_special_tokens),
        cmocka_unit_test(test_accessors),
        cmocka_unit_test(test_bad_descriptions),
        cmocka_unit_test(test_mutated_descriptions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
