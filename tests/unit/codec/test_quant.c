/* EntroLLM quantization: error bounds per scheme, the documented sym/asym choice, the coding
 * model of every quantized dtype through the tile codec, and Huffman against entropy. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>

#include <cmocka.h>

#include "codec/quant.h"
#include "codec_test_util.h"

enum { DIST_SYM, DIST_SKEW, DIST_OUTLIER };

/* Synthetic weights: Gaussian (std 0.02); skewed (|Gaussian| + 0.01, all positive);
 * Gaussian with 0.1% outliers of 20x. */
static void fill(int dist, uint64_t seed, float *x, uint64_t n)
{
    uint64_t s = seed;
    for (uint64_t i = 0; i < n; i++) {
        double g = 0.02 * tu_gauss(&s);
        if (dist == DIST_SKEW)
            g = fabs(g) + 0.01;
        else if (dist == DIST_OUTLIER && tu_rand(&s) % 1000 == 0)
            g *= 20;
        x[i] = (float)g;
    }
}

static double rmse_of(const float *x, const float *y, uint64_t n)
{
    double s = 0;
    for (uint64_t i = 0; i < n; i++)
        s += ((double)x[i] - y[i]) * ((double)x[i] - y[i]);
    return sqrt(s / (double)n);
}

/* Unclipped parameters: every value inside the range is reconstructed within half a step. */
static void test_error_bound_per_scheme(void **state)
{
    (void)state;
    enum { N = 4096 };
    float *x = malloc(N * sizeof *x), *y = malloc(N * sizeof *y);
    uint8_t *q = malloc(N);
    assert_non_null(x);
    assert_non_null(y);
    assert_non_null(q);
    for (int dist = DIST_SYM; dist <= DIST_OUTLIER; dist++) {
        fill(dist, 11 + (uint64_t)dist, x, N);
        for (unsigned bits = 4; bits <= 8; bits += 4) {
            for (int sch = HL_QSCHEME_SYM; sch <= HL_QSCHEME_ASYM; sch++) {
                hl_qparams_t p;
                assert_int_equal(hl_quant_params(x, N, bits, false, (hl_qscheme_t)sch, &p), 0);
                assert_true(p.scale > 0);
                hl_quant_codes(x, N, bits, &p, q);
                double sse = 0;
                for (uint64_t i = 0; i < N; i++) {
                    y[i] = p.scale * ((float)q[i] - p.zero);
                    double d = fabs((double)x[i] - y[i]);
                    /* half a step; the asymmetric zero point is rounded, which can push the
                     * range end by up to one more half step */
                    double bound = (sch == HL_QSCHEME_SYM ? 0.5 : 1.0) * p.scale * 1.0001;
                    assert_true(d <= bound);
                    sse += d * d;
                }
                assert_true(fabs(sse - p.sse) <= 1e-6 * sse + 1e-12);
            }
            /* the chosen parameters are never worse than either unclipped scheme */
            hl_qparams_t c, s, a;
            assert_int_equal(hl_quant_choose(x, N, bits, false, &c), 0);
            assert_int_equal(hl_quant_params(x, N, bits, false, HL_QSCHEME_SYM, &s), 0);
            assert_int_equal(hl_quant_params(x, N, bits, false, HL_QSCHEME_ASYM, &a), 0);
            assert_true(c.sse <= s.sse && c.sse <= a.sse);
        }
        /* u8 per tensor on Gaussian-like data: RMSE near step/sqrt(12) of the range */
        if (dist != DIST_OUTLIER) {
            hl_qparams_t c;
            assert_int_equal(hl_quant_choose(x, N, 8, false, &c), 0);
            assert_true(sqrt(c.sse / N) < 0.0005);
        }
    }
    free(x);
    free(y);
    free(q);
}

/* The criterion: the chosen candidate has the least SSE among sym/asym x clip ratios. */
static void test_choice_is_min_mse(void **state)
{
    (void)state;
    enum { N = 2048 };
    float x[N];
    for (int dist = DIST_SYM; dist <= DIST_OUTLIER; dist++) {
        fill(dist, 99 + (uint64_t)dist, x, N);
        for (unsigned bits = 4; bits <= 8; bits += 4) {
            hl_qparams_t c;
            assert_int_equal(hl_quant_choose(x, N, bits, true, &c), 0);
            for (int sch = HL_QSCHEME_SYM; sch <= HL_QSCHEME_ASYM; sch++)
                for (unsigned k = 0; k < HL_QUANT_N_CLIPS; k++) {
                    hl_qparams_t p;
                    assert_int_equal(hl_quant_params_clip(x, N, bits, true, (hl_qscheme_t)sch,
                                                          hl_quant_clips[k], &p), 0);
                    assert_true(c.sse <= p.sse);
                }
        }
    }
}

/* Crafted tensors: values on the symmetric grid (k * a / (2^(b-1) - 1), mirrored, as a
 * tensor already quantized symmetrically is) pick sym, which holds them exactly; one-sided
 * data picks asym (sym would waste half of its codes on values that never occur). */
static void test_sym_asym_crafted(void **state)
{
    (void)state;
    enum { N = 1024 };
    float x[N];
    hl_qparams_t c;
    for (unsigned bits = 4; bits <= 8; bits += 4) {
        int half = (1 << (bits - 1)) - 1;
        uint64_t s = 3;
        for (int i = 0; i < N; i++)
            x[i] = 0.25f * (float)((int)(tu_rand(&s) % (2u * half + 1)) - half) / (float)half;
        x[0] = 0.25f, x[1] = -0.25f;
        assert_int_equal(hl_quant_choose(x, N, bits, false, &c), 0);
        assert_int_equal(c.scheme, HL_QSCHEME_SYM);
        assert_true(c.sse < 1e-9);
    }
    for (int i = 0; i < N; i++) /* uniform on [0.5, 1.5]: one-sided */
        x[i] = 0.5f + (float)i / (N - 1);
    for (unsigned bits = 4; bits <= 8; bits += 4) {
        assert_int_equal(hl_quant_choose(x, N, bits, false, &c), 0);
        assert_int_equal(c.scheme, HL_QSCHEME_ASYM);
    }
    /* all zeros: exact, symmetric, scale 0 */
    memset(x, 0, sizeof x);
    assert_int_equal(hl_quant_choose(x, N, 4, true, &c), 0);
    assert_true(c.sse == 0 && c.scheme == HL_QSCHEME_SYM);
    x[7] = NAN;
    assert_int_equal(hl_quant_choose(x, N, 8, false, &c), HL_EINVAL);
}

/* Every quantized dtype: quantize, Huffman-code as tiles, decode to f32 and bytes. */
static void test_tile_roundtrip(void **state)
{
    (void)state;
    static const hl_dtype_t types[] = {HL_DTYPE_QU8, HL_DTYPE_QU4, HL_DTYPE_QU8_G32,
                                       HL_DTYPE_QU4_G32, HL_DTYPE_QU8_G64, HL_DTYPE_QU4_G64,
                                       HL_DTYPE_QU8_G128, HL_DTYPE_QU4_G128};
    enum { ROWS = 24, COLS = 256, N = ROWS * COLS };
    float *x = malloc(N * sizeof *x), *y = malloc(N * sizeof *y), *z = malloc(N * sizeof *z);
    assert_non_null(x);
    assert_non_null(y);
    assert_non_null(z);
    fill(DIST_OUTLIER, 5, x, N);
    for (size_t k = 0; k < sizeof types / sizeof types[0]; k++) {
        hl_dtype_t t = types[k];
        uint64_t bytes, cap, len;
        assert_int_equal(hl_dtype_bytes(t, N, &bytes), 0);
        uint8_t *src = malloc(bytes), *back = malloc(bytes);
        assert_non_null(src);
        assert_non_null(back);
        hl_quant_stats_t st;
        assert_int_equal(hl_quantize_tensor(t, x, ROWS, COLS, src, &st), 0);
        assert_int_equal(st.groups, hl_quant_group(t) ? N / hl_quant_group(t) : 1);
        uint64_t hist[HL_HUF_SYMBOLS] = {0};
        assert_int_equal(hl_codec_histogram(t, src, N, hist), 0);
        static hl_tensor_codec_t tc;
        for (int raw = 0; raw < 2; raw++) {
        if (raw) /* tensors whose codes do not pay for Huffman are stored as they are */
            assert_int_equal(hl_tensor_codec_load(&tc, t, HL_CODEC_RAW, 1, NULL), 0);
        else
            assert_int_equal(hl_tensor_codec_init(&tc, t, hist, 4), 0);
        tc.q_scale = st.tensor.scale;
        tc.q_zero = st.tensor.zero;
        cap = hl_tile_bound(&tc, N);
        uint8_t *payload = malloc(cap);
        assert_non_null(payload);
        assert_int_equal(hl_tile_encode(&tc, src, N, payload, cap, &len), 0);
        assert_int_equal(hl_tile_decode_f32(&tc, payload, len, N, y), 0);
        assert_int_equal(hl_quant_widen_f32(&tc, t, src, N, z), 0);
        assert_memory_equal(y, z, N * sizeof *y);
        assert_int_equal(hl_tile_decode_bytes(&tc, payload, len, N, back), 0);
        assert_memory_equal(back, src, bytes);
        /* the stored error is what the quantizer measured */
        assert_true(fabs(rmse_of(x, y, N) - sqrt(st.sse / N)) < 1e-6);
        /* one flipped payload bit never crashes the decoder */
        payload[len / 2] ^= 0x10;
        (void)hl_tile_decode_f32(&tc, payload, len, N, y);
        free(payload);
        }
        free(src);
        free(back);
    }
    /* a grouped dtype on rows that are not whole groups is refused */
    uint8_t tmp[8];
    hl_quant_stats_t st;
    assert_int_equal(hl_quantize_tensor(HL_DTYPE_QU8_G32, x, 1, 48, tmp, &st), HL_EINVAL);
    free(x);
    free(y);
    free(z);
}

/* Huffman-coded codes of weight-like tensors stay within 1% of their entropy: u8 per
 * tensor (no outliers: with them the codes concentrate on a few values) and u8 per group.
 * (u4 codes of near-zero entropy cannot: a Huffman code spends at least 1 bit a symbol.) */
static void test_huffman_near_entropy(void **state)
{
    (void)state;
    enum { N = 1 << 16 };
    float *x = malloc(N * sizeof *x);
    uint8_t *q = malloc(N);
    assert_non_null(x);
    assert_non_null(q);
    uint8_t *src = malloc(N + N / 32 * 3);
    assert_non_null(src);
    for (int k = 0; k < 4; k++) {
        int dist = k < 2 ? k : k - 2;
        hl_dtype_t t = k < 2 ? HL_DTYPE_QU8 : HL_DTYPE_QU8_G32;
        fill(dist, 7 + (uint64_t)dist, x, N);
        hl_quant_stats_t st;
        assert_int_equal(hl_quantize_tensor(t, x, 256, N / 256, src, &st), 0);
        assert_int_equal(hl_codec_symbols(t, src, 0, N, q), 0);
        uint64_t hist[HL_HUF_SYMBOLS] = {0};
        for (uint64_t i = 0; i < N; i++)
            hist[q[i]]++;
        hl_huf_lengths_t l;
        assert_int_equal(hl_huf_build_lengths(hist, HL_HUF_MAX_BITS, &l), 0);
        double h = hl_entropy_bits(hist), c = (double)hl_huf_cost_bits(hist, &l);
        assert_true(c <= 1.01 * h);
        assert_true(h / N < 8.0); /* the codes are far from uniform */
    }
    free(src);
    free(x);
    free(q);
}

static void test_dtype_geometry(void **state)
{
    (void)state;
    hl_dtype_t t;
    assert_int_equal(hl_quant_dtype(8, 0, &t), 0);
    assert_int_equal(t, HL_DTYPE_QU8);
    assert_int_equal(hl_quant_dtype(4, 128, &t), 0);
    assert_int_equal(t, HL_DTYPE_QU4_G128);
    assert_int_equal(hl_quant_dtype(3, 0, &t), HL_EINVAL);
    assert_int_equal(hl_quant_dtype(8, 16, &t), HL_EINVAL);
    uint64_t b;
    assert_int_equal(hl_dtype_bytes(HL_DTYPE_QU4, 10, &b), 0);
    assert_int_equal(b, 10);
    assert_int_equal(hl_dtype_bytes(HL_DTYPE_QU8_G32, 64, &b), 0);
    assert_int_equal(b, 70);
    assert_int_equal(hl_dtype_bytes(HL_DTYPE_QU8_G32, 65, &b), HL_EINVAL);
    assert_string_equal(hl_dtype_name(HL_DTYPE_QU4_G64), "qu4g64");
    assert_int_equal(hl_dtype_parse("qu8g128", &t), 0);
    assert_int_equal(t, HL_DTYPE_QU8_G128);
    assert_false(hl_dtype_is_quant(HL_DTYPE_Q8_0));
    /* per-tensor dtypes cannot be widened without their parameters */
    float f[4];
    uint8_t c[4] = {0};
    assert_int_equal(hl_widen_f32(HL_DTYPE_QU8, c, 4, f), HL_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_error_bound_per_scheme),
        cmocka_unit_test(test_choice_is_min_mse),
        cmocka_unit_test(test_sym_asym_crafted),
        cmocka_unit_test(test_tile_roundtrip),
        cmocka_unit_test(test_huffman_near_entropy),
        cmocka_unit_test(test_dtype_geometry),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
