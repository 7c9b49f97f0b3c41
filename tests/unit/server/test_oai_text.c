/* Unit tests for server/oai_text.c: stop strings and UTF-8 characters held back across token
 * pieces, flushed at the end. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/oai.h"

static hl_oai_text_t *make(const char *const *stops, size_t n)
{
    size_t lens[8];
    assert_true(n <= 8);
    for (size_t i = 0; i < n; i++)
        lens[i] = strlen(stops[i]);
    hl_oai_text_t *t = NULL;
    assert_int_equal(hl_oai_text_create(stops, lens, n, &t), 0);
    return t;
}

/* Pushes a piece and checks what comes out. */
static void push(hl_oai_text_t *t, const char *piece, const char *want, bool want_stop)
{
    const char *emit;
    size_t len;
    bool stopped;
    assert_int_equal(hl_oai_text_push(t, piece, strlen(piece), &emit, &len, &stopped), 0);
    if (len != strlen(want) || memcmp(emit, want, len) || stopped != want_stop)
        fail_msg("piece '%s': emitted '%.*s' (stop %d), want '%s' (stop %d)", piece, (int)len,
                 emit, stopped, want, want_stop);
}

static void flush(hl_oai_text_t *t, const char *want)
{
    const char *emit;
    size_t len;
    assert_int_equal(hl_oai_text_flush(t, &emit, &len), 0);
    assert_int_equal(len, strlen(want));
    assert_memory_equal(emit, want, len);
}

static void test_no_stops_passes_text(void **state)
{
    (void)state;
    hl_oai_text_t *t = make(NULL, 0);
    push(t, "Hel", "Hel", false);
    push(t, "lo", "lo", false);
    push(t, "", "", false);
    flush(t, "");
    assert_int_equal(hl_oai_text_chars(t), 5);
    hl_oai_text_free(t);
    hl_oai_text_free(NULL);
}

static void test_stop_split_across_pieces(void **state)
{
    (void)state;
    const char *stops[] = {"END", "\nUser:"};
    hl_oai_text_t *t = make(stops, 2);
    push(t, "abc E", "abc ", false);
    push(t, "N", "", false);
    push(t, "D and more", "", true);
    push(t, "later", "", true); /* nothing after a stop */
    flush(t, "");
    assert_int_equal(hl_oai_text_chars(t), 4);
    hl_oai_text_free(t);

    /* A held prefix that turns out not to be a stop is released. */
    t = make(stops, 2);
    push(t, "xE", "x", false);
    push(t, "N", "", false);
    push(t, "x", "ENx", false);
    push(t, "\nUs", "", false);
    flush(t, "\nUs");
    hl_oai_text_free(t);

    /* A stop at the very start gives empty text. */
    t = make(stops, 2);
    push(t, "\n", "", false);
    push(t, "User: hi", "", true);
    hl_oai_text_free(t);

    /* A stop inside one piece: the text before it is emitted at once. */
    t = make(stops, 2);
    push(t, "one END two", "one ", true);
    hl_oai_text_free(t);
}

static void test_utf8_held_across_pieces(void **state)
{
    (void)state;
    hl_oai_text_t *t = make(NULL, 0);
    push(t, "a\xC3", "a", false);
    push(t, "\xA9" "b", "\xC3\xA9" "b", false);
    /* A 4-byte character split into single bytes appears only when complete. */
    push(t, "\xF0", "", false);
    push(t, "\x9F", "", false);
    push(t, "\x98", "", false);
    push(t, "\x80", "\xF0\x9F\x98\x80", false);
    assert_int_equal(hl_oai_text_chars(t), 4); /* a, é, b, 😀 */
    /* An incomplete character at the end is flushed as one U+FFFD. */
    push(t, "x\xE2\x82", "x", false);
    flush(t, "\xEF\xBF\xBD");
    assert_int_equal(hl_oai_text_chars(t), 6);
    hl_oai_text_free(t);

    /* Bytes that can never complete a character are not held (the renderer replaces them). */
    t = make(NULL, 0);
    push(t, "\xFF", "\xFF", false);
    push(t, "\xC3(", "\xC3(", false);
    push(t, "\xE0\x80", "\xE0\x80", false); /* overlong start */
    push(t, "\xED\xA0", "\xED\xA0", false); /* surrogate start */
    push(t, "\xC3", "", false);
    push(t, "\xC3", "\xC3", false); /* the first C3 is now known to be cut off */
    flush(t, "\xEF\xBF\xBD");
    hl_oai_text_free(t);
}

static void test_stop_and_utf8_together(void **state)
{
    (void)state;
    const char *stops[] = {"\xC3\xA9!"};
    hl_oai_text_t *t = make(stops, 1);
    push(t, "a\xC3", "a", false);
    push(t, "\xA9", "", false);
    push(t, "?", "\xC3\xA9?", false);
    push(t, "\xC3\xA9", "", false);
    push(t, "!x", "", true);
    assert_int_equal(hl_oai_text_chars(t), 3);
    hl_oai_text_free(t);

    /* Earliest stop in the text seen wins. */
    const char *two[] = {"bc", "abcd"};
    t = make(two, 2);
    push(t, "xabcd", "x", true);
    hl_oai_text_free(t);
}

static void test_utf8_chars(void **state)
{
    (void)state;
    assert_int_equal(hl_oai_utf8_chars("", 0), 0);
    assert_int_equal(hl_oai_utf8_chars("abc", 3), 3);
    assert_int_equal(hl_oai_utf8_chars("\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80", 9), 3);
    /* Stray and cut-off bytes count one each, like the U+FFFD they render as. */
    assert_int_equal(hl_oai_utf8_chars("\xFF\xC3", 2), 2);
    assert_int_equal(hl_oai_utf8_chars("\xE2\x82", 2), 2);
}

static void test_invalid_stops(void **state)
{
    (void)state;
    const char *stops[] = {"a", ""};
    size_t lens[] = {1, 0};
    hl_oai_text_t *t = (hl_oai_text_t *)1;
    assert_int_equal(hl_oai_text_create(stops, lens, 2, &t), HL_EINVAL);
    assert_null(t);
}

/* Random texts cut into random pieces: the assembled output equals the text up to the first
 * stop string, every emitted piece ends on a character boundary and the output never
 * contains (part of) a stop string that was held. Stops are chosen so that none contains
 * another, which makes "first" independent of how the text is cut. */
static void test_random_pieces(void **state)
{
    (void)state;
    const char *stops[] = {"abc", "ca", "\xC3\xA9!"};
    const char *alphabet[] = {"a", "b", "c", "!", " ", "\xC3\xA9", "\xE2\x82\xAC",
                              "\xF0\x9F\x98\x80"};
    uint64_t rng = 12345;
    for (int iter = 0; iter < 2000; iter++) {
        char text[256];
        size_t len = 0;
        size_t n_chars = 1 + (size_t)((rng = rng * 6364136223846793005ull + 1442695040888963407ull) >> 59);
        for (size_t i = 0; i < n_chars * 3 && len + 4 < sizeof text; i++) {
            rng = rng * 6364136223846793005ull + 1442695040888963407ull;
            const char *c = alphabet[(rng >> 33) % HL_ARRAY_SIZE(alphabet)];
            memcpy(text + len, c, strlen(c));
            len += strlen(c);
        }
        /* Reference: cut at the earliest occurrence of any stop. */
        size_t cut = len;
        bool stops_here = false;
        for (size_t s = 0; s < HL_ARRAY_SIZE(stops); s++) {
            size_t m = strlen(stops[s]);
            for (size_t i = 0; i + m <= len; i++)
                if (!memcmp(text + i, stops[s], m)) {
                    if (i < cut)
                        cut = i;
                    stops_here = true;
                    break;
                }
        }
        hl_oai_text_t *t = make(stops, HL_ARRAY_SIZE(stops));
        char out[512];
        size_t out_len = 0;
        bool stopped = false;
        for (size_t pos = 0; pos < len && !stopped;) {
            rng = rng * 6364136223846793005ull + 1442695040888963407ull;
            size_t piece = 1 + (size_t)((rng >> 40) % 5);
            if (piece > len - pos)
                piece = len - pos;
            const char *emit;
            size_t elen;
            assert_int_equal(hl_oai_text_push(t, text + pos, piece, &emit, &elen, &stopped), 0);
            memcpy(out + out_len, emit, elen);
            out_len += elen;
            /* Every emitted piece ends on a character boundary. */
            if (elen) {
                size_t k = elen;
                while (k > 0 && ((unsigned char)emit[k - 1] & 0xC0) == 0x80)
                    k--;
                assert_true(k > 0);
                unsigned char lead = (unsigned char)emit[k - 1];
                size_t need = lead < 0x80 ? 1 : lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : 2;
                assert_int_equal(elen - (k - 1), need);
            }
            pos += piece;
        }
        const char *emit;
        size_t elen;
        assert_int_equal(hl_oai_text_flush(t, &emit, &elen), 0);
        memcpy(out + out_len, emit, elen);
        out_len += elen;
        assert_int_equal(stopped, stops_here);
        if (out_len != cut || memcmp(out, text, cut))
            fail_msg("iteration %d: '%.*s' gave '%.*s', want the first %zu bytes", iter, (int)len,
                     text, (int)out_len, out, cut);
        hl_oai_text_free(t);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_no_stops_passes_text),
        cmocka_unit_test(test_stop_split_across_pieces),
        cmocka_unit_test(test_utf8_held_across_pieces),
        cmocka_unit_test(test_stop_and_utf8_together),
        cmocka_unit_test(test_utf8_chars),
        cmocka_unit_test(test_invalid_stops),
        cmocka_unit_test(test_random_pieces),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
