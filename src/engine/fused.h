/*
 * Fused rebuild + multiply of Huffman-coded tiles (internal to engine/).
 *
 * The compressed path's kernel: hl_tile_decode_split leaves a tile as its symbol bytes (in a
 * small per-worker buffer) and its verbatim bytes (in the mapped file); these kernels
 * rebuild 16 weights at a time in registers from (symbol, verbatim) and multiply them at
 * once against every activation of the step, so the fp32 tile is never written or re-read
 * and one pass over the tile serves the whole batch.
 *
 * Summation order: exactly gemv.h's (per row and activation: 32 lanes, lane l takes columns
 * j = l mod 32 in increasing j with fused multiply-adds, lanes added l + 16, then pairwise
 * l + 8, + 4, + 2, + 1, then the columns past the last group of 32 in order with fused
 * multiply-adds),
 * on every path, so the result equals hl__gemv on the same weights bit for bit: compressed ==
 * raw and batch == single. bf16 rebuilds are exact bit moves; fp16 uses the same conversion
 * as hl__gemv's fp16 path on each code path (F16C on x86, hl_f16_to_f32 in C).
 */
#ifndef HL_ENGINE_FUSED_H
#define HL_ENGINE_FUSED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/gemv.h"
#include "huffllm/codec.h"

/* True when the tiles of a tensor with this codec can go through hl__fused_gemv: Huffman
 * (hl_codec_is_huf: HUF or HUF_LANES) bf16 or fp16 tiles, whose symbol and verbatim bytes
 * are one byte each. */
bool hl__fused_supports(const hl_tensor_codec_t *tc);

/*
 * For every activation a < n_act and row r < rows:
 *   y[a][y0 + r] = sum_j W[r][j] * x[a][j]      (W: rows x cols, row-major)
 * where element i = r * cols + j of W is rebuilt from sym[i] and verb[i] as
 * hl_tile_decode_split lays them out for dtype t (bf16: exponent, sign<<7 | mantissa;
 * fp16: high byte, low byte). x[a] holds cols floats. t must be HL_DTYPE_BF16 or F16.
 */
void hl__fused_gemv(hl_dtype_t t, const uint8_t *sym, const uint8_t *verb, uint64_t rows,
                    uint64_t cols, size_t n_act, const float *const *x, float *const *y,
                    uint64_t y0);

/* The same on a given path (clamped to what the CPU runs): for tests and benchmarks. */
void hl__fused_gemv_path(hl__gemv_path_t path, hl_dtype_t t, const uint8_t *sym,
                         const uint8_t *verb, uint64_t rows, uint64_t cols, size_t n_act,
                         const float *const *x, float *const *y, uint64_t y0);

#endif
