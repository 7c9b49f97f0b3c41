/*
 * Incremental detokenizer: characters split across byte tokens come out only when
 * complete, impossible sequences become U+FFFD, flush settles a dangling prefix, and the
 * stream equals whole-sequence decoding for valid text.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fixture.h"

#define FFFD "\xEF\xBF\xBD"

static hl_tokenizer_t *tok512(void)
{
    return fx_imported("stories260K/stories260K.bin");
}

static int32_t byte_id(const hl_tokenizer_t *t, uint8_t b)
{
    char name[8];
    snprintf(name, sizeof name, "<0x%02X>", b);
    int32_t id = hl_tokenizer_find(t, name, 6);
    assert_true(id >= 0);
    return id;
}

/* Pushes `id` and checks that exactly `expect` (expect_len bytes) comes out. */
static void push_expect(hl_detok_t *d, int32_t id, const char *expect, size_t expect_len)
{
    char out[256];
    size_t n = hl_detok_push(d, id, out, sizeof out);
    assert_int_equal(n, expect_len);
    assert_memory_equal(out, expect, n);
}

static void test_split_character(void **state)
{
    (void)state;
    hl_tokenizer_t *t = tok512();
    hl_detok_t d;
    hl_detok_init(&d, t);
    char out[256];
    /* "日" = E6 97 A5, "😀" = F0 9F 98 80, one byte token each. */
    push_expect(&d, byte_id(t, 0xE6), "", 0);
    push_expect(&d, byte_id(t, 0x97), "", 0);
    push_expect(&d, byte_id(t, 0xA5), "\xE6\x97\xA5", 3);
    push_expect(&d, byte_id(t, 0xF0), "", 0);
    push_expect(&d, byte_id(t, 0x9F), "", 0);
    push_expect(&d, byte_id(t, 0x98), "", 0);
    push_expect(&d, byte_id(t, 0x80), "\xF0\x9F\x98\x80", 4);
    assert_int_equal(hl_detok_flush(&d, out, sizeof out), 0);
    hl_tokenizer_free(t);
}

static void test_flush_and_invalid(void **state)
{
    (void)state;
    hl_tokenizer_t *t = tok512();
    hl_detok_t d;
    char out[256];
    int32_t a = hl_tokenizer_find(t, "a", 1);
    assert_true(a >= 0);

    /* A dangling prefix is flushed as one U+FFFD, once. */
    hl_detok_init(&d, t);
    push_expect(&d, byte_id(t, 0xE6), "", 0);
    push_expect(&d, byte_id(t, 0x97), "", 0);
    assert_int_equal(hl_detok_flush(&d, out, sizeof out), 3);
    assert_memory_equal(out, FFFD, 3);
    assert_int_equal(hl_detok_flush(&d, out, sizeof out), 0);
    push_expect(&d, a, "a", 1);

    /* A prefix interrupted by ASCII: U+FFFD, then the ASCII. */
    push_expect(&d, byte_id(t, 0xC3), "", 0);
    push_expect(&d, a, FFFD "a", 4);
    /* Bytes that never start a character, and an overlong E0 80: U+FFFD each. */
    push_expect(&d, byte_id(t, 0xFF), FFFD, 3);
    push_expect(&d, byte_id(t, 0x80), FFFD, 3);
    push_expect(&d, byte_id(t, 0xE0), "", 0);
    push_expect(&d, byte_id(t, 0x80), FFFD FFFD, 6);
    /* A surrogate (ED A0 80) is not a character either. */
    push_expect(&d, byte_id(t, 0xED), "", 0);
    push_expect(&d, byte_id(t, 0xA0), FFFD FFFD, 6);
    push_expect(&d, byte_id(t, 0x80), FFFD, 3);
    /* A new lead byte interrupts the previous prefix. */
    push_expect(&d, byte_id(t, 0xE6), "", 0);
    push_expect(&d, byte_id(t, 0xC3), FFFD, 3);
    push_expect(&d, byte_id(t, 0xA9), "\xC3\xA9", 2);
    hl_tokenizer_free(t);
}

static void test_leading_space_rules(void **state)
{
    (void)state;
    hl_tokenizer_t *t = tok512();
    int32_t once = hl_tokenizer_find(t, "\xE2\x96\x81Once", 7);
    assert_true(once >= 0);
    hl_detok_t d;
    hl_detok_init(&d, t);
    push_expect(&d, 1, "", 0); /* BOS prints nothing */
    push_expect(&d, once, "Once", 4);
    push_expect(&d, once, " Once", 5);
    /* Continuing after a prompt: the caller sets prev to the prompt's last token. */
    hl_detok_init(&d, t);
    d.prev = once;
    push_expect(&d, once, " Once", 5);
    hl_tokenizer_free(t);
}

static bool valid_utf8(const uint8_t *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        uint32_t c = s[i], len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3
                                              : (c >> 3) == 30 ? 4 : 0;
        if (!len || i + len > n)
            return false;
        uint32_t cp = len == 1 ? c : c & (0x7F >> len);
        for (uint32_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xC0) != 0x80)
                return false;
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        static const uint32_t min[] = {0, 0, 0x80, 0x800, 0x10000};
        if (cp < min[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return false;
        i += len;
    }
    return true;
}

static void test_stream_matches_decode(void **state)
{
    (void)state;
    hl_tokenizer_t *t = tok512();
    static const char text[] = "Lily saw a caf\xC3\xA9 \xE6\x97\xA5\xE6\x9C\xAC and \xF0\x9F\x98\x80"
                               "\n\"Hi!\" she said. The end.";
    int32_t *ids;
    size_t n;
    assert_int_equal(hl_tokenizer_encode(t, text, strlen(text), true, false, &ids, &n), 0);
    char *whole = hl_tokenizer_decode(t, ids, n, NULL);
    assert_string_equal(whole, text);
    size_t cap = hl_detok_max_out(t);
    char *out = malloc(cap), stream[512];
    size_t len = 0;
    hl_detok_t d;
    hl_detok_init(&d, t);
    for (size_t i = 0; i < n; i++) {
        size_t k = hl_detok_push(&d, ids[i], out, cap);
        assert_true(valid_utf8((const uint8_t *)out, k));
        assert_true(len + k < sizeof stream);
        memcpy(stream + len, out, k);
        len += k;
    }
    len += hl_detok_flush(&d, stream + len, sizeof stream - len);
    assert_int_equal(len, strlen(text));
    assert_memory_equal(stream, text, len);
    free(whole);
    free(ids);

    /* Random id streams: every push and flush is valid UTF-8 on its own. */
    uint64_t s = 12345;
    hl_detok_init(&d, t);
    for (int i = 0; i < 20000; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        int32_t id = (int32_t)((s >> 33) % (hl_tokenizer_n_vocab(t) + 4)) - 2;
        size_t k = hl_detok_push(&d, id, out, cap);
        assert_true(valid_utf8((const uint8_t *)out, k));
        if (i % 1000 == 999) {
            k = hl_detok_flush(&d, out, cap);
            assert_true(valid_utf8((const uint8_t *)out, k));
        }
    }
    free(out);
    hl_tokenizer_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_split_character),
        cmocka_unit_test(test_flush_and_invalid),
        cmocka_unit_test(test_leading_space_rules),
        cmocka_unit_test(test_stream_matches_decode),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
