/* Unit tests for the arithmetic of `huffllm bench run` (src/bench/bench_run_stats.c):
 * list and byte-count arguments, medians, and the physical limits. No timing anywhere. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>
#include <stdint.h>

#include "bench/bench_run.h"

static void test_parse_list(void **state)
{
    (void)state;
    unsigned v[HL__BENCH_MAX_LIST];
    size_t n = 99;
    assert_int_equal(hl__bench_parse_list("1,8", 4096, v, HL__BENCH_MAX_LIST, &n), 0);
    assert_int_equal(n, 2);
    assert_int_equal(v[0], 1);
    assert_int_equal(v[1], 8);
    /* repeats dropped, order of first appearance kept */
    assert_int_equal(hl__bench_parse_list("2,1,2,2,1", 8, v, HL__BENCH_MAX_LIST, &n), 0);
    assert_int_equal(n, 2);
    assert_int_equal(v[0], 2);
    assert_int_equal(v[1], 1);
    assert_int_equal(hl__bench_parse_list("4096", 4096, v, 1, &n), 0);
    assert_int_equal(v[0], 4096);
    static const char *const bad[] = {"", ",", "1,", ",1", "0", "4097", "1,,2", "-1", "+1",
                                      " 1", "1 ", "1;2", "x", "1.5", "99999999999999999999"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        assert_int_equal(hl__bench_parse_list(bad[i], 4096, v, HL__BENCH_MAX_LIST, &n),
                         HL_EINVAL);
    assert_int_equal(hl__bench_parse_list(NULL, 4096, v, HL__BENCH_MAX_LIST, &n), HL_EINVAL);
    assert_int_equal(hl__bench_parse_list("1,2,3", 8, v, 2, &n), HL_ERANGE);
    assert_int_equal(hl__bench_parse_list("1,1,2", 8, v, 2, &n), 0); /* 2 distinct fit */
}

static void test_parse_bytes(void **state)
{
    (void)state;
    uint64_t b = 0;
    assert_int_equal(hl__bench_parse_bytes("4096", &b), 0);
    assert_int_equal(b, 4096);
    assert_int_equal(hl__bench_parse_bytes("256K", &b), 0);
    assert_int_equal(b, 256u << 10);
    assert_int_equal(hl__bench_parse_bytes("3m", &b), 0);
    assert_int_equal(b, 3u << 20);
    assert_int_equal(hl__bench_parse_bytes("1G", &b), 0);
    assert_int_equal(b, 1u << 30);
    assert_int_equal(hl__bench_parse_bytes("17179869183G", &b), 0); /* 2^64 - 2^30 */
    static const char *const bad[] = {"", "0", "0K", "K", "1KB", "1T", "-1", " 1", "1.5M",
                                      "17179869184G", "18446744073709551616", NULL};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        assert_int_equal(hl__bench_parse_bytes(bad[i], &b), HL_EINVAL);
}

static void test_median_and_minmax(void **state)
{
    (void)state;
    double odd[] = {5, 1, 4, 2, 3};
    assert_true(hl__bench_median(odd, 5) == 3.0);
    double even[] = {10, 1, 4, 2};
    assert_true(hl__bench_median(even, 4) == 3.0);
    double one[] = {7.5};
    assert_true(hl__bench_median(one, 1) == 7.5);
    assert_true(isnan(hl__bench_median(one, 0)));
    double v[] = {0.7, -2, 9, 0.1};
    double lo, hi;
    hl__bench_minmax(v, 4, &lo, &hi);
    assert_true(lo == -2 && hi == 9);
}

/* equal up to rounding (relative) */
#define assert_near(a, b) assert_true(fabs((a) - (b)) <= 1e-12 * fabs(b))

/* A 0.5B-like model: 466M weights per step, bf16 (2 bytes) vs 10.5 bits compressed. */
static hl__bench_limit_in_t model_in(unsigned threads, unsigned batch, double bw, double dec)
{
    hl__bench_limit_in_t in = {
        .threads = threads,
        .batch = batch,
        .bandwidth = bw,
        .decode_rate = dec,
        .raw_rate = 20e9, /* the raw product's own rate: far above what memory feeds it */
        .sgemv_rate = 8e9,
        .weights_step = 466e6,
        .raw_bytes_step = 932e6,
        .comp_bytes_step = 466e6 * 10.5 / 8,
    };
    return in;
}

static void test_limits(void **state)
{
    (void)state;
    hl__bench_limits_t l;
    /* slow decoder: 2 G weights/s per thread binds below 20 GB/s / 612 MB */
    hl__bench_limit_in_t in = model_in(1, 1, 20e9, 2e9);
    assert_int_equal(hl__bench_limits(&in, &l), 0);
    assert_near(l.raw, 20e9 / 932e6);
    assert_near(l.raw_bw, 20e9 / 932e6);
    assert_near(l.raw_route, 20e9 / 466e6);
    assert_false(l.raw_route_binds);
    assert_near(l.comp_bw, 20e9 / (466e6 * 10.5 / 8));
    assert_near(l.comp_decode, 2e9 / 466e6);
    assert_true(l.decode_binds);
    assert_true(l.comp == l.comp_decode);
    assert_near(l.compute, 8e9 / 466e6);
    /* two threads double the decode term; a fast decoder leaves bandwidth binding */
    in = model_in(2, 1, 20e9, 40e9);
    assert_int_equal(hl__bench_limits(&in, &l), 0);
    assert_false(l.decode_binds);
    assert_true(l.comp == l.comp_bw);
    assert_near(l.compute, 2 * 8e9 / 466e6);
    /* a batch multiplies the streaming limits (one decode per step), not the compute one */
    hl__bench_limits_t l8;
    in = model_in(2, 8, 20e9, 40e9);
    assert_int_equal(hl__bench_limits(&in, &l8), 0);
    assert_near(l8.raw, 8 * l.raw);
    assert_near(l8.comp, 8 * l.comp);
    assert_near(l8.compute, l.compute);
    /* ...until a path's own rate binds: the raw product at 4 G weights/s per thread, the
     * decode at 3, and the ratio is theirs */
    in = model_in(2, 8, 20e9, 3e9);
    in.raw_rate = 4e9;
    assert_int_equal(hl__bench_limits(&in, &l8), 0);
    assert_true(l8.raw_route_binds && l8.decode_binds);
    assert_near(l8.raw, 8 * 2 * 4e9 / 466e6);
    assert_near(l8.comp, 8 * 2 * 3e9 / 466e6);
    assert_near(l8.ratio, 0.75);
    /* inputs that are not positive and finite are refused */
    in = model_in(0, 1, 20e9, 2e9);
    assert_int_equal(hl__bench_limits(&in, &l), HL_EINVAL);
    in = model_in(1, 0, 20e9, 2e9);
    assert_int_equal(hl__bench_limits(&in, &l), HL_EINVAL);
    in = model_in(1, 1, 0, 2e9);
    assert_int_equal(hl__bench_limits(&in, &l), HL_EINVAL);
    in = model_in(1, 1, 20e9, NAN);
    assert_int_equal(hl__bench_limits(&in, &l), HL_EINVAL);
    in = model_in(1, 1, INFINITY, 2e9);
    assert_int_equal(hl__bench_limits(&in, &l), HL_EINVAL);
    in = model_in(1, 1, 20e9, 2e9);
    in.comp_bytes_step = 0;
    assert_int_equal(hl__bench_limits(&in, &l), HL_EINVAL);
    in = model_in(1, 1, 20e9, 2e9);
    in.raw_rate = -1;
    assert_int_equal(hl__bench_limits(&in, &l), HL_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_list),
        cmocka_unit_test(test_parse_bytes),
        cmocka_unit_test(test_median_and_minmax),
        cmocka_unit_test(test_limits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
