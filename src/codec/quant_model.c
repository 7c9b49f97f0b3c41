/*
 * The coding model of the quantized dtypes (see quant.h): the integer code of each weight is
 * its Huffman symbol; grouped dtypes keep each block's fp16 scale and u8 zero point verbatim
 * (3 bytes per block, in block order), per-tensor dtypes have no verbatim bytes at all (their
 * scale and zero live in the tensor codec). The rebuild is weight = scale * (code - zero).
 */
#include "codec/codec_internal.h"
#include "codec/quant.h"

#define QBLOCK_HEAD 3 /* fp16 scale + u8 zero */

bool hl_dtype_is_quant(hl_dtype_t t)
{
    return t >= HL_DTYPE_QU8 && t <= HL_DTYPE_QU4_G64;
}

unsigned hl_quant_bits(hl_dtype_t t)
{
    switch (t) {
    case HL_DTYPE_QU8: case HL_DTYPE_QU8_G32: case HL_DTYPE_QU8_G64: case HL_DTYPE_QU8_G128:
        return 8;
    case HL_DTYPE_QU4: case HL_DTYPE_QU4_G32: case HL_DTYPE_QU4_G64: case HL_DTYPE_QU4_G128:
        return 4;
    default: return 0;
    }
}

unsigned hl_quant_group(hl_dtype_t t)
{
    switch (t) {
    case HL_DTYPE_QU8_G32: case HL_DTYPE_QU4_G32: return 32;
    case HL_DTYPE_QU8_G64: case HL_DTYPE_QU4_G64: return 64;
    case HL_DTYPE_QU8_G128: case HL_DTYPE_QU4_G128: return 128;
    default: return 0;
    }
}

int hl_quant_dtype(unsigned bits, unsigned group, hl_dtype_t *out)
{
    static const hl_dtype_t tab[2][4] = {
        {HL_DTYPE_QU8, HL_DTYPE_QU8_G32, HL_DTYPE_QU8_G64, HL_DTYPE_QU8_G128},
        {HL_DTYPE_QU4, HL_DTYPE_QU4_G32, HL_DTYPE_QU4_G64, HL_DTYPE_QU4_G128},
    };
    int b = bits == 8 ? 0 : bits == 4 ? 1 : -1;
    int g = group == 0 ? 0 : group == 32 ? 1 : group == 64 ? 2 : group == 128 ? 3 : -1;
    if (b < 0 || g < 0 || !out)
        return HL_EINVAL;
    *out = tab[b][g];
    return 0;
}

int hl__quant_dtype_bytes(hl_dtype_t t, uint64_t n, uint64_t *out)
{
    unsigned g = hl_quant_group(t);
    if (!hl_dtype_is_quant(t))
        return HL_EINVAL;
    if (g == 0) {
        *out = n;
        return 0;
    }
    if (n % g)
        return HL_EINVAL;
    return hl_mul_ok(n / g, g + QBLOCK_HEAD, out) ? 0 : HL_EOVERFLOW;
}

int hl__quant_verbatim_bytes(hl_dtype_t t, uint64_t n, uint64_t *out)
{
    unsigned g = hl_quant_group(t);
    if (!hl_dtype_is_quant(t))
        return HL_EINVAL;
    if (g == 0) {
        *out = 0;
        return 0;
    }
    if (n % g)
        return HL_EINVAL;
    *out = n / g * QBLOCK_HEAD;
    return 0;
}

void hl__quant_symbols_extract(hl_dtype_t t, const uint8_t *src, uint64_t first, uint64_t count,
                               uint8_t *out)
{
    unsigned g = hl_quant_group(t);
    if (g == 0) {
        memcpy(out, src + first, count);
        return;
    }
    for (uint64_t i = 0; i < count; i++) {
        uint64_t e = first + i;
        out[i] = src[e / g * (g + QBLOCK_HEAD) + QBLOCK_HEAD + e % g];
    }
}

void hl__quant_verbatim_extract(hl_dtype_t t, const uint8_t *src, uint64_t n, uint8_t *out)
{
    unsigned g = hl_quant_group(t);
    if (g == 0)
        return;
    for (uint64_t b = 0; b < n / g; b++)
        memcpy(out + QBLOCK_HEAD * b, src + b * (g + QBLOCK_HEAD), QBLOCK_HEAD);
}

/* scale * (code - zero) for n codes, 16 at a time with SSE2 (the same two roundings as the
 * scalar tail, so both give identical floats). In place (q the tail of the output buffer,
 * codec_internal.h): each step loads its 16 codes before storing their 64 output bytes, and
 * those end at or before the next step's codes. */
static void dequant(const uint8_t *q, uint64_t n, float s, float z, float *o)
{
    uint64_t i = 0;
#ifdef HL__SSE2
    const __m128i zero = _mm_setzero_si128();
    const __m128 vs = _mm_set1_ps(s), vz = _mm_set1_ps(z);
    for (; i + 16 <= n; i += 16) {
        __m128i c = _mm_loadu_si128((const __m128i *)(q + i));
        __m128i lo = _mm_unpacklo_epi8(c, zero), hi = _mm_unpackhi_epi8(c, zero);
        __m128i w[4] = {_mm_unpacklo_epi16(lo, zero), _mm_unpackhi_epi16(lo, zero),
                        _mm_unpacklo_epi16(hi, zero), _mm_unpackhi_epi16(hi, zero)};
        for (int k = 0; k < 4; k++)
            _mm_storeu_ps(o + i + 4 * k, _mm_mul_ps(vs, _mm_sub_ps(_mm_cvtepi32_ps(w[k]), vz)));
    }
#endif
    for (; i < n; i++)
        o[i] = s * ((float)q[i] - z);
}

/* Every element reads its code before its 4 output bytes are written; codes of later
 * elements sit at or beyond them (codec_internal.h's in-place argument), and a block's
 * parameters come from `verb`, which the decoder keeps outside dst. */
void hl__quant_fuse_f32(const hl_tensor_codec_t *tc, const uint8_t *sym, const uint8_t *verb,
                        uint64_t n, float *dst)
{
    unsigned g = hl_quant_group(tc->dtype);
    if (g == 0) {
        dequant(sym, n, tc->q_scale, tc->q_zero, dst);
        return;
    }
    for (uint64_t b = 0; b < n / g; b++) {
        float s = hl_f16_to_f32(hl_load_le16(verb + QBLOCK_HEAD * b));
        dequant(sym + b * g, g, s, (float)verb[QBLOCK_HEAD * b + 2], dst + b * g);
    }
}

void hl__quant_fuse_bytes(hl_dtype_t t, const uint8_t *sym, const uint8_t *verb, uint64_t n,
                          uint8_t *dst)
{
    unsigned g = hl_quant_group(t);
    if (g == 0) {
        memmove(dst, sym, n);
        return;
    }
    for (uint64_t b = 0; b < n / g; b++) {
        uint8_t *blk = dst + b * (g + QBLOCK_HEAD);
        memmove(blk + QBLOCK_HEAD, sym + b * g, g); /* may overlap, as for q8_0 */
        memcpy(blk, verb + QBLOCK_HEAD * b, QBLOCK_HEAD);
    }
}

int hl_quant_widen_f32(const hl_tensor_codec_t *tc, hl_dtype_t t, const void *src, uint64_t n,
                       float *dst)
{
    uint64_t bytes;
    unsigned g = hl_quant_group(t);
    if ((!src || !dst) && n)
        return HL_EINVAL;
    if (hl__quant_dtype_bytes(t, n, &bytes))
        return HL_EINVAL;
    if (g == 0) {
        if (!tc || tc->dtype != t)
            return HL_EINVAL;
        hl__quant_fuse_f32(tc, src, NULL, n, dst);
        return 0;
    }
    const uint8_t *s = src;
    for (uint64_t b = 0; b < n / g; b++) {
        const uint8_t *blk = s + b * (g + QBLOCK_HEAD);
        dequant(blk + QBLOCK_HEAD, g, hl_f16_to_f32(hl_load_le16(blk)), (float)blk[2],
                dst + b * g);
    }
    return 0;
}
