/*
 * The coding model of the quantized dtypes (see quant.h): the integer code of each weight is
 * its Huffman symbol; grouped dtypes keep each block's fp16 scale and u8 zero point verbatim
 * (3 bytes per block, in block order), per-tensor dtypes have no verbatim bytes at all (their
 * scale and zero live in the tensor codec). The rebuild is weight = scale * (code - zero).
 *
 * The u4 pair dtypes (HL_DTYPE_QP4*) code one byte holding two codes per symbol. Below the
 * public entry points everything counts symbols, not weights (hl_codec_symbol_count converts):
 * a pair block of G weights is then a block of G/2 symbols with the same 3 verbatim bytes,
 * exactly the layout of an 8-bit grouped dtype with group G/2, so extraction and the byte
 * rebuild are shared; only the fp32 rebuild differs (two weights per symbol).
 */
#include "codec/codec_internal.h"
#include "codec/quant.h"

#define QBLOCK_HEAD 3 /* fp16 scale + u8 zero */

bool hl_dtype_is_quant(hl_dtype_t t)
{
    return (t >= HL_DTYPE_QU8 && t <= HL_DTYPE_QU4_G64) || hl_quant_is_pair(t);
}

bool hl_quant_is_pair(hl_dtype_t t)
{
    return t >= HL_DTYPE_QP4 && t <= HL_DTYPE_QP4_G128;
}

unsigned hl_quant_bits(hl_dtype_t t)
{
    switch (t) {
    case HL_DTYPE_QU8: case HL_DTYPE_QU8_G32: case HL_DTYPE_QU8_G64: case HL_DTYPE_QU8_G128:
        return 8;
    case HL_DTYPE_QU4: case HL_DTYPE_QU4_G32: case HL_DTYPE_QU4_G64: case HL_DTYPE_QU4_G128:
    case HL_DTYPE_QP4: case HL_DTYPE_QP4_G32: case HL_DTYPE_QP4_G64: case HL_DTYPE_QP4_G128:
        return 4;
    default: return 0;
    }
}

unsigned hl_quant_group(hl_dtype_t t)
{
    switch (t) {
    case HL_DTYPE_QU8_G32: case HL_DTYPE_QU4_G32: case HL_DTYPE_QP4_G32: return 32;
    case HL_DTYPE_QU8_G64: case HL_DTYPE_QU4_G64: case HL_DTYPE_QP4_G64: return 64;
    case HL_DTYPE_QU8_G128: case HL_DTYPE_QU4_G128: case HL_DTYPE_QP4_G128: return 128;
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

int hl_quant_pair_dtype(unsigned group, hl_dtype_t *out)
{
    static const hl_dtype_t tab[4] = {HL_DTYPE_QP4, HL_DTYPE_QP4_G32, HL_DTYPE_QP4_G64,
                                      HL_DTYPE_QP4_G128};
    int g = group == 0 ? 0 : group == 32 ? 1 : group == 64 ? 2 : group == 128 ? 3 : -1;
    if (g < 0 || !out)
        return HL_EINVAL;
    *out = tab[g];
    return 0;
}

/* Symbols per block of the coding model (0 = per tensor, no blocks). */
static unsigned sym_group(hl_dtype_t t)
{
    return hl_quant_is_pair(t) ? hl_quant_group(t) / 2 : hl_quant_group(t);
}

int hl__quant_dtype_bytes(hl_dtype_t t, uint64_t n, uint64_t *out)
{
    unsigned g = hl_quant_group(t);
    if (!hl_dtype_is_quant(t))
        return HL_EINVAL;
    bool pair = hl_quant_is_pair(t);
    if (pair && n % 2)
        return HL_EINVAL; /* a pair dtype holds whole pairs */
    if (g == 0) {
        *out = pair ? n / 2 : n;
        return 0;
    }
    if (n % g)
        return HL_EINVAL;
    return hl_mul_ok(n / g, (pair ? g / 2 : g) + QBLOCK_HEAD, out) ? 0 : HL_EOVERFLOW;
}

int hl__quant_verbatim_bytes(hl_dtype_t t, uint64_t n, uint64_t *out)
{
    unsigned g = sym_group(t);
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
    unsigned g = sym_group(t);
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
    unsigned g = sym_group(t);
    if (g == 0)
        return;
    for (uint64_t b = 0; b < n / g; b++)
        memcpy(out + QBLOCK_HEAD * b, src + b * (g + QBLOCK_HEAD), QBLOCK_HEAD);
}

#ifdef HL__SSE2
/* scale * (code - zero) of the 16 byte codes in c, stored at o[0..16). */
static inline void dequant16(__m128i c, __m128 vs, __m128 vz, float *o)
{
    const __m128i zero = _mm_setzero_si128();
    __m128i lo = _mm_unpacklo_epi8(c, zero), hi = _mm_unpackhi_epi8(c, zero);
    __m128i w[4] = {_mm_unpacklo_epi16(lo, zero), _mm_unpackhi_epi16(lo, zero),
                    _mm_unpacklo_epi16(hi, zero), _mm_unpackhi_epi16(hi, zero)};
    for (int k = 0; k < 4; k++)
        _mm_storeu_ps(o + 4 * k, _mm_mul_ps(vs, _mm_sub_ps(_mm_cvtepi32_ps(w[k]), vz)));
}
#endif

/* scale * (code - zero) for n codes, 16 at a time with SSE2 (the same two roundings as the
 * scalar tail, so both give identical floats). In place (q the tail of the output buffer,
 * codec_internal.h): each step loads its 16 codes before storing their 64 output bytes, and
 * those end at or before the next step's codes. */
static void dequant(const uint8_t *q, uint64_t n, float s, float z, float *o)
{
    uint64_t i = 0;
#ifdef HL__SSE2
    const __m128 vs = _mm_set1_ps(s), vz = _mm_set1_ps(z);
    for (; i + 16 <= n; i += 16)
        dequant16(_mm_loadu_si128((const __m128i *)(q + i)), vs, vz, o + i);
#endif
    for (; i < n; i++)
        o[i] = s * ((float)q[i] - z);
}

/*
 * The same for n pair symbols (2n weights: low nibble first). In place with the m symbols
 * of a tile in the last m bytes of its 8m output bytes: symbol j sits at byte 7m + j, and
 * the outputs of the symbols before it end at byte 8j <= 7m + j (j <= m); the vector step
 * loads its 16 symbols before storing their 128 output bytes, which end at 8(j + 16) <=
 * 7m + j + 16 when a whole step remains (j + 16 <= m), i.e. at or before the next step's
 * symbols. Grouped tiles call this per block, in order: the same inequalities hold.
 */
static void dequant_pairs(const uint8_t *q, uint64_t n, float s, float z, float *o)
{
    uint64_t i = 0;
#ifdef HL__SSE2
    const __m128 vs = _mm_set1_ps(s), vz = _mm_set1_ps(z);
    const __m128i m4 = _mm_set1_epi8(0x0f);
    for (; i + 16 <= n; i += 16) {
        __m128i c = _mm_loadu_si128((const __m128i *)(q + i));
        __m128i lo = _mm_and_si128(c, m4), hi = _mm_and_si128(_mm_srli_epi16(c, 4), m4);
        __m128i c0 = _mm_unpacklo_epi8(lo, hi), c1 = _mm_unpackhi_epi8(lo, hi);
        dequant16(c0, vs, vz, o + 2 * i);
        dequant16(c1, vs, vz, o + 2 * i + 16);
    }
#endif
    for (; i < n; i++) {
        uint8_t b = q[i]; /* read before the two outputs overwrite it */
        o[2 * i] = s * ((float)(b & 15u) - z);
        o[2 * i + 1] = s * ((float)(b >> 4) - z);
    }
}

/* Every element reads its code before its 4 output bytes are written; codes of later
 * elements sit at or beyond them (codec_internal.h's in-place argument), and a block's
 * parameters come from `verb`, which the decoder keeps outside dst. n counts symbols. */
void hl__quant_fuse_f32(const hl_tensor_codec_t *tc, const uint8_t *sym, const uint8_t *verb,
                        uint64_t n, float *dst)
{
    bool pair = hl_quant_is_pair(tc->dtype);
    unsigned g = sym_group(tc->dtype), wps = pair ? 2 : 1; /* weights per symbol */
    void (*deq)(const uint8_t *, uint64_t, float, float, float *) = pair ? dequant_pairs
                                                                         : dequant;
    if (g == 0) {
        deq(sym, n, tc->q_scale, tc->q_zero, dst);
        return;
    }
    for (uint64_t b = 0; b < n / g; b++) {
        float s = hl_f16_to_f32(hl_load_le16(verb + QBLOCK_HEAD * b));
        deq(sym + b * g, g, s, (float)verb[QBLOCK_HEAD * b + 2], dst + b * g * wps);
    }
}

void hl__quant_fuse_bytes(hl_dtype_t t, const uint8_t *sym, const uint8_t *verb, uint64_t n,
                          uint8_t *dst)
{
    unsigned g = sym_group(t);
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
    unsigned g = sym_group(t);
    if ((!src || !dst) && n)
        return HL_EINVAL;
    if (hl__quant_dtype_bytes(t, n, &bytes))
        return HL_EINVAL;
    bool pair = hl_quant_is_pair(t);
    uint64_t n_sym = pair ? n / 2 : n;
    if (g == 0) {
        if (!tc || tc->dtype != t)
            return HL_EINVAL;
        hl__quant_fuse_f32(tc, src, NULL, n_sym, dst);
        return 0;
    }
    const uint8_t *s = src;
    for (uint64_t b = 0; b < n_sym / g; b++) {
        const uint8_t *blk = s + b * (g + QBLOCK_HEAD);
        float sc = hl_f16_to_f32(hl_load_le16(blk)), z = (float)blk[2];
        if (pair)
            dequant_pairs(blk + QBLOCK_HEAD, g, sc, z, dst + b * g * 2);
        else
            dequant(blk + QBLOCK_HEAD, g, sc, z, dst + b * g);
    }
    return 0;
}

/* ---- the derived pair code (quant.h) ---- */

int hl_quant_pair_fold(const uint64_t pair_hist[HL_HUF_SYMBOLS], uint64_t codes[HL_HUF_SYMBOLS])
{
    if (!pair_hist || !codes)
        return HL_EINVAL;
    memset(codes, 0, sizeof(uint64_t) * HL_HUF_SYMBOLS);
    for (unsigned s = 0; s < HL_HUF_SYMBOLS; s++)
        if (!hl_add_ok(codes[s & 15u], pair_hist[s], &codes[s & 15u]) ||
            !hl_add_ok(codes[s >> 4], pair_hist[s], &codes[s >> 4]))
            return HL_EOVERFLOW;
    return 0;
}

/* Products c(a) c(b) of counts whose total is at most this stay below 2^53 in all (the
 * package-merge keeps totals below 2^59 and would otherwise rescale on its own). */
#define PAIR_MAX_CODES (1ull << 26)

int hl_quant_pair_lengths(const uint64_t codes[HL_HUF_SYMBOLS], unsigned max_bits,
                          hl_huf_lengths_t *out)
{
    if (!codes || !out)
        return HL_EINVAL;
    uint64_t total = 0, c[16];
    for (unsigned s = 0; s < HL_HUF_SYMBOLS; s++)
        if ((s >= 16 && codes[s]) || !hl_add_ok(total, codes[s], &total))
            return HL_EINVAL; /* u4 codes are 0..15 */
    /* Scale down so the products cannot overflow, keeping every used code used (its pairs
     * must keep a code). Integer arithmetic only: writer and reader derive the same code. */
    unsigned shift = 0;
    while ((total >> shift) > PAIR_MAX_CODES)
        shift++;
    for (unsigned a = 0; a < 16; a++)
        c[a] = codes[a] ? HL_MAX(codes[a] >> shift, 1) : 0;
    /* The weight of pair (a, b), a the low nibble (the even weight): what the pair would
     * count if neighbours were independent and both followed the tensor's code histogram. */
    uint64_t w[HL_HUF_SYMBOLS];
    for (unsigned s = 0; s < HL_HUF_SYMBOLS; s++)
        w[s] = c[s & 15u] * c[s >> 4];
    return hl_huf_build_lengths(w, max_bits, out);
}

int hl_quant_pair_codec_load(hl_tensor_codec_t *tc, hl_dtype_t t, hl_codec_t codec,
                             uint32_t n_streams, const uint64_t codes[HL_HUF_SYMBOLS],
                             unsigned max_bits)
{
    hl_huf_lengths_t l;
    uint8_t table[HL_HUF_TABLE_BYTES];
    if (!tc || !codes)
        return HL_EINVAL;
    if (!hl_quant_is_pair(t) || !hl_codec_is_huf(codec) || max_bits < 1 ||
        max_bits > HL_HUF_MAX_BITS || hl_quant_pair_lengths(codes, max_bits, &l))
        return HL_EFORMAT;
    /* through the stored-table path, so both kinds of table are checked and built alike */
    hl_huf_lengths_write(&l, table);
    return hl_tensor_codec_load(tc, t, codec, n_streams, table);
}
