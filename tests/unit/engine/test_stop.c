/* Unit tests for engine/stop.c: stop strings split across token boundaries. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <string.h>

#include "huffllm/engine.h"

/* Feeds pieces, appending emitted text to out; returns whether a stop string completed. */
static bool feed_all(hl_stop_t *s, const char *const *pieces, size_t n, char *out, size_t cap)
{
    bool stopped = false;
    out[0] = '\0';
    for (size_t i = 0; i < n && !stopped; i++) {
        const char *emit;
        size_t k = hl_stop_feed(s, pieces[i], strlen(pieces[i]), &emit, &stopped);
        assert_true(strlen(out) + k < cap);
        strncat(out, emit, k);
    }
    if (!stopped) {
        const char *emit;
        size_t k = hl_stop_flush(s, &emit);
        strncat(out, emit, k);
    }
    return stopped;
}

static void test_stop_across_tokens(void **state)
{
    (void)state;
    const char *stops[] = {"STOP"};
    hl_stop_t *s;
    assert_int_equal(hl_stop_create(stops, 1, &s), 0);
    const char *emit;
    bool stopped;
    assert_int_equal(hl_stop_feed(s, "Hello ST", 8, &emit, &stopped), 6);
    assert_memory_equal(emit, "Hello ", 6);
    assert_false(stopped);
    assert_int_equal(hl_stop_feed(s, "O", 1, &emit, &stopped), 0); /* "STO" held */
    assert_false(stopped);
    assert_int_equal(hl_stop_feed(s, "Px", 2, &emit, &stopped), 0);
    assert_true(stopped);
    assert_int_equal(hl_stop_feed(s, "more", 4, &emit, &stopped), 0);
    assert_true(stopped);
    assert_int_equal(hl_stop_flush(s, &emit), 0);
    hl_stop_free(s);
}

static void test_held_text_released(void **state)
{
    (void)state;
    const char *stops[] = {"abc"};
    hl_stop_t *s;
    assert_int_equal(hl_stop_create(stops, 1, &s), 0);
    char out[64];
    const char *pieces[] = {"xa", "b", "d", "ab"};
    assert_false(feed_all(s, pieces, 4, out, sizeof out));
    assert_string_equal(out, "xabdab"); /* "ab" held at the end, flushed */
    hl_stop_free(s);
}

static void test_earliest_of_several(void **state)
{
    (void)state;
    const char *stops[] = {"world", "\n\n", "lo w"};
    hl_stop_t *s;
    assert_int_equal(hl_stop_create(stops, 3, &s), 0);
    char out[64];
    const char *pieces[] = {"hel", "lo", " ", "wor", "ld"};
    assert_true(feed_all(s, pieces, 5, out, sizeof out));
    assert_string_equal(out, "hel");
    hl_stop_free(s);

    assert_int_equal(hl_stop_create(stops, 3, &s), 0);
    const char *p2[] = {"a\n", "\nb"};
    assert_true(feed_all(s, p2, 2, out, sizeof out));
    assert_string_equal(out, "a");
    hl_stop_free(s);
}

static void test_utf8_stop(void **state)
{
    (void)state;
    const char *stops[] = {"\xc3\xa9t\xc3\xa9"}; /* "été" */
    hl_stop_t *s;
    assert_int_equal(hl_stop_create(stops, 1, &s), 0);
    char out[64];
    const char *pieces[] = {"un \xc3\xa9", "t", "\xc3\xa9 chaud"};
    assert_true(feed_all(s, pieces, 3, out, sizeof out));
    assert_string_equal(out, "un ");
    hl_stop_free(s);
}

static void test_no_stops_passes_through(void **state)
{
    (void)state;
    hl_stop_t *s;
    assert_int_equal(hl_stop_create(NULL, 0, &s), 0);
    const char *emit;
    bool stopped;
    assert_int_equal(hl_stop_feed(s, "abc", 3, &emit, &stopped), 3);
    assert_memory_equal(emit, "abc", 3);
    assert_false(stopped);
    hl_stop_free(s);
}

static void test_invalid(void **state)
{
    (void)state;
    hl_stop_t *s = NULL;
    const char *empty[] = {""};
    assert_int_equal(hl_stop_create(empty, 1, &s), HL_EINVAL);
    const char *five[] = {"a", "b", "c", "d", "e"};
    assert_int_equal(hl_stop_create(five, 5, &s), HL_EINVAL);
    assert_null(s);
    hl_stop_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stop_across_tokens),
        cmocka_unit_test(test_held_text_released),
        cmocka_unit_test(test_earliest_of_several),
        cmocka_unit_test(test_utf8_stop),
        cmocka_unit_test(test_no_stops_passes_through),
        cmocka_unit_test(test_invalid),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
