/* The EntroLLM options of `huffllm compress` (--quantize, --group, --quantize-tensor). */
#ifndef HL_CLI_QUANT_OPTS_H
#define HL_CLI_QUANT_OPTS_H

#include <stdio.h>

#include "format/quant.h"

#define HL_CLI_QUANT_MAX_RULES 32

typedef struct {
    bool on;
    bool group_set;
    hl_quant_opts_t o;
    hl_quant_rule_t rules[HL_CLI_QUANT_MAX_RULES];
    char *tmp_path; /* the staged weights file, removed by hl_cli_quant_done */
    /* --quantize mix[:KL] (quant_mix.c): u4 with the most sensitive matrices at u8 */
    bool mix;
    double mix_kl;          /* target predicted KL in nats */
    hl_quant_rule_t *plan;  /* user rules, then the planned u8 rules (owned from
                             * n_plan_owned_from on) */
    size_t n_plan, n_plan_owned_from;
    json_t *mix_record;     /* goes to metadata.quantization.mix */
} hl_cli_quant_t;

/* The default target of --quantize mix (docs/ENTROLLM.md: the smallest that kept top-1
 * agreement >= 90% on both test models). */
#define HL_CLI_MIX_KL_DEFAULT 0.01

/* Option parsers: @return 0, or 2 (usage error, message printed). */
int hl_cli_quant_parse_mode(hl_cli_quant_t *q, const char *arg);
int hl_cli_quant_parse_group(hl_cli_quant_t *q, const char *arg);
int hl_cli_quant_parse_rule(hl_cli_quant_t *q, const char *arg);
/* After import: quantizes the source (staging file beside out_path). @return 0 or HL_E*. */
int hl_cli_quant_apply(hl_cli_quant_t *q, hl_source_t *src, const char *out_path, int argc,
                       char **argv, hl_error_t *err);
/* `inspect`: the quantization of a lossy file per tensor (nothing for lossless files). */
void hl_cli_quant_report(const hl_hlm_t *h, FILE *out);
/* The coded codes of a quantized tensor against their empirical entropy. */
typedef struct {
    uint64_t weights;
    bool huffman;             /* else RAW: code_bits = 8 per symbol */
    bool derived;             /* u4 pairs: the code derived from the codes' histogram */
    const char *kind; /* "raw", "huffman", "pairs-derived" or "pairs-table" */
    double code_bits;         /* bits of the coded symbols (no framing, table, verbatim) */
    double entropy_bits;      /* weights x the entropy of the codes' histogram */
    double pair_entropy_bits; /* u4 pairs: (weights / 2) x the pairs' entropy; else = above */
} hl_cli_code_stats_t;
/* For u4 pair tensors this decodes the tensor (the pair histogram is not stored when the code
 * is derived). @return 0, HL_EINVAL (not a quantized tensor) or an HL_E* code. */
int hl_cli_quant_code_stats(const hl_hlm_t *h, const hl_tensor_t *t, hl_cli_code_stats_t *st);
/* --quantize mix: measures each matrix's sensitivity on src and appends a u8 rule for the
 * most sensitive ones to q->plan (quant_mix.c documents the criterion); temporary files go
 * to dir. @return 0 or HL_E* (err set). */
int hl_cli_quant_mix_plan(hl_cli_quant_t *q, const hl_source_t *src, const char *dir,
                          hl_error_t *err);
/* Removes the staged file. */
void hl_cli_quant_done(hl_cli_quant_t *q);

#endif
