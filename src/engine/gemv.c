/*
 * Matrix-vector products from fp32, bf16 or fp16 weights (gemv.h has the summation order
 * every path follows). Four rows at a time: four independent accumulator chains hide the
 * fused multiply-add latency, and each x vector is loaded once for four rows. At batch 1 a
 * raw bf16 model is bandwidth-bound (2 bytes per weight); these kernels read each weight
 * once, where widen + sgemv wrote and re-read a 4-byte copy. hl__gemv_multi blocks rows x
 * activations in registers so a batch also reads each weight once.
 */
#include <math.h>
#include <stdatomic.h>
#include <string.h>

#include "engine/gemv.h"

#define HL__LANES 16

/*
 * Software prefetch of raw weights. bf16/f16 weights always stream from memory (the raw
 * path; compressed tiles reach this file as fp32 in a cache-resident hot buffer), and a
 * block of rows is a short stream per row (a 1280-column bf16 row is 40 cache lines), too
 * short for the hardware prefetchers to train on. So the 4-row loops ask for the weights
 * HL__PF_DIST bytes ahead of a linear sweep over the block's rows (which are contiguous and
 * followed by the next block and, in raw mode, the next matrix): each iteration consumes
 * 4 x 16 x 2 = 128 bytes, so it prefetches two lines. Measured on this machine (Zen 5,
 * 512 MB bf16 matrices, huge pages, one thread, CPU time): 1280 columns 16-18 -> 18-27
 * GB/s, 3584 columns 17-20 -> 20-30 GB/s (plain read: 25-32); 12-48 KiB all help, 24 KiB
 * was at or near the best for both shapes. fp32 is never prefetched: there it would pull
 * unrelated lines past the hot buffer into L1.
 */
#define HL__PF_DIST 24576
#define HL__PREFETCH(p) __builtin_prefetch((p), 0, 3)

bool hl__gemv_supports(hl_dtype_t t)
{
    return t == HL_DTYPE_F32 || t == HL_DTYPE_BF16 || t == HL_DTYPE_F16;
}

static uint64_t elem_bytes(hl_dtype_t t)
{
    return t == HL_DTYPE_F32 ? 4 : 2;
}

static inline float load_c(hl_dtype_t t, const uint8_t *w, uint64_t j)
{
    if (t == HL_DTYPE_F32) {
        float f;
        memcpy(&f, w + 4 * j, 4);
        return f;
    }
    uint16_t h = hl_load_le16(w + 2 * j);
    return t == HL_DTYPE_BF16 ? hl_bf16_to_f32(h) : hl_f16_to_f32(h);
}

/* The columns past the last whole group of 16, in order (shared by all paths). */
static inline float row_rest(hl_dtype_t t, const uint8_t *w, uint64_t j0, uint64_t cols,
                             const float *x, float s)
{
    for (uint64_t j = j0; j < cols; j++)
        s = fmaf(load_c(t, w, j), x[j], s);
    return s;
}

static void gemv_c(hl_dtype_t t, const uint8_t *w, uint64_t rows, uint64_t cols, const float *x,
                   float *y)
{
    uint64_t c16 = cols - cols % HL__LANES, rb = cols * elem_bytes(t);
    for (uint64_t r = 0; r < rows; r++) {
        const uint8_t *wr = w + r * rb;
        float acc[HL__LANES] = {0};
        for (uint64_t j = 0; j < c16; j += HL__LANES)
            for (unsigned l = 0; l < HL__LANES; l++)
                acc[l] = fmaf(load_c(t, wr, j + l), x[j + l], acc[l]);
        for (unsigned k = HL__LANES / 2; k; k /= 2)
            for (unsigned l = 0; l < k; l++)
                acc[l] = acc[l] + acc[l + k];
        y[r] = row_rest(t, wr, c16, cols, x, acc[0]);
    }
}

/* Row by row so that a row is read from memory once and from cache for the other
 * activations. */
static void gemv_multi_c(hl_dtype_t t, const uint8_t *w, uint64_t rows, uint64_t cols,
                         size_t n_act, const float *const *x, float *const *y, uint64_t y_off)
{
    uint64_t rb = cols * elem_bytes(t);
    for (uint64_t r = 0; r < rows; r++)
        for (size_t a = 0; a < n_act; a++)
            gemv_c(t, w + r * rb, 1, cols, x[a], y[a] + y_off + r);
}

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

#define HL__AVX2_TARGET __attribute__((target("avx2,fma,f16c")))
#define HL__AVX512_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx2,fma,f16c")))

/* ---- AVX2: a row's 16 lanes are two vectors (lanes 0-7, 8-15) ---- */

HL__AVX2_TARGET static inline __m256 load8(hl_dtype_t t, const uint8_t *p)
{
    if (t == HL_DTYPE_F32)
        return _mm256_loadu_ps((const float *)(const void *)p);
    __m128i h = _mm_loadu_si128((const __m128i *)p);
    if (t == HL_DTYPE_F16)
        return _mm256_cvtph_ps(h);
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
}

HL__AVX2_TARGET static inline float reduce16_avx2(__m256 lo, __m256 hi)
{
    __m256 s8 = _mm256_add_ps(lo, hi);                                   /* l + 8 */
    __m128 s4 = _mm_add_ps(_mm256_castps256_ps128(s8), _mm256_extractf128_ps(s8, 1)); /* + 4 */
    __m128 s2 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4));                   /* + 2 */
    __m128 s1 = _mm_add_ss(s2, _mm_shuffle_ps(s2, s2, 1));               /* + 1 */
    return _mm_cvtss_f32(s1);
}

HL__AVX2_TARGET static void gemv_avx2(hl_dtype_t t, const uint8_t *w, uint64_t rows,
                                      uint64_t cols, const float *x, float *y)
{
    uint64_t c16 = cols - cols % HL__LANES, eb = elem_bytes(t), rb = cols * eb, r = 0;
    const bool pf = t != HL_DTYPE_F32;
    for (; r + 4 <= rows; r += 4) {
        const uint8_t *w0 = w + r * rb, *w1 = w0 + rb, *w2 = w1 + rb, *w3 = w2 + rb;
        __m256 a0 = _mm256_setzero_ps(), b0 = a0, a1 = a0, b1 = a0, a2 = a0, b2 = a0, a3 = a0,
               b3 = a0;
        for (uint64_t j = 0; j < c16; j += HL__LANES) {
            if (pf) {
                HL__PREFETCH(w0 + 4 * j * eb + HL__PF_DIST);
                HL__PREFETCH(w0 + 4 * j * eb + HL__PF_DIST + 64);
            }
            __m256 xl = _mm256_loadu_ps(x + j), xh = _mm256_loadu_ps(x + j + 8);
            a0 = _mm256_fmadd_ps(load8(t, w0 + j * eb), xl, a0);
            b0 = _mm256_fmadd_ps(load8(t, w0 + (j + 8) * eb), xh, b0);
            a1 = _mm256_fmadd_ps(load8(t, w1 + j * eb), xl, a1);
            b1 = _mm256_fmadd_ps(load8(t, w1 + (j + 8) * eb), xh, b1);
            a2 = _mm256_fmadd_ps(load8(t, w2 + j * eb), xl, a2);
            b2 = _mm256_fmadd_ps(load8(t, w2 + (j + 8) * eb), xh, b2);
            a3 = _mm256_fmadd_ps(load8(t, w3 + j * eb), xl, a3);
            b3 = _mm256_fmadd_ps(load8(t, w3 + (j + 8) * eb), xh, b3);
        }
        y[r] = row_rest(t, w0, c16, cols, x, reduce16_avx2(a0, b0));
        y[r + 1] = row_rest(t, w1, c16, cols, x, reduce16_avx2(a1, b1));
        y[r + 2] = row_rest(t, w2, c16, cols, x, reduce16_avx2(a2, b2));
        y[r + 3] = row_rest(t, w3, c16, cols, x, reduce16_avx2(a3, b3));
    }
    for (; r < rows; r++) {
        const uint8_t *w0 = w + r * rb;
        __m256 a0 = _mm256_setzero_ps(), b0 = a0;
        for (uint64_t j = 0; j < c16; j += HL__LANES) {
            a0 = _mm256_fmadd_ps(load8(t, w0 + j * eb), _mm256_loadu_ps(x + j), a0);
            b0 = _mm256_fmadd_ps(load8(t, w0 + (j + 8) * eb), _mm256_loadu_ps(x + j + 8), b0);
        }
        y[r] = row_rest(t, w0, c16, cols, x, reduce16_avx2(a0, b0));
    }
}

/*
 * A block of nr rows x na activations (constants after inlining: the accumulators live in
 * registers). AVX2 has 16 vector registers and a row's lanes take two, so 2 x 2 blocks:
 * 8 accumulators, 4 x vectors and the widened weights.
 */
#define HL__INLINE __attribute__((always_inline)) static inline

HL__AVX2_TARGET HL__INLINE void block_avx2(hl_dtype_t t, const uint8_t *w, uint64_t rb,
                                           uint64_t cols, unsigned nr, unsigned na, bool pf,
                                           const float *const *x, float *const *y,
                                           uint64_t yr)
{
    uint64_t eb = elem_bytes(t), c16 = cols - cols % HL__LANES;
    __m256 lo[2][2], hi[2][2];
    const float *xa[2];
#pragma GCC unroll 2
    for (unsigned a = 0; a < na; a++) {
        xa[a] = x[a];
#pragma GCC unroll 2
        for (unsigned r = 0; r < nr; r++)
            lo[r][a] = hi[r][a] = _mm256_setzero_ps();
    }
    for (uint64_t j = 0; j < c16; j += HL__LANES) {
        if (pf) /* 2 rows x 16 x 2 bytes: one line per iteration */
            HL__PREFETCH(w + 2 * j * eb + HL__PF_DIST);
        __m256 xl[2], xh[2];
#pragma GCC unroll 2
        for (unsigned a = 0; a < na; a++) {
            xl[a] = _mm256_loadu_ps(xa[a] + j);
            xh[a] = _mm256_loadu_ps(xa[a] + j + 8);
        }
#pragma GCC unroll 2
        for (unsigned r = 0; r < nr; r++) {
            __m256 wl = load8(t, w + r * rb + j * eb), wh = load8(t, w + r * rb + (j + 8) * eb);
#pragma GCC unroll 2
            for (unsigned a = 0; a < na; a++) {
                lo[r][a] = _mm256_fmadd_ps(wl, xl[a], lo[r][a]);
                hi[r][a] = _mm256_fmadd_ps(wh, xh[a], hi[r][a]);
            }
        }
    }
#pragma GCC unroll 2
    for (unsigned r = 0; r < nr; r++)
#pragma GCC unroll 2
        for (unsigned a = 0; a < na; a++)
            y[a][yr + r] =
                row_rest(t, w + r * rb, c16, cols, xa[a], reduce16_avx2(lo[r][a], hi[r][a]));
}

HL__AVX2_TARGET HL__INLINE void multi_avx2(hl_dtype_t t, const uint8_t *w, uint64_t rows,
                                           uint64_t cols, size_t n_act, const float *const *x,
                                           float *const *y, uint64_t y_off)
{
    /* prefetch (bf16/f16 only) in the first activation group: the others find the rows in
     * cache */
    uint64_t rb = cols * elem_bytes(t), r = 0;
    const bool pf = t != HL_DTYPE_F32;
    for (; r + 2 <= rows; r += 2) {
        size_t a = 0;
        for (; a + 2 <= n_act; a += 2)
            block_avx2(t, w + r * rb, rb, cols, 2, 2, pf && a == 0, x + a, y + a, y_off + r);
        if (a < n_act)
            block_avx2(t, w + r * rb, rb, cols, 2, 1, pf && a == 0, x + a, y + a, y_off + r);
    }
    for (; r < rows; r++) {
        size_t a = 0;
        for (; a + 2 <= n_act; a += 2)
            block_avx2(t, w + r * rb, rb, cols, 1, 2, false, x + a, y + a, y_off + r);
        if (a < n_act)
            block_avx2(t, w + r * rb, rb, cols, 1, 1, false, x + a, y + a, y_off + r);
    }
}

/* One copy per dtype, so that the dtype test leaves the inner loop. */
HL__AVX2_TARGET static void gemv_multi_avx2(hl_dtype_t t, const uint8_t *w, uint64_t rows,
                                            uint64_t cols, size_t n_act, const float *const *x,
                                            float *const *y, uint64_t y_off)
{
    if (t == HL_DTYPE_BF16)
        multi_avx2(HL_DTYPE_BF16, w, rows, cols, n_act, x, y, y_off);
    else if (t == HL_DTYPE_F16)
        multi_avx2(HL_DTYPE_F16, w, rows, cols, n_act, x, y, y_off);
    else
        multi_avx2(HL_DTYPE_F32, w, rows, cols, n_act, x, y, y_off);
}

/* ---- AVX-512: a row's 16 lanes are one vector ---- */

HL__AVX512_TARGET static inline __m512 load16(hl_dtype_t t, const uint8_t *p)
{
    if (t == HL_DTYPE_F32)
        return _mm512_loadu_ps(p);
    __m256i h = _mm256_loadu_si256((const __m256i *)p);
    if (t == HL_DTYPE_F16)
        return _mm512_cvtph_ps(h);
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}

HL__AVX512_TARGET static inline float reduce16_avx512(__m512 v)
{
    __m512 s8 = _mm512_add_ps(v, _mm512_shuffle_f32x4(v, v, 0x4e)); /* l + 8 */
    __m512 s4 = _mm512_add_ps(s8, _mm512_shuffle_f32x4(s8, s8, 0xb1)); /* + 4 */
    __m128 q = _mm512_castps512_ps128(s4);
    __m128 s2 = _mm_add_ps(q, _mm_movehl_ps(q, q));                     /* + 2 */
    __m128 s1 = _mm_add_ss(s2, _mm_shuffle_ps(s2, s2, 1));              /* + 1 */
    return _mm_cvtss_f32(s1);
}

HL__AVX512_TARGET static void gemv_avx512(hl_dtype_t t, const uint8_t *w, uint64_t rows,
                                          uint64_t cols, const float *x, float *y)
{
    uint64_t c16 = cols - cols % HL__LANES, eb = elem_bytes(t), rb = cols * eb, r = 0;
    const bool pf = t != HL_DTYPE_F32;
    for (; r + 4 <= rows; r += 4) {
        const uint8_t *w0 = w + r * rb, *w1 = w0 + rb, *w2 = w1 + rb, *w3 = w2 + rb;
        __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        for (uint64_t j = 0; j < c16; j += HL__LANES) {
            if (pf) {
                HL__PREFETCH(w0 + 4 * j * eb + HL__PF_DIST);
                HL__PREFETCH(w0 + 4 * j * eb + HL__PF_DIST + 64);
            }
            __m512 xv = _mm512_loadu_ps(x + j);
            a0 = _mm512_fmadd_ps(load16(t, w0 + j * eb), xv, a0);
            a1 = _mm512_fmadd_ps(load16(t, w1 + j * eb), xv, a1);
            a2 = _mm512_fmadd_ps(load16(t, w2 + j * eb), xv, a2);
            a3 = _mm512_fmadd_ps(load16(t, w3 + j * eb), xv, a3);
        }
        y[r] = row_rest(t, w0, c16, cols, x, reduce16_avx512(a0));
        y[r + 1] = row_rest(t, w1, c16, cols, x, reduce16_avx512(a1));
        y[r + 2] = row_rest(t, w2, c16, cols, x, reduce16_avx512(a2));
        y[r + 3] = row_rest(t, w3, c16, cols, x, reduce16_avx512(a3));
    }
    for (; r < rows; r++) {
        const uint8_t *w0 = w + r * rb;
        __m512 a0 = _mm512_setzero_ps();
        for (uint64_t j = 0; j < c16; j += HL__LANES)
            a0 = _mm512_fmadd_ps(load16(t, w0 + j * eb), _mm512_loadu_ps(x + j), a0);
        y[r] = row_rest(t, w0, c16, cols, x, reduce16_avx512(a0));
    }
}

/*
 * A block of nr rows x na activations, up to 4 x 4: 16 accumulators, 4 x vectors and the
 * widened weights fit the 32 vector registers; each weight vector feeds na fused
 * multiply-adds and each x vector nr.
 */
HL__AVX512_TARGET HL__INLINE void block_avx512(hl_dtype_t t, const uint8_t *w, uint64_t rb,
                                               uint64_t cols, unsigned nr, unsigned na,
                                               bool pf, const float *const *x,
                                               float *const *y, uint64_t yr)
{
    uint64_t eb = elem_bytes(t), c16 = cols - cols % HL__LANES;
    __m512 acc[4][4];
    const float *xa[4];
#pragma GCC unroll 4
    for (unsigned a = 0; a < na; a++) {
        xa[a] = x[a];
#pragma GCC unroll 4
        for (unsigned r = 0; r < nr; r++)
            acc[r][a] = _mm512_setzero_ps();
    }
    for (uint64_t j = 0; j < c16; j += HL__LANES) {
        if (pf) { /* nr == 4 rows x 16 x 2 bytes: two lines per iteration */
            HL__PREFETCH(w + nr * j * eb + HL__PF_DIST);
            HL__PREFETCH(w + nr * j * eb + HL__PF_DIST + 64);
        }
        __m512 xv[4];
#pragma GCC unroll 4
        for (unsigned a = 0; a < na; a++)
            xv[a] = _mm512_loadu_ps(xa[a] + j);
#pragma GCC unroll 4
        for (unsigned r = 0; r < nr; r++) {
            __m512 wv = load16(t, w + r * rb + j * eb);
#pragma GCC unroll 4
            for (unsigned a = 0; a < na; a++)
                acc[r][a] = _mm512_fmadd_ps(wv, xv[a], acc[r][a]);
        }
    }
#pragma GCC unroll 4
    for (unsigned r = 0; r < nr; r++)
#pragma GCC unroll 4
        for (unsigned a = 0; a < na; a++)
            y[a][yr + r] = row_rest(t, w + r * rb, c16, cols, xa[a], reduce16_avx512(acc[r][a]));
}

/*
 * The 4 x 4 block (the one that carries a batch) spelled out with named accumulators: GCC 12
 * kept the array version of block_avx512 at 12 registers and spilled the other 4
 * accumulators to the stack inside the loop (a load and a store per multiply-add of the last
 * row). Same sums in the same order as block_avx512 with nr = na = 4.
 */
#define HL__ROW4(r, wv)                                                                          \
    do {                                                                                       \
        __m512 wv = load16(t, w + (r) * rb + j * eb);                                          \
        c##r##0 = _mm512_fmadd_ps(wv, x0, c##r##0);                                            \
        c##r##1 = _mm512_fmadd_ps(wv, x1, c##r##1);                                            \
        c##r##2 = _mm512_fmadd_ps(wv, x2, c##r##2);                                            \
        c##r##3 = _mm512_fmadd_ps(wv, x3, c##r##3);                                            \
    } while (0)

HL__AVX512_TARGET HL__INLINE void block44_avx512(hl_dtype_t t, const uint8_t *w, uint64_t rb,
                                                 uint64_t cols, bool pf, const float *const *x,
                                                 float *const *y, uint64_t yr)
{
    uint64_t eb = elem_bytes(t), c16 = cols - cols % HL__LANES;
    const float *xa[4] = {x[0], x[1], x[2], x[3]};
    __m512 c00 = _mm512_setzero_ps(), c01 = c00, c02 = c00, c03 = c00, c10 = c00, c11 = c00,
           c12 = c00, c13 = c00, c20 = c00, c21 = c00, c22 = c00, c23 = c00, c30 = c00,
           c31 = c00, c32 = c00, c33 = c00;
    for (uint64_t j = 0; j < c16; j += HL__LANES) {
        if (pf) {
            HL__PREFETCH(w + 4 * j * eb + HL__PF_DIST);
            HL__PREFETCH(w + 4 * j * eb + HL__PF_DIST + 64);
        }
        __m512 x0 = _mm512_loadu_ps(xa[0] + j), x1 = _mm512_loadu_ps(xa[1] + j),
               x2 = _mm512_loadu_ps(xa[2] + j), x3 = _mm512_loadu_ps(xa[3] + j);
        HL__ROW4(0, w0);
        HL__ROW4(1, w1);
        HL__ROW4(2, w2);
        HL__ROW4(3, w3);
    }
    const __m512 acc[4][4] = {{c00, c01, c02, c03}, {c10, c11, c12, c13},
                              {c20, c21, c22, c23}, {c30, c31, c32, c33}};
    for (unsigned r = 0; r < 4; r++)
        for (unsigned a = 0; a < 4; a++)
            y[a][yr + r] = row_rest(t, w + r * rb, c16, cols, xa[a], reduce16_avx512(acc[r][a]));
}
#undef HL__ROW4

/* The activations of one row block: groups of 4, then a block of the 1-3 left. Weights are
 * prefetched (bf16/f16 4-row blocks) in the first group only: the others find the rows in
 * cache. */
HL__AVX512_TARGET HL__INLINE void acts_avx512(hl_dtype_t t, const uint8_t *w, uint64_t rb,
                                              uint64_t cols, unsigned nr, size_t n_act,
                                              const float *const *x, float *const *y,
                                              uint64_t yr)
{
    const bool pf = t != HL_DTYPE_F32 && nr == 4;
    size_t a = 0;
    for (; a + 4 <= n_act; a += 4) {
        if (nr == 4)
            block44_avx512(t, w, rb, cols, pf && a == 0, x + a, y + a, yr);
        else
            block_avx512(t, w, rb, cols, nr, 4, pf && a == 0, x + a, y + a, yr);
    }
    switch (n_act - a) {
    case 3:
        block_avx512(t, w, rb, cols, nr, 3, pf && a == 0, x + a, y + a, yr);
        break;
    case 2:
        block_avx512(t, w, rb, cols, nr, 2, pf && a == 0, x + a, y + a, yr);
        break;
    case 1:
        block_avx512(t, w, rb, cols, nr, 1, pf && a == 0, x + a, y + a, yr);
        break;
    default:
        break;
    }
}

HL__AVX512_TARGET HL__INLINE void multi_avx512(hl_dtype_t t, const uint8_t *w, uint64_t rows,
                                               uint64_t cols, size_t n_act,
                                               const float *const *x, float *const *y,
                                               uint64_t y_off)
{
    uint64_t rb = cols * elem_bytes(t), r = 0;
    for (; r + 4 <= rows; r += 4)
        acts_avx512(t, w + r * rb, rb, cols, 4, n_act, x, y, y_off + r);
    for (; r < rows; r++)
        acts_avx512(t, w + r * rb, rb, cols, 1, n_act, x, y, y_off + r);
}

HL__AVX512_TARGET static void gemv_multi_avx512(hl_dtype_t t, const uint8_t *w, uint64_t rows,
                                                uint64_t cols, size_t n_act,
                                                const float *const *x, float *const *y,
                                                uint64_t y_off)
{
    if (t == HL_DTYPE_BF16)
        multi_avx512(HL_DTYPE_BF16, w, rows, cols, n_act, x, y, y_off);
    else if (t == HL_DTYPE_F16)
        multi_avx512(HL_DTYPE_F16, w, rows, cols, n_act, x, y, y_off);
    else
        multi_avx512(HL_DTYPE_F32, w, rows, cols, n_act, x, y, y_off);
}
#endif

#if defined(__x86_64__) && defined(__GNUC__)
#include <cpuid.h>

/* F16C from CPUID leaf 1 (ECX bit 29): clang 14's __builtin_cpu_supports has no "f16c". */
static bool cpu_has_f16c(void)
{
    unsigned a, b, c, d;
    return __get_cpuid(1, &a, &b, &c, &d) && (c & (1u << 29));
}
#endif

static hl__gemv_path_t detect_path(void)
{
#if defined(__x86_64__) && defined(__GNUC__)
    __builtin_cpu_init();
    bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
                cpu_has_f16c();
    if (avx2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vl"))
        return HL__GEMV_AVX512;
    if (avx2)
        return HL__GEMV_AVX2;
#endif
    return HL__GEMV_C;
}

/* Detected once per process: CPUID traps to the hypervisor in a virtual machine (it cost
 * more than the product itself when every call asked), and the CPU does not change. Threads
 * racing on the first call store the same value. */
hl__gemv_path_t hl__gemv_best_path(void)
{
    static _Atomic int cached = -1;
    int p = atomic_load_explicit(&cached, memory_order_relaxed);
    if (p < 0) {
        p = (int)detect_path();
        atomic_store_explicit(&cached, p, memory_order_relaxed);
    }
    return (hl__gemv_path_t)p;
}

void hl__gemv_path(hl__gemv_path_t path, hl_dtype_t t, const void *w, uint64_t rows,
                   uint64_t cols, const float *x, float *y)
{
    hl__gemv_path_t best = hl__gemv_best_path();
    path = path <= best ? path : best;
#if defined(__x86_64__) && defined(__GNUC__)
    if (path == HL__GEMV_AVX512) {
        gemv_avx512(t, w, rows, cols, x, y);
        return;
    }
    if (path == HL__GEMV_AVX2) {
        gemv_avx2(t, w, rows, cols, x, y);
        return;
    }
#endif
    gemv_c(t, w, rows, cols, x, y);
}

void hl__gemv(hl_dtype_t t, const void *w, uint64_t rows, uint64_t cols, const float *x,
              float *y)
{
    hl__gemv_path(HL__GEMV_AVX512, t, w, rows, cols, x, y);
}

void hl__gemv_multi_path(hl__gemv_path_t path, hl_dtype_t t, const void *w, uint64_t rows,
                         uint64_t cols, size_t n_act, const float *const *x, float *const *y,
                         uint64_t y_off)
{
    if (n_act == 1) { /* the single kernel's 4 x 1 blocks are the same sums */
        hl__gemv_path(path, t, w, rows, cols, x[0], y[0] + y_off);
        return;
    }
    hl__gemv_path_t best = hl__gemv_best_path();
    path = path <= best ? path : best;
#if defined(__x86_64__) && defined(__GNUC__)
    if (path == HL__GEMV_AVX512) {
        gemv_multi_avx512(t, w, rows, cols, n_act, x, y, y_off);
        return;
    }
    if (path == HL__GEMV_AVX2) {
        gemv_multi_avx2(t, w, rows, cols, n_act, x, y, y_off);
        return;
    }
#endif
    gemv_multi_c(t, w, rows, cols, n_act, x, y, y_off);
}

void hl__gemv_multi(hl_dtype_t t, const void *w, uint64_t rows, uint64_t cols, size_t n_act,
                    const float *const *x, float *const *y, uint64_t y_off)
{
    hl__gemv_multi_path(HL__GEMV_AVX512, t, w, rows, cols, n_act, x, y, y_off);
}
