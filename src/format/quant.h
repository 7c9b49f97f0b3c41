/*
 * EntroLLM mode in the container (lossy): turning an imported source model into one whose
 * weight matrices are quantized dtypes (codec/quant.h), and reading the parameters back.
 */
#ifndef HL_FORMAT_QUANT_H
#define HL_FORMAT_QUANT_H

#include "huffllm/format.h"

/* A per-tensor rule: tensors whose name or role matches `regex` (POSIX extended) get
 * `bits` (8|4) and `group` (0|32|64|128), or stay lossless when bits = 0. */
typedef struct {
    const char *regex;
    unsigned bits, group;
} hl_quant_rule_t;

typedef struct {
    unsigned bits;  /* 8 or 4 */
    unsigned group; /* 0 (per tensor), 32, 64 or 128 weights along a row */
    const hl_quant_rule_t *rules; /* first match wins; overrides bits/group */
    size_t n_rules;
    const char *work_dir; /* where the quantized weights file is written (beside the output) */
    const char *how;      /* free text recorded in the metadata (the command line) */
    bool single_u4;       /* u4 codes one per symbol (the format before pairs), never pairs */
} hl_quant_opts_t;

/*
 * Rewrites `src` in place: every weight matrix the engine uses (a role, 2+ dims, more than
 * one row, float or q8_0) is
 * quantized (1-D tensors such as norms stay lossless, copied as they are) into one new
 * primary file written under work_dir; the weight files it replaces leave the source (other
 * files such as tokenizers stay). A grouped rule on a tensor whose rows are not whole groups
 * falls back to the largest smaller group that divides them, else to per-tensor scales
 * (recorded as group_fallback). u4 tensors are coded in pairs (HL_DTYPE_QP4*, the same
 * codes two per Huffman symbol) when their rows hold whole pairs and the pair code is
 * smaller (pairs_pay in quant_source.c); "pairs" records the choice per tensor. Metadata gets "quantization" = {lossy: true,
 * how, bits, group, tensors: {name: {dtype, group, scheme, scale, zero, clip, groups,
 * asym_groups, rmse, group_fallback}}}. *tmp_path receives the new file's path: the caller unlinks it after
 * writing (and on failure) and frees the string.
 */
int hl_quant_source(hl_source_t *src, const hl_quant_opts_t *opts, char **tmp_path,
                    hl_error_t *err);

/* True for the tensors quantization applies to: weight matrices the engine multiplies (a
 * role, 2+ dims, more than one row) stored as f32, f16, bf16 or q8_0. */
bool hl_quant_eligible(const hl_src_tensor_t *t);

/*
 * The mixed uint8/uint4 plan: kl[i] is matrix i's sensitivity (the KL divergence of the
 * model's next-token distributions when only matrix i is u4), weights[i] its element
 * count. The KL of a set of u4 matrices is predicted as the sum of theirs; starting from
 * all u4, matrices move to u8 in decreasing order of kl / weights (KL removed per extra
 * bit; ties: the earlier matrix) until the predicted KL is at most target_kl. u8[i] gets
 * the choice, *predicted the predicted KL of the result.
 * @return 0, HL_EINVAL (negative or non-finite KL, weights <= 0), HL_ENOMEM.
 */
int hl_quant_mix_select(const double *kl, const double *weights, size_t n, double target_kl,
                        bool *u8, double *predicted);

/* Reader side: loads per-tensor scale/zero of QU8/QU4 tensors from the metadata. */
int hl__quant_params_apply(hl_hlm_t *h, hl_error_t *err);
/* True when the file records lossy quantization (decompress must refuse it). */
bool hl_hlm_is_lossy(const hl_hlm_t *h);

#endif /* HL_FORMAT_QUANT_H */
