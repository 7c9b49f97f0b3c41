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

/* Every element reads its code before its 4 output bytes are written; codes of later
 * elements sit at or beyond them (codec_internal.h's in-place argument), and a block's
 * parameters come from `verb`, which the decoder keeps outside dst. */
void hl__quant_fuse_f32(const hl_tensor_codec_t *tc, const uint8_t *sym, const uint8_t *verb,
                        uint64_t n, float *dst)
{
    unsigned g = hl_quant_group(tc->dtype);
    if (g == 0) {
        float s = tc->q_scale, z = tc->q_zero;
        for (uint64_t i = 0; i < n; i++)
            dst[i] = s * ((float)sym[i] - z);
        return;
    }
    for (uint64_t b = 0; b < n / g; b++) {
        float s = hl_f16_to_f32(hl_load_le16(verb + QBLOCK_HEAD * b));
        float z = (float)verb[QBLOCK_HEAD * b + 2];
        const uint8_t *q = sym + b * g;
        float *o = dst + b * g;
        for (unsigned j = 0; j < g; j++)
            o[j] = s * ((float)q[j] - z);
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
        float sc = hl_f16_to_f32(hl_load_le16(blk)), z = (float)blk[2];
        for (unsigned j = 0; j < g; j++)
            dst[b * g + j] = sc * ((float)blk[QBLOCK_HEAD + j] - z);
    }
    return 0;
}
