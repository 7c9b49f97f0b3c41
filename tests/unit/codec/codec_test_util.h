/* Helpers shared by the codec tests: a seeded generator and weight-like data. */
#ifndef HL_CODEC_TEST_UTIL_H
#define HL_CODEC_TEST_UTIL_H

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "huffllm/codec.h"

/* xorshift64*: fast, seeded, the same sequence on every machine. */
static inline uint64_t tu_rand(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 0x2545F4914F6CDD1Dull;
}

/* Standard normal deviate (Box-Muller). */
static inline double tu_gauss(uint64_t *s)
{
    double u1 = ((double)(tu_rand(s) >> 11) + 1.0) / 9007199254740993.0;
    double u2 = (double)(tu_rand(s) >> 11) / 9007199254740992.0;
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

/* Source bytes of n weight-like elements (Gaussian, std 0.02) of dtype t; q8_0 gets random
 * fp16 scales and int8 values concentrated near 0, as quantized weights are. */
static inline void tu_fill_weights(hl_dtype_t t, uint64_t *s, uint8_t *dst, uint64_t n)
{
    for (uint64_t i = 0; i < n; i++) {
        float w = (float)(0.02 * tu_gauss(s));
        if (t == HL_DTYPE_BF16 || t == HL_DTYPE_F16) {
            uint16_t h = t == HL_DTYPE_BF16 ? hl_f32_to_bf16(w) : hl_f32_to_f16(w);
            dst[2 * i] = (uint8_t)h;
            dst[2 * i + 1] = (uint8_t)(h >> 8);
        } else if (t == HL_DTYPE_F32) {
            uint32_t u;
            memcpy(&u, &w, 4);
            for (int k = 0; k < 4; k++)
                dst[4 * i + k] = (uint8_t)(u >> (8 * k));
        } else if (t == HL_DTYPE_Q8_0) {
            uint8_t *blk = dst + i / HL_Q8_0_BLOCK * HL_Q8_0_BLOCK_BYTES;
            if (i % HL_Q8_0_BLOCK == 0) {
                uint16_t d = hl_f32_to_f16((float)(0.001 + 0.001 * (double)(tu_rand(s) % 100)));
                blk[0] = (uint8_t)d;
                blk[1] = (uint8_t)(d >> 8);
            }
            double q = 30.0 * tu_gauss(s);
            q = q > 127 ? 127 : q < -127 ? -127 : q;
            blk[2 + i % HL_Q8_0_BLOCK] = (uint8_t)(int8_t)lrint(q);
        } else {
            dst[i] = (uint8_t)tu_rand(s);
        }
    }
}

/* A codec of layout `codec` (HUF or HUF_LANES) for these source bytes, codes limited to
 * max_bits, or NULL when max_bits cannot code their symbols; the caller frees it. Uses
 * cmocka's asserts (include cmocka.h first). */
static inline hl_tensor_codec_t *tu_make_codec(hl_dtype_t t, const uint8_t *src, uint64_t n,
                                               hl_codec_t codec, unsigned max_bits)
{
    uint64_t hist[HL_HUF_SYMBOLS] = {0};
    assert_int_equal(hl_codec_histogram(t, src, n, hist), 0);
    if (n == 0)
        hist[0] = 1;
    hl_huf_lengths_t l;
    uint8_t table[HL_HUF_TABLE_BYTES];
    if (hl_huf_build_lengths(hist, max_bits, &l))
        return NULL;
    hl_huf_lengths_write(&l, table);
    hl_tensor_codec_t *tc = malloc(sizeof *tc);
    assert_non_null(tc);
    assert_int_equal(hl_tensor_codec_load(tc, t, codec, 4, table), 0);
    return tc;
}

#endif
