/* The choice of the mixed uint8/uint4 mode (hl_quant_mix_select, format/quant.h) on crafted
 * sensitivities: the documented greedy order (KL per weight), the stopping rule (summed KL
 * of the u4 matrices at most the target), ties, and refused input. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>

#include <cmocka.h>

#include "format/quant.h"

static void test_greedy_order(void **state)
{
    (void)state;
    /* KL per weight: 5e-5, 1e-4, 1e-5, 2e-4 -> order 3, 1, 0, 2; sum 0.072 */
    const double kl[4] = {0.05, 0.01, 0.01, 0.002}, w[4] = {1000, 100, 1000, 10};
    bool u8[4];
    double pred;
    assert_int_equal(hl_quant_mix_select(kl, w, 4, 0.03, u8, &pred), 0);
    /* 0.072 -> 0.070 (3) -> 0.060 (1) -> 0.010 (0) <= 0.03: stop */
    assert_true(u8[0] && u8[1] && !u8[2] && u8[3]);
    assert_true(fabs(pred - 0.01) < 1e-12);
    /* a target the all-u4 plan already meets moves nothing */
    assert_int_equal(hl_quant_mix_select(kl, w, 4, 0.0721, u8, &pred), 0);
    assert_true(!u8[0] && !u8[1] && !u8[2] && !u8[3]);
    assert_true(fabs(pred - 0.072) < 1e-12);
    /* target 0: everything with a KL moves, until the sum is 0 */
    assert_int_equal(hl_quant_mix_select(kl, w, 4, 0, u8, &pred), 0);
    assert_true(u8[0] && u8[1] && u8[2] && u8[3]);
    assert_true(pred == 0);
    /* the large matrix with the largest KL is not the first to move: per weight it is
     * cheaper to fix the small sensitive ones (0.072 - 0.002 <= 0.0705: index 3 only) */
    assert_int_equal(hl_quant_mix_select(kl, w, 4, 0.0705, u8, &pred), 0);
    assert_true(!u8[0] && !u8[1] && !u8[2] && u8[3]);
}

static void test_ties_and_zero(void **state)
{
    (void)state;
    const double kl[3] = {0.01, 0.01, 0}, w[3] = {50, 50, 50};
    bool u8[3];
    double pred;
    assert_int_equal(hl_quant_mix_select(kl, w, 3, 0.015, u8, &pred), 0);
    assert_true(u8[0] && !u8[1] && !u8[2]); /* equal density: the earlier matrix */
    assert_int_equal(hl_quant_mix_select(kl, w, 3, 0, u8, &pred), 0);
    assert_true(u8[0] && u8[1] && !u8[2]); /* a matrix with no effect stays u4 */
    assert_int_equal(hl_quant_mix_select(NULL, NULL, 0, 0.01, NULL, &pred), 0);
    assert_true(pred == 0);
}

static void test_refused(void **state)
{
    (void)state;
    double kl[2] = {0.01, 0.02}, w[2] = {10, 10}, pred;
    bool u8[2];
    kl[1] = -0.001;
    assert_int_equal(hl_quant_mix_select(kl, w, 2, 0.01, u8, &pred), HL_EINVAL);
    kl[1] = NAN;
    assert_int_equal(hl_quant_mix_select(kl, w, 2, 0.01, u8, &pred), HL_EINVAL);
    kl[1] = INFINITY;
    assert_int_equal(hl_quant_mix_select(kl, w, 2, 0.01, u8, &pred), HL_EINVAL);
    kl[1] = 0.02;
    w[0] = 0;
    assert_int_equal(hl_quant_mix_select(kl, w, 2, 0.01, u8, &pred), HL_EINVAL);
    w[0] = 10;
    assert_int_equal(hl_quant_mix_select(kl, w, 2, -1, u8, &pred), HL_EINVAL);
    assert_int_equal(hl_quant_mix_select(kl, w, 2, NAN, u8, &pred), HL_EINVAL);
    assert_int_equal(hl_quant_mix_select(kl, w, 2, 0.01, NULL, &pred), HL_EINVAL);
    assert_int_equal(hl_quant_mix_select(kl, w, 2, 0.01, u8, NULL), HL_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_greedy_order),
        cmocka_unit_test(test_ties_and_zero),
        cmocka_unit_test(test_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
