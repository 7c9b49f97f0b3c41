/*
 * Internal contracts between the files of codec/: the coding models (which byte of an
 * element is the Huffman symbol, which bytes are verbatim, how to rebuild the element) and
 * the tile layout constants shared by the encoder and the decoder. Not a public header.
 */
#ifndef HL_CODEC_INTERNAL_H
#define HL_CODEC_INTERNAL_H

#include <string.h>

#include "huffllm/codec.h"

/* Tile payload layout (see tile_encode.c for the full picture). */
#define HL__TILE_LEN_MAX 5 /* bytes of a stream length (LEB128 of a value < 2^32) */
#define HL__TILE_TAIL 8    /* bytes that must follow the last stream: verbatim + padding */

/* Zero padding after v verbatim bytes, so that HL__TILE_TAIL bytes follow the last stream. */
static inline uint64_t hl__tile_pad(uint64_t v)
{
    return v >= HL__TILE_TAIL ? 0 : HL__TILE_TAIL - v;
}
#define HL__TABLE_MASK ((1u << HL_HUF_MAX_BITS) - 1)

/* Decoder table, per 12-bit window w: entry[w] holds up to 4 symbols decoded by one lookup
 * (symbol k in byte k, unused bytes zero), info[w] the bits they consume (1..12, bits 0..5)
 * and their count minus one (0..3, bits 6..7): the form the fast loop shifts by directly
 * (decode_huf.c, STEP), built once per table. Exponents average ~2.6 bits, so most windows
 * hold 4. */
#define HL__ENTRY_SYMS 4
#define HL__INFO_BITS(i) ((i) & 63u)
#define HL__INFO_COUNT(i) (((i) >> 6) + 1u)
#define HL__INFO(bits, count) ((uint8_t)((bits) | ((count) - 1u) << 6))

static inline uint32_t hl__load_le32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    v = __builtin_bswap32(v);
#endif
    return v;
}

static inline uint64_t hl__load_le64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    v = __builtin_bswap64(v);
#endif
    return v;
}

static inline void hl__store_le32(uint8_t *p, uint32_t v)
{
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    v = __builtin_bswap32(v);
#endif
    memcpy(p, &v, 4);
}

static inline uint32_t hl__f32_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

static inline float hl__bits_f32(uint32_t u)
{
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* fp16 bits -> fp32 bits, exact for every pattern, written without branches so that the
 * widening loops vectorize. Normals and Inf/NaN are a re-bias of the exponent (twice for
 * exponent 31, which lands on 255 and keeps the NaN payload); subnormals are em * 2^-24,
 * computed exactly in float. */
static inline uint32_t hl__f16_to_f32_bits(uint32_t h)
{
    uint32_t sign = (h & 0x8000u) << 16;
    uint32_t em = h & 0x7fffu;
    uint32_t normal = (em << 13) + (112u << 23);
    uint32_t infnan = normal + (112u << 23);
    uint32_t sub = hl__f32_bits((float)em * 0x1p-24f);
    uint32_t r = em >= 0x7c00u ? infnan : normal;
    r = em < 0x400u ? sub : r;
    return sign | r;
}

#if defined(__SSE2__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define HL__SSE2 1
#include <emmintrin.h>

/* Exact fp16 -> fp32 of 4 values in 32-bit lanes (the vector form of hl__f16_to_f32_bits):
 * the exponent+mantissa moved to fp32 position and multiplied by 2^112 re-biases normals
 * and turns subnormals (fp32 denormals there, never flushed: DAZ is off in C programs)
 * into exact normals; Inf/NaN get exponent 255 or-ed in, which keeps the payload. */
static inline __m128i hl__f16_to_f32_sse2(__m128i h)
{
    __m128i em = _mm_and_si128(h, _mm_set1_epi32(0x7fff));
    __m128i sign = _mm_slli_epi32(_mm_xor_si128(h, em), 16);
    __m128 scaled = _mm_mul_ps(_mm_castsi128_ps(_mm_slli_epi32(em, 13)),
                               _mm_castsi128_ps(_mm_set1_epi32(239 << 23))); /* 2^112 */
    __m128i infnan = _mm_and_si128(_mm_cmpgt_epi32(em, _mm_set1_epi32(0x7bff)),
                                   _mm_set1_epi32(255 << 23));
    return _mm_or_si128(_mm_castps_si128(scaled), _mm_or_si128(sign, infnan));
}
#endif

/* Segment s of n symbols split into ns streams: [hl__seg_start(n, ns, s), ..(s + 1)). The
 * segments differ in length by at most one so interleaved streams finish together. */
static inline uint64_t hl__seg_start(uint64_t n, uint32_t ns, uint32_t s)
{
    return (n / ns) * s + (n % ns) * s / ns;
}

/* ---- lane-interleaved layout (HL_CODEC_HUF_LANES, lanes.c) ----
 * Element i is coded in lane i % HL__LANES; decoding step s decodes element s * 64 + j in
 * every lane j. A lane's buffer holds < 32 bits; before every HL__lanes_round(M)-th step a
 * lane whose buffer holds fewer than HL__lanes_refill_below(M) bits takes the next 16-bit
 * word of the shared stream (lanes in order 0..63), M being the table's longest code. */
#define HL__LANES 64
#define HL__LANE_WORD_BITS 16
/* Activations one fused decode + product serves (hl_tile_decode_dot). */
#define HL__DOT_MAX_ACT HL_TILE_DOT_MAX_ACT
/* Steps per refill round: two 8-bit codes fit the bits a refill guarantees, two 12-bit
 * codes do not. */
static inline unsigned hl__lanes_round(unsigned max_len)
{
    return max_len <= 8 ? 2 : 1;
}
/* A lane refills when it might not hold the codes of a whole round; with the 16 bits a
 * refill adds it then holds at most 15 + 16 bits (a 32-bit SIMD lane). */
static inline unsigned hl__lanes_refill_below(unsigned max_len)
{
    return hl__lanes_round(max_len) * max_len;
}
/* The last HL__LANES_LAZY steps of a tile refill lazily: a lane takes a word only when the
 * code at its window is longer than the bits it holds (a code within the held bits is the
 * right one: the code is prefix-free). The eager rounds keep up to 31 bits per lane in
 * reserve; the lazy steps use them up instead of leaving them as fill (measured: the fill
 * fell from ~146 to ~60 bytes per 16384-weight tile, Gaussian bf16). */
#define HL__LANES_LAZY 16
/* First lazy step of a tile of n elements with refill rounds of rnd steps: a whole number of
 * rounds come before it, and at least HL__LANES_LAZY steps after. */
static inline uint64_t hl__lanes_lazy_from(uint64_t n, unsigned rnd)
{
    uint64_t steps = (n + HL__LANES - 1) / HL__LANES;
    return steps > HL__LANES_LAZY ? (steps - HL__LANES_LAZY) / rnd * rnd : 0;
}
/* Lanes decoder table (hl_huf_dtable_t.entry of a HUF_LANES codec): one symbol per window of
 * max_len bits, the symbol in bits 23..30 (a bf16/f32 exponent already in place) and its
 * code length in bits 0..4. */
#define HL__LANE_ENTRY(sym, len) ((uint32_t)(sym) << 23 | (uint32_t)(len))
#define HL__LANE_SYM(e) ((e) >> 23)
#define HL__LANE_LEN(e) ((e) & 31u)
/* For codes of at most 8 bits, hl_huf_dtable_t.info of a lanes table also holds byte tables
 * for vpermi2b lookups: the code length per window of 7 bits (a complete code's length never
 * depends on the eighth bit: an 8-bit code's 7-bit prefix is no code, so both of its
 * extensions are 8-bit codes) and the symbol per window of 8 bits. */
#define HL__LANE_PERM_BITS 8
#define HL__LANE_PERM_LEN 0   /* 128 bytes */
#define HL__LANE_PERM_SYM 128 /* 256 bytes */

/* ---- coding models (model.c) ---- */

/* Verbatim bytes of n elements of a HUF-coded dtype; q8_0 needs n % 32 == 0.
 * @return 0 or HL_EINVAL/HL_EOVERFLOW. */
int hl__verbatim_bytes(hl_dtype_t t, uint64_t n, uint64_t *out);
/* Symbols of elements [first, first + count) of `src` (source layout) into out[count].
 * For q8_0, elements are the int8 weights in block order (block i/32, value i%32). */
void hl__symbols_extract(hl_dtype_t t, const uint8_t *src, uint64_t first, uint64_t count,
                         uint8_t *out);
/* The verbatim bytes of n elements (hl__verbatim_bytes of them) into out. */
void hl__verbatim_extract(hl_dtype_t t, const uint8_t *src, uint64_t n, uint8_t *out);
/*
 * Rebuilds n elements from their symbols and verbatim bytes, as fp32 (fuse_f32) or as the
 * source bytes (fuse_bytes). `sym` may be the last n bytes of the output buffer itself (the
 * decoder parks symbols there to need no workspace): each element's inputs are read before
 * its output is written, and outputs never reach symbols not yet read.
 */
void hl__fuse_f32(hl_dtype_t t, const uint8_t *sym, const uint8_t *verb, uint64_t n, float *dst);
void hl__fuse_bytes(hl_dtype_t t, const uint8_t *sym, const uint8_t *verb, uint64_t n,
                    uint8_t *dst);

/* ---- Huffman tables (huffman.c) ---- */

/* Checks lengths: each <= HL_HUF_MAX_BITS, and Kraft equality or exactly one used symbol of
 * length 1. Writes the number of used symbols to *used. @return 0 or HL_EFORMAT. */
int hl__huf_lengths_check(const hl_huf_lengths_t *l, unsigned *used);
/* The decoder table of a HUF_LANES codec (layout above). @return 0 or HL_EINVAL. */
int hl__huf_dtable_build_lanes(const hl_huf_lengths_t *l, hl_huf_dtable_t *out);

/* ---- lanes layout (lanes.c) ---- */

/* Upper bound of a HUF_LANES tile of n elements with v verbatim bytes (UINT64_MAX on
 * overflow). */
uint64_t hl__lanes_bound(uint64_t n, uint64_t v);
/* Encodes a HUF_LANES tile (layout: lanes.c). @return 0, HL_ERANGE, HL_EINVAL. */
int hl__lanes_encode(const hl_tensor_codec_t *tc, const uint8_t *src, uint64_t n, uint8_t *dst,
                     uint64_t cap, uint64_t *out_len);

#endif /* HL_CODEC_INTERNAL_H */
