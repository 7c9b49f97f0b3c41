/*
 * gemv.c: every path (C, AVX2, AVX-512; clamped to this CPU) and every dtype give the same
 * bits as the documented summation order computed here one element at a time, and bf16/f16
 * weights give the same bits as their exact fp32 widening (what makes raw and compressed
 * engines agree), for shapes that exercise the row blocks, the leftover rows and the
 * columns past the last group of 32; hl__gemv_multi gives every activation exactly the bits
 * of hl__gemv on it alone, for every path, dtype, block remainder (rows and activations) and
 * output offset.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <math.h>

#include "engine/gemv.h"

static uint64_t next(uint64_t *s)
{
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return *s >> 33;
}

/* The order gemv.h documents, written plainly. */
static float reference_row(const float *w, const float *x, uint64_t cols)
{
    float acc[32] = {0};
    uint64_t c32 = cols - cols % 32;
    for (uint64_t j = 0; j < c32; j++)
        acc[j % 32] = fmaf(w[j], x[j], acc[j % 32]);
    for (unsigned k = 16; k; k /= 2)
        for (unsigned l = 0; l < k; l++)
            acc[l] += acc[l + k];
    float s = acc[0];
    for (uint64_t j = c32; j < cols; j++)
        s = fmaf(w[j], x[j], s);
    return s;
}

static void test_paths_and_dtypes(void **state)
{
    (void)state;
    static const hl_dtype_t types[] = {HL_DTYPE_F32, HL_DTYPE_BF16, HL_DTYPE_F16};
    static const uint64_t shapes[][2] = {{1, 1},   {3, 15},  {4, 16},   {5, 17},   {2, 31},
                                         {3, 32},  {6, 48},  {9, 64},   {7, 100},  {13, 288},
                                         {8, 1000}, {5, 63}};
    uint64_t seed = 3;
    for (size_t si = 0; si < sizeof shapes / sizeof *shapes; si++) {
        uint64_t rows = shapes[si][0], cols = shapes[si][1];
        float *x = malloc(cols * sizeof *x), *wf = malloc(rows * cols * sizeof *wf);
        uint8_t *w = malloc(rows * cols * 4);
        float *y = malloc(rows * sizeof *y), *ref = malloc(rows * sizeof *ref);
        assert_non_null(x);
        assert_non_null(wf);
        assert_non_null(w);
        assert_non_null(y);
        assert_non_null(ref);
        for (uint64_t j = 0; j < cols; j++)
            x[j] = ((float)next(&seed) / 2147483648.0f - 0.5f) * 4.0f;
        for (size_t ti = 0; ti < 3; ti++) {
            hl_dtype_t t = types[ti];
            for (uint64_t i = 0; i < rows * cols; i++) {
                float f = ((float)next(&seed) / 2147483648.0f - 0.5f) * 0.1f;
                if (t == HL_DTYPE_F32) {
                    memcpy(w + 4 * i, &f, 4);
                } else {
                    uint16_t h = t == HL_DTYPE_BF16 ? hl_f32_to_bf16(f) : hl_f32_to_f16(f);
                    memcpy(w + 2 * i, &h, 2);
                }
            }
            assert_int_equal(hl_widen_f32(t, w, rows * cols, wf), 0);
            for (uint64_t r = 0; r < rows; r++)
                ref[r] = reference_row(wf + r * cols, x, cols);
            for (int p = HL__GEMV_C; p <= HL__GEMV_AVX512; p++) {
                hl__gemv_path((hl__gemv_path_t)p, t, w, rows, cols, x, y);
                if (memcmp(y, ref, rows * sizeof *y))
                    fail_msg("%s %llux%llu path %d differs from the reference order",
                             hl_dtype_name(t), (unsigned long long)rows,
                             (unsigned long long)cols, p);
                /* the widened copy through the fp32 kernel: the compressed engine's route */
                hl__gemv_path((hl__gemv_path_t)p, HL_DTYPE_F32, wf, rows, cols, x, y);
                assert_memory_equal(y, ref, rows * sizeof *y);
            }
            hl__gemv(t, w, rows, cols, x, y);
            assert_memory_equal(y, ref, rows * sizeof *y);
        }
        free(x);
        free(wf);
        free(w);
        free(y);
        free(ref);
    }
    assert_true(hl__gemv_supports(HL_DTYPE_BF16));
    assert_false(hl__gemv_supports(HL_DTYPE_Q8_0));
}

/* Random weights of dtype t (rows * cols elements at w). */
static void fill_weights(hl_dtype_t t, uint8_t *w, uint64_t n, uint64_t *seed)
{
    for (uint64_t i = 0; i < n; i++) {
        float f = ((float)next(seed) / 2147483648.0f - 0.5f) * 0.1f;
        if (t == HL_DTYPE_F32) {
            memcpy(w + 4 * i, &f, 4);
        } else {
            uint16_t h = t == HL_DTYPE_BF16 ? hl_f32_to_bf16(f) : hl_f32_to_f16(f);
            memcpy(w + 2 * i, &h, 2);
        }
    }
}

#define MAX_ACT 9

static void test_multi_equals_single(void **state)
{
    (void)state;
    static const hl_dtype_t types[] = {HL_DTYPE_F32, HL_DTYPE_BF16, HL_DTYPE_F16};
    static const uint64_t shapes[][2] = {{1, 1},  {1, 16},  {2, 31},   {3, 15},  {4, 16},
                                         {5, 17}, {6, 48},  {7, 100},  {9, 64},  {13, 288},
                                         {8, 1000}};
    const uint64_t y_off = 5; /* outputs land at an offset, as a tile's rows of y do */
    uint64_t seed = 11;
    for (size_t si = 0; si < sizeof shapes / sizeof *shapes; si++) {
        uint64_t rows = shapes[si][0], cols = shapes[si][1];
        uint8_t *w = malloc(rows * cols * 4);
        float *xs[MAX_ACT], *ys[MAX_ACT], *single = malloc((rows + y_off) * sizeof(float));
        assert_non_null(w);
        assert_non_null(single);
        for (size_t a = 0; a < MAX_ACT; a++) {
            xs[a] = malloc(cols * sizeof(float));
            ys[a] = malloc((rows + y_off + 1) * sizeof(float));
            assert_non_null(xs[a]);
            assert_non_null(ys[a]);
            for (uint64_t j = 0; j < cols; j++)
                xs[a][j] = ((float)next(&seed) / 2147483648.0f - 0.5f) * 4.0f;
        }
        for (size_t ti = 0; ti < 3; ti++) {
            hl_dtype_t t = types[ti];
            fill_weights(t, w, rows * cols, &seed);
            for (int p = HL__GEMV_C; p <= HL__GEMV_AVX512; p++)
                for (size_t n_act = 1; n_act <= MAX_ACT; n_act++) {
                    for (size_t a = 0; a < MAX_ACT; a++)
                        for (uint64_t r = 0; r < rows + y_off + 1; r++)
                            ys[a][r] = -7.0f; /* sentinel: untouched outside the range */
                    hl__gemv_multi_path((hl__gemv_path_t)p, t, w, rows, cols, n_act,
                                        (const float *const *)xs, ys, y_off);
                    for (size_t a = 0; a < MAX_ACT; a++) {
                        if (a < n_act) {
                            /* the single kernel on the C path: all paths agree with it
                             * (test_paths_and_dtypes), so this also ties paths together */
                            hl__gemv_path(HL__GEMV_C, t, w, rows, cols, xs[a], single);
                            if (memcmp(ys[a] + y_off, single, rows * sizeof(float)))
                                fail_msg("%s %llux%llu path %d: activation %zu of %zu differs "
                                         "from the single product",
                                         hl_dtype_name(t), (unsigned long long)rows,
                                         (unsigned long long)cols, p, a, n_act);
                        }
                        for (uint64_t r = 0; r < rows + y_off + 1; r++) {
                            bool inside = a < n_act && r >= y_off && r < y_off + rows;
                            if (!inside && ys[a][r] != -7.0f)
                                fail_msg("path %d n_act %zu: wrote y[%zu][%llu] outside the "
                                         "product", p, n_act, a, (unsigned long long)r);
                        }
                    }
                }
            hl__gemv_multi(t, w, rows, cols, 1, (const float *const *)xs, ys, 0);
            hl__gemv(t, w, rows, cols, xs[0], single);
            assert_memory_equal(ys[0], single, rows * sizeof(float));
        }
        for (size_t a = 0; a < MAX_ACT; a++) {
            free(xs[a]);
            free(ys[a]);
        }
        free(w);
        free(single);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_paths_and_dtypes),
        cmocka_unit_test(test_multi_equals_single),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
