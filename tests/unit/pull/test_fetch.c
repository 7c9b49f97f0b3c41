/* Unit tests for pull/fetch.c helpers that need no network: retry backoff and headers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <string.h>

#include "pull/fetch.h"

static void test_backoff(void **state)
{
    (void)state;
    hl_pull_opts_t o = {0};
    assert_true(hl__fetch_backoff(&o, 1) == 0.5); /* default first delay */
    assert_true(hl__fetch_backoff(&o, 2) == 1.0);
    assert_true(hl__fetch_backoff(&o, 4) == 4.0);
    assert_true(hl__fetch_backoff(&o, 7) == 30.0);    /* capped */
    assert_true(hl__fetch_backoff(&o, 1000) == 30.0); /* no overflow for absurd counts */
    o.backoff = 0.01;
    assert_true(hl__fetch_backoff(&o, 1) == 0.01);
    assert_true(hl__fetch_backoff(&o, 3) == 0.04);
}

static void test_headers(void **state)
{
    (void)state;
    hl_pull_opts_t o = {0};
    hl__fetch_ctx_t ctx = {.opts = &o};
    assert_int_equal(hl__fetch_headers(&ctx), 0);
    assert_null(ctx.headers); /* no key: no Authorization header */
    o.key = "k123";
    assert_int_equal(hl__fetch_headers(&ctx), 0);
    assert_non_null(ctx.headers);
    assert_string_equal(ctx.headers->data, "Authorization: Bearer k123");
    assert_null(ctx.headers->next);
    curl_slist_free_all(ctx.headers);
}

static int reports;
static void count_report(void *ud, const hl_pull_progress_t *p)
{
    (void)ud;
    (void)p;
    reports++;
}

static void test_report_throttle(void **state)
{
    (void)state;
    hl_pull_progress_t prog = {0};
    hl_pull_opts_t o = {.progress = count_report};
    hl__fetch_ctx_t ctx = {.opts = &o, .progress = &prog};
    reports = 0;
    hl__fetch_report(&ctx, true);
    for (int i = 0; i < 100; i++)
        hl__fetch_report(&ctx, false); /* within 200 ms: throttled */
    assert_int_equal(reports, 1);
    hl__fetch_report(&ctx, true);
    assert_int_equal(reports, 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_backoff),
        cmocka_unit_test(test_headers),
        cmocka_unit_test(test_report_throttle),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
