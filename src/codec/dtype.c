/*
 * Element types: names, sizes, exact scalar conversions between fp32 and fp16/bf16, and the
 * widening of source bytes to fp32 (the engine's uncompressed path).
 */
#include "codec/codec_internal.h"
#include "codec/quant.h"


static const char *const dtype_names[] = {
    [HL_DTYPE_F32] = "f32", [HL_DTYPE_F16] = "f16", [HL_DTYPE_BF16] = "bf16",
    [HL_DTYPE_Q8_0] = "q8_0", [HL_DTYPE_RAW] = "raw",
    [HL_DTYPE_QU8] = "qu8", [HL_DTYPE_QU4] = "qu4", [HL_DTYPE_QU8_G32] = "qu8g32",
    [HL_DTYPE_QU4_G32] = "qu4g32", [HL_DTYPE_QU8_G128] = "qu8g128", [HL_DTYPE_QU4_G128] = "qu4g128",
    [HL_DTYPE_QU8_G64] = "qu8g64", [HL_DTYPE_QU4_G64] = "qu4g64",
    [HL_DTYPE_QP4] = "qp4", [HL_DTYPE_QP4_G32] = "qp4g32", [HL_DTYPE_QP4_G64] = "qp4g64",
    [HL_DTYPE_QP4_G128] = "qp4g128",
};

const char *hl_dtype_name(hl_dtype_t t)
{
    if ((unsigned)t < HL_ARRAY_SIZE(dtype_names))
        return dtype_names[t];
    return "unknown";
}

int hl_dtype_parse(const char *name, hl_dtype_t *out)
{
    if (!name || !out)
        return HL_EINVAL;
    for (unsigned i = 0; i < HL_ARRAY_SIZE(dtype_names); i++) {
        if (!strcmp(name, dtype_names[i])) {
            *out = (hl_dtype_t)i;
            return 0;
        }
    }
    return HL_EINVAL;
}

int hl_dtype_bytes(hl_dtype_t t, uint64_t n_elems, uint64_t *out)
{
    uint64_t r;
    switch (t) {
    case HL_DTYPE_F32:
        if (!hl_mul_ok(n_elems, 4, &r))
            return HL_EOVERFLOW;
        break;
    case HL_DTYPE_F16:
    case HL_DTYPE_BF16:
        if (!hl_mul_ok(n_elems, 2, &r))
            return HL_EOVERFLOW;
        break;
    case HL_DTYPE_Q8_0:
        if (n_elems % HL_Q8_0_BLOCK)
            return HL_EINVAL;
        r = n_elems / HL_Q8_0_BLOCK * HL_Q8_0_BLOCK_BYTES; /* cannot overflow */
        break;
    case HL_DTYPE_RAW:
        r = n_elems;
        break;
    default:
        return hl__quant_dtype_bytes(t, n_elems, out);
    }
    *out = r;
    return 0;
}

float hl_f16_to_f32(uint16_t h)
{
    return hl__bits_f32(hl__f16_to_f32_bits(h));
}

float hl_bf16_to_f32(uint16_t b)
{
    return hl__bits_f32((uint32_t)b << 16);
}

uint16_t hl_f32_to_bf16(float f)
{
    uint32_t u = hl__f32_bits(f);
    if ((u & 0x7fffffffu) > 0x7f800000u)
        /* NaN: keep sign and the top 7 payload bits; set one if they are all 0, to stay NaN */
        return (uint16_t)((u >> 16) & 0x7fu ? u >> 16 : (u >> 16) | 0x40u);
    /* Round to nearest even: add half an ulp minus one, plus the kept lsb. Carries into the
     * exponent are correct (up to Inf for the largest values). */
    return (uint16_t)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}

uint16_t hl_f32_to_f16(float f)
{
    uint32_t u = hl__f32_bits(f);
    uint16_t sign = (uint16_t)((u >> 16) & 0x8000u);
    uint32_t a = u & 0x7fffffffu;
    if (a > 0x7f800000u) { /* NaN: keep the top 10 payload bits, quiet if they are all 0 */
        uint32_t m = (a >> 13) & 0x3ffu;
        return (uint16_t)(sign | 0x7c00u | (m ? m : 0x200u));
    }
    if (a >= 0x477ff000u) /* >= 65520 rounds (to even) to infinity */
        return (uint16_t)(sign | 0x7c00u);
    if (a < 0x38800000u) { /* below 2^-14: fp16 subnormal or zero */
        unsigned e = a >> 23;
        if (e < 102) /* below 2^-25: rounds to zero (2^-25 itself ties to even 0) */
            return sign;
        uint32_t m = (a & 0x7fffffu) | 0x800000u, shift = 126 - e; /* 14..24 */
        uint32_t r = m >> shift, rem = m & ((1u << shift) - 1), half = 1u << (shift - 1);
        r += rem > half || (rem == half && (r & 1));
        return (uint16_t)(sign | r);
    }
    uint32_t r = (a - (112u << 23)) >> 13, rem = a & 0x1fffu;
    r += rem > 0x1000u || (rem == 0x1000u && (r & 1));
    return (uint16_t)(sign | r);
}

int hl_widen_f32(hl_dtype_t t, const void *src, uint64_t n_elems, float *dst)
{
    const uint8_t *s = src;
    if ((!src || !dst) && n_elems)
        return HL_EINVAL;
    switch (t) {
    case HL_DTYPE_F32:
        if (n_elems)
            memcpy(dst, src, n_elems * 4);
        return 0;
    case HL_DTYPE_BF16: {
        uint64_t i = 0;
#ifdef HL__SSE2
        /* bf16 is the top half of fp32: interleave zero half-words below it. */
        const __m128i z = _mm_setzero_si128();
        for (; i + 8 <= n_elems; i += 8) {
            __m128i b = _mm_loadu_si128((const __m128i *)(s + 2 * i));
            _mm_storeu_si128((__m128i *)(dst + i), _mm_unpacklo_epi16(z, b));
            _mm_storeu_si128((__m128i *)(dst + i + 4), _mm_unpackhi_epi16(z, b));
        }
#endif
        for (; i < n_elems; i++)
            dst[i] = hl__bits_f32((uint32_t)hl_load_le16(s + 2 * i) << 16);
        return 0;
    }
    case HL_DTYPE_F16: {
        uint64_t i = 0;
#ifdef HL__SSE2
        const __m128i z = _mm_setzero_si128();
        for (; i + 8 <= n_elems; i += 8) {
            __m128i h = _mm_loadu_si128((const __m128i *)(s + 2 * i));
            _mm_storeu_si128((__m128i *)(dst + i), hl__f16_to_f32_sse2(_mm_unpacklo_epi16(h, z)));
            _mm_storeu_si128((__m128i *)(dst + i + 4),
                             hl__f16_to_f32_sse2(_mm_unpackhi_epi16(h, z)));
        }
#endif
        for (; i < n_elems; i++)
            dst[i] = hl__bits_f32(hl__f16_to_f32_bits(hl_load_le16(s + 2 * i)));
        return 0;
    }
    case HL_DTYPE_Q8_0:
        if (n_elems % HL_Q8_0_BLOCK)
            return HL_EINVAL;
        for (uint64_t b = 0; b < n_elems / HL_Q8_0_BLOCK; b++) {
            const uint8_t *blk = s + b * HL_Q8_0_BLOCK_BYTES;
            float d = hl_f16_to_f32(hl_load_le16(blk));
            for (unsigned j = 0; j < HL_Q8_0_BLOCK; j++)
                dst[b * HL_Q8_0_BLOCK + j] = (float)(int8_t)blk[2 + j] * d;
        }
        return 0;
    default: /* grouped quantized dtypes carry their parameters; per-tensor ones refuse */
        return hl_quant_widen_f32(NULL, t, src, n_elems, dst);
    }
}
