/* Unit tests for server/dist_range.c: Range, If-None-Match and If-Range parsing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "server/dist_range.h"

/* Expects a 206 range [f, l]. */
static void ok(const char *h, uint64_t size, uint64_t f, uint64_t l)
{
    uint64_t a = 12345, b = 12345;
    hl_range_result_t r = hl__range_parse(h, size, &a, &b);
    if (r != HL_RANGE_SATISFIABLE || a != f || b != l)
        fail_msg("'%s' size %llu: got %d [%llu, %llu], want 206 [%llu, %llu]", h,
                 (unsigned long long)size, (int)r, (unsigned long long)a,
                 (unsigned long long)b, (unsigned long long)f, (unsigned long long)l);
}

static void res(const char *h, uint64_t size, hl_range_result_t want)
{
    uint64_t a, b;
    hl_range_result_t r = hl__range_parse(h, size, &a, &b);
    if (r != want)
        fail_msg("'%s' size %llu: got %d, want %d", h ? h : "(null)", (unsigned long long)size,
                 (int)r, (int)want);
}

static void test_range_basic_forms(void **state)
{
    (void)state;
    ok("bytes=0-0", 100, 0, 0);       /* first byte */
    ok("bytes=99-99", 100, 99, 99);   /* last byte */
    ok("bytes=0-99", 100, 0, 99);     /* whole file as a range */
    ok("bytes=10-", 100, 10, 99);     /* open-ended */
    ok("bytes=-1", 100, 99, 99);      /* suffix: last byte */
    ok("bytes=-100", 100, 0, 99);     /* suffix = size */
    ok("bytes=-500", 100, 0, 99);     /* suffix longer than the file: whole file */
    ok("bytes=50-1000", 100, 50, 99); /* end past the file is clamped */
    ok("BYTES=1-2", 100, 1, 2);       /* unit is case-insensitive */
    ok("  bytes=1-2  ", 100, 1, 2);   /* surrounding whitespace */
    ok("bytes= 1-2 ", 100, 1, 2);
    ok("bytes=1-2,", 100, 1, 2);      /* empty list elements are allowed */
    ok("bytes=, 1-2", 100, 1, 2);
    ok("bytes=0-18446744073709551615", 100, 0, 99);
    ok("bytes=-99999999999999999999999", 100, 0, 99); /* saturates, then clamps */
}

static void test_range_unsatisfiable(void **state)
{
    (void)state;
    res("bytes=100-", 100, HL_RANGE_UNSATISFIABLE);   /* start at size */
    res("bytes=100-200", 100, HL_RANGE_UNSATISFIABLE);
    res("bytes=1000-", 100, HL_RANGE_UNSATISFIABLE);
    res("bytes=-0", 100, HL_RANGE_UNSATISFIABLE);     /* empty suffix */
    res("bytes=0-0", 0, HL_RANGE_UNSATISFIABLE);      /* empty file */
    res("bytes=-5", 0, HL_RANGE_UNSATISFIABLE);
    res("bytes=99999999999999999999999-", 100, HL_RANGE_UNSATISFIABLE);
}

static void test_range_malformed_is_ignored(void **state)
{
    (void)state;
    const char *bad[] = {
        "",           "bytes",         "bytes=",     "bytes=-",     "bytes=a-b",
        "bytes=5-4",  "bytes=1-2-3",   "bytes=+1-2", "bytes=1 -2",  "bytes=1- 2",
        "bytes=--1",  "bytes=1--2",    "items=0-1",  "bytes 0-1",   "bytes=0x1-2",
        "bytes=1-2 3", "bytes=,",      "bytes=-1-2", "bytes=1.5-2", "bytes==1-2",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        res(bad[i], 100, HL_RANGE_NONE);
    res(NULL, 100, HL_RANGE_NONE);
    /* Several ranges: we answer with the whole file (allowed by RFC 9110). */
    res("bytes=0-1,5-6", 100, HL_RANGE_NONE);
    res("bytes=0-1, -5", 100, HL_RANGE_NONE);
}

static void test_range_every_small_case(void **state)
{
    (void)state;
    /* Exhaustive over small sizes and positions against the RFC's definition. */
    char h[64];
    for (uint64_t size = 0; size < 6; size++)
        for (uint64_t a = 0; a < 8; a++)
            for (uint64_t b = 0; b < 8; b++) {
                snprintf(h, sizeof(h), "bytes=%llu-%llu", (unsigned long long)a,
                         (unsigned long long)b);
                if (b < a)
                    res(h, size, HL_RANGE_NONE);
                else if (a >= size)
                    res(h, size, HL_RANGE_UNSATISFIABLE);
                else
                    ok(h, size, a, b < size ? b : size - 1);
            }
}

static void test_if_none_match(void **state)
{
    (void)state;
    const char *e = "\"sha256:ab\"";
    assert_true(hl__etag_none_match("\"sha256:ab\"", e));
    assert_true(hl__etag_none_match("W/\"sha256:ab\"", e)); /* weak comparison */
    assert_true(hl__etag_none_match("\"x\", \"sha256:ab\"", e));
    assert_true(hl__etag_none_match(" *", e));
    assert_true(hl__etag_none_match(",,\"sha256:ab\"", e));
    assert_false(hl__etag_none_match("\"sha256:ac\"", e));
    assert_false(hl__etag_none_match("sha256:ab", e)); /* unquoted: not a tag */
    assert_false(hl__etag_none_match("\"sha256:ab", e));
    assert_false(hl__etag_none_match("\"sha256:a\"", e));
    assert_false(hl__etag_none_match("\"x\" junk, \"sha256:ab\"", e));
    assert_false(hl__etag_none_match("", e));
    assert_false(hl__etag_none_match(NULL, e));
}

static void test_if_range(void **state)
{
    (void)state;
    const char *e = "\"sha256:ab\"";
    assert_true(hl__etag_if_range(NULL, e)); /* absent: the Range applies */
    assert_true(hl__etag_if_range("\"sha256:ab\"", e));
    assert_true(hl__etag_if_range(" \"sha256:ab\" ", e));
    assert_false(hl__etag_if_range("W/\"sha256:ab\"", e)); /* strong comparison */
    assert_false(hl__etag_if_range("\"sha256:ab\"x", e));
    assert_false(hl__etag_if_range("\"sha256:abc\"", e));
    assert_false(hl__etag_if_range("Wed, 21 Oct 2015 07:28:00 GMT", e));
    assert_false(hl__etag_if_range("", e));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_range_basic_forms),
        cmocka_unit_test(test_range_unsatisfiable),
        cmocka_unit_test(test_range_malformed_is_ignored),
        cmocka_unit_test(test_range_every_small_case),
        cmocka_unit_test(test_if_none_match),
        cmocka_unit_test(test_if_range),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
