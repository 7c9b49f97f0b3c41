/* Unit tests for server/metrics: registration rules and exact Prometheus text. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "server/metrics.h"

static char *render(hl_metrics_t *r)
{
    char *text = NULL;
    size_t len = 0;
    assert_int_equal(hl_metrics_render(r, &text, &len), 0);
    assert_int_equal(strlen(text), len);
    return text;
}

static void test_counter_and_gauge_text(void **state)
{
    (void)state;
    hl_metrics_t *r;
    assert_int_equal(hl_metrics_create(&r), 0);
    const char *labels[] = {"endpoint", "status"};
    hl_metric_t *req = hl_metrics_register(r, HL_METRIC_COUNTER, "hl_requests_total",
                                           "HTTP requests.", labels, 2, NULL, 0);
    hl_metric_t *up = hl_metrics_register(r, HL_METRIC_GAUGE, "hl_models_loaded",
                                          "Models in memory.", NULL, 0, NULL, 0);
    assert_non_null(req);
    assert_non_null(up);
    const char *v1[] = {"/v1/completions", "200"};
    const char *v2[] = {"/v1/x\"y\\z\n", "404"};
    hl_metric_add(req, v1, 1);
    hl_metric_add(req, v1, 2);
    hl_metric_add(req, v2, 1);
    hl_metric_add(req, v2, -5); /* ignored: counters only go up */
    hl_metric_set(up, NULL, 2);
    hl_metric_add(up, NULL, 0.5);
    char *text = render(r);
    assert_string_equal(text,
                        "# HELP hl_requests_total HTTP requests.\n"
                        "# TYPE hl_requests_total counter\n"
                        "hl_requests_total{endpoint=\"/v1/completions\",status=\"200\"} 3\n"
                        "hl_requests_total{endpoint=\"/v1/x\\\"y\\\\z\\n\",status=\"404\"} 1\n"
                        "# HELP hl_models_loaded Models in memory.\n"
                        "# TYPE hl_models_loaded gauge\n"
                        "hl_models_loaded 2.5\n");
    free(text);
    hl_metric_remove(req, v1);
    text = render(r);
    assert_null(strstr(text, "completions"));
    free(text);
    hl_metrics_free(r);
}

static void test_histogram_text(void **state)
{
    (void)state;
    hl_metrics_t *r;
    assert_int_equal(hl_metrics_create(&r), 0);
    const char *labels[] = {"model"};
    const double b[] = {0.1, 1, 2.5};
    hl_metric_t *h = hl_metrics_register(r, HL_METRIC_HISTOGRAM, "hl_ttft_seconds",
                                         "Time to first token.", labels, 1, b, 3);
    assert_non_null(h);
    const char *m[] = {"a"};
    hl_metric_observe(h, m, 0.05);
    hl_metric_observe(h, m, 0.1); /* le is inclusive */
    hl_metric_observe(h, m, 2);
    hl_metric_observe(h, m, 100);
    char *text = render(r);
    assert_string_equal(text, "# HELP hl_ttft_seconds Time to first token.\n"
                              "# TYPE hl_ttft_seconds histogram\n"
                              "hl_ttft_seconds_bucket{model=\"a\",le=\"0.1\"} 2\n"
                              "hl_ttft_seconds_bucket{model=\"a\",le=\"1\"} 2\n"
                              "hl_ttft_seconds_bucket{model=\"a\",le=\"2.5\"} 3\n"
                              "hl_ttft_seconds_bucket{model=\"a\",le=\"+Inf\"} 4\n"
                              "hl_ttft_seconds_sum{model=\"a\"} 102.15000000000001\n"
                              "hl_ttft_seconds_count{model=\"a\"} 4\n");
    free(text);
    hl_metrics_free(r);
}

static void test_registration_rules(void **state)
{
    (void)state;
    hl_metrics_t *r;
    assert_int_equal(hl_metrics_create(&r), 0);
    const double b[] = {1, 2};
    const double bad[] = {2, 1};
    const char *le[] = {"le"};
    const char *colon[] = {"a:b"};
    /* counters must end in _total, others must not */
    assert_null(hl_metrics_register(r, HL_METRIC_COUNTER, "hl_requests", "x", NULL, 0, NULL, 0));
    assert_null(hl_metrics_register(r, HL_METRIC_GAUGE, "hl_x_total", "x", NULL, 0, NULL, 0));
    assert_null(hl_metrics_register(r, HL_METRIC_GAUGE, "hl:x", "x", NULL, 0, NULL, 0));
    assert_null(hl_metrics_register(r, HL_METRIC_GAUGE, "9x", "x", NULL, 0, NULL, 0));
    assert_null(hl_metrics_register(r, HL_METRIC_GAUGE, "hl_x", "x", le, 1, NULL, 0));
    assert_null(hl_metrics_register(r, HL_METRIC_GAUGE, "hl_x", "x", colon, 1, NULL, 0));
    assert_null(hl_metrics_register(r, HL_METRIC_HISTOGRAM, "hl_h", "x", NULL, 0, bad, 2));
    assert_null(hl_metrics_register(r, HL_METRIC_HISTOGRAM, "hl_h", "x", NULL, 0, NULL, 0));
    assert_non_null(hl_metrics_register(r, HL_METRIC_HISTOGRAM, "hl_h", "x", NULL, 0, b, 2));
    /* duplicate names are refused */
    assert_null(hl_metrics_register(r, HL_METRIC_HISTOGRAM, "hl_h", "x", NULL, 0, b, 2));
    /* NULL families are ignored by updates */
    hl_metric_add(NULL, NULL, 1);
    hl_metric_observe(NULL, NULL, 1);
    hl_metrics_free(r);
}

static void vllm_buckets_ok(const double *b, size_t n, double first, double last)
{
    assert_true(n > 5);
    assert_true(b[0] == first);
    assert_true(b[n - 1] == last);
    for (size_t i = 1; i < n; i++)
        assert_true(b[i] > b[i - 1]);
}

static int hook_calls;
static void hook(void *ud)
{
    hook_calls++;
    hl_metric_set(ud, NULL, 42);
}

static void test_collect_hook_and_buckets(void **state)
{
    (void)state;
    vllm_buckets_ok(hl_metrics_buckets_ttft, hl_metrics_n_buckets_ttft, 0.001, 2560);
    vllm_buckets_ok(hl_metrics_buckets_tpot, hl_metrics_n_buckets_tpot, 0.01, 80);
    vllm_buckets_ok(hl_metrics_buckets_e2e, hl_metrics_n_buckets_e2e, 0.3, 7680);
    hl_metrics_t *r;
    assert_int_equal(hl_metrics_create(&r), 0);
    hl_metric_t *g = hl_metrics_register(r, HL_METRIC_GAUGE, "hl_rss_bytes", "RSS.", NULL, 0,
                                         NULL, 0);
    assert_int_equal(hl_metrics_on_collect(r, hook, g), 0);
    char *text = render(r);
    assert_int_equal(hook_calls, 1);
    assert_non_null(strstr(text, "\nhl_rss_bytes 42\n"));
    free(text);
    hl_metrics_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counter_and_gauge_text),
        cmocka_unit_test(test_histogram_text),
        cmocka_unit_test(test_registration_rules),
        cmocka_unit_test(test_collect_hook_and_buckets),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
