/* Unit tests for codec/dtype.c: names and sizes, exact fp16/bf16 conversions (every pattern,
 * round to nearest even, NaN kept NaN), and widening to fp32. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "huffllm/codec.h"
#include "codec_test_util.h"

static uint32_t bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

static float from_bits(uint32_t u)
{
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static void test_names_and_sizes(void **state)
{
    (void)state;
    hl_dtype_t t;
    for (int i = 0; i <= HL_DTYPE_RAW; i++) {
        assert_int_equal(hl_dtype_parse(hl_dtype_name((hl_dtype_t)i), &t), 0);
        assert_int_equal(t, i);
    }
    assert_string_equal(hl_dtype_name(HL_DTYPE_Q8_0), "q8_0");
    assert_int_equal(hl_dtype_parse("f8", &t), HL_EINVAL);
    uint64_t b;
    assert_int_equal(hl_dtype_bytes(HL_DTYPE_F32, 10, &b), 0);
    assert_int_equal(b, 40);
    assert_int_equal(hl_dtype_bytes(HL_DTYPE_BF16, 10, &b), 0);
    assert_int_equal(b, 20);
    assert_int_equal(hl_dtype_bytes(HL_DTYPE_Q8_0, 64, &b), 0);
    assert_int_equal(b, 68);
    assert_int_equal(hl_dtype_bytes(HL_DTYPE_Q8_0, 65, &b), HL_EINVAL);
    assert_int_equal(hl_dtype_bytes(HL_DTYPE_RAW, 5, &b), 0);
    assert_int_equal(b, 5);
    assert_int_equal(hl_dtype_bytes(HL_DTYPE_F32, UINT64_MAX / 2, &b), HL_EOVERFLOW);
    assert_int_equal(hl_dtype_bytes((hl_dtype_t)77, 1, &b), HL_EINVAL);
    assert_true(hl_codec_verbatim_bits(HL_DTYPE_BF16) == 8);
    assert_true(hl_codec_verbatim_bits(HL_DTYPE_F32) == 24);
    assert_true(hl_codec_verbatim_bits(HL_DTYPE_Q8_0) == 0.5);
}

/* fp16 -> fp32 against the definition, for all 65536 patterns; fp32 -> fp16 gives them back. */
static void test_f16_every_pattern(void **state)
{
    (void)state;
    for (uint32_t h = 0; h < 65536; h++) {
        unsigned e = (h >> 10) & 31, m = h & 1023;
        double sign = (h & 0x8000) ? -1 : 1;
        float f = hl_f16_to_f32((uint16_t)h);
        if (e == 31) {
            if (m == 0) {
                assert_true(isinf(f) && (signbit(f) != 0) == (sign < 0));
            } else { /* NaN, payload in the top mantissa bits */
                assert_true(isnan(f));
                assert_int_equal(bits(f), (h & 0x8000u) << 16 | 0x7f800000u | m << 13);
            }
        } else {
            double v = e ? ldexp(1024 + m, (int)e - 25) : ldexp(m, -24);
            assert_true((double)f == sign * v);
            assert_true((signbit(f) != 0) == (sign < 0));
        }
        assert_int_equal(hl_f32_to_f16(f), h);
    }
    /* The vector widening agrees with the scalar conversion on every pattern. */
    uint8_t *src = malloc(65536 * 2);
    float *out = malloc(65536 * 4);
    assert_non_null(src);
    assert_non_null(out);
    for (uint32_t h = 0; h < 65536; h++)
        hl_store_le16(src + 2 * h, (uint16_t)h);
    assert_int_equal(hl_widen_f32(HL_DTYPE_F16, src, 65536, out), 0);
    for (uint32_t h = 0; h < 65536; h++)
        assert_int_equal(bits(out[h]), bits(hl_f16_to_f32((uint16_t)h)));
    free(src);
    free(out);
}

static void test_bf16_every_pattern(void **state)
{
    (void)state;
    for (uint32_t b = 0; b < 65536; b++) {
        float f = hl_bf16_to_f32((uint16_t)b);
        assert_int_equal(bits(f), b << 16);
        assert_int_equal(hl_f32_to_bf16(f), b); /* NaN payloads too */
    }
    /* A NaN whose payload is only in the low 16 bits stays NaN. */
    assert_true(isnan(hl_bf16_to_f32(hl_f32_to_bf16(from_bits(0x7f800001u)))));
    assert_true(isnan(hl_f16_to_f32(hl_f32_to_f16(from_bits(0xff800001u)))));
}

/* Rounding to nearest, ties to even, checked against exact neighbours in double. */
static void check_rne(float f, float lo, float hi, float got, int lo_even)
{
    double dl = fabs((double)f - (double)lo), dh = fabs((double)f - (double)hi);
    float want = dl < dh ? lo : dh < dl ? hi : (lo_even ? lo : hi);
    assert_int_equal(bits(got), bits(want));
}

static void test_rounding(void **state)
{
    (void)state;
    uint64_t seed = 17;
    for (int i = 0; i < 200000; i++) {
        uint32_t u = (uint32_t)tu_rand(&seed);
        if (i % 4 == 0) /* exact ties */
            u = (u & 0xffff0000u) | 0x8000u;
        float f = from_bits(u);
        if (isnan(f) || isinf(f))
            continue;
        /* bf16: neighbours are the truncation and the next pattern up in magnitude. */
        uint16_t t = (uint16_t)(u >> 16);
        float lo = hl_bf16_to_f32(t), hi = hl_bf16_to_f32((uint16_t)(t + 1));
        if (!isinf(hi)) /* overflow to Inf is checked below */
            check_rne(f, lo, hi, hl_bf16_to_f32(hl_f32_to_bf16(f)), !(t & 1));
        /* fp16: values from its subnormals to 2^15 (overflow is checked below). */
        float g = from_bits((u & 0x807fffffu) | (uint32_t)(100 + i % 42) << 23);
        if (i % 8 == 1)
            g = from_bits(bits(g) & 0xffffe000u) + 0; /* not a tie */
        uint16_t h = hl_f32_to_f16(g);
        uint16_t down = h, up = h;
        float fh = hl_f16_to_f32(h);
        if (fabsf(fh) > fabsf(g))
            down = (uint16_t)(h - 1);
        else if (fabsf(fh) < fabsf(g))
            up = (uint16_t)(h + 1);
        if ((h & 0x7fffu) == 0 && fabsf(fh) < fabsf(g))
            up = (uint16_t)(h + 1);
        check_rne(g, hl_f16_to_f32(down), hl_f16_to_f32(up), fh, !(down & 1));
    }
    /* Overflow and the largest values. */
    assert_int_equal(hl_f32_to_f16(65504.0f), 0x7bff);
    assert_int_equal(hl_f32_to_f16(65519.0f), 0x7bff);
    assert_int_equal(hl_f32_to_f16(65520.0f), 0x7c00);
    assert_int_equal(hl_f32_to_f16(-1e30f), 0xfc00);
    assert_int_equal(hl_f32_to_f16(0x1p-25f), 0x0000); /* tie to even zero */
    assert_int_equal(hl_f32_to_f16(0x1.8p-25f), 0x0001);
    assert_int_equal(hl_f32_to_f16(0x1p-26f), 0x0000);
    assert_int_equal(hl_f32_to_f16(-0.0f), 0x8000);
    assert_int_equal(hl_f32_to_bf16(3.4028235e38f), 0x7f80); /* rounds up to Inf */
#ifdef __FLT16_MAX__
    /* The compiler's own conversion agrees on random inputs. */
    for (int i = 0; i < 100000; i++) {
        float f = from_bits((uint32_t)tu_rand(&seed));
        if (isnan(f))
            continue;
        _Float16 r = (_Float16)f;
        uint16_t rb;
        memcpy(&rb, &r, 2);
        assert_int_equal(hl_f32_to_f16(f), rb);
    }
#endif
}

static void test_widen(void **state)
{
    (void)state;
    uint64_t seed = 3, n = 32 * 9;
    uint8_t src[32 * 9 * 4];
    float out[32 * 9];
    tu_fill_weights(HL_DTYPE_BF16, &seed, src, n);
    assert_int_equal(hl_widen_f32(HL_DTYPE_BF16, src, n, out), 0);
    for (uint64_t i = 0; i < n; i++)
        assert_int_equal(bits(out[i]), (uint32_t)hl_load_le16(src + 2 * i) << 16);
    tu_fill_weights(HL_DTYPE_F16, &seed, src, n);
    assert_int_equal(hl_widen_f32(HL_DTYPE_F16, src, n, out), 0);
    for (uint64_t i = 0; i < n; i++)
        assert_int_equal(bits(out[i]), bits(hl_f16_to_f32(hl_load_le16(src + 2 * i))));
    tu_fill_weights(HL_DTYPE_F32, &seed, src, n);
    assert_int_equal(hl_widen_f32(HL_DTYPE_F32, src, n, out), 0);
    assert_memory_equal(out, src, n * 4);
    tu_fill_weights(HL_DTYPE_Q8_0, &seed, src, n);
    assert_int_equal(hl_widen_f32(HL_DTYPE_Q8_0, src, n, out), 0);
    for (uint64_t i = 0; i < n; i++) {
        const uint8_t *blk = src + i / 32 * 34;
        float d = hl_f16_to_f32(hl_load_le16(blk));
        assert_true(out[i] == (float)(int8_t)blk[2 + i % 32] * d);
    }
    assert_int_equal(hl_widen_f32(HL_DTYPE_Q8_0, src, 31, out), HL_EINVAL);
    assert_int_equal(hl_widen_f32(HL_DTYPE_RAW, src, 4, out), HL_EINVAL);
    assert_int_equal(hl_widen_f32(HL_DTYPE_BF16, NULL, 0, NULL), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names_and_sizes),
        cmocka_unit_test(test_f16_every_pattern),
        cmocka_unit_test(test_bf16_every_pattern),
        cmocka_unit_test(test_rounding),
        cmocka_unit_test(test_widen),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
