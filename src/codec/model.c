/*
 * The coding models: which byte of an element is its Huffman symbol, which bytes are kept
 * verbatim, and how an element is rebuilt from both (see codec.h for the table).
 *
 * Verbatim bytes of a tile, in element order:
 *   bf16: 1 byte per element, sign<<7 | mantissa(7)
 *   f16:  1 byte per element, the low byte
 *   f32:  3 bytes per element, mantissa bits 0..7, 8..15, sign<<7 | mantissa bits 16..22
 *   q8_0: 2 bytes per block of 32, the fp16 scale as stored in the block (little-endian)
 *
 * Rebuilding works in blocks of HL__FUSE_BLOCK elements whose inputs are first copied to
 * locals: this lets the decoder keep its symbols in the last bytes of the output buffer
 * (outputs of a block never reach the symbols of later blocks, see codec_internal.h), and
 * it tells the compiler that outputs do not alias inputs, so the loops vectorize.
 */
#include "codec/codec_internal.h"

#define HL__FUSE_BLOCK 16

int hl__verbatim_bytes(hl_dtype_t t, uint64_t n, uint64_t *out)
{
    switch (t) {
    case HL_DTYPE_BF16:
    case HL_DTYPE_F16:
        *out = n;
        return 0;
    case HL_DTYPE_F32:
        return hl_mul_ok(n, 3, out) ? 0 : HL_EOVERFLOW;
    case HL_DTYPE_Q8_0:
        if (n % HL_Q8_0_BLOCK)
            return HL_EINVAL;
        *out = n / HL_Q8_0_BLOCK * 2;
        return 0;
    default:
        return HL_EINVAL;
    }
}

double hl_codec_verbatim_bits(hl_dtype_t t)
{
    switch (t) {
    case HL_DTYPE_BF16:
    case HL_DTYPE_F16: return 8;
    case HL_DTYPE_F32: return 24;
    case HL_DTYPE_Q8_0: return 16.0 / HL_Q8_0_BLOCK;
    case HL_DTYPE_RAW: return 8;
    }
    return 0;
}

void hl__symbols_extract(hl_dtype_t t, const uint8_t *src, uint64_t first, uint64_t count,
                         uint8_t *out)
{
    switch (t) {
    case HL_DTYPE_BF16:
        for (uint64_t i = 0; i < count; i++)
            out[i] = (uint8_t)(hl_load_le16(src + 2 * (first + i)) >> 7);
        break;
    case HL_DTYPE_F16:
        for (uint64_t i = 0; i < count; i++)
            out[i] = src[2 * (first + i) + 1];
        break;
    case HL_DTYPE_F32:
        for (uint64_t i = 0; i < count; i++)
            out[i] = (uint8_t)(hl_load_le32(src + 4 * (first + i)) >> 23);
        break;
    case HL_DTYPE_Q8_0:
        for (uint64_t i = 0; i < count; i++) {
            uint64_t e = first + i;
            out[i] = src[e / HL_Q8_0_BLOCK * HL_Q8_0_BLOCK_BYTES + 2 + e % HL_Q8_0_BLOCK];
        }
        break;
    default:
        break;
    }
}

void hl__verbatim_extract(hl_dtype_t t, const uint8_t *src, uint64_t n, uint8_t *out)
{
    switch (t) {
    case HL_DTYPE_BF16:
        for (uint64_t i = 0; i < n; i++) {
            uint16_t b = hl_load_le16(src + 2 * i);
            out[i] = (uint8_t)((b >> 8 & 0x80u) | (b & 0x7fu));
        }
        break;
    case HL_DTYPE_F16:
        for (uint64_t i = 0; i < n; i++)
            out[i] = src[2 * i];
        break;
    case HL_DTYPE_F32:
        for (uint64_t i = 0; i < n; i++) {
            uint32_t u = hl_load_le32(src + 4 * i);
            out[3 * i] = (uint8_t)u;
            out[3 * i + 1] = (uint8_t)(u >> 8);
            out[3 * i + 2] = (uint8_t)((u >> 24 & 0x80u) | (u >> 16 & 0x7fu));
        }
        break;
    case HL_DTYPE_Q8_0:
        for (uint64_t b = 0; b < n / HL_Q8_0_BLOCK; b++)
            memcpy(out + 2 * b, src + b * HL_Q8_0_BLOCK_BYTES, 2);
        break;
    default:
        break;
    }
}

/* ---- element rebuild, one block of k <= HL__FUSE_BLOCK elements ---- */

static inline uint32_t bf16_bits(uint8_t s, uint8_t v)
{
    return (uint32_t)(v & 0x80u) << 8 | (uint32_t)s << 7 | (v & 0x7fu);
}

static inline uint32_t f32_bits(uint8_t s, const uint8_t *v)
{
    return (uint32_t)(v[2] & 0x80u) << 24 | (uint32_t)s << 23 | (uint32_t)(v[2] & 0x7fu) << 16 |
           (uint32_t)v[1] << 8 | v[0];
}

static inline void block_f32(hl_dtype_t t, const uint8_t *sym, const uint8_t *verb, unsigned k,
                             float *dst)
{
    uint8_t s[HL__FUSE_BLOCK], v[3 * HL__FUSE_BLOCK];
    uint32_t o[HL__FUSE_BLOCK];
    unsigned vb = t == HL_DTYPE_F32 ? 3 : 1;
    memcpy(s, sym, k);
    memcpy(v, verb, (size_t)k * vb);
    switch (t) {
    case HL_DTYPE_BF16:
        for (unsigned j = 0; j < k; j++)
            o[j] = bf16_bits(s[j], v[j]) << 16;
        break;
    case HL_DTYPE_F16:
        for (unsigned j = 0; j < k; j++)
            o[j] = hl__f16_to_f32_bits((uint32_t)s[j] << 8 | v[j]);
        break;
    default: /* F32 */
        for (unsigned j = 0; j < k; j++)
            o[j] = f32_bits(s[j], v + 3 * j);
        break;
    }
    memcpy(dst, o, (size_t)k * 4);
}

static inline void block_bytes(hl_dtype_t t, const uint8_t *sym, const uint8_t *verb, unsigned k,
                               uint8_t *dst)
{
    uint8_t s[HL__FUSE_BLOCK], v[3 * HL__FUSE_BLOCK], o[4 * HL__FUSE_BLOCK];
    unsigned vb = t == HL_DTYPE_F32 ? 3 : 1, ob = t == HL_DTYPE_F32 ? 4 : 2;
    memcpy(s, sym, k);
    memcpy(v, verb, (size_t)k * vb);
    switch (t) {
    case HL_DTYPE_BF16:
        for (unsigned j = 0; j < k; j++) {
            uint32_t b = bf16_bits(s[j], v[j]);
            o[2 * j] = (uint8_t)b;
            o[2 * j + 1] = (uint8_t)(b >> 8);
        }
        break;
    case HL_DTYPE_F16:
        for (unsigned j = 0; j < k; j++) {
            o[2 * j] = v[j];
            o[2 * j + 1] = s[j];
        }
        break;
    default: /* F32 */
        for (unsigned j = 0; j < k; j++) {
            o[4 * j] = v[3 * j];
            o[4 * j + 1] = v[3 * j + 1];
            o[4 * j + 2] = (uint8_t)(s[j] << 7 | (v[3 * j + 2] & 0x7fu));
            o[4 * j + 3] = (uint8_t)((v[3 * j + 2] & 0x80u) | s[j] >> 1);
        }
        break;
    }
    memcpy(dst, o, (size_t)k * ob);
}

#if defined(__SSE2__)
#include <emmintrin.h>

/* bf16 -> fp32, 16 elements per step: the 16 symbols and verbatim bytes are loaded before
 * the 64 output bytes are stored (see the in-place contract above). SSE2 is part of x86-64,
 * so this needs no CPU detection. */
static uint64_t fuse_bf16_f32_sse2(const uint8_t *sym, const uint8_t *verb, uint64_t n,
                                   float *dst)
{
    const __m128i z = _mm_setzero_si128(), m7f = _mm_set1_epi16(0x7f), m80 = _mm_set1_epi16(0x80);
    uint64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m128i s = _mm_loadu_si128((const __m128i *)(sym + i));
        __m128i v = _mm_loadu_si128((const __m128i *)(verb + i));
        __m128i s0 = _mm_unpacklo_epi8(s, z), s1 = _mm_unpackhi_epi8(s, z);
        __m128i v0 = _mm_unpacklo_epi8(v, z), v1 = _mm_unpackhi_epi8(v, z);
        __m128i b0 = _mm_or_si128(_mm_or_si128(_mm_slli_epi16(_mm_and_si128(v0, m80), 8),
                                               _mm_slli_epi16(s0, 7)),
                                  _mm_and_si128(v0, m7f));
        __m128i b1 = _mm_or_si128(_mm_or_si128(_mm_slli_epi16(_mm_and_si128(v1, m80), 8),
                                               _mm_slli_epi16(s1, 7)),
                                  _mm_and_si128(v1, m7f));
        _mm_storeu_si128((__m128i *)(dst + i), _mm_unpacklo_epi16(z, b0));
        _mm_storeu_si128((__m128i *)(dst + i + 4), _mm_unpackhi_epi16(z, b0));
        _mm_storeu_si128((__m128i *)(dst + i + 8), _mm_unpacklo_epi16(z, b1));
        _mm_storeu_si128((__m128i *)(dst + i + 12), _mm_unpackhi_epi16(z, b1));
    }
    return i;
}
#endif

void hl__fuse_f32(hl_dtype_t t, const uint8_t *sym, const uint8_t *verb, uint64_t n, float *dst)
{
    if (t == HL_DTYPE_Q8_0) {
        for (uint64_t b = 0; b < n / HL_Q8_0_BLOCK; b++) {
            int8_t q[HL_Q8_0_BLOCK];
            float o[HL_Q8_0_BLOCK];
            memcpy(q, sym + b * HL_Q8_0_BLOCK, HL_Q8_0_BLOCK);
            float d = hl_f16_to_f32(hl_load_le16(verb + 2 * b));
            for (unsigned j = 0; j < HL_Q8_0_BLOCK; j++)
                o[j] = (float)q[j] * d;
            memcpy(dst + b * HL_Q8_0_BLOCK, o, sizeof o);
        }
        return;
    }
    unsigned vb = t == HL_DTYPE_F32 ? 3 : 1;
    uint64_t i = 0;
#if defined(__SSE2__)
    if (t == HL_DTYPE_BF16)
        i = fuse_bf16_f32_sse2(sym, verb, n, dst);
#endif
    for (; i + HL__FUSE_BLOCK <= n; i += HL__FUSE_BLOCK)
        block_f32(t, sym + i, verb + i * vb, HL__FUSE_BLOCK, dst + i);
    if (i < n)
        block_f32(t, sym + i, verb + i * vb, (unsigned)(n - i), dst + i);
}

void hl__fuse_bytes(hl_dtype_t t, const uint8_t *sym, const uint8_t *verb, uint64_t n,
                    uint8_t *dst)
{
    if (t == HL_DTYPE_Q8_0) {
        for (uint64_t b = 0; b < n / HL_Q8_0_BLOCK; b++) {
            uint8_t *blk = dst + b * HL_Q8_0_BLOCK_BYTES;
            memmove(blk + 2, sym + b * HL_Q8_0_BLOCK, HL_Q8_0_BLOCK); /* may overlap */
            memcpy(blk, verb + 2 * b, 2);
        }
        return;
    }
    unsigned vb = t == HL_DTYPE_F32 ? 3 : 1, ob = t == HL_DTYPE_F32 ? 4 : 2;
    uint64_t i = 0;
    for (; i + HL__FUSE_BLOCK <= n; i += HL__FUSE_BLOCK)
        block_bytes(t, sym + i, verb + i * vb, HL__FUSE_BLOCK, dst + i * ob);
    if (i < n)
        block_bytes(t, sym + i, verb + i * vb, (unsigned)(n - i), dst + i * ob);
}

int hl_codec_symbols(hl_dtype_t t, const void *src, uint64_t first, uint64_t count, uint8_t *out)
{
    if (t == HL_DTYPE_RAW || (unsigned)t > HL_DTYPE_RAW || ((!src || !out) && count))
        return HL_EINVAL;
    hl__symbols_extract(t, src, first, count, out);
    return 0;
}

int hl_codec_histogram(hl_dtype_t t, const void *src, uint64_t n_elems,
                       uint64_t hist[HL_HUF_SYMBOLS])
{
    uint64_t vb;
    if (!hist || (!src && n_elems) || hl__verbatim_bytes(t, n_elems, &vb))
        return HL_EINVAL;
    uint8_t buf[4096];
    for (uint64_t i = 0; i < n_elems; i += sizeof buf) {
        uint64_t k = HL_MIN(sizeof buf, n_elems - i);
        hl__symbols_extract(t, src, i, k, buf);
        for (uint64_t j = 0; j < k; j++)
            hist[buf[j]]++;
    }
    return 0;
}
