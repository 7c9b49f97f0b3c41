/*
 * The coding models: which byte of an element is its Huffman symbol, which bytes are kept
 * verbatim, and how an element is rebuilt from both (see codec.h for the table).
 *
 * Verbatim bytes of a tile of n elements:
 *   bf16: n bytes, sign<<7 | mantissa(7), in element order
 *   f16:  n bytes, the low byte, in element order
 *   f32:  3 planes of n bytes: mantissa bits 0..7 of every element, then bits 8..15, then
 *         sign<<7 | bits 16..22 (planes, not 3-byte groups, so that the rebuild is plain
 *         byte interleaving that SSE2 does 16 elements at a time)
 *   q8_0: 2 bytes per block of 32, the fp16 scale as stored in the block (little-endian)
 *
 * The decoder keeps its symbols in the last n bytes of the output buffer (no workspace):
 * every rebuild below reads an element's symbol (in vector paths, the symbols of its whole
 * step) before it writes that element's output. With b output bytes per element, the
 * symbol of element j sits at byte (b-1)n + j, which the outputs of elements < j never
 * reach: (b-1)n + j >= b*j for j <= n. So the rebuild is correct in place.
 * SSE2 is part of x86-64: no CPU detection is needed.
 */
#include "codec/codec_internal.h"
#include "codec/quant.h"


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
        return hl__quant_verbatim_bytes(t, n, out);
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
    default:
        if (hl_quant_group(t))
            return 24.0 / hl_quant_group(t);
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
        if (hl_dtype_is_quant(t))
            hl__quant_symbols_extract(t, src, first, count, out);
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
            out[i] = (uint8_t)u;
            out[n + i] = (uint8_t)(u >> 8);
            out[2 * n + i] = (uint8_t)((u >> 24 & 0x80u) | (u >> 16 & 0x7fu));
        }
        break;
    case HL_DTYPE_Q8_0:
        for (uint64_t b = 0; b < n / HL_Q8_0_BLOCK; b++)
            memcpy(out + 2 * b, src + b * HL_Q8_0_BLOCK_BYTES, 2);
        break;
    default:
        if (hl_dtype_is_quant(t))
            hl__quant_verbatim_extract(t, src, n, out);
        break;
    }
}

/* ---- element rebuild ---- */

/* The high 16 bits of a bf16 or fp32 element from its exponent and sign+mantissa byte. */
static inline uint32_t hi16(uint8_t s, uint8_t v)
{
    return (uint32_t)(v & 0x80u) << 8 | (uint32_t)s << 7 | (v & 0x7fu);
}

#ifdef HL__SSE2
static inline __m128i hi16_sse2(__m128i s16, __m128i v16)
{
    const __m128i m7f = _mm_set1_epi16(0x7f), m80 = _mm_set1_epi16(0x80);
    return _mm_or_si128(_mm_or_si128(_mm_slli_epi16(_mm_and_si128(v16, m80), 8),
                                     _mm_slli_epi16(s16, 7)),
                        _mm_and_si128(v16, m7f));
}

/* Stores 8 fp32 made of high halves hi and low halves lo (16-bit lanes). */
static inline void store_halves(float *dst, __m128i lo, __m128i hi)
{
    _mm_storeu_si128((__m128i *)dst, _mm_unpacklo_epi16(lo, hi));
    _mm_storeu_si128((__m128i *)(dst + 4), _mm_unpackhi_epi16(lo, hi));
}

#endif

static void fuse_bf16_f32(const uint8_t *sym, const uint8_t *verb, uint64_t n, float *dst)
{
    uint64_t i = 0;
#ifdef HL__SSE2
    const __m128i z = _mm_setzero_si128();
    for (; i + 16 <= n; i += 16) {
        __m128i s = _mm_loadu_si128((const __m128i *)(sym + i));
        __m128i v = _mm_loadu_si128((const __m128i *)(verb + i));
        store_halves(dst + i, z, hi16_sse2(_mm_unpacklo_epi8(s, z), _mm_unpacklo_epi8(v, z)));
        store_halves(dst + i + 8, z, hi16_sse2(_mm_unpackhi_epi8(s, z), _mm_unpackhi_epi8(v, z)));
    }
#endif
    for (; i < n; i++)
        dst[i] = hl__bits_f32(hi16(sym[i], verb[i]) << 16);
}

static void fuse_f32_f32(const uint8_t *sym, const uint8_t *verb, uint64_t n, float *dst)
{
    const uint8_t *p0 = verb, *p1 = verb + n, *p2 = verb + 2 * n;
    uint64_t i = 0;
#ifdef HL__SSE2
    const __m128i z = _mm_setzero_si128();
    for (; i + 16 <= n; i += 16) {
        __m128i s = _mm_loadu_si128((const __m128i *)(sym + i));
        __m128i b0 = _mm_loadu_si128((const __m128i *)(p0 + i));
        __m128i b1 = _mm_loadu_si128((const __m128i *)(p1 + i));
        __m128i b2 = _mm_loadu_si128((const __m128i *)(p2 + i));
        store_halves(dst + i, _mm_unpacklo_epi8(b0, b1),
                     hi16_sse2(_mm_unpacklo_epi8(s, z), _mm_unpacklo_epi8(b2, z)));
        store_halves(dst + i + 8, _mm_unpackhi_epi8(b0, b1),
                     hi16_sse2(_mm_unpackhi_epi8(s, z), _mm_unpackhi_epi8(b2, z)));
    }
#endif
    for (; i < n; i++)
        dst[i] = hl__bits_f32(hi16(sym[i], p2[i]) << 16 | (uint32_t)p1[i] << 8 | p0[i]);
}

static void fuse_f16_f32(const uint8_t *sym, const uint8_t *verb, uint64_t n, float *dst)
{
    uint64_t i = 0;
#ifdef HL__SSE2
    const __m128i z = _mm_setzero_si128();
    for (; i + 16 <= n; i += 16) {
        __m128i s = _mm_loadu_si128((const __m128i *)(sym + i));
        __m128i v = _mm_loadu_si128((const __m128i *)(verb + i));
        __m128i h0 = _mm_unpacklo_epi8(v, s), h1 = _mm_unpackhi_epi8(v, s);
        _mm_storeu_si128((__m128i *)(dst + i), hl__f16_to_f32_sse2(_mm_unpacklo_epi16(h0, z)));
        _mm_storeu_si128((__m128i *)(dst + i + 4), hl__f16_to_f32_sse2(_mm_unpackhi_epi16(h0, z)));
        _mm_storeu_si128((__m128i *)(dst + i + 8), hl__f16_to_f32_sse2(_mm_unpacklo_epi16(h1, z)));
        _mm_storeu_si128((__m128i *)(dst + i + 12), hl__f16_to_f32_sse2(_mm_unpackhi_epi16(h1, z)));
    }
#endif
    for (; i < n; i++)
        dst[i] = hl__bits_f32(hl__f16_to_f32_bits((uint32_t)sym[i] << 8 | verb[i]));
}

/* scale * int8 as ggml computes it: (float)q * d, exact products rounded once. */
static void fuse_q8_0_f32(const uint8_t *sym, const uint8_t *verb, uint64_t n, float *dst)
{
    for (uint64_t b = 0; b < n / HL_Q8_0_BLOCK; b++) {
        const uint8_t *q = sym + b * HL_Q8_0_BLOCK;
        float d = hl_f16_to_f32(hl_load_le16(verb + 2 * b)), *o = dst + b * HL_Q8_0_BLOCK;
#ifdef HL__SSE2
        /* The block's 32 values are loaded before any of its 128 output bytes is stored. */
        __m128i q0 = _mm_loadu_si128((const __m128i *)q);
        __m128i q1 = _mm_loadu_si128((const __m128i *)(q + 16));
        __m128 dv = _mm_set1_ps(d);
        __m128i qs[2] = {q0, q1};
        for (int h = 0; h < 2; h++) {
            /* Sign-extend bytes to 32-bit lanes: place them in the top byte, shift back. */
            __m128i w0 = _mm_unpacklo_epi8(qs[h], qs[h]), w1 = _mm_unpackhi_epi8(qs[h], qs[h]);
            __m128i l[4] = {_mm_srai_epi32(_mm_unpacklo_epi16(w0, w0), 24),
                            _mm_srai_epi32(_mm_unpackhi_epi16(w0, w0), 24),
                            _mm_srai_epi32(_mm_unpacklo_epi16(w1, w1), 24),
                            _mm_srai_epi32(_mm_unpackhi_epi16(w1, w1), 24)};
            for (int k = 0; k < 4; k++)
                _mm_storeu_ps(o + 16 * h + 4 * k, _mm_mul_ps(_mm_cvtepi32_ps(l[k]), dv));
        }
#else
        int8_t v[HL_Q8_0_BLOCK];
        memcpy(v, q, HL_Q8_0_BLOCK);
        for (unsigned j = 0; j < HL_Q8_0_BLOCK; j++)
            o[j] = (float)v[j] * d;
#endif
    }
}

void hl__fuse_f32(hl_dtype_t t, const uint8_t *sym, const uint8_t *verb, uint64_t n, float *dst)
{
    switch (t) {
    case HL_DTYPE_BF16: fuse_bf16_f32(sym, verb, n, dst); break;
    case HL_DTYPE_F16: fuse_f16_f32(sym, verb, n, dst); break;
    case HL_DTYPE_F32: fuse_f32_f32(sym, verb, n, dst); break;
    case HL_DTYPE_Q8_0: fuse_q8_0_f32(sym, verb, n, dst); break;
    default: break;
    }
}

/* Source bytes: the restore path, not hot; one element at a time (each reads its symbol
 * before writing its bytes, which is all the in-place contract needs). */
void hl__fuse_bytes(hl_dtype_t t, const uint8_t *sym, const uint8_t *verb, uint64_t n,
                    uint8_t *dst)
{
    switch (t) {
    case HL_DTYPE_BF16:
        for (uint64_t i = 0; i < n; i++) {
            uint32_t b = hi16(sym[i], verb[i]);
            dst[2 * i] = (uint8_t)b;
            dst[2 * i + 1] = (uint8_t)(b >> 8);
        }
        break;
    case HL_DTYPE_F16:
        for (uint64_t i = 0; i < n; i++) {
            uint8_t s = sym[i];
            dst[2 * i] = verb[i];
            dst[2 * i + 1] = s;
        }
        break;
    case HL_DTYPE_F32:
        for (uint64_t i = 0; i < n; i++) {
            uint32_t h = hi16(sym[i], verb[2 * n + i]);
            dst[4 * i] = verb[i];
            dst[4 * i + 1] = verb[n + i];
            dst[4 * i + 2] = (uint8_t)h;
            dst[4 * i + 3] = (uint8_t)(h >> 8);
        }
        break;
    case HL_DTYPE_Q8_0:
        for (uint64_t b = 0; b < n / HL_Q8_0_BLOCK; b++) {
            uint8_t *blk = dst + b * HL_Q8_0_BLOCK_BYTES;
            memmove(blk + 2, sym + b * HL_Q8_0_BLOCK, HL_Q8_0_BLOCK); /* may overlap */
            memcpy(blk, verb + 2 * b, 2);
        }
        break;
    default:
        if (hl_dtype_is_quant(t))
            hl__quant_fuse_bytes(t, sym, verb, n, dst);
        break;
    }
}

int hl_codec_symbol_count(hl_dtype_t t, uint64_t n_elems, uint64_t *out)
{
    if (!out || (unsigned)t > HL_DTYPE_MAX)
        return HL_EINVAL;
    if (!hl_quant_is_pair(t)) {
        *out = n_elems;
        return 0;
    }
    if (n_elems % 2)
        return HL_EINVAL;
    *out = n_elems / 2;
    return 0;
}

int hl_codec_symbols(hl_dtype_t t, const void *src, uint64_t first, uint64_t count, uint8_t *out)
{
    uint64_t s_first, s_count;
    if (t == HL_DTYPE_RAW || (unsigned)t > HL_DTYPE_MAX || ((!src || !out) && count) ||
        hl_codec_symbol_count(t, first, &s_first) || hl_codec_symbol_count(t, count, &s_count))
        return HL_EINVAL;
    hl__symbols_extract(t, src, s_first, s_count, out);
    return 0;
}

int hl_codec_histogram(hl_dtype_t t, const void *src, uint64_t n_elems,
                       uint64_t hist[HL_HUF_SYMBOLS])
{
    uint64_t vb, n;
    if (!hist || (!src && n_elems) || hl_codec_symbol_count(t, n_elems, &n) ||
        hl__verbatim_bytes(t, n, &vb))
        return HL_EINVAL;
    uint8_t buf[4096];
    for (uint64_t i = 0; i < n; i += sizeof buf) {
        uint64_t k = HL_MIN(sizeof buf, n - i);
        hl__symbols_extract(t, src, i, k, buf);
        for (uint64_t j = 0; j < k; j++)
            hist[buf[j]]++;
    }
    return 0;
}
