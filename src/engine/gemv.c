/*
 * Matrix-vector products from fp32, bf16 or fp16 weights (gemv.h has the summation order
 * every path follows). Four rows at a time (AVX-512; two on AVX2): with each row's two
 * halves of 16 lanes, eight independent accumulator chains hide the fused multiply-add
 * latency, and each x vector is loaded once for four rows. At batch 1 a
 * raw bf16 model is bandwidth-bound (2 bytes per weight); these kernels read each weight
 * once, where widen + sgemv wrote and re-read a 4-byte copy. hl__gemv_multi blocks rows x
 * activations in registers so a batch also reads each weight once.
 */
#include <math.h>
#include <stdatomic.h>
#include <string.h>

#include "engine/gemv.h"


/*
 * Software prefetch of raw weights. bf16/f16 weights always stream from memory (the raw
 * path; compressed tiles reach this file as fp32 in a cache-resident hot buffer), and a
 * block of rows is a short stream per row (a 1280-column bf16 row is 40 cache lines), too
 * short for the hardware prefetchers to train on. So the row-block loops ask for the weights
 * HL__PF_DIST bytes ahead of a linear sweep over the block's rows (which are contiguous and
 * followed by the next block and, in raw mode, the next matrix): an iteration consumes
 * rows x 32 x 2 bytes, and prefetches that many (two lines per two rows). Measured on this machine (Zen 5,
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

/* The columns past the last whole group of 32, in order (shared by all paths). */
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
    uint64_t c32 = cols - cols % HL__GEMV_ORDER, rb = cols * elem_bytes(t);
    for (uint64_t r = 0; r < rows; r++) {
        const uint8_t *wr = w + r * rb;
        float acc[HL__GEMV_ORDER] = {0};
        for (uint64_t j = 0; j < c32; j += HL__GEMV_ORDER)
            for (unsigned l = 0; l < HL__GEMV_ORDER; l++)
                acc[l] = fmaf(load_c(t, wr, j + l), x[j + l], acc[l]);
        for (unsigned k = HL__GEMV_ORDER / 2; k; k /= 2)
            for (unsigned l = 0; l < k; l++)
                acc[l] = acc[l] + acc[l + k];
        y[r] = row_rest(t, wr, c32, cols, x, acc[0]);
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
#define HL__INLINE __attribute__((always_inline)) static inline

/* ---- AVX2: a row's 32 lanes are four vectors (lanes 0-7, 8-15, 16-23, 24-31) ---- */

HL__AVX2_TARGET static inline __m256 load8(hl_dtype_t t, const uint8_t *p)
{
    if (t == HL_DTYPE_F32)
        return _mm256_loadu_ps((const float *)(const void *)p);
    __m128i h = _mm_loadu_si128((const __m128i *)p);
    if (t == HL_DTYPE_F16)
        return _mm256_cvtph_ps(h);
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
}

/* gemv.h's reduction of lanes 0-7 (v[0]), 8-15, 16-23, 24-31 (v[3]). */
HL__AVX2_TARGET static inline float reduce32_avx2(const __m256 v[4])
{
    __m256 lo = _mm256_add_ps(v[0], v[2]), hi = _mm256_add_ps(v[1], v[3]); /* l + 16 */
    __m256 s8 = _mm256_add_ps(lo, hi);                                       /* + 8 */
    __m128 s4 = _mm_add_ps(_mm256_castps256_ps128(s8), _mm256_extractf128_ps(s8, 1)); /* + 4 */
    __m128 s2 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4));                       /* + 2 */
    __m128 s1 = _mm_add_ss(s2, _mm_shuffle_ps(s2, s2, 1));                   /* + 1 */
    return _mm_cvtss_f32(s1);
}

/*
 * nr (1 or 2) rows x one activation (AVX2 has 16 vector registers: 8 accumulators, 4 x
 * vectors and the widened weights); nr is a constant after inlining. Raw bf16/f16 blocks of
 * 2 rows prefetch their rows ahead (2 rows x 32 x 2 bytes: two lines per iteration).
 */
HL__AVX2_TARGET HL__INLINE void rows_avx2(hl_dtype_t t, const uint8_t *w, uint64_t rb,
                                          uint64_t cols, unsigned nr, bool pf, const float *x,
                                          float *y)
{
    uint64_t eb = elem_bytes(t), c32 = cols - cols % HL__GEMV_ORDER;
    __m256 acc[2][4];
#pragma GCC unroll 2
    for (unsigned r = 0; r < nr; r++)
        acc[r][0] = acc[r][1] = acc[r][2] = acc[r][3] = _mm256_setzero_ps();
    for (uint64_t j = 0; j < c32; j += HL__GEMV_ORDER) {
        if (pf) {
            HL__PREFETCH(w + nr * j * eb + HL__PF_DIST);
            HL__PREFETCH(w + nr * j * eb + HL__PF_DIST + 64);
        }
        __m256 xv[4];
#pragma GCC unroll 4
        for (unsigned q = 0; q < 4; q++)
            xv[q] = _mm256_loadu_ps(x + j + 8 * q);
#pragma GCC unroll 2
        for (unsigned r = 0; r < nr; r++)
#pragma GCC unroll 4
            for (unsigned q = 0; q < 4; q++)
                acc[r][q] = _mm256_fmadd_ps(load8(t, w + r * rb + (j + 8 * q) * eb), xv[q],
                                            acc[r][q]);
    }
#pragma GCC unroll 2
    for (unsigned r = 0; r < nr; r++)
        y[r] = row_rest(t, w + r * rb, c32, cols, x, reduce32_avx2(acc[r]));
}

HL__AVX2_TARGET HL__INLINE void gemv_rows_avx2(hl_dtype_t t, const uint8_t *w, uint64_t rows,
                                               uint64_t cols, const float *x, float *y)
{
    uint64_t rb = cols * elem_bytes(t), r = 0;
    const bool pf = t != HL_DTYPE_F32;
    for (; r + 2 <= rows; r += 2)
        rows_avx2(t, w + r * rb, rb, cols, 2, pf, x, y + r);
    for (; r < rows; r++)
        rows_avx2(t, w + r * rb, rb, cols, 1, false, x, y + r);
}

/* One copy per dtype, so that the dtype test leaves the inner loop. */
HL__AVX2_TARGET static void gemv_avx2(hl_dtype_t t, const uint8_t *w, uint64_t rows,
                                      uint64_t cols, const float *x, float *y)
{
    if (t == HL_DTYPE_BF16)
        gemv_rows_avx2(HL_DTYPE_BF16, w, rows, cols, x, y);
    else if (t == HL_DTYPE_F16)
        gemv_rows_avx2(HL_DTYPE_F16, w, rows, cols, x, y);
    else
        gemv_rows_avx2(HL_DTYPE_F32, w, rows, cols, x, y);
}

/* A batch on AVX2: each 2-row block once per activation (the first pass prefetches, the
 * others find the rows in cache). */
HL__AVX2_TARGET static void gemv_multi_avx2(hl_dtype_t t, const uint8_t *w, uint64_t rows,
                                            uint64_t cols, size_t n_act, const float *const *x,
                                            float *const *y, uint64_t y_off)
{
    uint64_t rb = cols * elem_bytes(t), r = 0;
    const bool pf = t != HL_DTYPE_F32;
    for (; r + 2 <= rows; r += 2)
        for (size_t a = 0; a < n_act; a++)
            rows_avx2(t, w + r * rb, rb, cols, 2, pf && a == 0, x[a], y[a] + y_off + r);
    for (; r < rows; r++)
        for (size_t a = 0; a < n_act; a++)
            rows_avx2(t, w + r * rb, rb, cols, 1, false, x[a], y[a] + y_off + r);
}

/* ---- AVX-512: a row's 32 lanes are two vectors (lanes 0-15, 16-31) ---- */

HL__AVX512_TARGET static inline __m512 load16(hl_dtype_t t, const uint8_t *p)
{
    if (t == HL_DTYPE_F32)
        return _mm512_loadu_ps(p);
    __m256i h = _mm256_loadu_si256((const __m256i *)p);
    if (t == HL_DTYPE_F16)
        return _mm512_cvtph_ps(h);
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}

/* gemv.h's reduction of lanes 0-15 (lo) and 16-31 (hi). */
HL__AVX512_TARGET static inline float reduce32_avx512(__m512 lo, __m512 hi)
{
    __m512 v = _mm512_add_ps(lo, hi);                                    /* l + 16 */
    __m512 s8 = _mm512_add_ps(v, _mm512_shuffle_f32x4(v, v, 0x4e));      /* + 8 */
    __m512 s4 = _mm512_add_ps(s8, _mm512_shuffle_f32x4(s8, s8, 0xb1));   /* + 4 */
    __m128 q = _mm512_castps512_ps128(s4);
    __m128 s2 = _mm_add_ps(q, _mm_movehl_ps(q, q));                      /* + 2 */
    __m128 s1 = _mm_add_ss(s2, _mm_shuffle_ps(s2, s2, 1));               /* + 1 */
    return _mm_cvtss_f32(s1);
}

HL__AVX512_TARGET HL__INLINE void gemv_rows_avx512(hl_dtype_t t, const uint8_t *w,
                                                   uint64_t rows, uint64_t cols,
                                                   const float *x, float *y)
{
    uint64_t c32 = cols - cols % HL__GEMV_ORDER, eb = elem_bytes(t), rb = cols * eb, r = 0;
    const bool pf = t != HL_DTYPE_F32;
    for (; r + 4 <= rows; r += 4) { /* 4 rows x 2 halves: 8 independent chains */
        const uint8_t *w0 = w + r * rb, *w1 = w0 + rb, *w2 = w1 + rb, *w3 = w2 + rb;
        __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        __m512 b0 = a0, b1 = a0, b2 = a0, b3 = a0;
        for (uint64_t j = 0; j < c32; j += HL__GEMV_ORDER) {
            if (pf) { /* 4 rows x 32 x 2 bytes: four lines per iteration */
                HL__PREFETCH(w0 + 4 * j * eb + HL__PF_DIST);
                HL__PREFETCH(w0 + 4 * j * eb + HL__PF_DIST + 64);
                HL__PREFETCH(w0 + 4 * j * eb + HL__PF_DIST + 128);
                HL__PREFETCH(w0 + 4 * j * eb + HL__PF_DIST + 192);
            }
            __m512 xl = _mm512_loadu_ps(x + j), xh = _mm512_loadu_ps(x + j + 16);
            a0 = _mm512_fmadd_ps(load16(t, w0 + j * eb), xl, a0);
            b0 = _mm512_fmadd_ps(load16(t, w0 + (j + 16) * eb), xh, b0);
            a1 = _mm512_fmadd_ps(load16(t, w1 + j * eb), xl, a1);
            b1 = _mm512_fmadd_ps(load16(t, w1 + (j + 16) * eb), xh, b1);
            a2 = _mm512_fmadd_ps(load16(t, w2 + j * eb), xl, a2);
            b2 = _mm512_fmadd_ps(load16(t, w2 + (j + 16) * eb), xh, b2);
            a3 = _mm512_fmadd_ps(load16(t, w3 + j * eb), xl, a3);
            b3 = _mm512_fmadd_ps(load16(t, w3 + (j + 16) * eb), xh, b3);
        }
        y[r] = row_rest(t, w0, c32, cols, x, reduce32_avx512(a0, b0));
        y[r + 1] = row_rest(t, w1, c32, cols, x, reduce32_avx512(a1, b1));
        y[r + 2] = row_rest(t, w2, c32, cols, x, reduce32_avx512(a2, b2));
        y[r + 3] = row_rest(t, w3, c32, cols, x, reduce32_avx512(a3, b3));
    }
    for (; r < rows; r++) {
        const uint8_t *w0 = w + r * rb;
        __m512 a0 = _mm512_setzero_ps(), b0 = a0;
        for (uint64_t j = 0; j < c32; j += HL__GEMV_ORDER) {
            a0 = _mm512_fmadd_ps(load16(t, w0 + j * eb), _mm512_loadu_ps(x + j), a0);
            b0 = _mm512_fmadd_ps(load16(t, w0 + (j + 16) * eb), _mm512_loadu_ps(x + j + 16), b0);
        }
        y[r] = row_rest(t, w0, c32, cols, x, reduce32_avx512(a0, b0));
    }
}

HL__AVX512_TARGET static void gemv_avx512(hl_dtype_t t, const uint8_t *w, uint64_t rows,
                                          uint64_t cols, const float *x, float *y)
{
    if (t == HL_DTYPE_BF16)
        gemv_rows_avx512(HL_DTYPE_BF16, w, rows, cols, x, y);
    else if (t == HL_DTYPE_F16)
        gemv_rows_avx512(HL_DTYPE_F16, w, rows, cols, x, y);
    else
        gemv_rows_avx512(HL_DTYPE_F32, w, rows, cols, x, y);
}

/*
 * A block of nr rows x na activations, nr x na <= 8: each (row, activation) has two
 * accumulators (lanes 0-15, 16-31), so 16 accumulators, the x vectors and the widened
 * weights fit the 32 vector registers; each weight vector feeds na fused multiply-adds and
 * each x vector nr. nr and na are constants after inlining. Raw bf16/f16 blocks of 2 rows
 * prefetch ahead (2 rows x 32 x 2 bytes: two lines per iteration).
 */
HL__AVX512_TARGET HL__INLINE void block_avx512(hl_dtype_t t, const uint8_t *w, uint64_t rb,
                                               uint64_t cols, unsigned nr, unsigned na,
                                               bool pf, const float *const *x,
                                               float *const *y, uint64_t yr)
{
    uint64_t eb = elem_bytes(t), c32 = cols - cols % HL__GEMV_ORDER;
    __m512 lo[2][4], hi[2][4];
    const float *xa[4];
#pragma GCC unroll 4
    for (unsigned a = 0; a < na; a++) {
        xa[a] = x[a];
#pragma GCC unroll 2
        for (unsigned r = 0; r < nr; r++)
            lo[r][a] = hi[r][a] = _mm512_setzero_ps();
    }
    for (uint64_t j = 0; j < c32; j += HL__GEMV_ORDER) {
        if (pf) {
            HL__PREFETCH(w + nr * j * eb + HL__PF_DIST);
            HL__PREFETCH(w + nr * j * eb + HL__PF_DIST + 64);
        }
        __m512 wl[2], wh[2];
#pragma GCC unroll 2
        for (unsigned r = 0; r < nr; r++) {
            wl[r] = load16(t, w + r * rb + j * eb);
            wh[r] = load16(t, w + r * rb + (j + 16) * eb);
        }
#pragma GCC unroll 4
        for (unsigned a = 0; a < na; a++) {
            __m512 xl = _mm512_loadu_ps(xa[a] + j), xh = _mm512_loadu_ps(xa[a] + j + 16);
#pragma GCC unroll 2
            for (unsigned r = 0; r < nr; r++) {
                lo[r][a] = _mm512_fmadd_ps(wl[r], xl, lo[r][a]);
                hi[r][a] = _mm512_fmadd_ps(wh[r], xh, hi[r][a]);
            }
        }
    }
#pragma GCC unroll 2
    for (unsigned r = 0; r < nr; r++)
#pragma GCC unroll 4
        for (unsigned a = 0; a < na; a++)
            y[a][yr + r] = row_rest(t, w + r * rb, c32, cols, xa[a],
                                    reduce32_avx512(lo[r][a], hi[r][a]));
}

/* The activations of one block of nr (1 or 2) rows: groups of 4, then a block of the 1-3
 * left. Weights are prefetched (bf16/f16 2-row blocks) in the first group only: the others
 * find the rows in cache. */
HL__AVX512_TARGET HL__INLINE void acts_avx512(hl_dtype_t t, const uint8_t *w, uint64_t rb,
                                              uint64_t cols, unsigned nr, size_t n_act,
                                              const float *const *x, float *const *y,
                                              uint64_t yr)
{
    const bool pf = t != HL_DTYPE_F32 && nr == 2;
    size_t a = 0;
    for (; a + 4 <= n_act; a += 4)
        block_avx512(t, w, rb, cols, nr, 4, pf && a == 0, x + a, y + a, yr);
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
    for (; r + 2 <= rows; r += 2)
        acts_avx512(t, w + r * rb, rb, cols, 2, n_act, x, y, y_off + r);
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
