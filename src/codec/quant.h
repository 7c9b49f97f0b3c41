/*
 * EntroLLM mode: lossy uint8/uint4 quantization of fp32 weights into the quantized dtypes of
 * codec.h (HL_DTYPE_QU8 ... HL_DTYPE_QU4_G64, HL_DTYPE_QP4*), whose integer codes the ordinary
 * Huffman tile codec then compresses (one code per symbol byte, so single u4 codes use a
 * 16-symbol alphabet; the pair dtypes HL_DTYPE_QP4* put two u4 codes in each symbol byte).
 * Dequantization everywhere is weight = scale * (code - zero).
 *
 * Scheme choice (per tensor, or per group for the grouped dtypes): both schemes, each with
 * its range shrunk by a clip ratio c in hl_quant_clips (1, 0.95, ..., 0.5: clipping a few
 * outliers buys finer steps for the bulk), are computed; the candidate with the lowest sum
 * of squared reconstruction errors on those very values wins (ties: symmetric, then the
 * larger c). Below, max/min are scaled by c.
 *   symmetric:  zero = 2^(b-1) (128 or 8), scale = max|x| / (2^(b-1) - 1): codes
 *               1 .. 2^b - 1, so +x and -x map to mirrored codes and 0 is exact.
 *   asymmetric: over [min(x,0), max(x,0)]: scale = (max - min) / (2^b - 1), zero =
 *               round(-min / scale) clamped to
 *               [0, 2^b - 1]: the whole code range covers [min, max] (skewed tensors).
 * Grouped dtypes store the scale as fp16; codes are computed against the fp16-rounded
 * scale, so the stored parameters reproduce exactly what was measured.
 */
#ifndef HL_CODEC_QUANT_H
#define HL_CODEC_QUANT_H

#include <stdbool.h>

#include "huffllm/codec.h"

typedef enum { HL_QSCHEME_SYM = 0, HL_QSCHEME_ASYM = 1 } hl_qscheme_t;

/* True for HL_DTYPE_QU8 .. HL_DTYPE_QU4_G64 and the u4 pair dtypes HL_DTYPE_QP4*. */
bool hl_dtype_is_quant(hl_dtype_t t);
/* True for the u4 pair dtypes (two codes per symbol byte, codec.h). */
bool hl_quant_is_pair(hl_dtype_t t);
/* The u4 pair dtype for group (0|32|64|128). @return 0 or HL_EINVAL. */
int hl_quant_pair_dtype(unsigned group, hl_dtype_t *out);
/* Code width (8 or 4) and group size in weights (0 = per tensor) of a quantized dtype; 0
 * otherwise. */
unsigned hl_quant_bits(hl_dtype_t t);
unsigned hl_quant_group(hl_dtype_t t);
/* The quantized dtype for bits (8|4) and group (0|32|64|128). @return 0 or HL_EINVAL. */
int hl_quant_dtype(unsigned bits, unsigned group, hl_dtype_t *out);

/* One set of quantization parameters and what it costs. */
typedef struct {
    hl_qscheme_t scheme;
    float scale, zero; /* weight = scale * (code - zero) */
    float clip;        /* the clip ratio the range was shrunk by */
    double sse;        /* sum of squared reconstruction errors over the values */
} hl_qparams_t;

/*
 * Chooses parameters for x[0..n) at `bits` (8|4) as documented above; `fp16_scale` rounds
 * the scale to fp16 first (grouped dtypes). Non-finite values are refused (HL_EINVAL).
 */
int hl_quant_choose(const float *x, uint64_t n, unsigned bits, bool fp16_scale,
                    hl_qparams_t *out);
/* Parameters of one given scheme without clipping (c = 1), or with clip ratio c in (0, 1]. */
int hl_quant_params(const float *x, uint64_t n, unsigned bits, bool fp16_scale,
                    hl_qscheme_t scheme, hl_qparams_t *out);
int hl_quant_params_clip(const float *x, uint64_t n, unsigned bits, bool fp16_scale,
                         hl_qscheme_t scheme, float clip, hl_qparams_t *out);
#define HL_QUANT_N_CLIPS 11
extern const float hl_quant_clips[HL_QUANT_N_CLIPS];
/* code = clamp(round(x / scale + zero), 0, 2^bits - 1) for n values. */
void hl_quant_codes(const float *x, uint64_t n, unsigned bits, const hl_qparams_t *p,
                    uint8_t *codes);

/* Statistics of quantizing one tensor. */
typedef struct {
    uint64_t n;
    uint64_t groups, asym_groups; /* per tensor: groups = 1 */
    double sse;                   /* total squared error */
    hl_qparams_t tensor;          /* per-tensor dtypes: the parameters chosen */
} hl_quant_stats_t;

/*
 * Quantizes a rows x cols fp32 tensor into the source layout of dtype `t` (a quantized
 * dtype): out holds hl_dtype_bytes(t, rows * cols) bytes. Grouped dtypes need cols to be a
 * multiple of the group, pair dtypes an even cols (pairs never straddle rows). A pair dtype
 * gets exactly the codes of its single-code u4 twin, packed two per byte.
 * @return 0, HL_EINVAL (shape, non-finite values).
 */
int hl_quantize_tensor(hl_dtype_t t, const float *x, uint64_t rows, uint64_t cols, uint8_t *out,
                       hl_quant_stats_t *stats);

/*
 * Packs the source bytes of n weights of a single-code u4 dtype (HL_DTYPE_QU4*) into the
 * layout of its pair twin (same group): the same codes, two per byte, the same block
 * parameters. n must be even and whole groups; dst may equal src (each output byte lies at or
 * before the bytes it is made of). @return 0 or HL_EINVAL.
 */
int hl_quant_pack_pairs(hl_dtype_t single, const uint8_t *src, uint64_t n, uint8_t *dst);

/*
 * The derived pair code. A pair symbol (a, b) counts two u4 codes; coding it with the Huffman
 * code of the weights c(a) * c(b), c being the histogram of the tensor's u4 codes (16 counts),
 * costs about the codes' own entropy per weight (the product model's expected length is
 * H(even codes) + H(odd codes) against that histogram), yet a file need only store those 16
 * counts, not the ~200-entry pair histogram and its table (docs/ENTROLLM.md measures both).
 * Every pair that occurs has c(a), c(b) > 0, so it has a code.
 */
/* The u4 code histogram of a pair histogram: each pair adds one to both of its codes
 * (symbols 16..255 of codes stay 0). @return 0, HL_EINVAL or HL_EOVERFLOW. */
int hl_quant_pair_fold(const uint64_t pair_hist[HL_HUF_SYMBOLS], uint64_t codes[HL_HUF_SYMBOLS]);
/* The pair code's lengths, limited to max_bits, from the code histogram (deterministic: the
 * counts are scaled down only beyond 2^26 in all, with integer shifts). @return 0, or
 * HL_EINVAL (a count on a symbol above 15, an overflowing total, max_bits out of range). */
int hl_quant_pair_lengths(const uint64_t codes[HL_HUF_SYMBOLS], unsigned max_bits,
                          hl_huf_lengths_t *out);
/* hl_tensor_codec_init_as for a pair dtype with the derived code (the lengths come from the
 * pair histogram's codes, the costs and the RAW/lanes choices from the pair histogram itself);
 * *max_bits gets the length limit to store. @return as hl_tensor_codec_init_as. */
int hl_quant_pair_codec_init(hl_tensor_codec_t *tc, hl_dtype_t t,
                             const uint64_t pair_hist[HL_HUF_SYMBOLS], uint32_t n_streams,
                             hl_codec_t huf, unsigned *max_bits);
/* hl_tensor_codec_load for a stored derived code. @return 0 or HL_EFORMAT. */
int hl_quant_pair_codec_load(hl_tensor_codec_t *tc, hl_dtype_t t, hl_codec_t codec,
                             uint32_t n_streams, const uint64_t codes[HL_HUF_SYMBOLS],
                             unsigned max_bits);

/* Dequantizes source bytes of a quantized dtype (RAW-stored tiles and tests); per-tensor
 * dtypes take scale and zero from tc. @return 0 or HL_EINVAL. */
int hl_quant_widen_f32(const hl_tensor_codec_t *tc, hl_dtype_t t, const void *src, uint64_t n,
                       float *dst);

/* ---- the coding model of the quantized dtypes (used by model.c / tile_decode.c) ----
 * n counts symbols here (for pair dtypes half the weights), except in hl__quant_dtype_bytes
 * and hl_quant_widen_f32, which count weights like hl_dtype_bytes. */
int hl__quant_verbatim_bytes(hl_dtype_t t, uint64_t n, uint64_t *out);
void hl__quant_symbols_extract(hl_dtype_t t, const uint8_t *src, uint64_t first, uint64_t count,
                               uint8_t *out);
void hl__quant_verbatim_extract(hl_dtype_t t, const uint8_t *src, uint64_t n, uint8_t *out);
/* In-place safe like hl__fuse_f32 (sym may be the tail of dst). */
void hl__quant_fuse_f32(const hl_tensor_codec_t *tc, const uint8_t *sym, const uint8_t *verb,
                        uint64_t n, float *dst);
void hl__quant_fuse_bytes(hl_dtype_t t, const uint8_t *sym, const uint8_t *verb, uint64_t n,
                          uint8_t *dst);
/* Source bytes of n elements of a quantized dtype. @return 0 or HL_EINVAL. */
int hl__quant_dtype_bytes(hl_dtype_t t, uint64_t n, uint64_t *out);

#endif /* HL_CODEC_QUANT_H */
