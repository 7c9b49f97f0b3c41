/*
 * Matrix-vector products straight from the weights' own dtype (internal): fp32 (decoded
 * tiles), bf16 and fp16 (raw mode, no widening pass).
 *
 * Every dtype and every code path (AVX-512, AVX2+FMA, portable C) computes the same sums in
 * the same order, so raw and compressed engines give identical bits: per row, 32 lanes
 * accumulate with fused multiply-adds over the first cols - cols % 32 columns (lane l takes
 * columns j = l mod 32, in increasing j), lane l + 16 is added to lane l, then the 16 lanes
 * pairwise (l + 8, then + 4, + 2, + 1), the lower lane always the first operand; then the
 * remaining columns are added in order with fused multiply-adds. bf16 and fp16 widen
 * exactly to fp32 first (F16C's conversion quiets a signalling NaN, which changes only the
 * payload of a NaN result).
 *
 * Why 32 lanes (two 16-lane vectors per row): a row's sum is a chain of dependent fused
 * multiply-adds, and where one row is computed at a time -- the compressed route that
 * decodes a tile and multiplies it in the same pass (codec/tile_dot.c), whose steps are 64
 * consecutive weights of one row -- a single 16-lane chain waited on the multiply-add's
 * latency: two chains made that route 8-12% faster over a 0.5B bf16 model (10-15% on a
 * cache-resident matrix; one thread, measured side by side).
 * src/codec/tile_dot.c follows this order too.
 *
 * Memory: bf16/f16 weights are taken to stream from memory (raw mode) and are prefetched
 * ahead of the loads; fp32 weights are taken to be a cache-resident tile (the hot buffer)
 * and are not.
 */
#ifndef HL_ENGINE_GEMV_H
#define HL_ENGINE_GEMV_H

#include <stdbool.h>
#include <stdint.h>

#include "huffllm/codec.h"

/* Columns per accumulation round of a row (the lanes of the order above). */
#define HL__GEMV_ORDER 32

typedef enum { HL__GEMV_C = 0, HL__GEMV_AVX2 = 1, HL__GEMV_AVX512 = 2 } hl__gemv_path_t;

/* True for the dtypes hl__gemv reads directly (f32, bf16, f16). */
bool hl__gemv_supports(hl_dtype_t t);

/* y[r] = sum_j W[r][j] * x[j] for r < rows; W is rows x cols elements of t, row-major. */
void hl__gemv(hl_dtype_t t, const void *w, uint64_t rows, uint64_t cols, const float *x,
              float *y);

/* The widest path this CPU runs (AVX-512 F/BW/VL, else AVX2+FMA+F16C, else C); fused.c
 * clamps its paths with it too. */
hl__gemv_path_t hl__gemv_best_path(void);

/* The same on a given path (clamped to what the CPU runs): for tests and benchmarks. */
void hl__gemv_path(hl__gemv_path_t path, hl_dtype_t t, const void *w, uint64_t rows,
                   uint64_t cols, const float *x, float *y);

/*
 * n_act products in one pass over W: y[a][y_off + r] = sum_j W[r][j] * x[a][j] for a < n_act,
 * r < rows. Each (row, activation) is summed in exactly the order above, so every y[a] equals
 * what hl__gemv(t, w, rows, cols, x[a], y[a] + y_off) gives, bit for bit, whatever n_act is
 * (batch == single). Blocks of rows x activations are kept in registers, so a weight is read
 * from memory once per call instead of once per activation. The x[a] and y[a] must not
 * overlap W or each other's written range.
 */
void hl__gemv_multi(hl_dtype_t t, const void *w, uint64_t rows, uint64_t cols, size_t n_act,
                    const float *const *x, float *const *y, uint64_t y_off);

/* The same on a given path (clamped to what the CPU runs): for tests and benchmarks. */
void hl__gemv_multi_path(hl__gemv_path_t path, hl_dtype_t t, const void *w, uint64_t rows,
                         uint64_t cols, size_t n_act, const float *const *x, float *const *y,
                         uint64_t y_off);

#endif
