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
} hl_cli_quant_t;

/* Option parsers: @return 0, or 2 (usage error, message printed). */
int hl_cli_quant_parse_mode(hl_cli_quant_t *q, const char *arg);
int hl_cli_quant_parse_group(hl_cli_quant_t *q, const char *arg);
int hl_cli_quant_parse_rule(hl_cli_quant_t *q, const char *arg);
/* After import: quantizes the source (staging file beside out_path). @return 0 or HL_E*. */
int hl_cli_quant_apply(hl_cli_quant_t *q, hl_source_t *src, const char *out_path, int argc,
                       char **argv, hl_error_t *err);
/* `inspect`: the quantization of a lossy file per tensor (nothing for lossless files). */
void hl_cli_quant_report(const hl_hlm_t *h, FILE *out);
/* Removes the staged file. */
void hl_cli_quant_done(hl_cli_quant_t *q);

#endif
