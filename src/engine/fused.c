/*
 * Fused rebuild + multiply of bf16/fp16 Huffman tiles (fused.h has the contract and the
 * summation order).
 *
 * Register blocking: a block of rows x activations of accumulators (two per pair: a row's
 * lanes 0-15 and 16-31 of gemv.h's order) walks the columns in steps of 32; each step
 * rebuilds the 32 weights of every row of the block once (from 32 symbol bytes and 32
 * verbatim bytes) and multiplies them against every activation of the block, each x vector
 * loaded once for all rows. AVX-512 uses 2 rows x up to 4 activations (16 accumulators of
 * the 32 registers), AVX2 up to 2 rows x 1 activation (a row's 32 lanes are four vectors
 * there, so 8 accumulators of 16 registers). Activations are taken in groups of the
 * block width, the outer loop, so the tile's symbol and verbatim bytes (2 bytes per weight,
 * L1/L2-resident after the first group) are what is re-read, never an fp32 copy.
 *
 * The bf16 rebuild, per 32-bit lane: sign-extend the verbatim byte and shift it left by 16,
 * which puts the sign in bits 31..23 and the mantissa in bits 22..16; keep bit 31 and bits
 * 22..0 and or in exponent << 23 (one vpternlogd on AVX-512). This is exactly bf16 << 16.
 */
#include <math.h>

#include "engine/fused.h"

#define HL__LANES 16 /* weights per AVX-512 vector */

bool hl__fused_supports(const hl_tensor_codec_t *tc)
{
    return hl_codec_is_huf(tc->codec) &&
           (tc->dtype == HL_DTYPE_BF16 || tc->dtype == HL_DTYPE_F16);
}

/* Weight i rebuilt one at a time (the portable path and every path's leftover columns). */
static inline float weight_c(hl_dtype_t t, const uint8_t *sym, const uint8_t *verb, uint64_t i)
{
    uint32_t s = sym[i], v = verb[i];
    if (t == HL_DTYPE_F16)
        return hl_f16_to_f32((uint16_t)(s << 8 | v));
    return hl_bf16_to_f32((uint16_t)((v & 0x80u) << 8 | s << 7 | (v & 0x7fu)));
}

/* Columns [c32, cols) of one row, in order, after the lanes' sum `acc`. */
static inline float row_tail(hl_dtype_t t, const uint8_t *sym, const uint8_t *verb,
                             uint64_t c32, uint64_t cols, const float *x, float acc)
{
    for (uint64_t j = c32; j < cols; j++)
        acc = fmaf(weight_c(t, sym, verb, j), x[j], acc);
    return acc;
}

/* ---- portable C: one row at a time, up to 4 activations per pass over the row ---- */

static void fused_c(hl_dtype_t t, const uint8_t *sym, const uint8_t *verb, uint64_t rows,
                    uint64_t cols, size_t n_act, const float *const *x, float *const *y,
                    uint64_t y0)
{
    uint64_t c32 = cols - cols % HL__GEMV_ORDER;
    for (size_t a0 = 0; a0 < n_act; a0 += 4) {
        size_t na = n_act - a0 < 4 ? n_act - a0 : 4;
        for (uint64_t r = 0; r < rows; r++) {
            const uint8_t *s = sym + r * cols, *v = verb + r * cols;
            float acc[4][HL__GEMV_ORDER] = {{0}};
            for (uint64_t j = 0; j < c32; j += HL__GEMV_ORDER) {
                float w[HL__GEMV_ORDER];
                for (unsigned l = 0; l < HL__GEMV_ORDER; l++)
                    w[l] = weight_c(t, s, v, j + l);
                for (size_t a = 0; a < na; a++)
                    for (unsigned l = 0; l < HL__GEMV_ORDER; l++)
                        acc[a][l] = fmaf(w[l], x[a0 + a][j + l], acc[a][l]);
            }
            for (size_t a = 0; a < na; a++) {
                for (unsigned k = HL__GEMV_ORDER / 2; k; k /= 2)
                    for (unsigned l = 0; l < k; l++)
                        acc[a][l] = acc[a][l] + acc[a][l + k];
                y[a0 + a][y0 + r] = row_tail(t, s, v, c32, cols, x[a0 + a], acc[a][0]);
            }
        }
    }
}

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

#define HL__AVX2_TARGET __attribute__((target("avx2,fma,f16c")))
#define HL__AVX512_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx2,fma,f16c")))
#define HL__INLINE static inline __attribute__((always_inline))

/* A row's lanes 0-7 (v[0]), 8-15, 16-23, 24-31 summed as gemv.h orders it: l + 16, then
 * + 8, + 4, + 2, + 1, the lower lane always the first operand. */
HL__AVX2_TARGET HL__INLINE float lanes_sum(const __m256 v[4])
{
    __m256 lo = _mm256_add_ps(v[0], v[2]), hi = _mm256_add_ps(v[1], v[3]);
    __m256 s8 = _mm256_add_ps(lo, hi);
    __m128 s4 = _mm_add_ps(_mm256_castps256_ps128(s8), _mm256_extractf128_ps(s8, 1));
    __m128 s2 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4));
    return _mm_cvtss_f32(_mm_add_ss(s2, _mm_shuffle_ps(s2, s2, 1)));
}

/* ---- AVX2 + FMA + F16C: 8 weights per vector ---- */

HL__AVX2_TARGET HL__INLINE __m256 rebuild8(hl_dtype_t t, const uint8_t *s, const uint8_t *v)
{
    __m128i s8 = _mm_loadl_epi64((const __m128i *)(const void *)s);
    __m128i v8 = _mm_loadl_epi64((const __m128i *)(const void *)v);
    if (t == HL_DTYPE_F16) /* words v | s << 8, converted as hl__gemv's AVX2 path does */
        return _mm256_cvtph_ps(_mm_unpacklo_epi8(v8, s8));
    __m256i e = _mm256_slli_epi32(_mm256_cvtepu8_epi32(s8), 23);
    __m256i m = _mm256_slli_epi32(_mm256_cvtepi8_epi32(v8), 16);
    m = _mm256_and_si256(m, _mm256_set1_epi32((int)0x807fffffu));
    return _mm256_castsi256_ps(_mm256_or_si256(m, e));
}

/* nr (1 or 2) rows x one activation, rows starting at sym/verb, results to y[0][yr + r]. */
HL__AVX2_TARGET HL__INLINE void block_avx2(hl_dtype_t t, unsigned nr, const uint8_t *sym,
                                          const uint8_t *verb, uint64_t cols,
                                          const float *const *x, float *const *y, uint64_t yr)
{
    uint64_t c32 = cols - cols % HL__GEMV_ORDER;
    __m256 acc[2][4];
#pragma GCC unroll 2
    for (unsigned r = 0; r < nr; r++)
        acc[r][0] = acc[r][1] = acc[r][2] = acc[r][3] = _mm256_setzero_ps();
    for (uint64_t j = 0; j < c32; j += HL__GEMV_ORDER) {
#pragma GCC unroll 4
        for (unsigned q = 0; q < 4; q++) {
            __m256 xv = _mm256_loadu_ps(x[0] + j + 8 * q);
#pragma GCC unroll 2
            for (unsigned r = 0; r < nr; r++)
                acc[r][q] = _mm256_fmadd_ps(
                    rebuild8(t, sym + r * cols + j + 8 * q, verb + r * cols + j + 8 * q), xv,
                    acc[r][q]);
        }
    }
    for (unsigned r = 0; r < nr; r++)
        y[0][yr + r] =
            row_tail(t, sym + r * cols, verb + r * cols, c32, cols, x[0], lanes_sum(acc[r]));
}

#define HL__AVX2_BLOCKS(T)                                                                   \
    HL__AVX2_TARGET static void avx2_##T(unsigned nr, unsigned na, const uint8_t *sym,       \
                                         const uint8_t *verb, uint64_t cols,                \
                                         const float *const *x, float *const *y,            \
                                         uint64_t yr)                                       \
    {                                                                                        \
        (void)na; /* always 1 */                                                             \
        if (nr == 2)                                                                         \
            block_avx2(HL_DTYPE_##T, 2, sym, verb, cols, x, y, yr);                          \
        else                                                                                 \
            block_avx2(HL_DTYPE_##T, 1, sym, verb, cols, x, y, yr);                          \
    }
HL__AVX2_BLOCKS(BF16)
HL__AVX2_BLOCKS(F16)

/* ---- AVX-512: 16 weights (a row's 16 lanes) per vector ---- */

HL__AVX512_TARGET HL__INLINE __m512 rebuild16(hl_dtype_t t, const uint8_t *s, const uint8_t *v)
{
    __m128i s16 = _mm_loadu_si128((const __m128i *)(const void *)s);
    __m128i v16 = _mm_loadu_si128((const __m128i *)(const void *)v);
    if (t == HL_DTYPE_F16) {
        __m256i h = _mm256_set_m128i(_mm_unpackhi_epi8(v16, s16), _mm_unpacklo_epi8(v16, s16));
        return _mm512_cvtph_ps(h);
    }
    __m512i e = _mm512_slli_epi32(_mm512_cvtepu8_epi32(s16), 23);
    __m512i m = _mm512_slli_epi32(_mm512_cvtepi8_epi32(v16), 16);
    /* (m & 0x807fffff) | e: 0xf0 = m, 0xcc = e, 0xaa = the mask -> (0xf0 & 0xaa) | 0xcc */
    return _mm512_castsi512_ps(
        _mm512_ternarylogic_epi32(m, e, _mm512_set1_epi32((int)0x807fffffu), 0xec));
}

/* A row's lanes 0-15 (lo) and 16-31 (hi) summed as gemv.h orders it. */
HL__AVX512_TARGET HL__INLINE float lanes_sum32(__m512 lo, __m512 hi)
{
    __m512 v = _mm512_add_ps(lo, hi);
    __m256 v0 = _mm512_castps512_ps256(v);
    __m256 v1 = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1));
    __m256 s8 = _mm256_add_ps(v0, v1);
    __m128 s4 = _mm_add_ps(_mm256_castps256_ps128(s8), _mm256_extractf128_ps(s8, 1));
    __m128 s2 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4));
    return _mm_cvtss_f32(_mm_add_ss(s2, _mm_shuffle_ps(s2, s2, 1)));
}

/* nr (1 or 2) rows x na (1 to 4) activations: 16 accumulators at most. */
HL__AVX512_TARGET HL__INLINE void block_avx512(hl_dtype_t t, unsigned nr, unsigned na,
                                              const uint8_t *sym, const uint8_t *verb,
                                              uint64_t cols, const float *const *x,
                                              float *const *y, uint64_t yr)
{
    uint64_t c32 = cols - cols % HL__GEMV_ORDER;
    __m512 lo[2][4], hi[2][4];
#pragma GCC unroll 2
    for (unsigned r = 0; r < nr; r++)
#pragma GCC unroll 4
        for (unsigned a = 0; a < na; a++)
            lo[r][a] = hi[r][a] = _mm512_setzero_ps();
    for (uint64_t j = 0; j < c32; j += HL__GEMV_ORDER) {
        __m512 wl[2], wh[2];
#pragma GCC unroll 2
        for (unsigned r = 0; r < nr; r++) {
            wl[r] = rebuild16(t, sym + r * cols + j, verb + r * cols + j);
            wh[r] = rebuild16(t, sym + r * cols + j + HL__LANES, verb + r * cols + j + HL__LANES);
        }
#pragma GCC unroll 4
        for (unsigned a = 0; a < na; a++) {
            __m512 xl = _mm512_loadu_ps(x[a] + j), xh = _mm512_loadu_ps(x[a] + j + HL__LANES);
#pragma GCC unroll 2
            for (unsigned r = 0; r < nr; r++) {
                lo[r][a] = _mm512_fmadd_ps(wl[r], xl, lo[r][a]);
                hi[r][a] = _mm512_fmadd_ps(wh[r], xh, hi[r][a]);
            }
        }
    }
    for (unsigned r = 0; r < nr; r++)
        for (unsigned a = 0; a < na; a++)
            y[a][yr + r] = row_tail(t, sym + r * cols, verb + r * cols, c32, cols, x[a],
                                    lanes_sum32(lo[r][a], hi[r][a]));
}

#define HL__AVX512_ROWS(T, R)                                                                \
    switch (na) {                                                                            \
    case 4: block_avx512(HL_DTYPE_##T, R, 4, sym, verb, cols, x, y, yr); break;              \
    case 3: block_avx512(HL_DTYPE_##T, R, 3, sym, verb, cols, x, y, yr); break;              \
    case 2: block_avx512(HL_DTYPE_##T, R, 2, sym, verb, cols, x, y, yr); break;              \
    default: block_avx512(HL_DTYPE_##T, R, 1, sym, verb, cols, x, y, yr); break;             \
    }
#define HL__AVX512_BLOCKS(T)                                                                 \
    HL__AVX512_TARGET static void avx512_##T(unsigned nr, unsigned na, const uint8_t *sym,   \
                                             const uint8_t *verb, uint64_t cols,            \
                                             const float *const *x, float *const *y,        \
                                             uint64_t yr)                                   \
    {                                                                                        \
        if (nr == 2) {                                                                       \
            HL__AVX512_ROWS(T, 2)                                                            \
        } else {                                                                             \
            HL__AVX512_ROWS(T, 1)                                                            \
        }                                                                                    \
    }
HL__AVX512_BLOCKS(BF16)
HL__AVX512_BLOCKS(F16)

typedef void (*block_fn)(unsigned nr, unsigned na, const uint8_t *sym, const uint8_t *verb,
                         uint64_t cols, const float *const *x, float *const *y, uint64_t yr);

/* Walks the tile in blocks of up to rb rows x ab activations, activation groups outermost
 * (the group's x vectors stay in L1 while the whole tile passes). */
static void fused_blocks(block_fn fn, unsigned rb, unsigned ab, const uint8_t *sym,
                         const uint8_t *verb, uint64_t rows, uint64_t cols, size_t n_act,
                         const float *const *x, float *const *y, uint64_t y0)
{
    for (size_t a0 = 0; a0 < n_act; a0 += ab) {
        unsigned na = n_act - a0 < ab ? (unsigned)(n_act - a0) : ab;
        uint64_t r = 0;
        for (; r + rb <= rows; r += rb)
            fn(rb, na, sym + r * cols, verb + r * cols, cols, x + a0, y + a0, y0 + r);
        for (; r < rows; r++)
            fn(1, na, sym + r * cols, verb + r * cols, cols, x + a0, y + a0, y0 + r);
    }
}
#endif

void hl__fused_gemv_path(hl__gemv_path_t path, hl_dtype_t t, const uint8_t *sym,
                         const uint8_t *verb, uint64_t rows, uint64_t cols, size_t n_act,
                         const float *const *x, float *const *y, uint64_t y0)
{
    hl__gemv_path_t best = hl__gemv_best_path();
    path = path <= best ? path : best;
#if defined(__x86_64__) && defined(__GNUC__)
    bool f16 = t == HL_DTYPE_F16;
    if (path == HL__GEMV_AVX512) {
        fused_blocks(f16 ? avx512_F16 : avx512_BF16, 2, 4, sym, verb, rows, cols, n_act, x, y,
                     y0);
        return;
    }
    if (path == HL__GEMV_AVX2) {
        fused_blocks(f16 ? avx2_F16 : avx2_BF16, 2, 1, sym, verb, rows, cols, n_act, x, y, y0);
        return;
    }
#endif
    fused_c(t, sym, verb, rows, cols, n_act, x, y, y0);
}

void hl__fused_gemv(hl_dtype_t t, const uint8_t *sym, const uint8_t *verb, uint64_t rows,
                    uint64_t cols, size_t n_act, const float *const *x, float *const *y,
                    uint64_t y0)
{
    hl__fused_gemv_path(HL__GEMV_AVX512, t, sym, verb, rows, cols, n_act, x, y, y0);
}
